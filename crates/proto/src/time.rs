//! NTP time formats and their conversion to Unix time.
//!
//! Owns the three representations of time that cross the wire and the arithmetic
//! between them:
//! - [`NtpTimestamp`]: the 64-bit timestamp format of RFC 5905 (32-bit seconds of the
//!   current era, 32-bit fraction). The era is not on the wire, so converting to Unix
//!   time needs a pivot: the resolved time is the one closest to the pivot.
//! - [`NtpShort`]: the 32-bit short format (16.16) used for root delay and dispersion.
//! - [`NtpDuration`]: a signed span in units of 2^-32 s, the difference of two
//!   timestamps, which is era independent as long as they are within 68 years.
//!
//! [`UnixTime`] is nanoseconds since 1970-01-01 UTC in an `i64` (good until 2262).
//! This module does no IO and never reads a clock.

use std::fmt;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;
/// Seconds in one NTP era (2^32).
pub const ERA_S: i64 = 1 << 32;
const NANOS_PER_S: i64 = 1_000_000_000;

/// A point in time, as nanoseconds since the Unix epoch (UTC, leap seconds not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    nanos: i64,
}

impl UnixTime {
    pub const EPOCH: UnixTime = UnixTime { nanos: 0 };

    pub const fn from_nanos(nanos: i64) -> Self {
        UnixTime { nanos }
    }

    pub const fn from_secs(secs: i64) -> Self {
        UnixTime {
            nanos: secs * NANOS_PER_S,
        }
    }

    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whole seconds (floor) and the nanoseconds within that second.
    pub const fn secs_and_subsec_nanos(self) -> (i64, u32) {
        (
            self.nanos.div_euclid(NANOS_PER_S),
            self.nanos.rem_euclid(NANOS_PER_S) as u32,
        )
    }

    pub fn as_secs_f64(self) -> f64 {
        let (secs, nanos) = self.secs_and_subsec_nanos();
        secs as f64 + nanos as f64 * 1e-9
    }

    /// `self - earlier` as a signed span (saturating far outside ±68 years).
    pub fn duration_since(self, earlier: UnixTime) -> NtpDuration {
        NtpDuration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// This time moved by `span` (saturating at the ends of the representable range).
    /// A method, not `std::ops::Add`, because it saturates rather than overflows.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, span: NtpDuration) -> UnixTime {
        UnixTime {
            nanos: self.nanos.saturating_add(span.as_nanos()),
        }
    }

    /// This time moved by `seconds`, in nanoseconds (saturating at about ±292 years,
    /// where [`UnixTime::add`] with an [`NtpDuration`] stops at ±68 years): for spans
    /// that can be longer than an NTP duration holds, like a slew of a correction
    /// years long at a maximum rate of a few percent.
    pub fn add_seconds_f64(self, seconds: f64) -> UnixTime {
        let nanos = (seconds * 1e9).round();
        let nanos = if nanos.is_nan() { 0 } else { nanos as i64 };
        UnixTime {
            nanos: self.nanos.saturating_add(nanos),
        }
    }

    /// From a `std::time::SystemTime` (the caller reads the clock; this module never does).
    pub fn from_system_time(time: std::time::SystemTime) -> Self {
        match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => UnixTime::from_nanos(i64::try_from(after.as_nanos()).unwrap_or(i64::MAX)),
            Err(before) => UnixTime::from_nanos(
                -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
            ),
        }
    }
}

/// The default pivot for era resolution: timestamps resolve into the 136-year window
/// that starts at 1990-01-01, so they are right until 2126 without a clock reading.
pub const DEFAULT_ERA_WINDOW_START: UnixTime = UnixTime::from_secs(631_152_000);

/// The 64-bit NTP timestamp format as sent on the wire (era not included).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NtpTimestamp {
    bits: u64,
}

