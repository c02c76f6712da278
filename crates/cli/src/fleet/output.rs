//! Renderings of the fleet view: the human table with its summary, `--json` (one
//! object; field names are a contract: add, never rename) and `--prometheus` (the text
//! exposition format, for node_exporter's textfile collector).
//!
//! Owns formatting only; the numbers come from [`super::view`]. Must not measure.

use super::view::{FleetView, HostRow, Status};
use serde::Serialize;
use std::fmt::Write as _;

/// Seconds in a short human unit: `83 µs`, `2.41 s`, `-12.3 ms`.
pub fn human_seconds(value_s: f64) -> String {
    if value_s == 0.0 {
        return "0 s".into();
    }
    let magnitude = value_s.abs();
    let (scaled, unit) = if magnitude >= 1.0 {
        (value_s, "s")
    } else if magnitude >= 1e-3 {
        (value_s * 1e3, "ms")
    } else if magnitude >= 1e-6 {
        (value_s * 1e6, "µs")
    } else {
        (value_s * 1e9, "ns")
    };
    let digits = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$} {unit}")
}

fn signed_human(value_s: f64) -> String {
    if value_s >= 0.0 {
        format!("+{}", human_seconds(value_s))
    } else {
        human_seconds(value_s)
    }
}

fn reference_column(row: &HostRow) -> String {
    match (&row.reference_id_text, &row.reference_host) {
        (Some(_), Some(host)) => host.clone(),
        (Some(text), None) => text.clone(),
        _ => "-".into(),
    }
}

fn flags(row: &HostRow) -> String {
    let mut flags = Vec::new();
    if let Some((code, _)) = &row.problem {
        flags.push(code.clone());
    }
    if row.outlier {
        flags.push("outlier".into());
    }
    if row.reference_differs {
        flags.push("other-reference".into());
    }
    if row.synchronized && row.status != Status::Ok {
        flags.push(row.status.name().into());
    }
    if flags.is_empty() {
        "ok".into()
    } else {
        flags.join(",")
    }
}

