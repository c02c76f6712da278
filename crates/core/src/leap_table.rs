//! Leap seconds from a time zone file (chrony's `leapsectz right/UTC`).
//!
//! Owns reading the leap-second records of a TZif file (RFC 8536) into a table of
//! the UTC midnights at which a second is inserted or deleted, and answering "is a
//! leap second due at the end of this month?". The bytes come from the caller (the
//! daemon reads the file); nothing here does IO. When a table is configured, the
//! engine takes the leap warning from it instead of from its sources' majority.

use crate::clock_action::LeapSecond;
use crate::leap::utc_date;
use gnomon_proto::{LeapIndicator, UnixTime};

/// Why a TZif file could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeapTableError {
    #[error("not a TZif file (no TZif magic)")]
    NotTzif,
    #[error("TZif file truncated at byte {0}")]
    Truncated(usize),
    #[error("TZif file has no leap-second records (use a right/ zone such as right/UTC)")]
    NoLeapSeconds,
}

/// The leap seconds of a TZif file: (the UTC midnight the leap second precedes, kind).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeapTable {
    leaps: Vec<(UnixTime, LeapSecond)>,
}

fn be_i32(bytes: &[u8], at: usize) -> Result<i32, LeapTableError> {
    bytes
        .get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(LeapTableError::Truncated(at))
}

impl LeapTable {
    /// Read the leap-second records of the version-1 data block of a TZif file (its
    /// 32-bit times reach 2038; every leap second announced so far is far inside).
    pub fn from_tzif(bytes: &[u8]) -> Result<LeapTable, LeapTableError> {
        if bytes.get(..4) != Some(b"TZif".as_slice()) {
            return Err(LeapTableError::NotTzif);
        }
        let count = |index: usize| -> Result<usize, LeapTableError> {
            Ok(be_i32(bytes, 20 + 4 * index)?.max(0) as usize)
        };
        // Header counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
        let (leap, time, types, chars) = (count(2)?, count(3)?, count(4)?, count(5)?);
        let leap_start = 44 + time * 5 + types * 6 + chars;
        if leap == 0 {
            return Err(LeapTableError::NoLeapSeconds);
        }
        // The records must be in the file before anything is sized by their count:
        // a corrupt count (up to 2^31) would otherwise ask for gigabytes up front.
        if bytes.len() < leap_start.saturating_add(leap.saturating_mul(8)) {
            return Err(LeapTableError::Truncated(bytes.len()));
        }
        let mut leaps = Vec::with_capacity(leap);
        let mut previous_correction = 0i64;
        for index in 0..leap {
            let at = leap_start + index * 8;
            // The record's time counts the earlier leap seconds; take them out for
            // the POSIX time of the midnight the leap second precedes.
            let transition = i64::from(be_i32(bytes, at)?);
            let correction = i64::from(be_i32(bytes, at + 4)?);
            let midnight = UnixTime::from_secs(transition - previous_correction);
            let kind = if correction > previous_correction {
                LeapSecond::Insert
            } else {
                LeapSecond::Delete
            };
            leaps.push((midnight, kind));
            previous_correction = correction;
        }
        Ok(LeapTable { leaps })
    }

    pub fn len(&self) -> usize {
        self.leaps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaps.is_empty()
    }

