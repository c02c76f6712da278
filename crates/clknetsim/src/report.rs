//! Summaries over seeds and the side-by-side table (plain text for the terminal,
//! Markdown for docs/accuracy.md, JSON with `--json`).

use serde::Serialize;

use crate::analysis::RunResult;
use crate::scenario::{Daemon, Scenario, View};

/// One daemon in one scenario, over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub daemon: Daemon,
    pub seeds: usize,
    /// Mean over seeds of each run's RMS offset.
    pub rms_offset_s: f64,
    /// Worst seed's max |offset|.
    pub max_abs_offset_s: f64,
    /// Mean over seeds of the RMS frequency error.
    pub rms_freq_ppm: f64,
    /// Mean sync time of the seeds that synchronised.
    pub mean_sync_time_s: Option<f64>,
    /// Worst seed's sync time (`None` if a seed never synchronised).
    pub max_sync_time_s: Option<f64>,
    pub unsynchronised_seeds: usize,
    pub mean_packets_sent: f64,
    pub mean_poll_s: f64,
    /// Seeds that passed chrony's criteria, where the scenario has them.
    pub passed_criteria: Option<usize>,
    /// Seeds in which the falseticker was seen selected or combined in the daemon's own
    /// view (sources readings, chronyd's log), where there is one.
    pub falseticker_selected: Option<usize>,
    /// Seeds in which the clock alone suggests it was (the second check).
    pub falseticker_by_offset: Option<usize>,
    /// Sources readings over all seeds.
    pub sources_readings: usize,
    /// Tracking readings over all seeds, and how many of them held the true offset
    /// within their error bound.
    pub tracking_readings: usize,
    pub bound_held: usize,
    /// The largest |true offset| / error bound over the tracking readings.
    pub worst_offset_to_bound: Option<f64>,
    /// Mean replies dropped per run, where the daemon logs them (gnomond).
    pub mean_dropped_replies: Option<f64>,
}

/// Both daemons in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub summary: String,
    pub chronyd: Option<Summary>,
    pub gnomond: Option<Summary>,
}

impl Row {
    /// gnomond's mean RMS offset over chronyd's.
    pub fn ratio(&self) -> Option<f64> {
        match (&self.chronyd, &self.gnomond) {
            (Some(c), Some(g)) if c.rms_offset_s > 0.0 => Some(g.rms_offset_s / c.rms_offset_s),
            _ => None,
        }
    }
}

/// Summarise one daemon's runs (all of one scenario).
pub fn summarise(daemon: Daemon, runs: &[&RunResult]) -> Option<Summary> {
    if runs.is_empty() {
        return None;
    }
    let count = runs.len() as f64;
    let mean = |f: &dyn Fn(&RunResult) -> f64| runs.iter().map(|r| f(r)).sum::<f64>() / count;
    let synced: Vec<f64> = runs.iter().filter_map(|r| r.sync_time_s).collect();
    let unsynchronised_seeds = runs.len() - synced.len();
    let readings = |view: View| {
        runs.iter()
            .flat_map(|r| r.readings.iter())
            .filter(move |reading| reading.view == view)
    };
    let tracking = || readings(View::Tracking).filter_map(|r| r.tracking.as_ref());
    Some(Summary {
        daemon,
        seeds: runs.len(),
        rms_offset_s: mean(&|r| r.rms_offset_s),
        max_abs_offset_s: runs.iter().map(|r| r.max_abs_offset_s).fold(0.0, f64::max),
        rms_freq_ppm: mean(&|r| r.rms_freq_ppm),
        mean_sync_time_s: (!synced.is_empty())
            .then(|| synced.iter().sum::<f64>() / synced.len() as f64),
        max_sync_time_s: (unsynchronised_seeds == 0)
            .then(|| synced.iter().copied().fold(0.0, f64::max)),
        unsynchronised_seeds,
        mean_packets_sent: mean(&|r| r.packets_sent as f64),
        mean_poll_s: mean(&|r| r.mean_poll_s),
        passed_criteria: runs[0].passed_criteria.map(|_| {
            runs.iter()
                .filter(|r| r.passed_criteria == Some(true))
                .count()
        }),
        mean_dropped_replies: runs[0]
            .dropped_replies
            .map(|_| mean(&|r| r.dropped_replies.unwrap_or(0) as f64)),
        falseticker_selected: runs[0].falseticker_selected.map(|_| {
            runs.iter()
                .filter(|r| r.falseticker_selected == Some(true))
                .count()
        }),
        falseticker_by_offset: runs[0].falseticker_by_offset.map(|_| {
            runs.iter()
                .filter(|r| r.falseticker_by_offset == Some(true))
                .count()
        }),
        sources_readings: readings(View::Sources).count(),
        tracking_readings: tracking().count(),
        bound_held: tracking().filter(|t| t.bound_holds()).count(),
        worst_offset_to_bound: tracking()
            .map(|t| {
                let worst = t.true_offset_s.iter().fold(0.0f64, |w, o| w.max(o.abs()));
                worst / t.error_bound_s.unwrap_or(0.0)
            })
            .reduce(f64::max),
    })
}

