//! Helpers shared by the CLI's integration tests: running `gnomon` against a test's
//! gnomond (as root, or as user nobody for the root-only checks), reading its output,
//! and waiting, bounded, for a condition.

#![allow(dead_code)]

use gnomon_testkit::gnomond::Gnomond;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `gnomon --socket <gnomond's socket> ARGS...`.
pub fn gnomon(gnomond: &Gnomond, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .arg("--socket")
        .arg(gnomond.socket_path())
        .args(args)
        .output()
        .expect("run gnomon")
}

/// The same as user nobody (uid/gid 65534, no groups), through util-linux's setpriv.
pub fn gnomon_as_nobody(gnomond: &Gnomond, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_gnomon"))
        .arg("--socket")
        .arg(gnomond.socket_path())
        .args(args)
        .output()
        .expect("setpriv (util-linux)")
}

/// Config lines for a gnomond serving 127.0.0.1 on `port` from `local stratum 5`,
/// then `extra`.
pub fn local_server_lines(port: u16, extra: &[&str]) -> Vec<String> {
    let mut lines = vec![
        format!("port {port}"),
        "bindaddress 127.0.0.1".to_string(),
        "allow 127.0.0.1".to_string(),
        "local stratum 5".to_string(),
    ];
    lines.extend(extra.iter().map(|line| line.to_string()));
    lines
}

/// Standard output of a command that must have succeeded (else its stderr is shown).
pub fn text(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Wait (bounded by `limit`) until `condition` holds.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
