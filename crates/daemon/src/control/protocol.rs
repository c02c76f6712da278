//! The control protocol between `gnomon` and gnomond, over a Unix datagram socket.
//!
//! Owns the message types and their JSON form; nothing else. The exchange: the
//! client sends one [`Request`] as a JSON object in one datagram; the daemon answers
//! with one [`Response`] in one datagram (the envelope around them, sequence numbers
//! and paging, is [`super::envelope`]'s). Field names are a contract shared with
//! scripts (`gnomon ... --json` prints `data` as is): add fields, never rename them.
//! See docs/control-protocol.md.

use serde::{Deserialize, Serialize};

/// The error of `online`/`offline` when nothing matched (chronyc's "503 No such source").
pub const NO_SUCH_SOURCE: &str = "no such source";

/// The error of `clients` under `noclientlog` (chronyc's "519 Client logging is not
/// active in the daemon").
pub const NO_CLIENT_LOG: &str = "client logging is not active in the daemon (noclientlog)";

/// What the client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    Tracking,
    Sources,
    Sourcestats,
    Activity,
    /// Step the clock now if the offset calls for it (root only).
    Makestep,
    /// Start a burst of requests on every source (root only).
    Burst,
    /// Re-read the `sourcedir` files and add or remove sources (root only).
    Reloadsources,
    /// Stop polling the sources that `address` selects, all without it (chronyc
    /// `offline`; root only). See [`super::source_match`] for the forms.
    Offline {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// Resume polling them (chronyc `online`; root only).
    Online {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// NTP clients served (chronyc clients): those with at least `min_packets`
    /// requests; with `reset`, every record's counters are zeroed after the report
    /// (chronyc `clients -r`; root only).
    Clients {
        #[serde(default, skip_serializing_if = "is_zero")]
        min_packets: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        reset: bool,
    },
    /// Server totals (chronyc serverstats).
    Serverstats,
}

impl Request {
    /// Commands that change the daemon's state are for root only (SCM_CREDENTIALS).
    pub fn needs_root(&self) -> bool {
        matches!(
            self,
            Request::Makestep
                | Request::Burst
                | Request::Reloadsources
                | Request::Offline { .. }
                | Request::Online { .. }
                | Request::Clients { reset: true, .. }
        )
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    Ok { ok: bool, data: ResponseData },
    Error { ok: bool, error: String },
}

impl Response {
    pub fn ok(data: ResponseData) -> Response {
        Response::Ok { ok: true, data }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response::Error {
            ok: false,
            error: message.into(),
        }
    }
}

/// The payload of a successful response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponseData {
    Tracking(Tracking),
    Sources(Vec<SourceReport>),
    Sourcestats(Vec<SourceStats>),
    Activity(Activity),
    Clients(ClientList),
    Serverstats(ServerStatsReport),
    Done(Done),
}

/// `gnomon tracking`: the system clock's state (chronyc tracking's fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    /// Reference ID as 8 hex digits.
    pub reference_id: String,
    /// The reference's name or address (chronyc's parenthesised part).
    pub reference_name: String,
    pub stratum: u8,
    /// Time of the last clock update, Unix seconds; null before the first.
    pub reference_time_unix_s: Option<f64>,
    /// How far the clock is from the engine's estimate of true time now: positive
    /// means fast (chronyc "System time : X seconds fast of NTP time").
    pub system_time_offset_s: f64,
    pub last_offset_s: f64,
    pub rms_offset_s: f64,
    /// The frequency correction, ppm: positive makes the clock run faster (chronyc
    /// prints the clock's own error, the opposite sign, as "ppm slow/fast").
    pub frequency_ppm: f64,
    pub residual_frequency_ppm: f64,
    pub skew_ppm: f64,
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    pub update_interval_s: f64,
    /// "Normal", "Insert second", "Delete second" or "Not synchronised".
    pub leap_status: String,
    pub synchronized: bool,
    /// True time lies within now ± this bound (seconds); null while unsynchronised.
    pub error_bound_s: Option<f64>,
    /// Which clock is disciplined: system clock, or a virtual one (-x, lab).
    pub clock: String,
}

/// One row of `gnomon sources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The name as configured.
    pub name: String,
    /// The address in use.
    pub address: String,
    /// "server" or "pool" (chronyc's `^`).
    pub mode: String,
    /// Selection state as chronyc's symbol: * + - x ~ ?
    pub state: String,
    /// The same in words: selected, combined, not_combined, falseticker, too_variable,
    /// unusable, noselect, offline (`?`: offline with an empty reachability register),
    /// sync_loop (`?`: its last reply said it is synchronised to us).
    pub state_name: String,
    pub stratum: u8,
    /// log2 seconds.
    pub poll: i8,
    /// The reachability register (chronyc prints it in octal).
    pub reach: u8,
    /// Seconds since the last good sample; null if none.
    pub last_rx_ago_s: Option<f64>,
    /// Offset of the last sample, adjusted for clock changes since (chronyc's first number).
    pub adjusted_offset_s: Option<f64>,
    /// Offset as measured (chronyc's bracketed number).
    pub measured_offset_s: Option<f64>,
    /// Error of the last sample (chronyc's +/- number).
    pub error_s: Option<f64>,
    pub requests_sent: u64,
    pub samples_accepted: u64,
    /// Why the source stopped (kiss-o'-death DENY/RSTR), if it did.
    pub stopped: Option<String>,
    /// Switched offline (`gnomon offline`, the `offline` option): not polled.
    #[serde(default)]
    pub offline: bool,
}

