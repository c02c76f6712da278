//! Tests of the Kalman estimator: a noisy line, delay weighting, the wander chosen,
//! rescaling on clock changes, a frequency step, a jump, the delay tests.

use super::*;
use gnomon_proto::NtpDuration;

fn at(seconds: f64) -> UnixTime {
    UnixTime::from_secs(1_800_000_000).add(NtpDuration::from_seconds_f64(seconds))
}

fn sample(t_s: f64, offset_s: f64, delay_s: f64) -> StoredSample {
    StoredSample {
        local_time: at(t_s),
        offset_s,
        delay_s,
        dispersion_s: 1e-6,
        server_root_dispersion_s: 1e-5,
    }
}

/// Deterministic pseudo-noise in [-1, 1].
fn noise(i: u64) -> f64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x5851_F42D_4C95_7F2D;
    (x % 2_000_001) as f64 / 1_000_000.0 - 1.0
}

#[test]
fn recovers_offset_and_frequency_of_a_noisy_line() {
    let mut kalman = KalmanEstimator::new(3, 64);
    for i in 0..40 {
        let t = i as f64 * 64.0;
        kalman.add_sample(sample(t, 0.001 + 5e-6 * t + 1e-6 * noise(i), 0.01));
    }
    let e = *kalman.estimate().unwrap();
    assert!((e.frequency_ppm - 5.0).abs() < 0.02, "{e:?}");
    assert!(
        (e.offset_s - (0.001 + 5e-6 * 39.0 * 64.0)).abs() < 2e-6,
        "{e:?}"
    );
    assert!(e.skew_ppm > 0.0 && e.skew_ppm < 0.05, "{e:?}");
    assert!(e.offset_sd_s > 1e-7 && e.offset_sd_s < 3e-6, "{e:?}");
    assert!(e.offset_error_s > 0.0 && e.offset_error_s < 2e-6, "{e:?}");
    assert_eq!(e.samples_used, 40);
    assert_eq!(e.reference_time, at(39.0 * 64.0));
    assert!(kalman.is_selectable());
    assert_eq!(kalman.sample_count(), 40);
}

#[test]
fn selectable_after_three_samples() {
    let mut kalman = KalmanEstimator::new(3, 64);
    for i in 0..3 {
        assert!(!kalman.is_selectable(), "after {i} samples");
        kalman.add_sample(sample(i as f64 * 64.0, 0.0, 0.001));
    }
    assert!(kalman.is_selectable());
    kalman.clear();
    assert!(!kalman.is_selectable());
    assert!(kalman.estimate().is_none());
    assert_eq!(kalman.sample_count(), 0);
}

/// Exponential one-way jitter: each sample's error is half the difference of the two
/// one-way excess delays. The filter weighs by that excess, so the few lucky samples
/// decide, where an unweighted mean would sit at the delayed ones' error.
#[test]
fn delay_heavy_samples_weigh_less() {
    let mut kalman = KalmanEstimator::new(3, 64);
    for i in 0..60 {
        let t = i as f64 * 16.0;
        // Every other sample is 10 ms late one way: 5 ms off, 10 ms more delay.
        let (offset, delay) = if i % 2 == 1 {
            (0.005, 0.011)
        } else {
            (0.0, 0.001)
        };
        kalman.add_sample(sample(t, offset + 1e-7 * noise(i), delay));
    }
    let e = *kalman.estimate().unwrap();
    assert!(e.offset_s.abs() < 5e-5, "pulled by delayed samples: {e:?}");
    assert!(e.frequency_ppm.abs() < 0.5, "{e:?}");
}

/// A delayed sample with a small error moves the estimate less than an undelayed one
/// with the same error: its measurement noise is larger.
#[test]
fn the_same_error_moves_the_estimate_less_when_delayed() {
    let run = |delay_s: f64| {
        let mut kalman = KalmanEstimator::new(3, 64);
        for i in 0..30 {
            kalman.add_sample(sample(
                i as f64 * 64.0,
                1e-6 * noise(i),
                0.001 + 1e-6 * noise(i + 99).abs(),
            ));
        }
        let before = kalman.estimate().unwrap().offset_s;
        kalman.add_sample(sample(30.0 * 64.0, 2e-4, delay_s));
        (kalman.estimate().unwrap().offset_s - before).abs()
    };
    let quick = run(0.001);
    let delayed = run(0.003);
    assert!(delayed < quick / 10.0, "quick {quick}, delayed {delayed}");
}

