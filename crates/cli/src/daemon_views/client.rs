//! Talking to the local gnomond over its control socket (Unix datagrams).
//!
//! Owns finding the socket (`--socket`, `GNOMON_SOCKET`, or the default path), the
//! exchange (docs/control-protocol.md): our own socket bound to an abstract name and
//! connected to the daemon's path, one request datagram with a sequence number, a
//! wait in poll(2), retries for requests that only read (those that change the daemon
//! are sent once), stale replies ignored, list replies fetched page by page and put
//! back together; and turning failures into messages that say what to do (with the
//! reply's numbered status, so callers tell errors apart by number). It runs
//! under clknetsim too: plain socket types, no threads, waits only in poll.

use gnomon_control::envelope::{encode_request, parse_reply, records_mut, ReplyEnvelope};
use gnomon_control::protocol::{Request, ResponseData};
use gnomon_control::status::{Status, PROTOCOL_VERSION};
use gnomon_sys::fd::{poll, Readiness};
use gnomon_sys::unix::UnixDatagram;
use serde_json::Value;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long each try of a read-only request waits for its reply (chronyc retries too).
const READ_TIMEOUTS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// How long a request that changes the daemon waits; it is not sent twice.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most pages of one list reply (a runaway guard: 3.9 kB each).
const MAX_PAGES: usize = 100_000;

/// Why asking gnomond gave no data: a message for people and, when gnomond answered
/// with an error, its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskError {
    /// `None` when there was no error reply (unreachable, no reply, a reply not
    /// understood, or a status this build does not know).
    pub status: Option<Status>,
    pub message: String,
}