/// One row per scenario, in the order given.
pub fn rows(scenarios: &[Scenario], results: &[RunResult]) -> Vec<Row> {
    scenarios
        .iter()
        .map(|scenario| {
            let of = |daemon: Daemon| {
                let runs: Vec<&RunResult> = results
                    .iter()
                    .filter(|r| r.scenario == scenario.name && r.daemon == daemon)
                    .collect();
                summarise(daemon, &runs)
            };
            Row {
                scenario: scenario.name.clone(),
                summary: scenario.summary.clone(),
                chronyd: of(Daemon::Chronyd),
                gnomond: of(Daemon::Gnomond),
            }
        })
        .collect()
}

fn us(seconds: f64) -> String {
    let us = seconds * 1e6;
    if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

fn sync(summary: &Summary) -> String {
    let mean = match summary.mean_sync_time_s {
        Some(mean) => format!("{mean:.0} s"),
        None => "never".into(),
    };
    if summary.unsynchronised_seeds > 0 {
        format!("{mean} ({} unsynced)", summary.unsynchronised_seeds)
    } else {
        mean
    }
}

fn extra(summary: &Summary) -> String {
    let mut notes = Vec::new();
    if let Some(passed) = summary.passed_criteria {
        notes.push(format!("{passed}/{} pass", summary.seeds));
    }
    if let Some(dropped) = summary.mean_dropped_replies {
        notes.push(format!("{dropped:.0} replies dropped"));
    }
    if let Some(selected) = summary.falseticker_selected {
        notes.push(format!(
            "falseticker selected in {selected}/{} ({} sources readings)",
            summary.seeds, summary.sources_readings
        ));
    }
    if let Some(by_offset) = summary.falseticker_by_offset {
        notes.push(format!("off by it in {by_offset}/{}", summary.seeds));
    }
    if summary.tracking_readings > 0 {
        notes.push(format!(
            "bound held in {}/{} tracking readings (worst offset/bound {:.2})",
            summary.bound_held,
            summary.tracking_readings,
            summary.worst_offset_to_bound.unwrap_or(f64::NAN)
        ));
    }
    notes.join(", ")
}

/// The cells of one daemon: RMS, max, RMS freq, sync, packets, poll, notes.
fn cells(summary: Option<&Summary>) -> Vec<String> {
    match summary {
        None => vec!["-".into(); 7],
        Some(s) => vec![
            us(s.rms_offset_s),
            us(s.max_abs_offset_s),
            format!("{:.3} ppm", s.rms_freq_ppm),
            sync(s),
            format!("{:.0}", s.mean_packets_sent),
            format!("{:.0} s", s.mean_poll_s),
            extra(s),
        ],
    }
}

const HEADER: [&str; 9] = [
    "scenario",
    "RMS offset chronyd / gnomond",
    "ratio",
    "max offset",
    "RMS freq error",
    "sync",
    "packets sent",
    "mean poll",
    "notes",
];

/// Each cell holds chronyd's figure, then gnomond's.
fn table_cells(row: &Row) -> Vec<String> {
    let c = cells(row.chronyd.as_ref());
    let g = cells(row.gnomond.as_ref());
    let ratio = row
        .ratio()
        .map(|ratio| format!("{ratio:.2}"))
        .unwrap_or_else(|| "-".into());
    let pair = |index: usize| format!("{} / {}", c[index], g[index]);
    let notes = match (c[6].is_empty(), g[6].is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("gnomond {}", g[6]),
        (false, true) => format!("chronyd {}", c[6]),
        (false, false) => format!("chronyd {}; gnomond {}", c[6], g[6]),
    };
    vec![
        row.scenario.clone(),
        pair(0),
        ratio,
        pair(1),
        pair(2),
        pair(3),
        pair(4),
        pair(5),
        notes,
    ]
}

/// The table as aligned plain text.
pub fn text_table(rows: &[Row]) -> String {
    let mut lines: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    lines.extend(rows.iter().map(table_cells));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|column| {
            lines
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let padded: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                let pad = width - cell.chars().count();
                if column == 0 || column == HEADER.len() - 1 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The table in Markdown.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n", HEADER.join(" | "));
    out.push_str("|---|");
    out.push_str(&"---:|".repeat(HEADER.len() - 2));
    out.push_str("---|\n");
    for row in rows {
        out.push_str(&format!("| {} |\n", table_cells(row).join(" | ")));
    }
    out
}
