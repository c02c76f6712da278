//! `server_threads N`: NTP served by worker threads with batched IO.
//!
//! Owns N threads, each with its own SO_REUSEPORT server socket per address (the
//! kernel spreads clients over them by address and port) and recvmmsg/sendmmsg
//! batches, and one gnomon-core `Server` they share (access table, client log, rate
//! limiter, interleaved timestamps), locked per batch while deciding and again while
//! counting, never across a system call. Workers read the system variables and the
//! clock mapping from the main thread's lock-free [`SnapshotCell`]; the transmit
//! timestamp of a batch is read just before its sendmmsg. Replies to clients in
//! interleaved mode ask the kernel for a TX timestamp; the worker reads those from its
//! socket's error queue (POLLPRI) and keeps them for the client's next request, as
//! the main loop does. A worker waits in poll(2) at most [`WORKER_WAIT`] so it
//! notices a stop. Without `server_threads` (the default) none of this runs: DESIGN
//! rule 3's one-thread mode serves from the main loop instead.
//!
//! It must not touch the engine or the clock object (they belong to the main
//! thread), log per packet, or allocate per packet.

use super::serve::{core_server, open_server_socket, server_addresses, PortSharing, ServerSocket};
use super::snapshot::{ServingSnapshot, SnapshotCell};
use gnomon_config::Config;
use gnomon_core::serving::{DropReason, Served, Server, TimestampKind};
use gnomon_proto::NtpTimestamp;
use gnomon_sys::batch::Batch;
use gnomon_sys::fd::{PollSet, Readiness};
use gnomon_sys::socket::TimestampSupport;
use gnomon_sys::timex::{monotonic_now_ns, realtime_now};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Datagrams per recvmmsg/sendmmsg.
pub const BATCH_LEN: usize = 64;
/// Longest poll of a worker, so it sees the stop flag.
pub const WORKER_WAIT: Duration = Duration::from_millis(200);
/// Batches taken from one socket before polling again.
const MAX_BATCHES_PER_WAKE: usize = 64;
/// Kernel TX timestamps taken from one socket's error queue per wake.
const MAX_TX_TIMESTAMPS_PER_WAKE: usize = 1024;

/// The running workers.
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
    servers: Vec<Arc<Mutex<Server>>>,
    snapshot: Arc<SnapshotCell>,
    stop: Arc<AtomicBool>,
    local_addresses: Vec<SocketAddr>,
}

impl Workers {
    /// Open the sockets and start `count` workers. Sockets that cannot be opened are
    /// logged once (IPv6 as a warning); a worker with no socket is not started.
    pub fn start(
        config: &Config,
        count: usize,
        seed: [u8; 32],
        initial: &ServingSnapshot,
    ) -> Workers {
        let snapshot = Arc::new(SnapshotCell::new(initial));
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Workers {
            threads: Vec::new(),
            servers: Vec::new(),
            snapshot,
            stop,
            local_addresses: Vec::new(),
        };
        // One core server for all workers: access, the client log and rate limits are
        // per client address whichever worker the kernel hands a packet to.
        let server = Arc::new(Mutex::new(core_server(config, seed)));
        workers.servers.push(Arc::clone(&server));
        for index in 0..count {
            let mut sockets = Vec::new();
            for address in server_addresses(config) {
                match open_server_socket(address, PortSharing::ReusePort) {
                    Ok(socket) => {
                        if index == 0 {
                            tracing::info!(
                                "serving NTP on {} with {count} worker threads (kernel timestamps: {:?})",
                                socket.local,
                                socket.timestamps
                            );
                            workers.local_addresses.push(socket.local);
                        }
                        sockets.push(socket);
                    }
                    Err(error) if index == 0 && address.is_ipv6() => tracing::warn!(
                        "cannot open the IPv6 NTP server socket {address}: {error}; serving IPv4 only"
                    ),
                    Err(error) if index == 0 => {
                        tracing::error!("cannot open the NTP server socket {address}: {error}")
                    }
                    Err(_) => {}
                }
            }
            if sockets.is_empty() {
                continue;
            }
            let server = Arc::clone(&server);
            let snapshot = Arc::clone(&workers.snapshot);
            let stop = Arc::clone(&workers.stop);
            let initial = *initial;
            let spawned = std::thread::Builder::new()
                .name(format!("ntp-worker-{index}"))
                .spawn(move || run_worker(sockets, server, snapshot, stop, initial));
            match spawned {
                Ok(handle) => workers.threads.push(handle),
                Err(error) => tracing::error!("cannot start NTP worker thread {index}: {error}"),
            }
        }
        workers
    }

