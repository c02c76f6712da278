//! Which era a server's time is in, on a step (issue 19 item 9; the policy is in
//! docs/gnomond.md, "Which era a server's time is in"): a server 2.2e9 s (70 years)
//! ahead is taken as +2,200,000,000 s, as chronyd 4.3 takes the same reply, and with
//! `makestep 1 3` the clock steps forward to 2096, not back to 1960 (the era nearest
//! the local clock). gnomond -x and chronyd -Q: no clock is changed; loopback only;
//! every wait is bounded. Fails without chronyd.

use gnomon_testkit::chronyd::{chronyd_query_offset_s, TempDir};
use gnomon_testkit::gnomond::{workspace_binary, Gnomond};
use gnomon_testkit::{Behaviour, Responder};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AHEAD_S: f64 = 2.2e9;

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `gnomond -Q`: measure once, change nothing, print the offset.
fn gnomond_query_offset_s(port: u16) -> f64 {
    let dir = TempDir::new("gnomond-q");
    let output = Command::new("timeout")
        .arg("20")
        .arg(workspace_binary("gnomond"))
        .args(["-Q", "-t", "15"])
        .arg(format!("server 127.0.0.1 port {port} iburst"))
        .arg(format!("pidfile {}/q.pid", dir.path().display()))
        .output()
        .expect("run gnomond -Q");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    text.split("System clock wrong by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("gnomond -Q printed no offset:\n{text}"))
}

#[test]
fn a_server_70_years_ahead_is_ahead_as_chronyd_says() {
    let server = Responder::start(Behaviour::offset(AHEAD_S)).unwrap();
    let chronyd_s = chronyd_query_offset_s(server.address().port());
    let gnomond_s = gnomond_query_offset_s(server.address().port());
    assert!((chronyd_s - AHEAD_S).abs() < 1.0, "chronyd: {chronyd_s}");
    assert!(
        (gnomond_s - chronyd_s).abs() < 1.0,
        "gnomond {gnomond_s} s, chronyd {chronyd_s} s"
    );
}

#[test]
fn makestep_steps_forward_into_the_era_window() {
    let server = Responder::start(Behaviour::offset(AHEAD_S)).unwrap();
    let gnomond = Gnomond::start(
        &[],
        &[
            format!(
                "server 127.0.0.1 port {} iburst minpoll -2 maxpoll -2",
                server.address().port()
            ),
            "makestep 1 3".to_string(),
        ],
    );
    let tracking = gnomond.wait_synchronized(Duration::from_secs(30));
    // The reference time is the (virtual) clock's time of the last update: 2096.
    let reference_s = tracking["reference_time_unix_s"].as_f64().unwrap();
    assert!(
        (reference_s - now_s() - AHEAD_S).abs() < 60.0,
        "reference time {reference_s}: {tracking}\n{}",
        gnomond.log()
    );
    // Stepped, not slewing a lifetime.
    let pending_s = tracking["system_time_offset_s"].as_f64().unwrap();
    assert!(pending_s.abs() < 1.0, "{tracking}");
}
