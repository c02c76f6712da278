//! `gnomon clients` and `gnomon serverstats`: what the local gnomond serves.
//!
//! Owns these two commands' arguments and output: chronyc's `clients` layout (also
//! with `-k`, whose last four columns are NTS-KE's, all zero: gnomon has no NTS) and
//! `serverstats` (chrony 4.4's lines, then gnomon's additions in the same form), or
//! `--json`, which prints the daemon's data as is. `-p` and `-r` are the daemon's
//! business (it filters, and resets after reporting, as chronyd does). It must not
//! compute anything the daemon did not report.

use super::client;
use super::format;
use super::SocketArgs;
use clap::Args;
use gnomon_control::protocol::{
    ClientList, ClientReport, Request, ResponseData, ServerStatsReport, NO_CLIENT_LOG,
};
use gnomon_control::status::Status;

/// Options of `gnomon clients` (chronyc clients).
#[derive(Debug, Args)]
pub struct ClientsArgs {
    /// Only clients that sent at least this many NTP packets (chronyc -p).
    #[arg(short = 'p', value_name = "PACKETS", default_value_t = 0)]
    pub min_packets: u64,
    /// Show NTS-KE connections in the last four columns instead of command packets
    /// (chronyc -k; gnomon has no NTS, so they are zero).
    #[arg(short = 'k')]
    pub nts_ke: bool,
    /// Reset the clients' packet counters after reporting them (chronyc -r; root only).
    #[arg(short = 'r')]
    pub reset: bool,
    /// Print the daemon's data as JSON instead of chronyc's layout.
    #[arg(long)]
    pub json: bool,
}

/// chronyc's header; its last four columns name command packets, or NTS-KE
/// connections with `-k`.
fn clients_header(nts_ke: bool) -> String {
    format!(
        "Hostname                      NTP   Drop Int IntL Last  {:>6}   Drop Int  Last\n",
        if nts_ke { "NTS-KE" } else { "Cmd" }
    )
}

fn log2_column(value: Option<i8>, width: usize) -> String {
    match value {
        Some(value) => format!("{value:>width$}"),
        None => format!("{:>width$}", "-"),
    }
}

fn client_row(client: &ClientReport) -> String {
    // gnomon has no UDP command port and no NTS-KE: the last four columns are empty
    // as in chronyc for a client that never sent a command or made an NTS-KE
    // connection.
    format!(
        "{:<25}  {:>6} {:>6} {} {}  {}  {:>6} {:>6} {:>3}  {:>4}\n",
        client.address,
        client.ntp_requests,
        client.ntp_dropped,
        log2_column(client.interval_log2_s, 3),
        log2_column(client.limited_interval_log2_s, 3),
        format::interval(Some(client.last_request_ago_s)),
        0,
        0,
        "-",
        "-",
    )
}

/// chronyc's `clients` layout (`-k`: `nts_ke`) of the clients the daemon reported.
pub fn render_clients(list: &ClientList, nts_ke: bool) -> String {
    let mut text = clients_header(nts_ke);
    text.push_str(&"=".repeat(79));
    text.push('\n');
    for client in &list.clients {
        text.push_str(&client_row(client));
    }
    text
}

/// chronyc's `serverstats` layout (chrony 4.4's lines), then gnomon's counters.
pub fn render_serverstats(stats: &ServerStatsReport) -> String {
    let lines: [(&str, u64); 26] = [
        ("NTP packets received", stats.ntp_packets_received),
        ("NTP packets dropped", stats.ntp_packets_dropped),
        ("Command packets received", stats.command_requests),
        ("Command packets dropped", stats.command_dropped),
        (
            "Client log records dropped",
            stats.client_log_records_dropped,
        ),
        ("NTS-KE connections accepted", 0),
        ("NTS-KE connections dropped", 0),
        ("Authenticated NTP packets", 0),
        ("Interleaved NTP packets", stats.ntp_interleaved),
        ("NTP timestamps held", 0),
        ("NTP timestamp span", 0),
        ("NTP daemon RX timestamps", stats.ntp_daemon_rx_timestamps),
        ("NTP daemon TX timestamps", stats.ntp_daemon_tx_timestamps),
        ("NTP kernel RX timestamps", stats.ntp_kernel_rx_timestamps),
        ("NTP kernel TX timestamps", stats.ntp_kernel_tx_timestamps),
        (
            "NTP hardware RX timestamps",
            stats.ntp_hardware_rx_timestamps,
        ),
        (
            "NTP hardware TX timestamps",
            stats.ntp_hardware_tx_timestamps,
        ),
        // gnomon's additions.
        ("NTP replies sent", stats.ntp_replies_sent),
        ("NTP KoD RATE sent", stats.ntp_kods_sent),
        ("NTP packets denied", stats.ntp_packets_denied),
        ("NTP packets rate-limited", stats.ntp_packets_rate_limited),
        ("NTP packets malformed", stats.ntp_packets_malformed),
        ("NTP packets oversized", stats.ntp_packets_oversized),
        ("NTP packets not requests", stats.ntp_packets_not_requests),
        ("NTP send failures", stats.ntp_send_failures),
        ("NTP worker threads", stats.worker_threads),
    ];
    lines
        .iter()
        .map(|(label, value)| format!("{label:<27}: {value}\n"))
        .collect()
}

fn print_json(data: &ResponseData) {
    println!(
        "{}",
        serde_json::to_string_pretty(data).expect("serialisable")
    );
}

