//! Serving clients: the decision for one received datagram, and the counters.
//!
//! Owns the path "bytes from address → reply header, or a counted drop": size and
//! format checks (never an amplifier: only mode 3 requests are answered, mode 6/7
//! and everything else is dropped, and the reply is the 48-byte header, never larger
//! than the request), access control, the client log, rate limiting (RATE KoD or
//! drop), the reply built from the system variables by `server::build_reply`, and
//! interleaved replies (see `interleave`).
//! Totals for `serverstats` and records for `clients` are kept here. Without a client
//! log (chrony's `noclientlog`) nothing is kept per client: no records, no rate
//! limiting (there is no state to limit with) and no interleaved replies (no saved
//! transmit timestamps), as in chronyd; the totals are still counted.
//!
//! It must not read a clock, touch a socket or allocate per request: the caller
//! passes the receive time (kernel or daemon) and monotonic time, and sets the
//! transmit timestamp of the returned header itself, as late as it can.

use std::net::IpAddr;

use gnomon_proto::{KissCode, Mode, NtpHeader, NtpTimestamp, UnixTime, HEADER_LEN};

use crate::access::AccessTable;
use crate::client_table::{prev_power_of_two, ClientRecord, ClientTable, RECORD_BYTES, WAYS};
use crate::interleave::{TimestampMap, SLOT_BYTES};
use crate::ratelimit::{Limit, RateLimitParams, RateLimiter};
use crate::server::{build_kiss_of_death, build_reply};
use crate::system::SystemVariables;

/// Largest request accepted, bytes (the receive buffer is one byte larger, so a
/// longer datagram is seen as oversized rather than silently truncated).
pub const MAX_REQUEST_LEN: usize = gnomon_proto::MAX_PACKET_LEN;

/// Where a timestamp came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampKind {
    /// Read from the clock by gnomond.
    Daemon,
    /// SO_TIMESTAMPING software timestamp from the kernel.
    Kernel,
    /// From the NIC.
    Hardware,
}

/// Why a datagram got no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than a header, a bad version, or bad extension fields / MAC.
    Malformed,
    /// Longer than [`MAX_REQUEST_LEN`].
    Oversized,
    /// Not a client request (mode 6/7 control, server replies, broadcast, ...).
    NotClientRequest,
    /// `deny`, or not covered by an `allow`.
    Denied,
    /// Over the client's rate limit.
    RateLimited,
}

/// The outcome for one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Send this header; its transmit timestamp is still zero: set it just before
    /// sending.
    Reply(NtpHeader),
    /// An interleaved-mode reply (RFC 9769): send it as it is; its transmit
    /// timestamp is the saved one of the client's previous reply, of this kind.
    InterleavedReply(NtpHeader, TimestampKind),
    /// Send this RATE kiss-o'-death as it is.
    KissOfDeath(NtpHeader),
    Drop(DropReason),
}

/// Totals since start (chronyc serverstats, and gnomon's additions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams received on the server sockets.
    pub received: u64,
    /// Datagrams that got no reply at all (the sum of the reasons below).
    pub dropped: u64,
    pub malformed: u64,
    pub oversized: u64,
    pub not_client_request: u64,
    pub denied: u64,
    pub rate_limited: u64,
    pub kods_sent: u64,
    pub replies_sent: u64,
    /// Replies sent in interleaved mode (included in `replies_sent`).
    pub interleaved: u64,
    /// Replies (and KoDs) the socket refused to send.
    pub send_failures: u64,
    pub daemon_rx_timestamps: u64,
    pub kernel_rx_timestamps: u64,
    pub hardware_rx_timestamps: u64,
    pub daemon_tx_timestamps: u64,
    pub kernel_tx_timestamps: u64,
    pub hardware_tx_timestamps: u64,
}

