//! Per-source estimation of offset and frequency: chrony-style weighted linear
//! regression over an adaptive window, chosen by a runs test.
//!
//! Owns a source's sample history (in the local clock's current time scale), the
//! regression over it, and the re-scaling of that history whenever the engine changes
//! the clock (frequency change, step). It must not decide anything about the clock or
//! other sources; it only answers "what is this source's offset and frequency relative
//! to our clock, and how sure are we".
//!
//! # Why regression and not a Kalman filter
//!
//! ntpd-rs runs a Kalman filter per source; chrony runs a weighted least-squares line
//! through the last samples, and drops the oldest ones while the residuals fail a runs
//! test (too few sign changes mean the line no longer fits: the clock's frequency
//! wandered). We use chrony's approach, for three reasons that bear on the accuracy
//! targets (chrony's published simulator figures):
//! - It needs no noise model. A Kalman filter must be told the process noise (wander)
//!   and the measurement noise; wrong values cost accuracy in exactly the scenarios we
//!   measure (wander from 1 to 10 ppb/s, jitter from 10 µs to 10 ms). The runs test
//!   finds the window that fits the data, which is the same adaptation without tuning.
//! - Network jitter is one-sided (queues only add delay), so the error of a sample is
//!   bounded by half its excess delay over the minimum. Weighting samples by that
//!   bound, as chrony does, uses the best samples most; a Gaussian Kalman update does
//!   not model this and is pulled by delay spikes.
//! - The targets are chrony's own numbers; its method is known to reach them, and the
//!   simulator can measure any improvement against this baseline.
//!
//! Weights: the variance of sample *i* is taken as `1 + ((d_i - d_min) / s)^2`, where
//! `d_i` is its peer distance (delay/2 + dispersion), `d_min` the smallest among the
//! stored samples and `s` the previous regression's standard deviation (unweighted:
//! a weighted one can collapse onto a few lucky samples and then starve the
//! regression through the `maxdelaydevratio` test).
//!
//! Measured with the closed-loop probe in `tests/accuracy_probe.rs` (a rough model,
//! not crates/sim's scenarios), mean clock error is 0.9-1.45x chrony's published
//! figures (worst at 10 µs jitter, where the model's frequency wander dominates).
//! Tuning the frequency gain and the weight scale moved it by less than 10 %; the
//! slew length (which must use the offset's standard error, not the samples' spread)
//! mattered most. crates/sim should measure the window choice and poll adaptation.

use std::collections::VecDeque;

use gnomon_proto::UnixTime;

/// Frequency uncertainty assumed before a regression is possible (chrony's 2000 ppm).
pub const WORST_CASE_SKEW_PPM: f64 = 2000.0;
/// Fewest samples a regression is done with.
pub const MIN_SAMPLES_FOR_REGRESSION: usize = 3;
/// Fewest samples before the maxdelaydevratio test applies (chrony: 6).
pub const MIN_SAMPLES_FOR_DELAY_TEST: usize = 6;
/// Lower bound of the regression's standard deviation used for weighting, seconds.
const MIN_WEIGHT_SCALE_S: f64 = 1e-9;
/// One-sided 5 % point of the normal distribution, for the runs test.
const RUNS_TEST_Z: f64 = 1.645;

/// One sample as kept in the history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredSample {
    pub local_time: UnixTime,
    pub offset_s: f64,
    pub delay_s: f64,
    pub dispersion_s: f64,
}

impl StoredSample {
    fn peer_distance_s(&self) -> f64 {
        self.delay_s / 2.0 + self.dispersion_s
    }
}

/// The regression's answer about one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Time the offset refers to (the newest sample's local time).
    pub reference_time: UnixTime,
    /// Source minus local clock at `reference_time`, seconds.
    pub offset_s: f64,
    /// Rate at which the offset grows: how much faster the local clock should run, ppm.
    pub frequency_ppm: f64,
    /// Standard error of `frequency_ppm`.
    pub skew_ppm: f64,
    /// Standard deviation of the samples about the line, seconds.
    pub offset_sd_s: f64,
    /// Standard error of `offset_s`, seconds.
    pub offset_error_s: f64,
    /// Samples the line was fitted to.
    pub samples_used: usize,
}