/// The table and the summary under it.
pub fn table(view: &FleetView, observer: &str) -> String {
    let mut out = String::new();
    let width = view
        .hosts
        .iter()
        .map(|row| row.label.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    let _ = writeln!(
        out,
        "{:<width$}  {:>11}  {:>11}  {:>10}  {:>9}  {:>2}  {:<16} {:<8} STATUS",
        "HOST", "VS MEDIAN", "OFFSET", "±BOUND", "RTT", "ST", "REFERENCE", "LEAP"
    );
    for row in &view.hosts {
        let cell = |value: Option<f64>, signed: bool| match value {
            Some(v) if signed => signed_human(v),
            Some(v) => human_seconds(v),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>11}  {:>11}  {:>10}  {:>9}  {:>2}  {:<16} {:<8} {}",
            row.label,
            cell(row.relative_offset_s, true),
            cell(row.offset_s, true),
            cell(row.error_bound_s, false),
            cell(row.delay_s, false),
            row.stratum
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            reference_column(row),
            row.leap.unwrap_or("-"),
            flags(row)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Hosts      : {} measured, {} usable, {} unsynchronised, {} unreachable or failed",
        view.hosts.len(),
        view.usable_hosts,
        view.unsynchronized().count(),
        view.hosts.len() - view.usable_hosts - view.unsynchronized().count()
    );
    if let (Some(median), Some(spread), Some(bound)) =
        (view.median_offset_s, view.spread_s, view.spread_bound_s)
    {
        let _ = writeln!(out, "Median     : {} vs {observer}", signed_human(median));
        let between = view
            .spread_between
            .as_ref()
            .map(|(high, low)| format!(" ({high} ahead of {low})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Spread     : {} (at most {} with error bounds){between}",
            human_seconds(spread),
            human_seconds(bound)
        );
    }
    let list = |rows: Vec<&HostRow>| -> String {
        if rows.is_empty() {
            "none".into()
        } else {
            rows.iter()
                .map(|row| row.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(out, "Outliers   : {}", list(view.outliers().collect()));
    let _ = writeln!(
        out,
        "Unsynced   : {}",
        list(view.unsynchronized().collect())
    );
    // Every host without a usable sample, with its reason (ssh's error line, the
    // resolver's message, ...): the flags column holds only the code.
    let failed: Vec<&HostRow> = view
        .hosts
        .iter()
        .filter(|row| row.problem.is_some())
        .collect();
    if failed.is_empty() {
        let _ = writeln!(out, "Failures   : none");
    } else {
        let _ = writeln!(out, "Failures   :");
        for row in failed {
            if let Some((code, message)) = &row.problem {
                let _ = writeln!(out, "  {}: {code}: {message}", row.label);
            }
        }
        if view
            .hosts
            .iter()
            .any(|row| matches!(&row.problem, Some((code, _)) if code == "refused"))
        {
            let _ = writeln!(
                out,
                "  (refused: the host serves no NTP to this machine; a client-only node \
                 has no `allow` line: measure it with --ssh REFERENCE, see gnomon fleet --help)"
            );
        }
    }
    if let Some(reference) = &view.majority_reference {
        // Show the reference as text, with its fleet name when it is one of the hosts.
        let shown = view
            .hosts
            .iter()
            .find(|row| row.reference_id.as_deref() == Some(reference.as_str()))
            .map(|row| match (&row.reference_id_text, &row.reference_host) {
                (Some(text), Some(host)) => format!("{text} ({host})"),
                (Some(text), None) => text.clone(),
                _ => reference.clone(),
            })
            .unwrap_or_else(|| reference.clone());
        let _ = writeln!(
            out,
            "Reference  : majority follows {shown}; others: {}",
            list(view.reference_differs().collect())
        );
    }
    let thresholds = match (
        view.effective_thresholds.warn_s,
        view.effective_thresholds.crit_s,
    ) {
        (None, None) => String::new(),
        (warn, crit) => format!(
            " (|vs median| warn > {}, crit > {}{})",
            warn.map(human_seconds).unwrap_or_else(|| "-".into()),
            crit.map(human_seconds).unwrap_or_else(|| "-".into()),
            if view.default_thresholds() {
                "; defaults"
            } else {
                ""
            }
        ),
    };
    let _ = writeln!(
        out,
        "Status     : {}{thresholds}",
        view.status.name().to_uppercase()
    );
    out
}

#[derive(Serialize)]
struct JsonHost<'a> {
    host: &'a str,
    address: Option<&'a str>,
    reachable: bool,
    synchronized: bool,
    status: &'static str,
    error: Option<JsonError<'a>>,
    offset_s: Option<f64>,
    relative_offset_s: Option<f64>,
    error_bound_s: Option<f64>,
    delay_s: Option<f64>,
    stratum: Option<u8>,
    reference_id: Option<&'a str>,
    reference_id_text: Option<&'a str>,
    reference_host: Option<&'a str>,
    leap: Option<&'static str>,
    outlier: bool,
    reference_differs: bool,
    requests_sent: u32,
    usable_samples: u32,
}

#[derive(Serialize)]
struct JsonError<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonFleet<'a> {
    status: &'static str,
    exit_code: i32,
    hosts_total: usize,
    hosts_usable: usize,
    median_offset_s: Option<f64>,
    spread_s: Option<f64>,
    spread_bound_s: Option<f64>,
    warn_s: Option<f64>,
    crit_s: Option<f64>,
    thresholds_default: bool,
    majority_reference_id: Option<&'a str>,
    outliers: Vec<&'a str>,
    unsynchronized: Vec<&'a str>,
    unreachable: Vec<&'a str>,
    reference_differs: Vec<&'a str>,
    hosts: Vec<JsonHost<'a>>,
}

/// The `--json` document.
pub fn json(view: &FleetView) -> String {
    fn labels<'a>(rows: impl Iterator<Item = &'a HostRow>) -> Vec<&'a str> {
        rows.map(|row| row.label.as_str()).collect()
    }
    let document = JsonFleet {
        status: view.status.name(),
        exit_code: view.status.exit_code(),
        hosts_total: view.hosts.len(),
        hosts_usable: view.usable_hosts,
        median_offset_s: view.median_offset_s,
        spread_s: view.spread_s,
        spread_bound_s: view.spread_bound_s,
        warn_s: view.effective_thresholds.warn_s,
        crit_s: view.effective_thresholds.crit_s,
        thresholds_default: view.default_thresholds(),
        majority_reference_id: view.majority_reference.as_deref(),
        outliers: labels(view.outliers()),
        unsynchronized: labels(view.unsynchronized()),
        unreachable: labels(view.unreachable()),
        reference_differs: labels(view.reference_differs()),
        hosts: view
            .hosts
            .iter()
            .map(|row| JsonHost {
                host: &row.label,
                address: row.address.as_deref(),
                reachable: row.reachable,
                synchronized: row.synchronized,
                status: row.status.name(),
                error: row
                    .problem
                    .as_ref()
                    .map(|(code, message)| JsonError { code, message }),
                offset_s: row.offset_s,
                relative_offset_s: row.relative_offset_s,
                error_bound_s: row.error_bound_s,
                delay_s: row.delay_s,
                stratum: row.stratum,
                reference_id: row.reference_id.as_deref(),
                reference_id_text: row.reference_id_text.as_deref(),
                reference_host: row.reference_host.as_deref(),
                leap: row.leap,
                outlier: row.outlier,
                reference_differs: row.reference_differs,
                requests_sent: row.requests_sent,
                usable_samples: row.usable_samples,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&document).expect("serialisable")
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition format (node_exporter textfile collector).
pub fn prometheus(view: &FleetView) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, values: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in values {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per_host = |value: &dyn Fn(&HostRow) -> Option<f64>| -> Vec<(String, f64)> {
        view.hosts
            .iter()
            .filter_map(|row| {
                value(row).map(|v| {
                    (
                        format!(
                            "{{host=\"{}\",address=\"{}\"}}",
                            label(&row.label),
                            label(row.address.as_deref().unwrap_or(""))
                        ),
                        v,
                    )
                })
            })
            .collect()
    };
    let flag = |value: bool| if value { 1.0 } else { 0.0 };
    family(
        "gnomon_fleet_host_offset_seconds",
        "Host clock minus the observer's clock (best sample).",
        per_host(&|row| row.offset_s),
    );
    family(
        "gnomon_fleet_host_relative_offset_seconds",
        "Host offset minus the fleet median offset.",
        per_host(&|row| row.relative_offset_s),
    );
    family(
        "gnomon_fleet_host_error_bound_seconds",
        "True offset lies within offset plus or minus this bound.",
        per_host(&|row| row.error_bound_s),
    );
    family(
        "gnomon_fleet_host_rtt_seconds",
        "Round-trip delay of the best sample.",
        per_host(&|row| row.delay_s),
    );
    family(
        "gnomon_fleet_host_stratum",
        "NTP stratum the host reported.",
        per_host(&|row| row.stratum.map(f64::from)),
    );
    family(
        "gnomon_fleet_host_reachable",
        "1 when the host answered.",
        per_host(&|row| Some(flag(row.reachable))),
    );
    family(
        "gnomon_fleet_host_synchronized",
        "1 when the host gave a usable synchronised sample.",
        per_host(&|row| Some(flag(row.synchronized))),
    );
    family(
        "gnomon_fleet_host_outlier",
        "1 when the host is an outlier from the fleet median.",
        per_host(&|row| Some(flag(row.outlier))),
    );
    let fleet = |value: Option<f64>| {
        value
            .map(|v| (String::new(), v))
            .into_iter()
            .collect::<Vec<_>>()
    };
    family(
        "gnomon_fleet_spread_seconds",
        "Largest minus smallest usable host offset.",
        fleet(view.spread_s),
    );
    family(
        "gnomon_fleet_spread_bound_seconds",
        "Upper bound of the true spread (spread plus both extremes' error bounds).",
        fleet(view.spread_bound_s),
    );
    family(
        "gnomon_fleet_hosts",
        "Hosts measured.",
        fleet(Some(view.hosts.len() as f64)),
    );
    family(
        "gnomon_fleet_hosts_usable",
        "Hosts with a usable synchronised sample.",
        fleet(Some(view.usable_hosts as f64)),
    );
    family(
        "gnomon_fleet_status",
        "0 ok, 1 warn, 2 crit, 3 unknown (the exit code).",
        fleet(Some(f64::from(view.status.exit_code()))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_seconds(2.41), "2.41 s");
        assert_eq!(human_seconds(0.000083), "83.0 µs");
        assert_eq!(human_seconds(-0.0123), "-12.3 ms");
        assert_eq!(signed_human(0.5), "+500 ms");
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
