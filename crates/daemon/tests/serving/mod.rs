//! Helpers for the serving tests: a `gnomond -x` child, the control socket, raw NTP.
//!
//! Every process started here is killed by its PID on drop; every wait is bounded.

#![allow(dead_code)]

pub mod netns;

use gnomon_testkit::chronyd::TempDir;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `gnomond -x` with a private directory.
pub struct Gnomond {
    child: Child,
    dir: TempDir,
}

impl Gnomond {
    /// Start `gnomond -x ARGS... LINES...` (control socket and pidfile added) and wait
    /// for its control socket.
    pub fn start(args: &[&str], lines: &[String]) -> Gnomond {
        Gnomond::start_with(None, args, lines)
    }

    /// The same, run through `ip netns exec NAMESPACE` when given.
    pub fn start_with(namespace: Option<&str>, args: &[&str], lines: &[String]) -> Gnomond {
        let dir = TempDir::new("gnomond-serve");
        let socket = dir.path().join("gnomond.sock");
        let log = std::fs::File::create(dir.path().join("gnomond.log")).expect("log");
        let mut command = match namespace {
            Some(namespace) => {
                let mut command = Command::new("ip");
                command
                    .args(["netns", "exec", namespace])
                    .arg(env!("CARGO_BIN_EXE_gnomond"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_gnomond")),
        };
        command
            .arg("-x")
            .args(args)
            .args(lines)
            .arg(format!("bindcmdaddress {}", socket.display()))
            .arg(format!("pidfile {}/gnomond.pid", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        let child = command.spawn().expect("start gnomond");
        let gnomond = Gnomond { child, dir };
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "gnomond did not start; log:\n{}",
                gnomond.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        gnomond
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("gnomond.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gnomond.log")).unwrap_or_default()
    }

    /// One control request; returns `data` (panics on an error answer).
    pub fn control(&self, command: &str) -> Value {
        let mut stream = UnixStream::connect(self.socket_path()).expect("connect control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        writeln!(stream, "{{\"command\":\"{command}\"}}").expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        let value: Value = serde_json::from_str(text.trim()).expect("json");
        assert_eq!(value["ok"], true, "{command}: {value}");
        value["data"].clone()
    }

    /// Wait (bounded) until `check` holds for the `tracking` view.
    pub fn wait_synchronized(&self, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let tracking = self.control("tracking");
            if tracking["synchronized"] == true {
                return tracking;
            }
            assert!(
                started.elapsed() < limit,
                "gnomond did not synchronise within {limit:?}: {tracking}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gnomond {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
