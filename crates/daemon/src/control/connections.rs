//! A bounded set of stream connections served from the main poll loop: the metrics
//! endpoint's (metrics_server.rs; the control socket is datagrams, server.rs).
//!
//! Owns the listening socket, accepting from it while fewer than
//! [`Limits::max_connections`] are open (at most [`Limits::max_accepts_per_turn`] a
//! turn, the rest wait in the listen backlog), each connection's input and output
//! buffers and its age, the poll entries (the listener first, readable only while
//! there is room; then each connection, readable until a response is queued and
//! writable after that), and closing connections that are finished, broken or older
//! than [`Limits::timeout_ns`]. Never blocks: every socket is non-blocking and in the
//! poll set, so a slow or hostile client costs a slot, never a wait. With a
//! [`SlowClientPolicy`] (the metrics endpoint's) slow clients cannot keep the slots
//! either: a request must be complete within a deadline, a full set makes room for a
//! new connection by closing the oldest one still waiting for its request, and a new
//! connection is served in the turn it is accepted. What a connection
//! reads, how it frames and answers, and how it logs a failed accept is the protocol's
//! business: the caller passes a function that progresses one connection.

use gnomon_sys::fd::Readiness;
use gnomon_sys::tcp::{TcpListener, TcpStream};
use std::io;
use std::os::fd::RawFd;

/// A listening stream socket.
pub trait Listener {
    type Stream: Stream;
    fn raw_fd(&self) -> RawFd;
    /// A new connection, non-blocking; `WouldBlock` when none is waiting.
    fn accept(&self) -> io::Result<Self::Stream>;
}

/// A connected stream socket.
pub trait Stream {
    fn raw_fd(&self) -> RawFd;
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    fn raw_fd(&self) -> RawFd {
        TcpListener::raw_fd(self)
    }
    fn accept(&self) -> io::Result<TcpStream> {
        TcpListener::accept(self)
    }
}

impl Stream for TcpStream {
    fn raw_fd(&self) -> RawFd {
        TcpStream::raw_fd(self)
    }
}

/// How many connections, how fast they are taken on, and how long each may last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections accepted in one turn of the loop.
    pub max_accepts_per_turn: usize,
    /// A connection still open this long after it was accepted is closed.
    pub timeout_ns: i64,
}

/// Defences against slow or dripping clients (slowloris), for endpoints whose clients
/// send a whole request at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowClientPolicy {
    /// A connection with no response queued this long after it was accepted is closed.
    pub request_timeout_ns: i64,
    /// When every slot is taken, the oldest connection with no response queued that is
    /// at least this old is closed to accept a waiting one (a connection that has just
    /// been accepted gets this long for its request to arrive).
    pub evictable_after_ns: i64,
}

/// One open connection: what arrived so far and the response being sent.
pub struct Connection<S> {
    pub stream: S,
    /// Bytes received so far.
    pub input: Vec<u8>,
    /// The response; empty until one is queued, and the connection is polled for
    /// writing from then on.
    pub output: Vec<u8>,
    /// How much of `output` has been sent.
    pub written: usize,
    opened_at_ns: i64,
}

/// The listener and its open connections.
pub struct Connections<L: Listener> {
    listener: L,
    limits: Limits,
    slow_clients: Option<SlowClientPolicy>,
    open: Vec<Connection<L::Stream>>,
    /// The time of the last [`Self::handle_ready`], for [`Self::poll_entries`].
    last_now_ns: i64,
}

impl<L: Listener> Connections<L> {
    pub fn new(listener: L, limits: Limits) -> Connections<L> {
        Connections {
            listener,
            limits,
            slow_clients: None,
            open: Vec::new(),
            last_now_ns: i64::MIN,
        }
    }

    /// The same with defences against slow clients.
    pub fn with_slow_client_policy(mut self, policy: SlowClientPolicy) -> Connections<L> {
        self.slow_clients = Some(policy);
        self
    }

    /// Whether a new connection could be taken on at `now_monotonic_ns`: a free slot,
    /// or (with a [`SlowClientPolicy`]) a connection that may be closed for it. The
    /// listener is polled only then, so a full set never makes poll return at once;
    /// the caller's poll wait ([`super::metrics_server::MetricsServer::max_wait`])
    /// brings the next check.
    fn has_room(&self, now_monotonic_ns: i64) -> bool {
        if self.open.len() < self.limits.max_connections {
            return true;
        }
        self.slow_clients.is_some_and(|policy| {
            self.open.iter().any(|connection| {
                connection.output.is_empty()
                    && now_monotonic_ns.saturating_sub(connection.opened_at_ns)
                        >= policy.evictable_after_ns
            })
        })
    }

    /// Close the oldest connection still waiting for its request, if one is old
    /// enough; true when a slot was freed.
    fn evict_oldest_waiting(&mut self, now_monotonic_ns: i64) -> bool {
        let Some(policy) = self.slow_clients else {
            return false;
        };
        let oldest = self
            .open
            .iter()
            .enumerate()
            .filter(|(_, connection)| {
                connection.output.is_empty()
                    && now_monotonic_ns - connection.opened_at_ns >= policy.evictable_after_ns
            })
            .min_by_key(|(_, connection)| connection.opened_at_ns)
            .map(|(index, _)| index);
        match oldest {
            Some(index) => {
                self.open.remove(index);
                true
            }
            None => false,
        }
    }

