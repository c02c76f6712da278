//! The control socket under NTP load (issue 19 item 1): while gnomond serves 2000
//! requests/s on loopback, 200 concurrent `gnomon tracking` all succeed, a client that
//! waits 50 ms between creating its socket and sending is still answered (the old
//! stream server closed such a connection: "Broken pipe"), and oversized, garbage and
//! unanswerable datagrams get error replies or are dropped and counted while a
//! legitimate client still succeeds. Loopback only; bounded in count and time.

mod common;

use common::{gnomon, local_server_lines, text};
use gnomon_testkit::chronyd::free_udp_port;
use gnomon_testkit::gnomond::Gnomond;
use serde_json::Value;
use std::net::UdpSocket;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// NTP load: requests a second, and for how long (bounded).
const LOAD_PER_SECOND: u64 = 2000;
const LOAD_FOR: Duration = Duration::from_secs(6);
const CONCURRENT_CLIENTS: usize = 200;

fn ntp_request(transmit: u64) -> [u8; 48] {
    let mut packet = [0u8; 48];
    packet[0] = (4 << 3) | 3;
    packet[40..48].copy_from_slice(&transmit.to_be_bytes());
    packet
}

/// Send LOAD_PER_SECOND requests a second to 127.0.0.1:`port` for LOAD_FOR,
/// counting them in `sent`.
fn ntp_load(port: u16, sent: Arc<AtomicU64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 128];
    while started.elapsed() < LOAD_FOR {
        let due = (started.elapsed().as_secs_f64() * LOAD_PER_SECOND as f64) as u64;
        while sent.load(Ordering::Relaxed) < due {
            let n = sent.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&ntp_request(n), ("127.0.0.1", port));
        }
        while socket.recv(&mut buffer).is_ok() {}
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A raw control client bound to an abstract name, connected to gnomond.
fn raw_client(gnomond: &Gnomond, label: &str) -> UnixDatagram {
    let name = format!("gnomon-load-test.{}.{label}", std::process::id());
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&address).unwrap();
    socket.connect(gnomond.socket_path()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    socket
}

fn reply(socket: &UnixDatagram) -> Value {
    let mut buffer = vec![0u8; 65536];
    let len = socket.recv(&mut buffer).expect("a reply within 3 s");
    assert!(len <= 3900, "reply of {len} bytes");
    serde_json::from_slice(&buffer[..len]).expect("JSON reply")
}

#[test]
fn control_requests_all_succeed_under_ntp_load() {
    let port = free_udp_port();
    let lines = local_server_lines(port, &[]);
    let gnomond = Gnomond::start(&["-4"], &lines);
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let sent = sent.clone();
        std::thread::spawn(move || ntp_load(port, sent))
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();

    // A late sender: socket made and connected, then 50 ms before the request.
    let late = raw_client(&gnomond, "late");
    std::thread::sleep(Duration::from_millis(50));
    late.send(br#"{"command":"tracking","seq":41}"#).unwrap();
    let answer = reply(&late);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["seq"], 41, "{answer}");
    assert_eq!(answer["data"]["stratum"], 5, "{answer}");

    // Hostile datagrams: each gets an error reply, or none when it cannot be answered.
    let hostile = raw_client(&gnomond, "hostile");
    hostile.send(&vec![b'{'; 5000]).unwrap();
    let answer = reply(&hostile);
    assert_eq!(answer["ok"], false);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("longer than 4096 bytes"));
    for garbage in [
        &b"\x00\x01\x02\xff"[..],
        b"",
        b"{\"command\":\"tracking\"",
        b"{\"command\":\"shutdown\",\"seq\":5}",
        b"{\"command\":\"sources\",\"first\":\"x\"}",
    ] {
        hostile.send(garbage).unwrap();
        let answer = reply(&hostile);
        assert_eq!(answer["ok"], false, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().starts_with("bad request"),
            "{answer}"
        );
    }
    // From an unbound socket there is nobody to answer: dropped and counted.
    let anonymous = UnixDatagram::unbound().unwrap();
    for _ in 0..10 {
        anonymous
            .send_to(br#"{"command":"tracking"}"#, gnomond.socket_path())
            .unwrap();
    }
    // A client that asks 500 times and never reads: its replies wait in its queue,
    // charged to gnomond's send buffer, which must leave room for everyone else.
    let deaf = raw_client(&gnomond, "deaf");
    for seq in 0..500 {
        let request = format!(r#"{{"command":"serverstats","seq":{seq}}}"#);
        if deaf.send(request.as_bytes()).is_err() {
            break;
        }
    }

    // 200 concurrent `gnomon tracking`, all answered.
    let children: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_gnomon"))
                .arg("--socket")
                .arg(gnomond.socket_path())
                .args(["tracking", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run gnomon")
        })
        .collect();
    let mut failures = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        if !output.status.success() {
            failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
            continue;
        }
        let tracking: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(tracking["stratum"], 5);
    }
    assert!(
        failures.is_empty(),
        "{} of {CONCURRENT_CLIENTS} failed, the first: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(3)],
        gnomond.log()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let load_running = !load.is_finished();
    // Let the load run its course (bounded by LOAD_FOR), then count what arrived.
    load.join().unwrap();

    // Still answering, and it was really under load the whole time.
    let stats: Value = serde_json::from_str(&text(gnomon(&gnomond, &["serverstats", "--json"])))
        .expect("serverstats JSON");
    assert!(
        load_running,
        "the NTP load ended before the control clients did"
    );
    let received = stats["ntp_packets_received"].as_u64().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent >= 10_000, "{sent} NTP requests sent");
    assert!(
        received * 10 >= sent * 9,
        "{received} NTP requests reached gnomond of {sent} sent"
    );
    assert!(
        stats["command_requests"].as_u64().unwrap() > CONCURRENT_CLIENTS as u64,
        "{stats}"
    );
    assert!(
        stats["command_dropped"].as_u64().unwrap() >= 10,
        "the unanswerable ones are counted: {stats}"
    );
    assert!(gnomond.log().lines().all(|line| !line.contains("panicked")));
}
