//! The control protocol between `gnomon` and gnomond, over a Unix datagram socket.
//!
//! Owns the message types and their JSON form; nothing else. The exchange: the
//! client sends one [`Request`] as a JSON object in one datagram; the daemon answers
//! with one [`Response`] in one datagram (the envelope around them, sequence numbers
//! and paging, is [`crate::envelope`]'s). Field names are a contract shared with
//! scripts (`gnomon ... --json` prints `data` as is): add fields, never rename them.
//! See docs/control-protocol.md.

use crate::status::Status;
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
    /// `offline`; root only). See [`crate::source_match`] for the forms.
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

/// The daemon's answer: `ok` is true exactly when `status` is [`Status::Ok`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    Ok {
        ok: bool,
        status: Status,
        data: ResponseData,
    },
    Error {
        ok: bool,
        status: Status,
        error: String,
    },
}

impl Response {
    pub fn ok(data: ResponseData) -> Response {
        Response::Ok {
            ok: true,
            status: Status::Ok,
            data,
        }
    }

    /// An error reply: `status` for programs, `message` for people.
    pub fn error(status: Status, message: impl Into<String>) -> Response {
        debug_assert_ne!(status, Status::Ok, "an error needs an error status");
        Response::Error {
            ok: false,
            status,
            error: message.into(),
        }
    }

    /// What became of the request.
    pub fn status(&self) -> Status {
        match self {
            Response::Ok { status, .. } | Response::Error { status, .. } => *status,
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
    pub leap_status: LeapStatus,
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
    pub mode: SourceMode,
    /// Selection state as chronyc's symbol: * + - x ~ ? (always `state_name`'s
    /// [`SourceState::symbol`]).
    pub state: StateSymbol,
    /// The same in words: selected, combined, not_combined, falseticker, too_variable,
    /// unusable, noselect, offline (`?`: offline with an empty reachability register),
    /// sync_loop (`?`: its last reply said it is synchronised to us).
    pub state_name: SourceState,
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
    pub stopped: Option<StopReason>,
    /// Switched offline (`gnomon offline`, the `offline` option): not polled.
    #[serde(default)]
    pub offline: bool,
}

/// chronyc's `Leap status` words for the leap indicator the daemon announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeapStatus {
    #[serde(rename = "Normal")]
    Normal,
    #[serde(rename = "Insert second")]
    InsertSecond,
    #[serde(rename = "Delete second")]
    DeleteSecond,
    #[serde(rename = "Not synchronised")]
    NotSynchronised,
}

impl LeapStatus {
    /// The words, as chronyc's `tracking` prints them (and the JSON carries them).
    pub const fn as_str(self) -> &'static str {
        match self {
            LeapStatus::Normal => "Normal",
            LeapStatus::InsertSecond => "Insert second",
            LeapStatus::DeleteSecond => "Delete second",
            LeapStatus::NotSynchronised => "Not synchronised",
        }
    }

    /// The NTP leap indicator (RFC 5905: 0 no warning, 1 insert, 2 delete, 3 alarm).
    pub const fn leap_indicator(self) -> u8 {
        match self {
            LeapStatus::Normal => 0,
            LeapStatus::InsertSecond => 1,
            LeapStatus::DeleteSecond => 2,
            LeapStatus::NotSynchronised => 3,
        }
    }
}

impl std::fmt::Display for LeapStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a source was configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceMode {
    /// A `server` line.
    Server,
    /// A member of a `pool` line (chronyc's `^` too).
    Pool,
}

/// A source's selection state in words (`state_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// The reference the clock follows (chronyc `*`).
    Selected,
    /// Combined with the reference (`+`).
    Combined,
    /// A truechimer left out of the combination (`-`).
    NotCombined,
    /// Outside the intersection of the others (`x`).
    Falseticker,
    /// Its error or distance is too large to be used (`~`).
    TooVariable,
    /// Not usable yet or any more: no samples, unreachable, stopped (`?`).
    Unusable,
    /// Configured `noselect` (`?`).
    #[serde(rename = "noselect")]
    NoSelect,
    /// Switched offline with an empty reachability register (`?`).
    Offline,
    /// Its last reply said it is synchronised to us: refused (`?`).
    SyncLoop,
}