impl Estimate {
    /// Predicted offset at local time `at`.
    pub fn offset_at_s(&self, at: UnixTime) -> f64 {
        self.offset_s + self.frequency_ppm * 1e-6 * seconds_between(self.reference_time, at)
    }

    /// Standard error of the prediction at `at`.
    pub fn error_at_s(&self, at: UnixTime) -> f64 {
        let elapsed_s = seconds_between(self.reference_time, at).abs();
        (self.offset_error_s.powi(2) + (self.skew_ppm * 1e-6 * elapsed_s).powi(2)).sqrt()
    }
}

/// `later - earlier` in seconds.
pub fn seconds_between(earlier: UnixTime, later: UnixTime) -> f64 {
    (later.as_nanos() - earlier.as_nanos()) as f64 * 1e-9
}

/// Sample history and regression of one source.
#[derive(Clone, Debug)]
pub struct Estimator {
    samples: VecDeque<StoredSample>,
    min_samples: usize,
    max_samples: usize,
    estimate: Option<Estimate>,
}

impl Estimator {
    pub fn new(min_samples: usize, max_samples: usize) -> Self {
        let max_samples = max_samples.max(MIN_SAMPLES_FOR_REGRESSION);
        Estimator {
            samples: VecDeque::with_capacity(max_samples),
            min_samples: min_samples.clamp(MIN_SAMPLES_FOR_REGRESSION, max_samples),
            max_samples,
            estimate: None,
        }
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    pub fn samples(&self) -> impl Iterator<Item = &StoredSample> {
        self.samples.iter()
    }

    pub fn estimate(&self) -> Option<&Estimate> {
        self.estimate.as_ref()
    }

    /// Forget all samples (e.g. after the source was replaced or stopped).
    pub fn clear(&mut self) {
        self.samples.clear();
        self.estimate = None;
    }

    /// chrony's maxdelayratio / maxdelaydevratio tests: is a sample with this delay
    /// good enough to add? Ratios of 0 turn a test off.
    pub fn accepts_delay(&self, delay_s: f64, maxdelayratio: f64, maxdelaydevratio: f64) -> bool {
        let Some(min_delay_s) = self.samples.iter().map(|s| s.delay_s).reduce(f64::min) else {
            return true;
        };
        if maxdelayratio > 0.0 && delay_s > maxdelayratio * min_delay_s {
            return false;
        }
        if maxdelaydevratio > 0.0 {
            if let Some(estimate) = &self.estimate {
                // Like chrony, only with enough samples for the deviation to mean something.
                if estimate.samples_used >= MIN_SAMPLES_FOR_DELAY_TEST
                    && delay_s - min_delay_s > maxdelaydevratio * estimate.offset_sd_s.max(1e-6)
                {
                    return false;
                }
            }
        }
        true
    }

    /// Add a sample (in time order) and redo the regression.
    pub fn add_sample(&mut self, sample: StoredSample) {
        if let Some(last) = self.samples.back() {
            if sample.local_time < last.local_time {
                // Out of order (a clock step raced a reply): history is unusable.
                self.samples.clear();
            }
        }
        if self.samples.len() == self.max_samples {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.regress();
    }

    /// Re-express the history after the engine changed the clock at local time `now`:
    /// from then on the clock runs `rate_change` (a fraction) faster than it did, and it
    /// was stepped forward by `step_s`. Samples become what they would have been had
    /// the clock always run that way (times and offsets both move; the regression's
    /// frequency becomes `(f - rate_change) / (1 + rate_change)`).
    pub fn apply_clock_change(&mut self, now: UnixTime, rate_change: f64, step_s: f64) {
        let rescale = |time: &mut UnixTime, offset_s: &mut f64| {
            let before_now_s = seconds_between(*time, now);
            let shift_s = rate_change * before_now_s;
            *offset_s += shift_s - step_s;
            *time = time.add(gnomon_proto::NtpDuration::from_seconds_f64(
                step_s - shift_s,
            ));
        };
        for sample in &mut self.samples {
            rescale(&mut sample.local_time, &mut sample.offset_s);
        }
        if let Some(estimate) = &mut self.estimate {
            rescale(&mut estimate.reference_time, &mut estimate.offset_s);
            estimate.frequency_ppm =
                (estimate.frequency_ppm - rate_change * 1e6) / (1.0 + rate_change);
        }
    }

    fn regress(&mut self) {
        let newest = *self.samples.back().expect("regress runs after a push");
        let previous_frequency_ppm = self.estimate.map_or(0.0, |e| e.frequency_ppm);
        if self.samples.len() < MIN_SAMPLES_FOR_REGRESSION {
            // Not enough for a line: the newest offset, the old frequency, no confidence.
            self.estimate = Some(Estimate {
                reference_time: newest.local_time,
                offset_s: newest.offset_s,
                frequency_ppm: previous_frequency_ppm,
                skew_ppm: WORST_CASE_SKEW_PPM,
                offset_sd_s: newest.peer_distance_s(),
                offset_error_s: newest.peer_distance_s(),
                samples_used: self.samples.len(),
            });
            return;
        }
        let scale_s = self
            .estimate
            .filter(|e| e.samples_used >= MIN_SAMPLES_FOR_REGRESSION)
            .map_or(f64::INFINITY, |e| e.offset_sd_s)
            .max(MIN_WEIGHT_SCALE_S);
        let min_distance_s = self
            .samples
            .iter()
            .map(StoredSample::peer_distance_s)
            .fold(f64::INFINITY, f64::min);
        let points: Vec<RegressionPoint> = self
            .samples
            .iter()
            .map(|s| RegressionPoint {
                x_s: seconds_between(newest.local_time, s.local_time),
                y_s: s.offset_s,
                weight: 1.0 / (1.0 + ((s.peer_distance_s() - min_distance_s) / scale_s).powi(2)),
            })
            .collect();
        let n = points.len();
        let keep_at_least = self.min_samples.min(n);
        let mut start = 0;
        let fit = loop {
            let fit = fit_line(&points[start..]);
            let used = n - start;
            if used <= keep_at_least || runs_test_passes(&fit.residual_signs) {
                break fit;
            }
            start += 1;
        };
        // The samples that no longer fit the line are of no further use.
        self.samples.drain(..start);
        self.estimate = Some(Estimate {
            reference_time: newest.local_time,
            offset_s: fit.intercept_s,
            frequency_ppm: fit.slope * 1e6,
            skew_ppm: fit.slope_error * 1e6,
            offset_sd_s: fit.unweighted_residual_sd_s,
            offset_error_s: fit.intercept_error_s,
            samples_used: n - start,
        });
    }
}

#[derive(Clone, Copy, Debug)]
struct RegressionPoint {
    x_s: f64,
    y_s: f64,
    weight: f64,
}

#[derive(Debug)]
struct LineFit {
    intercept_s: f64,
    slope: f64,
    intercept_error_s: f64,
    slope_error: f64,
    unweighted_residual_sd_s: f64,
    residual_signs: Vec<bool>,
}

/// Weighted least squares `y = a + b x`; `a` is the value at x = 0 (the newest sample).
fn fit_line(points: &[RegressionPoint]) -> LineFit {
    let n = points.len() as f64;
    let weight_sum: f64 = points.iter().map(|p| p.weight).sum();
    // Normalise weights to a mean of one, so the residual variance reads in seconds².
    let norm = n / weight_sum;
    let mean_x = points.iter().map(|p| p.weight * p.x_s).sum::<f64>() / weight_sum;
    let mean_y = points.iter().map(|p| p.weight * p.y_s).sum::<f64>() / weight_sum;
    let sxx: f64 = points
        .iter()
        .map(|p| p.weight * norm * (p.x_s - mean_x).powi(2))
        .sum();
    let sxy: f64 = points
        .iter()
        .map(|p| p.weight * norm * (p.x_s - mean_x) * (p.y_s - mean_y))
        .sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept_s = mean_y - slope * mean_x;
    let residuals: Vec<f64> = points
        .iter()
        .map(|p| p.y_s - intercept_s - slope * p.x_s)
        .collect();
    let degrees_of_freedom = (n - 2.0).max(1.0);
    let residual_variance = points
        .iter()
        .zip(&residuals)
        .map(|(p, r)| p.weight * norm * r * r)
        .sum::<f64>()
        / degrees_of_freedom;
    let slope_variance = if sxx > 0.0 {
        residual_variance / sxx
    } else {
        f64::INFINITY
    };
    let intercept_variance = residual_variance / n + mean_x * mean_x * slope_variance;
    LineFit {
        intercept_s,
        slope,
        intercept_error_s: intercept_variance.sqrt(),
        slope_error: slope_variance.sqrt().max(1e-12),
        unweighted_residual_sd_s: (residuals.iter().map(|r| r * r).sum::<f64>()
            / degrees_of_freedom)
            .sqrt(),
        residual_signs: residuals.iter().map(|r| *r >= 0.0).collect(),
    }
}

/// Wald–Wolfowitz runs test: do the residual signs change often enough for the
/// residuals to look random? Too few runs mean the line does not fit.
fn runs_test_passes(signs: &[bool]) -> bool {
    let n = signs.len();
    if n < 4 {
        return true;
    }
    let positives = signs.iter().filter(|s| **s).count() as f64;
    let negatives = n as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return false;
    }
    let runs = 1 + signs.windows(2).filter(|w| w[0] != w[1]).count();
    let expected = 2.0 * positives * negatives / n as f64 + 1.0;
    let variance = (expected - 1.0) * (expected - 2.0) / (n as f64 - 1.0);
    runs as f64 >= expected - RUNS_TEST_Z * variance.max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::NtpDuration;
    use proptest::prelude::*;

    fn at(seconds: f64) -> UnixTime {
        UnixTime::from_secs(1_800_000_000).add(NtpDuration::from_seconds_f64(seconds))
    }

    fn sample(t_s: f64, offset_s: f64, delay_s: f64) -> StoredSample {
        StoredSample {
            local_time: at(t_s),
            offset_s,
            delay_s,
            dispersion_s: 1e-6,
        }
    }

    /// Deterministic pseudo-noise in [-1, 1].
    fn noise(i: u64) -> f64 {
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x5851_F42D_4C95_7F2D;
        (x % 2_000_001) as f64 / 1_000_000.0 - 1.0
    }

    #[test]
    fn recovers_offset_and_frequency_of_a_line() {
        let mut estimator = Estimator::new(6, 64);
        for i in 0..20 {
            let t = i as f64 * 64.0;
            estimator.add_sample(sample(t, 0.001 + 5e-6 * t + 1e-6 * noise(i), 0.01));
        }
        let e = estimator.estimate().unwrap();
        assert!((e.frequency_ppm - 5.0).abs() < 0.05, "{e:?}");
        assert!(
            (e.offset_s - (0.001 + 5e-6 * 19.0 * 64.0)).abs() < 2e-6,
            "{e:?}"
        );
        assert!(e.skew_ppm < 0.05 && e.skew_ppm > 0.0);
        assert!(e.offset_sd_s < 2e-6);
    }

    #[test]
    fn high_delay_samples_weigh_less() {
        let mut estimator = Estimator::new(6, 64);
        for i in 0..30 {
            let t = i as f64 * 16.0;
            // Every third sample is delayed one way by 10 ms: its offset is off by 5 ms.
            let (offset, delay) = if i % 3 == 2 {
                (0.005, 0.021)
            } else {
                (0.0, 0.001)
            };
            estimator.add_sample(sample(t, offset + 1e-7 * noise(i), delay));
        }
        let e = estimator.estimate().unwrap();
        // An unweighted line would sit at 5 ms / 3 = 1.7 ms.
        assert!(e.offset_s.abs() < 5e-4, "pulled by delayed samples: {e:?}");
    }

    #[test]
    fn runs_test_drops_samples_before_a_frequency_change() {
        let mut estimator = Estimator::new(6, 64);
        for i in 0..40 {
            let t = i as f64 * 64.0;
            // Frequency jumps from 0 to 10 ppm at sample 20.
            let offset = if i < 20 {
                0.0
            } else {
                10e-6 * (t - 20.0 * 64.0)
            };
            estimator.add_sample(sample(t, offset + 1e-7 * noise(i), 0.001));
        }
        let e = estimator.estimate().unwrap();
        assert!(e.samples_used <= 22, "kept stale samples: {e:?}");
        assert!((e.frequency_ppm - 10.0).abs() < 0.1, "{e:?}");
        assert_eq!(estimator.sample_count(), e.samples_used);
    }

    #[test]
    fn clock_change_rescales_history() {
        let mut estimator = Estimator::new(6, 64);
        for i in 0..10 {
            let t = i as f64 * 10.0;
            estimator.add_sample(sample(t, 0.5 + 20e-6 * t, 0.001));
        }
        // Step forward by the offset and speed the clock up by the frequency error.
        let now = at(90.0);
        let before = *estimator.estimate().unwrap();
        estimator.apply_clock_change(now, before.frequency_ppm * 1e-6, before.offset_at_s(now));
        let after = estimator.estimate().unwrap();
        assert!(
            after.offset_at_s(at(90.0 + before.offset_at_s(now))).abs() < 1e-9,
            "{after:?}"
        );
        assert!(after.frequency_ppm.abs() < 1e-6, "{after:?}");
        for s in estimator.samples() {
            assert!(s.offset_s.abs() < 1e-8, "{s:?}");
        }
        // A new sample on the corrected clock fits the old line.
        estimator.add_sample(sample(100.5, 0.0, 0.001));
        assert!(estimator.estimate().unwrap().frequency_ppm.abs() < 1e-3);
    }

    #[test]
    fn runs_test_on_signs() {
        let alternating: Vec<bool> = (0..20).map(|i| i % 2 == 0).collect();
        assert!(runs_test_passes(&alternating));
        let two_runs: Vec<bool> = (0..20).map(|i| i < 10).collect();
        assert!(!runs_test_passes(&two_runs));
    }

    #[test]
    fn delay_tests() {
        let mut estimator = Estimator::new(6, 64);
        assert!(estimator.accepts_delay(5.0, 2.0, 10.0));
        for i in 0..10 {
            estimator.add_sample(sample(i as f64, 1e-6 * noise(i), 0.010));
        }
        assert!(estimator.accepts_delay(0.015, 2.0, 0.0));
        assert!(!estimator.accepts_delay(0.025, 2.0, 0.0));
        assert!(estimator.accepts_delay(0.025, 0.0, 0.0));
        assert!(!estimator.accepts_delay(0.025, 0.0, 10.0));
    }

    #[test]
    fn delay_deviation_test_waits_for_enough_samples() {
        let mut estimator = Estimator::new(6, 64);
        for i in 0..(MIN_SAMPLES_FOR_DELAY_TEST - 1) {
            // Identical samples: a tiny deviation that would reject everything.
            estimator.add_sample(sample(i as f64, 0.0, 0.010));
        }
        assert!(estimator.accepts_delay(0.030, 0.0, 10.0));
        estimator.add_sample(sample(10.0, 0.0, 0.010));
        assert!(!estimator.accepts_delay(0.030, 0.0, 10.0));
    }

    proptest! {
        #[test]
        fn sample_count_stays_within_limits(offsets in prop::collection::vec(-1.0f64..1.0, 1..150)) {
            let mut estimator = Estimator::new(6, 32);
            for (i, offset) in offsets.iter().enumerate() {
                estimator.add_sample(sample(i as f64, *offset, 0.01));
                prop_assert!(estimator.sample_count() <= 32);
                prop_assert!(estimator.sample_count() >= 6.min(i + 1));
                let e = estimator.estimate().unwrap();
                prop_assert!(e.offset_s.is_finite() && e.frequency_ppm.is_finite());
            }
        }
    }
}