    pub fn listener(&self) -> &L {
        &self.listener
    }

    /// No connection is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The descriptors to poll: the listener first, then each connection.
    pub fn poll_entries(&self) -> Vec<(RawFd, Readiness)> {
        let mut entries = Vec::with_capacity(1 + self.open.len());
        entries.push((
            self.listener.raw_fd(),
            Readiness {
                readable: self.has_room(self.last_now_ns),
                ..Readiness::default()
            },
        ));
        for connection in &self.open {
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

    /// Act on what `ready` (in the order of [`Self::poll_entries`]) says: progress each
    /// connection with `serve` (true: it is finished or broken), close those and the
    /// expired ones (which are not served), then accept new connections if the
    /// listener is ready. Returns the error that stopped accepting, if any (an empty
    /// backlog is none), for the caller to log.
    pub fn handle_ready(
        &mut self,
        ready: &[Readiness],
        now_monotonic_ns: i64,
        mut serve: impl FnMut(&mut Connection<L::Stream>, &Readiness) -> bool,
    ) -> Option<io::Error> {
        self.last_now_ns = now_monotonic_ns;
        let timeout_ns = self.limits.timeout_ns;
        let request_timeout_ns = self
            .slow_clients
            .map_or(i64::MAX, |policy| policy.request_timeout_ns);
        let mut closed = vec![false; self.open.len()];
        for (index, connection) in self.open.iter_mut().enumerate() {
            let age_ns = now_monotonic_ns - connection.opened_at_ns;
            let expired = age_ns > timeout_ns
                || (connection.output.is_empty() && age_ns > request_timeout_ns);
            let readiness = ready.get(index + 1).copied().unwrap_or_default();
            closed[index] = expired || serve(connection, &readiness);
        }
        let mut index = 0;
        self.open.retain(|_| {
            index += 1;
            !closed[index - 1]
        });
        if !ready.first().is_some_and(|r| r.readable) {
            return None;
        }
        for _ in 0..self.limits.max_accepts_per_turn {
            if !self.has_room(now_monotonic_ns) {
                break;
            }
            match self.listener.accept() {
                Ok(stream) => {
                    if self.open.len() >= self.limits.max_connections {
                        self.evict_oldest_waiting(now_monotonic_ns);
                    }
                    let mut connection = Connection {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        written: 0,
                        opened_at_ns: now_monotonic_ns,
                    };
                    // A client that sent its request with the connection is answered
                    // now, before any slow one could take its slot.
                    let finished = self.slow_clients.is_some()
                        && serve(
                            &mut connection,
                            &Readiness {
                                readable: true,
                                ..Readiness::default()
                            },
                        );
                    if !finished {
                        self.open.push(connection);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => return Some(error),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_connections: 2,
        max_accepts_per_turn: 1,
        timeout_ns: 1_000,
    };

    fn readable() -> Readiness {
        Readiness {
            readable: true,
            ..Readiness::default()
        }
    }

    #[test]
    fn accepts_up_to_the_limits_serves_and_closes() {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let mut connections = Connections::new(listener, LIMITS);
        let _clients: Vec<std::net::TcpStream> = (0..3)
            .map(|_| std::net::TcpStream::connect(address).unwrap())
            .collect();
        // Loopback handshakes complete at once; give the kernel a moment to queue them.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut served = 0;
        let mut serve = |connection: &mut Connection<TcpStream>, _: &Readiness| {
            served += 1;
            connection.output = b"done".to_vec();
            false
        };
        // Nothing to accept while the listener is not ready; then one a turn.
        assert!(connections
            .handle_ready(&[Readiness::default()], 0, &mut serve)
            .is_none());
        assert!(connections.is_empty());
        assert!(connections
            .handle_ready(&[readable()], 0, &mut serve)
            .is_none());
        assert_eq!(connections.poll_entries().len(), 2);
        assert!(connections
            .handle_ready(&[readable()], 10, &mut serve)
            .is_none());
        let entries = connections.poll_entries();
        assert_eq!(entries.len(), 3);
        // Full: the listener is not polled, the third client waits in the backlog.
        assert!(!entries[0].1.readable);
        assert!(connections
            .handle_ready(&[readable()], 20, &mut serve)
            .is_none());
        assert_eq!(connections.poll_entries().len(), 3);
        assert_eq!(served, 3, "the first on two turns, the second on one");
        // A queued response turns a connection from reading to writing.
        assert!(entries[1].1.writable && !entries[1].1.readable);
        assert!(entries[2].1.readable && !entries[2].1.writable);
        // Past the timeout a connection is closed without being served; a finished one too.
        let mut calls = 0;
        connections.handle_ready(
            &[readable()],
            1_005,
            |_: &mut Connection<TcpStream>, _: &Readiness| {
                calls += 1;
                true
            },
        );
        assert_eq!(
            calls, 1,
            "only the connection opened at 10 ns is within the timeout"
        );
        // Both closed; the third client got a slot this same turn.
        assert_eq!(connections.poll_entries().len(), 2);
        assert_eq!(
            connections.listener().raw_fd(),
            connections.poll_entries()[0].0
        );
    }
}