impl SourceState {
    /// chronyc's symbol for the state.
    pub const fn symbol(self) -> StateSymbol {
        match self {
            SourceState::Selected => StateSymbol::Selected,
            SourceState::Combined => StateSymbol::Combined,
            SourceState::NotCombined => StateSymbol::NotCombined,
            SourceState::Falseticker => StateSymbol::Falseticker,
            SourceState::TooVariable => StateSymbol::TooVariable,
            SourceState::Unusable
            | SourceState::NoSelect
            | SourceState::Offline
            | SourceState::SyncLoop => StateSymbol::Unusable,
        }
    }

    /// The words as the JSON carries them (`not_combined`, `noselect`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceState::Selected => "selected",
            SourceState::Combined => "combined",
            SourceState::NotCombined => "not_combined",
            SourceState::Falseticker => "falseticker",
            SourceState::TooVariable => "too_variable",
            SourceState::Unusable => "unusable",
            SourceState::NoSelect => "noselect",
            SourceState::Offline => "offline",
            SourceState::SyncLoop => "sync_loop",
        }
    }

    /// The clock follows it or combines it.
    pub const fn is_in_use(self) -> bool {
        matches!(self, SourceState::Selected | SourceState::Combined)
    }
}

impl std::fmt::Display for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// chronyc's one-character selection state (`state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateSymbol {
    #[serde(rename = "*")]
    Selected,
    #[serde(rename = "+")]
    Combined,
    #[serde(rename = "-")]
    NotCombined,
    #[serde(rename = "x")]
    Falseticker,
    #[serde(rename = "~")]
    TooVariable,
    #[serde(rename = "?")]
    Unusable,
}

impl StateSymbol {
    pub const fn as_char(self) -> char {
        match self {
            StateSymbol::Selected => '*',
            StateSymbol::Combined => '+',
            StateSymbol::NotCombined => '-',
            StateSymbol::Falseticker => 'x',
            StateSymbol::TooVariable => '~',
            StateSymbol::Unusable => '?',
        }
    }
}

impl std::fmt::Display for StateSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Why a source stopped for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The server sent a DENY kiss-o'-death: access denied by the server.
    KodDeny,
    /// The server sent a RSTR kiss-o'-death: access denied by its local policy.
    KodRstr,
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
    fn typed_fields_keep_their_wire_words() {
        fn word<T: Serialize>(value: &T) -> String {
            serde_json::to_string(value).unwrap()
        }
        for (state, name, symbol) in [
            (SourceState::Selected, "selected", "*"),
            (SourceState::Combined, "combined", "+"),
            (SourceState::NotCombined, "not_combined", "-"),
            (SourceState::Falseticker, "falseticker", "x"),
            (SourceState::TooVariable, "too_variable", "~"),
            (SourceState::Unusable, "unusable", "?"),
            (SourceState::NoSelect, "noselect", "?"),
            (SourceState::Offline, "offline", "?"),
        ] {
            assert_eq!(word(&state), format!("\"{name}\""));
            assert_eq!(state.to_string(), name);
            assert_eq!(word(&state.symbol()), format!("\"{symbol}\""));
            assert_eq!(state.symbol().to_string(), symbol);
        }
        for (leap, name, indicator) in [
            (LeapStatus::Normal, "Normal", 0),
            (LeapStatus::InsertSecond, "Insert second", 1),
            (LeapStatus::DeleteSecond, "Delete second", 2),
            (LeapStatus::NotSynchronised, "Not synchronised", 3),
        ] {
            assert_eq!(word(&leap), format!("\"{name}\""));
            assert_eq!(leap.to_string(), name);
            assert_eq!(leap.leap_indicator(), indicator);
            let back: LeapStatus = serde_json::from_str(&word(&leap)).unwrap();
            assert_eq!(back, leap);
        }
        assert_eq!(word(&SourceMode::Pool), r#""pool""#);
        assert_eq!(word(&SourceMode::Server), r#""server""#);
        assert_eq!(word(&StopReason::KodDeny), r#""kod_deny""#);
        assert_eq!(word(&StopReason::KodRstr), r#""kod_rstr""#);
        assert!(serde_json::from_str::<SourceState>(r#""no_select""#).is_err());
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
            text.starts_with(r#"{"ok":true,"status":0,"data":{"online":3"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), response);
        let error = Response::error(Status::NotRoot, "permission denied: burst is for root");
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(
            text,
            r#"{"ok":false,"status":5,"error":"permission denied: burst is for root"}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), error);
    }
}
