//! What one run measured: clknetsim's statistics of the measured node (RMS and max
//! true offset and RMS frequency error, collected from `stats_start_s` on), its
//! per-second true offset and frequency error (log.offset, log.freq), its NTP packets
//! (log.packets, subnet 1), and what observer nodes read of its own views mid-run
//! (`observe.rs`), with the verdicts drawn from them.
//!
//! Sync time is chrony's test.common `find_sync` without smoothing (as check_sync
//! calls it): the second after the last logged second at which |true offset| exceeds
//! the scenario's `sync_offset_s` or |frequency error| exceeds `sync_freq`; a run whose
//! last second is still outside has no sync time (never synchronised).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::observe::{self, Planned, Reading};
use crate::run::RunSpec;
use crate::scenario::{Daemon, Scenario, View};

/// The measured node of one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunResult {
    pub scenario: String,
    pub daemon: Daemon,
    pub seed: u32,
    pub limit_s: f64,
    pub rms_offset_s: f64,
    pub max_abs_offset_s: f64,
    pub rms_freq_ppm: f64,
    pub max_abs_freq_ppm: f64,
    /// `None`: still outside the sync limits at the end.
    pub sync_time_s: Option<f64>,
    /// NTP packets the node sent over the whole run.
    pub packets_sent: u64,
    /// clknetsim's mean outgoing packet interval (over the whole run: `-r` resets only
    /// the clock statistics); where the node also answered observers, the mean interval
    /// of its NTP packets in the packet log instead (clknetsim counts the replies too).
    pub mean_poll_s: f64,
    /// Whether the scenario's falseticker was seen selected or combined in the daemon's
    /// own view: in any sources reading (`*` or `+`; gnomond's, and chronyd's through
    /// chronyc), or in chronyd's log ("Selected source"); `None` where there is none.
    pub falseticker_selected: Option<bool>,
    /// The second check, by the clock alone: the true offset after sync exceeded a
    /// fifth of the falseticker's error (combining it with weight 1/3 would move the
    /// clock by a third), or the run never synchronised.
    pub falseticker_by_offset: Option<bool>,
    /// What the observers read, in the order they read it.
    pub readings: Vec<Reading>,
    /// chrony's pass criteria, where the scenario has them.
    pub passed_criteria: Option<bool>,
    /// Replies the measured node dropped (gnomond's debug log: "reply dropped"); `None`
    /// for chronyd, which does not log them.
    pub dropped_replies: Option<u64>,
    /// Per-second true offset of the measured node (seconds), when asked for.
    #[serde(skip)]
    pub trace_offset_s: Option<Vec<f32>>,
}

/// Statistics of every node, from clknetsim's output: node → key → value.
pub fn parse_stats(text: &str) -> Result<BTreeMap<usize, BTreeMap<String, f64>>, String> {
    let mut nodes: BTreeMap<usize, BTreeMap<String, f64>> = BTreeMap::new();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('-') {
            let rest = rest.trim_matches('-').trim();
            if let Some(number) = rest.strip_prefix("Node ") {
                // "Node N" or "Node N - clock M": only the main clock counts.
                let mut words = number.split_whitespace();
                let node = words.next().and_then(|word| word.parse().ok());
                current = if words.next().is_none() { node } else { None };
            }
            continue;
        }
        let (Some(node), Some((key, value))) = (current, line.split_once(':')) else {
            continue;
        };
        let value = value.trim();
        let value = if value == "inf" {
            f64::INFINITY
        } else {
            value
                .parse()
                .map_err(|_| format!("bad statistic {key:?}: {value:?}"))?
        };
        nodes
            .entry(node)
            .or_default()
            .insert(key.trim().to_string(), value);
    }
    if nodes.is_empty() {
        return Err("clknetsim printed no statistics".into());
    }
    Ok(nodes)
}

/// One column (node, from 1) of a per-second log.
pub fn parse_column(text: &str, node: usize) -> Result<Vec<f64>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let field = line
                .split_whitespace()
                .nth(node - 1)
                .ok_or_else(|| format!("log line without node {node}: {line:?}"))?;
            field
                .parse()
                .map_err(|_| format!("bad log value {field:?}"))
        })
        .collect()
}

/// chrony's find_sync with a smoothing factor of 1: seconds until the log stays within
/// both limits, `None` if it is outside at the end.
pub fn sync_time_s(
    offset_s: &[f64],
    freq: &[f64],
    max_offset_s: f64,
    max_freq: f64,
) -> Option<f64> {
    let last_outside = offset_s
        .iter()
        .zip(freq)
        .rposition(|(offset, freq)| offset.abs() > max_offset_s || freq.abs() > max_freq);
    match last_outside {
        None => Some(0.0),
        Some(index) if index + 1 >= offset_s.len().min(freq.len()) => None,
        Some(index) => Some((index + 1) as f64),
    }
}

