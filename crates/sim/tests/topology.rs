//! The seed's VPC topology: reference → master → clients. After five minutes every
//! client is within 200 µs of every other, although they start up to 50 ms apart.

mod common;

use common::ScenarioText;

/// amazon (of `amazon_kind`, `amazon_offset_s` off) → master → 12 clients.
fn vpc(amazon_kind: &str, amazon_offset_s: f64) -> ScenarioText {
    ScenarioText::new("vpc", 900)
        .set("settle_s = 300")
        .server("amazon", amazon_kind)
        .set(format!("offset_s = {amazon_offset_s}"))
        .node("master")
        .set("measured = false")
        .set("clock = { offset_s = 0.02, frequency_ppm = 8.0, wander_ppb_per_s = 1.0 }")
        .set("engine = { makestep = [1.0, 3] }")
        .source(
            "amazon",
            "minpoll = 4, maxpoll = 4, iburst = true, prefer = true, network = { delay_s = 45e-6, jitter_s = 10e-6 }",
        )
        .node("client")
        .set("count = 12")
        .set("clock = { offset_spread_s = 0.05, frequency_spread_ppm = 20.0, wander_ppb_per_s = 1.0 }")
        .set("engine = { makestep = [1.0, 3] }")
        .source(
            "master",
            "minpoll = 4, maxpoll = 4, iburst = true, prefer = true, network = { delay_s = 150e-6, jitter_s = 30e-6 }",
        )
}

#[test]
fn clients_of_a_vpc_master_agree_within_200_us_after_five_minutes() {
    let scenario = vpc("truechimer", 0.0).scenario();
    let report = gnomon_sim::run(&scenario, 11);
    assert_eq!(report.nodes_measured, 12);
    let spread = report.spread_after_convergence;
    assert!(spread.max_abs_s < 200e-6, "spread {:?}", spread);
    // They agree because they follow the master, which follows the reference.
    assert!(report.after_convergence.max_abs_s < 200e-6);
    assert_eq!(report.upstreams.len(), 1);
    assert!(report.upstreams[0].times_reference > 12 * 40);
}

#[test]
fn clients_of_a_master_that_is_off_agree_with_each_other_not_with_utc() {
    // The master's reference is a falseticker 5 ms off: clients still agree with
    // each other (the spread is small) but all carry the master's error.
    let report = gnomon_sim::run(&vpc("falseticker", 0.005).scenario(), 11);
    assert!(report.spread_after_convergence.max_abs_s < 200e-6);
    let mean = report.after_convergence.mean_abs_s;
    assert!((mean - 5e-3).abs() < 200e-6, "{mean}");
}
