//! The report of one run: the accuracy figures a person or a script reads.
//!
//! Owns the report's structure (what is measured, with units in the field names),
//! building it from a finished [`Simulation`], and its two renderings: aligned text
//! and JSON. It must not run simulations or change any state.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::simulation::Simulation;
use crate::stats::OffsetStats;

/// How one upstream fared in selection, summed over the measured nodes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct UpstreamSelection {
    pub upstream: String,
    /// Selection rounds in which it was the reference.
    pub times_reference: u64,
    /// Selection rounds in which it was combined with the reference.
    pub times_combined: u64,
    /// Measured nodes that stopped polling it (kiss-o'-death DENY/RSTR).
    pub nodes_stopped: usize,
    /// Last time it was selected or combined by any measured node (s since start).
    pub last_chosen_s: Option<f64>,
}

/// One measured node.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeReport {
    pub name: String,
    pub time_to_1ms_s: Option<f64>,
    pub time_to_100us_s: Option<f64>,
    pub after_convergence: OffsetStats,
    pub final_offset_s: f64,
    /// Intrinsic frequency error plus the engine's correction (slew excluded), at the end.
    pub final_frequency_error_ppm: f64,
    pub requests_sent: u64,
    pub steps: usize,
}

/// The report of one run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    /// Statistics "after convergence" use samples from this time on.
    pub settle_s: f64,
    pub sample_interval_s: f64,
    pub nodes_measured: usize,
    /// Slowest measured node to be synchronised within 1 ms / 100 µs of true time
    /// (`None`: at least one never was).
    pub time_to_1ms_s: Option<f64>,
    pub time_to_100us_s: Option<f64>,
    /// All measured nodes' samples after convergence, pooled.
    pub after_convergence: OffsetStats,
    /// RMS and largest |frequency error| across measured nodes at the end, ppm.
    pub final_frequency_error_rms_ppm: f64,
    pub final_frequency_error_max_ppm: f64,
    /// Requests sent by the measured nodes.
    pub requests_sent: u64,
    /// Spread (largest − smallest error across measured nodes) after convergence.
    pub spread_after_convergence: OffsetStats,
    pub final_spread_s: f64,
    pub upstreams: Vec<UpstreamSelection>,
    pub nodes: Vec<NodeReport>,
    pub events_processed: u64,
    /// True time within the published bound (crate::bound_check, docs/accuracy.md).
    pub bound: crate::bound_check::BoundReport,
}

