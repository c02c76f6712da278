//! Holdover: when every source vanishes, the frequency correction is held, the
//! clock drifts only by its own wander, the error bound grows (and keeps covering
//! the true error), and synchronisation resumes when the sources return.

mod common;

use gnomon_proto::UnixTime;

#[test]
fn frequency_is_held_and_error_bound_grows_while_sources_are_gone() {
    // One client of one reference, 10 ms and 25 ppm off, 2 ppb/s of wander; the
    // network fails from 1800 s to 5400 s.
    let mut sim = common::outage("holdover").simulation(5);
    let client = common::node_index(&sim, "client");
    sim.run_until_s(1800.0);
    let error_before = sim.node_error_s(client);
    assert!(error_before.abs() < 50e-6, "{error_before}");
    let node = &sim.nodes[client];
    let frequency_before_ppm = node.engine.discipline().base_frequency_ppm();
    // The correction cancels most of the 25 ppm.
    assert!(
        (frequency_before_ppm + 25.0).abs() < 0.5,
        "{frequency_before_ppm}"
    );
    let now = node.clock.read();
    let bound_before_s = node.engine.clock_error_bound(now).bound_s;

    sim.run_until_s(5399.0);
    let node = &sim.nodes[client];
    let frequency_after_ppm = node.engine.discipline().base_frequency_ppm();
    assert_eq!(frequency_before_ppm, frequency_after_ppm, "frequency held");
    assert_eq!(
        node.clock.correction_ppm(),
        frequency_after_ppm,
        "no slew left"
    );
    let now: UnixTime = node.clock.read();
    let bound_after_s = node.engine.clock_error_bound(now).bound_s;
    let error_after = sim.node_error_s(client);
    // With 2 ppb/s of wander over an hour the clock drifts measurably...
    assert!(
        (error_after - error_before).abs() > 20e-6,
        "{error_before} -> {error_after}"
    );
    // ...but holdover on a held frequency keeps it within milliseconds.
    assert!(error_after.abs() < 5e-3, "{error_after}");
    assert!(
        bound_after_s > bound_before_s,
        "{bound_before_s} -> {bound_after_s}"
    );
    assert!(
        error_after.abs() <= bound_after_s,
        "bound {bound_after_s} does not cover the true error {error_after}"
    );

    sim.run();
    let recovered = sim.node_error_s(client);
    assert!(recovered.abs() < 100e-6, "after the outage: {recovered}");
}
