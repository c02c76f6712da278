//! `server_threads`: the workers share one client log, so a client's rate limit holds
//! whichever worker the kernel hands its packets to (it spreads source ports).

mod serving;

use gnomon_testkit::chronyd::free_udp_port;
use serving::{drain, request, server_lines, Gnomond};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[test]
fn rate_limits_hold_across_worker_threads() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &server_lines(
            port,
            &[
                "allow 127.0.0.1",
                "local stratum 5",
                "server_threads 2",
                "ratelimit interval 4 burst 100 leak 4",
            ],
        ),
    );
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    // 128 requests from one address over 64 source ports, far faster than one per
    // 16 s. One shared bucket of 100 must limit the last 28 (most of them dropped:
    // chrony's leak answers some). Were the limit per worker, each worker would see
    // about 64 requests, under its own burst of 100, and drop none.
    const REQUESTS: u64 = 128;
    let sockets: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for round in 0..REQUESTS / 64 {
        for (n, socket) in sockets.iter().enumerate() {
            socket
                .send_to(&request(4, round * 100 + n as u64 + 1), to)
                .unwrap();
        }
        for socket in &sockets {
            drain(socket, Duration::from_millis(1));
        }
    }
    // Count on the server's side: replies a slow test machine delivers late still count.
    let started = Instant::now();
    let stats = loop {
        let stats = gnomond.control("serverstats");
        if stats["ntp_packets_received"].as_u64().unwrap() >= REQUESTS
            || started.elapsed() > Duration::from_secs(5)
        {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(stats["worker_threads"], 2, "{stats}");
    assert_eq!(stats["ntp_packets_received"], REQUESTS, "{stats}");
    let answers = stats["ntp_replies_sent"].as_u64().unwrap();
    let limited = stats["ntp_packets_rate_limited"].as_u64().unwrap();
    assert!(answers >= 100, "{stats}");
    assert!(
        limited >= 1,
        "no request was limited: per-worker buckets? {stats}"
    );
    assert_eq!(answers + limited, REQUESTS, "{stats}");
    let clients = gnomond.control("clients");
    assert_eq!(clients["clients"].as_array().unwrap().len(), 1, "{clients}");
    assert_eq!(clients["clients"][0]["ntp_requests"], REQUESTS);
    assert_eq!(clients["clients"][0]["ntp_dropped"], limited);
}
