//! System variables: what this host tells its clients and its operator about its own
//! clock, and how far off that clock may be.
//!
//! Owns the snapshot of stratum, reference ID, reference time, root delay, root
//! dispersion (growing with time since the last update), leap and precision, plus the
//! tracking figures chronyc shows, and the local clock's error bound: true time lies
//! within `now ± bound`. It must not change anything: the engine fills it in after each
//! update, and readers (server replies, the control socket) only read copies.
//!
//! # How fast the bound grows
//!
//! Between updates the clock may drift from the truth by as much as its frequency is
//! wrong, so the root dispersion grows at [`dispersion_rate_ppm`], the sum of:
//! - the estimate's skew (its frequency's standard error), widened to a 99 %
//!   confidence bound with Student's t for the regression's degrees of freedom. A
//!   line through three or four samples (the window is often that short, see
//!   [`crate::estimator`]) has one or two degrees of freedom, and its skew, computed
//!   from one or two residuals, is itself a guess: in crates/sim a three-sample line
//!   at 10 ms of jitter said 11 ppm while the frequency was 115 ppm off, and a bound
//!   grown at the skew alone fell behind the clock for a minute. chrony's skew is
//!   likewise its slope's standard error times a t coefficient (a 99.95 % one).
//! - the residual frequency: the part of the estimate the discipline did not apply
//!   (a gain below one, or `maxdrift` clamping a wild first estimate);
//! - `maxclockerror`, the local oscillator's own tolerance.
//!
//! The skew counts up to [`WORST_CASE_SKEW_PPM`], the uncertainty assumed before any
//! estimate, and no less: a rate capped below the frequency error is no bound.

use gnomon_proto::{LeapIndicator, NtpShort, NtpTimestamp, ReferenceId, UnixTime};

use crate::estimator::{seconds_between, MIN_SAMPLES_FOR_REGRESSION, WORST_CASE_SKEW_PPM};
use crate::leap::is_leap_second_month;

/// chrony's reference ID while serving from the local clock (`local` directive).
pub const LOCAL_REFERENCE_ID: ReferenceId = ReferenceId::from_u32(0x7F7F_0101);
/// Stratum announced when unsynchronised.
pub const UNSYNCHRONIZED_STRATUM: u8 = 16;

/// chrony's `local stratum N [orphan] [distance D]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalStratum {
    pub stratum: u8,
    /// Orphan mode: see [`crate::selection::OrphanMode`] (needs
    /// [`crate::engine::EngineConfig::own_reference_id`]).
    pub orphan: bool,
    /// The local reference is used only while the selected source's root distance is
    /// above this (chrony default 1 s).
    pub distance_s: f64,
    /// chrony's `waitunsynced`: with `orphan` (or a value above 0), once every source
    /// has been unreachable this long, the reference is given up and the local one
    /// used, so an orphan takes over from a root that stopped. chrony's default is
    /// 300 s with `orphan`, else 0 (then only `distance` decides, as in chrony 4.3).
    pub wait_unsynced_s: f64,
}

impl Default for LocalStratum {
    fn default() -> Self {
        LocalStratum {
            stratum: 10,
            orphan: false,
            distance_s: 1.0,
            wait_unsynced_s: 0.0,
        }
    }
}

/// A copy of the system variables at one update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SystemVariables {
    /// A source (or the local reference) is in use.
    pub synchronized: bool,
    /// Serving from the `local` reference, not from a source.
    pub local_reference: bool,
    /// What we announce: the armed leap, or `Unsynchronized`.
    pub leap: LeapIndicator,
    pub stratum: u8,
    /// log2 seconds of the local clock's reading precision.
    pub precision: i8,
    pub reference_id: ReferenceId,
    /// Local time of the last clock update (`None` before the first).
    pub reference_time: Option<UnixTime>,
    pub root_delay_s: f64,
    /// Root dispersion at `reference_time`, including `pending_correction_s`.
    pub root_dispersion_s: f64,
    /// The part of `root_dispersion_s` that is the correction still to be slewed at
    /// `reference_time` (its magnitude). Served timestamps are the clock's reading,
    /// which is that much further from the estimate than the corrected reading, so
    /// clients must count it; the local bound, centred on the corrected reading, adds
    /// the correction still pending at its own time instead (see
    /// [`SystemVariables::corrected_root_distance_at_s`]).
    pub pending_correction_s: f64,
    /// Growth of the root dispersion per second since `reference_time`, ppm.
    pub dispersion_rate_ppm: f64,
    /// The frequency correction applied to the clock (chronyc: "Frequency").
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
    /// Estimated standard error of the clock's offset at `reference_time`, seconds.
    pub estimated_error_s: f64,
    /// The offset of the last update and its running RMS.
    pub last_offset_s: f64,
    pub rms_offset_s: f64,
    pub update_interval_s: f64,
}

