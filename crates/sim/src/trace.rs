//! Traces for tuning the engine: the sampled truth and, at every clock update, what
//! the engine believed, as CSV.
//!
//! Owns the trace file format only (one header, rows `sample` and `update`). It must
//! not compute statistics (see [`crate::stats`]) or run anything.
//!
//! Columns: `kind,t_s,node,true_error_s,estimate_error_s`. For `sample` rows the
//! last column is empty; for `update` rows `true_error_s` is the clock's error just
//! before the update and `estimate_error_s` is how far the engine's combined offset
//! estimate was from the truth (0 would be a perfect estimate).

use std::fmt::Write as _;

use crate::simulation::Simulation;

/// The trace of a finished (or paused) simulation as CSV text.
pub fn to_csv(sim: &Simulation) -> String {
    let mut out = String::from("kind,t_s,node,true_error_s,estimate_error_s\n");
    let measured = sim.measured_nodes();
    for (sample, t_s) in sim.recorder.times_s.iter().enumerate() {
        for (slot, &node) in measured.iter().enumerate() {
            let error_s = sim.recorder.errors_s[slot][sample];
            let name = &sim.nodes[node].name;
            let _ = writeln!(out, "sample,{t_s:.3},{name},{error_s:.9e},");
        }
    }
    for &node in &measured {
        let name = &sim.nodes[node].name;
        for u in &sim.nodes[node].counters.updates {
            let _ = writeln!(
                out,
                "update,{:.3},{name},{:.9e},{:.9e}",
                u.t_s,
                u.true_error_s,
                u.estimate_error_s()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn trace_has_samples_and_updates() {
        let scenario = Scenario::parse(
            r#"
            name = "t"
            duration_s = 100
            [[servers]]
            name = "ref"
            kind = "truechimer"
            [[nodes]]
            name = "client"
            clock = { offset_s = 0.001 }
            [[nodes.sources]]
            upstream = "ref"
            minpoll = 4
            maxpoll = 4
        "#,
            "inline",
        )
        .unwrap();
        let mut sim = Simulation::new(scenario, 1);
        sim.run();
        let csv = to_csv(&sim);
        let samples = csv.lines().filter(|l| l.starts_with("sample,")).count();
        let updates: Vec<&str> = csv.lines().filter(|l| l.starts_with("update,")).collect();
        assert_eq!(samples, 101);
        assert!(updates.len() >= 5, "{csv}");
        // The first update sees the clock 1 ms ahead and estimates it well.
        let fields: Vec<&str> = updates[0].split(',').collect();
        let true_error: f64 = fields[3].parse().unwrap();
        let estimate_error: f64 = fields[4].parse().unwrap();
        assert!((true_error - 1e-3).abs() < 1e-5, "{true_error}");
        assert!(estimate_error.abs() < 1e-4, "{estimate_error}");
    }
}
