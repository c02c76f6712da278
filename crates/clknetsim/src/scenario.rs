//! The scenarios: networks, clocks and daemon configurations, written as clknetsim
//! configuration and chrony.conf lines. Defaults follow chrony's
//! test/simulation/test.common: one reference server (`local stratum 1`, perfect clock,
//! always chronyd), a client that starts 0.1 s off with a +100 ppm frequency error and
//! a frequency random walk, one-way delay `100 µs + jitter × exponential` in both
//! directions, no makestep and no drift file.

use serde::Serialize;

/// The daemon on the nodes under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Daemon {
    Chronyd,
    Gnomond,
}

impl Daemon {
    pub const BOTH: [Daemon; 2] = [Daemon::Chronyd, Daemon::Gnomond];

    pub fn name(self) -> &'static str {
        match self {
            Daemon::Chronyd => "chronyd",
            Daemon::Gnomond => "gnomond",
        }
    }
}

/// What runs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A reference server: always chronyd, as in chrony's tests.
    Reference,
    /// The daemon under test (chronyd or gnomond, the same on every such node of a run).
    UnderTest,
}

/// One simulated host.
#[derive(Debug, Clone)]
pub struct Node {
    pub role: Role,
    /// Initial error of the node's clock.
    pub offset_s: f64,
    /// clknetsim frequency expression (gained seconds per second); `None`: perfect.
    pub freq_expr: Option<String>,
    /// chrony.conf lines beyond the harness's own (pidfile, command socket, user).
    pub config: Vec<String>,
}

/// A view of the daemon under test that an observer node reads (`observe.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// `gnomon sources --json`; for chronyd `chronyc -n sources`.
    Sources,
    /// `gnomon tracking --json` (gnomond only: chronyc reports no error bound).
    Tracking,
}

/// One reading of the measured node's view mid-run.
#[derive(Debug, Clone, Copy)]
pub struct Observer {
    pub view: View,
    /// Simulated time of the reading (whole seconds); negative: that long before the end.
    pub at_s: f64,
}

/// chrony's 001-defaults pass criteria (test.common's defaults).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Criteria {
    pub min_sync_s: f64,
    pub max_sync_s: f64,
    pub max_offset_s: f64,
    pub max_freq: f64,
    pub rms_offset_s: f64,
    pub rms_freq: f64,
}

/// chrony test.common's `default_*` limits.
pub const CHRONY_DEFAULT_CRITERIA: Criteria = Criteria {
    min_sync_s: 120.0,
    max_sync_s: 210.0,
    max_offset_s: 1e-3,
    max_freq: 5e-4,
    rms_offset_s: 3e-4,
    rms_freq: 1e-5,
};

/// One network and set of daemons to run for each daemon and seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// Scenarios of one family share a picture.
    pub family: String,
    pub summary: String,
    pub nodes: Vec<Node>,
    /// `(from, to, expression)`, nodes numbered from 1.
    pub delays: Vec<(usize, usize, String)>,
    /// Length of a full run (docs, `run` by default).
    pub limit_s: f64,
    /// Length of a CI run (`--quick`).
    pub quick_limit_s: f64,
    /// clknetsim's `-r`: statistics are collected from here on.
    pub stats_start_s: f64,
    /// The node whose clock is reported.
    pub measured: usize,
    /// Synchronised from the second after the last one whose |offset| exceeds this …
    pub sync_offset_s: f64,
    /// … or whose |frequency error| exceeds this (chrony's find_sync).
    pub sync_freq: f64,
    /// A server that must never be selected.
    pub falseticker: Option<String>,
    /// chrony's pass criteria, where the scenario is one of chrony's tests.
    pub criteria: Option<Criteria>,
    /// Readings of the measured node's own views mid-run.
    pub observers: Vec<Observer>,
}

/// test.common's delay: 100 µs plus exponential jitter with the given mean.
pub fn delay_expr(jitter_s: f64) -> String {
    format!("(+ 1e-4 (* {jitter_s:e} (exponential)))")
}

/// test.common's client clock: +100 ppm plus a random walk of `wander` per second.
pub fn wander_expr(wander: f64) -> String {
    format!("(+ 1e-4 (sum (* {wander:e} (normal))))")
}

