//! The kernel clock: adjtimex state (read-only) and the clocksource.
//!
//! Owns reading `struct timex` with modes = 0 through gnomond's
//! `gnomon_sys::timex::LinuxKernelClock` (a pure query: no field is set), or from a recorded
//! `adjtimex.json` for fixture trees, and judging it: synchronised flag, errors,
//! offset, frequency, TAI offset, PLL/FLL; and the clocksource files under
//! `/sys/devices/system/clocksource/clocksource0/`. It must never pass a non-zero
//! `modes`: doctor does not change the clock.

use super::finding::Finding;
use super::host::Host;
use gnomon_sys::timex::{KernelClock, LinuxKernelClock, Timex};
use serde::Deserialize;
use std::path::Path;

const STA_PLL: i32 = 0x0001;
const STA_FLL: i32 = 0x0008;
const STA_INS: i32 = 0x0010;
const STA_DEL: i32 = 0x0020;
const STA_UNSYNC: i32 = 0x0040;
const STA_NANO: i32 = 0x2000;
const STA_MODE: i32 = 0x4000;
const TIME_ERROR: i32 = 5;
/// The kernel's ceiling for maxerror: at 16 s it calls the clock unsynchronised.
const MAX_ERROR_CEILING_US: i64 = 16_000_000;
/// Frequency corrections beyond this are unusual for a healthy oscillator.
const UNUSUAL_FREQUENCY_PPM: f64 = 100.0;
/// The kernel's limit on the frequency correction.
const KERNEL_MAX_FREQUENCY_PPM: f64 = 500.0;
const CLOCKSOURCE_DIR: &str = "/sys/devices/system/clocksource/clocksource0";

/// The adjtimex fields doctor reports, in the kernel's units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct KernelState {
    /// STA_* bits.
    pub status: i32,
    /// The clock state adjtimex returned (TIME_OK 0 ... TIME_ERROR 5).
    pub state: i32,
    /// Remaining offset being slewed: ns with STA_NANO, else us.
    pub offset: i64,
    /// Frequency correction, ppm with a 16-bit fraction.
    pub frequency: i64,
    pub max_error_us: i64,
    pub est_error_us: i64,
    pub tai_offset_s: i32,
}

impl KernelState {
    fn from_timex(timex: &Timex, state: i32) -> KernelState {
        KernelState {
            status: timex.status,
            state,
            offset: timex.offset,
            frequency: timex.frequency,
            max_error_us: timex.max_error_us,
            est_error_us: timex.est_error_us,
            tai_offset_s: timex.tai_offset_s,
        }
    }

    pub fn synchronised(&self) -> bool {
        self.status & STA_UNSYNC == 0 && self.state != TIME_ERROR
    }

    pub fn offset_s(&self) -> f64 {
        let per_second = if self.status & STA_NANO != 0 {
            1e9
        } else {
            1e6
        };
        self.offset as f64 / per_second
    }

    pub fn frequency_ppm(&self) -> f64 {
        self.frequency as f64 / 65536.0
    }

    fn mode(&self) -> &'static str {
        match (
            self.status & STA_PLL != 0,
            self.status & (STA_FLL | STA_MODE) != 0,
        ) {
            (true, true) => "kernel PLL on, FLL mode",
            (true, false) => "kernel PLL on",
            (false, true) => "FLL mode, kernel PLL off",
            (false, false) => "kernel PLL off (the daemon sets the frequency itself)",
        }
    }
}

/// Where the kernel state comes from.
pub enum KernelSource<'a> {
    /// This machine, with adjtimex modes = 0.
    Live,
    /// A recorded `adjtimex.json`.
    Recorded(&'a Path),
    /// Not available (a `--root` tree without a recording).
    Unavailable,
}

/// Read the state: Err says why it could not be read.
pub fn read_state(source: &KernelSource) -> Result<KernelState, String> {
    match source {
        KernelSource::Live => {
            // modes = 0 (Timex::default()): a pure read of the kernel's clock state.
            let request = Timex::default();
            debug_assert_eq!(request.modes, 0);
            let (timex, state) = LinuxKernelClock
                .adjtime(&request)
                .map_err(|error| format!("adjtimex: {error}"))?;
            Ok(KernelState::from_timex(&timex, state))
        }
        KernelSource::Recorded(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
        }
        KernelSource::Unavailable => {
            Err("not read: --root is not / and no recorded adjtimex.json was given".into())
        }
    }
}