impl SystemVariables {
    /// The state before any source is heard from.
    pub fn unsynchronized(precision: i8) -> Self {
        SystemVariables {
            synchronized: false,
            local_reference: false,
            leap: LeapIndicator::Unsynchronized,
            stratum: UNSYNCHRONIZED_STRATUM,
            precision,
            reference_id: ReferenceId::default(),
            reference_time: None,
            root_delay_s: 0.0,
            root_dispersion_s: 0.0,
            pending_correction_s: 0.0,
            dispersion_rate_ppm: 0.0,
            frequency_ppm: 0.0,
            skew_ppm: 0.0,
            estimated_error_s: 0.0,
            last_offset_s: 0.0,
            rms_offset_s: 0.0,
            update_interval_s: 0.0,
        }
    }

    /// Root dispersion grown to `now`.
    pub fn root_dispersion_at_s(&self, now: UnixTime) -> f64 {
        let elapsed_s = self
            .reference_time
            .map_or(0.0, |t| seconds_between(t, now).max(0.0));
        self.root_dispersion_s + self.dispersion_rate_ppm * 1e-6 * elapsed_s
    }

    /// Root delay / 2 + root dispersion at `now`: the error bound of the served time
    /// (the clock's reading).
    pub fn root_distance_at_s(&self, now: UnixTime) -> f64 {
        self.root_delay_s / 2.0 + self.root_dispersion_at_s(now)
    }

    /// The root distance at `now` without the pending correction: the error bound of
    /// the corrected reading (the clock's reading plus the correction still to be
    /// slewed at `now`).
    pub fn corrected_root_distance_at_s(&self, now: UnixTime) -> f64 {
        self.root_distance_at_s(now) - self.pending_correction_s
    }

    /// The slew has made its whole correction (it ended, or was stepped away): the
    /// clock's reading is the corrected reading again, and what is served no longer
    /// needs to cover a pending correction.
    pub fn correction_applied(&mut self) {
        self.root_dispersion_s -= self.pending_correction_s;
        self.pending_correction_s = 0.0;
    }

    /// The fields of a server reply that come from the system, at `now`. A leap
    /// warning is served only in June or December: once the leap has happened (or the
    /// month has ended without one) it goes, even before the next clock update.
    pub fn reply_fields(&self, now: UnixTime) -> ReplyFields {
        let leap = match self.leap {
            LeapIndicator::InsertSecond | LeapIndicator::DeleteSecond
                if !is_leap_second_month(now) =>
            {
                LeapIndicator::NoWarning
            }
            leap => leap,
        };
        ReplyFields {
            leap,
            stratum: self.stratum,
            precision: self.precision,
            reference_id: self.reference_id,
            reference_timestamp: self
                .reference_time
                .map_or(NtpTimestamp::ZERO, NtpTimestamp::from_unix),
            root_delay: NtpShort::from_seconds_f64(self.root_delay_s),
            root_dispersion: NtpShort::from_seconds_f64(self.root_dispersion_at_s(now)),
        }
    }
}

/// Student's t, two-sided 99 % (t at 0.995), for 1..=30 degrees of freedom.
const T_995: [f64; 30] = [
    63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169, 3.106, 3.055, 3.012,
    2.977, 2.947, 2.921, 2.898, 2.878, 2.861, 2.845, 2.831, 2.819, 2.807, 2.797, 2.787, 2.779,
    2.771, 2.763, 2.756, 2.750,
];

/// The factor that turns the skew of a line through `samples_used` samples into a
/// 99 % bound on its frequency error. Fewer than three samples (the line carried
/// over a jump) count as three.
pub fn skew_factor(samples_used: usize) -> f64 {
    let degrees_of_freedom = samples_used.max(MIN_SAMPLES_FOR_REGRESSION) - 2;
    T_995[degrees_of_freedom.min(T_995.len()) - 1]
}