fn reference(offset_s: f64) -> Node {
    Node {
        role: Role::Reference,
        offset_s,
        freq_expr: None,
        config: vec!["local stratum 1".into(), "allow".into()],
    }
}

fn client(wander: f64, config: &[&str]) -> Node {
    Node {
        role: Role::UnderTest,
        offset_s: 0.1,
        freq_expr: Some(wander_expr(wander)),
        config: config.iter().map(|line| line.to_string()).collect(),
    }
}

/// Every pair of nodes, both directions, with one expression.
fn all_pairs(nodes: usize, expr: &str) -> Vec<(usize, usize, String)> {
    let mut delays = Vec::new();
    for from in 1..=nodes {
        for to in 1..=nodes {
            if from != to {
                delays.push((from, to, expr.to_string()));
            }
        }
    }
    delays
}

/// The defaults every scenario starts from: server node 1, client node 2.
fn base(name: &str, family: &str, summary: String, jitter_s: f64, client: Node) -> Scenario {
    Scenario {
        name: name.into(),
        family: family.into(),
        summary,
        nodes: vec![reference(0.0), client],
        delays: all_pairs(2, &delay_expr(jitter_s)),
        limit_s: 100_000.0,
        quick_limit_s: 100_000.0,
        stats_start_s: 2000.0,
        measured: 2,
        // chrony's 1 ms, widened where the jitter alone would exceed it.
        sync_offset_s: (5.0 * jitter_s).max(1e-3),
        sync_freq: 5e-4,
        falseticker: None,
        criteria: None,
        observers: Vec::new(),
    }
}

fn jitter_label(jitter_s: f64) -> String {
    if jitter_s >= 1e-3 {
        format!("{}ms", (jitter_s * 1e3).round())
    } else {
        format!("{}us", (jitter_s * 1e6).round())
    }
}

