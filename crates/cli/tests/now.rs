//! `gnomon now` reads the clockbound file as applications do: an interval and status,
//! exit 0 with a bound and 1 when unknown (missing file, nothing published yet).

use gnomon_clock::{realtime_ns, Record, Status, Writer};
use std::process::Command;

fn gnomon_now(file: &std::path::Path, json: bool) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gnomon"));
    command.arg("now").arg("--file").arg(file);
    if json {
        command.arg("--json");
    }
    let output = command.output().expect("run gnomon");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn prints_the_interval_from_a_published_bound() {
    let dir = gnomon_testkit::chronyd::TempDir::new("gnomon-now");
    let path = dir.path().join("clockbound");
    let (code, text) = gnomon_now(&path, false);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Status   : unknown"), "{text}");

    let mut writer = Writer::create(&path).unwrap();
    let (code, _) = gnomon_now(&path, false);
    assert_eq!(code, 1, "unknown until the first publication");
    let now_ns = realtime_ns();
    writer
        .publish(&Record {
            as_of_ns: now_ns,
            bound_ns: 250_000,
            drift_ppb: 15_000,
            written_ns: now_ns,
            stale_after_ns: 150_000_000_000,
            status: Status::Synchronized,
        })
        .unwrap();
    let (code, text) = gnomon_now(&path, false);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Earliest : ") && text.contains("Latest   : "),
        "{text}"
    );
    assert!(text.contains("Status   : synchronized"), "{text}");
    let (code, json) = gnomon_now(&path, true);
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["status"], "synchronized");
    let bound_s = value["bound_s"].as_f64().unwrap();
    assert!((250e-6..0.01).contains(&bound_s), "{bound_s}");
    let earliest = value["earliest_unix_ns"].as_i64().unwrap();
    let latest = value["latest_unix_ns"].as_i64().unwrap();
    assert!(earliest < latest && (latest - earliest) as f64 * 1e-9 <= 2.0 * bound_s + 1e-9);
}
