//! `gnomon doctor` over fixture trees (tests/fixtures/doctor/NAME/{root,recordings}) and
//! against daemons started here (`chronyd -x`, `gnomond -x`, loopback only). Doctor
//! only reads; no test passes --probe.

use gnomon_testkit::chronyd::{Chronyd, TempDir};
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
}

/// Run `gnomon doctor --json ARGS...`; returns the exit code and the report.
fn doctor(args: &[&str]) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .arg("doctor")
        .arg("--json")
        .args(args)
        .output()
        .expect("run gnomon doctor");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "doctor printed no JSON ({error}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let code = output.status.code().expect("exit code");
    assert_eq!(
        report["exit_code"], code,
        "the JSON's exit code is the process's"
    );
    (code, report)
}

fn doctor_fixture(name: &str) -> (i32, Value) {
    let dir = fixture(name);
    let root = dir.join("root");
    let recordings = dir.join("recordings");
    doctor(&[
        "--root",
        root.to_str().unwrap(),
        "--recordings",
        recordings.to_str().unwrap(),
    ])
}

/// The findings of one check with one severity.
fn findings<'a>(report: &'a Value, check: &str, severity: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|finding| finding["check"] == check && finding["severity"] == severity)
        .collect()
}

/// The one finding of `check` with `severity` whose summary contains `text`.
fn find<'a>(report: &'a Value, check: &str, severity: &str, text: &str) -> &'a Value {
    findings(report, check, severity)
        .into_iter()
        .find(|finding| finding["summary"].as_str().unwrap().contains(text))
        .unwrap_or_else(|| {
            panic!(
                "no {severity} {check} finding with {text:?} in:\n{}",
                serde_json::to_string_pretty(report).unwrap()
            )
        })
}

fn summary(finding: &Value) -> &str {
    finding["summary"].as_str().unwrap()
}

#[test]
fn the_seed_host_fails_with_both_fighting_daemons_named() {
    let (code, report) = doctor_fixture("seed-conflict");
    assert_eq!(code, 2, "worst finding is a FAIL");
    assert_eq!(report["worst"], "fail");
    let fight = find(&report, "daemons", "fail", "steer the clock at once");
    assert!(summary(fight).contains("ntpd (pid 2785)"), "{fight}");
    assert!(summary(fight).contains("chronyd (pid 3120)"), "{fight}");
    assert!(!fight["remedy"].as_str().unwrap().is_empty());
    // Both are enabled: after a reboot they fight again (the seed's "ntp came back").
    let boot = find(&report, "daemons", "fail", "start at boot");
    assert!(summary(boot).contains("ntpd, chronyd"), "{boot}");
    // timesyncd skips itself because /usr/sbin/ntpd exists, and doctor says why.
    let timesyncd = find(&report, "timesyncd", "warn", "will not start");
    assert!(summary(timesyncd).contains("/usr/sbin/ntpd"), "{timesyncd}");
    assert!(timesyncd["details"][0]
        .as_str()
        .unwrap()
        .contains("disable-with-time-daemon.conf: ConditionFileIsExecutable=!/usr/sbin/ntpd"));
    // Xen clocksource on AWS: tsc is recommended.
    let clocksource = find(&report, "clocksource", "warn", "clocksource xen");
    assert!(clocksource["remedy"].as_str().unwrap().contains("use tsc"));
    // Ubuntu reads /etc/chrony/chrony.conf; the stray /etc/chrony.conf is flagged.
    find(
        &report,
        "config",
        "info",
        "chronyd reads /etc/chrony/chrony.conf (Debian-family",
    );
    find(&report, "config", "warn", "/etc/chrony.conf also exists");
    let sources = find(
        &report,
        "config",
        "ok",
        "/etc/chrony/chrony.conf: 2 source(s)",
    );
    assert!(sources["details"][0].as_str().unwrap().starts_with(
        "server 169.254.169.123 = Amazon Time Sync (prefer, iburst, poll 2^4..2^4 s)"
    ));
    find(
        &report,
        "kernel",
        "warn",
        "unusually large frequency correction (180.0 ppm)",
    );
    find(
        &report,
        "local-daemon",
        "ok",
        "chronyd synchronised to 169.254.169.123",
    );
    // ntpd's socket per interface beside Calico veths; the seed's `-4` is recognised.
    find(
        &report,
        "interfaces",
        "info",
        "ntpd (pid 2785) opens a socket per interface, and this host has 4 container",
    );
}

#[test]
fn an_amazon_linux_host_reads_etc_chrony_conf_and_is_healthy() {
    let (code, report) = doctor_fixture("rhel-chrony");
    assert_eq!(
        code,
        0,
        "{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    find(
        &report,
        "daemons",
        "ok",
        "one daemon steers the clock: chronyd (pid 640)",
    );
    find(
        &report,
        "daemons",
        "info",
        "chronyd: installed (package chrony 4.3-1.amzn2023.0.4)",
    );
    find(
        &report,
        "config",
        "info",
        "chronyd reads /etc/chrony.conf (RHEL-family default (Amazon Linux 2023))",
    );
    find(&report, "config", "ok", "/etc/chrony.conf: makestep 1 3");
    find(&report, "config", "ok", "/etc/chrony.conf: rtcsync");
    find(&report, "kernel", "ok", "kernel clock synchronised");
    find(
        &report,
        "local-daemon",
        "ok",
        "chronyd: all 1 source(s) reachable",
    );
}

