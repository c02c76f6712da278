//! What the engine asks of the local clock.
//!
//! Owns the output vocabulary between the engine and whatever drives a clock: the
//! system clock (through adjtimex), a simulator's virtual clock, or nothing at all
//! (`-x`). It must not apply anything itself.
//!
//! The engine slews the way chrony does on Linux: by running the clock at a
//! frequency above or below its base for a while, not by handing an offset to the
//! kernel. So the only continuous control is [`ClockAction::SetFrequency`], whose
//! value already includes any slew in progress; the engine asks again (through
//! `next_deadline`) when a slew ends. This keeps the engine's picture of the clock
//! exact whatever the driver, and makes a virtual clock trivial to write.

/// The leap second the clock should insert or delete at the end of the current UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeapSecond {
    /// No leap second pending (cancels a previous one).
    None,
    /// 23:59:60 is inserted at the end of this UTC day.
    Insert,
    /// 23:59:59 is skipped at the end of this UTC day.
    Delete,
}

/// One instruction to the clock driver. Apply them in order, immediately.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockAction {
    /// Run the clock `frequency_ppm` parts per million faster than its free-running
    /// rate (negative: slower). This replaces the previous value; it is the total of
    /// the frequency correction and the slew in progress (`slew_ppm`, for display).
    /// A driver whose kernel limits frequency to ±500 ppm makes up the rest with the
    /// tick length, as chrony does.
    SetFrequency { frequency_ppm: f64, slew_ppm: f64 },
    /// Jump the clock by `offset_s` seconds (positive: forward), now.
    Step { offset_s: f64 },
    /// Arm (or disarm with [`LeapSecond::None`]) a leap second at the end of this UTC day.
    SetLeap(LeapSecond),
    /// Tell the kernel (adjtimex maxerror/esterror and STA_UNSYNC) how good the clock is.
    /// `synchronized: false` means no source is selected.
    SetSynchronized {
        synchronized: bool,
        max_error_s: f64,
        est_error_s: f64,
    },
}
