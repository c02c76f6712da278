//! The published error bound holds: in every scenario of sims/ true time lies within
//! the bound gnomond would publish (`clockbound`, see crate::bound_check) in at least
//! 99.99% of samples after convergence, and over the whole run as well except where a
//! known shortfall is listed below (docs/accuracy.md, "Bounded time").

use gnomon_sim::scenario::Scenario;

/// Scenarios below 99.99% over the whole run, with the floor they do reach. vpc-master:
/// in its first two minutes the clients sync to a master that is still slewing its own
/// 20 ms start offset, which the master does not add to the root dispersion it serves
/// (a core serving question, see docs/accuracy.md); after settle it is at 100%.
const KNOWN_SHORT: &[(&str, f64)] = &[("vpc-master", 0.995)];

const HOLDOVER: &str = r#"
    name = "bound-holdover"
    duration_s = 7200
    [[servers]]
    name = "ref"
    kind = "truechimer"
    [[nodes]]
    name = "client"
    clock = { offset_s = 0.01, frequency_ppm = 25.0, wander_ppb_per_s = 2.0 }
    [[nodes.sources]]
    upstream = "ref"
    minpoll = 4
    maxpoll = 6
    iburst = true
    network = { delay_s = 100e-6, jitter_s = 10e-6, outages = [[1800.0, 5400.0]] }
"#;

#[test]
fn true_time_is_within_the_published_bound_in_every_scenario() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sims");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "{paths:?}");
    let mut scenarios: Vec<Scenario> = paths
        .iter()
        .map(|path| Scenario::load(path).unwrap())
        .collect();
    scenarios.push(Scenario::parse(HOLDOVER, "bound-holdover").unwrap());
    for scenario in &scenarios {
        let report = gnomon_sim::run(scenario, 1);
        let bound = &report.bound;
        eprintln!(
            "{:20} {:.6} ({:.6} after settle) of {} samples, median ±{:.1} µs",
            scenario.name,
            bound.fraction_within,
            bound.fraction_within_after_settle,
            bound.samples,
            bound.median_half_width_s * 1e6
        );
        assert!(bound.samples > 1000, "{}: {bound:?}", scenario.name);
        assert!(
            bound.fraction_within_after_settle >= 0.9999,
            "{}: {bound:?}",
            scenario.name
        );
        let floor = KNOWN_SHORT
            .iter()
            .find(|(name, _)| *name == scenario.name)
            .map_or(0.9999, |(_, floor)| *floor);
        assert!(
            bound.fraction_within >= floor,
            "{}: {bound:?}",
            scenario.name
        );
        assert!(bound.median_half_width_s > 0.0 && bound.median_half_width_s < 0.05);
    }
}
