//! Deterministic closed-loop tests: the engine disciplines a virtual clock against
//! virtual servers (see `harness`). Each test asserts on the true clock error, which
//! only the engine's actions change.

mod harness;

use gnomon_core::discipline::{DisciplineOptions, MakeStep};
use gnomon_core::engine::EngineConfig;
use gnomon_core::source_options::SourceOptions;
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;

#[test]
fn converges_from_offset_and_frequency_error() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.050, 40.0, 1);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            jitter_s: 50e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 6.0 * 3600.0, |_| {});
    let error = sim.clock_error_s();
    assert!(error.abs() < 300e-6, "clock error after 6 h: {error}");
    let frequency = sim.engine.saved_frequency().frequency_ppm;
    assert!(
        (frequency + 40.0).abs() < 0.5,
        "frequency correction {frequency}"
    );
    assert!(
        sim.steps().is_empty(),
        "no makestep configured, yet stepped"
    );
    // Later half: it stays there.
    let mut worst = 0.0f64;
    sim.run_until(START_S as f64 + 12.0 * 3600.0, |h| {
        worst = worst.max(h.clock_error_s().abs())
    });
    assert!(worst < 300e-6, "worst error in hours 6..12: {worst}");
}

#[test]
fn makestep_steps_once_then_slews() {
    let config = EngineConfig {
        discipline: DisciplineOptions {
            makestep: Some(MakeStep {
                threshold_s: 1.0,
                limit: 3,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sim = Harness::new(config, START_S, -12.5, 10.0, 2);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            jitter_s: 20e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 10.0, |_| {});
    let steps = sim.steps();
    assert_eq!(steps.len(), 1, "steps {steps:?}");
    assert!((steps[0] - 12.5).abs() < 0.01, "step {}", steps[0]);
    assert!(
        sim.clock_error_s().abs() < 0.01,
        "error after step {}",
        sim.clock_error_s()
    );
    // A later offset of 2 s (over the threshold, past the limit) is slewed, not stepped.
    sim.run_until(START_S as f64 + 3600.0, |_| {});
    sim.clock.error_s += 2.0;
    sim.run_until(START_S as f64 + 3.0 * 3600.0, |_| {});
    assert_eq!(sim.steps().len(), 1, "stepped again: {:?}", sim.steps());
    assert!(
        sim.clock_error_s().abs() < 0.001,
        "slew did not finish: {}",
        sim.clock_error_s()
    );
}

#[test]
fn aws_like_fast_start_within_100us_in_30s() {
    let config = EngineConfig {
        discipline: DisciplineOptions {
            makestep: Some(MakeStep {
                threshold_s: 1.0,
                limit: 3,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sim = Harness::new(config, START_S, 0.5, 30.0, 3);
    sim.add_server(
        SourceOptions {
            iburst: true,
            prefer: true,
            minpoll: 4,
            maxpoll: 4,
            ..Default::default()
        },
        VirtualServer {
            one_way_delay_s: 50e-6,
            jitter_s: 5e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 30.0, |_| {});
    assert!(
        sim.clock_error_s().abs() < 100e-6,
        "error at 30 s: {}",
        sim.clock_error_s()
    );
    let mut sum_sq = 0.0;
    let mut count = 0.0;
    sim.run_until(START_S as f64 + 3600.0, |h| {
        sum_sq += h.clock_error_s().powi(2);
        count += 1.0;
    });
    let rms = (sum_sq / count).sqrt();
    assert!(rms < 20e-6, "rms after convergence {rms}");
}
