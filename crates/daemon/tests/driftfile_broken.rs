//! A broken drift file never stops gnomond (issue 19 item 3): empty, garbage, truncated,
//! huge, a directory or a FIFO at the path is logged with chronyd's words and the daemon
//! starts without a saved frequency; at exit the file is written again, valid. Runs the
//! real `gnomond -x` (no clock is touched); every wait is bounded.

use gnomon_testkit::chronyd::TempDir;
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use std::path::Path;
use std::time::Duration;

const CHRONYD_WORDS: &str = "Could not read valid frequency and skew from driftfile";

fn start_with(drift: &Path) -> Gnomond {
    Gnomond::start(&[], &[format!("driftfile {}", drift.display())])
}

#[test]
fn broken_drift_files_are_logged_and_replaced() {
    let dir = TempDir::new("drift-broken");
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("garbage", b"\x00\xffgarbage\n".to_vec()),
        ("truncated", b"        -12.34".to_vec()),
        ("out of range", b"9000 1\n".to_vec()),
        ("huge", vec![b'9'; 16 << 20]),
    ];
    for (what, content) in cases {
        let drift = dir.path().join(format!("{}.drift", what.replace(' ', "-")));
        std::fs::write(&drift, &content).unwrap();
        let gnomond = start_with(&drift);
        let tracking = gnomond.control("tracking");
        assert_eq!(tracking["frequency_ppm"], 0.0, "{what}: {tracking}");
        let log = gnomond.log();
        assert!(
            log.contains(CHRONYD_WORDS) && log.contains(&drift.display().to_string()),
            "{what}: {log}"
        );
        let status = gnomond.terminate(Duration::from_secs(10)).expect("exits");
        assert!(status.success(), "{what}: {status}");
    }
}

/// As chronyd, the file is written again once there is a frequency to save: after an
/// update, at exit, atomically, and valid.
#[test]
fn an_empty_drift_file_is_replaced_after_synchronising() {
    let dir = TempDir::new("drift-rewrite");
    let drift = dir.path().join("empty.drift");
    std::fs::write(&drift, b"").unwrap();
    let server = Responder::start(Behaviour::offset(0.0)).unwrap();
    let gnomond = Gnomond::start(
        &[],
        &[
            format!("driftfile {}", drift.display()),
            format!(
                "server 127.0.0.1 port {} iburst minpoll -2 maxpoll -2",
                server.address().port()
            ),
        ],
    );
    assert!(gnomond.log().contains(CHRONYD_WORDS));
    gnomond.wait_synchronized(Duration::from_secs(30));
    let status = gnomond.terminate(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status}");
    let rewritten = std::fs::read_to_string(&drift).unwrap();
    let numbers: Vec<f64> = rewritten
        .split_whitespace()
        .map(|number| number.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 2, "{rewritten:?}");
    assert!(
        numbers[0].abs() <= 500.0 && numbers[1] >= 0.0,
        "{rewritten:?}"
    );
}

#[test]
fn a_directory_or_fifo_at_the_drift_path_does_not_block_or_stop_the_start() {
    let dir = TempDir::new("drift-special");
    let as_dir = dir.path().join("drift-is-a-dir");
    std::fs::create_dir(&as_dir).unwrap();
    let fifo = dir.path().join("drift-is-a-fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for drift in [as_dir, fifo] {
        // Gnomond::start fails the test if the control socket is not up within 10 s:
        // a blocking open of the FIFO would be that failure.
        let gnomond = start_with(&drift);
        let log = gnomond.log();
        assert!(log.contains(CHRONYD_WORDS), "{}: {log}", drift.display());
        assert!(gnomond.control("tracking")["stratum"].is_number());
    }
}
