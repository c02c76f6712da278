//! The clocks gnomond can discipline, behind one [`Clock`] trait.
//!
//! Owns turning the engine's [`ClockAction`]s into effects:
//! - [`SystemClock`]: the kernel clock through adjtimex ([`KernelClock`]): frequency
//!   (with the tick length beyond ±500 ppm), steps with ADJ_SETOFFSET, leap flags
//!   STA_INS/STA_DEL, maxerror/esterror kept current so adjtimex readers (node_exporter,
//!   systemd's timedated) see the truth, and STA_UNSYNC. Linux runs its 11-minute mode
//!   (the RTC set from the system time, CONFIG_RTC_SYSTOHC / CMOS update) whenever
//!   STA_UNSYNC is clear; there is no other switch. So, as chronyd does on Linux
//!   (sys_timex.c), STA_UNSYNC is cleared only with `rtcsync`: without it the RTC is
//!   left alone and readers go by maxerror (< 16 s while synchronised), as systemd's
//!   timedated and node_exporter's clock alert do.
//! - [`VirtualClock`]: an offset and a frequency over the system clock, changed in
//!   software only. It serves `-x` (measure and report, change nothing: the daemon's
//!   own time carries its corrections, as chronyd -x does), `gnomon lab` and tests.
//!
//! It decides nothing: what to change and when is gnomon-core's job. It must never be
//! handed a real [`KernelClock`] in tests; tests use the recording fake.

use gnomon_core::clock_action::{ClockAction, LeapSecond};
use gnomon_proto::UnixTime;
use gnomon_sys::timex::{KernelClock, Timex};
use std::io;

/// A clock the daemon reads and disciplines.
pub trait Clock {
    /// The disciplined clock's time now.
    fn now(&self) -> UnixTime;
    /// Apply one action of the engine.
    fn apply(&mut self, action: &ClockAction) -> io::Result<()>;
    /// The frequency correction in force, ppm.
    fn frequency_ppm(&self) -> f64;
    /// What kind of clock this is, for logs and views.
    fn describe(&self) -> &'static str;
    /// The disciplined clock's reading at the moment the system clock read `system`
    /// (kernel timestamps are system-clock times).
    fn clock_time_of_system(&self, system: UnixTime) -> UnixTime;
}

/// Kernel frequency units: ppm with a 16-bit fraction.
const KERNEL_FREQUENCY_PER_PPM: f64 = 65_536.0;
/// The kernel refuses frequency beyond ±500 ppm; the rest goes into the tick length.
const KERNEL_MAX_FREQUENCY_PPM: f64 = 500.0;

/// The system clock through adjtimex.
pub struct SystemClock<K: KernelClock> {
    kernel: K,
    /// Microseconds per tick at zero correction (1e6 / USER_HZ).
    nominal_tick_us: i64,
    /// STA_* bits as last written or read.
    status: i32,
    frequency_ppm: f64,
    /// The part of `frequency_ppm` that is a slew in progress.
    slew_ppm: f64,
    /// `rtcsync`: clear STA_UNSYNC while synchronised (the kernel's 11-minute mode).
    rtc_sync: bool,
}

