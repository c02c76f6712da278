//! The NTP server side of the main loop: server sockets and the per-packet path.
//!
//! Owns opening the server sockets (one wildcard socket per family, narrowed by
//! `bindaddress` and `-4`/`-6`; plain SOCK_DGRAM through crate::sys, kernel RX
//! timestamps), resolving host names in `allow`/`deny` once at start, and draining a
//! ready socket: receive, let gnomon-core decide (format, access, rate limit, reply
//! fields), read the clock for the transmit timestamp as late as possible, send.
//! Nothing on that path allocates: one receive buffer, a 48-byte reply on the stack.
//!
//! It must not make policy (gnomon-core's `serving` does), wait (the main loop
//! polls), or log per packet: a flood must not become a log flood.

use crate::clock::Clock;
use crate::config::{AccessRule as ConfigRule, AddressFamily, Config, Subnet};
use crate::sys::fd::Readiness;
use crate::sys::socket::{TimestampSupport, UdpSocket};
use crate::sys::timex::monotonic_now_ns;
use gnomon_core::access::{AccessRule, AccessTable};
use gnomon_core::client_table::DEFAULT_CAPACITY;
use gnomon_core::ratelimit::RateLimitParams;
use gnomon_core::serving::{Served, Server, ServerConfig, TimestampKind, MAX_REQUEST_LEN};
use gnomon_core::system::SystemVariables;
use gnomon_proto::NtpTimestamp;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;

/// Most datagrams taken from one socket per main-loop turn, so the control socket
/// and timers still get their turn under a flood (poll is level-triggered: the rest
/// wait for the next turn).
pub const MAX_DATAGRAMS_PER_TURN: usize = 1024;

/// One bound server socket.
pub struct ServerSocket {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub timestamps: TimestampSupport,
}

/// Serving state: sockets, the core server, the receive buffer.
pub struct Serving {
    sockets: Vec<ServerSocket>,
    server: Server,
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

/// The addresses the server sockets bind: wildcard per family unless `bindaddress`
/// names one, and only the families `-4`/`-6` leave.
pub fn server_addresses(config: &Config) -> Vec<SocketAddr> {
    let mut addresses = Vec::new();
    if config.address_family != AddressFamily::Ipv6 {
        let ip = config.bind_address_v4.unwrap_or(Ipv4Addr::UNSPECIFIED);
        addresses.push(SocketAddr::new(IpAddr::V4(ip), config.ntp_port));
    }
    if config.address_family != AddressFamily::Ipv4 {
        let ip = config.bind_address_v6.unwrap_or(Ipv6Addr::UNSPECIFIED);
        addresses.push(SocketAddr::new(IpAddr::V6(ip), config.ntp_port));
    }
    addresses
}

/// Open one server socket with RX timestamps.
pub fn open_server_socket(address: SocketAddr, reuse_port: bool) -> io::Result<ServerSocket> {
    let mut socket = if reuse_port {
        UdpSocket::bind_reuse_port(address)?
    } else {
        UdpSocket::bind(address)?
    };
    let timestamps = socket.enable_rx_timestamps();
    let local = socket.local_addr().unwrap_or(address);
    Ok(ServerSocket {
        socket,
        local,
        timestamps,
    })
}

/// The core server for a configuration.
pub fn core_server(config: &Config, seed: [u8; 32]) -> Server {
    let rules = resolve_access_rules(&config.access_rules);
    Server::new(ServerConfig {
        access: AccessTable::from_rules(&rules),
        rate_limit: config.rate_limit.map(|limit| RateLimitParams {
            interval_log2_s: limit.interval_log2_s,
            burst: limit.burst,
            leak_log2: limit.leak_log2,
            kod_log2: limit.kod_log2,
        }),
        client_table_capacity: DEFAULT_CAPACITY,
        seed,
    })
}

impl Serving {
    /// Open the server sockets when the configuration serves clients (`allow` and a
    /// non-zero `port`). A socket that cannot be opened is logged once and skipped
    /// (an IPv6 socket on a host without IPv6 is expected); None when not serving.
    pub fn open(config: &Config, seed: [u8; 32]) -> Option<Serving> {
        if !config.serves_clients() {
            return None;
        }
        let mut sockets = Vec::new();
        for address in server_addresses(config) {
            match open_server_socket(address, false) {
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
            buffer: Box::new([0u8; MAX_REQUEST_LEN + 1]),
        })
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    pub fn sockets(&self) -> &[ServerSocket] {
        &self.sockets
    }

    /// What to poll: every server socket, readable.
    pub fn poll_entries(&self) -> impl Iterator<Item = (RawFd, Readiness)> + '_ {
        self.sockets.iter().map(|socket| {
            (
                socket.socket.raw_fd(),
                Readiness {
                    readable: true,
                    ..Readiness::default()
                },
            )
        })
    }

    /// Answer what waits on socket `index` (at most [`MAX_DATAGRAMS_PER_TURN`]).
    pub fn drain(&mut self, index: usize, clock: &dyn Clock, system: &SystemVariables) {
        let Some(server_socket) = self.sockets.get(index) else {
            return;
        };
        let socket = &server_socket.socket;
        for _ in 0..MAX_DATAGRAMS_PER_TURN {
            let received = match socket.recv(&mut self.buffer[..]) {
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
            let bytes = match served {
                Served::Reply(mut reply) => {
                    reply.transmit_timestamp = NtpTimestamp::from_unix(clock.now());
                    reply.to_bytes()
                }
                Served::KissOfDeath(kod) => kod.to_bytes(),
                Served::Drop(_) => continue,
            };
            let sent = socket.send_to(&bytes, from).is_ok();
            self.server.on_sent(&served, sent, TimestampKind::Daemon);
        }
    }
}
