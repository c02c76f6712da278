//! `gnomon clients` and `gnomon serverstats` against a real `gnomond -x` serving on
//! loopback, in chronyc's layout and as JSON.

mod common;

use common::{gnomon, local_server_lines, text};
use gnomon_testkit::chronyd::free_udp_port;
use gnomon_testkit::gnomond::Gnomond;
use serde_json::Value;
use std::net::UdpSocket;
use std::time::Duration;

fn ask(socket: &UdpSocket, port: u16, transmit: u64) -> bool {
    let mut request = [0u8; 48];
    request[0] = (4 << 3) | 3;
    request[40..48].copy_from_slice(&transmit.to_be_bytes());
    socket.send_to(&request, ("127.0.0.1", port)).unwrap();
    let mut reply = [0u8; 100];
    socket.recv(&mut reply).is_ok()
}

#[test]
fn clients_and_serverstats_in_chronyc_layout_and_json() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(&["-4"], &local_server_lines(port, &[]));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for n in 0..3 {
        assert!(ask(&socket, port, n + 1), "no reply to request {n}");
    }
    socket
        .send_to(&[0x16, 0x02, 0, 1], ("127.0.0.1", port))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let clients = text(gnomon(&gnomond, &["clients"]));
    let lines: Vec<&str> = clients.lines().collect();
    assert_eq!(
        lines[0],
        "Hostname                      NTP   Drop Int IntL Last     Cmd   Drop Int  Last"
    );
    assert_eq!(lines[1], "=".repeat(79));
    assert_eq!(lines.len(), 3, "{clients}");
    assert!(
        lines[2].starts_with("127.0.0.1                       3      0 "),
        "{clients}"
    );
    assert!(lines[2].ends_with("       0      0   -     -"), "{clients}");
    assert_eq!(lines[2].len(), 79);
    assert_eq!(
        text(gnomon(&gnomond, &["clients", "-p", "4"]))
            .lines()
            .count(),
        2
    );

    let stats = text(gnomon(&gnomond, &["serverstats"]));
    assert!(
        stats.starts_with("NTP packets received       : 4\nNTP packets dropped        : 1\n"),
        "{stats}"
    );
    assert!(
        stats.contains("NTP kernel RX timestamps   : 3\n"),
        "{stats}"
    );
    assert!(
        stats.contains("NTP packets malformed      : 1\n"),
        "{stats}"
    );

    let json: Value =
        serde_json::from_str(&text(gnomon(&gnomond, &["clients", "--json"]))).unwrap();
    assert_eq!(json["serving"], true);
    assert_eq!(json["clients"][0]["address"], "127.0.0.1");
    assert_eq!(json["clients"][0]["ntp_requests"], 3);
    let json: Value =
        serde_json::from_str(&text(gnomon(&gnomond, &["serverstats", "--json"]))).unwrap();
    assert_eq!(json["ntp_packets_received"], 4);
    assert_eq!(json["ntp_replies_sent"], 3);
    assert_eq!(json["sockets"][0], format!("127.0.0.1:{port}"));
}
