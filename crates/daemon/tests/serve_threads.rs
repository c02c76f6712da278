//! `server_threads`: the workers share one client log, so a client's rate limit holds
//! whichever worker the kernel hands its packets to (it spreads source ports).

mod serving;

use gnomon_testkit::chronyd::free_udp_port;
use serving::{drain, request, Gnomond};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

#[test]
fn rate_limits_hold_across_worker_threads() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &[
            format!("port {port}"),
            "bindaddress 127.0.0.1".to_string(),
            "allow 127.0.0.1".to_string(),
            "local stratum 5".to_string(),
            "server_threads 2".to_string(),
            "ratelimit interval 4 burst 40 leak 4".to_string(),
        ],
    );
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    // 64 source ports, 4 requests each, from one address: 256 requests in well under
    // the 16 s one reply costs, so the burst (40) and about 1/16 of the rest (leak 4)
    // are answered: about 54 with one shared limit, about 91 with one per worker.
    let sockets: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut answers = 0;
    for round in 0..4u64 {
        for (n, socket) in sockets.iter().enumerate() {
            socket
                .send_to(&request(4, round * 100 + n as u64 + 1), to)
                .unwrap();
        }
        for socket in &sockets {
            answers += drain(socket, Duration::from_millis(5)).len();
        }
    }
    for socket in &sockets {
        answers += drain(socket, Duration::from_millis(20)).len();
    }
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["worker_threads"], 2, "{stats}");
    let received = stats["ntp_packets_received"].as_u64().unwrap();
    assert!(received >= 250, "{stats}");
    // The leak is random (binomial, standard deviation about 4): the bounds sit five
    // deviations from the shared limit's expectation and far from the per-worker one.
    assert!(answers <= 72, "{answers} answers: {stats}");
    assert!(answers >= 40, "{answers} answers: {stats}");
    let clients = gnomond.control("clients");
    assert_eq!(clients["clients"].as_array().unwrap().len(), 1, "{clients}");
    assert_eq!(clients["clients"][0]["ntp_requests"], received);
}
