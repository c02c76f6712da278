//! Measuring many hosts at once over NTP: a few unconnected UDP sockets, thousands of
//! requests in flight, one global send rate.
//!
//! Owns the schedule (rounds of one request per host, `interval` apart for each host,
//! paced to `rate_per_s` overall), matching replies to requests by their random transmit
//! timestamp *and* source address, the min-delay choice per host, and the refusal probe
//! (unconnected sockets never see ICMP errors, so hosts that never answered get one
//! request over a connected socket at the end). The checks and arithmetic of one
//! exchange are [`crate::sample`]'s; the verdict with no usable sample is
//! [`crate::measure::most_telling_failure`]. It never changes the clock; every loop is
//! bounded by the schedule's deadline.

use crate::measure::{most_telling_failure, Failure};
use crate::sample::{evaluate, measure, Exchange, Rejection, Sample};
use gnomon_proto::{NtpHeader, NtpTimestamp, UnixTime};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How to measure.
#[derive(Clone, Copy, Debug)]
pub struct MeasureOptions {
    /// Requests per host; the smallest-delay usable reply wins.
    pub samples_per_host: u32,
    /// Least time between two requests to the same host.
    pub interval: Duration,
    /// How long to wait for replies after the last request.
    pub timeout: Duration,
    /// Requests per second over all hosts.
    pub rate_per_s: f64,
    /// IPv4 sockets (and threads) to spread the hosts over.
    pub sockets: usize,
}

/// What was learned about one host.
#[derive(Clone, Debug)]
pub struct HostMeasurement {
    pub requests_sent: u32,
    /// Replies of any kind that came from the host's address.
    pub replies: u32,
    pub usable_samples: u32,
    pub rejections: Vec<Rejection>,
    /// The smallest-delay usable sample, or why there is none.
    pub outcome: Result<Sample, Failure>,
    /// For a host that answers but says it is unsynchronised: its clock's offset anyway
    /// (smallest-delay reply), because how far off it is matters.
    pub unsynchronized_sample: Option<Sample>,
    /// The best usable sample so far, while measuring.
    best: Option<Sample>,
}

impl HostMeasurement {
    fn new() -> HostMeasurement {
        HostMeasurement {
            requests_sent: 0,
            replies: 0,
            usable_samples: 0,
            rejections: Vec::new(),
            outcome: Err(Failure::Timeout { timeout_s: 0.0 }),
            unsynchronized_sample: None,
            best: None,
        }
    }

    /// A finished measurement (for tests and for other ways of measuring, like ssh).
    pub fn finished(outcome: Result<Sample, Failure>) -> HostMeasurement {
        HostMeasurement {
            requests_sent: 1,
            replies: u32::from(outcome.is_ok()),
            usable_samples: u32::from(outcome.is_ok()),
            outcome,
            ..HostMeasurement::new()
        }
    }

    /// Has what it needs: a usable sample, or a final answer (KoD).
    fn settled(&self) -> bool {
        self.best.is_some()
            || self.finished_early()
            || matches!(self.outcome, Err(Failure::Socket(_)))
    }

    fn finished_early(&self) -> bool {
        self.rejections.iter().any(Rejection::is_final)
    }
}

/// Counters a progress display may read while measuring.
#[derive(Debug, Default)]
pub struct Progress {
    pub requests_sent: AtomicUsize,
    pub replies: AtomicUsize,
}

fn now() -> UnixTime {
    UnixTime::from_system_time(SystemTime::now())
}

/// Keep the best (smallest-delay) sample.
fn keep_best(slot: &mut Option<Sample>, sample: Sample) {
    if slot
        .as_ref()
        .is_none_or(|best| sample.delay_s < best.delay_s)
    {
        *slot = Some(sample);
    }
}

/// Measure every address; `None` entries (unresolved hosts) are skipped and get a
/// default measurement the caller overrides.
pub fn measure_all(
    addresses: &[Option<SocketAddr>],
    options: &MeasureOptions,
    progress: &Progress,
) -> Vec<HostMeasurement> {
    let mut results: Vec<HostMeasurement> =
        addresses.iter().map(|_| HostMeasurement::new()).collect();
    let mut v4: Vec<usize> = Vec::new();
    let mut v6: Vec<usize> = Vec::new();
    for (index, address) in addresses.iter().enumerate() {
        match address {
            Some(address) if address.is_ipv4() => v4.push(index),
            Some(_) => v6.push(index),
            None => {}
        }
    }
    let total = (v4.len() + v6.len()).max(1) as f64;
    let v4_sockets = options.sockets.clamp(1, 16).min(v4.len().max(1));
    let mut groups: Vec<Vec<usize>> = (0..v4_sockets).map(|_| Vec::new()).collect();
    for (position, index) in v4.iter().enumerate() {
        groups[position % v4_sockets].push(*index);
    }
    if !v6.is_empty() {
        groups.push(v6);
    }
    groups.retain(|group| !group.is_empty());
    let worker_results: Vec<Vec<(usize, HostMeasurement)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|group| {
                let share = group.len() as f64 / total;
                let worker_options = MeasureOptions {
                    rate_per_s: (options.rate_per_s * share).max(1.0),
                    ..*options
                };
                scope.spawn(move || run_worker(addresses, group, &worker_options, progress))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("fleet measuring thread panicked"))
            .collect()
    });
    for (index, measurement) in worker_results.into_iter().flatten() {
        results[index] = measurement;
    }
    let silent: Vec<usize> = (0..addresses.len())
        .filter(|&index| addresses[index].is_some() && results[index].replies == 0)
        .collect();
    probe_refusals(addresses, &silent, &mut results, options.timeout);
    for measurement in results.iter_mut() {
        measurement.outcome = match measurement.outcome.clone() {
            Err(failure @ (Failure::Refused | Failure::Socket(_)))
                if measurement.best.is_none() =>
            {
                Err(failure)
            }
            _ => match measurement.best.take() {
                Some(sample) => Ok(sample),
                None => Err(most_telling_failure(
                    &measurement.rejections,
                    options.timeout,
                )),
            },
        };
    }
    results
}

