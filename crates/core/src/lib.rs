//! gnomon-core: the synchronization engine, sans-IO.
//!
//! Time and packets are inputs; decisions (send this request, change the clock this
//! way, reply with these bytes) are outputs. Nothing here reads a clock, opens a
//! socket, sleeps or spawns a thread, so the daemon and the simulator drive the very
//! same code. See [`engine::Engine`] for the entry point.

#![forbid(unsafe_code)]

pub mod clock_action;
pub mod discipline;
pub mod engine;
pub mod estimator;
pub mod leap;
pub mod measurement;
pub mod poll;
pub mod selection;
pub mod server;
pub mod source;
pub mod source_options;
pub mod system;
