//! The NTP server side of the main loop: server sockets and the per-packet path.
//!
//! Owns opening the server sockets (one wildcard socket per family, narrowed by
//! `bindaddress` and `-4`/`-6`; plain SOCK_DGRAM through gnomon-sys, kernel RX
//! timestamps), resolving host names in `allow`/`deny` once at start, and draining a
//! ready socket: receive, let gnomon-core decide (format, access, rate limit, reply
//! fields), read the clock for the transmit timestamp as late as possible, send.
//! Nothing on that path allocates: one receive buffer, a 48-byte reply on the stack.
//!
//! It must not make policy (gnomon-core's `serving` does), wait (the main loop
//! polls), or log per packet: a flood must not become a log flood.

use crate::clock::Clock;
use gnomon_config::{AccessRule as ConfigRule, AddressFamily, Config, Subnet};
use gnomon_core::access::{AccessRule, AccessTable};
use gnomon_core::ratelimit::RateLimitParams;
use gnomon_core::serving::{Served, Server, ServerConfig, TimestampKind, MAX_REQUEST_LEN};
use gnomon_core::system::SystemVariables;
use gnomon_proto::NtpTimestamp;
use gnomon_sys::fd::Readiness;
use gnomon_sys::socket::{TimestampSupport, UdpSocket};
use gnomon_sys::timex::monotonic_now_ns;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;

use super::snapshot::ServingSnapshot;
use super::sources::SourceSlot;
use super::tx_ring::TxRing;
use super::workers::Workers;
use gnomon_core::client_table::ClientRecord;
use gnomon_core::serving::ServerStats;
use gnomon_proto::{NtpDuration, ReferenceId};
use gnomon_sys::timex::realtime_now;

/// What the monitoring views need, from the main loop's server or all workers'.
#[derive(Clone, Debug)]
pub struct ServingReport {
    pub stats: ServerStats,
    pub client_log_evictions: u64,
    pub client_log_capacity: usize,
    pub clients: Vec<ClientRecord>,
    pub local_addresses: Vec<SocketAddr>,
    pub worker_threads: usize,
}

fn merge_record(merged: &mut ClientRecord, other: &ClientRecord) {
    merged.requests += other.requests;
    merged.rate_limit_drops += other.rate_limit_drops;
    merged.kods_sent += other.kods_sent;
    if other.last_request_ns > merged.last_request_ns {
        merged.last_request_ns = other.last_request_ns;
    }
    merged.rate = merged.rate.or(other.rate);
    merged.limited_rate = merged.limited_rate.or(other.limited_rate);
}

/// The reference ID other servers know this host by, for `local ... orphan`, when the
/// configuration says it: the IPv4 `bindaddress`. Otherwise it comes from the sources
/// as they resolve ([`own_reference_id_from_sources`]).
pub fn own_reference_id(config: &Config) -> Option<ReferenceId> {
    config
        .bind_address_v4
        .filter(|a| !a.is_unspecified())
        .map(|address| ReferenceId::from_ip(address.into()))
}

/// Without an IPv4 `bindaddress`: the local address the kernel picked toward the
/// first source (in configuration order, `server` or `pool`, by address or by name
/// once resolved) reached over IPv4: its connected socket's name, so no packet and no
/// DNS query is needed. None while no such source has an address (then orphan peers
/// are not followed, and each serves its own clock).
pub fn own_reference_id_from_sources(sources: &[SourceSlot]) -> Option<ReferenceId> {
    let first = sources
        .iter()
        .filter(|slot| slot.address.is_ipv4())
        .min_by_key(|slot| slot.config_index)?;
    match first.socket.local_addr().ok()?.ip() {
        IpAddr::V4(local) if !local.is_unspecified() => Some(ReferenceId::from_ip(local.into())),
        _ => None,
    }
}

/// The system variables and the clock's mapping from system time, now.
pub fn snapshot_of(system: &SystemVariables, clock: &dyn Clock) -> ServingSnapshot {
    let system_at = realtime_now();
    let clock_at = clock.clock_time_of_system(system_at);
    let one_second_later =
        clock.clock_time_of_system(system_at.add(NtpDuration::from_nanos(1_000_000_000)));
    let rate_offset =
        (one_second_later.as_nanos() - clock_at.as_nanos() - 1_000_000_000) as f64 * 1e-9;
    ServingSnapshot {
        system: *system,
        system_at,
        clock_at,
        clock_rate_offset: rate_offset,
    }
}

/// Most datagrams taken from one socket per main-loop turn, so the control socket
/// and timers still get their turn under a flood (poll is level-triggered: the rest
/// wait for the next turn).
pub const MAX_DATAGRAMS_PER_TURN: usize = 1024;

