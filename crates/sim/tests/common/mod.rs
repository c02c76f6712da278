//! Shared helpers for the simulator's scenario tests: write a scenario, parse and run
//! it, and look at one node's truth. Nothing here asserts behaviour.

#![allow(dead_code)]

use gnomon_sim::scenario::Scenario;
use gnomon_sim::simulation::Simulation;

pub fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "inline test scenario").expect("test scenario parses")
}

pub fn simulation(text: &str, seed: u64) -> Simulation {
    Simulation::new(scenario(text), seed)
}

pub fn node_index(sim: &Simulation, name: &str) -> usize {
    sim.nodes
        .iter()
        .position(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

/// A scenario written in a test: the TOML of a sims/ file, a call per table.
/// `server` and `node` open a table; `set` adds a `key = value` line to the table
/// opened last (the top level before any); `source` adds one source, in inline-table
/// syntax, to the node opened last. Nothing is filled in: what a call does not say is
/// the scenario format's default.
#[derive(Clone, Debug)]
pub struct ScenarioText {
    top: Vec<String>,
    servers: Vec<Vec<String>>,
    nodes: Vec<(Vec<String>, Vec<String>)>,
    last_is_node: bool,
}

impl ScenarioText {
    pub fn new(name: &str, duration_s: u32) -> ScenarioText {
        ScenarioText {
            top: vec![
                format!("name = {name:?}"),
                format!("duration_s = {duration_s}"),
            ],
            servers: Vec::new(),
            nodes: Vec::new(),
            last_is_node: false,
        }
    }

    /// `[[servers]]` NAME of KIND (`truechimer`, `falseticker`, `unsynchronized`, `kod`).
    pub fn server(mut self, name: &str, kind: &str) -> ScenarioText {
        self.servers
            .push(vec![format!("name = {name:?}"), format!("kind = {kind:?}")]);
        self.last_is_node = false;
        self
    }

    /// `[[nodes]]` NAME.
    pub fn node(mut self, name: &str) -> ScenarioText {
        self.nodes
            .push((vec![format!("name = {name:?}")], Vec::new()));
        self.last_is_node = true;
        self
    }

    /// A `key = value` line of the table opened last.
    pub fn set(mut self, line: impl AsRef<str>) -> ScenarioText {
        let line = line.as_ref().to_string();
        match (self.last_is_node, self.servers.last_mut()) {
            (true, _) => self.nodes.last_mut().expect("a node").0.push(line),
            (false, Some(server)) => server.push(line),
            (false, None) => self.top.push(line),
        }
        self
    }

    /// A source of the node opened last: `{ upstream = UPSTREAM, OPTIONS }`, OPTIONS
    /// such as `minpoll = 4, iburst = true, network = { delay_s = 1e-3 }`.
    pub fn source(mut self, upstream: &str, options: &str) -> ScenarioText {
        let node = self.nodes.last_mut().expect("source() follows node()");
        node.1.push(match options {
            "" => format!("{{ upstream = {upstream:?} }}"),
            _ => format!("{{ upstream = {upstream:?}, {options} }}"),
        });
        self
    }

    pub fn text(&self) -> String {
        let mut text = self.top.join("\n");
        for server in &self.servers {
            text += &format!("\n[[servers]]\n{}", server.join("\n"));
        }
        for (lines, sources) in &self.nodes {
            text += &format!(
                "\n[[nodes]]\n{}\nsources = [\n    {},\n]",
                lines.join("\n"),
                sources.join(",\n    ")
            );
        }
        text + "\n"
    }

    pub fn scenario(&self) -> Scenario {
        scenario(&self.text())
    }

    pub fn simulation(&self, seed: u64) -> Simulation {
        Simulation::new(self.scenario(), seed)
    }
}

/// One client (10 ms and 25 ppm off, 2 ppb/s of wander) of one reference for two
/// hours, cut off from it from 1800 s to 5400 s: holdover.rs looks at the outage,
/// bound.rs at the error bound over it.
pub fn outage(name: &str) -> ScenarioText {
    ScenarioText::new(name, 7200)
        .server("ref", "truechimer")
        .node("client")
        .set("clock = { offset_s = 0.01, frequency_ppm = 25.0, wander_ppb_per_s = 2.0 }")
        .source(
            "ref",
            "minpoll = 4, maxpoll = 6, iburst = true, network = { delay_s = 100e-6, jitter_s = 10e-6, outages = [[1800.0, 5400.0]] }",
        )
}
