//! gnomon-core: the synchronization engine, sans-IO.
//!
//! Time and packets are inputs; decisions (send this request, change the clock this
//! way, reply with these bytes) are outputs. Nothing here reads a clock, opens a
//! socket, sleeps or spawns a thread, so the daemon and the simulator drive the very
//! same code. Start at [`Engine`]; the modules, one concern each:
//!
//! - [`source_options`]: chrony's per-source options and defaults.
//! - [`measurement`]: RFC 5905 reply tests and offset/delay/dispersion from t1..t4.
//! - [`poll`]: poll interval, iburst/burst, reachability, back-off, kiss codes.
//! - [`estimator`]: per-source offset and frequency (weighted regression, runs test).
//! - [`kalman`]: the same from a bank of Kalman filters with delay-following noise.
//! - [`source_estimator`]: the seam between a source and its estimator.
//! - [`source`]: one client association put together.
//! - [`selection`]: falsetickers, the reference, combining.
//! - [`discipline`]: frequency and phase control, makestep, maxchange, drift value.
//! - [`leap`]: UTC calendar and when a leap second may be armed.
//! - [`system`]: system variables for serving, the clock's error bound and its growth.
//! - [`server`]: replies to clients.
//! - [`access`]: allow/deny (chrony's subnet table).
//! - [`client_table`]: the fixed-size log of served clients.
//! - [`ratelimit`]: chrony's response rate limiting.
//! - [`interleave`]: saved reply timestamps for interleaved mode.
//! - [`serving`]: one received datagram to a reply or a counted drop.
//! - [`clock_action`]: what the clock driver is asked to do.
//! - [`engine`]: all of it behind an event API.
//!
//! Sign conventions: an offset is source minus local clock (positive: the local clock
//! is behind); a frequency is how much faster the local clock must run, in ppm.

#![forbid(unsafe_code)]

pub mod access;
pub mod client_table;
pub mod clock_action;
pub mod clock_discipline;
pub mod discipline;
pub mod engine;
pub mod estimator;
pub mod interleave;
pub mod kalman;
pub mod leap;
pub mod leap_table;
mod line_fit;
pub mod measurement;
pub mod poll;
pub mod ratelimit;
pub mod selection;
pub mod server;
pub mod serving;
pub mod source;
pub mod source_estimator;
pub mod source_options;
pub mod system;

pub use clock_action::{ClockAction, LeapSecond};
pub use discipline::{DisciplineOptions, MakeStep, MaxChange, SavedFrequency, UpdateOutcome};
pub use engine::{seed_from_u64, Engine, EngineConfig, EngineOutput, ResponseError};
pub use selection::{SelectionOptions, SourceVerdict};
pub use source::{SourceCounters, SourceId};
pub use source_options::{OptionsError, SourceOptions};
pub use system::{ClockErrorBound, LocalStratum, SystemVariables};
