//! gnomon-testkit: helpers for gnomon's tests. Never shipped.
//!
//! - [`Responder`]: a scriptable NTP server on a loopback port, in a thread of the
//!   test process. It serves time shifted by a chosen offset, or misbehaves in a
//!   chosen way (wrong origin, kiss-o'-death, unsynchronised, garbage, silence).
//! - [`gnomond`]: starts the workspace's own `gnomond -x` the same way, on loopback or
//!   in a network namespace the test made, and asks its control socket.
//! - [`counting_alloc`]: a counting global allocator for allocation-free tests.
//! - [`chronyd`]: starts a real `chronyd -x` (clock control off) on a loopback port
//!   with its own pidfile, driftfile and command socket, and stops it by PID.
//!
//! Everything binds to 127.0.0.1 (or stays in the test's own namespace) and stops
//! when its handle is dropped.

#![forbid(unsafe_code)]

pub mod chronyd;
pub mod counting_alloc;
pub mod gnomond;
mod responder;

pub use responder::{Behaviour, Responder};