impl<K: KernelClock> SystemClock<K> {
    /// Take over the kernel clock: read its state, cancel the corrections a previous
    /// daemon left running, switch the kernel PLL/FLL and PPS discipline off (gnomond
    /// disciplines by frequency itself) and mark it unsynchronised until the engine says
    /// otherwise. The kernel's current frequency is kept.
    ///
    /// The kernel applies a pending PLL offset (ADJ_OFFSET, e.g. ntpd's) and an adjtime()
    /// slew every second whether STA_PLL is on or not, and only a step clears them: left
    /// alone they keep moving the clock under gnomond (ntpd's time constant makes that
    /// hours). The adjtime() slew is cancelled with ADJ_OFFSET_SINGLESHOT 0; the PLL offset
    /// only with ADJ_OFFSET 0 while STA_PLL is on (turning STA_PLL on resets the PLL's
    /// reference time, so the zero offset leaves the frequency as it is). ADJ_MICRO
    /// because a previous ADJ_NANO leaves the kernel in nanosecond mode.
    pub fn new(mut kernel: K, nominal_tick_us: i64) -> io::Result<Self> {
        let (state, _) = kernel.adjtime(&Timex::default())?;
        kernel.adjtime(&Timex {
            modes: libc::ADJ_OFFSET_SINGLESHOT,
            offset: 0,
            ..Timex::default()
        })?;
        kernel.adjtime(&Timex {
            modes: libc::ADJ_STATUS | libc::ADJ_OFFSET | libc::ADJ_MICRO,
            status: state.status | libc::STA_PLL,
            offset: 0,
            ..Timex::default()
        })?;
        let owned_bits = libc::STA_PLL
            | libc::STA_FLL
            | libc::STA_PPSFREQ
            | libc::STA_PPSTIME
            | libc::STA_INS
            | libc::STA_DEL
            | libc::STA_FREQHOLD;
        let status = (state.status & !owned_bits) | libc::STA_UNSYNC;
        kernel.adjtime(&Timex {
            modes: libc::ADJ_STATUS,
            status,
            ..Timex::default()
        })?;
        let frequency_ppm = state.frequency as f64 / KERNEL_FREQUENCY_PER_PPM
            + (state.tick_us - nominal_tick_us) as f64 * tick_ppm(nominal_tick_us);
        Ok(SystemClock {
            kernel,
            nominal_tick_us,
            status,
            frequency_ppm,
            slew_ppm: 0.0,
            rtc_sync: false,
        })
    }

    /// `rtcsync`: clear STA_UNSYNC while synchronised, which is what makes Linux copy
    /// the system time to the RTC every 11 minutes. Off (the default, as in chrony),
    /// STA_UNSYNC stays set and only maxerror/esterror say how good the clock is.
    pub fn with_rtc_sync(mut self, rtc_sync: bool) -> Self {
        self.rtc_sync = rtc_sync;
        self
    }

    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    fn write_frequency(&mut self, frequency_ppm: f64) -> io::Result<()> {
        let (tick_us, frequency) = split_frequency(frequency_ppm, self.nominal_tick_us);
        self.kernel.adjtime(&Timex {
            modes: (libc::ADJ_FREQUENCY | libc::ADJ_TICK),
            frequency,
            tick_us,
            ..Timex::default()
        })?;
        self.frequency_ppm = frequency_ppm;
        Ok(())
    }

    /// A step makes the kernel forget an armed leap second (ntp_clear resets the leap
    /// time) while STA_INS/STA_DEL stay set and its leap state machine stays in TIME_INS,
    /// so the leap would silently not happen. Switching STA_PLL on and off again puts the
    /// state machine back to TIME_OK, and at the next second it arms the leap anew from
    /// the status bits. Also rewrites the synchronisation status the step cleared.
    fn rearm_leap(&mut self) -> io::Result<()> {
        self.kernel.adjtime(&Timex {
            modes: libc::ADJ_STATUS,
            status: self.status | libc::STA_PLL,
            ..Timex::default()
        })?;
        self.write_status(self.status, Timex::default())
    }

    fn write_status(&mut self, status: i32, extra: Timex) -> io::Result<()> {
        self.kernel.adjtime(&Timex {
            modes: extra.modes | libc::ADJ_STATUS,
            status,
            ..extra
        })?;
        self.status = status;
        Ok(())
    }
}

/// When gnomond lets go of the clock (exit, SIGTERM, `-q` done), a slew in progress
/// ends: the kernel keeps the frequency correction only. Otherwise the clock would run
/// up to `maxslewrate` (8 %) fast or slow for as long as nobody else disciplines it.
impl<K: KernelClock> Drop for SystemClock<K> {
    fn drop(&mut self) {
        if self.slew_ppm != 0.0 {
            let base_ppm = self.frequency_ppm - self.slew_ppm;
            if let Err(error) = self.write_frequency(base_ppm) {
                tracing::warn!("cannot end the slew in progress at exit: {error}");
            }
        }
    }
}

