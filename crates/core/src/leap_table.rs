//! Leap seconds from a time zone file (chrony's `leapsectz right/UTC`) or from a
//! leap-seconds.list file (chrony 4.6's `leapseclist`).
//!
//! Owns reading either format into one table of the UTC midnights at which a second
//! is inserted or deleted: the leap-second records of a TZif file (RFC 8536), or the
//! IERS/NIST list (`NTP_SECONDS TAI-UTC # comment` lines, `#$` last update, `#@`
//! expiry; `#h`, the hash, is not checked, as chrony does not), and answering "is a
//! leap second due at the end of this month?" and "does the table know the 2012 leap
//! second?" (chrony's sanity check of a leap source). The bytes come from the caller
//! (the daemon reads the file); nothing here does IO. When a table is configured,
//! the engine takes the leap warning from it instead of from its sources' majority,
//! whichever directive supplied it.

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

/// Why a leap-seconds.list file could not be read. Lines count from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeapListError {
    #[error(
        "line {line}: expected `NTP_SECONDS TAI-UTC [# comment]` \
         (e.g. `3692217600 37 # 1 Jan 2017`), found {text:?}"
    )]
    BadEntry { line: usize, text: String },
    #[error("line {line}: `{tag}` needs a time in NTP seconds, found {text:?}")]
    BadSpecialLine {
        line: usize,
        tag: &'static str,
        text: String,
    },
    #[error(
        "line {line}: {ntp_seconds} is not a UTC midnight (a whole number of days since 1900)"
    )]
    NotMidnight { line: usize, ntp_seconds: u64 },
    #[error(
        "line {line}: {ntp_seconds} is not after the entry before it (the list must be sorted)"
    )]
    OutOfOrder { line: usize, ntp_seconds: u64 },
    #[error("no `#$` line (time of the last update): not a complete leap-seconds.list")]
    NoUpdateLine,
    #[error("no `#@` line (expiry time): not a complete leap-seconds.list")]
    NoExpiryLine,
}

/// The seconds from 1900-01-01 (the NTP and leap-seconds.list epoch) to 1970-01-01.
const NTP_TO_UNIX_S: u64 = 2_208_988_800;
const DAY_S: u64 = 86_400;
/// TAI-UTC before the first entry of a leap-seconds.list (1972-01-01: 10 s); a first
/// entry of 10 is the start of the list, not a leap second.
const FIRST_TAI_OFFSET_S: i64 = 10;

/// Leap seconds: (the UTC midnight the leap second precedes, kind), from a TZif file
/// or a leap-seconds.list, with the list's expiry and last update when it has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeapTable {
    leaps: Vec<(UnixTime, LeapSecond)>,
    expires: Option<UnixTime>,
    updated: Option<UnixTime>,
}

/// The largest time taken from a list, in NTP seconds (2^33: the year 2172): far past
/// any expiry, and well inside what a [`UnixTime`] (i64 nanoseconds) holds.
const MAX_NTP_SECONDS: u64 = 1 << 33;

fn ntp_seconds(token: &str) -> Option<u64> {
    // Digits only (no sign), and a time a UnixTime holds.
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse::<u64>().ok().filter(|&s| s <= MAX_NTP_SECONDS)
}

