//! Issue 17 item 8, the gnomon side: `fleet --help` without `--socket`, `--json`
//! views that print JSON even when the daemon is unreachable, and `waitsync --json`
//! with a clear not-synchronised message. (`--warn 0.1 --crit 0.01` refused: see
//! tests/fleet_verdict.rs.) Loopback only.

use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::process::{Command, Output, Stdio};

fn gnomon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(args)
        .env_remove("GNOMON_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run gnomon")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn socket_is_only_in_the_help_of_commands_that_use_it() {
    for command in ["fleet", "query", "lab", "now"] {
        let help = stdout(&gnomon(&[command, "--help"]));
        assert!(!help.contains("--socket <PATH>"), "{command}: {help}");
    }
    for command in ["tracking", "sources", "waitsync", "doctor"] {
        let help = stdout(&gnomon(&[command, "--help"]));
        assert!(help.contains("--socket <PATH>"), "{command}: {help}");
    }
}

#[test]
fn json_views_answer_json_when_the_daemon_is_unreachable() {
    for command in ["tracking", "sources", "serverstats", "clients", "offline"] {
        let output = gnomon(&["--socket", "/nonexistent/gnomond.sock", command, "--json"]);
        assert_eq!(output.status.code(), Some(3), "{command}");
        let document: Value = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|error| panic!("{command}: not JSON ({error}): {output:?}"));
        let message = document["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("/nonexistent/gnomond.sock"),
            "{command}: {document}"
        );
    }
}

#[test]
fn waitsync_says_what_it_saw_and_has_json() {
    // A source that never answers: gnomond runs but never synchronises.
    let silent = Responder::start(Behaviour::Silent).unwrap();
    let line = format!("server 127.0.0.1 port {} iburst", silent.address().port());
    let gnomond = Gnomond::start(&["-4"], &[&line]);
    let socket = gnomond.socket_path();
    let socket = socket.to_str().unwrap();
    let base = [
        "--socket",
        socket,
        "waitsync",
        "--timeout",
        "0.6",
        "--interval",
        "0.2",
    ];
    let human = gnomon(&base);
    assert_eq!(human.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(
        stderr.contains("gave up after 0.6 s: gnomond is not synchronised yet (stratum"),
        "{stderr}"
    );
    assert!(!stderr.contains("not synchronised within"), "{stderr}");
    let mut with_json = base.to_vec();
    with_json.push("--json");
    let output = gnomon(&with_json);
    assert_eq!(output.status.code(), Some(1));
    let document: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(document["synchronized"], false);
    assert_eq!(document["within_bound"], false);
    assert!(document["waited_s"].as_f64().unwrap() >= 0.6);
    assert!(document["error"]
        .as_str()
        .unwrap()
        .contains("not synchronised"));
}
