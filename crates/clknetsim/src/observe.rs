//! Reading the daemon under test's own views mid-run: observer nodes.
//!
//! An observer is one short-lived process on a node of its own (clknetsim runs one
//! process per node), started behind the same wrappers as every simulated process
//! (`run.rs`) and released by clknetsim at its `nodeM_start` time: `gnomon sources
//! --json` or `gnomon tracking --json` against gnomond's control socket
//! `/clknetsim/unix/N:1`, or `chronyc -n sources` against chronyd's, over clknetsim's
//! Unix subnet (subnet 2). Its delays to and from every node are constants, so its
//! packets draw nothing from the simulation's random numbers.
//!
//! This module owns the observers' nodes in clknetsim's configuration, their command
//! lines, the parsing of what they printed into [`Reading`]s, and the judgements made
//! from readings: whether a source was ever selected or combined, and whether the
//! tracking view's error bound held the true offset (clknetsim's log.offset).

use serde::Serialize;
use serde_json::Value;

use crate::scenario::{Daemon, Observer, Scenario, View};

/// clknetsim's subnet for Unix sockets (`CLKNETSIM_UNIX_SUBNET`); subnet 1 is NTP.
pub const UNIX_SUBNET: usize = 2;

/// chronyd's `bindcmdaddress` under the simulator (clknetsim.bash's): the path is only
/// a name, the socket is `/clknetsim/unix/N:1` as its first Unix bind.
pub const CHRONYD_SOCKET: &str = "/clknetsim/unix/chronyd.sock";

/// Delay between an observer and any node, both ways: a constant expression.
const OBSERVER_DELAY: &str = "(+ 1e-4 0)";

/// The simulated path of the first Unix socket bound on node `number`.
pub fn socket_path(number: usize) -> String {
    format!("/clknetsim/unix/{number}:1")
}

/// One observer of a run: its node number, when it reads and what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    pub node: usize,
    pub at_s: f64,
    pub view: View,
}

/// The observers of one run of `limit_s` seconds with `daemon` under test, numbered
/// after the scenario's nodes. A reading at or after the end is left out, as is a view
/// the daemon has no reader for (chronyd's tracking: chronyc reports no error bound).
pub fn plan(scenario: &Scenario, daemon: Daemon, limit_s: f64) -> Vec<Planned> {
    let mut out = Vec::new();
    for observer in &scenario.observers {
        let Observer { view, at_s } = *observer;
        let at_s = if at_s < 0.0 { limit_s + at_s } else { at_s };
        if at_s <= 0.0 || at_s >= limit_s || (daemon == Daemon::Chronyd && view == View::Tracking) {
            continue;
        }
        out.push(Planned {
            node: scenario.nodes.len() + out.len() + 1,
            at_s,
            view,
        });
    }
    out
}

/// clknetsim configuration lines for the observers of a run with `nodes` nodes in all.
pub fn conf_lines(planned: &[Planned], nodes: usize) -> String {
    let mut conf = String::new();
    for observer in planned {
        let m = observer.node;
        conf.push_str(&format!("node{m}_start = {}\n", observer.at_s));
        for other in (1..=nodes).filter(|&other| other != m) {
            conf.push_str(&format!("node{m}_delay{other} = {OBSERVER_DELAY}\n"));
            conf.push_str(&format!("node{other}_delay{m} = {OBSERVER_DELAY}\n"));
        }
    }
    conf
}

/// The observer's arguments after its program (gnomon or chronyc).
pub fn args(daemon: Daemon, view: View, target: usize) -> Vec<String> {
    let socket = socket_path(target);
    match (daemon, view) {
        (Daemon::Gnomond, View::Sources) => vec!["sources".into(), "--json".into()],
        (Daemon::Gnomond, View::Tracking) => vec!["tracking".into(), "--json".into()],
        (Daemon::Chronyd, _) => return vec!["-h".into(), socket, "-n".into(), "sources".into()],
    }
    .into_iter()
    .chain(["--socket".to_string(), socket])
    .collect()
}

