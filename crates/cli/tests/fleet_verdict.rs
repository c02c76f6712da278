//! Issue 17: `gnomon fleet`'s verdict is right by default, its exit codes never collide
//! with usage errors, and `--prometheus FILE` is written atomically whatever the
//! verdict. Loopback responders only.

use gnomon_proto::{LeapIndicator, ReferenceId};
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::net::UdpSocket;
use std::process::{Command, Stdio};

fn fleet(args: &[String]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .arg("fleet")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run gnomon");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fleet_json(hosts: &[String]) -> (i32, Value) {
    let mut args = vec!["--json".to_string()];
    args.extend(hosts.iter().cloned());
    let (code, stdout, stderr) = fleet(&args);
    let document = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {stdout}\n{stderr}"));
    (code, document)
}

fn addresses(responders: &[Responder]) -> Vec<String> {
    responders.iter().map(|r| r.address().to_string()).collect()
}

fn consistent(count: usize) -> Vec<Responder> {
    (0..count)
        .map(|i| Responder::start(Behaviour::offset(0.0001 * i as f64)).unwrap())
        .collect()
}

#[test]
fn an_outlier_50_ms_off_is_critical_without_thresholds() {
    let mut responders = consistent(4);
    responders.push(Responder::start(Behaviour::offset(0.050)).unwrap());
    let hosts = addresses(&responders);
    let (code, document) = fleet_json(&hosts);
    assert_eq!(code, 2, "{document}");
    assert_eq!(document["status"], "crit");
    assert_eq!(document["outliers"], serde_json::json!([hosts[4]]));
    // The defaults are in the report, and at least their documented floors.
    assert!(document["warn_s"].as_f64().unwrap() >= 0.001);
    assert!(document["crit_s"].as_f64().unwrap() >= 0.010);
    // The human table says CRIT, not OK.
    let (code, table, _) = fleet(&hosts);
    assert_eq!(code, 2);
    assert!(table.contains("Status     : CRIT"), "{table}");
    // The consistent hosts alone are OK.
    let (code, document) = fleet_json(&hosts[..4]);
    assert_eq!(code, 0, "{document}");
}

#[test]
fn a_host_on_a_minority_reference_or_unreachable_warns_by_default() {
    let mut responders = consistent(4);
    responders.push(
        Responder::start(Behaviour::Serve {
            offset_s: 0.0002,
            stratum: 2,
            leap: LeapIndicator::NoWarning,
            reference_id: ReferenceId::from_u32(0x0A09_0909),
            root_delay_s: 0.0001,
            root_dispersion_s: 0.0002,
        })
        .unwrap(),
    );
    let hosts = addresses(&responders);
    let (code, document) = fleet_json(&hosts);
    assert_eq!(code, 1, "{document}");
    assert_eq!(document["reference_differs"], serde_json::json!([hosts[4]]));

    let unsynced = Responder::start(Behaviour::Unsynchronized).unwrap();
    let mut with_unsynced = addresses(&responders[..4]);
    with_unsynced.push(unsynced.address().to_string());
    assert_eq!(fleet_json(&with_unsynced).0, 1);

    let silent = Responder::start(Behaviour::Silent).unwrap();
    let mut with_silent = addresses(&responders[..4]);
    with_silent.push(silent.address().to_string());
    let mut args = vec!["-t".to_string(), "0.3".to_string(), "--json".to_string()];
    args.extend(with_silent);
    let (code, stdout, _) = fleet(&args);
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn warn_must_be_below_crit_and_usage_errors_exit_64() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let host = responder.address().to_string();
    let args = |extra: &[&str]| {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.push(host.clone());
        args
    };
    let (code, _, stderr) = fleet(&args(&["--warn", "0.1", "--crit", "0.01"]));
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--warn 0.1 --crit 0.01"), "{stderr}");
    assert!(stderr.contains("less than"), "{stderr}");
    assert_eq!(fleet(&args(&["--warn", "0.1", "--crit", "0.1"])).0, 64);
    // clap's own usage errors too: not 2, which is "critical".
    let (code, _, stderr) = fleet(&args(&["--no-such-option"]));
    assert_eq!(code, 64, "{stderr}");
    assert_eq!(fleet(&args(&["--warn", "soon"])).0, 64);
    // Help is not an error.
    let (code, help, _) = fleet(&["--help".to_string()]);
    assert_eq!(code, 0);
    assert!(help.contains("64  usage error"), "{help}");
}

#[test]
fn prometheus_file_is_written_atomically_whatever_the_verdict() {
    let directory = std::env::temp_dir().join(format!("gnomon-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("fleet.prom");
    std::fs::write(&path, "stale\n").unwrap();
    let good = Responder::start(Behaviour::offset(0.0)).unwrap();
    let refused = {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let args = vec![
        "--prometheus".to_string(),
        path.display().to_string(),
        "-t".into(),
        "0.3".into(),
        good.address().to_string(),
        refused.to_string(),
    ];
    let (code, stdout, stderr) = fleet(&args);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "", "the textfile goes to FILE, not stdout");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("gnomon_fleet_status 1"), "{text}");
    assert!(!text.contains("stale"));
    let names: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["fleet.prom"], "no temporary file left");
    // An unwritable FILE is reported with its name; the verdict is then unknown.
    let mut bad = args.clone();
    bad[1] = directory.join("missing/fleet.prom").display().to_string();
    let (code, _, stderr) = fleet(&bad);
    assert_eq!(code, 3);
    assert!(stderr.contains("missing/.fleet.prom"), "{stderr}");
    std::fs::remove_dir_all(&directory).unwrap();
}
