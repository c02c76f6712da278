//! `gnomon query` end to end: against a real `chronyd -x` and scripted responders.

use gnomon_proto::{KissCode, LeapIndicator};
use gnomon_testkit::chronyd::{chronyd_query_offset_s, Chronyd};
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn gnomon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(args)
        .output()
        .expect("run gnomon")
}

/// Run `gnomon query --json ARGS` and return the exit code and one object per server.
fn query_json(args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = vec!["query", "--json"];
    all.extend_from_slice(args);
    let output = gnomon(&all);
    let objects = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    (
        output.status.code().expect("exit code"),
        objects,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn query_local_chronyd_matches_chronyd_itself() {
    let chronyd = Chronyd::local_stratum(8);
    let target = format!("127.0.0.1:{}", chronyd.port());
    let (code, objects, stderr) = query_json(&[&target, "-c", "4", "-i", "0.2"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let report = &objects[0];
    assert_eq!(report["ok"], true);
    let offset_s = report["offset_s"].as_f64().unwrap();
    let error_bound_s = report["error_bound_s"].as_f64().unwrap();
    assert!(
        offset_s.abs() < 0.001,
        "offset {offset_s} s against a chronyd on this host"
    );
    assert_eq!(report["stratum"], 8);
    assert_eq!(report["usable_samples"], 4);
    assert_eq!(report["address"], target.as_str());

    // Reference ID and leap as chronyd itself reports them.
    let tracking = &chronyd.chronyc_csv(&["tracking"])[0];
    assert_eq!(report["reference_id"], tracking[0].as_str());
    assert_eq!(tracking[13], "Normal");
    assert_eq!(report["leap"], "normal");

    // chronyd -Q measures the same server; both are within their bounds of the truth
    // (zero here), so they agree within the sum of the bounds, plus chronyd's printing
    // resolution of 1 us.
    let chrony_offset_s = chronyd_query_offset_s(chronyd.port());
    let tolerance_s = 2.0 * error_bound_s + 1e-6;
    assert!(
        (offset_s - chrony_offset_s).abs() <= tolerance_s,
        "gnomon {offset_s} s vs chronyd -Q {chrony_offset_s} s, tolerance {tolerance_s} s"
    );
}

#[test]
fn human_output_names_the_fields() {
    let chronyd = Chronyd::local_stratum(8);
    let output = gnomon(&["query", "-c", "1", &format!("127.0.0.1:{}", chronyd.port())]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for line in [
        "Offset          : ",
        "Round-trip delay: ",
        "Error bound     : ",
        "Stratum         : 8",
        "Reference ID    : 7F7F0101 (127.127.1.1)",
        "Leap status     : Normal",
        "Root dispersion : ",
        "Samples         : 1 sent, 1 usable, 0 rejected",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn offset_sign_is_server_minus_local_and_agrees_with_chronyd() {
    let ahead = Responder::start(Behaviour::offset(0.25)).unwrap();
    let target = ahead.address().to_string();
    let (code, objects, _) = query_json(&[&target, "-c", "2", "-i", "0.1"]);
    assert_eq!(code, 0);
    let offset_s = objects[0]["offset_s"].as_f64().unwrap();
    assert!((offset_s - 0.25).abs() < 0.001, "offset {offset_s}");
    let chrony_offset_s = chronyd_query_offset_s(ahead.address().port());
    assert!(
        (offset_s - chrony_offset_s).abs() < 0.001,
        "chronyd -Q says {chrony_offset_s}"
    );

    let behind = Responder::start(Behaviour::offset(-1.5)).unwrap();
    let (_, objects, _) = query_json(&[&behind.address().to_string(), "-c", "1"]);
    assert!((objects[0]["offset_s"].as_f64().unwrap() + 1.5).abs() < 0.001);
}

#[test]
fn closed_port_fails_fast_naming_the_host() {
    // Bind and release a port so nothing listens there.
    let port = gnomon_testkit::chronyd::free_udp_port();
    let target = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let output = gnomon(&["query", "--timeout", "3", &target]);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&target), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
}

#[test]
fn silent_server_times_out_within_timeout() {
    let silent = Responder::start(Behaviour::Silent).unwrap();
    let target = silent.address().to_string();
    let started = Instant::now();
    let output = gnomon(&["query", "--timeout", "1.5", "-i", "0.2", &target]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(1400),
        "gave up early: {elapsed:?}"
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&target) && stderr.contains("no reply within 1.5 s"),
        "{stderr}"
    );
    assert!(
        silent.requests() >= 4,
        "sent {} requests",
        silent.requests()
    );
}

#[test]
fn bad_replies_are_rejected_each_with_its_own_reason() {
    let cases = [
        (
            Behaviour::WrongOrigin,
            "bogus_origin",
            "origin timestamp does not match",
        ),
        (
            Behaviour::Kiss(KissCode::Rate),
            "kiss_rate",
            "kiss-o'-death RATE",
        ),
        (
            Behaviour::Kiss(KissCode::Deny),
            "kiss_deny",
            "access denied",
        ),
        (
            Behaviour::Unsynchronized,
            "unsynchronized",
            "not synchronised",
        ),
        (
            Behaviour::ZeroTimestamps,
            "bogus_timestamps",
            "timestamp is zero",
        ),
        (Behaviour::Garbage, "malformed", "too short"),
    ];
    let responders: Vec<Responder> = cases
        .iter()
        .map(|(behaviour, _, _)| Responder::start(behaviour.clone()).unwrap())
        .collect();
    let targets: Vec<String> = responders.iter().map(|r| r.address().to_string()).collect();
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["-c", "2", "-i", "0.1", "--timeout", "1"]);
    let (code, objects, stderr) = query_json(&args);
    assert_eq!(code, 1);
    assert_eq!(objects.len(), cases.len());
    for ((_, code, message), object) in cases.iter().zip(&objects) {
        assert_eq!(object["ok"], false, "{object}");
        assert!(
            object["offset_s"].is_null(),
            "a rejected server never gets a number: {object}"
        );
        assert_eq!(object["error"]["code"], *code, "{object}");
        let text = object["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{code}: {text}");
    }
    // The KoD RATE ends the query of that server at once: one request only.
    assert_eq!(objects[1]["requests_sent"], 1);
    assert!(stderr.contains(&targets[0]));
}

#[test]
fn one_bad_server_makes_the_exit_code_non_zero() {
    let good = Responder::start(Behaviour::Serve {
        offset_s: 0.0,
        stratum: 1,
        leap: LeapIndicator::InsertSecond,
        reference_id: gnomon_proto::ReferenceId::from_ascii(*b"GPS\0"),
        root_delay_s: 0.0,
        root_dispersion_s: 0.00001,
    })
    .unwrap();
    let bad = Responder::start(Behaviour::Unsynchronized).unwrap();
    let (code, objects, _) = query_json(&[&good.address().to_string(), "-c", "1"]);
    assert_eq!(code, 0);
    assert_eq!(objects[0]["reference_id_text"], "GPS");
    assert_eq!(objects[0]["leap"], "insert_second");
    let (code, objects, _) = query_json(&[
        &good.address().to_string(),
        &bad.address().to_string(),
        "-c",
        "1",
        "--timeout",
        "1",
    ]);
    assert_eq!(code, 1);
    assert_eq!(objects[0]["ok"], true);
    assert_eq!(objects[1]["ok"], false);
}

#[test]
fn family_restriction_and_usage_errors() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let (code, objects, _) = query_json(&["-6", &responder.address().to_string(), "-c", "1"]);
    assert_eq!(code, 1);
    assert_eq!(objects[0]["error"]["code"], "resolve");
    let output = gnomon(&["query", "host:notaport"]);
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid port 'notaport'"));
    let output = gnomon(&["query"]);
    assert_eq!(output.status.code(), Some(64));
}
