//! Leap second propagation through tiers: a stratum-1 reference announces the
//! 2016-12-31 leap second; the VPC master arms it and announces it to its clients,
//! who arm it too; every clock inserts it at its own midnight and stays on UTC.

mod common;

use common::ScenarioText;
use gnomon_core::clock_action::LeapSecond;

/// 2016-12-31 22:00:00 UTC, two hours before the last leap second so far.
const START_UNIX_S: i64 = 1_483_221_600;
const MIDNIGHT_UNIX_S: i64 = 1_483_228_800;

/// ref (announcing the leap or not) → master → three clients.
fn tiers(announce_leap: bool) -> ScenarioText {
    ScenarioText::new("leap", 9000)
        .set(format!("start_unix_s = {START_UNIX_S}"))
        .set(format!("leap = {{ midnight_unix_s = {MIDNIGHT_UNIX_S} }}"))
        .server("ref", "truechimer")
        .set(format!("announce_leap = {announce_leap}"))
        .node("master")
        .set("clock = { offset_s = 0.002, frequency_ppm = 5.0 }")
        .source(
            "ref",
            "minpoll = 4, maxpoll = 4, iburst = true, network = { delay_s = 50e-6, jitter_s = 10e-6 }",
        )
        .node("client")
        .set("count = 3")
        .set("clock = { offset_spread_s = 0.003, frequency_spread_ppm = 10.0 }")
        .source(
            "master",
            "minpoll = 4, maxpoll = 4, iburst = true, network = { delay_s = 150e-6, jitter_s = 30e-6 }",
        )
}

#[test]
fn leap_second_propagates_through_the_master_and_is_inserted_everywhere() {
    let mut sim = tiers(true).simulation(1);
    let before_midnight_s = (MIDNIGHT_UNIX_S - START_UNIX_S - 60) as f64;
    sim.run_until_s(before_midnight_s);
    for node in &sim.nodes {
        assert_eq!(
            node.clock.leap(),
            LeapSecond::Insert,
            "{} not armed",
            node.name
        );
        assert!(
            node.counters
                .leap_actions
                .iter()
                .any(|(_, l)| *l == LeapSecond::Insert),
            "{}",
            node.name
        );
    }
    // The clients can only have learnt it from the master.
    let master_armed_s = sim.nodes[0]
        .counters
        .leap_actions
        .iter()
        .find(|(_, l)| *l == LeapSecond::Insert)
        .unwrap()
        .0;
    for client in &sim.nodes[1..] {
        let armed_s = client
            .counters
            .leap_actions
            .iter()
            .find(|(_, l)| *l == LeapSecond::Insert)
            .unwrap()
            .0;
        assert!(
            armed_s >= master_armed_s,
            "{} armed before the master",
            client.name
        );
    }

    sim.run();
    for index in 0..sim.nodes.len() {
        let name = sim.nodes[index].name.clone();
        assert_eq!(sim.nodes[index].clock.leaps_applied(), 1, "{name}");
        assert_eq!(sim.nodes[index].clock.leap(), LeapSecond::None, "{name}");
        let error = sim.node_error_s(index);
        assert!(
            error.abs() < 1e-3,
            "{name} is {error} s off UTC after the leap"
        );
    }
}

#[test]
fn without_an_announcement_nobody_arms_a_leap() {
    let mut sim = tiers(false).simulation(1);
    sim.run_until_s(7000.0);
    for node in &sim.nodes {
        assert_eq!(node.clock.leap(), LeapSecond::None, "{}", node.name);
    }
    // The reference timescale still inserts the second: right after midnight every
    // clock is 1 s ahead of UTC, until measurements notice and correct it.
    sim.run_until_s(7205.0);
    let error = sim.node_error_s(0);
    assert!((error - 1.0).abs() < 1e-3, "{error}");
    // The jump is slewed out without overshooting: the regressions drop the samples
    // from before it instead of reading it as frequency (once up to 297 ms over).
    let mut undershoot_s = vec![0.0f64; sim.nodes.len()];
    for second in 7206..7600 {
        sim.run_until_s(second as f64);
        for (index, worst) in undershoot_s.iter_mut().enumerate() {
            *worst = worst.min(sim.node_error_s(index));
        }
    }
    for (index, worst) in undershoot_s.iter().enumerate() {
        assert!(
            *worst > -1e-3,
            "{} overshot by {worst} s",
            sim.nodes[index].name
        );
    }
    sim.run();
    for index in 0..sim.nodes.len() {
        let error = sim.node_error_s(index);
        assert!(
            error.abs() < 1e-3,
            "{} still {error} s off",
            sim.nodes[index].name
        );
    }
}
