//! gnomon-loadgen: offered NTP load against one server, measured replies and latency.
//!
//! Owns generating client requests (mode 3, NTPv4) from many source ports at a paced
//! rate with sendmmsg, collecting replies with recvmmsg, and reporting replies/s, loss
//! and latency (the request's transmit timestamp carries the send time, the reply's
//! origin echoes it). `--search` raises the rate step by step until loss exceeds the
//! threshold and reports the highest rate below it. Every run is bounded in time and
//! count. It must only be pointed at loopback or a namespace the caller created
//! (DESIGN rule 2); it refuses other addresses unless `--any-address` is given.
//! The socket calls and the wait (epoll) go through gnomon-sys.

#![forbid(unsafe_code)]

use clap::Parser;
use gnomon_sys::batch::Batch;
use gnomon_sys::epoll::ReadySet;
use gnomon_sys::socket::UdpSocket;
use gnomon_sys::timex::monotonic_now_ns;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "gnomon-loadgen",
    about = "Offered NTP load against one server (loopback only)"
)]
struct Args {
    /// Server address, e.g. 127.0.0.1:11123.
    #[arg(long)]
    server: SocketAddr,
    /// Offered requests per second (start rate with --search).
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Seconds per run (per step with --search); at most 30.
    #[arg(long, default_value_t = 2.0)]
    duration: f64,
    /// Client sockets (source ports).
    #[arg(long, default_value_t = 64)]
    sockets: usize,
    /// Datagrams per sendmmsg/recvmmsg.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Find the highest rate with loss below --max-loss (steps of x--step, at most 40;
    /// a step over the limit is retried once before the search stops).
    #[arg(long)]
    search: bool,
    /// Rate factor between search steps (1.01..4).
    #[arg(long, default_value_t = 1.25)]
    step: f64,
    /// Loss threshold for --search, percent.
    #[arg(long, default_value_t = 1.0)]
    max_loss: f64,
    /// Allow a non-loopback server (only for namespaces the caller made).
    #[arg(long)]
    any_address: bool,
    /// Print one JSON object per run.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Debug)]
struct RunResult {
    offered_per_s: f64,
    sent: u64,
    replies: u64,
    replies_per_s: f64,
    loss_percent: f64,
    median_latency_us: f64,
    p99_latency_us: f64,
}

impl RunResult {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "offered_per_s": self.offered_per_s,
            "sent": self.sent,
            "replies": self.replies,
            "replies_per_s": self.replies_per_s,
            "loss_percent": self.loss_percent,
            "median_latency_us": self.median_latency_us,
            "p99_latency_us": self.p99_latency_us,
        })
    }
}

fn request(send_ns: i64) -> [u8; 48] {
    let mut bytes = [0u8; 48];
    bytes[0] = (4 << 3) | 3;
    bytes[2] = 6;
    bytes[40..48].copy_from_slice(&(send_ns as u64).to_be_bytes());
    bytes
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    f64::from(sorted[index])
}

