//! Falseticker rejection: a server 50 ms off among three good ones is never the
//! reference and never combined.

mod common;

use common::ScenarioText;

/// Three good servers and a liar 50 ms off, the liar the second nearest of the four.
fn pool(initial_offset_s: f64) -> ScenarioText {
    let mut pool = ScenarioText::new("falseticker", 7200);
    for good in ["good-a", "good-b", "good-c"] {
        pool = pool.server(good, "truechimer").set("stratum = 2");
    }
    let mut pool = pool
        .server("liar", "falseticker")
        .set("offset_s = 0.05")
        .set("stratum = 2")
        .node("host")
        .set(format!(
            "clock = {{ offset_s = {initial_offset_s}, frequency_ppm = -12.0, wander_ppb_per_s = 1.0 }}"
        ))
        .set("engine = { makestep = [1.0, 3] }");
    for (upstream, delay) in [
        ("good-a", "5e-3"),
        ("liar", "10e-3"),
        ("good-b", "25e-3"),
        ("good-c", "40e-3"),
    ] {
        pool = pool.source(
            upstream,
            &format!(
                "iburst = true, minpoll = 4, maxpoll = 6, network = {{ delay_s = {delay}, jitter_s = 1e-3 }}"
            ),
        );
    }
    pool
}

fn liar_chosen(report: &gnomon_sim::report::Report) -> (u64, u64, Option<f64>) {
    let liar = report
        .upstreams
        .iter()
        .find(|u| u.upstream == "liar")
        .expect("liar is reported");
    (
        liar.times_reference,
        liar.times_combined,
        liar.last_chosen_s,
    )
}

#[test]
fn falseticker_is_never_selected_and_the_clock_follows_the_majority() {
    for seed in 1..=3 {
        let report = gnomon_sim::run(&pool(0.001).scenario(), seed);
        assert_eq!(liar_chosen(&report), (0, 0, None), "seed {seed}");
        let good: u64 = report
            .upstreams
            .iter()
            .filter(|u| u.upstream.starts_with("good"))
            .map(|u| u.times_reference)
            .sum();
        assert!(good > 100, "seed {seed}: {good}");
        // Following the liar even partly would show as tens of milliseconds.
        assert!(
            report.after_convergence.max_abs_s < 5e-3,
            "seed {seed}: {:?}",
            report.after_convergence
        );
    }
}

#[test]
fn falseticker_is_rejected_once_the_initial_slew_is_over() {
    // Starting 0.2 s off: the first update starts a fast slew. After it, the liar is
    // never chosen again.
    for seed in 1..=3 {
        let report = gnomon_sim::run(&pool(0.2).scenario(), seed);
        let (_, _, last) = liar_chosen(&report);
        assert!(last.is_none_or(|t| t < 10.0), "seed {seed}: {last:?}");
        assert!(report.after_convergence.max_abs_s < 5e-3, "seed {seed}");
    }
}

/// Once an engine bug: while the first slew ran, a source whose first sample arrived
/// during the slew got a frequency estimate of 0 relative to a clock being slewed at
/// tens of thousands of ppm, and single-sample sources were selectable, so selection
/// picked or combined the liar for a round or two. The engine now measures sources
/// against the corrected clock and, like chrony, selects only sources with at least
/// three samples.
#[test]
fn falseticker_is_never_selected_even_during_the_initial_slew() {
    for seed in 1..=3 {
        let report = gnomon_sim::run(&pool(0.2).scenario(), seed);
        assert_eq!(liar_chosen(&report), (0, 0, None), "seed {seed}");
    }
}

/// A good server and one 50 ms off, nothing to break the tie.
fn no_majority() -> ScenarioText {
    ScenarioText::new("no-majority", 600)
        .server("a", "truechimer")
        .server("b", "falseticker")
        .set("offset_s = 0.05")
        .node("client")
        .source(
            "a",
            "minpoll = 4, maxpoll = 4, network = { delay_s = 1e-3, jitter_s = 10e-6 }",
        )
        .source(
            "b",
            "minpoll = 4, maxpoll = 4, network = { delay_s = 5e-3, jitter_s = 10e-6 }",
        )
}

#[test]
fn two_disagreeing_sources_never_combine() {
    let report = gnomon_sim::run(&no_majority().scenario(), 1);
    let b = report.upstreams.iter().find(|u| u.upstream == "b").unwrap();
    assert_eq!((b.times_reference, b.times_combined), (0, 0));
}

/// After a round without a majority the engine drops its reference and is no longer
/// synchronised (chrony: "Can't synchronise: no majority"). It used to keep both.
#[test]
fn no_majority_means_not_synchronised() {
    let mut sim = no_majority().simulation(1);
    sim.run_until_s(300.0);
    let client = &sim.nodes[0];
    assert!(client.engine.selection().unwrap().combined.is_none());
    assert!(!client.clock.synchronized());
    assert_eq!(client.engine.reference(), None);
}
