//! gnomond as an NTP client, seen through `gnomon`'s views: against a real chronyd,
//! against a falseticker, one-shot modes, permissions, and a proof (strace) that -x
//! never asks the kernel to change the clock.

mod common;

use common::{gnomon, gnomon_as_nobody};
use gnomon_testkit::chronyd::Chronyd;
use gnomon_testkit::gnomond::{workspace_binary, Gnomond};
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn json(gnomond: &Gnomond, view: &str) -> Value {
    let output = gnomon(gnomond, &[view, "--json"]);
    assert!(
        output.status.success(),
        "{view}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON view")
}

#[test]
fn syncs_to_chronyd_and_shows_it_selected() {
    let chronyd = Chronyd::local_stratum(8);
    let server = format!(
        "server 127.0.0.1 port {} iburst minpoll 0 maxpoll 0",
        chronyd.port()
    );
    let gnomond = Gnomond::start(&[], &[&server]);
    let started = Instant::now();
    let wait = gnomon(
        &gnomond,
        &[
            "waitsync",
            "--timeout",
            "20",
            "--interval",
            "0.2",
            "--max-offset",
            "0.001",
        ],
    );
    assert!(
        wait.status.success(),
        "waitsync: {}\nlog:\n{}",
        String::from_utf8_lossy(&wait.stderr),
        gnomond.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    let tracking = json(&gnomond, "tracking");
    assert_eq!(tracking["synchronized"], true);
    assert_eq!(tracking["stratum"], 9, "chronyd's stratum 8 + 1");
    assert_eq!(tracking["reference_id"], "7F000001");
    assert!(tracking["system_time_offset_s"].as_f64().unwrap().abs() < 0.001);
    assert!(tracking["error_bound_s"].as_f64().unwrap() < 0.001);
    assert_eq!(tracking["leap_status"], "Normal");

    let sources = json(&gnomond, "sources");
    assert_eq!(sources[0]["state"], "*");
    assert_eq!(sources[0]["stratum"], 8);
    assert!(sources[0]["measured_offset_s"].as_f64().unwrap().abs() < 0.001);

    let text = String::from_utf8(gnomon(&gnomond, &["sources"]).stdout).unwrap();
    let row = text.lines().nth(2).expect("a source row");
    assert!(row.starts_with("^* 127.0.0.1 "), "{text}");
    assert!(String::from_utf8(gnomon(&gnomond, &["tracking"]).stdout)
        .unwrap()
        .contains("Stratum         : 9\n"));
    let stats = json(&gnomond, "sourcestats");
    assert!(stats[0]["samples"].as_u64().unwrap() >= 1, "{stats}");
    let activity = json(&gnomond, "activity");
    let online = activity["online"].as_u64().unwrap() + activity["burst_online"].as_u64().unwrap();
    assert_eq!(online, 1, "{activity}");
    assert_eq!(activity["offline"], 0);

    // SIGTERM: a clean exit.
    let status = gnomond
        .terminate(Duration::from_secs(5))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn falseticker_is_marked_and_never_selected() {
    let good_a = Responder::start(Behaviour::offset(0.0)).unwrap();
    let good_b = Responder::start(Behaviour::offset(0.0)).unwrap();
    let shifted = Responder::start(Behaviour::offset(0.100)).unwrap();
    let lines: Vec<String> = [&good_a, &good_b, &shifted]
        .iter()
        .map(|r| {
            format!(
                "server 127.0.0.1 port {} iburst minpoll -1 maxpoll -1",
                r.address().port()
            )
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let gnomond = Gnomond::start(&[], &refs);
    let shifted_name = "127.0.0.1";
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut saw_falseticker = false;
    while Instant::now() < deadline {
        let sources = json(&gnomond, "sources");
        let rows = sources.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        // The third configured source is the shifted one.
        assert_eq!(rows[2]["name"], shifted_name);
        assert_ne!(
            rows[2]["state"], "*",
            "the falseticker was selected: {sources}"
        );
        saw_falseticker |= rows[2]["state"] == "x";
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_falseticker, "never marked x; log:\n{}", gnomond.log());
    let tracking = json(&gnomond, "tracking");
    assert!(
        tracking["system_time_offset_s"].as_f64().unwrap().abs() < 0.005,
        "{tracking}"
    );
}

#[test]
fn print_offset_once_like_chronyd_q() {
    let ahead = Responder::start(Behaviour::offset(0.25)).unwrap();
    let output = Command::new(workspace_binary("gnomond"))
        .args(["-Q", "-t", "20"])
        .arg(format!(
            "server 127.0.0.1 port {} iburst",
            ahead.address().port()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: f64 = stdout
        .split("System clock wrong by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {stdout:?}"));
    assert!((value - 0.25).abs() < 0.002, "{value}");
}

#[test]
fn state_changing_commands_are_for_root_only() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let server = format!(
        "server 127.0.0.1 port {} minpoll 0 maxpoll 0",
        responder.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&server]);
    let as_root = gnomon(&gnomond, &["burst"]);
    assert!(
        as_root.status.success(),
        "{}",
        String::from_utf8_lossy(&as_root.stderr)
    );
    assert!(String::from_utf8_lossy(&as_root.stdout).contains("burst started on 1 sources"));
    // The same command as user nobody is refused; a monitoring view is allowed.
    let run_as_nobody = |args: &[&str]| gnomon_as_nobody(&gnomond, args);
    for command in [&["burst"][..], &["offline"], &["online", "127.0.0.1"]] {
        let refused = run_as_nobody(command);
        assert_eq!(refused.status.code(), Some(3), "{command:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("permission denied"),
            "{refused:?}"
        );
    }
    let activity = run_as_nobody(&["activity", "--json"]);
    let activity: Value = serde_json::from_slice(&activity.stdout).expect("activity JSON");
    assert_eq!(activity["offline"], 0, "a refused offline changed nothing");
    let allowed = run_as_nobody(&["activity"]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
}

#[test]
fn no_daemon_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .args(["--socket", "/nonexistent/gnomond.sock", "tracking"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/gnomond.sock") && stderr.contains("is it running"),
        "{stderr}"
    );
}

/// DESIGN rule 1, checked on the real binary: under strace, gnomond -x makes no
/// clock-changing call (clock_adjtime/adjtimex with non-zero modes, clock_settime,
/// settimeofday) while it synchronises.
#[test]
fn no_clock_changing_syscalls_with_x() {
    let responder = Responder::start(Behaviour::offset(0.5)).unwrap();
    let dir = gnomon_testkit::chronyd::TempDir::new("strace");
    let trace = dir.path().join("trace");
    let socket = dir.path().join("g.sock");
    let mut child = Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=clock_adjtime,adjtimex,clock_settime,settimeofday",
            "-o",
        ])
        .arg(&trace)
        .arg(workspace_binary("gnomond"))
        .args(["-x", "-f", "/dev/null"])
        .arg(format!(
            "server 127.0.0.1 port {} iburst minpoll -1 maxpoll -1",
            responder.address().port()
        ))
        .arg("makestep 0.1 -1")
        .arg(format!("bindcmdaddress {}", socket.display()))
        .arg(format!("pidfile {}/g.pid", dir.path().display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("strace (apt-get install strace)");
    std::thread::sleep(Duration::from_secs(4));
    // Stop gnomond itself (its pidfile), so strace sees it exit and ends too.
    let pid = std::fs::read_to_string(dir.path().join("g.pid")).expect("gnomond's pidfile");
    let _ = Command::new("kill").arg("-TERM").arg(pid.trim()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "gnomond under strace: {status:?}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        text.contains("+++ exited with 0 +++"),
        "strace saw the whole run:\n{text}"
    );
    assert!(
        responder.requests() >= 4,
        "it did synchronise: {} requests",
        responder.requests()
    );
    for line in text.lines() {
        let changes_clock = line.contains("clock_settime(")
            || line.contains("settimeofday(")
            || ((line.contains("clock_adjtime(") || line.contains("adjtimex("))
                && !line.contains("modes=0,"));
        assert!(!changes_clock, "clock-changing call: {line}");
    }
}

/// `user nobody`: after opening its sockets gnomond runs as nobody with exactly
/// CAP_SYS_TIME, and still answers on its control socket.
#[test]
fn drops_root_keeping_only_cap_sys_time() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let server = format!(
        "server 127.0.0.1 port {} minpoll 0 maxpoll 0",
        responder.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&server, "user nobody"]);
    // The control socket appears before the drop; give the daemon a moment to pass it.
    std::thread::sleep(Duration::from_millis(300));
    let status_text = std::fs::read_to_string(format!("/proc/{}/status", gnomond.pid())).unwrap();
    let line = |name: &str| {
        status_text
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("{name} in {status_text}"))
            .to_owned()
    };
    assert_eq!(line("Uid:"), "65534", "{status_text}");
    let effective = u64::from_str_radix(&line("CapEff:"), 16).unwrap();
    assert_eq!(effective, 1 << 25, "only CAP_SYS_TIME: {status_text}");
    let tracking = gnomon(&gnomond, &["activity"]);
    assert!(
        tracking.status.success(),
        "{}",
        String::from_utf8_lossy(&tracking.stderr)
    );
}

/// `logdir` + `log tracking measurements statistics`: the three files fill with
/// chrony-style lines while gnomond synchronises.
#[test]
fn writes_chrony_style_logs() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let dir = gnomon_testkit::chronyd::TempDir::new("logs");
    let server = format!(
        "server 127.0.0.1 port {} iburst minpoll -1 maxpoll -1",
        responder.address().port()
    );
    let logdir = format!("logdir {}", dir.path().display());
    let gnomond = Gnomond::start(
        &[],
        &[&server, &logdir, "log tracking measurements statistics"],
    );
    let wait = gnomon(
        &gnomond,
        &["waitsync", "--timeout", "10", "--interval", "0.2"],
    );
    assert!(wait.status.success());
    std::thread::sleep(Duration::from_secs(2));
    for (file, header) in [
        ("tracking.log", "IP Address   St   Freq ppm"),
        ("measurements.log", "IP Address   L St    Offset"),
        ("statistics.log", "Std dev'n Est offset"),
    ] {
        let text = std::fs::read_to_string(dir.path().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(header), "{file}:\n{text}");
        let data_lines = text
            .lines()
            .filter(|line| line.contains(" 127.0.0.1 "))
            .count();
        assert!(
            data_lines >= 2,
            "{file} has {data_lines} data lines:\n{text}"
        );
    }
}

