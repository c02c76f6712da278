//! `user NAME` with `server_threads`: the worker threads are started before gnomond
//! drops root, so check that every thread ends up as the user, that only the main
//! thread keeps CAP_SYS_TIME, and that the workers still serve. Needs root (CI is).

mod serving;

use gnomon_testkit::chronyd::free_udp_port;
use serving::{exchange, request, server_lines, Gnomond};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// CAP_SYS_TIME is capability 25.
const CAP_SYS_TIME_MASK: u64 = 1 << 25;

fn status_field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .to_string()
}

#[test]
fn worker_threads_run_as_the_user_without_capabilities() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &server_lines(
            port,
            &[
                "allow 127.0.0.1",
                "local stratum 5",
                "server_threads 2",
                "user nobody",
            ],
        ),
    );
    // The drop happens right after the sockets are open; wait for it (bounded).
    let started = std::time::Instant::now();
    let tasks = format!("/proc/{}/task", gnomond.pid());
    loop {
        let status = std::fs::read_to_string(format!("/proc/{}/status", gnomond.pid())).unwrap();
        if !status_field(&status, "Uid:").starts_with("0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            gnomond.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut workers = 0;
    for task in std::fs::read_dir(&tasks).unwrap() {
        let path = task.unwrap().path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap();
        let status = std::fs::read_to_string(path.join("status")).unwrap();
        let uids = status_field(&status, "Uid:");
        assert!(
            uids.split_whitespace().all(|uid| uid == "65534"),
            "{name}: {uids}"
        );
        let caps = u64::from_str_radix(&status_field(&status, "CapEff:"), 16).unwrap();
        if name.trim().starts_with("ntp-worker") {
            workers += 1;
            assert_eq!(caps, 0, "{name} keeps capabilities {caps:x}");
        } else if name.trim() == "gnomond" {
            assert_eq!(caps, CAP_SYS_TIME_MASK, "main thread capabilities {caps:x}");
        }
    }
    assert_eq!(workers, 2);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    for n in 0..10 {
        assert!(exchange(&socket, to, &request(4, n + 1), Duration::from_secs(3)).is_some());
    }
}