/// Findings about the kernel clock state.
pub fn findings(source: &KernelSource) -> Vec<Finding> {
    let state = match read_state(source) {
        Ok(state) => state,
        Err(why) => return vec![Finding::info("kernel", format!("kernel clock state {why}"))],
    };
    let mut findings = Vec::new();
    let numbers = format!(
        "offset {:+.6} s, frequency {:+.3} ppm, maxerror {:.3} ms, esterror {:.3} ms, TAI offset {} s, {}",
        state.offset_s(),
        state.frequency_ppm(),
        state.max_error_us as f64 / 1000.0,
        state.est_error_us as f64 / 1000.0,
        state.tai_offset_s,
        state.mode()
    );
    if state.synchronised() {
        findings.push(Finding::ok(
            "kernel",
            format!("kernel clock synchronised: {numbers}"),
        ));
    } else {
        let why = if state.max_error_us >= MAX_ERROR_CEILING_US {
            "STA_UNSYNC set, maxerror at the 16 s ceiling"
        } else {
            "STA_UNSYNC set"
        };
        findings.push(Finding::warn(
            "kernel",
            format!("kernel clock not synchronised ({why}): {numbers}"),
            "no daemon has synchronised this clock (or it does not tell the kernel): see the \
             local-daemon findings; with gnomond or chronyd keep `rtcsync` in the config",
        ));
    }
    let ppm = state.frequency_ppm().abs();
    if ppm >= KERNEL_MAX_FREQUENCY_PPM {
        findings.push(Finding::fail(
            "kernel",
            format!("frequency correction at the kernel's limit ({ppm:.1} ppm)"),
            "the clock cannot be kept: check the clocksource and whether two daemons fight",
        ));
    } else if ppm > UNUSUAL_FREQUENCY_PPM {
        findings.push(Finding::warn(
            "kernel",
            format!("unusually large frequency correction ({ppm:.1} ppm)"),
            "check the clocksource (below) and the drift file; a healthy oscillator is within 100 ppm",
        ));
    }
    if state.status & (STA_INS | STA_DEL) != 0 {
        let which = if state.status & STA_INS != 0 {
            "insert"
        } else {
            "delete"
        };
        findings.push(Finding::info(
            "kernel",
            format!("a leap second ({which}) is armed for the end of the UTC day"),
        ));
    }
    if state.tai_offset_s == 0 {
        findings.push(Finding::info(
            "kernel",
            "TAI offset is 0 (CLOCK_TAI equals UTC): set `leapsectz right/UTC` if programs use CLOCK_TAI",
        ));
    }
    findings
}

/// Findings about the clocksource.
pub fn clocksource_findings(host: &Host) -> Vec<Finding> {
    let current = host.read_line(format!("{CLOCKSOURCE_DIR}/current_clocksource"));
    let available: Vec<String> = host
        .read_line(format!("{CLOCKSOURCE_DIR}/available_clocksource"))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let Some(current) = current.filter(|name| !name.is_empty()) else {
        return vec![Finding::info(
            "clocksource",
            format!("{CLOCKSOURCE_DIR} not readable"),
        )];
    };
    let summary = format!("clocksource {current} (available: {})", available.join(" "));
    let finding = match current.as_str() {
        "xen" if available.iter().any(|name| name == "tsc") => Finding::warn(
            "clocksource",
            summary,
            "on AWS Xen instances use tsc (AWS recommends it): echo tsc > \
             /sys/devices/system/clocksource/clocksource0/current_clocksource, and add \
             clocksource=tsc tsc=reliable to the kernel command line to keep it",
        ),
        "jiffies" | "refined-jiffies" => Finding::fail(
            "clocksource",
            summary,
            "a tick-based clocksource is coarse and drifts: boot with clocksource=tsc (or the \
             hypervisor's clock: kvm-clock, hyperv_clocksource_tsc_page)",
        ),
        _ => Finding::ok("clocksource", summary),
    };
    vec![finding]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_flags_are_decoded() {
        let state = KernelState {
            status: STA_NANO | STA_PLL,
            state: 0,
            offset: -1_500_000,
            frequency: -65536 * 12,
            max_error_us: 1000,
            est_error_us: 10,
            tai_offset_s: 37,
        };
        assert!(state.synchronised());
        assert_eq!(state.offset_s(), -0.0015);
        assert_eq!(state.frequency_ppm(), -12.0);
        let unsynced = KernelState {
            status: STA_UNSYNC,
            ..state
        };
        assert!(!unsynced.synchronised());
        assert_eq!(unsynced.offset_s(), -1.5);
    }

    #[test]
    fn the_live_read_is_allowed_unprivileged() {
        // modes = 0 needs no privilege and changes nothing.
        let state = read_state(&KernelSource::Live).expect("adjtimex with modes 0");
        assert!(state.max_error_us >= 0);
    }
}