impl Report {
    /// Summarise a finished simulation.
    pub fn from_simulation(sim: &mut Simulation) -> Report {
        let measured = sim.measured_nodes();
        let recorder = &sim.recorder;
        let mut nodes = Vec::new();
        for (slot, &index) in measured.iter().enumerate() {
            let node = &sim.nodes[index];
            nodes.push(NodeReport {
                name: node.name.clone(),
                time_to_1ms_s: recorder.time_to_1ms_s(slot),
                time_to_100us_s: recorder.time_to_100us_s(slot),
                after_convergence: recorder.node_stats(slot),
                final_offset_s: recorder.errors_s[slot].last().copied().unwrap_or(0.0),
                final_frequency_error_ppm: node.clock.frequency_error_ppm(),
                requests_sent: node.counters.requests_sent,
                steps: node.counters.steps.len(),
            });
        }
        let worst = |f: fn(&NodeReport) -> Option<f64>| -> Option<f64> {
            nodes
                .iter()
                .map(f)
                .try_fold(0.0f64, |acc, t| t.map(|t| acc.max(t)))
        };
        let freq: Vec<f64> = nodes.iter().map(|n| n.final_frequency_error_ppm).collect();
        let freq_stats = OffsetStats::of(freq.iter().copied());
        let mut upstreams: BTreeMap<String, UpstreamSelection> = BTreeMap::new();
        for &index in &measured {
            for source in &sim.nodes[index].sources {
                let entry = upstreams
                    .entry(source.upstream_name.clone())
                    .or_insert_with(|| UpstreamSelection {
                        upstream: source.upstream_name.clone(),
                        times_reference: 0,
                        times_combined: 0,
                        nodes_stopped: 0,
                        last_chosen_s: None,
                    });
                entry.last_chosen_s = match (entry.last_chosen_s, source.last_chosen_s) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                entry.times_reference += source.times_reference;
                entry.times_combined += source.times_combined;
                entry.nodes_stopped += usize::from(source.stopped.is_some());
            }
        }
        let samples = recorder.times_s.len();
        Report {
            scenario: sim.scenario.name.clone(),
            seed: sim.seed,
            duration_s: sim.scenario.duration_s,
            settle_s: recorder.settle_s(),
            sample_interval_s: sim.scenario.sample_interval_s,
            nodes_measured: measured.len(),
            time_to_1ms_s: worst(|n| n.time_to_1ms_s),
            time_to_100us_s: worst(|n| n.time_to_100us_s),
            after_convergence: recorder.pooled_stats(),
            final_frequency_error_rms_ppm: freq_stats.rms_s,
            final_frequency_error_max_ppm: freq_stats.max_abs_s,
            requests_sent: nodes.iter().map(|n| n.requests_sent).sum(),
            spread_after_convergence: recorder.spread_stats(),
            final_spread_s: if samples > 0 {
                recorder.spread_at_s(samples - 1)
            } else {
                0.0
            },
            upstreams: upstreams.into_values().collect(),
            nodes,
            events_processed: sim.events_processed,
            bound: sim.bound_check.report(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Aligned text for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let t = |v: Option<f64>| v.map_or("never".to_string(), |s| format!("{s:.0} s"));
        let _ = writeln!(
            out,
            "Scenario        : {} (seed {})",
            self.scenario, self.seed
        );
        let _ = writeln!(
            out,
            "Duration        : {:.0} s, statistics after {:.0} s, sampled every {} s",
            self.duration_s, self.settle_s, self.sample_interval_s
        );
        let _ = writeln!(out, "Nodes measured  : {}", self.nodes_measured);
        let _ = writeln!(out, "Sync within 1 ms: {}", t(self.time_to_1ms_s));
        let _ = writeln!(out, "Sync within 100 µs: {}", t(self.time_to_100us_s));
        let a = &self.after_convergence;
        let _ = writeln!(
            out,
            "Offset after convergence: RMS {} mean |x| {} max |x| {} ({} samples)",
            us(a.rms_s),
            us(a.mean_abs_s),
            us(a.max_abs_s),
            a.samples
        );
        let _ = writeln!(
            out,
            "Frequency error at end  : RMS {:.4} ppm, max {:.4} ppm",
            self.final_frequency_error_rms_ppm, self.final_frequency_error_max_ppm
        );
        let _ = writeln!(out, "Requests sent   : {}", self.requests_sent);
        let _ = writeln!(
            out,
            "Within bound    : {:.4} % of {} samples ({} holdover; {:.4} % after settle), median bound ±{}",
            self.bound.fraction_within * 100.0,
            self.bound.samples,
            self.bound.holdover_samples,
            self.bound.fraction_within_after_settle * 100.0,
            us(self.bound.median_half_width_s)
        );
        if self.nodes_measured > 1 {
            let s = &self.spread_after_convergence;
            let _ = writeln!(
                out,
                "Spread across nodes: RMS {} max {} at end {}",
                us(s.rms_s),
                us(s.max_abs_s),
                us(self.final_spread_s)
            );
        }
        let _ = writeln!(
            out,
            "Upstream         reference  combined  stopped  last chosen"
        );
        for u in &self.upstreams {
            let _ = writeln!(
                out,
                "  {:<16} {:>9} {:>9} {:>8}  {}",
                u.upstream,
                u.times_reference,
                u.times_combined,
                u.nodes_stopped,
                t(u.last_chosen_s)
            );
        }
        if self.nodes.len() <= 4 {
            for n in &self.nodes {
                let _ = writeln!(
                    out,
                    "Node {}: 1 ms {}, 100 µs {}, RMS {}, final {}, freq {:+.4} ppm, {} requests, {} steps",
                    n.name,
                    t(n.time_to_1ms_s),
                    t(n.time_to_100us_s),
                    us(n.after_convergence.rms_s),
                    us(n.final_offset_s),
                    n.final_frequency_error_ppm,
                    n.requests_sent,
                    n.steps
                );
            }
        }
        out
    }
}

/// Seconds as microseconds with a unit.
pub fn us(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}
