//! Scenario files: what a simulation run consists of, as read from `sims/*.toml`.
//!
//! Owns the TOML schema (serde types with defaults), loading from a file or a string
//! and the consistency checks (every source names a known server or node, nodes that
//! serve others come before their clients are resolved, values are finite). It must
//! not run anything or hold simulation state.
//!
//! Units are in the names: `_s` seconds, `_ppm` parts per million, `_ppb_per_s`
//! frequency random walk in parts per billion per √second (the standard deviation of
//! the frequency change over one second).

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One simulation: reference servers, simulated gnomon nodes and the links between them.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Length of the run (true time).
    pub duration_s: f64,
    /// True time at the start, Unix seconds.
    #[serde(default = "default_start_unix_s")]
    pub start_unix_s: i64,
    /// How often every measured clock's true error is recorded.
    #[serde(default = "default_sample_interval_s")]
    pub sample_interval_s: f64,
    /// Statistics "after convergence" cover samples from this time on (default: a
    /// quarter of the run).
    pub settle_s: Option<f64>,
    /// A leap second at the end of the UTC day that contains this Unix time: the
    /// reference timescale inserts (or deletes) one second at that midnight.
    #[serde(default)]
    pub leap: Option<LeapEvent>,
    #[serde(default)]
    pub servers: Vec<ServerSpec>,
    pub nodes: Vec<NodeSpec>,
}

fn default_start_unix_s() -> i64 {
    // 2026-01-01T00:00:00Z: far from any leap second unless a scenario asks for one.
    1_767_225_600
}

fn default_sample_interval_s() -> f64 {
    1.0
}

/// A leap second in the reference timescale.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LeapEvent {
    /// Unix seconds of the midnight ending the day of the leap second.
    pub midnight_unix_s: i64,
    #[serde(default)]
    pub delete: bool,
}

/// What a static (non-gnomon) server does.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServerKind {
    /// Serves its clock (perfect unless `clock` says otherwise), stratum `stratum`.
    Truechimer,
    /// Serves true time plus `offset_s`.
    Falseticker,
    /// Answers with leap indicator 3 (not synchronised).
    Unsynchronized,
    /// Answers every request with a kiss-o'-death (`kiss_code`).
    Kod,
}

/// A static server: a reference whose behaviour is scripted, not computed by an engine.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub name: String,
    pub kind: ServerKind,
    #[serde(default)]
    pub offset_s: f64,
    #[serde(default = "default_stratum")]
    pub stratum: u8,
    /// Announce the scenario's leap second (leap indicator 1 or 2) until it happens.
    #[serde(default)]
    pub announce_leap: bool,
    /// For `kind = "kod"`: "RATE", "DENY", "RSTR"...
    #[serde(default)]
    pub kiss_code: Option<String>,
    /// Root dispersion announced (seconds).
    #[serde(default = "default_root_dispersion_s")]
    pub root_dispersion_s: f64,
    /// The server's own imperfect clock (a truechimer with wander, steps...).
    #[serde(default)]
    pub clock: Option<ClockSpec>,
    /// Stop answering during these windows of true time since the start: `[[from, to]]`.
    #[serde(default)]
    pub silent: Vec<[f64; 2]>,
}

fn default_stratum() -> u8 {
    1
}

fn default_root_dispersion_s() -> f64 {
    1e-6
}

/// A virtual clock's imperfections.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// Clock minus true time at the start.
    #[serde(default)]
    pub offset_s: f64,
    /// Per-instance initial offset drawn uniformly from ±this (multi-client scenarios).
    #[serde(default)]
    pub offset_spread_s: f64,
    /// Intrinsic frequency error (positive: the clock runs fast).
    #[serde(default)]
    pub frequency_ppm: f64,
    /// Per-instance frequency error drawn uniformly from ±this, added to `frequency_ppm`.
    #[serde(default)]
    pub frequency_spread_ppm: f64,
    /// Random walk of the frequency: standard deviation of its change per second.
    #[serde(default)]
    pub wander_ppb_per_s: f64,
    /// Steps of the clock that nobody asked for (a VM migration, an admin's `date -s`).
    #[serde(default)]
    pub steps: Vec<ScheduledStep>,
}