/// How many ppm one microsecond of tick length is worth.
fn tick_ppm(nominal_tick_us: i64) -> f64 {
    1e6 / nominal_tick_us as f64
}

/// Split a frequency into the tick length and the kernel frequency (within ±500 ppm).
pub fn split_frequency(frequency_ppm: f64, nominal_tick_us: i64) -> (i64, i64) {
    let per_tick_ppm = tick_ppm(nominal_tick_us);
    let tick_delta = if frequency_ppm.abs() <= KERNEL_MAX_FREQUENCY_PPM {
        0
    } else {
        (frequency_ppm / per_tick_ppm).round() as i64
    };
    let remainder_ppm = (frequency_ppm - tick_delta as f64 * per_tick_ppm)
        .clamp(-KERNEL_MAX_FREQUENCY_PPM, KERNEL_MAX_FREQUENCY_PPM);
    (
        nominal_tick_us + tick_delta,
        (remainder_ppm * KERNEL_FREQUENCY_PER_PPM).round() as i64,
    )
}

/// A step as ADJ_SETOFFSET wants it: whole seconds (floor) and nanoseconds 0..1e9.
/// Nanoseconds, not an NTP duration: a step may exceed 68 years (docs/gnomond.md, era).
pub fn split_step(offset_s: f64) -> (i64, i64) {
    let nanos = (offset_s * 1e9).round() as i64;
    (
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000),
    )
}

impl<K: KernelClock> Clock for SystemClock<K> {
    fn now(&self) -> UnixTime {
        self.kernel.now()
    }

    fn apply(&mut self, action: &ClockAction) -> io::Result<()> {
        match *action {
            ClockAction::SetFrequency {
                frequency_ppm,
                slew_ppm,
            } => {
                self.write_frequency(frequency_ppm)?;
                self.slew_ppm = slew_ppm;
            }
            ClockAction::Step { offset_s } => {
                let (step_seconds, step_nanos) = split_step(offset_s);
                self.kernel.adjtime(&Timex {
                    modes: (libc::ADJ_SETOFFSET | libc::ADJ_NANO),
                    step_seconds,
                    step_nanos,
                    ..Timex::default()
                })?;
                if self.status & (libc::STA_INS | libc::STA_DEL) != 0 {
                    self.rearm_leap()?;
                }
            }
            ClockAction::SetLeap(leap) => {
                let mut status = self.status & !(libc::STA_INS | libc::STA_DEL);
                status |= match leap {
                    LeapSecond::None => 0,
                    LeapSecond::Insert => libc::STA_INS,
                    LeapSecond::Delete => libc::STA_DEL,
                };
                self.write_status(status, Timex::default())?;
            }
            ClockAction::SetSynchronized {
                synchronized,
                max_error_s,
                est_error_s,
            } => {
                // A bound of 16 s or more is the kernel's own "unsynchronised"
                // (it sets STA_UNSYNC itself once maxerror passes 16 s).
                let clear_unsync = synchronized && self.rtc_sync && max_error_s < 16.0;
                let status = if clear_unsync {
                    self.status & !libc::STA_UNSYNC
                } else {
                    self.status | libc::STA_UNSYNC
                };
                // The kernel caps maxerror at 16 s (NTP_PHASE_LIMIT-ish); keep within.
                let to_us = |seconds: f64| (seconds.clamp(0.0, 16.0) * 1e6).round() as i64;
                self.write_status(
                    status,
                    Timex {
                        modes: (libc::ADJ_MAXERROR | libc::ADJ_ESTERROR),
                        max_error_us: to_us(max_error_s),
                        est_error_us: to_us(est_error_s),
                        ..Timex::default()
                    },
                )?;
            }
        }
        Ok(())
    }

    fn frequency_ppm(&self) -> f64 {
        self.frequency_ppm
    }

    fn describe(&self) -> &'static str {
        "system clock (adjtimex)"
    }

    fn clock_time_of_system(&self, system: UnixTime) -> UnixTime {
        system
    }
}

