//! Attack suite, rate limiting (issue 19 item 2): one spoofing-style flooder (a
//! schedule that ignores the answers) against `ratelimit interval 1 burst 4 leak 2`,
//! smooth and in bursts of 10 and 100. gnomond (one thread, and `server_threads 2`)
//! must answer the same share as chronyd 4.3 answers the same flood in the same run,
//! within 2 points; the share is a count ratio, not a timing measurement.
//!
//! Loopback only, gnomond -x and chronyd -x (no clock is changed); each flood is
//! 16,000 packets (about 16 s at most), the three daemons are flooded at the same
//! time, every wait is bounded. The share is replies over the requests each daemon
//! counted as received. Fails (never skips) without chronyd.

mod serving;

use gnomon_testkit::chronyd::{free_udp_port, Chronyd};
use serving::{request, server_lines, Gnomond};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: &str = "ratelimit interval 1 burst 4 leak 2";
const PACKETS: u32 = 16_000;

#[derive(Clone, Copy, Debug)]
struct Shape {
    name: &'static str,
    /// Requests sent back to back.
    burst: u32,
    /// From the start of one burst to the next.
    period: Duration,
}

const SHAPES: [Shape; 3] = [
    Shape {
        name: "smooth, 4000/s",
        burst: 1,
        period: Duration::from_micros(250),
    },
    Shape {
        name: "bursts of 10 every 10 ms",
        burst: 10,
        period: Duration::from_millis(10),
    },
    Shape {
        name: "bursts of 100 every 100 ms",
        burst: 100,
        period: Duration::from_millis(100),
    },
];

/// Flood `to` with `PACKETS` requests in `shape` from one socket; returns the replies
/// (counted by a reader thread until 1 s after the last request).
fn flood(to: SocketAddr, shape: Shape) -> u64 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let reader_socket = socket.try_clone().expect("clone");
    reader_socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let replies = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (replies, done) = (replies.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            let mut quiet_since: Option<Instant> = None;
            loop {
                match reader_socket.recv_from(&mut buffer) {
                    Ok((len, _)) if len >= 48 && buffer[0] & 7 == 4 => {
                        replies.fetch_add(1, Ordering::Relaxed);
                        quiet_since = None;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if done.load(Ordering::Relaxed) {
                            let since = *quiet_since.get_or_insert_with(Instant::now);
                            if since.elapsed() > Duration::from_secs(1) {
                                break;
                            }
                        }
                    }
                }
            }
        })
    };
    let started = Instant::now();
    let mut sent = 0u32;
    let mut burst_index = 0u32;
    while sent < PACKETS {
        let due = started + shape.period * burst_index;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for _ in 0..shape.burst.min(PACKETS - sent) {
            socket
                .send_to(&request(4, 0x1000 + u64::from(sent)), to)
                .expect("send");
            sent += 1;
        }
        burst_index += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "flood took too long"
        );
    }
    done.store(true, Ordering::Relaxed);
    reader.join().expect("reader");
    replies.load(Ordering::Relaxed)
}

/// NTP requests the daemon has received so far (its serverstats): the share is taken
/// of what reached the daemon, so a datagram lost on a loaded machine's loopback does
/// not count as a limited one.
fn received(chronyd: &Chronyd, gnomonds: &[&Gnomond], index: usize) -> u64 {
    match index {
        0 => chronyd.chronyc_csv(&["serverstats"])[0][0]
            .parse()
            .expect("chronyc serverstats"),
        n => gnomonds[n - 1].control("serverstats")["ntp_packets_received"]
            .as_u64()
            .expect("serverstats"),
    }
}

#[test]
fn a_flood_gets_the_share_chronyd_gives_it() {
    let chronyd = Chronyd::start(&format!("local stratum 3\nallow 127.0.0.1\n{LIMIT}\n"));
    let one_thread_port = free_udp_port();
    let one_thread = Gnomond::start(
        &["-4"],
        &server_lines(
            one_thread_port,
            &["local stratum 3", "allow 127.0.0.1", LIMIT],
        ),
    );
    let threads_port = free_udp_port();
    let threads = Gnomond::start(
        &["-4"],
        &server_lines(
            threads_port,
            &[
                "local stratum 3",
                "allow 127.0.0.1",
                LIMIT,
                "server_threads 2",
            ],
        ),
    );
    let targets = [
        (
            "chronyd",
            SocketAddr::from(([127, 0, 0, 1], chronyd.port())),
        ),
        (
            "gnomond",
            SocketAddr::from(([127, 0, 0, 1], one_thread_port)),
        ),
        (
            "gnomond server_threads 2",
            SocketAddr::from(([127, 0, 0, 1], threads_port)),
        ),
    ];
    let mut report = String::new();
    let mut failures = Vec::new();
    let gnomonds = [&one_thread, &threads];
    for shape in SHAPES {
        let before: Vec<u64> = (0..3).map(|n| received(&chronyd, &gnomonds, n)).collect();
        // The same flood at the same time against all three.
        let floods: Vec<_> = targets
            .iter()
            .map(|&(_, to)| std::thread::spawn(move || flood(to, shape)))
            .collect();
        let replies: Vec<u64> = floods.into_iter().map(|f| f.join().unwrap()).collect();
        let mut shares = Vec::new();
        for (n, replies) in replies.iter().enumerate() {
            let arrived = received(&chronyd, &gnomonds, n) - before[n];
            assert!(
                arrived >= u64::from(PACKETS) / 2 && arrived <= u64::from(PACKETS),
                "{}: {} received {arrived} of {PACKETS}",
                shape.name,
                targets[n].0
            );
            shares.push(*replies as f64 / arrived as f64);
        }
        let chronyd_share = shares[0];
        report.push_str(&format!("{}:", shape.name));
        for (&(name, _), share) in targets.iter().zip(&shares) {
            report.push_str(&format!(" {name} {:.1} %", share * 100.0));
        }
        report.push('\n');
        assert!(
            chronyd_share > 0.05 && chronyd_share < 0.5,
            "chronyd did not limit as configured: {report}{}",
            chronyd.log()
        );
        for (&(name, _), share) in targets.iter().zip(&shares).skip(1) {
            if (share - chronyd_share).abs() > 0.02 {
                failures.push(format!(
                    "{}: {name} {:.1} % vs chronyd {:.1} %",
                    shape.name,
                    share * 100.0,
                    chronyd_share * 100.0
                ));
            }
        }
    }
    eprintln!("{report}");
    assert!(failures.is_empty(), "{failures:?}\n{report}");
    drop(one_thread);
    drop(threads);
}