/// Most requests sent back to back (also the token bucket's size).
const BURST: u32 = 64;

/// A request in flight.
struct Pending {
    host: usize,
    sent_at: UnixTime,
}

/// One socket's share of the hosts: send on schedule, receive until the deadline.
fn run_worker(
    addresses: &[Option<SocketAddr>],
    group: &[usize],
    options: &MeasureOptions,
    progress: &Progress,
) -> Vec<(usize, HostMeasurement)> {
    let mut results: Vec<HostMeasurement> = group.iter().map(|_| HostMeasurement::new()).collect();
    let is_v6 = addresses[group[0]].is_some_and(|address| address.is_ipv6());
    let bind: SocketAddr = if is_v6 { "[::]:0" } else { "0.0.0.0:0" }
        .parse()
        .expect("literal");
    let socket = match UdpSocket::bind(bind) {
        Ok(socket) => socket,
        Err(error) => {
            for result in results.iter_mut() {
                result.outcome = Err(Failure::Socket(error.to_string()));
            }
            return group.iter().copied().zip(results).collect();
        }
    };
    let by_address: HashMap<SocketAddr, usize> = group
        .iter()
        .enumerate()
        .filter_map(|(slot, &index)| addresses[index].map(|address| (address, slot)))
        .collect();
    let mut pending: HashMap<u64, Pending> = HashMap::with_capacity(group.len() * 2);
    let gap = Duration::from_secs_f64(1.0 / options.rate_per_s.max(1.0));
    let rounds = options.samples_per_host.clamp(1, 64);
    let started = Instant::now();
    let mut next_send = started;
    let mut round = 0u32;
    let mut cursor = 0usize;
    let mut round_start = started;
    let mut last_send = started;
    let mut buffer = [0u8; 1024];
    // Hosts still without a usable sample or final answer, and the largest delay seen:
    // once every host is settled, the tail waits only a few round trips for stragglers
    // instead of the whole timeout (one lost reply must not cost a second).
    let mut unsettled = group.len();
    let mut max_delay = Duration::ZERO;
    // Hard stop: the whole schedule at the configured rate, plus the waits, plus slack.
    let schedule = gap * (group.len() as u32).saturating_mul(rounds)
        + options.interval * rounds
        + options.timeout;
    let hard_deadline = started + schedule + schedule / 2 + Duration::from_secs(1);
    loop {
        let instant = Instant::now();
        if instant >= hard_deadline {
            break;
        }
        // Send what is due (a bounded burst, so receiving keeps up).
        let mut burst = 0;
        while round < rounds && instant >= next_send && instant >= round_start && burst < BURST {
            let slot = cursor;
            cursor += 1;
            if cursor == group.len() {
                cursor = 0;
                round += 1;
                round_start = (round_start + options.interval).max(instant);
            }
            if results[slot].finished_early()
                || matches!(results[slot].outcome, Err(Failure::Socket(_)))
            {
                continue;
            }
            let Some(address) = addresses[group[slot]] else {
                continue;
            };
            let transmit_bits = loop {
                let bits = rand::random::<u64>();
                if bits != 0 && !pending.contains_key(&bits) {
                    break bits;
                }
            };
            let request =
                NtpHeader::client_request(NtpTimestamp::from_bits(transmit_bits), 0).to_bytes();
            let sent_at = now();
            match socket.send_to(&request, address) {
                Ok(_) => {
                    pending.insert(
                        transmit_bits,
                        Pending {
                            host: slot,
                            sent_at,
                        },
                    );
                    results[slot].requests_sent += 1;
                    progress.requests_sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    if !results[slot].settled() {
                        unsettled -= 1;
                    }
                    results[slot].outcome = Err(Failure::Socket(error.to_string()));
                }
            }
            burst += 1;
            last_send = Instant::now();
            // A token bucket of BURST requests: a late wake-up (timer slack, a busy
            // machine) may catch up that many, so the average rate holds.
            next_send = (next_send + gap).max(last_send - gap * BURST);
        }
        let sending_done = round >= rounds;
        if sending_done && pending.is_empty() {
            break;
        }
        let wake = if sending_done && unsettled == 0 {
            last_send
                + options
                    .timeout
                    .min((max_delay * 4).max(Duration::from_millis(20)))
        } else if sending_done {
            last_send + options.timeout
        } else {
            next_send.max(round_start)
        };
        let wait = wake.saturating_duration_since(Instant::now());
        if sending_done && wait.is_zero() {
            break;
        }
        if socket
            .set_read_timeout(Some(wait.max(Duration::from_micros(20))))
            .is_err()
        {
            break;
        }
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            // An ICMP error reported on the socket (some kernels do): carry on.
            Err(_) => continue,
        };
        let received_at = now();
        let Some(&slot) = by_address.get(&from) else {
            continue; // not one of our hosts: dropped unread
        };
        progress.replies.fetch_add(1, Ordering::Relaxed);
        results[slot].replies += 1;
        let was_settled = results[slot].settled();
        handle_reply(
            &buffer[..len],
            received_at,
            slot,
            &mut pending,
            &mut results,
        );
        if let Some(best) = &results[slot].best {
            max_delay = max_delay.max(Duration::from_secs_f64(best.delay_s.clamp(0.0, 10.0)));
        }
        if !was_settled && results[slot].settled() {
            unsettled -= 1;
        }
    }
    group.iter().copied().zip(results).collect()
}

