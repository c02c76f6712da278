//! `local stratum N orphan` on loopback: two gnomond -x polling each other settle on
//! the smallest reference ID, the other takes over when that root stops
//! (`waitunsynced`), and the ID a host is known by comes from a source given by name
//! once it resolves. Everything on 127.0.0.0/8; no clock is changed.

use gnomon_config::Config;
use gnomon_daemon::clock::VirtualClock;
use gnomon_daemon::runtime::{Daemon, RunOptions};
use gnomon_sys::timex::realtime_now;
use gnomon_testkit::chronyd::free_udp_port;
use gnomon_testkit::gnomond::Gnomond;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `local stratum 5 orphan` (with `extra` options) bound to `me`, polling `other` on
/// the same port every second.
fn peer(port: u16, me: &str, other: &str, extra: &str) -> Vec<String> {
    vec![
        format!("port {port}"),
        format!("bindaddress {me}"),
        "allow 127.0.0.0/8".to_string(),
        format!("local stratum 5 orphan{extra}"),
        format!("server {other} port {port} iburst minpoll 0 maxpoll 0"),
    ]
}

/// Poll `check` every 300 ms until it returns true, for at most `limit`.
fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        let state = match check() {
            Ok(()) => return,
            Err(state) => state,
        };
        assert!(
            started.elapsed() < limit,
            "{what} within {limit:?}: {state}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn source<'a>(sources: &'a Value, address: &str) -> &'a Value {
    sources
        .as_array()
        .and_then(|list| list.iter().find(|s| s["address"] == address))
        .unwrap_or_else(|| panic!("no source {address} in {sources}"))
}

#[test]
fn orphan_servers_settle_on_the_smallest_id() {
    // Two servers with the same `local stratum 5 orphan` line, polling each other,
    // known to each other as 127.0.0.2 and 127.0.0.3 (their bindaddress).
    let port = free_udp_port();
    let root = Gnomond::start(&["-4"], &peer(port, "127.0.0.2", "127.0.0.3", ""));
    let follower = Gnomond::start(&["-4"], &peer(port, "127.0.0.3", "127.0.0.2", ""));
    wait_for(
        Duration::from_secs(30),
        "the follower follows the root",
        || {
            let sources = follower.control("sources");
            let tracking = follower.control("tracking");
            if sources[0]["state"] == "*" && tracking["stratum"] == 6 {
                Ok(())
            } else {
                Err(format!("{tracking} {sources}"))
            }
        },
    );
    let root_tracking = root.control("tracking");
    assert_eq!(root_tracking["stratum"], 5, "{root_tracking}");
    assert_eq!(root_tracking["reference_id"], "7F7F0101", "{root_tracking}");
    assert_ne!(root.control("sources")[0]["state"], "*");
}

/// chrony's orphan failover: the root stops; the follower, once the root has been
/// unreachable for `waitunsynced` (2 s here; 300 s by default with orphan), serves its
/// own clock at the local stratum, and a client of both moves to it.
#[test]
fn an_orphan_takes_over_when_the_root_stops() {
    let port = free_udp_port();
    let wait = " waitunsynced 2";
    let root = Gnomond::start(&["-4"], &peer(port, "127.0.0.2", "127.0.0.3", wait));
    let follower = Gnomond::start(&["-4"], &peer(port, "127.0.0.3", "127.0.0.2", wait));
    let client = Gnomond::start(
        &["-4"],
        &[
            format!("server 127.0.0.2 port {port} iburst minpoll 0 maxpoll 0"),
            format!("server 127.0.0.3 port {port} iburst minpoll 0 maxpoll 0"),
        ],
    );
    wait_for(
        Duration::from_secs(20),
        "the follower follows the root",
        || {
            let tracking = follower.control("tracking");
            let client_sources = client.control("sources");
            let root_row = source(&client_sources, "127.0.0.2");
            if tracking["stratum"] == 6 && root_row["state"] == "*" && root_row["stratum"] == 5 {
                Ok(())
            } else {
                Err(format!("{tracking} {client_sources}"))
            }
        },
    );

    let stopped = Instant::now();
    root.terminate(Duration::from_secs(5))
        .expect("the root exits on SIGTERM");
    // The follower holds over on the silent root until it is unreachable (8 polls of
    // 1 s) and then waits 2 s more: not at once.
    std::thread::sleep(Duration::from_secs(4));
    let early = follower.control("tracking");
    assert_eq!(early["stratum"], 6, "took over too early: {early}");

    wait_for(Duration::from_secs(30), "the follower takes over", || {
        let tracking = follower.control("tracking");
        if tracking["stratum"] == 5 && tracking["reference_id"] == "7F7F0101" {
            Ok(())
        } else {
            Err(format!("{tracking}"))
        }
    });
    let took_over_s = stopped.elapsed().as_secs_f64();
    eprintln!("the follower took over {took_over_s:.1} s after the root stopped");
    assert!(took_over_s >= 8.0, "{took_over_s} s");
    wait_for(
        Duration::from_secs(15),
        "the client follows the new root",
        || {
            let sources = client.control("sources");
            let tracking = client.control("tracking");
            let row = source(&sources, "127.0.0.3");
            if row["state"] == "*" && row["stratum"] == 5 && tracking["stratum"] == 6 {
                Ok(())
            } else {
                Err(format!("{tracking} {sources}"))
            }
        },
    );
    assert_eq!(
        source(&client.control("sources"), "127.0.0.2")["reach"],
        0,
        "the old root is unreachable"
    );
}

fn own_reference_id(config_text: &str, overrides: &[(&str, &str)]) -> Option<String> {
    let config = Config::parse_str(config_text, "test.conf").unwrap().config;
    let options = RunOptions {
        one_shot: None,
        resolve_overrides: overrides
            .iter()
            .map(|(name, address)| (name.to_string(), vec![address.parse().unwrap()]))
            .collect(),
    };
    let clock = VirtualClock::new(realtime_now, 0.0, 0.0, "test");
    // Sources are resolved and their sockets connected; nothing is sent until run.
    let daemon = Daemon::new(config, options, Box::new(clock)).unwrap();
    daemon
        .engine()
        .config()
        .own_reference_id
        .map(|id| id.to_hex())
}

/// Without `bindaddress`, the ID is the local address toward the first source, also
/// when that source is given by name (here answered by `--resolve`, as a resolver
/// would once it answers): on loopback, 127.0.0.1.
#[test]
fn the_orphan_id_comes_from_a_source_given_by_name() {
    let base = "bindcmdaddress /\nlocal stratum 5 orphan\n";
    let by_name = format!("{base}server peer.test port 9 minpoll 0\n");
    assert_eq!(
        own_reference_id(&by_name, &[("peer.test", "127.0.0.9")]).as_deref(),
        Some("7F000001")
    );
    // A literal works as before; an IPv4 bindaddress wins over both.
    let literal = format!("{base}server 127.0.0.9 port 9\n");
    assert_eq!(own_reference_id(&literal, &[]).as_deref(), Some("7F000001"));
    let bound = format!("{by_name}bindaddress 127.0.0.2\n");
    assert_eq!(
        own_reference_id(&bound, &[("peer.test", "127.0.0.9")]).as_deref(),
        Some("7F000002")
    );
    // Only IPv6 sources: no IPv4 ID to compare (orphan peers are not followed).
    let v6 = format!("{base}server peer6.test port 9\n");
    assert_eq!(own_reference_id(&v6, &[("peer6.test", "::1")]), None);
}
