//! The `gnomon-sim` command itself: `run --json` prints a parseable report that is
//! identical from one process to the next; a bad scenario is a clear error.

use std::process::Command;

fn gnomon_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gnomon-sim"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(args)
        .output()
        .expect("gnomon-sim runs")
}

#[test]
fn run_json_is_deterministic_and_complete() {
    let first = gnomon_sim(&["run", "aws-linklocal", "--seed", "3", "--json"]);
    assert!(first.status.success(), "{first:?}");
    let second = gnomon_sim(&["run", "sims/aws-linklocal.toml", "--seed", "3", "--json"]);
    assert_eq!(first.stdout, second.stdout);
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["scenario"], "aws-linklocal");
    assert_eq!(report["seed"], 3);
    for key in [
        "time_to_1ms_s",
        "time_to_100us_s",
        "after_convergence",
        "final_frequency_error_rms_ppm",
        "requests_sent",
        "spread_after_convergence",
        "upstreams",
    ] {
        assert!(!report[key].is_null(), "{key} missing");
    }
    assert!(report["after_convergence"]["rms_s"].as_f64().unwrap() < 20e-6);
}

#[test]
fn text_report_and_errors() {
    let text = gnomon_sim(&["run", "vpc-master"]);
    assert!(text.status.success());
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(stdout.contains("Spread across nodes"), "{stdout}");
    assert!(stdout.contains("Sync within 100 µs"), "{stdout}");

    let missing = gnomon_sim(&["run", "no-such-scenario"]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8(missing.stderr).unwrap();
    assert!(stderr.contains("no-such-scenario"), "{stderr}");
}