/// The regression's contract: after a clock change, the estimate predicts what the
/// re-expressed samples say, and a filter fed the re-expressed samples from the start
/// would agree.
#[test]
fn clock_change_rescaling_is_consistent() {
    let offset_at = |t: f64| 0.002 + 20e-6 * t;
    let mut changed = KalmanEstimator::new(3, 64);
    for i in 0..20 {
        let t = i as f64 * 64.0;
        changed.add_sample(sample(t, offset_at(t) + 1e-7 * noise(i), 0.001));
    }
    let now = at(20.0 * 64.0 - 10.0);
    let before = *changed.estimate().unwrap();
    let predicted_before = before.offset_at_s(now);
    // The engine removes 15 ppm of the 20 and slews the offset out (corrected step).
    let rate_change = 15e-6;
    let step_s = predicted_before;
    changed.apply_clock_change(now, rate_change, step_s);
    let after = *changed.estimate().unwrap();
    assert!((after.frequency_ppm - (before.frequency_ppm - 15.0) / (1.0 + 15e-6)).abs() < 1e-9);
    // At the change the predicted offset dropped by exactly the step.
    let moved_now = now.add_seconds_f64(step_s);
    assert!(
        (after.offset_at_s(moved_now) - (predicted_before - step_s)).abs() < 1e-9,
        "{before:?} {after:?}"
    );
    // The filters' state moved the same way as the estimate: new samples in the new
    // timescale carry on the line without a jump.
    for i in 20..40 {
        let t = i as f64 * 64.0;
        let elapsed_s = t - (20.0 * 64.0 - 10.0);
        let residual_s = (offset_at(20.0 * 64.0 - 10.0) - step_s) + 5e-6 * elapsed_s;
        changed.add_sample(sample(t + step_s, residual_s + 1e-7 * noise(i), 0.001));
    }
    let e = *changed.estimate().unwrap();
    assert!((e.frequency_ppm - 5.0).abs() < 0.02, "{e:?}");
    assert!(e.samples_used == 40, "a jump was seen: {e:?}");
    let elapsed_s = 39.0 * 64.0 - (20.0 * 64.0 - 10.0);
    let expected_s = offset_at(20.0 * 64.0 - 10.0) - step_s + 5e-6 * elapsed_s;
    assert!((e.offset_s - expected_s).abs() < 1e-6, "{e:?}");
    for s in changed.samples() {
        assert!(s.local_time <= e.reference_time);
    }
}

#[test]
fn follows_a_frequency_step() {
    let mut kalman = KalmanEstimator::new(3, 64);
    let mut offset_s = 0.0;
    for i in 0..200 {
        let t = i as f64 * 64.0;
        // 0 ppm for 150 samples, then 10 ppm.
        if i > 150 {
            offset_s += 10e-6 * 64.0;
        }
        kalman.add_sample(sample(t, offset_s + 1e-7 * noise(i), 0.001));
        if i == 150 {
            assert!(kalman.estimate().unwrap().frequency_ppm.abs() < 0.01);
        }
    }
    let e = *kalman.estimate().unwrap();
    assert!((e.frequency_ppm - 10.0).abs() < 0.1, "{e:?}");
    assert!((e.offset_s - offset_s).abs() < 1e-6, "{e:?}");
}

#[test]
fn a_jump_restarts_the_offset_and_keeps_the_frequency() {
    let mut kalman = KalmanEstimator::new(3, 64);
    for i in 0..30 {
        let t = i as f64 * 64.0;
        kalman.add_sample(sample(t, 2e-6 * t + 1e-7 * noise(i), 0.001));
    }
    // The source steps by 1 s.
    let t = 30.0 * 64.0;
    kalman.add_sample(sample(t, 1.0 + 2e-6 * t, 0.001));
    let e = *kalman.estimate().unwrap();
    assert!((e.offset_s - (1.0 + 2e-6 * t)).abs() < 1e-6, "{e:?}");
    assert!((e.frequency_ppm - 2.0).abs() < 0.01, "{e:?}");
    assert_eq!(e.samples_used, 1);
    assert_eq!(kalman.sample_count(), 1);
    assert!(kalman.is_selectable(), "a jump keeps the source selectable");
    for i in 31..40 {
        let t = i as f64 * 64.0;
        kalman.add_sample(sample(t, 1.0 + 2e-6 * t + 1e-7 * noise(i), 0.001));
    }
    let e = *kalman.estimate().unwrap();
    assert!((e.frequency_ppm - 2.0).abs() < 0.01, "{e:?}");
    assert_eq!(e.samples_used, 10);
}

