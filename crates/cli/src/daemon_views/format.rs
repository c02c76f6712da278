//! chronyc's number formats, so gnomon's views line up with chronyc's to the column.
//!
//! Owns formatting only: seconds with an ns/us/ms/s unit in a fixed width, intervals
//! (s, m, h, d, y) and the UTC date chronyc prints for reference times (the calendar
//! itself is gnomon-core's). Written by hand because the point is chronyc's exact
//! widths, which no formatting crate knows.

/// chronyc's unsigned sub-second value: 4 digits and a unit (6 columns).
pub fn nanoseconds(seconds: f64) -> String {
    let s = seconds.abs();
    if s < 9999.5e-9 {
        format!("{:4.0}ns", s * 1e9)
    } else if s < 9999.5e-6 {
        format!("{:4.0}us", s * 1e6)
    } else if s < 9999.5e-3 {
        format!("{:4.0}ms", s * 1e3)
    } else if s < 999.5 {
        format!("{s:5.1}s")
    } else if s < 99999.5 {
        format!("{s:5.0}s")
    } else if s < 99999.5 * 86400.0 {
        format!("{:5.0}d", s / 86400.0)
    } else {
        format!("{:5.0}y", s / (365.0 * 86400.0))
    }
}

/// chronyc's signed sub-second value: sign, 4 digits and a unit (7 columns).
pub fn signed_nanoseconds(seconds: f64) -> String {
    let x = seconds.abs();
    if x < 9999.5e-9 {
        format!("{:+5.0}ns", seconds * 1e9)
    } else if x < 9999.5e-6 {
        format!("{:+5.0}us", seconds * 1e6)
    } else if x < 9999.5e-3 {
        format!("{:+5.0}ms", seconds * 1e3)
    } else if x < 999.5 {
        format!("{seconds:+6.1}s")
    } else if x < 99999.5 {
        format!("{seconds:+6.0}s")
    } else if x < 99999.5 * 86400.0 {
        format!("{:+6.0}d", seconds / 86400.0)
    } else {
        format!("{:+6.0}y", seconds / (365.0 * 86400.0))
    }
}

/// chronyc's interval column (LastRx, Span): 4 columns, "-" when unknown.
pub fn interval(seconds: Option<f64>) -> String {
    let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "   -".into();
    };
    let s = seconds as u64;
    if s < 1200 {
        format!("{s:4}")
    } else if s < 36_000 {
        format!("{:3}m", s / 60)
    } else if s < 345_600 {
        format!("{:3}h", s / 3600)
    } else {
        let days = s / 86_400;
        if days > 999 {
            format!("{:3}y", days / 365)
        } else {
            format!("{days:3}d")
        }
    }
}

/// `Sat Nov 28 01:19:47 2026`, as chronyc prints `Ref time (UTC)`.
pub fn utc_date(unix_s: f64) -> String {
    let secs = unix_s.floor() as i64;
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let date = gnomon_core::leap::utc_date(gnomon_proto::UnixTime::from_secs(secs));
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[usize::from(date.month) - 1],
        date.day,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        date.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_widths_match_chronyc() {
        assert_eq!(signed_nanoseconds(-249e-9), " -249ns");
        assert_eq!(signed_nanoseconds(-2629e-6), "-2629us");
        assert_eq!(signed_nanoseconds(18e-6), "  +18us");
        assert_eq!(signed_nanoseconds(0.0), "   +0ns");
        assert_eq!(signed_nanoseconds(12.34), " +12.3s");
        assert_eq!(nanoseconds(4646e-9), "4646ns");
        assert_eq!(nanoseconds(-43e-3), "  43ms");
        assert_eq!(nanoseconds(9999.6e-9), "  10us");
    }

    #[test]
    fn intervals() {
        assert_eq!(interval(Some(1.4)), "   1");
        assert_eq!(interval(Some(1199.0)), "1199");
        assert_eq!(interval(Some(46.0 * 60.0)), " 46m");
        assert_eq!(interval(Some(5.0 * 3600.0)), "300m");
        assert_eq!(interval(Some(12.0 * 3600.0)), " 12h");
        assert_eq!(interval(Some(10.0 * 86400.0)), " 10d");
        assert_eq!(interval(None), "   -");
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(1_795_828_787.5), "Sat Nov 28 01:19:47 2026");
        assert_eq!(utc_date(0.0), "Thu Jan 01 00:00:00 1970");
        assert_eq!(utc_date(951_782_400.0), "Tue Feb 29 00:00:00 2000");
        // After the NTP era rollover.
        assert_eq!(utc_date(2_085_978_496.0), "Thu Feb 07 06:28:16 2036");
    }
}
