//! The server-side monitoring views: the served clients' log and the totals.
//!
//! Owns turning the serving report (the main loop's server, or every worker's,
//! merged) into [`ClientList`] and [`ServerStatsReport`]. It changes the servers
//! only when asked to reset the client counters (chronyc `clients -r`).

use crate::runtime::serve::Serving;
use gnomon_control::protocol::{ClientList, ClientReport, ServerStatsReport};

fn rounded_log2(value: Option<f32>) -> Option<i8> {
    value.map(|v| v.round().clamp(-128.0, 127.0) as i8)
}

/// `clients`: one row per logged client with at least `min_packets` requests, most
/// requests first; then, with `reset`, every record's counters are zeroed, also those
/// of the clients left out (as chronyd does). `now_ns` is monotonic.
pub fn clients(
    serving: Option<&mut Serving>,
    now_ns: i64,
    min_packets: u64,
    reset: bool,
) -> ClientList {
    let Some(serving) = serving else {
        return ClientList {
            serving: false,
            clients: Vec::new(),
        };
    };
    let report = if reset {
        serving.report_and_reset_clients()
    } else {
        serving.report()
    };
    let mut clients: Vec<ClientReport> = report
        .clients
        .iter()
        .filter(|record| record.requests >= min_packets)
        .map(|record| ClientReport {
            address: record.address.to_string(),
            ntp_requests: record.requests,
            ntp_dropped: record.rate_limit_drops,
            kods_sent: record.kods_sent,
            interval_log2_s: rounded_log2(record.interval_log2_s()),
            limited_interval_log2_s: rounded_log2(record.limited_interval_log2_s()),
            last_request_ago_s: (now_ns - record.last_request_ns).max(0) as f64 * 1e-9,
        })
        .collect();
    clients.sort_by(|a, b| {
        b.ntp_requests
            .cmp(&a.ntp_requests)
            .then_with(|| a.address.cmp(&b.address))
    });
    ClientList {
        serving: true,
        clients,
    }
}

/// `serverstats`. `command_requests` and `command_dropped` are the control server's.
pub fn serverstats(
    serving: Option<&Serving>,
    command_requests: u64,
    command_dropped: u64,
) -> ServerStatsReport {
    let report = serving.map(Serving::report);
    let stats = report.as_ref().map(|r| r.stats).unwrap_or_default();
    ServerStatsReport {
        serving: serving.is_some(),
        sockets: report.as_ref().map_or_else(Vec::new, |r| {
            r.local_addresses.iter().map(|a| a.to_string()).collect()
        }),
        worker_threads: report.as_ref().map_or(0, |r| r.worker_threads as u64),
        ntp_packets_received: stats.received,
        ntp_packets_dropped: stats.dropped,
        ntp_packets_denied: stats.denied,
        ntp_packets_rate_limited: stats.rate_limited,
        ntp_packets_malformed: stats.malformed,
        ntp_packets_oversized: stats.oversized,
        ntp_packets_not_requests: stats.not_client_request,
        ntp_replies_sent: stats.replies_sent,
        ntp_interleaved: stats.interleaved,
        ntp_kods_sent: stats.kods_sent,
        ntp_send_failures: stats.send_failures,
        command_requests,
        command_dropped,
        client_log_records_dropped: report.as_ref().map_or(0, |r| r.client_log_evictions),
        client_log_capacity: report.as_ref().map_or(0, |r| r.client_log_capacity as u64),
        ntp_daemon_rx_timestamps: stats.daemon_rx_timestamps,
        ntp_daemon_tx_timestamps: stats.daemon_tx_timestamps,
        ntp_kernel_rx_timestamps: stats.kernel_rx_timestamps,
        ntp_kernel_tx_timestamps: stats.kernel_tx_timestamps,
        ntp_hardware_rx_timestamps: stats.hardware_rx_timestamps,
        ntp_hardware_tx_timestamps: stats.hardware_tx_timestamps,
    }
}
