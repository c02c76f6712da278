//! The control socket's daemon side: the monitoring views (engine state as
//! gnomon-control's reports), the socket server and its directory rules; the metrics
//! endpoint and the clockbound file (observe) that read the same views. The protocol
//! itself (messages, envelope, paging, address forms) is gnomon-control's, shared
//! with `gnomon`; nothing here may change its wire form.

pub mod clockbound;
pub mod connections;
pub mod metrics;
pub mod metrics_server;
pub mod observe;
pub mod server;
pub mod serving_views;
pub mod socket_dir;
pub mod views;
