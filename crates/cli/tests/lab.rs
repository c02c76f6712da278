//! `gnomon lab` end to end with a small fleet: it converges and its JSON summary says so.
//! Every gnomond it starts runs -x on loopback; the lab stops them by PID.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn small_lab_converges_and_reports_json() {
    let gnomon = env!("CARGO_BIN_EXE_gnomon");
    let gnomond = std::path::Path::new(gnomon).with_file_name("gnomond");
    assert!(
        gnomond.exists(),
        "{} not built: run `cargo test --workspace` (it builds gnomond)",
        gnomond.display()
    );
    let started = Instant::now();
    let child = Command::new(gnomon)
        .args([
            "lab",
            "-n",
            "4",
            "--duration",
            "80",
            "--seed",
            "3",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gnomon lab");
    let pid = child.id();
    let output = child.wait_with_output().expect("wait for gnomon lab");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(took < Duration::from_secs(95), "took {took:?}");
    let summary: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(summary["clients"], 4);
    assert_eq!(summary["seed"], 3);
    assert_eq!(summary["converged"], true);
    let story = summary["spread_story"].as_str().unwrap();
    assert!(
        story.contains(" → ") && story.contains("converged within"),
        "{story}"
    );
    assert_eq!(summary["synchronized"], 4);
    let bound_s = summary["bound_s"].as_f64().unwrap();
    let initial_s = summary["initial_spread_s"].as_f64().unwrap();
    let final_s = summary["final_spread_s"].as_f64().unwrap();
    let final_bound_s = summary["final_spread_bound_s"].as_f64().unwrap();
    // The clients start up to 2 s apart and end within the bound.
    assert!(initial_s > 0.1, "initial spread {initial_s}");
    assert!(
        final_s <= final_bound_s && final_bound_s <= bound_s,
        "{summary}"
    );
    assert!(summary["converged_after_s"].as_f64().unwrap() < 60.0);
    let nodes = summary["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for node in nodes {
        assert!(node["frequency_ppm"].as_f64().unwrap().abs() <= 50.0);
        assert!(node["final_offset_s"].as_f64().unwrap().abs() < bound_s);
        assert_eq!(node["synchronized"], true);
    }
    // Nothing left behind: the lab's directory went with its daemons.
    let lab_dir = std::env::temp_dir().join(format!("gnomon-lab-{pid}"));
    assert!(!lab_dir.exists(), "{} left behind", lab_dir.display());
}

#[test]
fn lab_says_what_to_build_when_gnomond_is_missing() {
    let dir = std::env::temp_dir().join(format!("gnomon-lab-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("gnomon");
    std::fs::copy(env!("CARGO_BIN_EXE_gnomon"), &copy).unwrap();
    let output = Command::new(&copy)
        .args(["lab", "-n", "2"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gnomond is not built") && stderr.contains("cargo build"),
        "{stderr}"
    );
}
