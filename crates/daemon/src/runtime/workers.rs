//! `server_threads N`: NTP served by worker threads with batched IO.
//!
//! Owns N threads, each with its own SO_REUSEPORT server socket per address (the
//! kernel spreads clients over them by address and port) and recvmmsg/sendmmsg
//! batches, and one gnomon-core `Server` they share (access table, client log, rate
//! limiter, interleaved timestamps), locked per batch while deciding and again while
//! counting, never across a system call. Workers read the system variables and the clock mapping
//! from the main thread's lock-free [`SnapshotCell`]; the transmit timestamp of a batch
//! is read just before its sendmmsg. A worker waits in poll(2) at most
//! [`WORKER_WAIT`] so it notices a stop. Without `server_threads` (the default) none
//! of this runs: DESIGN rule 3's one-thread mode serves from the main loop instead.
//!
//! It must not touch the engine or the clock object (they belong to the main
//! thread), log per packet, or allocate per packet.

use super::serve::{core_server_with_capacity, open_server_socket, server_addresses, ServerSocket};
use super::snapshot::{ServingSnapshot, SnapshotCell};
use crate::config::Config;
use crate::sys::batch::Batch;
use crate::sys::fd::{PollSet, Readiness};
use crate::sys::timex::{monotonic_now_ns, realtime_now};
use gnomon_core::client_table::DEFAULT_CAPACITY;
use gnomon_core::serving::{DropReason, Served, Server, TimestampKind};
use gnomon_proto::NtpTimestamp;
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
        let server = Arc::new(Mutex::new(core_server_with_capacity(
            config,
            seed,
            DEFAULT_CAPACITY,
        )));
        workers.servers.push(Arc::clone(&server));
        for index in 0..count {
            let mut sockets = Vec::new();
            for address in server_addresses(config) {
                match open_server_socket(address, true, false) {
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
    sockets: Vec<ServerSocket>,
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
                ..Readiness::default()
            },
        );
    }
    let mut incoming = Batch::new(BATCH_LEN);
    let mut outgoing = Batch::new(BATCH_LEN);
    let placeholder: SocketAddr = ([0, 0, 0, 0], 0).into();
    let mut pending = [(Served::Drop(DropReason::Malformed), placeholder); BATCH_LEN];
    let mut last = initial;
    while !stop.load(Ordering::Relaxed) {
        let Ok(ready) = poll_set.wait(Some(WORKER_WAIT)) else {
            continue;
        };
        for (socket, readiness) in sockets.iter().zip(ready) {
            if !(readiness.readable || readiness.error) {
                continue;
            }
            for _ in 0..MAX_BATCHES_PER_WAKE {
                let count = match incoming.recv(&socket.socket) {
                    Ok(count) if count > 0 => count,
                    _ => break,
                };
                if let Some(snapshot) = cell.read() {
                    last = snapshot;
                }
                let Ok(mut server) = shared.lock() else {
                    return;
                };
                let now_ns = monotonic_now_ns();
                let mut out = 0;
                for index in 0..count {
                    let Some(packet) = incoming.received(index) else {
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
                        pending[out] = (served, from);
                        out += 1;
                    }
                }
                // The transmit timestamp: one clock read just before the send call.
                let transmit = NtpTimestamp::from_unix(last.clock_time_of_system(realtime_now()));
                for (slot, (served, to)) in pending[..out].iter().enumerate() {
                    let bytes = match *served {
                        Served::Reply(mut reply) => {
                            reply.transmit_timestamp = transmit;
                            reply.to_bytes()
                        }
                        Served::InterleavedReply(reply, _) | Served::KissOfDeath(reply) => {
                            reply.to_bytes()
                        }
                        Served::Drop(_) => continue,
                    };
                    outgoing.set_outgoing(slot, &bytes, *to);
                }
                // The send runs unlocked, in parallel with the other workers.
                drop(server);
                let sent = outgoing.send(&socket.socket, out).unwrap_or(0);
                let Ok(mut server) = shared.lock() else {
                    return;
                };
                for (slot, (served, _)) in pending[..out].iter().enumerate() {
                    if let (Served::Reply(reply) | Served::InterleavedReply(reply, _), true) =
                        (served, slot < sent)
                    {
                        // For a later interleaved request: when this reply left.
                        server.note_reply_sent(reply.receive_timestamp, transmit);
                    }
                    server.on_sent(served, slot < sent, TimestampKind::Daemon);
                }
                drop(server);
                if count < incoming.capacity() {
                    break;
                }
            }
        }
    }
}