fn run(args: &Args, rate: f64, sockets: &[UdpSocket]) -> std::io::Result<RunResult> {
    let duration_ns = (args.duration.clamp(0.1, 30.0) * 1e9) as i64;
    let max_requests = (rate * args.duration.clamp(0.1, 30.0)).ceil() as u64 + 1;
    let mut send = Batch::new(args.batch);
    let mut receive = Batch::new(args.batch);
    let mut latencies_us: Vec<u32> = Vec::with_capacity(max_requests.min(50_000_000) as usize);
    let fds: Vec<_> = sockets.iter().map(UdpSocket::raw_fd).collect();
    let mut ready_set = ReadySet::new(&fds)?;
    let mut ready: Vec<usize> = Vec::with_capacity(sockets.len());
    let started_ns = monotonic_now_ns();
    let (mut sent, mut replies) = (0u64, 0u64);
    let mut next_socket = 0usize;
    let send_end_ns = started_ns + duration_ns;
    let drain_until_ns = send_end_ns + 300_000_000;
    loop {
        let now_ns = monotonic_now_ns();
        if now_ns >= drain_until_ns {
            break;
        }
        // Send what the schedule asks for by now, in batches, round-robin over ports.
        if now_ns < send_end_ns {
            let due = ((now_ns - started_ns) as f64 * 1e-9 * rate) as u64;
            let mut budget = due
                .saturating_sub(sent)
                .min(max_requests - sent.min(max_requests));
            while budget > 0 {
                let count = (budget as usize).min(send.capacity());
                let stamp = monotonic_now_ns();
                for i in 0..count {
                    send.set_outgoing(i, &request(stamp), args.server);
                }
                let socket = &sockets[next_socket % sockets.len()];
                next_socket += 1;
                match send.send(socket, count) {
                    Ok(done) => {
                        sent += done as u64;
                        budget -= done as u64;
                        if done < count {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        // Sleep until a reply arrives or the next batch is due (no busy loop), then
        // collect replies from the sockets that have some.
        let now_ns = monotonic_now_ns();
        let wake_ns = if now_ns < send_end_ns && sent < max_requests {
            let next_due_ns =
                started_ns + ((sent + send.capacity() as u64) as f64 / rate * 1e9) as i64;
            next_due_ns.min(send_end_ns)
        } else {
            drain_until_ns
        };
        let wait = Duration::from_nanos((wake_ns - now_ns).clamp(0, 1_000_000) as u64);
        ready.clear();
        ready_set.wait(wait, |index| ready.push(index))?;
        for &index in &ready {
            let socket = &sockets[index];
            for _ in 0..1024 {
                let count = match receive.recv(socket) {
                    Ok(count) => count,
                    Err(_) => break,
                };
                let now_ns = monotonic_now_ns();
                for i in 0..count {
                    let Some(packet) = receive.received(i) else {
                        continue;
                    };
                    if packet.data.len() < 48 || packet.data[1] == 0 {
                        continue;
                    }
                    let origin = u64::from_be_bytes(packet.data[24..32].try_into().unwrap()) as i64;
                    replies += 1;
                    let latency_us = ((now_ns - origin).max(0) / 1000).min(i64::from(u32::MAX));
                    latencies_us.push(latency_us as u32);
                }
                if count < receive.capacity() {
                    break;
                }
            }
        }
    }
    latencies_us.sort_unstable();
    let replies_per_s = replies as f64 / (duration_ns as f64 * 1e-9);
    let loss_percent = if sent == 0 {
        0.0
    } else {
        100.0 * (sent.saturating_sub(replies)) as f64 / sent as f64
    };
    Ok(RunResult {
        offered_per_s: rate,
        sent,
        replies,
        replies_per_s,
        loss_percent,
        median_latency_us: percentile(&latencies_us, 0.5),
        p99_latency_us: percentile(&latencies_us, 0.99),
    })
}

fn report(args: &Args, result: &RunResult) {
    if args.json {
        println!("{}", result.to_json());
    } else {
        println!(
            "offered {:>10.0}/s  sent {:>9}  replies {:>9}  {:>10.0}/s  loss {:>6.2}%  latency median {:>7.1} us  p99 {:>8.1} us",
            result.offered_per_s,
            result.sent,
            result.replies,
            result.replies_per_s,
            result.loss_percent,
            result.median_latency_us,
            result.p99_latency_us
        );
    }
}

fn is_allowed_target(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn main() {
    let args = Args::parse();
    if !args.any_address && !is_allowed_target(args.server.ip()) {
        eprintln!(
            "gnomon-loadgen: {} is not loopback; pass --any-address only for a namespace you created",
            args.server
        );
        std::process::exit(2);
    }
    let local: SocketAddr = if args.server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sockets: Vec<UdpSocket> = (0..args.sockets.clamp(1, 1024))
        .map(|_| UdpSocket::bind(local).expect("bind a client socket"))
        .collect();
    if !args.search {
        let result = run(&args, args.rate, &sockets).expect("run");
        report(&args, &result);
        return;
    }
    let mut rate = args.rate.max(100.0);
    let mut best: Option<RunResult> = None;
    for _ in 0..40 {
        let mut result = run(&args, rate, &sockets).expect("run");
        report(&args, &result);
        if result.loss_percent > args.max_loss {
            // One retry: a single step spoiled by another process's burst of CPU use
            // should not end the search.
            result = run(&args, rate, &sockets).expect("run");
            report(&args, &result);
            if result.loss_percent > args.max_loss {
                break;
            }
        }
        best = Some(result);
        rate *= args.step.clamp(1.01, 4.0);
    }
    match best {
        Some(best) if args.json => println!("{}", serde_json::json!({"best": best.to_json()})),
        Some(best) => println!(
            "best: {:.0} replies/s at {:.2}% loss, median latency {:.1} us",
            best.replies_per_s, best.loss_percent, best.median_latency_us
        ),
        None => println!(
            "best: none (loss above {}% at the start rate)",
            args.max_loss
        ),
    }
}
