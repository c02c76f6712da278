//! Fuzz the TZif leap-second reader (`leapsectz`, gnomon_core::leap_table).
//!
//! Any bytes give a table or an error, never a panic and never an allocation beyond
//! what the file's size can hold; a table answers `announced` for any time.
#![no_main]

use gnomon_core::leap_table::LeapTable;
use gnomon_proto::UnixTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = LeapTable::from_tzif(data) else {
        return;
    };
    // Every record takes 8 bytes of the file.
    assert!(table.len() <= data.len() / 8);
    for secs in [
        i64::MIN / 1_000_000_000,
        -1,
        0,
        78_796_799,
        1_482_192_000,
        i64::from(u32::MAX),
    ] {
        let _ = table.announced(UnixTime::from_secs(secs));
    }
    if data.len() >= 8 {
        let secs = i64::from_be_bytes(data[data.len() - 8..].try_into().unwrap());
        let _ = table.announced(UnixTime::from_secs(secs / 1_000_000_000));
    }
});
