//! What the network does to the clock: route asymmetry shows up as half its size in
//! the clock's error (no NTP client can see it); loss only slows things down. And
//! every scenario file in sims/ loads.

mod common;

use common::ScenarioText;

/// One client of one server over `network`; the server's own clock is perfect unless
/// `server_clock` is given.
fn link(server_clock: Option<&str>, network: &str) -> ScenarioText {
    let text = ScenarioText::new("link", 3600).server("ref", "truechimer");
    let text = match server_clock {
        Some(clock) => text.set(format!("clock = {clock}")),
        None => text,
    };
    text.node("client")
        .set("clock = { offset_s = 0.001, frequency_ppm = 10.0 }")
        .source(
            "ref",
            &format!("minpoll = 4, maxpoll = 4, iburst = true, network = {network}"),
        )
}

#[test]
fn asymmetry_biases_the_clock_by_half_of_it() {
    let mut sim = link(
        None,
        "{ delay_s = 100e-6, jitter_s = 5e-6, asymmetry_s = 200e-6 }",
    )
    .simulation(2);
    sim.run();
    let settled: Vec<f64> = sim.recorder.errors_s[0][1000..].to_vec();
    let mean = settled.iter().sum::<f64>() / settled.len() as f64;
    assert!((mean - 100e-6).abs() < 10e-6, "mean error {mean}");
}

#[test]
fn thirty_percent_loss_and_an_outage_still_converge() {
    let report = gnomon_sim::run(
        &link(
            None,
            "{ delay_s = 100e-6, jitter_s = 10e-6, loss = 0.3, outages = [[600.0, 900.0]] }",
        )
        .scenario(),
        2,
    );
    assert!(
        report.time_to_100us_s.is_some_and(|t| t < 120.0),
        "{report:?}"
    );
    assert!(report.after_convergence.rms_s < 30e-6, "{report:?}");
}

#[test]
fn every_scenario_file_loads_and_the_required_ones_exist() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sims");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = gnomon_sim::scenario::Scenario::load(&path).unwrap();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            assert_eq!(scenario.name, stem, "{}", path.display());
            names.push(stem);
        }
    }
    for (name, _) in gnomon_sim::bench::CHRONY_FIGURES_US {
        assert!(names.iter().any(|n| n == name), "missing sims/{name}.toml");
    }
    for name in gnomon_sim::bench::TARGET_SCENARIOS {
        assert!(names.iter().any(|n| n == name), "missing sims/{name}.toml");
    }
}

#[test]
fn clients_follow_a_server_whose_clock_steps() {
    // The only server's clock jumps 10 ms at 1800 s: the client follows (slewing,
    // no makestep), because it has nothing better to go by.
    let mut sim = link(
        Some("{ steps = [{ at_s = 1800.0, offset_s = 0.01 }] }"),
        "{ delay_s = 100e-6, jitter_s = 5e-6 }",
    )
    .simulation(2);
    sim.run_until_s(1790.0);
    assert!(sim.node_error_s(0).abs() < 50e-6);
    sim.run();
    let error = sim.node_error_s(0);
    assert!((error - 0.01).abs() < 100e-6, "{error}");
    assert!(sim.nodes[0].counters.steps.is_empty());
}