/// A software clock: `base` time plus an offset that grows at a frequency.
///
/// Its time is `base + offset + (base - reference) * (intrinsic + correction) ppm`,
/// where `intrinsic_ppm` is the clock's own error (for lab and tests) and the
/// correction is what the engine sets.
pub struct VirtualClock<B: Fn() -> UnixTime> {
    base: B,
    /// Base time when `offset_s` was last folded.
    reference: UnixTime,
    offset_s: f64,
    intrinsic_ppm: f64,
    correction_ppm: f64,
    leap: LeapSecond,
    synchronized: bool,
    label: &'static str,
}

impl<B: Fn() -> UnixTime> VirtualClock<B> {
    /// A clock `initial_offset_s` ahead of `base` and running `intrinsic_ppm` fast.
    pub fn new(base: B, initial_offset_s: f64, intrinsic_ppm: f64, label: &'static str) -> Self {
        let reference = base();
        VirtualClock {
            base,
            reference,
            offset_s: initial_offset_s,
            intrinsic_ppm,
            correction_ppm: 0.0,
            leap: LeapSecond::None,
            synchronized: false,
            label,
        }
    }

    /// Its offset from the base clock now, seconds.
    pub fn offset_from_base_s(&self) -> f64 {
        self.offset_at_base_s((self.base)())
    }

    /// Its offset from the base clock when the base read `base_time`, seconds. Plain
    /// f64 arithmetic on nanoseconds: this runs twice per served request.
    fn offset_at_base_s(&self, base_time: UnixTime) -> f64 {
        let elapsed_ns = base_time
            .as_nanos()
            .saturating_sub(self.reference.as_nanos());
        self.offset_s + elapsed_ns as f64 * (self.intrinsic_ppm + self.correction_ppm) * 1e-15
    }

    /// `base_time` moved by the offset at that moment.
    fn at_base(&self, base_time: UnixTime) -> UnixTime {
        let offset_ns = (self.offset_at_base_s(base_time) * 1e9).round();
        UnixTime::from_nanos(base_time.as_nanos().saturating_add(offset_ns as i64))
    }

    pub fn leap(&self) -> LeapSecond {
        self.leap
    }

    pub fn synchronized(&self) -> bool {
        self.synchronized
    }

    fn fold(&mut self) {
        let base_time = (self.base)();
        self.offset_s = self.offset_at_base_s(base_time);
        self.reference = base_time;
    }
}

impl<B: Fn() -> UnixTime> Clock for VirtualClock<B> {
    fn now(&self) -> UnixTime {
        self.at_base((self.base)())
    }

    fn apply(&mut self, action: &ClockAction) -> io::Result<()> {
        match *action {
            ClockAction::SetFrequency { frequency_ppm, .. } => {
                self.fold();
                self.correction_ppm = frequency_ppm;
            }
            ClockAction::Step { offset_s } => {
                self.fold();
                self.offset_s += offset_s;
            }
            ClockAction::SetLeap(leap) => self.leap = leap,
            ClockAction::SetSynchronized { synchronized, .. } => self.synchronized = synchronized,
        }
        Ok(())
    }

    fn frequency_ppm(&self) -> f64 {
        self.correction_ppm
    }

    fn describe(&self) -> &'static str {
        self.label
    }

    /// Assumes the base is the system clock: the offset at the moment it read `system`.
    fn clock_time_of_system(&self, system: UnixTime) -> UnixTime {
        self.at_base(system)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_split_uses_tick_only_beyond_500_ppm() {
        assert_eq!(split_frequency(12.5, 10_000), (10_000, 819_200));
        assert_eq!(split_frequency(-500.0, 10_000), (10_000, -32_768_000));
        // 1 us of a 10 ms tick is 100 ppm.
        assert_eq!(split_frequency(1234.0, 10_000), (10_012, 34 * 65_536));
        assert_eq!(split_frequency(-83_333.0, 10_000), (9_167, -(33 * 65_536)));
    }

    #[test]
    fn step_split_floors_seconds() {
        assert_eq!(split_step(1.25), (1, 250_000_000));
        assert_eq!(split_step(-0.25), (-1, 750_000_000));
        assert_eq!(split_step(-3.0), (-3, 0));
    }
}