impl ServerStats {
    /// Add `other`'s counts (the totals of several worker threads).
    pub fn accumulate(&mut self, other: &ServerStats) {
        let ServerStats {
            received,
            dropped,
            malformed,
            oversized,
            not_client_request,
            denied,
            rate_limited,
            kods_sent,
            replies_sent,
            interleaved,
            send_failures,
            daemon_rx_timestamps,
            kernel_rx_timestamps,
            hardware_rx_timestamps,
            daemon_tx_timestamps,
            kernel_tx_timestamps,
            hardware_tx_timestamps,
        } = *other;
        self.received += received;
        self.dropped += dropped;
        self.malformed += malformed;
        self.oversized += oversized;
        self.not_client_request += not_client_request;
        self.denied += denied;
        self.rate_limited += rate_limited;
        self.kods_sent += kods_sent;
        self.replies_sent += replies_sent;
        self.interleaved += interleaved;
        self.send_failures += send_failures;
        self.daemon_rx_timestamps += daemon_rx_timestamps;
        self.kernel_rx_timestamps += kernel_rx_timestamps;
        self.hardware_rx_timestamps += hardware_rx_timestamps;
        self.daemon_tx_timestamps += daemon_tx_timestamps;
        self.kernel_tx_timestamps += kernel_tx_timestamps;
        self.hardware_tx_timestamps += hardware_tx_timestamps;
    }
}

/// Interleaved-mode timestamps kept per client record.
pub const TIMESTAMPS_PER_CLIENT: usize = 2;

/// The client log records that `clientloglimit` bytes hold, chrony's way: the records
/// and their interleaved-mode timestamps together stay within the limit (a power of
/// two of records, rounded down), but at least one bucket of the table.
pub fn client_log_capacity(limit_bytes: u64) -> usize {
    let per_client = (RECORD_BYTES + TIMESTAMPS_PER_CLIENT * SLOT_BYTES) as u64;
    let records = usize::try_from(limit_bytes / per_client).unwrap_or(usize::MAX);
    prev_power_of_two(records.max(WAYS))
}

/// What the server needs from the configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub access: AccessTable,
    pub rate_limit: Option<RateLimitParams>,
    pub client_table_capacity: usize,
    /// Keep the client log and the interleaved-mode timestamps (false: chrony's
    /// `noclientlog`; `rate_limit` is then ignored, as chronyd cannot limit without
    /// the log; its configuration refuses the pair).
    pub client_log: bool,
    /// Seeds the hash key of the client table and the leak/KoD randomness.
    pub seed: [u8; 32],
}

/// The serving state.
#[derive(Clone, Debug)]
pub struct Server {
    access: AccessTable,
    limiter: Option<RateLimiter>,
    /// None without a client log: then no limiter and no timestamps either.
    clients: Option<ClientTable>,
    timestamps: Option<TimestampMap>,
    stats: ServerStats,
}

impl Server {
    pub fn new(config: ServerConfig) -> Server {
        let mut key = [0u8; 8];
        key.copy_from_slice(&config.seed[..8]);
        let logged = config.client_log;
        Server {
            access: config.access,
            limiter: config
                .rate_limit
                .filter(|_| logged)
                .map(|params| RateLimiter::new(params, config.seed)),
            clients: logged
                .then(|| ClientTable::new(config.client_table_capacity, u64::from_le_bytes(key))),
            timestamps: logged.then(|| {
                TimestampMap::new(
                    config
                        .client_table_capacity
                        .saturating_mul(TIMESTAMPS_PER_CLIENT),
                )
            }),
            stats: ServerStats::default(),
        }
    }