/// A pool member that never answers is dropped and the pool name is resolved again
/// for an address not tried yet (chrony's pool behaviour). `--resolve` makes the pool
/// name give a dead address first.
#[test]
fn unreachable_pool_member_is_replaced() {
    let live = Responder::start_on("127.0.0.1:0".parse().unwrap(), Behaviour::offset(0.0)).unwrap();
    let port = live.address().port();
    let pool = format!("pool time.pool.test port {port} maxsources 1 iburst minpoll -3 maxpoll -3");
    // 127.0.0.2 has nothing on that port: its requests meet ICMP port unreachable.
    let gnomond = Gnomond::start(
        &["--resolve", "time.pool.test=127.0.0.2,127.0.0.1"],
        &[&pool],
    );
    let first = json(&gnomond, "sources");
    assert_eq!(first[0]["address"], "127.0.0.2", "{first}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let sources = json(&gnomond, "sources");
        let rows = sources.as_array().unwrap();
        if rows.len() == 1 && rows[0]["address"] == "127.0.0.1" && rows[0]["state"] == "*" {
            assert_eq!(rows[0]["mode"], "pool");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not replaced: {sources}\nlog:\n{}",
            gnomond.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(live.requests() > 0);
}

/// `gnomon reload sources`: a sourcedir file that changed is read again; the removed
/// server goes, the new one comes, without a restart.
#[test]
fn reload_sources_from_sourcedir() {
    let first = Responder::start(Behaviour::offset(0.0)).unwrap();
    let second = Responder::start(Behaviour::offset(0.0)).unwrap();
    let dir = gnomon_testkit::chronyd::TempDir::new("sourcedir");
    let file = dir.path().join("local.sources");
    let line = |responder: &Responder| {
        format!(
            "server 127.0.0.1 port {} minpoll 0 maxpoll 0\n",
            responder.address().port()
        )
    };
    std::fs::write(&file, line(&first)).unwrap();
    let sourcedir = format!("sourcedir {}", dir.path().display());
    let gnomond = Gnomond::start(&[], &[&sourcedir]);
    let ports = |gnomond: &Gnomond| -> Vec<u64> {
        let sources = json(gnomond, "sourcestats");
        assert!(sources.is_array());
        json(gnomond, "sources")
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["requests_sent"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ports(&gnomond).len(), 1);
    std::fs::write(&file, line(&second)).unwrap();
    let output = gnomon(&gnomond, &["reload", "sources"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 added, 1 removed"));
    assert_eq!(ports(&gnomond).len(), 1);
    let before = second.requests();
    let deadline = Instant::now() + Duration::from_secs(5);
    while second.requests() == before {
        assert!(Instant::now() < deadline, "the new source is never polled");
        std::thread::sleep(Duration::from_millis(100));
    }
    let first_count = first.requests();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        first.requests(),
        first_count,
        "the removed source is still polled"
    );
}

/// `gnomon makestep`: a correction being slewed is stepped away at once.
#[test]
fn makestep_steps_the_pending_correction() {
    let ahead = Responder::start(Behaviour::offset(0.5)).unwrap();
    let server = format!(
        "server 127.0.0.1 port {} iburst minpoll -1 maxpoll -1",
        ahead.address().port()
    );
    let gnomond = Gnomond::start(&[], &[&server]);
    let deadline = Instant::now() + Duration::from_secs(10);
    // Wait for the first update: the 0.5 s is then being slewed (no makestep directive).
    loop {
        let tracking = json(&gnomond, "tracking");
        if tracking["system_time_offset_s"].as_f64().unwrap() < -0.1 {
            break;
        }
        assert!(Instant::now() < deadline, "no slew started: {tracking}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = gnomon(&gnomond, &["makestep"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("clock stepped by +0."), "{text}");
    let tracking = json(&gnomond, "tracking");
    let left_s = tracking["system_time_offset_s"].as_f64().unwrap();
    assert!(left_s.abs() < 0.01, "still {left_s} s off after makestep");
    // Updates keep coming (poll 0.5 s), so a second makestep finds at most a small
    // new correction.
    let again = String::from_utf8(gnomon(&gnomond, &["makestep"]).stdout).unwrap();
    let small = again.contains("no correction pending")
        || again
            .split("clock stepped by ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse::<f64>().ok())
            .is_some_and(|step_s| step_s.abs() < 0.01);
    assert!(small, "{again}");
}

/// systemd Type=notify: with NOTIFY_SOCKET set, gnomond sends READY=1 once its sockets
/// are open, and STOPPING=1 on SIGTERM.
#[test]
fn notifies_systemd_when_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = gnomon_testkit::chronyd::TempDir::new("notify");
    let notify_path = dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify_path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let socket = dir.path().join("g.sock");
    let mut child = Command::new(workspace_binary("gnomond"))
        .env("NOTIFY_SOCKET", &notify_path)
        .args(["-x", "server 127.0.0.1 port 9"])
        .arg(format!("bindcmdaddress {}", socket.display()))
        .arg(format!("pidfile {}/g.pid", dir.path().display()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buffer = [0u8; 256];
    let len = listener.recv(&mut buffer).expect("READY=1 within 10 s");
    let message = String::from_utf8_lossy(&buffer[..len]).into_owned();
    assert!(message.contains("READY=1"), "{message}");
    assert!(
        socket.exists(),
        "READY came before the control socket was open"
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let len = listener.recv(&mut buffer).expect("STOPPING=1");
    assert!(String::from_utf8_lossy(&buffer[..len]).contains("STOPPING=1"));
    assert!(child.wait().unwrap().success());
}