/// A step of `offset_s` at `at_s` seconds of true time after the start.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduledStep {
    pub at_s: f64,
    pub offset_s: f64,
}

/// Shape of the random part of a one-way delay.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JitterKind {
    /// Exponential with mean `jitter_s` (clknetsim's model of queueing).
    #[default]
    Exponential,
    /// |normal| with standard deviation `jitter_s` (half-normal: delays only grow).
    Normal,
    /// Uniform in [0, 2·jitter_s).
    Uniform,
}

/// A path between a client node and one of its servers (both directions).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Fixed one-way delay in each direction before asymmetry.
    #[serde(default = "default_delay_s")]
    pub delay_s: f64,
    /// Random extra delay per packet per direction.
    #[serde(default)]
    pub jitter_s: f64,
    #[serde(default)]
    pub jitter: JitterKind,
    /// Extra delay client → server (negative: server → client).
    #[serde(default)]
    pub asymmetry_s: f64,
    /// Probability that a packet is lost, per direction.
    #[serde(default)]
    pub loss: f64,
    /// Windows of true time since the start when every packet is lost: `[[from, to]]`.
    #[serde(default)]
    pub outages: Vec<[f64; 2]>,
}

fn default_delay_s() -> f64 {
    50e-6
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            delay_s: default_delay_s(),
            jitter_s: 0.0,
            jitter: JitterKind::Exponential,
            asymmetry_s: 0.0,
            loss: 0.0,
            outages: Vec::new(),
        }
    }
}

/// One `server` directive of a node: which upstream, with chrony's source options.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A server's or a node's name.
    pub upstream: String,
    #[serde(default = "default_minpoll")]
    pub minpoll: i8,
    #[serde(default = "default_maxpoll")]
    pub maxpoll: i8,
    #[serde(default)]
    pub iburst: bool,
    #[serde(default)]
    pub prefer: bool,
    #[serde(default)]
    pub burst: bool,
    #[serde(default)]
    pub noselect: bool,
    #[serde(default)]
    pub trust: bool,
    /// chrony's `polltarget`, `minsamples`, `maxsamples`, `maxdelay` (engine defaults
    /// when absent).
    #[serde(default)]
    pub polltarget: Option<u32>,
    #[serde(default)]
    pub minsamples: Option<usize>,
    #[serde(default)]
    pub maxsamples: Option<usize>,
    #[serde(default)]
    pub maxdelay_s: Option<f64>,
    /// gnomond's `estimator` (`crossvalidated`, the default, `runstest`: chrony's
    /// method, or `kalman`: a Kalman filter), to compare them on the same samples.
    #[serde(default)]
    pub estimator: Option<String>,
    #[serde(default)]
    pub network: NetworkSpec,
}

fn default_minpoll() -> i8 {
    gnomon_core::source_options::DEFAULT_MINPOLL
}

fn default_maxpoll() -> i8 {
    gnomon_core::source_options::DEFAULT_MAXPOLL
}

/// Global directives of a node's engine.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `makestep THRESHOLD LIMIT` as `[threshold_s, limit]`.
    #[serde(default)]
    pub makestep: Option<(f64, i32)>,
    #[serde(default)]
    pub minsources: Option<usize>,
    /// `local stratum N`: serve (to clients) even when unsynchronised.
    #[serde(default)]
    pub local_stratum: Option<u8>,
}

/// A simulated gnomon instance (or `count` identical ones).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// Number of instances; instance names get "-1", "-2"... when more than one.
    #[serde(default = "default_count")]
    pub count: usize,
    #[serde(default)]
    pub clock: ClockSpec,
    #[serde(default)]
    pub engine: EngineSpec,
    /// Whether this node's clock enters the report's statistics.
    #[serde(default = "default_true")]
    pub measured: bool,
    pub sources: Vec<SourceSpec>,
}

