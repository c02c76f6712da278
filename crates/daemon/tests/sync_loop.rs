//! The sync-loop test on loopback: a server whose reference ID is our own address is
//! synchronised to us and must not be selected (RFC 5905's loop check, chrony's
//! test D). Two gnomond -x serve each other, over IPv6 (::1, where the reference ID
//! is the MD5 of the address) and over IPv4 (127.0.0.1); and a chronyd -x refuses a
//! gnomond synchronised to it through ::1, which it can only do if gnomond computes
//! the IPv6 reference ID as chrony does. No clock is changed; packets stay on
//! loopback.
//!
//! The test holds when both hosts reach each other at the address they send from (one
//! address, two ports): the loop check assumes the server sees us at the address our
//! requests leave from, so a pair reaching each other by different addresses (A to B
//! over IPv6, B to A over IPv4) is not detected, by gnomond nor by chronyd.

use gnomon_testkit::chronyd::{free_udp_port, Chronyd};
use gnomon_testkit::gnomond::Gnomond;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Poll `check` every 300 ms until it returns Ok, for at most `limit`.
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

/// `host` as a `server` line names it, polled every second.
fn server_line(host: &str, port: u16) -> String {
    format!("server {host} port {port} iburst minpoll 0 maxpoll 0")
}

/// The only source of a gnomond's `sources` reply.
fn only_source(sources: &Value) -> &Value {
    match sources.as_array().map(Vec::as_slice) {
        Some([one]) => one,
        _ => panic!("expected one source: {sources}"),
    }
}

/// Root: `local stratum 8` and a server, the follower, which has only the root. The
/// follower synchronises to the root and announces the root's address as its
/// reference ID, `follower_reference_id`; the root, polling the follower from that
/// address, must refuse it: selecting it would close the loop (and both would then
/// count their strata up to 16).
fn a_follower_synchronised_to_us_is_refused(host: &str, follower_reference_id: &str) {
    let root_port = free_udp_port();
    let follower_port = free_udp_port();
    let root = Gnomond::start(
        &[],
        &[
            format!("port {root_port}"),
            "allow".to_string(),
            "local stratum 8".to_string(),
            server_line(host, follower_port),
        ],
    );
    let follower = Gnomond::start(
        &[],
        &[
            format!("port {follower_port}"),
            "allow".to_string(),
            server_line(host, root_port),
        ],
    );
    wait_for(
        Duration::from_secs(30),
        "the follower follows the root",
        || {
            let tracking = follower.control("tracking");
            let sources = follower.control("sources");
            let ok = tracking["stratum"] == 9
                && tracking["reference_id"] == follower_reference_id
                && only_source(&sources)["state"] == "*";
            if ok {
                Ok(())
            } else {
                Err(format!("{tracking} {sources}"))
            }
        },
    );
    // The follower's replies now carry the root's ID; the root polls every second.
    wait_for(Duration::from_secs(15), "the root sees the loop", || {
        let sources = root.control("sources");
        if only_source(&sources)["state_name"] == "sync_loop" {
            Ok(())
        } else {
            Err(format!("{sources}"))
        }
    });
    // Five more polls of the follower by the root: it stays refused, and the root
    // stays on its local reference (a selected follower would make it stratum 10).
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(5) {
        let sources = root.control("sources");
        let source = only_source(&sources);
        let tracking = root.control("tracking");
        assert_eq!(source["state"], "?", "{sources}");
        assert_eq!(source["state_name"], "sync_loop", "{sources}");
        assert_eq!(source["samples_accepted"], 0, "{sources}");
        assert_eq!(tracking["stratum"], 8, "{tracking}");
        assert_eq!(tracking["reference_id"], "7F7F0101", "{tracking}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let sources = root.control("sources");
    let requests = only_source(&sources)["requests_sent"].as_u64().unwrap();
    assert!(requests >= 8, "the root kept polling: {sources}");
    assert!(
        root.log().contains("the server is synchronised to us"),
        "the reason is logged once: {}",
        root.log()
    );
    let follower_tracking = follower.control("tracking");
    assert_eq!(follower_tracking["stratum"], 9, "{follower_tracking}");
}

#[test]
fn a_loop_through_ipv6_is_refused() {
    // ::1's reference ID: CF404DC8, the first octets of the MD5 of its 16 octets
    // (`printf '\x00...\x01' | md5sum`, see gnomon-proto's refid tests).
    a_follower_synchronised_to_us_is_refused("::1", "CF404DC8");
}

#[test]
fn a_loop_through_ipv4_is_refused() {
    a_follower_synchronised_to_us_is_refused("127.0.0.1", "7F000001");
}

/// chronyd at `local stratum 8` serves gnomond over ::1 and polls it back. gnomond
/// synchronises to chronyd and announces chronyd's address the way chronyd computes
/// it, so chronyd's own loop test refuses gnomond (with an FNV hash it took gnomond
/// for an independent stratum-9 server and selected it). chronyc shows the reference
/// ID gnomond announces as chrony's CF404DC8.
#[test]
fn chronyd_sees_the_loop_through_a_gnomond_over_ipv6() {
    let gnomond_port = free_udp_port();
    let chronyd = Chronyd::start(&format!(
        "local stratum 8\nallow ::1\n{}",
        server_line("::1", gnomond_port)
    ));
    let gnomond = Gnomond::start(
        &[],
        &[
            format!("port {gnomond_port}"),
            "allow".to_string(),
            server_line("::1", chronyd.port()),
        ],
    );
    wait_for(
        Duration::from_secs(30),
        "gnomond follows chronyd over ::1",
        || {
            let tracking = gnomond.control("tracking");
            if tracking["stratum"] == 9 && tracking["reference_id"] == "CF404DC8" {
                Ok(())
            } else {
                Err(format!("{tracking}"))
            }
        },
    );
    // chronyc ntpdata (chrony 4.3's CSV): [1] chrony's reference ID of the remote
    // address and [4] of the local one (its own MD5 of ::1), [8] the stratum and [15]
    // the reference ID gnomond sent, [25] tests A to D (`1110`: D, the loop test,
    // failed), and last the valid and good replies (good: used for a sample).
    wait_for(
        Duration::from_secs(15),
        "chronyd refuses gnomond with its loop test",
        || {
            let rows = chronyd.chronyc_csv(&["ntpdata", "::1"]);
            let row = rows.first().cloned().unwrap_or_default();
            let field = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
            let valid: u64 = field(row.len().wrapping_sub(2)).parse().unwrap_or(0);
            let ok = field(4) == "CF404DC8"
                && field(1) == "CF404DC8"
                && field(8) == "9"
                && field(15) == field(4)
                && field(25) == "1110"
                && valid >= 3
                && row.last().map(String::as_str) == Some("0");
            if ok {
                Ok(())
            } else {
                Err(format!("{rows:?}"))
            }
        },
    );
    // Five more seconds of polls: chronyd keeps its local reference and never
    // selects gnomond.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(5) {
        let tracking = chronyd.chronyc_csv(&["tracking"]);
        assert_eq!(tracking[0][0], "7F7F0101", "{tracking:?}");
        assert_eq!(tracking[0][2], "8", "{tracking:?}");
        let sources = chronyd.chronyc_csv(&["sources"]);
        assert_eq!(sources.len(), 1, "{sources:?}");
        assert_ne!(sources[0][1], "*", "chronyd selected gnomond: {sources:?}");
        assert_ne!(sources[0][1], "+", "chronyd combined gnomond: {sources:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