impl AskError {
    fn local(message: String) -> AskError {
        AskError {
            status: None,
            message,
        }
    }
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<AskError> for String {
    fn from(error: AskError) -> String {
        error.message
    }
}

impl From<String> for AskError {
    fn from(message: String) -> AskError {
        AskError::local(message)
    }
}

/// Send `request` to the daemon at `socket` and return its data, or why not.
pub fn ask(socket: &Path, request: &Request) -> Result<ResponseData, AskError> {
    let data = ask_value(socket, request)?;
    serde_json::from_value(data.clone()).map_err(|error| {
        AskError::local(format!(
            "{}: unexpected answer ({error}): {data}",
            socket.display()
        ))
    })
}

/// The same, returning the `data` as JSON.
pub fn ask_value(socket: &Path, request: &Request) -> Result<Value, AskError> {
    let mut connection = Connection::open(socket)?;
    let first = connection.exchange(request, 0)?;
    check_ok(&first)?;
    let (mut response, page) = (first.response, first.page);
    let Some((_, mut total)) = page else {
        return Ok(response["data"].take());
    };
    let mut records: Vec<Value> = response
        .get_mut("data")
        .and_then(records_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    for _ in 0..MAX_PAGES {
        if records.len() >= total {
            break;
        }
        let mut reply = connection.exchange(request, records.len())?;
        check_ok(&reply)?;
        let (first, new_total) = reply.page.ok_or_else(|| {
            format!(
                "{}: a page of the reply came without paging",
                socket.display()
            )
        })?;
        let page = reply
            .response
            .get_mut("data")
            .and_then(records_mut)
            .map(std::mem::take)
            .unwrap_or_default();
        if first != records.len() || page.is_empty() {
            return Err(AskError::local(format!(
                "{}: gnomond answered record {first} with {} records when asked for record {} \
                 of {new_total}",
                socket.display(),
                page.len(),
                records.len()
            )));
        }
        records.extend(page);
        total = new_total;
    }
    let mut data = response["data"].take();
    if let Some(slot) = records_mut(&mut data) {
        *slot = records;
    }
    Ok(data)
}

fn check_ok(reply: &ReplyEnvelope) -> Result<(), AskError> {
    let response = &reply.response;
    if response.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let error = response
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("an error without a message");
    let status = reply.status().ok().flatten();
    let message = match (status, reply.version) {
        (Some(Status::BadVersion), version) => format!(
            "gnomond: {error} (this gnomon speaks control protocol version {PROTOCOL_VERSION}, \
             gnomond {}; use the gnomon that came with it)",
            version.map_or_else(|| "an older one".to_string(), |v| format!("version {v}"))
        ),
        _ => format!("gnomond: {error}"),
    };
    Err(AskError { status, message })
}

/// Our socket, connected to the daemon's.
struct Connection<'a> {
    path: &'a Path,
    socket: UnixDatagram,
    next_seq: u64,
}

impl<'a> Connection<'a> {
    fn open(path: &'a Path) -> Result<Connection<'a>, String> {
        // An explicit abstract name: no file to clean up, and no autobind (whose empty
        // address clknetsim cannot take).
        let name = format!(
            "gnomon.{}.{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let socket = UnixDatagram::bind_abstract(name.as_bytes())
            .map_err(|error| format!("cannot create a socket to reach gnomond: {error}"))?;
        socket
            .connect(path)
            .map_err(|error| unreachable_message(path, &error))?;
        Ok(Connection {
            path,
            socket,
            next_seq: rand::random::<u32>().into(),
        })
    }

    /// One request, the records from `first` on; retried when it only reads.
    fn exchange(&mut self, request: &Request, first: usize) -> Result<ReplyEnvelope, String> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let datagram = encode_request(request, seq, first);
        let changes = request.needs_root();
        let timeouts: &[Duration] = if changes {
            &[CHANGE_TIMEOUT]
        } else {
            &READ_TIMEOUTS
        };
        for timeout in timeouts {
            match self.socket.send(&datagram) {
                Ok(_) => {}
                // The daemon's queue is full: wait this try out and send again.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(unreachable_message(self.path, &error)),
            }
            if let Some(reply) = self.wait_reply(seq, *timeout)? {
                return Ok(reply);
            }
        }
        let waited_s: f64 = timeouts.iter().map(Duration::as_secs_f64).sum();
        Err(if changes {
            format!(
                "no reply from gnomond at {} within {waited_s:.0} s: the command may or may not \
                 have been carried out (it changes the daemon, so it was sent once); is gnomond \
                 stuck or overloaded?",
                self.path.display()
            )
        } else {
            format!(
                "no reply from gnomond at {} within {waited_s:.0} s ({} tries); is gnomond \
                 stuck or overloaded?",
                self.path.display(),
                timeouts.len()
            )
        })
    }

    /// Wait up to `timeout` for the reply numbered `seq`; replies to earlier tries or
    /// pages are skipped. `Ok(None)` on timeout.
    fn wait_reply(&self, seq: u64, timeout: Duration) -> Result<Option<ReplyEnvelope>, String> {
        let deadline = Instant::now() + timeout;
        let mut buffer = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let interest = Readiness {
                readable: true,
                ..Readiness::default()
            };
            let ready = poll(&[(self.socket.raw_fd(), interest)], Some(left))
                .map_err(|error| format!("waiting for gnomond: {error}"))?;
            if !ready.first().is_some_and(|r| r.readable || r.error) {
                continue;
            }
            let received = match self.socket.receive(&mut buffer) {
                Ok(received) => received,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(error) => return Err(unreachable_message(self.path, &error)),
            };
            let Ok(reply) = parse_reply(&buffer[..received.len]) else {
                continue;
            };
            // A reply without a number is an error about a request it could not read.
            if reply.seq.is_none_or(|echoed| echoed == seq) {
                return Ok(Some(reply));
            }
        }
    }
}

/// What to tell a person when the daemon's socket cannot be reached.
fn unreachable_message(path: &Path, error: &io::Error) -> String {
    let path = path.display();
    match error.kind() {
        io::ErrorKind::NotFound => format!(
            "cannot reach gnomond at {path}: no such socket (is it running? if its \
             bindcmdaddress is elsewhere, use --socket PATH or GNOMON_SOCKET)"
        ),
        io::ErrorKind::ConnectionRefused => format!(
            "cannot reach gnomond at {path}: nothing listens there (is it running? the \
             socket file is left from an earlier run)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot reach gnomond at {path}: permission denied. gnomond makes the socket mode \
             0666 in a directory of mode 0755; check both with ls -ld, or run as root"
        ),
        _ => format!("cannot reach gnomond at {path}: {error}"),
    }
}