impl NtpTimestamp {
    /// The all-zero timestamp, which RFC 5905 uses for "unknown / not set".
    pub const ZERO: NtpTimestamp = NtpTimestamp { bits: 0 };

    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp { bits }
    }

    pub const fn to_bits(self) -> u64 {
        self.bits
    }

    pub const fn from_seconds_fraction(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp {
            bits: ((seconds as u64) << 32) | fraction as u64,
        }
    }

    /// Seconds within the era.
    pub const fn era_seconds(self) -> u32 {
        (self.bits >> 32) as u32
    }

    /// Fraction of a second in units of 2^-32 s.
    pub const fn fraction(self) -> u32 {
        self.bits as u32
    }

    pub const fn is_zero(self) -> bool {
        self.bits == 0
    }

    pub fn to_be_bytes(self) -> [u8; 8] {
        self.bits.to_be_bytes()
    }

    pub fn from_be_bytes(bytes: [u8; 8]) -> Self {
        NtpTimestamp {
            bits: u64::from_be_bytes(bytes),
        }
    }

    /// Encode a Unix time (any era): the era number is dropped, as on the wire.
    /// Rounds to the nearest 2^-32 s, so `to_unix_near` gives back the same nanosecond.
    pub fn from_unix(time: UnixTime) -> Self {
        let (secs, nanos) = time.secs_and_subsec_nanos();
        let ntp_secs = secs + NTP_UNIX_OFFSET_S;
        // nanos < 1e9, so nanos << 32 fits in u64 with room to round.
        let mut fraction = (((nanos as u64) << 32) + (NANOS_PER_S as u64 / 2)) / NANOS_PER_S as u64;
        let mut era_secs = ntp_secs.rem_euclid(ERA_S) as u64;
        if fraction >> 32 != 0 {
            // Rounded up to the next whole second.
            fraction = 0;
            era_secs = (era_secs + 1) % (ERA_S as u64);
        }
        NtpTimestamp {
            bits: (era_secs << 32) | fraction,
        }
    }

    /// Resolve the era so that the result is the Unix time closest to `pivot`
    /// (within ±68 years of it). Use the local clock's reading as the pivot.
    pub fn to_unix_near(self, pivot: UnixTime) -> UnixTime {
        let pivot_ntp = NtpTimestamp::from_unix(pivot);
        pivot.add(self.wrapping_since(pivot_ntp))
    }

    /// Resolve the era with the fixed window starting at [`DEFAULT_ERA_WINDOW_START`].
    pub fn to_unix(self) -> UnixTime {
        let window_start_ntp =
            DEFAULT_ERA_WINDOW_START.secs_and_subsec_nanos().0 + NTP_UNIX_OFFSET_S;
        let start_era_secs = window_start_ntp.rem_euclid(ERA_S);
        let start_era = window_start_ntp.div_euclid(ERA_S);
        let era = if (self.era_seconds() as i64) >= start_era_secs {
            start_era
        } else {
            start_era + 1
        };
        let secs = era * ERA_S + self.era_seconds() as i64 - NTP_UNIX_OFFSET_S;
        let nanos = ((self.fraction() as u64 * NANOS_PER_S as u64) + (1 << 31)) >> 32;
        UnixTime::from_nanos(secs * NANOS_PER_S + nanos as i64)
    }

    /// `self - earlier`, taken modulo one era: correct whenever the two are within
    /// 68 years of each other, whatever eras they are in.
    pub fn wrapping_since(self, earlier: NtpTimestamp) -> NtpDuration {
        NtpDuration::from_fixed(self.bits.wrapping_sub(earlier.bits) as i64)
    }

    /// This timestamp moved by `span`, wrapping across the era boundary.
    pub fn wrapping_add(self, span: NtpDuration) -> NtpTimestamp {
        NtpTimestamp {
            bits: self.bits.wrapping_add(span.to_fixed() as u64),
        }
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NtpTimestamp({:08x}.{:08x})",
            self.era_seconds(),
            self.fraction()
        )
    }
}

