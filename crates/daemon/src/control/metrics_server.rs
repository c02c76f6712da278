//! The `metrics ADDRESS:PORT` HTTP endpoint, served from the main poll loop.
//!
//! Owns the endpoint's limits (at most [`MAX_CONNECTIONS`], each with a request of at
//! most [`MAX_REQUEST_BYTES`] within [`REQUEST_TIMEOUT_NS`] and
//! [`CONNECTION_TIMEOUT_NS`] to finish; a full set makes room for a new connection by
//! closing the oldest one still without a request, and a request that arrives with its
//! connection is answered at once, so clients dripping bytes cannot starve a scrape:
//! [`SLOW_CLIENTS`]), parsing the
//! request line and choosing the format from `Accept`. One request per connection
//! (`Connection: close`). The listening TCP socket and its connections (non-blocking,
//! all in the poll set, so a slow or hostile client costs a slot, never a wait) are
//! [`super::connections`]'. What the body says is the caller's business (a closure);
//! it must not read engine state itself.

use super::connections::{Connection, Connections, Limits, SlowClientPolicy};
use gnomon_sys::fd::Readiness;
use gnomon_sys::tcp::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Most simultaneous connections; more wait in the listen backlog
/// ([`gnomon_sys::tcp::LISTEN_BACKLOG`]).
pub const MAX_CONNECTIONS: usize = 64;
/// Longest request head; a longer one gets 431 and is closed.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// A connection without a complete request head this long after it was accepted is
/// closed (Prometheus sends its request at once).
pub const REQUEST_TIMEOUT_NS: i64 = 2_000_000_000;
/// A connection that has not finished its exchange after this long is dropped.
pub const CONNECTION_TIMEOUT_NS: i64 = 5_000_000_000;
/// Connections accepted per loop turn.
const MAX_ACCEPTS_PER_TURN: usize = 64;
const LIMITS: Limits = Limits {
    max_connections: MAX_CONNECTIONS,
    max_accepts_per_turn: MAX_ACCEPTS_PER_TURN,
    timeout_ns: CONNECTION_TIMEOUT_NS,
};
/// How slow clients are kept from starving a scrape.
pub const SLOW_CLIENTS: SlowClientPolicy = SlowClientPolicy {
    request_timeout_ns: REQUEST_TIMEOUT_NS,
    evictable_after_ns: 250_000_000,
};

/// Which text format the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text` (Prometheus asks for it).
    OpenMetrics,
    /// The classic `text/plain; version=0.0.4`.
    Classic,
}

/// The listening socket and its connections.
pub struct MetricsServer {
    address: SocketAddr,
    connections: Connections<TcpListener>,
    /// Requests answered (any status), for tests and logs.
    pub requests: u64,
}

impl MetricsServer {
    pub fn bind(address: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        Ok(MetricsServer {
            address,
            connections: Connections::new(listener, LIMITS).with_slow_client_policy(SLOW_CLIENTS),
            requests: 0,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The descriptors to poll: the listener first, then each connection.
    pub fn poll_entries(&self) -> Vec<(RawFd, Readiness)> {
        self.connections.poll_entries()
    }

    /// The longest the caller may sleep in poll before [`Self::handle_ready`] must run
    /// again (to expire connections); None without connections.
    pub fn max_wait(&self) -> Option<std::time::Duration> {
        (!self.connections.is_empty()).then(|| std::time::Duration::from_millis(250))
    }

    /// Serve what `ready` (in the order of [`Self::poll_entries`]) says is ready;
    /// `body` renders the metrics when a complete GET /metrics arrives.
    pub fn handle_ready(
        &mut self,
        ready: &[Readiness],
        now_monotonic_ns: i64,
        body: &mut dyn FnMut(Format) -> String,
    ) {
        let requests = &mut self.requests;
        let accept_error =
            self.connections
                .handle_ready(ready, now_monotonic_ns, |connection, readiness| {
                    serve(connection, readiness, body, requests)
                });
        if let Some(error) = accept_error {
            tracing::debug!("metrics {}: accept failed: {error}", self.address);
        }
    }
}

/// Progress one connection; true when it is finished (or broken) and should close.
fn serve(
    connection: &mut Connection<TcpStream>,
    readiness: &Readiness,
    body: &mut dyn FnMut(Format) -> String,
    requests: &mut u64,
) -> bool {
    if connection.output.is_empty() && (readiness.readable || readiness.error) {
        let mut buffer = [0u8; 1024];
        match connection.stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(n) => connection.input.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
        match answer(&connection.input, body) {
            Some(output) => {
                connection.output = output;
                *requests += 1;
            }
            None => return false,
        }
    }
    if connection.output.is_empty() {
        return false;
    }
    match connection
        .stream
        .write(&connection.output[connection.written..])
    {
        Ok(n) => {
            connection.written += n;
            connection.written >= connection.output.len()
        }
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// What to send a connection that has sent `input` so far: `None` while its request
/// head is incomplete and within [`MAX_REQUEST_BYTES`]; then the response to the
/// head ([`respond`]), or 431 for a head too long. Public for the fuzz target
/// `metrics_request`.
pub fn answer(input: &[u8], body: &mut dyn FnMut(Format) -> String) -> Option<Vec<u8>> {
    let complete =
        input.windows(4).any(|w| w == b"\r\n\r\n") || input.windows(2).any(|w| w == b"\n\n");
    if complete {
        Some(respond(input, body))
    } else if input.len() > MAX_REQUEST_BYTES {
        Some(response(
            431,
            "Request Header Fields Too Large",
            "text/plain",
            b"request too large\n",
        ))
    } else {
        None
    }
}

/// The response to one request head.
pub fn respond(head: &[u8], body: &mut dyn FnMut(Format) -> String) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !parts
        .next()
        .is_some_and(|version| version.starts_with("HTTP/1."))
    {
        return response(400, "Bad Request", "text/plain", b"bad request\n");
    }
    if method != "GET" && method != "HEAD" {
        return response(405, "Method Not Allowed", "text/plain", b"only GET\n");
    }
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return response(404, "Not Found", "text/plain", b"see /metrics\n");
    }
    let openmetrics = lines.any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("accept:") && lower.contains("application/openmetrics-text")
    });
    let (format, content_type) = if openmetrics {
        (
            Format::OpenMetrics,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (Format::Classic, "text/plain; version=0.0.4; charset=utf-8")
    };
    let text = body(format);
    let mut out = response(200, "OK", content_type, text.as_bytes());
    if method == "HEAD" {
        let head_end = out.len() - text.len();
        out.truncate(head_end);
    }
    out
}

fn response(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
