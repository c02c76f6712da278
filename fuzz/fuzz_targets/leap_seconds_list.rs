//! Fuzz the leap-seconds.list reader (`leapseclist`, gnomon_core::leap_table).
//!
//! Any bytes give a table or an error, never a panic. A table has its `#$` and `#@`
//! times, at most one leap second per line, every one at a UTC midnight and in
//! increasing order; it answers `announced` and chronyd's 2012 check for any time;
//! and written back out as a list (TAI-UTC from 10, one step per leap second) it
//! reads back equal.
#![no_main]

use gnomon_core::leap_table::LeapTable;
use gnomon_core::LeapSecond;
use gnomon_proto::UnixTime;
use libfuzzer_sys::fuzz_target;

/// NTP seconds (since 1900) of a Unix time.
fn ntp_seconds(time: UnixTime) -> i64 {
    time.secs_and_subsec_nanos().0 + 2_208_988_800
}

fuzz_target!(|data: &[u8]| {
    let Ok(table) = LeapTable::from_leap_seconds_list(data) else {
        return;
    };
    let lines = data.split(|&b| b == b'\n').count();
    assert!(table.len() <= lines);
    let (Some(updated), Some(expires)) = (table.updated(), table.expires()) else {
        panic!("a table without its #$ and #@ times");
    };
    let leaps = table.leap_seconds();
    for (at, _) in leaps {
        assert_eq!(
            ntp_seconds(*at).rem_euclid(86_400),
            0,
            "not a midnight: {at:?}"
        );
    }
    assert!(
        leaps.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "not sorted"
    );
    for secs in [
        i64::MIN / 1_000_000_000,
        -1,
        0,
        1_341_057_600,
        i64::from(u32::MAX),
    ] {
        let _ = table.announced(UnixTime::from_secs(secs));
    }
    if let Some((at, _)) = leaps.last() {
        let _ = table.announced(*at);
    }
    let _ = table.knows_the_2012_leap_second();

    let mut text = format!(
        "#$ {}\n#@ {}\n2272060800 10\n",
        ntp_seconds(updated),
        ntp_seconds(expires)
    );
    let mut offset = 10i64;
    for (at, kind) in leaps {
        // The list's first line (1972-01-01) starts it; a leap second at or before it
        // cannot be written after it: such a table is not round-tripped.
        if ntp_seconds(*at) <= 2_272_060_800 {
            return;
        }
        offset += match kind {
            LeapSecond::Insert => 1,
            LeapSecond::Delete => -1,
            LeapSecond::None => unreachable!("a table holds no LeapSecond::None"),
        };
        text.push_str(&format!("{} {offset}\n", ntp_seconds(*at)));
    }
    let again = LeapTable::from_leap_seconds_list(text.as_bytes())
        .unwrap_or_else(|error| panic!("the written list does not read back: {error}\n{text}"));
    assert_eq!(again, table, "{text}");
});
