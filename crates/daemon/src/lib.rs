//! gnomond's library: configuration, event loop and IO (work in progress; see issue 4).

#![forbid(unsafe_code)]

pub mod clock;
pub mod command_line;
pub mod config;
pub mod control;
pub mod driftfile;
pub mod engine_config;
pub mod logs;
pub mod pidfile;
pub mod runtime;
