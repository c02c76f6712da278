//! The control socket: protocol types, their datagram envelope, the monitoring views,
//! the socket server and its directory rules; the metrics endpoint and the
//! clockbound file (observe) that read the same views.

pub mod clockbound;
pub mod connections;
pub mod envelope;
pub mod metrics;
pub mod metrics_server;
pub mod observe;
pub mod protocol;
pub mod server;
pub mod serving_views;
pub mod socket_dir;
pub mod source_match;
pub mod views;