/// Receive buffer asked for on each server socket: about 1,400 queued requests
/// (a 48-byte datagram costs the kernel ~768 bytes of buffer), 10 ms at 140,000/s;
/// the kernel default (208 KiB) holds about 270.
pub const SERVER_RECEIVE_BUFFER_BYTES: usize = 1 << 20;

/// One bound server socket.
pub struct ServerSocket {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub timestamps: TimestampSupport,
    /// Which reply each kernel TX timestamp belongs to.
    pub tx_ring: TxRing,
}

/// Serving state: sockets, the core server, the receive buffer.
pub struct Serving {
    sockets: Vec<ServerSocket>,
    server: Server,
    /// `server_threads N`: the workers serve and `sockets` is empty.
    workers: Option<Workers>,
    buffer: Box<[u8; MAX_REQUEST_LEN + 1]>,
}

/// Turn the configured rules into addresses: host names are resolved now (first
/// address, as chrony does); a name that does not resolve is logged and skipped.
pub fn resolve_access_rules(rules: &[ConfigRule]) -> Vec<AccessRule> {
    let mut resolved = Vec::with_capacity(rules.len());
    for rule in rules {
        let network = match &rule.subnet {
            Subnet::Everything => None,
            Subnet::Network {
                address,
                prefix_len,
            } => Some((*address, *prefix_len)),
            Subnet::Host(name) => match (name.as_str(), 0).to_socket_addrs() {
                Ok(mut addresses) => match addresses.next() {
                    Some(address) => {
                        let full = if address.is_ipv4() { 32 } else { 128 };
                        Some((address.ip(), full))
                    }
                    None => {
                        tracing::warn!("{name} in allow/deny has no address; rule skipped");
                        continue;
                    }
                },
                Err(error) => {
                    tracing::warn!("cannot resolve {name} in allow/deny: {error}; rule skipped");
                    continue;
                }
            },
        };
        resolved.push(AccessRule {
            allow: rule.allow,
            all: rule.all,
            network,
        });
    }
    resolved
}

/// Whether the `allow` rules could let in a client of this family (chronyd opens a
/// family's server socket only then). A rule naming a host or everything could; with
/// no `allow` rule at all nothing is decided here.
fn family_allowed(config: &Config, ipv6: bool) -> bool {
    let allows: Vec<&ConfigRule> = config.access_rules.iter().filter(|r| r.allow).collect();
    allows.is_empty()
        || allows.iter().any(|rule| match &rule.subnet {
            Subnet::Network { address, .. } => address.is_ipv6() == ipv6,
            Subnet::Everything | Subnet::Host(_) => true,
        })
}

/// The addresses the server sockets bind: wildcard per family unless `bindaddress`
/// names one, and only the families `-4`/`-6` leave. A family no `allow` rule can
/// let in gets no socket unless its `bindaddress` is set (as chronyd: an IPv4
/// `bindaddress` with IPv4-only `allow` opens no `[::]:PORT`).
pub fn server_addresses(config: &Config) -> Vec<SocketAddr> {
    let mut addresses = Vec::new();
    if config.address_family != AddressFamily::Ipv6
        && (config.bind_address_v4.is_some() || family_allowed(config, false))
    {
        let ip = config.bind_address_v4.unwrap_or(Ipv4Addr::UNSPECIFIED);
        addresses.push(SocketAddr::new(IpAddr::V4(ip), config.ntp_port));
    }
    if config.address_family != AddressFamily::Ipv4
        && (config.bind_address_v6.is_some() || family_allowed(config, true))
    {
        let ip = config.bind_address_v6.unwrap_or(Ipv6Addr::UNSPECIFIED);
        addresses.push(SocketAddr::new(IpAddr::V6(ip), config.ntp_port));
    }
    addresses
}

/// Whether a server socket shares its port with others (`server_threads`' workers,
/// SO_REUSEPORT) or has it to itself (the one-thread loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSharing {
    Exclusive,
    ReusePort,
}

/// Open one server socket with kernel RX timestamps, and TX timestamps on request
/// (replies to interleaved requests).
pub fn open_server_socket(address: SocketAddr, sharing: PortSharing) -> io::Result<ServerSocket> {
    let mut socket = match sharing {
        PortSharing::ReusePort => UdpSocket::bind_reuse_port(address)?,
        PortSharing::Exclusive => UdpSocket::bind(address)?,
    };
    // Requests that arrive while the loop is busy (a burst, a control request, the
    // scheduler running something else) wait in this buffer instead of being dropped.
    // Their kernel receive timestamps were taken on arrival, so the wait does not
    // enter any client's measurement. The kernel caps the request at rmem_max.
    let _ = socket.set_receive_buffer(SERVER_RECEIVE_BUFFER_BYTES);
    let timestamps = socket.enable_server_timestamps();
    let local = socket.local_addr().unwrap_or(address);
    Ok(ServerSocket {
        socket,
        local,
        timestamps,
        tx_ring: TxRing::new(),
    })
}