/// The send times of packets from `node` on `subnet` in clknetsim's packet log
/// (time, from, to, delay, ports, subnet, …).
fn send_times(text: &str, node: usize, subnet: usize) -> impl Iterator<Item = f64> + '_ {
    let node = node.to_string();
    let subnet = subnet.to_string();
    text.lines().filter_map(move |line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&node.as_str()) && fields.get(6) == Some(&subnet.as_str()))
            .then(|| fields[0].parse().ok())
            .flatten()
    })
}

/// NTP packets (subnet 1) sent by `node` in clknetsim's packet log.
pub fn packets_sent(text: &str, node: usize) -> u64 {
    send_times(text, node, 1).count() as u64
}

/// Mean interval of `node`'s NTP packets (the packet log's times have six digits).
fn mean_ntp_interval_s(text: &str, node: usize) -> f64 {
    let times: Vec<f64> = send_times(text, node, 1).collect();
    match (times.first(), times.last()) {
        (Some(first), Some(last)) if times.len() > 1 => (last - first) / (times.len() - 1) as f64,
        _ => f64::INFINITY,
    }
}

fn stat(stats: &BTreeMap<String, f64>, key: &str) -> Result<f64, String> {
    stats
        .get(key)
        .copied()
        .ok_or_else(|| format!("clknetsim statistic {key:?} missing"))
}

fn read(dir: &Path, name: &str) -> Result<String, String> {
    fs::read_to_string(dir.join(name)).map_err(|e| format!("cannot read {name}: {e}"))
}

/// Did a node log that it selected `address`? (chronyd: "Selected source ADDR".)
fn log_selects(log: &str, address: &str) -> bool {
    log.lines().any(|line| {
        line.contains("Selected source")
            && line
                .split_whitespace()
                .any(|word| word.trim_matches(|c: char| !c.is_ascii_digit() && c != '.') == address)
    })
}

