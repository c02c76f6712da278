//! Helpers for the serving tests: raw NTP requests and replies, and network
//! namespaces (`netns`). gnomond itself is testkit's [`Gnomond`] (`start_in` runs it
//! in a namespace); every process is killed by its PID on drop, every wait is bounded.

#![allow(dead_code)]

pub mod netns;

pub use gnomon_testkit::gnomond::Gnomond;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Config lines serving on 127.0.0.1:PORT only (`port`, `bindaddress`), then `extra`.
pub fn server_lines(port: u16, extra: &[&str]) -> Vec<String> {
    let mut lines = vec![format!("port {port}"), "bindaddress 127.0.0.1".to_string()];
    lines.extend(extra.iter().map(|line| line.to_string()));
    lines
}

/// A client request (version `version`, mode 3) with a recognisable transmit timestamp.
pub fn request(version: u8, transmit: u64) -> [u8; 48] {
    let mut bytes = [0u8; 48];
    bytes[0] = (version << 3) | 3;
    bytes[2] = 6;
    bytes[40..48].copy_from_slice(&transmit.to_be_bytes());
    bytes
}

/// Send `bytes` from `socket` to `to` and wait up to `wait` for one datagram back.
pub fn exchange(
    socket: &UdpSocket,
    to: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(wait)).expect("timeout");
    socket.send_to(bytes, to).expect("send");
    let mut buffer = [0u8; 4096];
    match socket.recv_from(&mut buffer) {
        Ok((len, _)) => Some(buffer[..len].to_vec()),
        Err(_) => None,
    }
}

/// Take whatever is queued on `socket` within `wait`.
pub fn drain(socket: &UdpSocket, wait: Duration) -> Vec<Vec<u8>> {
    socket.set_read_timeout(Some(wait)).expect("timeout");
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    for _ in 0..100_000 {
        match socket.recv_from(&mut buffer) {
            Ok((len, _)) => got.push(buffer[..len].to_vec()),
            Err(_) => break,
        }
    }
    got
}