fn default_count() -> usize {
    1
}

fn default_true() -> bool {
    true
}

/// Why a scenario cannot be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Toml {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("scenario {scenario}: {message}")]
    Invalid { scenario: String, message: String },
}

impl Scenario {
    /// Read and check a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parse and check scenario text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|source| ScenarioError::Toml {
            path: origin.to_string(),
            source: Box::new(source),
        })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Statistics start this long after the start.
    pub fn settle_s(&self) -> f64 {
        self.settle_s.unwrap_or(self.duration_s / 4.0)
    }

    fn invalid(&self, message: String) -> ScenarioError {
        ScenarioError::Invalid {
            scenario: self.name.clone(),
            message,
        }
    }

    /// Names resolve, numbers are sane.
    pub fn check(&self) -> Result<(), ScenarioError> {
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            return Err(self.invalid(format!("duration_s {} must be > 0", self.duration_s)));
        }
        if !(self.sample_interval_s.is_finite() && self.sample_interval_s > 0.0) {
            return Err(self.invalid("sample_interval_s must be > 0".into()));
        }
        let mut names = std::collections::HashSet::new();
        for name in self
            .servers
            .iter()
            .map(|s| &s.name)
            .chain(self.nodes.iter().map(|n| &n.name))
        {
            if !names.insert(name.as_str()) {
                return Err(self.invalid(format!("name {name:?} is used twice")));
            }
        }
        for server in &self.servers {
            let steps = server.clock.as_ref().map_or(&[][..], |c| &c.steps[..]);
            if steps.windows(2).any(|w| w[0].at_s > w[1].at_s) {
                return Err(self.invalid(format!("server {}: steps out of order", server.name)));
            }
            if server.kind == ServerKind::Kod && server.kiss_code.is_none() {
                return Err(self.invalid(format!("server {}: kod needs kiss_code", server.name)));
            }
        }
        for node in &self.nodes {
            if node.count == 0 {
                return Err(self.invalid(format!("node {}: count must be >= 1", node.name)));
            }
            if node.sources.is_empty() && node.engine.local_stratum.is_none() {
                return Err(self.invalid(format!("node {} has no sources", node.name)));
            }
            for source in &node.sources {
                if !names.contains(source.upstream.as_str()) {
                    return Err(self.invalid(format!(
                        "node {}: unknown upstream {:?}",
                        node.name, source.upstream
                    )));
                }
                if let Some(upstream) = self.nodes.iter().find(|n| n.name == source.upstream) {
                    if upstream.count != 1 {
                        return Err(self.invalid(format!(
                            "node {}: upstream node {} must have count 1",
                            node.name, upstream.name
                        )));
                    }
                }
                let net = &source.network;
                let values = [net.delay_s, net.jitter_s, net.asymmetry_s, net.loss];
                if values.iter().any(|v| !v.is_finite()) || net.delay_s < 0.0 {
                    return Err(self.invalid(format!("node {}: bad network", node.name)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "t"
        duration_s = 60
        [[servers]]
        name = "ref"
        kind = "truechimer"
        [[nodes]]
        name = "client"
        [[nodes.sources]]
        upstream = "ref"
    "#;

    #[test]
    fn minimal_scenario_gets_chrony_defaults() {
        let s = Scenario::parse(MINIMAL, "inline").unwrap();
        assert_eq!(s.nodes[0].sources[0].minpoll, 6);
        assert_eq!(s.nodes[0].sources[0].maxpoll, 10);
        assert_eq!(s.settle_s(), 15.0);
        assert_eq!(s.servers[0].stratum, 1);
    }

    #[test]
    fn unknown_upstream_is_an_error() {
        let text = MINIMAL.replace("upstream = \"ref\"", "upstream = \"nope\"");
        let err = Scenario::parse(&text, "inline").unwrap_err();
        assert!(err.to_string().contains("unknown upstream"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = MINIMAL.replace("duration_s = 60", "duration_s = 60\nbogus = 1");
        assert!(Scenario::parse(&text, "inline").is_err());
    }
}
