//! `leapseclist FILE` on a real gnomond -x: a usable list is used (and named in the
//! log, before `leapsectz`), an unusable one is logged with its file, line and what
//! to do, and gnomond carries on, as chronyd does. No clock is changed, no packet sent.

use gnomon_testkit::gnomond::Gnomond;
use std::time::{Duration, Instant};

/// Wait (at most 10 s) until gnomond's log has a line containing `needle`.
fn logged(gnomond: &Gnomond, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let log = gnomond.log();
        if let Some(line) = log.lines().find(|line| line.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {needle:?} in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_systems_list_is_used_before_leapsectz() {
    let gnomond = Gnomond::start(
        &[],
        &[
            "port 0",
            "leapsectz right/UTC",
            "leapseclist /usr/share/zoneinfo/leap-seconds.list",
        ],
    );
    let line = logged(&gnomond, "Using leap second list");
    assert!(
        line.contains("/usr/share/zoneinfo/leap-seconds.list")
            && line.contains("it takes precedence over leapsectz"),
        "{line}"
    );
    assert!(
        !gnomond.log().contains("leapsectz right/UTC:"),
        "{}",
        gnomond.log()
    );
    assert_eq!(
        gnomond.control("tracking")["leap_status"],
        "Not synchronised"
    );
}

#[test]
fn an_unusable_list_is_logged_and_gnomond_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("leap-seconds.list");
    std::fs::write(&list, "#$ 3960835200\n#@ 3991593600\n2272060800 ten\n").unwrap();
    let gnomond = Gnomond::start(
        &[],
        &[
            "port 0".to_string(),
            "leapsectz right/UTC".to_string(),
            format!("leapseclist {}", list.display()),
        ],
    );
    let line = logged(&gnomond, "leapseclist");
    assert!(
        line.contains(&format!("leapseclist {}: line 3: expected", list.display()))
            && line.contains("using leapsectz right/UTC instead"),
        "{line}"
    );
    logged(&gnomond, "leapsectz right/UTC: ");
    // Still running and answering.
    assert!(gnomond.control("tracking")["stratum"].is_number());

    let missing = Gnomond::start(&[], &["port 0", "leapseclist /nonexistent/leap.list"]);
    let line = logged(
        &missing,
        "leapseclist /nonexistent/leap.list: cannot read it",
    );
    assert!(
        line.contains("using the sources' leap warnings")
            && line.contains("/usr/share/zoneinfo/leap-seconds.list"),
        "{line}"
    );
    assert!(missing.control("tracking")["stratum"].is_number());
}