#[test]
fn a_bad_config_fails_with_file_and_line_and_an_unsynchronised_kernel_warns() {
    let (code, report) = doctor_fixture("bad-config");
    assert_eq!(code, 2);
    let parse = find(&report, "config", "fail", "does not parse");
    assert!(
        summary(parse).contains("/etc/gnomon/gnomon.conf:3: invalid minpoll value \"four\""),
        "{parse}"
    );
    find(
        &report,
        "kernel",
        "warn",
        "kernel clock not synchronised (STA_UNSYNC set, maxerror at the 16 s ceiling)",
    );
    find(
        &report,
        "daemons",
        "warn",
        "no running daemon steers the system clock",
    );
    find(
        &report,
        "daemons",
        "info",
        "gnomond: installed (/usr/sbin/gnomond), not running",
    );
}

#[test]
fn text_output_has_a_labelled_line_and_a_remedy_per_problem() {
    let dir = fixture("bad-config");
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(["doctor", "--root"])
        .arg(dir.join("root"))
        .arg("--recordings")
        .arg(dir.join("recordings"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("[FAIL] config: /etc/gnomon/gnomon.conf: does not parse"),
        "{text}"
    );
    assert!(text.contains("       remedy: fix that line"), "{text}");
    assert!(text.ends_with("worst: [FAIL]\n"), "{text}");
}

#[test]
fn a_missing_root_exits_3() {
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(["doctor", "--root", "/nonexistent/gnomon-doctor"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let help = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("1 the worst finding is a WARN; 2 the worst is a FAIL"),
        "{help}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_clean_gnomond_host_is_all_ok_with_the_daemon_answering() {
    let server = Responder::start(Behaviour::offset(0.0)).unwrap();
    let line = format!(
        "server 127.0.0.1 port {} iburst minpoll -1 maxpoll -1",
        server.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&line]);
    // The fixture tree, with gnomond's control socket where the root expects it.
    let tree = TempDir::new("doctor-clean");
    copy_tree(&fixture("clean-gnomond/root"), tree.path());
    std::fs::create_dir_all(tree.path().join("run/gnomon")).unwrap();
    std::os::unix::fs::symlink(
        gnomond.socket_path(),
        tree.path().join("run/gnomon/gnomond.sock"),
    )
    .unwrap();
    let recordings = fixture("clean-gnomond/recordings");
    let args = [
        "--root",
        tree.path().to_str().unwrap(),
        "--recordings",
        recordings.to_str().unwrap(),
    ];
    let started = Instant::now();
    let (code, report) = loop {
        let (code, report) = doctor(&args);
        if code == 0 || started.elapsed() > Duration::from_secs(20) {
            break (code, report);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        code,
        0,
        "{}\ngnomond log:\n{}",
        serde_json::to_string_pretty(&report).unwrap(),
        gnomond.log()
    );
    find(
        &report,
        "daemons",
        "ok",
        "one daemon steers the clock: gnomond (pid 812)",
    );
    find(
        &report,
        "config",
        "info",
        "gnomond reads /etc/gnomon/gnomon.conf",
    );
    find(
        &report,
        "local-daemon",
        "ok",
        "gnomond synchronised to 127.0.0.1",
    );
    find(
        &report,
        "local-daemon",
        "ok",
        "gnomond: all 1 source(s) reachable",
    );
    assert!(findings(&report, "daemons", "fail").is_empty());
}

#[test]
fn a_running_chronyd_x_is_seen_live_and_asked_through_chronyc() {
    let chronyd = Chronyd::local_stratum(8);
    let socket = chronyd.socket_path();
    let (_code, report) = doctor(&["--chronyd-socket", socket.to_str().unwrap()]);
    let pid = format!("pid {}: ", chronyd.pid());
    let seen = findings(&report, "daemons", "info")
        .into_iter()
        .find(|finding| summary(finding).starts_with("chronyd: "))
        .unwrap_or_else(|| panic!("no chronyd finding: {report}"));
    assert!(summary(seen).contains("running"), "{seen}");
    let detail = seen["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detail| detail.as_str().unwrap())
        .find(|detail| detail.starts_with(&pid))
        .unwrap_or_else(|| panic!("chronyd {pid} not listed: {seen}"));
    assert!(detail.contains("[-x: leaves the clock alone]"), "{detail}");
    // chronyc talked to it (synchronised to its local reference or not yet).
    let asked = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["check"] == "local-daemon")
        .find(|finding| summary(finding).starts_with("chronyd "))
        .unwrap_or_else(|| panic!("chronyc was not asked: {report}"));
    assert!(!summary(asked).contains("cannot talk"), "{asked}");
}
