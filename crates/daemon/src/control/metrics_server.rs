//! The `metrics ADDRESS:PORT` HTTP endpoint, served from the main poll loop.
//!
//! Owns the listening TCP socket, its connections (at most [`MAX_CONNECTIONS`], each
//! with a request of at most [`MAX_REQUEST_BYTES`] and [`CONNECTION_TIMEOUT_NS`] to
//! finish), parsing the request line and choosing the format from `Accept`. One
//! request per connection (`Connection: close`). Every socket is non-blocking and in
//! the poll set, so a slow or hostile client costs a slot, never a wait. What the body
//! says is the caller's business (a closure); it must not read engine state itself.

use crate::sys::fd::Readiness;
use crate::sys::tcp::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Most simultaneous connections; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request head; a longer one gets 431 and is closed.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// A connection that has not finished its exchange after this long is dropped.
pub const CONNECTION_TIMEOUT_NS: i64 = 5_000_000_000;
/// Connections accepted per loop turn.
const MAX_ACCEPTS_PER_TURN: usize = 16;

/// Which text format the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text` (Prometheus asks for it).
    OpenMetrics,
    /// The classic `text/plain; version=0.0.4`.
    Classic,
}

struct Connection {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    opened_at_ns: i64,
}

/// The listening socket and its connections.
pub struct MetricsServer {
    listener: TcpListener,
    address: SocketAddr,
    connections: Vec<Connection>,
    /// Requests answered (any status), for tests and logs.
    pub requests: u64,
}

impl MetricsServer {
    pub fn bind(address: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        Ok(MetricsServer {
            listener,
            address,
            connections: Vec::new(),
            requests: 0,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The descriptors to poll: the listener first, then each connection.
    pub fn poll_entries(&self) -> Vec<(RawFd, Readiness)> {
        let mut entries = Vec::with_capacity(1 + self.connections.len());
        entries.push((
            self.listener.raw_fd(),
            Readiness {
                readable: self.connections.len() < MAX_CONNECTIONS,
                ..Readiness::default()
            },
        ));
        for connection in &self.connections {
            let writing = !connection.output.is_empty();
            entries.push((
                connection.stream.raw_fd(),
                Readiness {
                    readable: !writing,
                    writable: writing,
                    ..Readiness::default()
                },
            ));
        }
        entries
    }

    /// The longest the caller may sleep in poll before [`Self::handle_ready`] must run
    /// again (to expire connections); None without connections.
    pub fn max_wait(&self) -> Option<std::time::Duration> {
        (!self.connections.is_empty()).then(|| std::time::Duration::from_secs(1))
    }

    /// Serve what `ready` (in the order of [`Self::poll_entries`]) says is ready;
    /// `body` renders the metrics when a complete GET /metrics arrives.
    pub fn handle_ready(
        &mut self,
        ready: &[Readiness],
        now_monotonic_ns: i64,
        body: &mut dyn FnMut(Format) -> String,
    ) {
        let mut closed = vec![false; self.connections.len()];
        for (index, connection) in self.connections.iter_mut().enumerate() {
            let expired = now_monotonic_ns - connection.opened_at_ns > CONNECTION_TIMEOUT_NS;
            let readiness = ready.get(index + 1).copied().unwrap_or_default();
            closed[index] = expired || serve(connection, &readiness, body, &mut self.requests);
        }
        let mut index = 0;
        self.connections.retain(|_| {
            index += 1;
            !closed[index - 1]
        });
        if ready.first().is_some_and(|r| r.readable) {
            for _ in 0..MAX_ACCEPTS_PER_TURN {
                if self.connections.len() >= MAX_CONNECTIONS {
                    break;
                }
                match self.listener.accept() {
                    Ok(stream) => self.connections.push(Connection {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        written: 0,
                        opened_at_ns: now_monotonic_ns,
                    }),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        tracing::debug!("metrics {}: accept failed: {error}", self.address);
                        break;
                    }
                }
            }
        }
    }
}

/// Progress one connection; true when it is finished (or broken) and should close.
fn serve(
    connection: &mut Connection,
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
        let complete = connection.input.windows(4).any(|w| w == b"\r\n\r\n")
            || connection.input.windows(2).any(|w| w == b"\n\n");
        if complete {
            connection.output = respond(&connection.input, body);
            *requests += 1;
        } else if connection.input.len() > MAX_REQUEST_BYTES {
            connection.output = response(
                431,
                "Request Header Fields Too Large",
                "text/plain",
                b"request too large\n",
            );
            *requests += 1;
        } else {
            return false;
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