/// Every scenario, in table order.
pub fn all() -> Vec<Scenario> {
    let mut out = Vec::new();
    for jitter_s in [1e-5, 1e-4, 1e-3, 1e-2] {
        let label = jitter_label(jitter_s);
        out.push(base(
            &format!("test1-{label}"),
            "test1",
            format!("chrony comparison test 1: default polling, 1 ppb/s wander, {label} jitter"),
            jitter_s,
            client(1e-9, &["server 192.168.123.1"]),
        ));
    }
    for jitter_s in [1e-5, 1e-4, 1e-3, 1e-2] {
        let label = jitter_label(jitter_s);
        out.push(base(
            &format!("test2-{label}"),
            "test2",
            format!(
                "chrony comparison test 2: minpoll 6 maxpoll 6, 10 ppb/s wander, {label} jitter"
            ),
            jitter_s,
            client(1e-8, &["server 192.168.123.1 minpoll 6 maxpoll 6"]),
        ));
    }

    let mut defaults = base(
        "001-defaults",
        "001-defaults",
        "chrony's test/simulation/001-defaults: 100 µs jitter, 1 ppb/s, 10000 s, stats after 210 s"
            .into(),
        1e-4,
        client(1e-9, &["server 192.168.123.1"]),
    );
    defaults.limit_s = 10_000.0;
    defaults.quick_limit_s = 10_000.0;
    defaults.stats_start_s = CHRONY_DEFAULT_CRITERIA.max_sync_s;
    defaults.sync_offset_s = CHRONY_DEFAULT_CRITERIA.max_offset_s;
    defaults.sync_freq = CHRONY_DEFAULT_CRITERIA.max_freq;
    defaults.criteria = Some(CHRONY_DEFAULT_CRITERIA);
    out.push(defaults);

    let mut falseticker = base(
        "falseticker",
        "falseticker",
        "three servers, the third 5 ms off; 100 µs jitter, 1 ppb/s, default polling".into(),
        1e-4,
        client(
            1e-9,
            &[
                "server 192.168.123.1",
                "server 192.168.123.2",
                "server 192.168.123.3",
            ],
        ),
    );
    falseticker.nodes = vec![
        reference(0.0),
        reference(0.0),
        reference(5e-3),
        falseticker.nodes[1].clone(),
    ];
    falseticker.delays = all_pairs(4, &delay_expr(1e-4));
    falseticker.measured = 4;
    falseticker.falseticker = Some("192.168.123.3".into());
    // Its selection as the daemon shows it, soon after sync, after the statistics
    // start and at the end; and gnomond's error bound against the true offset.
    for at_s in [600.0, 3000.0, -10.0] {
        for view in [View::Sources, View::Tracking] {
            falseticker.observers.push(Observer { view, at_s });
        }
    }
    out.push(falseticker);

    // A negative delay drops the packet: below 0.2, (uniform) − 0.2 times 1000 outweighs
    // any delay.
    let lossy_expr = "(+ 1e-4 (* 1e-4 (exponential)) (* 1e3 (min 0.0 (+ (uniform) -0.2))))";
    let mut lossy = base(
        "lossy-20pct",
        "loss",
        "20 % of packets lost each way; 100 µs jitter, 1 ppb/s, default polling".into(),
        1e-4,
        client(1e-9, &["server 192.168.123.1"]),
    );
    lossy.delays = all_pairs(2, lossy_expr);
    out.push(lossy);

    let outage_expr = format!(
        "(+ 1e-4 (* 1e-4 (exponential)) (* -1e6 (max 0.0 (min (+ time -{start}) (+ {end} (* -1 time))))))",
        start = OUTAGE_START_S,
        end = OUTAGE_START_S + OUTAGE_LENGTH_S,
    );
    let mut outage = base(
        "outage-2h",
        "loss",
        format!(
            "no packets from {OUTAGE_START_S} s for 2 h; 100 µs jitter, 10 ppb/s, minpoll 6 maxpoll 6"
        ),
        1e-4,
        client(1e-8, &["server 192.168.123.1 minpoll 6 maxpoll 6"]),
    );
    outage.delays = all_pairs(2, &outage_expr);
    out.push(outage);

    let mut seed_line = base(
        "seed-line",
        "seed-line",
        "the seed's client line `server … prefer iburst minpoll 4 maxpoll 4`, 10 µs jitter".into(),
        1e-5,
        client(
            1e-9,
            &["server 192.168.123.1 prefer iburst minpoll 4 maxpoll 4"],
        ),
    );
    seed_line.stats_start_s = 100.0;
    seed_line.limit_s = 20_000.0;
    seed_line.quick_limit_s = 20_000.0;
    out.push(seed_line);

    let mut chain = base(
        "vpc-chain",
        "vpc-chain",
        "server → master → client, both `prefer iburst minpoll 4 maxpoll 4`, 10 µs jitter; the \
         master runs the daemon under test; the client is measured"
            .into(),
        1e-5,
        client(
            1e-9,
            &["server 192.168.123.2 prefer iburst minpoll 4 maxpoll 4"],
        ),
    );
    let master = Node {
        role: Role::UnderTest,
        offset_s: 0.0,
        freq_expr: Some(wander_expr(1e-9)),
        config: vec![
            "server 192.168.123.1 prefer iburst minpoll 4 maxpoll 4".into(),
            "allow".into(),
        ],
    };
    chain.nodes = vec![reference(0.0), master, chain.nodes[1].clone()];
    chain.delays = all_pairs(3, &delay_expr(1e-5));
    chain.measured = 3;
    chain.stats_start_s = 500.0;
    chain.limit_s = 20_000.0;
    chain.quick_limit_s = 20_000.0;
    out.push(chain);

    out
}

/// When the outage of `outage-2h` starts.
pub const OUTAGE_START_S: f64 = 30_000.0;
/// How long it lasts.
pub const OUTAGE_LENGTH_S: f64 = 7_200.0;

/// The scenario named `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|scenario| scenario.name == name)
}

impl Scenario {
    /// clknetsim's configuration file.
    pub fn clknetsim_conf(&self) -> String {
        let mut conf = String::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let number = index + 1;
            conf.push_str(&format!("node{number}_offset = {:e}\n", node.offset_s));
            if let Some(expr) = &node.freq_expr {
                conf.push_str(&format!("node{number}_freq = {expr}\n"));
            }
        }
        for (from, to, expr) in &self.delays {
            conf.push_str(&format!("node{from}_delay{to} = {expr}\n"));
        }
        conf
    }
}
