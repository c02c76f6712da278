//! Which sockets gnomond serves on: `-4`, `-6` and `bindaddress` narrow the wildcard
//! IPv4 and IPv6 sockets. Loopback only; gnomond -x.

mod serving;

use gnomon_testkit::chronyd::free_udp_port;
use serving::{exchange, request, server_lines, Gnomond};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Whether a request from `from` to `to` is answered; `expected` sets how long to
/// wait (long when a reply is due, so a loaded machine does not fail the test).
fn answered(from: &str, to: SocketAddr, expected: bool) -> bool {
    let socket = UdpSocket::bind(from).unwrap();
    let wait = Duration::from_millis(if expected { 3000 } else { 300 });
    exchange(&socket, to, &request(4, 42), wait).is_some()
}

#[test]
fn dash_6_serves_ipv6_only() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-6"],
        &[
            format!("port {port}"),
            "allow".to_string(),
            "local stratum 5".to_string(),
        ],
    );
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(answered("[::1]:0", v6, true));
    assert!(!answered("127.0.0.1:0", v4, false));
    let stats = gnomond.control("serverstats");
    assert_eq!(
        stats["sockets"],
        serde_json::json!([format!("[::]:{port}")]),
        "{stats}"
    );
}

#[test]
fn bindaddress_narrows_each_family() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &[],
        &server_lines(port, &["bindaddress ::1", "allow", "local stratum 5"]),
    );
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(answered("127.0.0.1:0", v4, true));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    assert!(answered("[::1]:0", v6, true));
    // 127.0.0.2 is a local address too, but not the bound one.
    let other = SocketAddr::from(([127, 0, 0, 2], port));
    assert!(!answered("127.0.0.1:0", other, false));
    let stats = gnomond.control("serverstats");
    assert_eq!(
        stats["sockets"],
        serde_json::json!([format!("127.0.0.1:{port}"), format!("[::1]:{port}")]),
        "{stats}"
    );
}