/// Check one reply from `slot`'s address and file it.
fn handle_reply(
    bytes: &[u8],
    received_at: UnixTime,
    slot: usize,
    pending: &mut HashMap<u64, Pending>,
    results: &mut [HostMeasurement],
) {
    let origin = match NtpHeader::parse(bytes) {
        Ok((header, _)) => header.origin_timestamp.to_bits(),
        Err(error) => {
            results[slot].rejections.push(Rejection::Malformed(error));
            return;
        }
    };
    // The request must be in flight and have gone to this very host.
    let matches_host = pending.get(&origin).is_some_and(|p| p.host == slot);
    if !matches_host {
        results[slot].rejections.push(Rejection::BogusOrigin);
        return;
    }
    let request = pending.remove(&origin).expect("checked above");
    let exchange = Exchange {
        request_transmit: NtpTimestamp::from_bits(origin),
        sent_at: request.sent_at,
        received_at,
    };
    file_exchange(&exchange, bytes, &mut results[slot]);
}

fn file_exchange(exchange: &Exchange, bytes: &[u8], result: &mut HostMeasurement) {
    match evaluate(exchange, bytes) {
        Ok(sample) => {
            result.usable_samples += 1;
            keep_best(&mut result.best, sample);
        }
        Err(rejection) => {
            if let Rejection::Unsynchronized { .. } = rejection {
                if let Ok((header, _)) = NtpHeader::parse(bytes) {
                    if let Ok(sample) = measure(exchange, &header) {
                        keep_best(&mut result.unsynchronized_sample, sample);
                    }
                }
            }
            result.rejections.push(rejection);
        }
    }
}

/// Ask each host that never answered once more over its own connected socket, in
/// bounded batches, to tell "refused" (ICMP port unreachable) from silence. A reply
/// that comes now is used like any other.
fn probe_refusals(
    addresses: &[Option<SocketAddr>],
    silent: &[usize],
    results: &mut [HostMeasurement],
    timeout: Duration,
) {
    const BATCH: usize = 512;
    let wait = timeout.min(Duration::from_millis(300));
    for batch in silent.chunks(BATCH) {
        let mut probes: Vec<(usize, UdpSocket, u64, UnixTime)> = Vec::new();
        for &index in batch {
            let Some(address) = addresses[index] else {
                continue;
            };
            let bind = if address.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let Ok(socket) = UdpSocket::bind(bind) else {
                continue;
            };
            if socket.connect(address).is_err() || socket.set_nonblocking(true).is_err() {
                continue;
            }
            let bits = rand::random::<u64>() | 1;
            let request = NtpHeader::client_request(NtpTimestamp::from_bits(bits), 0).to_bytes();
            let sent_at = now();
            match socket.send(&request) {
                Ok(_) => {
                    results[index].requests_sent += 1;
                    probes.push((index, socket, bits, sent_at));
                }
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    results[index].outcome = Err(Failure::Refused);
                }
                Err(_) => {}
            }
        }
        let deadline = Instant::now() + wait;
        let mut open: Vec<bool> = vec![true; probes.len()];
        let mut buffer = [0u8; 1024];
        while Instant::now() < deadline && open.iter().any(|&o| o) {
            for (position, (index, socket, bits, sent_at)) in probes.iter().enumerate() {
                if !open[position] {
                    continue;
                }
                match socket.recv(&mut buffer) {
                    Ok(len) => {
                        open[position] = false;
                        let exchange = Exchange {
                            request_transmit: NtpTimestamp::from_bits(*bits),
                            sent_at: *sent_at,
                            received_at: now(),
                        };
                        results[*index].replies += 1;
                        file_exchange(&exchange, &buffer[..len], &mut results[*index]);
                    }
                    Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                        open[position] = false;
                        results[*index].outcome = Err(Failure::Refused);
                    }
                    Err(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
