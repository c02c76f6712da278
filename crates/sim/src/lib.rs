//! gnomon-sim: a deterministic clock and network simulator driving gnomon-core.
//!
//! Virtual clocks (offset, frequency error, wander, steps, leap seconds) and virtual
//! networks (delay, jitter, asymmetry, loss, outages) connect scripted servers and
//! simulated gnomon nodes, each running the very same [`gnomon_core::engine::Engine`]
//! the daemon runs. True time advances from event to event; nothing sleeps, so a
//! simulated day takes seconds. Same scenario and seed: same report, bit for bit.
//!
//! Modules, one concern each: [`scenario`] (files), [`rng`], [`clock`], [`network`],
//! [`servers`], [`node`], [`simulation`] (event loop), [`stats`], [`report`], [`trace`], [`bench`].

#![forbid(unsafe_code)]

pub mod bench;
pub mod bound_check;
pub mod clock;
pub mod network;
pub mod node;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod servers;
pub mod simulation;
pub mod stats;
pub mod trace;

use report::Report;
use scenario::Scenario;
use simulation::Simulation;

/// Run a whole scenario with `seed` and report on it.
pub fn run(scenario: &Scenario, seed: u64) -> Report {
    let mut sim = Simulation::new(scenario.clone(), seed);
    sim.run();
    Report::from_simulation(&mut sim)
}