/// The bank picks a wander near the one that made the samples, which it is not told.
#[test]
fn the_wander_is_chosen_from_the_samples() {
    let chosen = |wander_per_s: f64, jitter_s: f64| {
        let mut kalman = KalmanEstimator::new(3, 64);
        let (mut offset_s, mut frequency) = (0.0, 0.0);
        for i in 0..600u64 {
            // A random walk of the frequency over 64 s, one noise draw per poll.
            frequency += wander_per_s * 8.0 * noise(i * 3 + 1) * 3f64.sqrt();
            offset_s += frequency * 64.0;
            let delay_excess_s = jitter_s * noise(i * 3 + 2).abs();
            let error_s = delay_excess_s / 2.0 * noise(i * 3 + 3);
            kalman.add_sample(sample(
                i as f64 * 64.0,
                offset_s + error_s,
                0.001 + delay_excess_s,
            ));
        }
        kalman.chosen_wander_per_s()
    };
    let slow = chosen(1e-9, 10e-6);
    let fast = chosen(100e-9, 10e-6);
    assert!(slow < 10e-9, "chose {slow} for 1 ppb/s");
    assert!(fast > 20e-9, "chose {fast} for 100 ppb/s");
}

#[test]
fn delay_tests_are_chronys() {
    let mut kalman = KalmanEstimator::new(3, 64);
    assert!(
        kalman.accepts_delay(1.0, 2.0, 10.0),
        "no samples: anything goes"
    );
    for i in 0..10 {
        kalman.add_sample(sample(i as f64 * 64.0, 1e-6 * noise(i), 0.001));
    }
    assert!(!kalman.accepts_delay(0.0025, 2.0, 0.0), "maxdelayratio");
    assert!(kalman.accepts_delay(0.0019, 2.0, 0.0));
    let sd_s = kalman.estimate().unwrap().offset_sd_s.max(1e-6);
    assert!(
        !kalman.accepts_delay(0.001 + 11.0 * sd_s, 0.0, 10.0),
        "maxdelaydevratio"
    );
    assert!(kalman.accepts_delay(0.001 + 9.0 * sd_s, 0.0, 10.0));
}

#[test]
fn out_of_order_sample_clears_the_history() {
    let mut kalman = KalmanEstimator::new(3, 64);
    for i in 0..5 {
        kalman.add_sample(sample(100.0 + i as f64 * 64.0, 0.0, 0.001));
    }
    kalman.add_sample(sample(0.0, 0.0, 0.001));
    assert_eq!(kalman.sample_count(), 1);
    assert!(!kalman.is_selectable());
}

/// A first sample from a server that said it was unsure (a master still slewing its
/// start offset serves what it has left to slew as root dispersion) must not anchor
/// the filters: alone, its error is bounded by its whole distance.
#[test]
fn a_first_sample_from_an_unsure_server_does_not_anchor_the_filters() {
    let mut kalman = KalmanEstimator::new(3, 64);
    kalman.add_sample(StoredSample {
        offset_s: 0.019,
        server_root_dispersion_s: 0.02,
        ..sample(0.0, 0.0, 200e-6)
    });
    for i in 1..3 {
        kalman.add_sample(sample(16.0 * i as f64, 1e-6 * noise(i), 200e-6));
    }
    // The third sample makes the source selectable, and the discipline acts on this
    // estimate (moving the frequency by a gain that falls with the skew): its error
    // must be within its skew.
    assert!(kalman.is_selectable());
    let e = *kalman.estimate().unwrap();
    assert!(e.frequency_ppm.abs() < 2.0 * e.skew_ppm, "{e:?}");
    assert!(e.offset_s.abs() < 1e-5, "{e:?}");
    for i in 3..8 {
        kalman.add_sample(sample(16.0 * i as f64, 1e-6 * noise(i), 200e-6));
    }
    let e = *kalman.estimate().unwrap();
    assert!(e.frequency_ppm.abs() < 1.0, "{e:?}");
}
