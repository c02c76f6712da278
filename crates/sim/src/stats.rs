//! Measurements of the truth: every measured clock's error against true UTC, sampled
//! at a fixed interval, and the statistics derived from them.
//!
//! Owns the sample series, the "time to first sync" bookkeeping and the definitions
//! of the report's accuracy figures. It must not touch clocks or engines; the
//! simulation hands it numbers.
//!
//! Definitions (also in docs/accuracy.md):
//! - *time to sync within X*: the first sample at which the node's engine says it is
//!   synchronised and |clock − true UTC| ≤ X;
//! - *after convergence*: samples at or after the scenario's `settle_s` (default:
//!   the first quarter of the run is left out);
//! - *RMS / mean / max offset*: over those samples of |clock − true UTC|;
//! - *spread*: at one sample, the largest minus the smallest error among the
//!   measured nodes.

/// One sample of one node.
#[derive(Clone, Copy, Debug)]
pub struct NodeSample {
    pub error_s: f64,
    pub synchronized: bool,
}

/// Accuracy figures of one series after convergence.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct OffsetStats {
    pub samples: usize,
    pub rms_s: f64,
    pub mean_abs_s: f64,
    pub max_abs_s: f64,
}

impl OffsetStats {
    pub fn of(values: impl Iterator<Item = f64>) -> OffsetStats {
        let mut stats = OffsetStats::default();
        let (mut sum_sq, mut sum_abs) = (0.0, 0.0);
        for value in values {
            stats.samples += 1;
            sum_sq += value * value;
            sum_abs += value.abs();
            stats.max_abs_s = stats.max_abs_s.max(value.abs());
        }
        if stats.samples > 0 {
            stats.rms_s = (sum_sq / stats.samples as f64).sqrt();
            stats.mean_abs_s = sum_abs / stats.samples as f64;
        }
        stats
    }
}

/// The sampled truth of a run.
#[derive(Clone, Debug)]
pub struct Recorder {
    settle_s: f64,
    /// Sample times, seconds since the start.
    pub times_s: Vec<f64>,
    /// `errors_s[node][sample]`: clock − true UTC of each measured node.
    pub errors_s: Vec<Vec<f64>>,
    first_within_1ms_s: Vec<Option<f64>>,
    first_within_100us_s: Vec<Option<f64>>,
}

impl Recorder {
    pub fn new(measured_nodes: usize, settle_s: f64) -> Recorder {
        Recorder {
            settle_s,
            times_s: Vec::new(),
            errors_s: vec![Vec::new(); measured_nodes],
            first_within_1ms_s: vec![None; measured_nodes],
            first_within_100us_s: vec![None; measured_nodes],
        }
    }

    /// Record one sample of every measured node, in a fixed order.
    pub fn record(&mut self, t_s: f64, samples: &[NodeSample]) {
        self.times_s.push(t_s);
        for (index, sample) in samples.iter().enumerate() {
            self.errors_s[index].push(sample.error_s);
            let within = |limit: f64| sample.synchronized && sample.error_s.abs() <= limit;
            if self.first_within_1ms_s[index].is_none() && within(1e-3) {
                self.first_within_1ms_s[index] = Some(t_s);
            }
            if self.first_within_100us_s[index].is_none() && within(100e-6) {
                self.first_within_100us_s[index] = Some(t_s);
            }
        }
    }

    pub fn settle_s(&self) -> f64 {
        self.settle_s
    }

    fn first_settled(&self) -> usize {
        self.times_s.partition_point(|t| *t < self.settle_s)
    }

    pub fn time_to_1ms_s(&self, node: usize) -> Option<f64> {
        self.first_within_1ms_s[node]
    }

    pub fn time_to_100us_s(&self, node: usize) -> Option<f64> {
        self.first_within_100us_s[node]
    }

    /// One node's figures after convergence.
    pub fn node_stats(&self, node: usize) -> OffsetStats {
        OffsetStats::of(self.errors_s[node][self.first_settled()..].iter().copied())
    }

    /// All measured nodes' samples after convergence together.
    pub fn pooled_stats(&self) -> OffsetStats {
        let from = self.first_settled();
        OffsetStats::of(self.errors_s.iter().flat_map(|e| e[from..].iter().copied()))
    }

    /// The spread across nodes at sample `index`.
    pub fn spread_at_s(&self, index: usize) -> f64 {
        let values = self.errors_s.iter().map(|e| e[index]);
        let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
        let min = values.fold(f64::INFINITY, f64::min);
        if max.is_finite() {
            max - min
        } else {
            0.0
        }
    }

    /// Spread statistics after convergence (RMS and max of the per-sample spread).
    pub fn spread_stats(&self) -> OffsetStats {
        OffsetStats::of((self.first_settled()..self.times_s.len()).map(|i| self.spread_at_s(i)))
    }

    /// The error of `node` at the last sample at or before `t_s`.
    pub fn error_at_s(&self, node: usize, t_s: f64) -> Option<f64> {
        let index = self.times_s.partition_point(|t| *t <= t_s).checked_sub(1)?;
        Some(self.errors_s[node][index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(error_s: f64) -> NodeSample {
        NodeSample {
            error_s,
            synchronized: true,
        }
    }

    #[test]
    fn statistics_only_count_settled_samples() {
        let mut r = Recorder::new(2, 2.0);
        r.record(0.0, &[sample(1.0), sample(0.5)]);
        r.record(1.0, &[sample(5e-4), sample(0.0)]);
        r.record(2.0, &[sample(3e-5), sample(-4e-5)]);
        r.record(3.0, &[sample(-3e-5), sample(4e-5)]);
        assert_eq!(r.time_to_1ms_s(0), Some(1.0));
        assert_eq!(r.time_to_100us_s(0), Some(2.0));
        assert_eq!(r.time_to_1ms_s(1), Some(1.0));
        let s = r.node_stats(0);
        assert_eq!(s.samples, 2);
        assert!((s.rms_s - 3e-5).abs() < 1e-15 && (s.max_abs_s - 3e-5).abs() < 1e-15);
        let spread = r.spread_stats();
        assert!((spread.max_abs_s - 7e-5).abs() < 1e-12);
        assert_eq!(r.error_at_s(1, 1.5), Some(0.0));
    }

    #[test]
    fn unsynchronized_nodes_are_not_in_sync_even_when_close() {
        let mut r = Recorder::new(1, 0.0);
        r.record(
            0.0,
            &[NodeSample {
                error_s: 0.0,
                synchronized: false,
            }],
        );
        assert_eq!(r.time_to_1ms_s(0), None);
    }
}