/// Analyse the files of a finished run in `dir`; `outputs` are what the `observers`
/// printed.
pub fn analyse(
    spec: &RunSpec<'_>,
    dir: &Path,
    observers: &[Planned],
    outputs: &[String],
) -> Result<RunResult, String> {
    let scenario: &Scenario = spec.scenario;
    let node = scenario.measured;
    let all_stats = parse_stats(&read(dir, "stats")?)?;
    let stats = all_stats
        .get(&node)
        .ok_or_else(|| format!("no statistics for node {node}"))?;
    let offsets = parse_column(&read(dir, "log.offset")?, node)?;
    let freqs = parse_column(&read(dir, "log.freq")?, node)?;
    if (offsets.len() as f64) < spec.limit_s * 0.99 {
        return Err(format!(
            "the simulation stopped early: {} of {} s logged",
            offsets.len(),
            spec.limit_s
        ));
    }
    let packets = read(dir, "log.packets")?;
    // A node whose daemon died early (or never started, with only the preload's
    // constructor connecting) leaves a free-running clock: that is no measurement.
    for number in 1..=scenario.nodes.len() {
        if packets_sent(&packets, number) == 0 {
            return Err(format!(
                "node {number} sent no packets: did its daemon start and keep running?"
            ));
        }
    }
    let sync = sync_time_s(&offsets, &freqs, scenario.sync_offset_s, scenario.sync_freq);
    let rms_offset_s = stat(stats, "RMS offset")?;
    let max_abs_offset_s = stat(stats, "Maximum absolute offset")?;
    let rms_freq = stat(stats, "RMS frequency")?;
    let max_abs_freq = stat(stats, "Maximum absolute frequency")?;

    let log = fs::read_to_string(dir.join(format!("node{node}")).join("log")).unwrap_or_default();
    let dropped_replies = (spec.daemon == Daemon::Gnomond).then(|| {
        log.lines()
            .filter(|line| line.contains("reply dropped"))
            .count() as u64
    });
    let readings = observers
        .iter()
        .zip(outputs)
        .map(|(observer, output)| observe::parse(spec.daemon, observer, output, &offsets))
        .collect::<Result<Vec<Reading>, String>>()?;
    let falseticker_selected = match &scenario.falseticker {
        None => None,
        Some(address) => {
            for reading in readings.iter().filter(|r| r.view == View::Sources) {
                if !reading.sources.iter().any(|s| &s.address == address) {
                    return Err(format!(
                        "the sources view at {} s does not list the falseticker {address}",
                        reading.at_s
                    ));
                }
            }
            let by_view = observe::seen_selected(&readings, address);
            let by_log = log_selects(&log, address);
            Some(by_log || by_view == Some(true))
        }
    };
    let falseticker_by_offset = scenario.falseticker.as_ref().map(|_| {
        let falseticker_error_s = scenario
            .nodes
            .iter()
            .map(|n| n.offset_s.abs())
            .fold(0.0, f64::max);
        let after_sync = sync.unwrap_or(offsets.len() as f64) as usize;
        let worst_after_sync_s = offsets
            .iter()
            .skip(after_sync)
            .fold(0.0f64, |worst, offset| worst.max(offset.abs()));
        sync.is_none() || worst_after_sync_s >= falseticker_error_s / 5.0
    });
    let answered_observers = send_times(&packets, node, observe::UNIX_SUBNET).count() > 0;
    let mean_poll_s = if answered_observers {
        mean_ntp_interval_s(&packets, node)
    } else {
        stat(stats, "Mean outgoing packet interval")?
    };
    let passed_criteria = scenario.criteria.map(|c| {
        let sync_ok = sync.is_some_and(|s| s >= c.min_sync_s && s <= c.max_sync_s);
        sync_ok
            && max_abs_offset_s <= c.max_offset_s
            && max_abs_freq <= c.max_freq
            && rms_offset_s <= c.rms_offset_s
            && rms_freq <= c.rms_freq
    });
    Ok(RunResult {
        scenario: scenario.name.clone(),
        daemon: spec.daemon,
        seed: spec.seed,
        limit_s: spec.limit_s,
        rms_offset_s,
        max_abs_offset_s,
        rms_freq_ppm: rms_freq * 1e6,
        max_abs_freq_ppm: max_abs_freq * 1e6,
        sync_time_s: sync,
        packets_sent: packets_sent(&packets, node),
        mean_poll_s,
        falseticker_selected,
        falseticker_by_offset,
        readings,
        passed_criteria,
        dropped_replies,
        trace_offset_s: spec
            .keep_trace
            .then(|| offsets.iter().map(|&offset| offset as f32).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_time_is_the_second_after_the_last_one_outside() {
        let offsets = [0.1, 0.01, 0.0005, 0.002, 0.0001, 0.0001];
        let freqs = [0.0; 6];
        assert_eq!(sync_time_s(&offsets, &freqs, 1e-3, 5e-4), Some(4.0));
        assert_eq!(sync_time_s(&[0.0, 0.1], &[0.0, 0.0], 1e-3, 5e-4), None);
        assert_eq!(sync_time_s(&[0.0, 0.0], &[0.0, 0.0], 1e-3, 5e-4), Some(0.0));
        let freqs = [0.0, 0.0, 0.0, 0.0, 1e-3, 0.0];
        assert_eq!(sync_time_s(&offsets, &freqs, 1e-3, 5e-4), Some(5.0));
    }

    #[test]
    fn stats_of_each_node_are_parsed() {
        let text = "\n---------------------- Node 1 ----------------------\n\n\
                    RMS offset:                            \t0.000000e+00\n\
                    Mean incoming packet interval:         \tinf\n\
                    \n---------------------- Node 2 ----------------------\n\n\
                    RMS offset:                            \t3.052897e-05\n";
        let stats = parse_stats(text).unwrap();
        assert_eq!(stats[&1]["RMS offset"], 0.0);
        assert!(stats[&1]["Mean incoming packet interval"].is_infinite());
        assert_eq!(stats[&2]["RMS offset"], 3.052897e-05);
    }

    #[test]
    fn ntp_packets_are_counted_by_sender() {
        let log = "1.9e-06\t2\t1\t1.1e-04\t60000\t123\t1\t48\t1\n\
                   1.1e-04\t1\t2\t1.0e-04\t123\t60000\t1\t48\t1\n\
                   3.0e+01\t2\t3\t1.0e-04\t1\t1\t2\t900\t1\n\
                   6.4e+01\t2\t1\t1.0e-04\t60000\t123\t1\t48\t1\n";
        assert_eq!(packets_sent(log, 2), 2);
        assert_eq!(packets_sent(log, 1), 1);
        assert_eq!(mean_ntp_interval_s(log, 2), 64.0 - 1.9e-6);
        assert!(mean_ntp_interval_s(log, 1).is_infinite());
    }

    #[test]
    fn chronyd_selection_lines_are_recognised() {
        let log = "2010-01-01T00:00:03Z Selected source 192.168.123.1\n";
        assert!(log_selects(log, "192.168.123.1"));
        assert!(!log_selects(log, "192.168.123.3"));
        assert!(!log_selects(
            "Selected source 192.168.123.33",
            "192.168.123.3"
        ));
    }
}