    pub fn access(&self) -> &AccessTable {
        &self.access
    }

    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Records dropped from the client log to make room (chronyc "Client log records
    /// dropped").
    pub fn client_log_evictions(&self) -> u64 {
        self.clients.as_ref().map_or(0, ClientTable::evictions)
    }

    /// Memory of the client log and the interleaved-mode timestamps, bytes (0
    /// without a client log): what `clientloglimit` caps.
    pub fn client_log_memory_bytes(&self) -> usize {
        self.clients.as_ref().map_or(0, ClientTable::memory_bytes)
            + self
                .timestamps
                .as_ref()
                .map_or(0, TimestampMap::memory_bytes)
    }

    /// How many clients the log can hold (0 without a client log).
    pub fn client_log_capacity(&self) -> usize {
        self.clients.as_ref().map_or(0, ClientTable::capacity)
    }

    /// False with `noclientlog`: nothing is kept per client.
    pub fn has_client_log(&self) -> bool {
        self.clients.is_some()
    }

    pub fn clients(&self) -> impl Iterator<Item = &ClientRecord> {
        self.clients.iter().flat_map(ClientTable::records)
    }

    /// Zero the client log's per-client counters (chronyc `clients -r`); the totals
    /// of [`Server::stats`] are not touched, as chronyd's serverstats are not.
    pub fn reset_client_counters(&mut self) {
        if let Some(clients) = &mut self.clients {
            clients.reset_counters();
        }
    }

    /// Decide what to send for `bytes` from `from`, received at `received_at` (local
    /// clock; `rx_kind` says how it was taken) and at monotonic `now_ns`.
    pub fn on_datagram(
        &mut self,
        bytes: &[u8],
        from: IpAddr,
        received_at: UnixTime,
        rx_kind: TimestampKind,
        now_ns: i64,
        system: &SystemVariables,
    ) -> Served {
        self.stats.received += 1;
        let served = self.decide(bytes, from, received_at, now_ns, system);
        match served {
            Served::Reply(_) | Served::InterleavedReply(..) => match rx_kind {
                TimestampKind::Daemon => self.stats.daemon_rx_timestamps += 1,
                TimestampKind::Kernel => self.stats.kernel_rx_timestamps += 1,
                TimestampKind::Hardware => self.stats.hardware_rx_timestamps += 1,
            },
            Served::KissOfDeath(_) => {}
            Served::Drop(reason) => {
                self.stats.dropped += 1;
                let counter = match reason {
                    DropReason::Malformed => &mut self.stats.malformed,
                    DropReason::Oversized => &mut self.stats.oversized,
                    DropReason::NotClientRequest => &mut self.stats.not_client_request,
                    DropReason::Denied => &mut self.stats.denied,
                    DropReason::RateLimited => &mut self.stats.rate_limited,
                };
                *counter += 1;
            }
        }
        served
    }

    fn decide(
        &mut self,
        bytes: &[u8],
        from: IpAddr,
        received_at: UnixTime,
        now_ns: i64,
        system: &SystemVariables,
    ) -> Served {
        if bytes.len() > MAX_REQUEST_LEN {
            return Served::Drop(DropReason::Oversized);
        }
        let Ok((request, trailer)) = NtpHeader::parse(bytes) else {
            return Served::Drop(DropReason::Malformed);
        };
        if request.mode != Mode::Client {
            return Served::Drop(DropReason::NotClientRequest);
        }
        if !trailer_is_well_formed(trailer) {
            return Served::Drop(DropReason::Malformed);
        }
        if !self.access.is_allowed(from) {
            return Served::Drop(DropReason::Denied);
        }
        let limit = match &mut self.clients {
            Some(clients) => {
                let full_tokens = self
                    .limiter
                    .as_ref()
                    .map_or(0, |l| l.params().full_tokens());
                let (record, elapsed_ticks) = clients.log_request(from, now_ns, full_tokens);
                match &mut self.limiter {
                    Some(limiter) => limiter.check(record, elapsed_ticks),
                    None => Limit::Pass,
                }
            }
            None => Limit::Pass,
        };
        match limit {
            Limit::Pass => match build_reply(&request, received_at, received_at, system) {
                Ok(mut reply) => {
                    reply.transmit_timestamp = NtpTimestamp::ZERO;
                    // Basic clients send a zero origin (or one we never used as a
                    // receive timestamp): no lookup hit, a basic reply.
                    let previous = match (request.origin_timestamp, &self.timestamps) {
                        (NtpTimestamp::ZERO, _) | (_, None) => None,
                        (origin, Some(timestamps)) => timestamps.transmit_of(origin.to_bits()),
                    };
                    match previous {
                        Some((transmit, kind)) => {
                            reply.origin_timestamp = request.receive_timestamp;
                            reply.transmit_timestamp = transmit;
                            Served::InterleavedReply(reply, kind)
                        }
                        None => Served::Reply(reply),
                    }
                }
                Err(_) => Served::Drop(DropReason::NotClientRequest),
            },
            Limit::Kod => match build_kiss_of_death(&request, KissCode::Rate) {
                Ok(kod) => Served::KissOfDeath(kod),
                Err(_) => Served::Drop(DropReason::NotClientRequest),
            },
            Limit::Drop => Served::Drop(DropReason::RateLimited),
        }
    }

    /// The reply that carried receive timestamp `receive` was sent; `transmit` was
    /// read just before sending. Kept for a later interleaved request.
    pub fn note_reply_sent(&mut self, receive: NtpTimestamp, transmit: NtpTimestamp) {
        if let Some(timestamps) = &mut self.timestamps {
            timestamps.insert(receive.to_bits(), transmit, TimestampKind::Daemon);
        }
    }

    /// The kernel's (or the NIC's) transmit timestamp of the reply that carried
    /// receive timestamp `receive`, from the error queue.
    pub fn note_precise_transmit(
        &mut self,
        receive: NtpTimestamp,
        transmit: NtpTimestamp,
        kind: TimestampKind,
    ) {
        if let Some(timestamps) = &mut self.timestamps {
            timestamps.upgrade(receive.to_bits(), transmit, kind);
        }
    }

    /// Count what happened when the caller sent a reply or KoD.
    pub fn on_sent(&mut self, served: &Served, ok: bool, tx_kind: TimestampKind) {
        if !ok {
            self.stats.send_failures += 1;
            return;
        }
        match served {
            Served::Reply(_) | Served::InterleavedReply(..) => {
                self.stats.replies_sent += 1;
                let tx_kind = match served {
                    Served::InterleavedReply(_, kind) => {
                        self.stats.interleaved += 1;
                        *kind
                    }
                    _ => tx_kind,
                };
                match tx_kind {
                    TimestampKind::Daemon => self.stats.daemon_tx_timestamps += 1,
                    TimestampKind::Kernel => self.stats.kernel_tx_timestamps += 1,
                    TimestampKind::Hardware => self.stats.hardware_tx_timestamps += 1,
                }
            }
            Served::KissOfDeath(_) => self.stats.kods_sent += 1,
            Served::Drop(_) => {}
        }
    }
}

/// What may follow the header in a request: RFC 7822 extension fields (each at least
/// 16 bytes, a multiple of 4, within the packet), then optionally a MAC (4-byte key
/// ID and a 16- or 20-byte digest, or a 4-byte crypto-NAK). Checked without
/// allocating; the content is ignored (the reply carries none of it).
fn trailer_is_well_formed(mut rest: &[u8]) -> bool {
    const MAC_LENS: [usize; 3] = [4, 4 + 16, 4 + 20];
    loop {
        if rest.is_empty() || MAC_LENS.contains(&rest.len()) {
            return true;
        }
        if rest.len() < gnomon_proto::packet::MIN_EXTENSION_LEN {
            return false;
        }
        let field_len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if field_len < gnomon_proto::packet::MIN_EXTENSION_LEN
            || field_len % 4 != 0
            || field_len > rest.len()
        {
            return false;
        }
        rest = &rest[field_len..];
    }
}

/// The reply as bytes: always the bare header, so never larger than a request.
pub fn reply_bytes(header: &NtpHeader) -> [u8; HEADER_LEN] {
    header.to_bytes()
}

#[cfg(test)]
#[path = "serving_tests.rs"]
mod tests;
