//! Leap seconds: when a leap announced by the sources is passed on and when it is
//! armed, in UTC date math.
//!
//! Owns the calendar (civil date from Unix time, no tables, no time zones) and two
//! rules. A leap second happens only at the end of June 30 or December 31 UTC, so the
//! kernel is armed only on that day ([`leap_to_arm`]). The warning we serve follows
//! RFC 5905 (LI: a leap "in the last minute of the current month"): it is announced
//! all through June or December once the sources' majority announces it, and never in
//! other months ([`leap_to_announce`]); clients polling every 1024 s or less than
//! daily then learn of it before the day. chrony serves LI only on the leap day itself
//! (reference.c, `update_leap_status`): safe for clients that arm the kernel as soon as
//! they see LI, late for those that poll rarely. A gnomon client arms only on the day
//! whatever its servers announce, so it is safe either way. This module must not
//! decide which sources to believe: selection's majority vote does that.

use gnomon_proto::{LeapIndicator, UnixTime};

use crate::clock_action::LeapSecond;

/// A calendar date in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcDate {
    pub year: i64,
    pub month: u8,
    pub day: u8,
}

/// The UTC date of a Unix time (proleptic Gregorian calendar).
pub fn utc_date(time: UnixTime) -> UtcDate {
    let days = time.secs_and_subsec_nanos().0.div_euclid(86_400);
    // Days since 0000-03-01, split into 400-year eras (Howard Hinnant's algorithm).
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u8;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    UtcDate { year, month, day }
}

/// True on June 30 and December 31 UTC, the days that may end with a leap second.
pub fn is_leap_second_day(time: UnixTime) -> bool {
    let date = utc_date(time);
    (date.month == 6 && date.day == 30) || (date.month == 12 && date.day == 31)
}

/// True in June and December UTC, the months whose last day may end with a leap second.
pub fn is_leap_second_month(time: UnixTime) -> bool {
    matches!(utc_date(time).month, 6 | 12)
}

/// The leap warning to serve at `now` given what the sources' majority announces: the
/// announcement during June or December, no warning otherwise.
pub fn leap_to_announce(announced: LeapIndicator, now: UnixTime) -> LeapIndicator {
    match announced {
        LeapIndicator::InsertSecond | LeapIndicator::DeleteSecond if is_leap_second_month(now) => {
            announced
        }
        _ => LeapIndicator::NoWarning,
    }
}

/// What to arm at `now` given the leap the sources announce.
pub fn leap_to_arm(announced: LeapIndicator, now: UnixTime) -> LeapSecond {
    if !is_leap_second_day(now) {
        return LeapSecond::None;
    }
    match announced {
        LeapIndicator::InsertSecond => LeapSecond::Insert,
        LeapIndicator::DeleteSecond => LeapSecond::Delete,
        _ => LeapSecond::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(
            utc_date(UnixTime::EPOCH),
            UtcDate {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        // 2016-12-31T23:59:59Z, the last leap second so far.
        assert_eq!(
            utc_date(UnixTime::from_secs(1_483_228_799)),
            UtcDate {
                year: 2016,
                month: 12,
                day: 31
            }
        );
        assert_eq!(
            utc_date(UnixTime::from_secs(1_483_228_800)),
            UtcDate {
                year: 2017,
                month: 1,
                day: 1
            }
        );
        // Leap day of a century leap year.
        assert_eq!(
            utc_date(UnixTime::from_secs(951_782_400)),
            UtcDate {
                year: 2000,
                month: 2,
                day: 29
            }
        );
        assert_eq!(
            utc_date(UnixTime::from_secs(-1)),
            UtcDate {
                year: 1969,
                month: 12,
                day: 31
            }
        );
    }

    #[test]
    fn dates_advance_one_day_at_a_time() {
        let mut previous = utc_date(UnixTime::from_secs(0));
        for day in 1..(366 * 40) {
            let date = utc_date(UnixTime::from_secs(day * 86_400));
            assert!(date > previous, "{date:?} after {previous:?}");
            assert!(date.day == previous.day + 1 || date.day == 1);
            previous = date;
        }
        assert_eq!(previous.year, 2010);
    }

    #[test]
    fn announced_all_month_in_june_and_december_only() {
        let june_1_2015 = UnixTime::from_secs(1_433_116_800 + 60);
        let june_29_2015 = UnixTime::from_secs(1_435_536_000 + 3_600);
        let july_1_2015 = UnixTime::from_secs(1_435_708_800 + 1);
        let may_31_2015 = UnixTime::from_secs(1_433_116_800 - 60);
        let dec_2_2016 = UnixTime::from_secs(1_480_636_800);
        use LeapIndicator::*;
        assert_eq!(leap_to_announce(InsertSecond, june_1_2015), InsertSecond);
        assert_eq!(leap_to_announce(InsertSecond, june_29_2015), InsertSecond);
        assert_eq!(leap_to_announce(DeleteSecond, dec_2_2016), DeleteSecond);
        assert_eq!(leap_to_announce(InsertSecond, july_1_2015), NoWarning);
        assert_eq!(leap_to_announce(InsertSecond, may_31_2015), NoWarning);
        assert_eq!(leap_to_announce(Unsynchronized, june_29_2015), NoWarning);
        assert_eq!(leap_to_announce(NoWarning, june_29_2015), NoWarning);
        // Announced is not armed: the kernel waits for the day.
        assert_eq!(leap_to_arm(InsertSecond, june_29_2015), LeapSecond::None);
    }

    #[test]
    fn armed_only_at_the_end_of_june_or_december() {
        let june_30_2015 = UnixTime::from_secs(1_435_622_400 + 3_600);
        let june_29_2015 = UnixTime::from_secs(1_435_536_000 + 3_600);
        let dec_31_2016 = UnixTime::from_secs(1_483_142_400 + 60);
        assert!(is_leap_second_day(june_30_2015));
        assert!(!is_leap_second_day(june_29_2015));
        assert!(is_leap_second_day(dec_31_2016));
        assert_eq!(
            leap_to_arm(LeapIndicator::InsertSecond, june_30_2015),
            LeapSecond::Insert
        );
        assert_eq!(
            leap_to_arm(LeapIndicator::InsertSecond, june_29_2015),
            LeapSecond::None
        );
        assert_eq!(
            leap_to_arm(LeapIndicator::DeleteSecond, dec_31_2016),
            LeapSecond::Delete
        );
        assert_eq!(
            leap_to_arm(LeapIndicator::Unsynchronized, dec_31_2016),
            LeapSecond::None
        );
    }
}
