//! `makestep 1 3`: a large initial error is stepped away; a later jump of the clock
//! (after the first three updates) is slewed, never stepped.

mod common;

use common::ScenarioText;

/// A client 2 s off whose clock jumps 0.5 s at 600 s, with `makestep 1 3` or without.
fn step_then_slew(makestep: bool) -> ScenarioText {
    let text = ScenarioText::new("makestep", 1200)
        .set("sample_interval_s = 0.25")
        .server("ref", "truechimer")
        .node("client")
        .set("clock = { offset_s = 2.0, frequency_ppm = 10.0, steps = [{ at_s = 600.0, offset_s = 0.5 }] }");
    let text = match makestep {
        true => text.set("engine = { makestep = [1.0, 3] }"),
        false => text,
    };
    text.source(
        "ref",
        "minpoll = 4, maxpoll = 4, iburst = true, network = { delay_s = 100e-6, jitter_s = 10e-6 }",
    )
}

#[test]
fn large_initial_error_is_stepped_then_a_later_jump_is_slewed() {
    let mut sim = step_then_slew(true).simulation(1);
    let client = common::node_index(&sim, "client");

    sim.run_until_s(10.0);
    let steps = sim.nodes[client].counters.steps.clone();
    assert_eq!(steps.len(), 1, "one step at start: {steps:?}");
    let (at_s, offset_s) = steps[0];
    // iburst samples come 2 s apart and a source is selectable from its third (as in
    // chrony), so the first update (the step) comes at about 4 s.
    assert!(at_s < 5.0, "stepped at {at_s} s");
    assert!((offset_s + 2.0).abs() < 1e-3, "stepped by {offset_s} s");
    assert!(sim.node_error_s(client).abs() < 1e-3);

    sim.run_until_s(599.0);
    assert!(sim.node_error_s(client).abs() < 100e-6);

    // The clock jumps 0.5 s at 600 s. makestep's limit (3 updates) is long past, so
    // the engine must slew: the error shrinks gradually and no step is made.
    sim.run_until_s(600.5);
    let jumped = sim.node_error_s(client);
    assert!((jumped - 0.5).abs() < 1e-3, "{jumped}");
    let mut previous = jumped;
    let mut shrinking_samples = 0;
    for tenth in 1..=600 {
        sim.run_until_s(600.5 + tenth as f64 * 0.1);
        let error = sim.node_error_s(client);
        assert!(
            error <= previous + 1e-4,
            "error grew from {previous} to {error}"
        );
        if error < previous - 1e-6 {
            shrinking_samples += 1;
        }
        previous = error;
    }
    // A slew takes time: at least a few tenths of a second of decreasing error.
    assert!(shrinking_samples >= 5, "{shrinking_samples}");
    sim.run();
    assert_eq!(sim.nodes[client].counters.steps.len(), 1, "no second step");
    assert!(sim.node_error_s(client).abs() < 100e-6);
}

#[test]
fn without_makestep_a_large_error_is_slewed() {
    let mut sim = step_then_slew(false).simulation(1);
    let client = common::node_index(&sim, "client");
    sim.run_until_s(120.0);
    assert!(sim.nodes[client].counters.steps.is_empty());
    // 2 s at chrony's 83333 ppm maximum slew rate takes at least 24 s.
    sim.run();
    assert!(sim.node_error_s(client).abs() < 1e-3);
}