/// The core server for a configuration.
pub fn core_server(config: &Config, seed: [u8; 32]) -> Server {
    core_server_with_capacity(config, seed, client_log_capacity(config))
}

/// Client log records that fit in `clientloglimit` bytes, with their interleaved
/// timestamps (gnomon-core's [`gnomon_core::serving::client_log_capacity`]).
fn client_log_capacity(config: &Config) -> usize {
    gnomon_core::serving::client_log_capacity(config.client_log_limit_bytes)
}

/// The same with a client log of `capacity` records.
pub fn core_server_with_capacity(config: &Config, seed: [u8; 32], capacity: usize) -> Server {
    let rules = resolve_access_rules(&config.access_rules);
    Server::new(ServerConfig {
        access: AccessTable::from_rules(&rules),
        rate_limit: config.rate_limit.map(|limit| RateLimitParams {
            interval_log2_s: limit.interval_log2_s,
            burst: limit.burst,
            leak_log2: limit.leak_log2,
            kod_log2: limit.kod_log2,
        }),
        client_table_capacity: capacity,
        client_log: !config.no_client_log,
        seed,
    })
}

impl Serving {
    /// Open the server sockets when the configuration serves clients (`allow` and a
    /// non-zero `port`). A socket that cannot be opened is logged once and skipped
    /// (an IPv6 socket on a host without IPv6 is expected); None when not serving.
    pub fn open(config: &Config, seed: [u8; 32], initial: &ServingSnapshot) -> Option<Serving> {
        if !config.serves_clients() {
            return None;
        }
        let threads = config.server_threads.unwrap_or(0) as usize;
        if threads > 0 {
            return Some(Serving {
                sockets: Vec::new(),
                server: core_server_with_capacity(config, seed, 64),
                workers: Some(Workers::start(config, threads, seed, initial)),
                buffer: Box::new([0u8; MAX_REQUEST_LEN + 1]),
            });
        }
        let mut sockets = Vec::new();
        for address in server_addresses(config) {
            match open_server_socket(address, PortSharing::Exclusive) {
                Ok(socket) => {
                    tracing::info!(
                        "serving NTP on {} (kernel timestamps: {:?})",
                        socket.local,
                        socket.timestamps
                    );
                    sockets.push(socket);
                }
                Err(error) if address.is_ipv6() => {
                    tracing::warn!(
                        "cannot open the IPv6 NTP server socket {address}: {error}; serving IPv4 only"
                    );
                }
                Err(error) => {
                    tracing::error!("cannot open the NTP server socket {address}: {error}");
                }
            }
        }
        if sockets.is_empty() {
            tracing::error!("no NTP server socket could be opened; not serving");
        }
        Some(Serving {
            sockets,
            server: core_server(config, seed),
            workers: None,
            buffer: Box::new([0u8; MAX_REQUEST_LEN + 1]),
        })
    }

    /// Totals and client records of the main loop's server and every worker's,
    /// merged by client address.
    pub fn report(&self) -> ServingReport {
        self.collect_report(false)
    }

    /// The same, then every client record's counters zeroed (chronyc `clients -r`):
    /// the workers' shared server is reset under the same lock it is read with, so
    /// no request is counted in neither report.
    pub fn report_and_reset_clients(&mut self) -> ServingReport {
        let report = self.collect_report(true);
        self.server.reset_client_counters();
        report
    }

    fn collect_report(&self, reset_workers: bool) -> ServingReport {
        let mut report = ServingReport {
            stats: *self.server.stats(),
            client_log_evictions: self.server.client_log_evictions(),
            client_log_capacity: self.server.client_log_capacity(),
            clients: self.server.clients().copied().collect(),
            local_addresses: self.sockets.iter().map(|socket| socket.local).collect(),
            worker_threads: 0,
        };
        if let Some(workers) = &self.workers {
            report.client_log_capacity = 0;
            report.worker_threads = workers.thread_count();
            report.local_addresses = workers.local_addresses().to_vec();
            for server in workers.servers() {
                let Ok(mut server) = server.lock() else {
                    continue;
                };
                report.stats.accumulate(server.stats());
                report.client_log_evictions += server.client_log_evictions();
                report.client_log_capacity += server.client_log_capacity();
                for record in server.clients() {
                    match report
                        .clients
                        .iter_mut()
                        .find(|r| r.address == record.address)
                    {
                        Some(merged) => merge_record(merged, record),
                        None => report.clients.push(*record),
                    }
                }
                if reset_workers {
                    server.reset_client_counters();
                }
            }
        }
        report
    }

    /// False with `noclientlog`: no client is logged (the workers' shared server is
    /// configured alike).
    pub fn has_client_log(&self) -> bool {
        self.server.has_client_log()
    }