/// `gnomon clients`; an unreachable daemon (or `-r` refused) exits 3, a daemon with
/// `noclientlog` 1 (as chronyc's 519).
pub fn run_clients(socket: &SocketArgs, args: &ClientsArgs) -> Result<i32, String> {
    let request = Request::Clients {
        min_packets: args.min_packets,
        reset: args.reset,
    };
    let data = match client::ask(&socket.socket, &request) {
        Ok(data) => data,
        // chronyc prints its header, then this status line, and exits 1.
        Err(error) if error.status == Some(Status::NotEnabled) => {
            if args.json {
                println!("{}", serde_json::json!({ "error": NO_CLIENT_LOG }));
            } else {
                print!("{}", render_clients(&ClientList::default(), args.nts_ke));
                println!("519 Client logging is not active in the daemon");
            }
            return Ok(1);
        }
        Err(message) => return Ok(super::could_not_ask(&message, args.json)),
    };
    match &data {
        _ if args.json => print_json(&data),
        ResponseData::Clients(list) => print!("{}", render_clients(list, args.nts_ke)),
        other => {
            let message = format!("unexpected answer from gnomond: {other:?}");
            return Ok(super::could_not_ask(&message, args.json));
        }
    }
    Ok(0)
}

/// `gnomon serverstats`; an unreachable daemon exits 3.
pub fn run_serverstats(socket: &SocketArgs, json: bool) -> Result<i32, String> {
    let data = match client::ask(&socket.socket, &Request::Serverstats) {
        Ok(data) => data,
        Err(message) => return Ok(super::could_not_ask(&message, json)),
    };
    match &data {
        _ if json => print_json(&data),
        ResponseData::Serverstats(stats) => print!("{}", render_serverstats(stats)),
        other => {
            let message = format!("unexpected answer from gnomond: {other:?}");
            return Ok(super::could_not_ask(&message, json));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        address: &str,
        requests: u64,
        dropped: u64,
        int: Option<i8>,
        intl: Option<i8>,
        last: f64,
    ) -> ClientReport {
        ClientReport {
            address: address.into(),
            ntp_requests: requests,
            ntp_dropped: dropped,
            kods_sent: 0,
            interval_log2_s: int,
            limited_interval_log2_s: intl,
            last_request_ago_s: last,
        }
    }

    #[test]
    fn clients_layout_matches_chronyc() {
        // chronyc -n clients of chronyd 4.3 after 20 requests, 10 rate-limited:
        let chronyc =
            "Hostname                      NTP   Drop Int IntL Last     Cmd   Drop Int  Last\n\
===============================================================================\n\
127.0.0.1                      20     10  -5  -2     4       0      0   -     -\n";
        let mut list = ClientList {
            serving: true,
            clients: vec![row("127.0.0.1", 20, 10, Some(-5), Some(-2), 4.2)],
        };
        assert_eq!(render_clients(&list, false), chronyc);
        // chronyc -n clients -k: the same, with NTS-KE naming the last four columns.
        let chronyc_k = chronyc.replace("Last     Cmd   Drop", "Last  NTS-KE   Drop");
        assert_eq!(render_clients(&list, true), chronyc_k);
        list.clients.push(row("10.0.0.9", 1, 0, None, None, 3000.0));
        let all = render_clients(&list, false);
        assert!(
            all.ends_with(
                "10.0.0.9                        1      0   -   -   50m       0      0   -     -\n"
            ),
            "{all}"
        );
        for line in all.lines() {
            assert_eq!(line.len(), 79, "{line:?}");
        }
    }

    #[test]
    fn serverstats_layout_matches_chronyc() {
        let stats = ServerStatsReport {
            serving: true,
            sockets: vec!["0.0.0.0:123".into()],
            worker_threads: 0,
            ntp_packets_received: 20,
            ntp_packets_dropped: 10,
            ntp_packets_denied: 0,
            ntp_packets_rate_limited: 10,
            ntp_packets_malformed: 0,
            ntp_packets_oversized: 0,
            ntp_packets_not_requests: 0,
            ntp_replies_sent: 10,
            ntp_interleaved: 0,
            ntp_kods_sent: 0,
            ntp_send_failures: 0,
            command_requests: 2,
            command_dropped: 0,
            client_log_records_dropped: 0,
            client_log_capacity: 8192,
            ntp_daemon_rx_timestamps: 0,
            ntp_daemon_tx_timestamps: 10,
            ntp_kernel_rx_timestamps: 10,
            ntp_kernel_tx_timestamps: 0,
            ntp_hardware_rx_timestamps: 0,
            ntp_hardware_tx_timestamps: 0,
        };
        let text = render_serverstats(&stats);
        // chronyc serverstats of chronyd 4.3, the same counts:
        let chronyc = "NTP packets received       : 20\n\
NTP packets dropped        : 10\n\
Command packets received   : 2\n\
Command packets dropped    : 0\n\
Client log records dropped : 0\n\
NTS-KE connections accepted: 0\n\
NTS-KE connections dropped : 0\n\
Authenticated NTP packets  : 0\n\
Interleaved NTP packets    : 0\n\
NTP timestamps held        : 0\n\
NTP timestamp span         : 0\n";
        assert!(text.starts_with(chronyc), "{text}");
        assert!(text.contains("NTP kernel RX timestamps   : 10\n"));
        assert!(text.contains("NTP packets rate-limited   : 10\n"));
        assert_eq!(text.lines().count(), 26);
    }
}