    /// The warning to announce at `now`: a leap second at the end of the current UTC
    /// month (the midnight that starts the next month), as NTP announces it.
    pub fn announced(&self, now: UnixTime) -> LeapIndicator {
        let today = utc_date(now);
        for &(midnight, kind) in &self.leaps {
            if midnight <= now {
                continue;
            }
            let last_day = utc_date(UnixTime::from_secs(midnight.secs_and_subsec_nanos().0 - 1));
            if (last_day.year, last_day.month) == (today.year, today.month) {
                return match kind {
                    LeapSecond::Insert => LeapIndicator::InsertSecond,
                    LeapSecond::Delete => LeapIndicator::DeleteSecond,
                    LeapSecond::None => LeapIndicator::NoWarning,
                };
            }
            break;
        }
        LeapIndicator::NoWarning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TZif v1 block with two leap records: the first two leap seconds (1972).
    fn tzif_with_two_leaps() -> Vec<u8> {
        let mut bytes = b"TZif".to_vec();
        bytes.extend_from_slice(&[0u8; 16]);
        // isut, isstd, leap, time, type, char counts.
        for count in [0i32, 0, 2, 0, 1, 4] {
            bytes.extend_from_slice(&count.to_be_bytes());
        }
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // one ttinfo
        bytes.extend_from_slice(b"UTC\0");
        // 1972-07-01 00:00:00 UTC (POSIX 78796800), correction 1.
        bytes.extend_from_slice(&78_796_800i32.to_be_bytes());
        bytes.extend_from_slice(&1i32.to_be_bytes());
        // 1973-01-01 00:00:00 UTC (POSIX 94694400) counted with the first leap.
        bytes.extend_from_slice(&94_694_401i32.to_be_bytes());
        bytes.extend_from_slice(&2i32.to_be_bytes());
        bytes
    }

    #[test]
    fn reads_records_and_announces_them_in_their_month() {
        let table = LeapTable::from_tzif(&tzif_with_two_leaps()).unwrap();
        assert_eq!(table.len(), 2);
        // 1972-06-15: the June leap is announced; 1972-05-31 too early.
        assert_eq!(
            table.announced(UnixTime::from_secs(77_500_800)),
            LeapIndicator::InsertSecond
        );
        assert_eq!(
            table.announced(UnixTime::from_secs(76_118_400)),
            LeapIndicator::NoWarning
        );
        // 1972-12-31 12:00: the December one.
        assert_eq!(
            table.announced(UnixTime::from_secs(94_651_200)),
            LeapIndicator::InsertSecond
        );
        // 1973-01-01 00:00:01: done.
        assert_eq!(
            table.announced(UnixTime::from_secs(94_694_401)),
            LeapIndicator::NoWarning
        );
    }

    #[test]
    fn bad_files() {
        assert_eq!(LeapTable::from_tzif(b"nope"), Err(LeapTableError::NotTzif));
        let mut truncated = tzif_with_two_leaps();
        truncated.truncate(60);
        assert!(matches!(
            LeapTable::from_tzif(&truncated),
            Err(LeapTableError::Truncated(_))
        ));
    }

    #[test]
    fn a_huge_leap_count_is_a_truncated_file_not_an_allocation() {
        // Found by the leap_table fuzz target: leapcnt 0x73848454 made from_tzif
        // reserve 31 GB for records the 46-byte file could not hold (an abort).
        let mut bytes = tzif_with_two_leaps();
        bytes[28..32].copy_from_slice(&0x7384_8454i32.to_be_bytes());
        assert_eq!(
            LeapTable::from_tzif(&bytes),
            Err(LeapTableError::Truncated(bytes.len()))
        );
        // A count one larger than the records present.
        let mut bytes = tzif_with_two_leaps();
        bytes[28..32].copy_from_slice(&3i32.to_be_bytes());
        assert_eq!(
            LeapTable::from_tzif(&bytes),
            Err(LeapTableError::Truncated(bytes.len()))
        );
    }

    #[test]
    fn the_systems_right_utc() {
        // Debian's tzdata (a required package) ships right/UTC; the 2016-12-31 leap is in it.
        let bytes = std::fs::read("/usr/share/zoneinfo/right/UTC").expect("tzdata's right/UTC");
        let table = LeapTable::from_tzif(&bytes).unwrap();
        assert!(table.len() >= 27, "{}", table.len());
        // 2016-12-20: insert at the end of the month.
        assert_eq!(
            table.announced(UnixTime::from_secs(1_482_192_000)),
            LeapIndicator::InsertSecond
        );
        // 2017-06-15: none (no leap since 2016).
        assert_eq!(
            table.announced(UnixTime::from_secs(1_497_484_800)),
            LeapIndicator::NoWarning
        );
    }
}