/// One source in a sources reading.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceState {
    pub address: String,
    /// chronyc's symbol: `*` selected, `+` combined, `-`, `x` falseticker, `~`, `?`.
    pub state: String,
}

/// A tracking reading, with clknetsim's true offset of the node at the seconds around it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackingReading {
    pub synchronized: bool,
    /// The daemon's estimate of how far its clock is fast.
    pub system_time_offset_s: f64,
    /// The daemon's bound: true time is within the clock's reading ± this.
    pub error_bound_s: Option<f64>,
    /// clknetsim's true offset (clock minus true time) at the simulated seconds just
    /// before and just after the reading.
    pub true_offset_s: [f64; 2],
}

impl TrackingReading {
    /// The bound held the true offset on both sides of the reading.
    pub fn bound_holds(&self) -> bool {
        self.synchronized
            && self
                .error_bound_s
                .is_some_and(|bound| self.true_offset_s.iter().all(|o| o.abs() <= bound))
    }
}

/// What one observer read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reading {
    pub at_s: f64,
    pub view: View,
    pub sources: Vec<SourceState>,
    pub tracking: Option<TrackingReading>,
}

/// Parse what an observer printed. `offsets` is the node's per-second true offset
/// (log.offset; line k is simulated second k + 1).
pub fn parse(
    daemon: Daemon,
    planned: &Planned,
    stdout: &str,
    offsets: &[f64],
) -> Result<Reading, String> {
    let mut reading = Reading {
        at_s: planned.at_s,
        view: planned.view,
        sources: Vec::new(),
        tracking: None,
    };
    match (daemon, planned.view) {
        (Daemon::Chronyd, _) => reading.sources = parse_chronyc_sources(stdout)?,
        (Daemon::Gnomond, View::Sources) => {
            let value: Value = serde_json::from_str(stdout)
                .map_err(|e| format!("gnomon sources --json printed no JSON ({e}): {stdout:?}"))?;
            let rows = value
                .as_array()
                .ok_or_else(|| format!("gnomon sources --json: not an array: {stdout:?}"))?;
            for row in rows {
                let field = |name: &str| {
                    row.get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| format!("gnomon sources --json: a row without {name}"))
                };
                reading.sources.push(SourceState {
                    address: field("address")?,
                    state: field("state")?,
                });
            }
        }
        (Daemon::Gnomond, View::Tracking) => {
            let value: Value = serde_json::from_str(stdout)
                .map_err(|e| format!("gnomon tracking --json printed no JSON ({e}): {stdout:?}"))?;
            let second = planned.at_s.floor() as usize;
            let true_at = |second: usize| {
                second
                    .checked_sub(1)
                    .and_then(|line| offsets.get(line).copied())
                    .ok_or_else(|| format!("no true offset logged at {second} s"))
            };
            reading.tracking = Some(TrackingReading {
                synchronized: value["synchronized"]
                    .as_bool()
                    .ok_or("gnomon tracking --json: no synchronized")?,
                system_time_offset_s: value["system_time_offset_s"]
                    .as_f64()
                    .ok_or("gnomon tracking --json: no system_time_offset_s")?,
                error_bound_s: value["error_bound_s"].as_f64(),
                true_offset_s: [true_at(second)?, true_at(second + 1)?],
            });
        }
    }
    Ok(reading)
}

/// chronyc `-n sources`: a line per source, `^*  ADDRESS  …` (mode, state, address).
fn parse_chronyc_sources(text: &str) -> Result<Vec<SourceState>, String> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let mut chars = line.chars();
        let (Some(mode), Some(state)) = (chars.next(), chars.next()) else {
            continue;
        };
        if !matches!(mode, '^' | '=' | '#') || !"*+-x~?".contains(state) {
            continue;
        }
        let address = line[2..]
            .split_whitespace()
            .next()
            .ok_or_else(|| format!("chronyc sources: no address in {line:?}"))?;
        sources.push(SourceState {
            address: address.to_string(),
            state: state.to_string(),
        });
    }
    if sources.is_empty() {
        return Err(format!("chronyc sources printed no source: {text:?}"));
    }
    Ok(sources)
}

