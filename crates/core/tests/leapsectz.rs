//! `leapsectz` and `leapseclist`: with a leap-second table from the time zone
//! database or from a leap-seconds.list, the engine arms the leap second the table
//! lists, whatever its sources announce; both files give the same table.

mod harness;

use gnomon_core::clock_action::LeapSecond;
use gnomon_core::engine::EngineConfig;
use gnomon_core::leap_table::LeapTable;
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::LeapIndicator;
use harness::{Harness, VirtualServer};

/// 2016-12-30T20:00:00Z, before the last leap second so far (2016-12-31T23:59:60Z).
const DEC_30_2016_20H_S: i64 = 1_483_128_000;
const DEC_31_2016_S: i64 = 1_483_142_400;
/// 2026-06-29T20:00:00Z: no leap second at the end of June 2026.
const JUNE_29_2026_20H_S: i64 = 1_782_763_200;

fn right_utc() -> LeapTable {
    let bytes = std::fs::read("/usr/share/zoneinfo/right/UTC").expect("tzdata's right/UTC");
    LeapTable::from_tzif(&bytes).expect("leap records")
}

fn leap_seconds_list() -> LeapTable {
    let bytes =
        std::fs::read("/usr/share/zoneinfo/leap-seconds.list").expect("tzdata's leap-seconds.list");
    LeapTable::from_leap_seconds_list(&bytes).expect("a valid list")
}

fn run(start_s: i64, sources_announce: LeapIndicator) -> (Harness, Option<f64>) {
    run_with(right_utc(), start_s, sources_announce)
}

fn run_with(
    table: LeapTable,
    start_s: i64,
    sources_announce: LeapIndicator,
) -> (Harness, Option<f64>) {
    let config = EngineConfig {
        leap_table: Some(table),
        ..Default::default()
    };
    let mut sim = Harness::new(config, start_s, 0.0, 0.0, 3);
    for _ in 0..3 {
        sim.add_server(
            SourceOptions {
                iburst: true,
                ..Default::default()
            },
            VirtualServer {
                leap: sources_announce,
                jitter_s: 10e-6,
                ..Default::default()
            },
        );
    }
    let mut armed_at = None;
    sim.run_until(start_s as f64 + 30_000.0, |h| {
        if h.clock.leap == LeapSecond::Insert && armed_at.is_none() {
            armed_at = Some(h.now_s());
        }
    });
    (sim, armed_at)
}

#[test]
fn the_table_arms_a_leap_the_sources_do_not_announce() {
    let (_, armed_at) = run(DEC_30_2016_20H_S, LeapIndicator::NoWarning);
    let armed_at = armed_at.expect("the 2016-12-31 leap second was never armed");
    assert!(
        armed_at >= DEC_31_2016_S as f64,
        "armed before the leap day: {armed_at}"
    );
}

#[test]
fn the_table_overrides_a_leap_the_sources_announce_wrongly() {
    let (sim, armed_at) = run(JUNE_29_2026_20H_S, LeapIndicator::InsertSecond);
    assert_eq!(
        armed_at, None,
        "armed a leap second the table does not list"
    );
    assert_eq!(sim.engine.system_variables().leap, LeapIndicator::NoWarning);
}

#[test]
fn a_leap_seconds_list_arms_the_same_leap() {
    let (_, from_zone) = run(DEC_30_2016_20H_S, LeapIndicator::NoWarning);
    let (_, from_list) = run_with(
        leap_seconds_list(),
        DEC_30_2016_20H_S,
        LeapIndicator::NoWarning,
    );
    let armed_at = from_list.expect("the list's 2016-12-31 leap second was never armed");
    assert!(armed_at >= DEC_31_2016_S as f64, "armed early: {armed_at}");
    assert_eq!(from_list, from_zone);
    let (sim, armed_at) = run_with(
        leap_seconds_list(),
        JUNE_29_2026_20H_S,
        LeapIndicator::InsertSecond,
    );
    assert_eq!(armed_at, None, "armed a leap second the list does not list");
    assert_eq!(sim.engine.system_variables().leap, LeapIndicator::NoWarning);
}
