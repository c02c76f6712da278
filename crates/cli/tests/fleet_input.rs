//! Issue 17 item 2: `gnomon fleet`'s host lists as operators have them (several hosts
//! per line, `kubectl get nodes` tables, `[v6]:port`), bad ports as usage errors, and
//! every failure's reason on the terminal. Loopback responders and a fake ssh only.

use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// Run `gnomon fleet ARGS` with `input` on stdin: (exit code, stdout, stderr).
fn fleet_with_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .arg("fleet")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gnomon");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn labels(document: &Value) -> Vec<String> {
    document["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|host| host["host"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn several_hosts_on_one_line_are_all_measured() {
    let a = Responder::start(Behaviour::offset(0.0)).unwrap();
    let b = Responder::start(Behaviour::offset(0.0)).unwrap();
    let input = format!("{} {}  # two on a line\n", a.address(), b.address());
    let (code, stdout, stderr) = fleet_with_stdin(&["--json"], &input);
    assert_eq!(code, 0, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["hosts_usable"], 2, "{stdout}");
}

#[test]
fn kubectl_tables_give_their_nodes_and_never_the_header() {
    let node = Responder::start(Behaviour::offset(0.0)).unwrap();
    let port = node.address().port().to_string();
    let wide = "NAME     STATUS   ROLES    AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE\n\
                node-a   Ready    <none>   10d   v1.28.3   127.0.0.1     <none>        Ubuntu 22.04\n";
    let (code, stdout, stderr) = fleet_with_stdin(&["--json", "--port", &port], wide);
    assert_eq!(code, 0, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(labels(&document), ["node-a → 127.0.0.1"]);
    assert_eq!(document["hosts_usable"], 1);
    // Without its header, and without -o wide: the node name (here `localhost`, which
    // needs no DNS) is the host; STATUS, ROLES, AGE and VERSION are not hosts.
    let headless = "localhost   Ready    control-plane   10d   v1.28.3\n";
    let (code, stdout, stderr) = fleet_with_stdin(&["--json", "-4", "--port", &port], headless);
    assert_eq!(code, 0, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(labels(&document), ["localhost"]);
    let with_header = format!("NAME STATUS ROLES AGE VERSION\n{headless}");
    let (_, stdout, _) = fleet_with_stdin(&["--json", "-4", "--port", &port], &with_header);
    let document: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(labels(&document), ["localhost"], "NAME must not be a host");
}

#[test]
fn bad_ports_are_usage_errors_naming_where() {
    let (code, _, stderr) = fleet_with_stdin(&["127.0.0.1:99999"], "");
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("invalid port '99999'"), "{stderr}");
    let (code, _, stderr) = fleet_with_stdin(&["--hosts", "-"], "127.0.0.1:1\n[::1]:0\n");
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("stdin:2: '[::1]:0': invalid port"),
        "{stderr}"
    );
}

#[test]
fn every_failure_has_its_reason_in_the_table() {
    let good = Responder::start(Behaviour::offset(0.0)).unwrap();
    let refused = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, table, stderr) = fleet_with_stdin(
        &[
            "-t",
            "0.3",
            &good.address().to_string(),
            &refused.to_string(),
        ],
        "",
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        table.contains(&format!("  {refused}: refused: ")),
        "{table}"
    );
    assert!(table.contains("--ssh REFERENCE"), "{table}");

    // ssh's own error line, not just `remote`.
    let scratch = std::env::temp_dir().join(format!("gnomon-fleet-input-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let ssh = scratch.join("ssh");
    std::fs::write(
        &ssh,
        "#!/bin/sh\necho 'ssh: connect to host down port 22: Connection refused' >&2\nexit 255\n",
    )
    .unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                scratch.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .args(["fleet", "--ssh", &good.address().to_string(), "down"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    let line = table
        .lines()
        .find(|line| line.starts_with("  down: remote: "))
        .unwrap_or_else(|| panic!("no failure line for down: {table}"));
    assert!(
        line.contains("ssh: connect to host down port 22: Connection refused"),
        "{table}"
    );
}
