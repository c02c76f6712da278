//! Does true time lie within the bound gnomond would publish (the `clockbound` file)?
//!
//! Owns the per-sample check and its summary: at every sample of every measured node,
//! the published half-width is the engine's `clock_error_bound` (root delay/2 + root
//! dispersion of the corrected clock + the correction still to be slewed) while
//! synchronised; after that, in
//! holdover, the last synchronised bound grown at [`HOLDOVER_DRIFT_PPM`] (or the
//! dispersion rate, if larger) since it was taken, as gnomond's publisher does; before
//! the first synchronisation nothing is published (status unknown) and the sample is
//! not counted. The check uses the bound at the moment of the sample, what a reader
//! sees right after a write; between writes a reader's bound only grows, so the
//! coverage here is a lower bound of what readers see. It must not change the engine.

use gnomon_core::engine::Engine;
use gnomon_proto::UnixTime;
use serde::Serialize;

/// Bound growth in holdover, ppm: gnomond's `clockbound` default `maxdrift`.
pub const HOLDOVER_DRIFT_PPM: f64 = 15.0;

/// The summary in the report.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BoundReport {
    /// Samples with a published bound (synchronised or holdover), all measured nodes.
    pub samples: u64,
    /// Of those, samples where |clock − true time| ≤ bound.
    pub within: u64,
    /// within / samples (1.0 when there are no samples).
    pub fraction_within: f64,
    /// Median of the published half-width (true time in clock ± this), seconds.
    pub median_half_width_s: f64,
    /// Samples in holdover (free-running) among `samples`.
    pub holdover_samples: u64,
    /// The same fraction over the samples after convergence (the report's `settle_s`).
    pub fraction_within_after_settle: f64,
}

/// Accumulates the check over a run.
#[derive(Clone, Debug, Default)]
pub struct BoundCheck {
    /// Per node: (true ns, half-width s, drift ppm) of the last synchronised bound.
    last_good: Vec<Option<(i64, f64, f64)>>,
    half_widths_s: Vec<f64>,
    within: u64,
    settled_samples: u64,
    settled_within: u64,
    holdover: u64,
}

impl BoundCheck {
    /// Check node `slot` at true time `true_ns` (`settled`: after `settle_s`), whose
    /// clock reads `clock_now` and is `error_s` (clock − true) off.
    pub fn sample(
        &mut self,
        slot: usize,
        engine: &Engine,
        clock_now: UnixTime,
        (true_ns, settled): (i64, bool),
        error_s: f64,
    ) {
        if self.last_good.len() <= slot {
            self.last_good.resize(slot + 1, None);
        }
        let bound = engine.clock_error_bound(clock_now);
        let drift_ppm = HOLDOVER_DRIFT_PPM.max(engine.system_variables().dispersion_rate_ppm);
        let half_width_s = if bound.synchronized && bound.bound_s.is_finite() {
            let half_width_s = bound.bound_s + bound.offset_s.abs();
            self.last_good[slot] = Some((true_ns, half_width_s, drift_ppm));
            half_width_s
        } else if let Some((at_ns, good_s, rate_ppm)) = self.last_good[slot] {
            self.holdover += 1;
            good_s + rate_ppm * 1e-6 * (true_ns - at_ns).max(0) as f64 * 1e-9
        } else {
            return;
        };
        self.half_widths_s.push(half_width_s);
        let within = u64::from(error_s.abs() <= half_width_s);
        self.within += within;
        if settled {
            self.settled_samples += 1;
            self.settled_within += within;
        }
    }

    pub fn report(&self) -> BoundReport {
        let samples = self.half_widths_s.len() as u64;
        let mut sorted = self.half_widths_s.clone();
        sorted.sort_by(f64::total_cmp);
        BoundReport {
            samples,
            within: self.within,
            fraction_within: if samples == 0 {
                1.0
            } else {
                self.within as f64 / samples as f64
            },
            median_half_width_s: sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
            holdover_samples: self.holdover,
            fraction_within_after_settle: if self.settled_samples == 0 {
                1.0
            } else {
                self.settled_within as f64 / self.settled_samples as f64
            },
        }
    }
}

/// The "Bounded time" section of docs/accuracy.md, from a bench's runs.
pub fn markdown_section(runs: &[crate::bench::ScenarioRuns]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "\n## Bounded time: true time within the published bound\n\n\
         At every sample of every measured node, the half-width gnomond would publish in its \
         `clockbound` file (root delay/2 + root dispersion of the corrected clock, grown \
         since the last update at the dispersion rate, + the correction still to be \
         slewed; in holdover the last bound grown at max(15 ppm, dispersion rate); see \
         docs/bounded-time.md) is compared with |clock − true time| (`gnomon-sim` \
         `bound_check`; target ≥ 99.99%). Samples before the first synchronisation \
         publish no bound (status unknown) and are not counted.\n\n\
         | scenario | within bound, all samples (worst seed) | after settle (worst seed) | median half-width (mean over seeds) | samples per seed |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for run in runs {
        let worst = |f: fn(&BoundReport) -> f64| {
            run.reports.iter().map(|r| f(&r.bound)).fold(1.0, f64::min)
        };
        let seeds = run.reports.len().max(1) as f64;
        let median_us = run
            .reports
            .iter()
            .map(|r| r.bound.median_half_width_s)
            .sum::<f64>()
            / seeds
            * 1e6;
        let samples = run.reports.iter().map(|r| r.bound.samples).sum::<u64>() as f64 / seeds;
        let _ = writeln!(
            out,
            "| {} | {:.4} % | {:.4} % | ±{median_us:.1} µs | {samples:.0} |",
            run.name,
            worst(|b| b.fraction_within) * 100.0,
            worst(|b| b.fraction_within_after_settle) * 100.0,
        );
    }
    out
}
