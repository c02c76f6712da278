//! gnomond's library: configuration, event loop and IO (work in progress; see issue 4).

pub mod clock;
pub mod config;
pub mod sys;
