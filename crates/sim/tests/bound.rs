//! The published error bound holds: in every scenario of sims/ true time lies within
//! the bound gnomond would publish (`clockbound`, see crate::bound_check) in at least
//! 99.99% of samples, over the whole run and after convergence (docs/accuracy.md,
//! "Bounded time"; the bench checks ten seeds, this test the first).

mod common;

use gnomon_sim::scenario::Scenario;

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
    // And holdover.rs's: the bound must grow over a long outage.
    scenarios.push(common::outage("bound-holdover").scenario());
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
        assert!(
            bound.fraction_within >= 0.9999,
            "{}: {bound:?}",
            scenario.name
        );
        assert!(bound.median_half_width_s > 0.0 && bound.median_half_width_s < 0.05);
    }
}

/// Runs that once left the bound (docs/accuracy.md, "Bounded time"), each for its own
/// reason: a three- or four-sample line whose skew understated its frequency error
/// (test1/test2), a first frequency estimate clamped by maxdrift with the rest not
/// counted (internet-pool), clients fed a sample taken while their master slewed its
/// start offset away (vpc-master).
#[test]
fn seeds_that_once_left_the_bound_stay_within_it() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sims");
    for (name, seed) in [
        ("test2-jitter-10ms", 4),
        ("test1-jitter-1ms", 9),
        ("internet-pool", 10),
        ("vpc-master", 2),
    ] {
        let path = std::path::Path::new(dir).join(format!("{name}.toml"));
        let scenario = Scenario::load(&path).unwrap();
        let bound = gnomon_sim::run(&scenario, seed).bound;
        eprintln!("{name} seed {seed}: {:.6}", bound.fraction_within);
        assert!(
            bound.fraction_within >= 0.9999,
            "{name} seed {seed}: {bound:?}"
        );
    }
}