/// A signed span of time in units of 2^-32 s (about 233 ps), range ±68 years.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpDuration {
    fixed: i64,
}

impl NtpDuration {
    pub const ZERO: NtpDuration = NtpDuration { fixed: 0 };
    pub const MAX: NtpDuration = NtpDuration { fixed: i64::MAX };

    /// From the 32.32 fixed-point value.
    pub const fn from_fixed(fixed: i64) -> Self {
        NtpDuration { fixed }
    }

    pub const fn to_fixed(self) -> i64 {
        self.fixed
    }

    pub fn from_nanos(nanos: i64) -> Self {
        let fixed = ((nanos as i128) << 32) / NANOS_PER_S as i128;
        NtpDuration {
            fixed: fixed.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        }
    }

    /// Rounded to the nearest nanosecond.
    pub fn as_nanos(self) -> i64 {
        let scaled = self.fixed as i128 * NANOS_PER_S as i128;
        ((scaled + (1 << 31)) >> 32) as i64
    }

    /// Saturates outside ±68 years; NaN gives zero.
    pub fn from_seconds_f64(seconds: f64) -> Self {
        let fixed = seconds * 4_294_967_296.0;
        NtpDuration {
            fixed: if fixed.is_nan() { 0 } else { fixed as i64 },
        }
    }

    pub fn as_seconds_f64(self) -> f64 {
        self.fixed as f64 / 4_294_967_296.0
    }

    pub fn abs(self) -> Self {
        NtpDuration {
            fixed: self.fixed.saturating_abs(),
        }
    }

    pub fn saturating_add(self, other: Self) -> Self {
        NtpDuration {
            fixed: self.fixed.saturating_add(other.fixed),
        }
    }

    pub fn saturating_sub(self, other: Self) -> Self {
        NtpDuration {
            fixed: self.fixed.saturating_sub(other.fixed),
        }
    }

    /// Half of this span, rounded toward negative infinity.
    pub fn half(self) -> Self {
        NtpDuration {
            fixed: self.fixed >> 1,
        }
    }
}

impl fmt::Debug for NtpDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpDuration({:.9} s)", self.as_seconds_f64())
    }
}

/// The 32-bit NTP short format: 16-bit seconds and 16-bit fraction, unsigned.
/// Used for root delay and root dispersion.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpShort {
    bits: u32,
}

impl NtpShort {
    pub const ZERO: NtpShort = NtpShort { bits: 0 };
    pub const MAX: NtpShort = NtpShort { bits: u32::MAX };

    pub const fn from_bits(bits: u32) -> Self {
        NtpShort { bits }
    }

    pub const fn to_bits(self) -> u32 {
        self.bits
    }

    pub fn as_seconds_f64(self) -> f64 {
        self.bits as f64 / 65_536.0
    }

    /// Rounds up (a bound must never shrink in transit); clamps to 0..65536 s.
    pub fn from_seconds_f64(seconds: f64) -> Self {
        let units = (seconds * 65_536.0).ceil();
        let bits = if units.is_nan() || units <= 0.0 {
            0
        } else if units >= u32::MAX as f64 {
            u32::MAX
        } else {
            units as u32
        };
        NtpShort { bits }
    }

    pub fn to_duration(self) -> NtpDuration {
        NtpDuration::from_fixed((self.bits as i64) << 16)
    }