/// The rate, ppm, at which the bound grows after an update whose frequency estimate
/// had `skew_ppm` from a line through `samples_used` samples, of which the discipline
/// left `residual_frequency_ppm` unapplied.
pub fn dispersion_rate_ppm(
    skew_ppm: f64,
    samples_used: usize,
    residual_frequency_ppm: f64,
    max_clock_error_ppm: f64,
) -> f64 {
    skew_ppm.min(WORST_CASE_SKEW_PPM) * skew_factor(samples_used)
        + residual_frequency_ppm.abs()
        + max_clock_error_ppm
}

/// The system's part of a server reply, in wire formats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplyFields {
    pub leap: LeapIndicator,
    pub stratum: u8,
    pub precision: i8,
    pub reference_id: ReferenceId,
    pub reference_timestamp: NtpTimestamp,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
}

/// The local clock as an interval: true time lies within `now + offset_s ± bound_s`
/// (ClockBound/TrueTime style). `offset_s` is the correction still being slewed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockErrorBound {
    pub now: UnixTime,
    pub offset_s: f64,
    pub bound_s: f64,
    pub synchronized: bool,
}

impl ClockErrorBound {
    /// Earliest and latest possible true time.
    pub fn interval(&self) -> (UnixTime, UnixTime) {
        let center = self.now.add_seconds_f64(self.offset_s);
        (
            center.add_seconds_f64(-self.bound_s),
            center.add_seconds_f64(self.bound_s),
        )
    }

    /// True time lies within the clock's own reading ± this: the bound plus the
    /// correction still pending (|offset|). What every view of "the clock's error
    /// bound" reports: `tracking`'s `error_bound_s`, the metrics' `system_error_bound`
    /// and the clockbound file (which adds the gap to the system clock).
    pub fn reading_bound_s(&self) -> f64 {
        self.bound_s + self.offset_s.abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::NtpDuration;

    #[test]
    fn root_dispersion_grows_with_time() {
        let start = UnixTime::from_secs(1_800_000_000);
        let system = SystemVariables {
            synchronized: true,
            reference_time: Some(start),
            root_delay_s: 0.002,
            root_dispersion_s: 0.001,
            dispersion_rate_ppm: 16.0,
            stratum: 3,
            leap: LeapIndicator::NoWarning,
            ..SystemVariables::unsynchronized(-20)
        };
        let later = start.add(NtpDuration::from_seconds_f64(1000.0));
        assert!((system.root_dispersion_at_s(later) - 0.017).abs() < 1e-12);
        assert!((system.root_distance_at_s(later) - 0.018).abs() < 1e-12);
        let fields = system.reply_fields(later);
        assert!((fields.root_dispersion.as_seconds_f64() - 0.017).abs() < 1e-4);
        assert_eq!(fields.reference_timestamp, NtpTimestamp::from_unix(start));
        assert_eq!(fields.stratum, 3);
    }

    #[test]
    fn few_samples_widen_the_skew_most() {
        assert_eq!(skew_factor(0), 63.657);
        assert_eq!(skew_factor(3), 63.657);
        assert_eq!(skew_factor(4), 9.925);
        assert_eq!(skew_factor(32), 2.750);
        assert_eq!(skew_factor(64), 2.750);
        let factors: Vec<f64> = (3..40).map(skew_factor).collect();
        assert!(factors.windows(2).all(|w| w[0] >= w[1]), "{factors:?}");
    }

    #[test]
    fn rate_adds_skew_residual_and_clock_tolerance() {
        let rate = dispersion_rate_ppm(2.0, 32, -5.0, 1.0);
        assert!((rate - (2.0 * 2.750 + 5.0 + 1.0)).abs() < 1e-12, "{rate}");
        // No cap below the worst case: a wild estimate gives a wild rate.
        let rate = dispersion_rate_ppm(400.0, 32, 0.0, 1.0);
        assert!(rate > 1000.0, "{rate}");
        let rate = dispersion_rate_ppm(1e9, 32, 0.0, 0.0);
        assert!((rate - WORST_CASE_SKEW_PPM * 2.750).abs() < 1e-6, "{rate}");
    }

    #[test]
    fn error_bound_interval() {
        let now = UnixTime::from_secs(1_800_000_000);
        let bound = ClockErrorBound {
            now,
            offset_s: 0.001,
            bound_s: 0.002,
            synchronized: true,
        };
        let (earliest, latest) = bound.interval();
        assert_eq!(earliest.duration_since(now).as_nanos(), -1_000_000);
        assert_eq!(latest.duration_since(now).as_nanos(), 3_000_000);
    }
}
