//! The control socket: a Unix datagram socket served inside the main poll loop.
//!
//! Owns the socket (bound at `bindcmdaddress` after [`super::socket_dir`]'s checks,
//! SO_PASSCRED on), draining it each turn, one reply datagram per request sent back
//! to its sender without waiting (a full queue at the sender drops the reply and
//! counts it), the permission check (commands that change state need uid 0 from
//! SCM_CREDENTIALS; no credentials, as under clknetsim, is not root), and the order of
//! `clients -r` (report, then reset once the last page went out). Framing and paging
//! are [`gnomon_control::envelope`]'s; what a request means is the [`ControlHandler`]'s.

use gnomon_control::envelope::{encode_reply, error_page, parse_request, Page, MAX_REQUEST_BYTES};
use gnomon_control::protocol::{Request, Response};
use gnomon_control::status::Status;
use gnomon_sys::fd::Readiness;
use gnomon_sys::unix::{UnixAddress, UnixDatagram};
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// Most datagrams taken in one turn; the rest wait for the next (poll says so at once),
/// so a flood of requests cannot hold up NTP.
const MAX_REQUESTS_PER_TURN: usize = 64;
/// The socket's send buffer. Linux charges a reply to it until the receiver reads it,
/// and a receiver connected to us (as gnomon is) is exempt from net.unix.max_dgram_qlen:
/// a client that asks without reading holds replies up to this much, after which
/// every reply is dropped (counted) until it reads or closes. 4 MiB is ~2000 replies.
const SEND_BUFFER_BYTES: usize = 4 << 20;

/// What the control server asks of the daemon.
pub trait ControlHandler {
    /// The answer to a request that passed the permission check. `Clients` arrives
    /// with `reset: false`; the reset comes later through [`Self::reset_clients`].
    fn answer(&mut self, request: &Request) -> Response;
    /// Zero every client record's counters (after `clients -r`'s report went out).
    fn reset_clients(&mut self);
}

/// What happened to control datagrams since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlCounters {
    /// Datagrams received.
    pub received: u64,
    /// Longer than [`MAX_REQUEST_BYTES`] (answered with an error).
    pub oversized: u64,
    /// Not a request (answered with an error).
    pub malformed: u64,
    /// Replies not sent: the sender's queue was full or it went away.
    pub replies_dropped: u64,
    /// Datagrams from an unbound socket, which cannot be answered.
    pub unaddressable: u64,
}

impl ControlCounters {
    /// Requests that got no reply (chronyc's "Command packets dropped").
    pub fn dropped(&self) -> u64 {
        self.replies_dropped + self.unaddressable
    }
}

/// The bound control socket.
pub struct ControlServer {
    path: PathBuf,
    socket: UnixDatagram,
    /// SO_PASSCRED took (it does not under clknetsim): a missing uid is then a
    /// kernel oddity rather than the simulator.
    credentials: bool,
    counters: ControlCounters,
    buffer: Vec<u8>,
}