    /// Rounds up; negative spans give zero, long ones saturate.
    pub fn from_duration(span: NtpDuration) -> Self {
        let fixed = span.to_fixed();
        if fixed <= 0 {
            return NtpShort::ZERO;
        }
        let units = (fixed as u64).div_ceil(1 << 16);
        NtpShort {
            bits: u32::try_from(units).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Debug for NtpShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpShort({:.6} s)", self.as_seconds_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2036-02-07T06:28:16Z: the first instant of NTP era 1.
    const ERA1_START_UNIX_S: i64 = ERA_S - NTP_UNIX_OFFSET_S;

    #[test]
    fn unix_epoch_is_ntp_2208988800() {
        let ts = NtpTimestamp::from_unix(UnixTime::EPOCH);
        assert_eq!(ts.era_seconds(), 2_208_988_800);
        assert_eq!(ts.fraction(), 0);
        assert_eq!(ts.to_unix_near(UnixTime::EPOCH), UnixTime::EPOCH);
        // 1970 lies before the default window (1990..2126), so it resolves one era later.
        assert_eq!(ts.to_unix(), UnixTime::from_secs(ERA_S));
    }

    #[test]
    fn era_rollover_2036_both_sides() {
        let before = UnixTime::from_nanos(ERA1_START_UNIX_S * NANOS_PER_S - 500_000_000);
        let after = UnixTime::from_nanos(ERA1_START_UNIX_S * NANOS_PER_S + 250_000_000);
        let ts_before = NtpTimestamp::from_unix(before);
        let ts_after = NtpTimestamp::from_unix(after);
        assert_eq!(ts_before.era_seconds(), u32::MAX);
        assert_eq!(ts_before.fraction(), 1 << 31);
        assert_eq!(ts_after.era_seconds(), 0);
        assert_eq!(ts_after.fraction(), 1 << 30);
        // The fixed window resolves both to the right era.
        assert_eq!(ts_before.to_unix(), before);
        assert_eq!(ts_after.to_unix(), after);
        // A pivot on the other side of the rollover resolves them too.
        assert_eq!(ts_after.to_unix_near(before), after);
        assert_eq!(ts_before.to_unix_near(after), before);
        // Differences across the boundary are small and signed.
        assert_eq!(ts_after.wrapping_since(ts_before).as_nanos(), 750_000_000);
        assert_eq!(ts_before.wrapping_since(ts_after).as_nanos(), -750_000_000);
    }

    #[test]
    fn pivot_far_in_future_era() {
        // 2150: era 1 is long done; the default window (to 2126) would be wrong, the pivot is right.
        let t = UnixTime::from_secs(5_680_281_600 + 123);
        let ts = NtpTimestamp::from_unix(t);
        assert_eq!(ts.to_unix_near(UnixTime::from_secs(5_680_281_600)), t);
    }

    #[test]
    fn nanosecond_round_trip_is_exact() {
        for nanos in [0, 1, 2, 499_999_999, 999_999_999, 123_456_789] {
            let t = UnixTime::from_nanos(1_795_000_000 * NANOS_PER_S + nanos);
            assert_eq!(NtpTimestamp::from_unix(t).to_unix(), t, "nanos {nanos}");
        }
    }

    #[test]
    fn short_format_rounds_up() {
        assert_eq!(NtpShort::from_seconds_f64(1.0).to_bits(), 0x0001_0000);
        assert_eq!(NtpShort::from_seconds_f64(1e-9).to_bits(), 1);
        assert_eq!(NtpShort::from_seconds_f64(-3.0).to_bits(), 0);
        assert_eq!(NtpShort::from_seconds_f64(1e9), NtpShort::MAX);
        let d = NtpDuration::from_seconds_f64(0.5);
        assert_eq!(NtpShort::from_duration(d).to_bits(), 0x8000);
        assert_eq!(NtpShort::from_bits(0x8000).to_duration(), d);
    }

    #[test]
    fn duration_conversions() {
        assert_eq!(NtpDuration::from_nanos(1_000_000_000).to_fixed(), 1 << 32);
        assert_eq!(NtpDuration::from_nanos(-1500).as_nanos(), -1500);
        assert!((NtpDuration::from_seconds_f64(-0.25).as_seconds_f64() + 0.25).abs() < 1e-12);
        assert_eq!(NtpDuration::from_seconds_f64(f64::NAN), NtpDuration::ZERO);
    }
}