    /// Hand the workers the main thread's current state.
    pub fn publish(&self, snapshot: &ServingSnapshot) {
        self.snapshot.publish(snapshot);
    }

    pub fn servers(&self) -> &[Arc<Mutex<Server>>] {
        &self.servers
    }

    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.local_addresses
    }

    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

fn run_worker(
    mut sockets: Vec<ServerSocket>,
    shared: Arc<Mutex<Server>>,
    cell: Arc<SnapshotCell>,
    stop: Arc<AtomicBool>,
    initial: ServingSnapshot,
) {
    let mut poll_set = PollSet::new();
    for socket in &sockets {
        poll_set.push(
            socket.socket.raw_fd(),
            Readiness {
                readable: true,
                priority: socket.timestamps == TimestampSupport::RxAndTx,
                ..Readiness::default()
            },
        );
    }
    let mut worker = Worker {
        incoming: Batch::new(BATCH_LEN),
        outgoing: Batch::new(BATCH_LEN),
        pending: [(
            Served::Drop(DropReason::Malformed),
            ([0, 0, 0, 0], 0).into(),
        ); BATCH_LEN],
        last: initial,
        shared,
        cell,
    };
    while !stop.load(Ordering::Relaxed) {
        let Ok(ready) = poll_set.wait(Some(WORKER_WAIT)) else {
            continue;
        };
        for (socket, readiness) in sockets.iter_mut().zip(ready) {
            if (readiness.priority || readiness.error)
                && worker.drain_tx_timestamps(socket).is_err()
            {
                return;
            }
            if !(readiness.readable || readiness.error) {
                continue;
            }
            for _ in 0..MAX_BATCHES_PER_WAKE {
                match worker.serve_batch(socket) {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(Poisoned) => return,
                }
            }
        }
    }
}

/// Another worker panicked while holding the shared server.
struct Poisoned;

/// One worker thread's buffers and its view of the shared state.
struct Worker {
    incoming: Batch,
    outgoing: Batch,
    pending: [(Served, SocketAddr); BATCH_LEN],
    last: ServingSnapshot,
    shared: Arc<Mutex<Server>>,
    cell: Arc<SnapshotCell>,
}