/// Whether any sources reading shows `address` selected (`*`) or combined (`+`);
/// `None` without sources readings.
pub fn seen_selected(readings: &[Reading], address: &str) -> Option<bool> {
    let mut any = false;
    let mut selected = false;
    for reading in readings.iter().filter(|r| r.view == View::Sources) {
        any = true;
        selected |= reading
            .sources
            .iter()
            .any(|s| s.address == address && (s.state == "*" || s.state == "+"));
    }
    any.then_some(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(at_s: f64, states: &[(&str, &str)]) -> Reading {
        Reading {
            at_s,
            view: View::Sources,
            sources: states
                .iter()
                .map(|(address, state)| SourceState {
                    address: address.to_string(),
                    state: state.to_string(),
                })
                .collect(),
            tracking: None,
        }
    }

    #[test]
    fn a_source_is_seen_selected_when_any_reading_says_star_or_plus() {
        let readings = [
            sources(600.0, &[("10.0.0.1", "*"), ("10.0.0.3", "x")]),
            sources(3000.0, &[("10.0.0.1", "*"), ("10.0.0.3", "+")]),
        ];
        assert_eq!(seen_selected(&readings, "10.0.0.1"), Some(true));
        assert_eq!(seen_selected(&readings, "10.0.0.3"), Some(true));
        assert_eq!(seen_selected(&readings[..1], "10.0.0.3"), Some(false));
        assert_eq!(seen_selected(&[], "10.0.0.3"), None);
    }

    #[test]
    fn chronyc_sources_lines_are_parsed() {
        let text = "MS Name/IP address         Stratum Poll Reach LastRx Last sample\n\
                    ===============================================================================\n\
                    ^* 192.168.123.1                 1   6   377    20    -12us[  -13us] +/-  140us\n\
                    ^x 192.168.123.3                 1   6   377    21  +5003us[+5003us] +/-  141us\n";
        let parsed = parse_chronyc_sources(text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].address, "192.168.123.3");
        assert_eq!(parsed[1].state, "x");
        assert!(parse_chronyc_sources("506 Cannot talk to daemon\n").is_err());
    }

    #[test]
    fn the_bound_must_hold_on_both_sides_and_only_when_synchronised() {
        let mut reading = TrackingReading {
            synchronized: true,
            system_time_offset_s: 0.0,
            error_bound_s: Some(1e-4),
            true_offset_s: [5e-5, -9e-5],
        };
        assert!(reading.bound_holds());
        reading.true_offset_s[1] = -1.1e-4;
        assert!(!reading.bound_holds());
        reading.true_offset_s[1] = 0.0;
        reading.synchronized = false;
        assert!(!reading.bound_holds());
        reading.synchronized = true;
        reading.error_bound_s = None;
        assert!(!reading.bound_holds());
    }

    #[test]
    fn gnomon_tracking_json_is_read_with_the_true_offset_around_it() {
        let planned = Planned {
            node: 5,
            at_s: 3.0,
            view: View::Tracking,
        };
        let json = r#"{"synchronized":true,"system_time_offset_s":1e-6,"error_bound_s":2e-4}"#;
        let reading = parse(Daemon::Gnomond, &planned, json, &[0.1, 0.2, 0.3, 0.4]).unwrap();
        let tracking = reading.tracking.unwrap();
        assert_eq!(tracking.true_offset_s, [0.3, 0.4]);
        assert_eq!(tracking.error_bound_s, Some(2e-4));
        assert!(parse(Daemon::Gnomond, &planned, "", &[]).is_err());
    }
}