    /// Publish the state the worker threads read (nothing to do without workers).
    pub fn publish(&self, system: &SystemVariables, clock: &dyn Clock) {
        if let Some(workers) = &self.workers {
            workers.publish(&snapshot_of(system, clock));
        }
    }

    /// The longest the main loop may sleep so workers see fresh state (None: no limit).
    pub fn max_wait(&self) -> Option<std::time::Duration> {
        self.workers
            .as_ref()
            .map(|_| std::time::Duration::from_secs(1))
    }

    /// How many sockets [`Serving::poll_entries`] lists.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// What to poll: every server socket, readable.
    pub fn poll_entries(&self) -> impl Iterator<Item = (RawFd, Readiness)> + '_ {
        self.sockets.iter().map(|socket| {
            (
                socket.socket.raw_fd(),
                Readiness {
                    readable: true,
                    priority: socket.timestamps == TimestampSupport::RxAndTx,
                    ..Readiness::default()
                },
            )
        })
    }

    /// Handle readiness of socket `index`: TX timestamps (POLLPRI) and requests.
    pub fn on_ready(
        &mut self,
        index: usize,
        readiness: Readiness,
        clock: &dyn Clock,
        system: &SystemVariables,
    ) {
        if readiness.priority || readiness.error {
            self.drain_tx_timestamps(index, clock);
        }
        if readiness.readable || readiness.error {
            self.drain(index, clock, system);
        }
    }

    /// Take the kernel's TX timestamps of sent replies (at most
    /// [`MAX_DATAGRAMS_PER_TURN`]) and keep them for interleaved replies.
    fn drain_tx_timestamps(&mut self, index: usize, clock: &dyn Clock) {
        let Some(server_socket) = self.sockets.get_mut(index) else {
            return;
        };
        for _ in 0..MAX_DATAGRAMS_PER_TURN {
            match server_socket.socket.recv_tx_timestamp() {
                Ok(Some(stamp)) => {
                    if let Some(key) = server_socket.tx_ring.take(stamp.send_index) {
                        let sent_at =
                            NtpTimestamp::from_unix(clock.clock_time_of_system(stamp.time));
                        self.server.note_precise_transmit(
                            NtpTimestamp::from_bits(key),
                            sent_at,
                            TimestampKind::Kernel,
                        );
                    }
                }
                Ok(None) => continue,
                Err(_) => break,
            }
        }
    }

    /// Answer what waits on socket `index` (at most [`MAX_DATAGRAMS_PER_TURN`]).
    pub fn drain(&mut self, index: usize, clock: &dyn Clock, system: &SystemVariables) {
        let Some(server_socket) = self.sockets.get_mut(index) else {
            return;
        };
        for _ in 0..MAX_DATAGRAMS_PER_TURN {
            let received = match server_socket.socket.recv(&mut self.buffer[..]) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!("{}: receive failed: {error}", server_socket.local);
                    break;
                }
            };
            let Some(from) = received.from else {
                continue;
            };
            let (received_at, rx_kind) = match received.kernel_rx {
                Some(kernel) => (clock.clock_time_of_system(kernel), TimestampKind::Kernel),
                None => (clock.now(), TimestampKind::Daemon),
            };
            let served = self.server.on_datagram(
                &self.buffer[..received.len],
                from.ip(),
                received_at,
                rx_kind,
                monotonic_now_ns(),
                system,
            );
            let (header, reply_key) = match served {
                Served::Reply(reply) | Served::InterleavedReply(reply, _) => {
                    (reply, reply.receive_timestamp)
                }
                Served::KissOfDeath(kod) => (kod, NtpTimestamp::ZERO),
                Served::Drop(_) => continue,
            };
            let mut header = header;
            // As late as possible: the clock is read right before the send call.
            let sent_at = NtpTimestamp::from_unix(clock.now());
            if let Served::Reply(_) = served {
                header.transmit_timestamp = sent_at;
            }
            // A client in interleaved mode will ask for this reply's transmit time:
            // have the kernel stamp it. Other replies cost no error-queue entry.
            let stamp_tx = matches!(served, Served::InterleavedReply(..))
                && server_socket.timestamps == TimestampSupport::RxAndTx;
            let sent = if stamp_tx {
                server_socket
                    .socket
                    .send_to_timestamped(&header.to_bytes(), from)
            } else {
                server_socket.socket.send_to(&header.to_bytes(), from)
            }
            .is_ok();
            if sent {
                if stamp_tx {
                    server_socket.tx_ring.record(reply_key.to_bits());
                }
                if reply_key != NtpTimestamp::ZERO {
                    self.server.note_reply_sent(reply_key, sent_at);
                }
            }
            self.server.on_sent(&served, sent, TimestampKind::Daemon);
        }
    }
}
