//! Convergence and determinism: a link-local client converges fast and stays close;
//! the same seed gives the same report, another seed another one.

mod common;

use common::ScenarioText;
use gnomon_sim::report::Report;

/// A client `clock_offset_s` and 30 ppm off, 45 µs from its only server (of `kind`).
fn link_local(kind: &str, clock_offset_s: f64) -> ScenarioText {
    ScenarioText::new("convergence", 600)
        .set("sample_interval_s = 0.5")
        .set("settle_s = 30")
        .server("ref", kind)
        .node("client")
        .set(format!(
            "clock = {{ offset_s = {clock_offset_s}, frequency_ppm = 30.0, wander_ppb_per_s = 1.0 }}"
        ))
        .set("engine = { makestep = [1.0, 3] }")
        .source(
            "ref",
            "minpoll = 4, maxpoll = 4, iburst = true, prefer = true, network = { delay_s = 45e-6, jitter_s = 10e-6 }",
        )
}

#[test]
fn link_local_client_converges_within_30_s_and_stays_within_20_us_rms() {
    let report = gnomon_sim::run(&link_local("truechimer", 0.5).scenario(), 7);
    let t100 = report.time_to_100us_s.expect("reaches 100 µs");
    assert!(t100 < 30.0, "took {t100} s to get within 100 µs");
    assert!(report.time_to_1ms_s.unwrap() <= t100);
    let stats = report.after_convergence;
    assert!(stats.rms_s < 20e-6, "RMS {} µs", stats.rms_s * 1e6);
    assert!(stats.max_abs_s < 100e-6, "max {} µs", stats.max_abs_s * 1e6);
    // 30 ppm of intrinsic error is corrected to a small fraction of a ppm.
    assert!(report.final_frequency_error_max_ppm < 0.2, "{report:?}");
    // 16 s polling over 600 s, plus the iburst.
    assert!(
        (38..=50).contains(&report.requests_sent),
        "{}",
        report.requests_sent
    );
}

#[test]
fn unsynchronised_client_is_never_counted_as_in_sync() {
    // The only server is unsynchronised: the clock starts exactly right, but the
    // engine must not claim synchronisation, so no time to sync is reported.
    let report = gnomon_sim::run(&link_local("unsynchronized", 0.0).scenario(), 7);
    assert_eq!(report.time_to_1ms_s, None, "{report:?}");
    assert_eq!(report.upstreams[0].times_reference, 0);
}

#[test]
fn same_seed_same_report_other_seed_other_report() {
    let scenario = link_local("truechimer", 0.5).scenario();
    let a: Report = gnomon_sim::run(&scenario, 3);
    let b: Report = gnomon_sim::run(&scenario, 3);
    let c: Report = gnomon_sim::run(&scenario, 4);
    assert_eq!(a.to_json(), b.to_json());
    assert_ne!(a.after_convergence, c.after_convergence);
}