/// One row of `gnomon sourcestats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    pub name: String,
    /// Samples kept.
    pub samples: usize,
    /// Samples used by the regression.
    pub samples_used: usize,
    /// Runs of residuals of one sign over the samples used (chronyc's NR): few runs
    /// for many samples mean the line does not fit them.
    #[serde(default)]
    pub residual_runs: usize,
    /// Seconds between the oldest and newest sample.
    pub span_s: f64,
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
    pub offset_s: f64,
    pub std_dev_s: f64,
}

/// `gnomon activity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub online: usize,
    pub offline: usize,
    pub burst_online: usize,
    pub burst_offline: usize,
    pub unresolved: usize,
}

/// `gnomon clients`: the served clients' log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientList {
    /// False when gnomond does not serve (no `allow`, or `port 0`).
    pub serving: bool,
    pub clients: Vec<ClientReport>,
}

/// One row of `gnomon clients`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    pub address: String,
    /// NTP requests that passed access control (chronyc "NTP").
    pub ntp_requests: u64,
    /// Requests dropped by the rate limit (chronyc "Drop").
    pub ntp_dropped: u64,
    /// RATE kiss-o'-death replies sent.
    pub kods_sent: u64,
    /// Average request interval, log2 seconds (chronyc "Int"); null if unknown.
    pub interval_log2_s: Option<i8>,
    /// Average interval after a dropped request (chronyc "IntL"); null if unknown.
    pub limited_interval_log2_s: Option<i8>,
    /// Seconds since the last request (chronyc "Last").
    pub last_request_ago_s: f64,
}

/// `gnomon serverstats`: totals since start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatsReport {
    pub serving: bool,
    /// The bound server sockets, e.g. "0.0.0.0:123".
    pub sockets: Vec<String>,
    /// `server_threads`: worker threads serving (0: the main loop serves).
    #[serde(default)]
    pub worker_threads: u64,
    /// Every datagram received on the server sockets.
    pub ntp_packets_received: u64,
    /// Datagrams that got no reply (the sum of the reasons below).
    pub ntp_packets_dropped: u64,
    pub ntp_packets_denied: u64,
    pub ntp_packets_rate_limited: u64,
    pub ntp_packets_malformed: u64,
    pub ntp_packets_oversized: u64,
    /// Not client requests (mode 6/7 control queries, replies, broadcasts).
    pub ntp_packets_not_requests: u64,
    pub ntp_replies_sent: u64,
    /// Replies in interleaved mode (chronyc "Interleaved NTP packets").
    #[serde(default)]
    pub ntp_interleaved: u64,
    pub ntp_kods_sent: u64,
    pub ntp_send_failures: u64,
    /// Control-socket requests handled.
    pub command_requests: u64,
    /// Control-socket requests that got no reply: sent from an unbound socket, or the
    /// reply found the sender's queue full (chronyc "Command packets dropped").
    #[serde(default)]
    pub command_dropped: u64,
    pub client_log_records_dropped: u64,
    pub client_log_capacity: u64,
    pub ntp_daemon_rx_timestamps: u64,
    pub ntp_daemon_tx_timestamps: u64,
    pub ntp_kernel_rx_timestamps: u64,
    pub ntp_kernel_tx_timestamps: u64,
    pub ntp_hardware_rx_timestamps: u64,
    pub ntp_hardware_tx_timestamps: u64,
}

/// The answer to a command that changes state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub done: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        assert_eq!(
            serde_json::to_string(&Request::Tracking).unwrap(),
            r#"{"command":"tracking"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"command":"burst"}"#).unwrap(),
            Request::Burst
        );
        assert!(serde_json::from_str::<Request>(r#"{"command":"reboot"}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"command":"offline"}"#).unwrap(),
            Request::Offline { address: None }
        );
        assert_eq!(
            serde_json::to_string(&Request::Online {
                address: Some("192.0.2.0/24".into())
            })
            .unwrap(),
            r#"{"command":"online","address":"192.0.2.0/24"}"#
        );
        assert!(Request::Offline { address: None }.needs_root());
        assert!(Request::Makestep.needs_root());
        assert!(!Request::Sources.needs_root());
        let plain = Request::Clients {
            min_packets: 0,
            reset: false,
        };
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"command":"clients"}"#).unwrap(),
            plain
        );
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"command":"clients"}"#
        );
        let resetting = Request::Clients {
            min_packets: 5,
            reset: true,
        };
        assert_eq!(
            serde_json::to_string(&resetting).unwrap(),
            r#"{"command":"clients","min_packets":5,"reset":true}"#
        );
        assert!(!plain.needs_root());
        assert!(resetting.needs_root());
    }

    #[test]
    fn responses_round_trip() {
        let response = Response::ok(ResponseData::Activity(Activity {
            online: 3,
            offline: 0,
            burst_online: 1,
            burst_offline: 0,
            unresolved: 0,
        }));
        let text = serde_json::to_string(&response).unwrap();
        assert!(
            text.starts_with(r#"{"ok":true,"data":{"online":3"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), response);
        let error = Response::error("permission denied: burst is for root");
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(
            text,
            r#"{"ok":false,"error":"permission denied: burst is for root"}"#
        );
    }
}
