//! The control socket: protocol types, the monitoring views and the socket server.

pub mod protocol;
pub mod server;
pub mod serving_views;
pub mod views;