fn unix_of_ntp(ntp_seconds: u64) -> UnixTime {
    UnixTime::from_secs(ntp_seconds as i64 - NTP_TO_UNIX_S as i64)
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
        Ok(LeapTable {
            leaps,
            ..LeapTable::default()
        })
    }

    /// Read a leap-seconds.list (the IERS/NIST format tzdata ships as
    /// /usr/share/zoneinfo/leap-seconds.list). Like chronyd it needs the `#$` and
    /// `#@` lines, takes any rise of TAI-UTC as an inserted second and a fall as a
    /// deleted one, and ignores other comments (the `#h` hash among them). Stricter
    /// than chronyd, which would silently never match such entries: every entry must
    /// be a UTC midnight, in increasing order. An expired list is still a table
    /// (chronyd keeps using it and warns); [`LeapTable::expires`] tells.
    pub fn from_leap_seconds_list(bytes: &[u8]) -> Result<LeapTable, LeapListError> {
        let mut table = LeapTable::default();
        let mut previous_offset = FIRST_TAI_OFFSET_S;
        let mut previous_time: Option<u64> = None;
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let text = String::from_utf8_lossy(raw);
            let text = text.trim_end_matches('\r');
            let trimmed = text.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                let (tag, rest) = match comment.as_bytes().first() {
                    Some(b'$') => ("#$", &comment[1..]),
                    Some(b'@') => ("#@", &comment[1..]),
                    // Comments, the `#h` hash and other special lines.
                    _ => continue,
                };
                let value = rest
                    .split_whitespace()
                    .next()
                    .and_then(ntp_seconds)
                    .ok_or_else(|| LeapListError::BadSpecialLine {
                        line,
                        tag,
                        text: text.to_owned(),
                    })?;
                let at = Some(unix_of_ntp(value));
                if tag == "#$" {
                    table.updated = at;
                } else {
                    table.expires = at;
                }
                continue;
            }
            let bad = || LeapListError::BadEntry {
                line,
                text: text.to_owned(),
            };
            let (data, _comment) = trimmed.split_once('#').unwrap_or((trimmed, ""));
            let mut fields = data.split_whitespace();
            let (Some(time), Some(offset), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad());
            };
            let time = ntp_seconds(time).ok_or_else(bad)?;
            let offset: i64 = offset.parse().map_err(|_| bad())?;
            if time % DAY_S != 0 {
                return Err(LeapListError::NotMidnight {
                    line,
                    ntp_seconds: time,
                });
            }
            if previous_time.is_some_and(|previous| time <= previous) {
                return Err(LeapListError::OutOfOrder {
                    line,
                    ntp_seconds: time,
                });
            }
            previous_time = Some(time);
            let kind = match offset.cmp(&previous_offset) {
                std::cmp::Ordering::Greater => Some(LeapSecond::Insert),
                std::cmp::Ordering::Less => Some(LeapSecond::Delete),
                std::cmp::Ordering::Equal => None,
            };
            if let Some(kind) = kind {
                table.leaps.push((unix_of_ntp(time), kind));
            }
            previous_offset = offset;
        }
        if table.updated.is_none() {
            return Err(LeapListError::NoUpdateLine);
        }
        if table.expires.is_none() {
            return Err(LeapListError::NoExpiryLine);
        }
        Ok(table)
    }

    /// When a leap-seconds.list says it expires (its `#@` line); `None` for a TZif
    /// table.
    pub fn expires(&self) -> Option<UnixTime> {
        self.expires
    }

    /// When a leap-seconds.list was last updated (its `#$` line).
    pub fn updated(&self) -> Option<UnixTime> {
        self.updated
    }

    /// chronyd's check of a leap source before it uses it: a second inserted at the
    /// end of 2012-06-30 and none at the end of 2012-12-31. A table failing it is a
    /// wrong or truncated file.
    pub fn knows_the_2012_leap_second(&self) -> bool {
        // 2012-06-30 12:00 and 2012-12-31 12:00 UTC.
        self.announced(UnixTime::from_secs(1_341_057_600)) == LeapIndicator::InsertSecond
            && self.announced(UnixTime::from_secs(1_356_955_200)) == LeapIndicator::NoWarning
    }

    /// The leap seconds: (the UTC midnight each precedes, insert or delete), in order.
    pub fn leap_seconds(&self) -> &[(UnixTime, LeapSecond)] {
        &self.leaps
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

    /// The head and tail of a leap-seconds.list in the IERS/NIST layout: TAI-UTC from
    /// 1972 to the leap seconds of 2012, 2015 and 2016 (the values are those of the
    /// published list; the expiry is 2026-06-28, NTP 3991593600).
    const LIST: &str = "\
#\tleap-seconds.list, shortened for a test
#$\t 3960835200
#@\t 3991593600
#
2272060800\t10\t# 1 Jan 1972
2287785600\t11\t# 1 Jul 1972
2303683200\t12\t# 1 Jan 1973
3439756800\t34\t# 1 Jan 2009
3550089600\t35\t# 1 Jul 2012
3644697600\t36\t# 1 Jul 2015
3692217600\t37\t# 1 Jan 2017
#h\t49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e
";

    #[test]
    fn reads_a_leap_seconds_list() {
        let table = LeapTable::from_leap_seconds_list(LIST.as_bytes()).unwrap();
        // 1 Jan 1972 (10 s) starts the list; the other six entries are leap seconds.
        assert_eq!(table.len(), 6);
        assert!(table
            .leap_seconds()
            .iter()
            .all(|&(_, kind)| kind == LeapSecond::Insert));
        // 1972-07-01T00:00:00Z is POSIX 78796800.
        assert_eq!(table.leap_seconds()[0].0, UnixTime::from_secs(78_796_800));
        // 2026-06-28T00:00:00Z and 2025-07-07T00:00:00Z.
        assert_eq!(table.expires(), Some(UnixTime::from_secs(1_782_604_800)));
        assert_eq!(table.updated(), Some(UnixTime::from_secs(1_751_846_400)));
        assert!(table.knows_the_2012_leap_second());
        // 2016-12-20: the insert at the end of the month is announced.
        assert_eq!(
            table.announced(UnixTime::from_secs(1_482_192_000)),
            LeapIndicator::InsertSecond
        );
        assert_eq!(
            table.announced(UnixTime::from_secs(1_497_484_800)),
            LeapIndicator::NoWarning
        );
        // CRLF line ends and leading blanks are the same list.
        let crlf = LIST
            .replace('\n', "\r\n")
            .replace("2303683200", "  2303683200");
        assert_eq!(
            LeapTable::from_leap_seconds_list(crlf.as_bytes()),
            Ok(table)
        );
    }

    #[test]
    fn a_falling_offset_is_a_deleted_second() {
        let list = "#$ 3960835200\n#@ 3991593600\n2272060800 10\n3692217600 9 # none yet\n";
        let table = LeapTable::from_leap_seconds_list(list.as_bytes()).unwrap();
        assert_eq!(
            table.leap_seconds(),
            [(UnixTime::from_secs(1_483_228_800), LeapSecond::Delete)]
        );
        assert!(!table.knows_the_2012_leap_second());
    }

    #[test]
    fn bad_lists_name_the_line() {
        let with = |from: &str, to: &str| LIST.replace(from, to);
        let parse = |text: String| LeapTable::from_leap_seconds_list(text.as_bytes());
        assert_eq!(
            parse(with("3550089600\t35", "3550089600 thirty-five")),
            Err(LeapListError::BadEntry {
                line: 9,
                text: "3550089600 thirty-five\t# 1 Jul 2012".into()
            })
        );
        assert!(matches!(
            parse(with("3550089600\t35", "3550089600")),
            Err(LeapListError::BadEntry { line: 9, .. })
        ));
        assert!(matches!(
            parse(with("3550089600\t35", "3550089600 35 36")),
            Err(LeapListError::BadEntry { line: 9, .. })
        ));
        assert!(matches!(
            parse(with("3550089600\t35", "-3550089600 35")),
            Err(LeapListError::BadEntry { line: 9, .. })
        ));
        // Past what a time holds (i64 nanoseconds): an error, not an overflow.
        assert!(matches!(
            parse(with("3692217600\t37", "99999999999999999999 37")),
            Err(LeapListError::BadEntry { line: 11, .. })
        ));
        assert!(matches!(
            parse(with("#@\t 3991593600", "#@ 9223372036854775807")),
            Err(LeapListError::BadSpecialLine { line: 3, .. })
        ));
        assert_eq!(
            parse(with("#@\t 3991593600", "#@ soon")),
            Err(LeapListError::BadSpecialLine {
                line: 3,
                tag: "#@",
                text: "#@ soon".into()
            })
        );
        assert_eq!(
            parse(with("3550089600", "3550089601")),
            Err(LeapListError::NotMidnight {
                line: 9,
                ntp_seconds: 3_550_089_601
            })
        );
        assert_eq!(
            parse(with("3644697600", "3439756800")),
            Err(LeapListError::OutOfOrder {
                line: 10,
                ntp_seconds: 3_439_756_800
            })
        );
        assert_eq!(
            parse(with("#$\t 3960835200", "# no update line")),
            Err(LeapListError::NoUpdateLine)
        );
        assert_eq!(
            parse(with("#@\t 3991593600", "# no expiry line")),
            Err(LeapListError::NoExpiryLine)
        );
        // A TZif file given to leapseclist: binary, so its first line is no entry.
        assert!(matches!(
            LeapTable::from_leap_seconds_list(&tzif_with_two_leaps()),
            Err(LeapListError::BadEntry { line: 1, .. })
        ));
        let message = parse(with("3550089600\t35", "x")).unwrap_err().to_string();
        assert!(
            message.starts_with("line 9: expected `NTP_SECONDS TAI-UTC"),
            "{message}"
        );
    }

    #[test]
    fn the_systems_leap_seconds_list_agrees_with_right_utc() {
        // Both come from Debian's tzdata (a required package), one source of truth.
        let list = std::fs::read("/usr/share/zoneinfo/leap-seconds.list")
            .expect("tzdata's leap-seconds.list");
        let from_list = LeapTable::from_leap_seconds_list(&list).unwrap();
        let tzif = std::fs::read("/usr/share/zoneinfo/right/UTC").expect("tzdata's right/UTC");
        let from_tzif = LeapTable::from_tzif(&tzif).unwrap();
        assert!(from_list.len() >= 27, "{}", from_list.len());
        assert_eq!(from_list.leap_seconds(), from_tzif.leap_seconds());
        assert!(from_list.knows_the_2012_leap_second());
        assert!(from_tzif.knows_the_2012_leap_second());
        assert!(from_list.expires().is_some() && from_tzif.expires().is_none());
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
