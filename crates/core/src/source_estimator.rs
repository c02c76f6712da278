//! The seam between a source and the method that turns its samples into an estimate.
//!
//! Owns the [`SourceEstimator`] trait a [`crate::source::Source`] talks to, the
//! [`EstimatorKind`]s there are, and building one. It must not hold estimation logic
//! itself: each method lives in its own module ([`crate::estimator`] for the
//! regressions, [`crate::kalman`] for the Kalman filter). The point of the seam (issue 13) is to compare methods on the same
//! samples: gnomon-sim and the clknetsim harness run the same scenario with each kind
//! (gnomond's `estimator` directive, a gnomon-sim node's `estimator` field).

use gnomon_proto::UnixTime;

use crate::estimator::{Estimate, Estimator, StoredSample, WindowChoice};
use crate::kalman::KalmanEstimator;

/// How a source's samples become its offset and frequency estimate.
pub trait SourceEstimator: std::fmt::Debug + Send {
    /// Add a sample (in time order) and redo the estimate.
    fn add_sample(&mut self, sample: StoredSample);
    /// Re-express the history after the engine changed the clock at local time `now`
    /// (see [`crate::discipline::ClockChange`]).
    fn apply_clock_change(&mut self, now: UnixTime, rate_change: f64, step_s: f64);
    /// The current estimate, if there is one.
    fn estimate(&self) -> Option<&Estimate>;
    /// Whether selection may use the estimate (chrony's `select_ok`).
    fn is_selectable(&self) -> bool;
    /// chrony's maxdelayratio / maxdelaydevratio tests for a new sample's delay.
    fn accepts_delay(&self, delay_s: f64, maxdelayratio: f64, maxdelaydevratio: f64) -> bool;
    /// Samples the estimate uses.
    fn sample_count(&self) -> usize;
    /// Those samples, oldest first (for `sourcestats` and logs).
    fn samples(&self) -> Vec<StoredSample>;
    /// Forget every sample.
    fn clear(&mut self);
    /// A boxed copy (sources are cloned by the simulator).
    fn clone_box(&self) -> Box<dyn SourceEstimator>;
}

impl Clone for Box<dyn SourceEstimator> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// The estimation methods there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EstimatorKind {
    /// Weighted regression over the window that cross-validation picks (gnomon's).
    #[default]
    CrossValidated,
    /// Weighted regression over every sample the runs test accepts (chrony's method),
    /// for comparison on the same samples.
    RunsTest,
    /// A bank of two-state (offset, frequency) Kalman filters whose measurement noise
    /// follows each sample's delay and whose wander is chosen by the data.
    Kalman,
}

impl EstimatorKind {
    /// The name used in configuration (`estimator NAME`).
    pub fn name(self) -> &'static str {
        match self {
            EstimatorKind::CrossValidated => "crossvalidated",
            EstimatorKind::RunsTest => "runstest",
            EstimatorKind::Kalman => "kalman",
        }
    }

    /// Every kind, the default first.
    pub const ALL: [EstimatorKind; 3] = [
        EstimatorKind::CrossValidated,
        EstimatorKind::RunsTest,
        EstimatorKind::Kalman,
    ];

    /// Parse a configuration name.
    pub fn from_name(name: &str) -> Option<EstimatorKind> {
        EstimatorKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }
}

/// A new estimator of `kind` with chrony's `minsamples` and `maxsamples`.
pub fn new_estimator(
    kind: EstimatorKind,
    min_samples: usize,
    max_samples: usize,
) -> Box<dyn SourceEstimator> {
    let window = match kind {
        EstimatorKind::CrossValidated => WindowChoice::CrossValidated,
        EstimatorKind::RunsTest => WindowChoice::RunsTestOnly,
        EstimatorKind::Kalman => return Box::new(KalmanEstimator::new(min_samples, max_samples)),
    };
    Box::new(Estimator::with_window(min_samples, max_samples, window))
}

impl SourceEstimator for KalmanEstimator {
    fn add_sample(&mut self, sample: StoredSample) {
        KalmanEstimator::add_sample(self, sample)
    }
    fn apply_clock_change(&mut self, now: UnixTime, rate_change: f64, step_s: f64) {
        KalmanEstimator::apply_clock_change(self, now, rate_change, step_s)
    }
    fn estimate(&self) -> Option<&Estimate> {
        KalmanEstimator::estimate(self)
    }
    fn is_selectable(&self) -> bool {
        KalmanEstimator::is_selectable(self)
    }
    fn accepts_delay(&self, delay_s: f64, maxdelayratio: f64, maxdelaydevratio: f64) -> bool {
        KalmanEstimator::accepts_delay(self, delay_s, maxdelayratio, maxdelaydevratio)
    }
    fn sample_count(&self) -> usize {
        KalmanEstimator::sample_count(self)
    }
    fn samples(&self) -> Vec<StoredSample> {
        KalmanEstimator::samples(self).copied().collect()
    }
    fn clear(&mut self) {
        KalmanEstimator::clear(self)
    }
    fn clone_box(&self) -> Box<dyn SourceEstimator> {
        Box::new(self.clone())
    }
}

impl SourceEstimator for Estimator {
    fn add_sample(&mut self, sample: StoredSample) {
        Estimator::add_sample(self, sample)
    }
    fn apply_clock_change(&mut self, now: UnixTime, rate_change: f64, step_s: f64) {
        Estimator::apply_clock_change(self, now, rate_change, step_s)
    }
    fn estimate(&self) -> Option<&Estimate> {
        Estimator::estimate(self)
    }
    fn is_selectable(&self) -> bool {
        Estimator::is_selectable(self)
    }
    fn accepts_delay(&self, delay_s: f64, maxdelayratio: f64, maxdelaydevratio: f64) -> bool {
        Estimator::accepts_delay(self, delay_s, maxdelayratio, maxdelaydevratio)
    }
    fn sample_count(&self) -> usize {
        Estimator::sample_count(self)
    }
    fn samples(&self) -> Vec<StoredSample> {
        Estimator::samples(self).copied().collect()
    }
    fn clear(&mut self) {
        Estimator::clear(self)
    }
    fn clone_box(&self) -> Box<dyn SourceEstimator> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EstimatorKind::ALL {
            assert_eq!(EstimatorKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            EstimatorKind::from_name("KALMAN"),
            Some(EstimatorKind::Kalman)
        );
        assert_eq!(EstimatorKind::from_name("ekf"), None);
        assert_eq!(EstimatorKind::default(), EstimatorKind::CrossValidated);
    }
}