impl ControlServer {
    /// Bind at `path`, mode 0666 (monitoring is open to every local user; root-only
    /// commands are checked per request), in a directory that passes
    /// [`super::socket_dir::prepare`].
    pub fn bind(path: &Path) -> io::Result<ControlServer> {
        super::socket_dir::prepare(path).map_err(io::Error::other)?;
        let socket = UnixDatagram::bind_path(path)?;
        // Best effort (it fails under clknetsim, whose Unix sockets take no options).
        let _ = socket.set_send_buffer(SEND_BUFFER_BYTES);
        let credentials = match socket.pass_credentials() {
            Ok(()) => true,
            Err(error) => {
                tracing::info!(
                    "control socket {}: no SO_PASSCRED ({error}); root-only commands are refused",
                    path.display()
                );
                false
            }
        };
        Ok(ControlServer {
            path: path.to_owned(),
            socket,
            credentials,
            counters: ControlCounters::default(),
            // One byte more than the limit tells an oversized request from a full one.
            buffer: vec![0; MAX_REQUEST_BYTES + 1],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn counters(&self) -> ControlCounters {
        self.counters
    }

    /// The descriptor to poll.
    pub fn poll_entry(&self) -> (RawFd, Readiness) {
        (
            self.socket.raw_fd(),
            Readiness {
                readable: true,
                ..Readiness::default()
            },
        )
    }

    /// Answer what waits, when `readiness` (of [`Self::poll_entry`]) says something does.
    pub fn handle_ready(&mut self, readiness: Readiness, handler: &mut dyn ControlHandler) {
        if !(readiness.readable || readiness.error) {
            return;
        }
        for _ in 0..MAX_REQUESTS_PER_TURN {
            let received = match self.socket.receive(&mut self.buffer) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!("control socket {}: {error}", self.path.display());
                    return;
                }
            };
            self.counters.received += 1;
            if received.from.is_unnamed() {
                self.counters.unaddressable += 1;
                continue;
            }
            let oversized = received.truncated || received.len > MAX_REQUEST_BYTES;
            let page = if oversized {
                self.counters.oversized += 1;
                error_page(
                    None,
                    Status::RequestTooLong,
                    format!("request longer than {MAX_REQUEST_BYTES} bytes"),
                )
            } else {
                let datagram = self.buffer[..received.len].to_vec();
                answer_datagram(
                    &datagram,
                    received.uid,
                    self.credentials,
                    &mut self.counters,
                    handler,
                )
            };
            self.send_reply(&page.bytes, &received.from);
        }
    }

    fn send_reply(&mut self, bytes: &[u8], to: &UnixAddress) {
        match self.socket.send_to(bytes, to) {
            Ok(_) => {}
            Err(error) => {
                self.counters.replies_dropped += 1;
                tracing::debug!(
                    "control socket {}: reply to {to} dropped: {error}",
                    self.path.display()
                );
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Decode, check and answer one request datagram.
fn answer_datagram(
    datagram: &[u8],
    uid: Option<u32>,
    credentials: bool,
    counters: &mut ControlCounters,
    handler: &mut dyn ControlHandler,
) -> Page {
    let envelope = match parse_request(datagram) {
        Ok(envelope) => envelope,
        Err(error) => {
            counters.malformed += 1;
            return error_page(error.seq, error.status, error.message);
        }
    };
    let (seq, first) = (envelope.seq, envelope.first);
    if envelope.request.needs_root() && uid != Some(0) {
        let who = match uid {
            Some(uid) => format!("you are uid {uid}"),
            None if credentials => "the request came without credentials".to_string(),
            None => "this daemon cannot see who you are: no credentials on its socket".to_string(),
        };
        return error_page(
            seq,
            Status::NotRoot,
            format!(
                "permission denied: this command changes the daemon and is for root only ({who})"
            ),
        );
    }
    match envelope.request {
        Request::Clients {
            min_packets,
            reset: true,
        } => {
            let report = handler.answer(&Request::Clients {
                min_packets,
                reset: false,
            });
            let page = encode_reply(&report, seq, first);
            if page.complete {
                handler.reset_clients();
            }
            page
        }
        request => encode_reply(&handler.answer(&request), seq, first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_control::envelope::parse_reply;
    use gnomon_control::protocol::{ClientList, ClientReport, ResponseData};

    #[derive(Default)]
    struct Recorder {
        asked: Vec<Request>,
        resets: usize,
        clients: usize,
    }

    impl ControlHandler for Recorder {
        fn answer(&mut self, request: &Request) -> Response {
            self.asked.push(request.clone());
            let clients = (0..self.clients)
                .map(|index| ClientReport {
                    address: format!("192.0.2.{index}"),
                    ntp_requests: 10,
                    ntp_dropped: 0,
                    kods_sent: 0,
                    interval_log2_s: Some(6),
                    limited_interval_log2_s: None,
                    last_request_ago_s: 1.0,
                })
                .collect();
            Response::ok(ResponseData::Clients(ClientList {
                serving: true,
                clients,
            }))
        }
        fn reset_clients(&mut self) {
            self.resets += 1;
        }
    }

    fn ask(handler: &mut Recorder, uid: Option<u32>, text: &str) -> serde_json::Value {
        let mut counters = ControlCounters::default();
        let page = answer_datagram(text.as_bytes(), uid, true, &mut counters, handler);
        parse_reply(&page.bytes).unwrap().response
    }

    #[test]
    fn root_only_commands_need_uid_zero_from_credentials() {
        let mut handler = Recorder::default();
        for (uid, allowed) in [(Some(0), true), (Some(1000), false), (None, false)] {
            let reply = ask(&mut handler, uid, r#"{"command":"burst","seq":1}"#);
            assert_eq!(reply["ok"], allowed, "{uid:?}: {reply}");
            let status = if allowed { Status::Ok } else { Status::NotRoot };
            assert_eq!(reply["status"], status.code(), "{uid:?}: {reply}");
            if !allowed {
                assert!(reply["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("permission denied: this command changes the daemon"));
            }
        }
        assert_eq!(handler.asked, vec![Request::Burst]);
        assert_eq!(
            ask(&mut handler, Some(1000), r#"{"command":"clients"}"#)["ok"],
            true
        );
    }

    #[test]
    fn clients_reset_happens_once_after_the_last_page() {
        let mut handler = Recorder {
            clients: 60,
            ..Recorder::default()
        };
        let mut first = 0;
        let mut pages = 0;
        loop {
            let text = format!(r#"{{"command":"clients","reset":true,"first":{first}}}"#);
            let reply = ask(&mut handler, Some(0), &text);
            let count = reply["data"]["clients"].as_array().unwrap().len();
            assert!(count > 0);
            first += count;
            pages += 1;
            if first >= 60 {
                break;
            }
            assert_eq!(handler.resets, 0, "no reset before the last page");
        }
        assert!(pages > 1);
        assert_eq!(handler.resets, 1);
        assert!(handler
            .asked
            .iter()
            .all(|request| matches!(request, Request::Clients { reset: false, .. })));
    }

    #[test]
    fn garbage_gets_an_error_reply_and_is_counted() {
        let mut handler = Recorder::default();
        let mut counters = ControlCounters::default();
        for garbage in [&b"\x00\xff\xfe"[..], b"{", b"[]", br#"{"command":7}"#] {
            let page = answer_datagram(garbage, Some(0), true, &mut counters, &mut handler);
            let reply = parse_reply(&page.bytes).unwrap();
            assert_eq!(reply.response["ok"], false);
            assert_eq!(reply.status(), Ok(Some(Status::BadRequest)));
        }
        // A version this daemon does not speak is refused by number, seq echoed.
        let newer = br#"{"command":"tracking","seq":5,"version":9}"#;
        let page = answer_datagram(newer, Some(0), true, &mut counters, &mut handler);
        let reply = parse_reply(&page.bytes).unwrap();
        assert_eq!(reply.status(), Ok(Some(Status::BadVersion)));
        assert_eq!(
            (reply.seq, reply.version),
            (
                Some(5),
                Some(u64::from(gnomon_control::status::PROTOCOL_VERSION))
            )
        );
        assert_eq!(counters.malformed, 5);
        assert!(handler.asked.is_empty());
    }
}
