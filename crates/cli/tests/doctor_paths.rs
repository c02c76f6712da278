//! Issue 17 item 7: doctor takes the sockets from the configuration it parsed, and its
//! remedies fit the user it runs as (these tests run as root: never "run as root").
//! Fixture trees copied to a temporary directory; gnomond -x on loopback only.

use gnomon_testkit::chronyd::TempDir;
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

fn append(path: &Path, line: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(line);
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn doctor(root: &Path, recordings: &Path) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(["doctor", "--json", "--root"])
        .arg(root)
        .arg("--recordings")
        .arg(recordings)
        .env_remove("GNOMON_SOCKET")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), report)
}

fn local_daemon(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["check"] == "local-daemon")
        .collect()
}

#[test]
fn the_gnomond_socket_comes_from_the_parsed_bindcmdaddress() {
    let server = Responder::start(Behaviour::offset(0.0)).unwrap();
    let line = format!(
        "server 127.0.0.1 port {} iburst minpoll -1 maxpoll -1",
        server.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&line]);
    let tree = TempDir::new("doctor-bindcmd");
    copy_tree(&fixture("clean-gnomond/root"), tree.path());
    append(
        &tree.path().join("etc/gnomon/gnomon.conf"),
        "bindcmdaddress /run/custom/ctl.sock",
    );
    // The socket only where the config says, not at the default path.
    std::fs::create_dir_all(tree.path().join("run/custom")).unwrap();
    std::os::unix::fs::symlink(
        gnomond.socket_path(),
        tree.path().join("run/custom/ctl.sock"),
    )
    .unwrap();
    let recordings = fixture("clean-gnomond/recordings");
    let started = Instant::now();
    let report = loop {
        let (code, report) = doctor(tree.path(), &recordings);
        if code == 0 || started.elapsed() > Duration::from_secs(20) {
            break report;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let findings = local_daemon(&report);
    assert!(
        findings.iter().any(|f| f["summary"]
            .as_str()
            .unwrap()
            .starts_with("gnomond synchronised to 127.0.0.1")),
        "{report:#}"
    );
    assert!(
        !findings
            .iter()
            .any(|f| f["summary"].as_str().unwrap().contains("does not exist")),
        "{report:#}"
    );
}

#[test]
fn root_is_not_told_to_run_as_root_and_hears_the_configured_chronyd_socket() {
    let tree = TempDir::new("doctor-chronyc");
    copy_tree(&fixture("rhel-chrony"), tree.path());
    append(
        &tree.path().join("root/etc/chrony.conf"),
        "bindcmdaddress /run/chrony-custom/cmd.sock",
    );
    std::fs::write(
        tree.path().join("recordings/chronyc-tracking"),
        "exit: 1\n506 Cannot talk to daemon\n",
    )
    .unwrap();
    let (_, report) = doctor(&tree.path().join("root"), &tree.path().join("recordings"));
    let failed = local_daemon(&report)
        .into_iter()
        .find(|f| f["summary"].as_str().unwrap().contains("cannot talk"))
        .unwrap_or_else(|| panic!("no chronyc failure: {report:#}"));
    let remedy = failed["remedy"].as_str().unwrap();
    assert!(!remedy.contains("as root"), "{remedy}");
    assert!(remedy.contains("/run/chrony-custom/cmd.sock"), "{remedy}");
}
