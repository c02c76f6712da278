//! gnomond's library: the event loop and what it drives (sources, serving, the clock,
//! the control socket, metrics, drift and pid files, logs).
//!
//! Owns deciding what IO to do and carrying out the engine's (gnomon-core's) outputs.
//! It must not hold `unsafe` or call libc (gnomon-sys does both), define the control
//! protocol's wire form (gnomon-control) or parse chrony.conf (gnomon-config).

#![forbid(unsafe_code)]

pub mod clock;
pub mod control;
pub mod driftfile;
pub mod engine_config;
pub mod logs;
pub mod pidfile;
pub mod runtime;
