//! Shared helpers for the simulator's scenario tests: parse an inline scenario, run
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