impl Worker {
    /// Receive one batch from `socket`, answer it with one sendmmsg; true when the
    /// batch was full (more may wait).
    fn serve_batch(&mut self, socket: &mut ServerSocket) -> Result<bool, Poisoned> {
        let count = match self.incoming.recv(&socket.socket) {
            Ok(count) if count > 0 => count,
            _ => return Ok(false),
        };
        if let Some(snapshot) = self.cell.read() {
            self.last = snapshot;
        }
        let last = self.last;
        let mut server = self.shared.lock().map_err(|_| Poisoned)?;
        let now_ns = monotonic_now_ns();
        let mut out = 0;
        for index in 0..count {
            let Some(packet) = self.incoming.received(index) else {
                continue;
            };
            let Some(from) = packet.from else {
                continue;
            };
            let (received_at, rx_kind) = match packet.kernel_rx {
                Some(kernel) => (last.clock_time_of_system(kernel), TimestampKind::Kernel),
                None => (
                    last.clock_time_of_system(realtime_now()),
                    TimestampKind::Daemon,
                ),
            };
            let served = server.on_datagram(
                packet.data,
                from.ip(),
                received_at,
                rx_kind,
                now_ns,
                &last.system,
            );
            if !matches!(served, Served::Drop(_)) {
                self.pending[out] = (served, from);
                out += 1;
            }
        }
        // The transmit timestamp: one clock read just before the send call.
        let transmit = NtpTimestamp::from_unix(last.clock_time_of_system(realtime_now()));
        let stamp_interleaved = socket.timestamps == TimestampSupport::RxAndTx;
        for (slot, (served, to)) in self.pending[..out].iter().enumerate() {
            let bytes = match *served {
                Served::Reply(mut reply) => {
                    reply.transmit_timestamp = transmit;
                    reply.to_bytes()
                }
                Served::InterleavedReply(reply, _) | Served::KissOfDeath(reply) => reply.to_bytes(),
                Served::Drop(_) => continue,
            };
            self.outgoing.set_outgoing(slot, &bytes, *to);
            // A client in interleaved mode will ask when this reply left: have the
            // kernel stamp it (other replies cost no error-queue entry).
            if stamp_interleaved && matches!(served, Served::InterleavedReply(..)) {
                self.outgoing.request_tx_timestamp(slot);
            }
        }
        // The send runs unlocked, in parallel with the other workers.
        drop(server);
        let sent = self.outgoing.send(&socket.socket, out).unwrap_or(0);
        let mut server = self.shared.lock().map_err(|_| Poisoned)?;
        for (slot, (served, _)) in self.pending[..out].iter().enumerate() {
            let ok = slot < sent;
            if let (Served::Reply(reply) | Served::InterleavedReply(reply, _), true) = (served, ok)
            {
                // For a later interleaved request: when this reply left.
                server.note_reply_sent(reply.receive_timestamp, transmit);
                if stamp_interleaved && matches!(served, Served::InterleavedReply(..)) {
                    // The kernel numbers stamped sends in order (OPT_ID).
                    socket.tx_ring.record(reply.receive_timestamp.to_bits());
                }
            }
            server.on_sent(served, ok, TimestampKind::Daemon);
        }
        Ok(count == self.incoming.capacity())
    }

    /// Take the kernel's TX timestamps of interleaved replies from `socket`'s error
    /// queue and keep them for the clients' next requests.
    fn drain_tx_timestamps(&mut self, socket: &mut ServerSocket) -> Result<(), Poisoned> {
        if let Some(snapshot) = self.cell.read() {
            self.last = snapshot;
        }
        let mut stamps = [(0u64, NtpTimestamp::ZERO); BATCH_LEN];
        let mut found = 0;
        for _ in 0..MAX_TX_TIMESTAMPS_PER_WAKE {
            match socket.socket.recv_tx_timestamp() {
                Ok(Some(stamp)) => {
                    if let Some(key) = socket.tx_ring.take(stamp.send_index) {
                        let sent_at =
                            NtpTimestamp::from_unix(self.last.clock_time_of_system(stamp.time));
                        stamps[found] = (key, sent_at);
                        found += 1;
                        if found == stamps.len() {
                            self.note_precise(&stamps[..found])?;
                            found = 0;
                        }
                    }
                }
                Ok(None) => continue,
                Err(_) => break,
            }
        }
        self.note_precise(&stamps[..found])
    }

    fn note_precise(&self, stamps: &[(u64, NtpTimestamp)]) -> Result<(), Poisoned> {
        if stamps.is_empty() {
            return Ok(());
        }
        let mut server = self.shared.lock().map_err(|_| Poisoned)?;
        for (key, sent_at) in stamps {
            server.note_precise_transmit(
                NtpTimestamp::from_bits(*key),
                *sent_at,
                TimestampKind::Kernel,
            );
        }
        Ok(())
    }
}
