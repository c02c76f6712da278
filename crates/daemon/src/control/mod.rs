//! The control socket: protocol types, the monitoring views and the socket server;
//! the metrics endpoint and the clockbound file (observe) that read the same views.

pub mod clockbound;
pub mod connections;
pub mod metrics;
pub mod metrics_server;
pub mod observe;
pub mod protocol;
pub mod server;
pub mod serving_views;
pub mod source_match;
pub mod views;
