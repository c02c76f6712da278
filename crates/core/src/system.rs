//! System variables: what this host tells its clients and its operator about its own
//! clock, and how far off that clock may be.
//!
//! Owns the snapshot of stratum, reference ID, reference time, root delay, root
//! dispersion (growing with time since the last update), leap and precision, plus the
//! tracking figures chronyc shows, and the local clock's error bound: true time lies
//! within `now ± bound`. It must not change anything: the engine fills it in after each
//! update, and readers (server replies, the control socket) only read copies.

use gnomon_proto::{LeapIndicator, NtpShort, NtpTimestamp, ReferenceId, UnixTime};

use crate::estimator::seconds_between;
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
}

impl Default for LocalStratum {
    fn default() -> Self {
        LocalStratum {
            stratum: 10,
            orphan: false,
            distance_s: 1.0,
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
    /// Root dispersion at `reference_time`.
    pub root_dispersion_s: f64,
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

    /// Root delay / 2 + root dispersion at `now`: the error bound of the served time.
    pub fn root_distance_at_s(&self, now: UnixTime) -> f64 {
        self.root_delay_s / 2.0 + self.root_dispersion_at_s(now)
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
        let center = self
            .now
            .add(gnomon_proto::NtpDuration::from_seconds_f64(self.offset_s));
        let half = gnomon_proto::NtpDuration::from_seconds_f64(self.bound_s);
        (
            center.add(gnomon_proto::NtpDuration::ZERO.saturating_sub(half)),
            center.add(half),
        )
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
