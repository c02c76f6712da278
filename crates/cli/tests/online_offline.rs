//! `gnomon offline` / `gnomon online` against a real `gnomond -x` (chronyc's commands
//! of the same names): an offline source gets no packets for many poll intervals and
//! shows in `activity` and `sources` as chronyc shows it; online resumes at once; the
//! argument forms (address, CIDR, no match); the `offline` server option with chronyd
//! as the server. Permissions are in daemon_client.rs (state_changing_commands_...).

mod common;

use common::{gnomon, wait_for};
use gnomon_testkit::chronyd::Chronyd;
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Run a command that must succeed with chronyc's "200 OK".
fn ok(gnomond: &Gnomond, args: &[&str]) {
    let output = gnomon(gnomond, args);
    assert!(
        output.status.success() && stdout(&output) == "200 OK\n",
        "{args:?}: {output:?}\nlog:\n{}",
        gnomond.log()
    );
}

fn json(gnomond: &Gnomond, args: &[&str]) -> Value {
    let output = gnomon(gnomond, args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// (online, offline) from `gnomon activity --json`.
fn activity(gnomond: &Gnomond) -> (u64, u64) {
    let value = json(gnomond, &["activity", "--json"]);
    (
        value["online"].as_u64().unwrap(),
        value["offline"].as_u64().unwrap(),
    )
}

#[test]
fn offline_source_gets_no_packets_and_online_resumes_at_once() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    // Polled every 0.5 s: three seconds offline are six poll intervals.
    let server = format!(
        "server 127.0.0.1 port {} minpoll -1 maxpoll -1",
        responder.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&server]);
    wait_for("three requests", Duration::from_secs(10), || {
        responder.requests() >= 3
    });
    assert_eq!(activity(&gnomond), (1, 0));

    ok(&gnomond, &["offline"]);
    let text = stdout(&gnomon(&gnomond, &["activity"]));
    assert!(
        text.starts_with("200 OK\n0 sources online\n1 sources offline\n"),
        "{text}"
    );
    let sources = json(&gnomond, &["sources", "--json"]);
    let source = &sources[0];
    assert_eq!(source["offline"], true);
    assert_eq!(source["reach"], 0, "chronyd clears the register offline");
    assert_eq!(source["state"], "?");
    assert_eq!(source["state_name"], "offline");
    let while_offline = responder.requests();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        responder.requests(),
        while_offline,
        "requests while offline; log:\n{}",
        gnomond.log()
    );
    assert_eq!(json(&gnomond, &["sources", "--json"])[0]["reach"], 0);

    ok(&gnomond, &["online"]);
    wait_for("a request after online", Duration::from_secs(2), || {
        responder.requests() > while_offline
    });
    assert_eq!(activity(&gnomond), (1, 0));
    wait_for("reach again", Duration::from_secs(5), || {
        json(&gnomond, &["sources", "--json"])[0]["reach"] != 0
    });
    assert!(gnomond.log().contains("offline"), "{}", gnomond.log());
}

#[test]
fn addresses_subnets_and_no_such_source() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let server = format!(
        "server 127.0.0.1 port {} minpoll -1 maxpoll -1",
        responder.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&server]);

    // chronyc: "503 No such source", exit status 1.
    let none = gnomon(&gnomond, &["offline", "192.0.2.1"]);
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    assert_eq!(stdout(&none), "503 No such source\n");
    assert_eq!(activity(&gnomond), (1, 0));
    let none = gnomon(&gnomond, &["offline", "192.0.2.0/24", "--json"]);
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    // A malformed argument is a usage error, found before the daemon is asked.
    let bad = gnomon(&gnomond, &["offline", "127.0.0.0/33"]);
    assert_eq!(bad.status.code(), Some(64), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ADDRESS/BITS"));

    ok(&gnomond, &["offline", "127.0.0.0/8"]);
    assert_eq!(activity(&gnomond), (0, 1));
    ok(&gnomond, &["online", "127.0.0.1"]);
    assert_eq!(activity(&gnomond), (1, 0));
    // chronyc's MASK/ADDRESS form, and the configured name.
    ok(&gnomond, &["offline", "255.0.0.0/127.0.0.0"]);
    assert_eq!(activity(&gnomond), (0, 1));
    let answer = json(&gnomond, &["online", "127.0.0.1", "--json"]);
    assert_eq!(answer["done"], "1 of 1 sources set online");
    assert_eq!(activity(&gnomond), (1, 0));
}

#[test]
fn offline_option_waits_for_online_then_synchronises_to_chronyd() {
    let chronyd = Chronyd::local_stratum(8);
    let server = format!(
        "server 127.0.0.1 port {} iburst offline minpoll 0 maxpoll 0",
        chronyd.port()
    );
    let gnomond = Gnomond::start(&[], &[&server]);
    let received = || -> u64 {
        chronyd.chronyc_csv(&["serverstats"])[0][0]
            .parse()
            .expect("NTP packets received")
    };
    assert_eq!(activity(&gnomond), (0, 1));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(received(), 0, "packets from an offline source");
    assert_eq!(
        json(&gnomond, &["tracking", "--json"])["synchronized"],
        false
    );

    ok(&gnomond, &["online"]);
    let wait = gnomon(
        &gnomond,
        &["waitsync", "--timeout", "20", "--interval", "0.2"],
    );
    assert!(
        wait.status.success(),
        "waitsync after online: {wait:?}\nlog:\n{}",
        gnomond.log()
    );
    assert!(received() >= 3);
    // Online, maybe still in the iburst that `online` repeats.
    let value = json(&gnomond, &["activity", "--json"]);
    assert_eq!(value["offline"], 0);
    assert_eq!(
        value["online"].as_u64().unwrap() + value["burst_online"].as_u64().unwrap(),
        1
    );
}
