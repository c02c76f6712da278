//! Measuring one server: a few client requests over one connected UDP socket.
//!
//! Owns the request schedule of a one-shot query (count, interval, overall deadline),
//! the random transmit timestamps and the choice of the best sample (smallest delay).
//! It reads the local clock only to timestamp the exchange and never changes it.
//! Local timestamps are taken in user space around send/recv; kernel timestamps are
//! the daemon's business.

use crate::address::{AddressFamily, ServerName};
use crate::sample::{evaluate, Exchange, Rejection, Sample};
use gnomon_proto::{NtpHeader, NtpTimestamp, UnixTime};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

/// How to query.
#[derive(Clone, Copy, Debug)]
pub struct QueryOptions {
    /// Requests per server.
    pub requests: u32,
    /// Time between requests.
    pub interval: Duration,
    /// The whole query of one server ends within this time.
    pub timeout: Duration,
    pub family: AddressFamily,
}

/// What went wrong when no usable sample was had.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Resolve(String),
    #[error("socket error: {0}")]
    Socket(String),
    #[error("connection refused: nothing listens on that port")]
    Refused,
    #[error("no reply within {timeout_s} s")]
    Timeout { timeout_s: f64 },
    #[error("{0}")]
    Rejected(Rejection),
    /// A measurement made elsewhere failed (`gnomon fleet --ssh`).
    #[error("{0}")]
    Remote(String),
}

impl Failure {
    pub fn code(&self) -> String {
        match self {
            Failure::Resolve(_) => "resolve".into(),
            Failure::Socket(_) => "socket".into(),
            Failure::Refused => "refused".into(),
            Failure::Timeout { .. } => "timeout".into(),
            Failure::Rejected(rejection) => rejection.code(),
            Failure::Remote(_) => "remote".into(),
        }
    }
}

/// The result of querying one server.
#[derive(Clone, Debug)]
pub struct ServerReport {
    pub name: ServerName,
    /// The address that was queried (and answered, when `outcome` is Ok).
    pub address: Option<SocketAddr>,
    pub requests_sent: u32,
    /// Usable samples received.
    pub usable_samples: u32,
    /// Every rejected reply, in order, as text.
    pub rejections: Vec<Rejection>,
    /// The smallest-delay sample, or why there is none.
    pub outcome: Result<Sample, Failure>,
}

fn now() -> UnixTime {
    UnixTime::from_system_time(SystemTime::now())
}

/// Query one server as `options` say.
pub fn query_server(name: &ServerName, options: &QueryOptions) -> ServerReport {
    let mut report = ServerReport {
        name: name.clone(),
        address: None,
        requests_sent: 0,
        usable_samples: 0,
        rejections: Vec::new(),
        outcome: Err(Failure::Timeout {
            timeout_s: options.timeout.as_secs_f64(),
        }),
    };
    let address = match name.resolve(options.family) {
        Ok(addresses) => addresses[0],
        Err(message) => {
            report.outcome = Err(Failure::Resolve(message));
            return report;
        }
    };
    report.address = Some(address);
    match exchange_all(address, options, &mut report) {
        Ok(best) => {
            report.outcome = match best {
                Some(sample) => Ok(sample),
                None => Err(most_telling_failure(&report.rejections, options.timeout)),
            }
        }
        Err(failure) => report.outcome = Err(failure),
    }
    report
}

fn connect(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if address.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(address)?;
    Ok(socket)
}

/// Send the requests; return the best sample, or a failure that ends the query early.
fn exchange_all(
    address: SocketAddr,
    options: &QueryOptions,
    report: &mut ServerReport,
) -> Result<Option<Sample>, Failure> {
    let socket = connect(address).map_err(|error| Failure::Socket(error.to_string()))?;
    let started = Instant::now();
    let deadline = started + options.timeout;
    let mut best: Option<Sample> = None;
    let mut buffer = [0u8; 1024];
    for index in 0..options.requests.max(1) {
        let send_instant = Instant::now();
        if send_instant >= deadline {
            break;
        }
        let is_last = index + 1 == options.requests.max(1);
        let wait_until = if is_last {
            deadline
        } else {
            (send_instant + options.interval).min(deadline)
        };
        let request_transmit = NtpTimestamp::from_bits(rand::random::<u64>());
        let request = NtpHeader::client_request(request_transmit, 0).to_bytes();
        let sent_at = now();
        if let Err(error) = socket.send(&request) {
            if error.kind() == ErrorKind::ConnectionRefused {
                return Err(Failure::Refused);
            }
            return Err(Failure::Socket(error.to_string()));
        }
        report.requests_sent += 1;
        loop {
            let remaining = wait_until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            socket
                .set_read_timeout(Some(remaining))
                .map_err(|error| Failure::Socket(error.to_string()))?;
            let len = match socket.recv(&mut buffer) {
                Ok(len) => len,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break
                }
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    return Err(Failure::Refused)
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(Failure::Socket(error.to_string())),
            };
            let received_at = now();
            let exchange = Exchange {
                request_transmit,
                sent_at,
                received_at,
            };
            match evaluate(&exchange, &buffer[..len]) {
                Ok(sample) => {
                    report.usable_samples += 1;
                    if best.as_ref().is_none_or(|b| sample.delay_s < b.delay_s) {
                        best = Some(sample);
                    }
                    break;
                }
                Err(rejection) => {
                    let keeps_waiting = rejection.keeps_waiting();
                    let is_final = rejection.is_final();
                    report.rejections.push(rejection);
                    if is_final {
                        return Ok(best);
                    }
                    if !keeps_waiting {
                        break;
                    }
                }
            }
        }
        // Keep the requests `interval` apart even when a reply came early.
        if !is_last {
            std::thread::sleep(wait_until.saturating_duration_since(Instant::now()));
        }
    }
    Ok(best)
}

/// With no usable sample, the reason that tells the user most: what the server said
/// (KoD, unsynchronised, bogus timestamps) before what strangers sent (spoofs, junk).
pub fn most_telling_failure(rejections: &[Rejection], timeout: Duration) -> Failure {
    let rank = |rejection: &Rejection| match rejection {
        Rejection::KissOfDeath { .. } => 0,
        Rejection::Unsynchronized { .. } => 1,
        Rejection::BogusTimestamps(_) => 2,
        Rejection::BogusOrigin => 3,
        Rejection::NotServerMode(_) => 4,
        Rejection::Malformed(_) => 5,
    };
    match rejections.iter().min_by_key(|rejection| rank(rejection)) {
        Some(rejection) => Failure::Rejected(rejection.clone()),
        None => Failure::Timeout {
            timeout_s: timeout.as_secs_f64(),
        },
    }
}
