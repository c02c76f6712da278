//! `gnomon fleet` end to end against loopback responders, a fake kubectl and a fake
//! ssh on PATH. Nothing leaves 127.0.0.0/8; no real host is contacted.

use gnomon_proto::KissCode;
use gnomon_testkit::{Behaviour, Responder};
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gnomon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gnomon"))
}

fn run(command: &mut Command) -> (i32, String, String) {
    let output: Output = command.stdin(Stdio::null()).output().expect("run gnomon");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fleet_json(args: &[String]) -> (i32, Value, String) {
    let (code, stdout, stderr) = run(gnomon().arg("fleet").arg("--json").args(args));
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {stdout}\nstderr: {stderr}"));
    (code, value, stderr)
}

/// A private directory for fake programs, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("gnomon-fleet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn path_with_self(&self) -> String {
        format!(
            "{}:{}",
            self.0.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn host_by_address(document: &Value, address: SocketAddr) -> &Value {
    document["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["address"] == address.to_string())
        .unwrap_or_else(|| panic!("{address} not in the report"))
}

#[test]
fn two_hundred_responders_offsets_spread_outliers_and_exit_codes() {
    // Small offsets within ±0.5 ms, and two outliers.
    let known_offset_s = |index: usize| match index {
        7 => 0.200,
        150 => -0.150,
        _ => ((index * 37) % 11) as f64 * 0.0001 - 0.0005,
    };
    let responders: Vec<Responder> = (0..200)
        .map(|index| Responder::start(Behaviour::offset(known_offset_s(index))).unwrap())
        .collect();
    let hosts: Vec<String> = responders.iter().map(|r| r.address().to_string()).collect();
    let started = Instant::now();
    let (code, document, stderr) = fleet_json(&hosts);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // Issue 17: outliers 150-200 ms from the median are critical by default.
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(document["status"], "crit");
    assert_eq!(document["thresholds_default"], true);
    assert_eq!(document["hosts_usable"], 200);
    for (index, responder) in responders.iter().enumerate() {
        let host = host_by_address(&document, responder.address());
        let offset_s = host["offset_s"].as_f64().unwrap();
        let bound_s = host["error_bound_s"].as_f64().unwrap();
        let error_s = (offset_s - known_offset_s(index)).abs();
        assert!(
            error_s <= bound_s + 1e-6,
            "host {index}: measured {offset_s}, known {}, bound {bound_s}",
            known_offset_s(index)
        );
        assert_eq!(host["synchronized"], true);
        assert!(host["requests_sent"].as_u64().unwrap() >= 3);
    }
    let spread_s = document["spread_s"].as_f64().unwrap();
    assert!((spread_s - 0.350).abs() < 0.002, "spread {spread_s}");
    assert!(document["spread_bound_s"].as_f64().unwrap() >= spread_s);
    let mut outliers: Vec<String> = document["outliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    outliers.sort();
    let mut expected = vec![hosts[7].clone(), hosts[150].clone()];
    expected.sort();
    assert_eq!(outliers, expected);
    assert!(document["median_offset_s"].as_f64().unwrap().abs() < 0.001);

    // Thresholds on |offset - median|: the outliers are 0.15-0.2 s away.
    let with = |extra: &[&str]| {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(hosts.iter().cloned());
        fleet_json(&args)
    };
    assert_eq!(with(&["--warn", "0.1"]).0, 1);
    let (code, document, _) = with(&["--warn", "0.01", "--crit", "0.1"]);
    assert_eq!(code, 2);
    assert_eq!(document["status"], "crit");
    assert_eq!(with(&["--warn", "0.5", "--crit", "1"]).0, 0);

    // The other renderings of the same view.
    let (code, table, _) = run(gnomon().args(["fleet", "--warn", "0.1"]).args(&hosts));
    assert_eq!(code, 1);
    assert!(table.contains("Spread"), "{table}");
    assert!(table.contains("outlier"), "{table}");
    let (_, prometheus, _) = run(gnomon()
        .args(["fleet", "--prometheus", "-"])
        .args(&hosts[..3]));
    assert!(prometheus.contains("# TYPE gnomon_fleet_spread_seconds gauge"));
    assert!(prometheus.contains(&format!(
        "gnomon_fleet_host_offset_seconds{{host=\"{}\"",
        hosts[0]
    )));
    assert!(prometheus.contains("gnomon_fleet_status 0"));
}

#[test]
fn misbehaving_hosts_are_reported_each_and_the_run_ends_in_time() {
    let good = Responder::start(Behaviour::offset(0.0)).unwrap();
    let silent = Responder::start(Behaviour::Silent).unwrap();
    let garbage = Responder::start(Behaviour::Garbage).unwrap();
    let kiss = Responder::start(Behaviour::Kiss(KissCode::Rate)).unwrap();
    let unsynced = Responder::start(Behaviour::Unsynchronized).unwrap();
    let spoofer = Responder::start(Behaviour::WrongOrigin).unwrap();
    // A port nobody listens on, below the ephemeral range: a port freed from the
    // ephemeral range could be taken by another test's responder in the meantime (seen
    // once in a full run: the host answered instead of refusing).
    let refused: SocketAddr = (900..1000)
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .find(|address| UdpSocket::bind(address).is_ok())
        .expect("a free UDP port below 1000 on 127.0.0.1");
    let hosts: Vec<String> = [
        good.address(),
        silent.address(),
        garbage.address(),
        kiss.address(),
        unsynced.address(),
        spoofer.address(),
        refused,
    ]
    .iter()
    .map(|a| a.to_string())
    .chain(["no-such-host.invalid".to_owned()])
    .collect();
    let mut args = vec!["--timeout".to_owned(), "1".to_owned()];
    args.extend(hosts);
    let started = Instant::now();
    let (code, document, stderr) = fleet_json(&args);
    let took = started.elapsed();
    // 3 requests 0.2 s apart, 1 s of waiting, the refusal probe (0.3 s), margin.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(code, 1, "{stderr}");
    let error_code = |address: SocketAddr| {
        host_by_address(&document, address)["error"]["code"]
            .as_str()
            .unwrap_or("none")
            .to_owned()
    };
    assert_eq!(error_code(good.address()), "none");
    assert_eq!(error_code(silent.address()), "timeout");
    assert_eq!(error_code(garbage.address()), "malformed");
    assert_eq!(error_code(kiss.address()), "kiss_rate");
    assert_eq!(error_code(unsynced.address()), "unsynchronized");
    assert_eq!(error_code(spoofer.address()), "bogus_origin");
    assert_eq!(error_code(refused), "refused");
    // KoD stops the sampling of that host at once.
    assert_eq!(
        kiss.requests(),
        1,
        "{}",
        host_by_address(&document, kiss.address())
    );
    // An unsynchronised host still shows how far off it is, and is listed as such.
    assert!(host_by_address(&document, unsynced.address())["offset_s"].is_number());
    assert_eq!(document["unsynchronized"].as_array().unwrap().len(), 1);
    let unresolved = document["hosts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(unresolved["error"]["code"], "resolve");
    assert_eq!(document["hosts_usable"], 1);
    assert!(document["unreachable"].as_array().unwrap().len() >= 3);
}

#[test]
fn no_usable_host_is_unknown() {
    let silent = Responder::start(Behaviour::Silent).unwrap();
    let (code, document, _) = fleet_json(&[
        "-c".into(),
        "1".into(),
        "-t".into(),
        "0.3".into(),
        silent.address().to_string(),
    ]);
    assert_eq!(code, 3);
    assert_eq!(document["status"], "unknown");
    let (code, _, stderr) = run(gnomon().args(["fleet"]));
    assert_eq!(code, 3, "{stderr}");
}

#[test]
fn hosts_file_and_stdin() {
    let a = Responder::start(Behaviour::offset(0.01)).unwrap();
    let b = Responder::start(Behaviour::offset(0.02)).unwrap();
    let scratch = Scratch::new("file");
    let file = scratch.0.join("hosts.txt");
    std::fs::write(
        &file,
        format!("# the fleet\n{}\n\n{} # second\n", a.address(), b.address()),
    )
    .unwrap();
    let (code, document, stderr) = fleet_json(&["--hosts".into(), file.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(document["hosts_total"], 2);
    let mut child = gnomon()
        .args(["fleet", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(
        child.stdin.take().unwrap(),
        "{}\n{}",
        a.address(),
        b.address()
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["hosts_usable"], 2);
}

/// Responders on 127.0.0.11-13 sharing one port (kubectl gives addresses, not ports).
fn responders_on_one_port(offsets_s: &[f64]) -> (u16, Vec<Responder>) {
    for _attempt in 0..20 {
        let first = Responder::start_on(
            "127.0.0.11:0".parse().unwrap(),
            Behaviour::offset(offsets_s[0]),
        )
        .unwrap();
        let port = first.address().port();
        let mut all = vec![first];
        for (index, offset_s) in offsets_s.iter().enumerate().skip(1) {
            let address: SocketAddr = format!("127.0.0.{}:{port}", 11 + index).parse().unwrap();
            match Responder::start_on(address, Behaviour::offset(*offset_s)) {
                Ok(responder) => all.push(responder),
                Err(_) => break,
            }
        }
        if all.len() == offsets_s.len() {
            return (port, all);
        }
    }
    panic!("no common free port on 127.0.0.11-13");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn kubectl_nodes_by_internal_ip() {
    let (port, _responders) = responders_on_one_port(&[0.001, 0.002, 0.003]);
    let scratch = Scratch::new("kubectl");
    // The recorded output names EC2 addresses; the fake maps them to loopback so no
    // packet leaves this machine.
    let log = scratch.0.join("kubectl-args");
    scratch.script(
        "kubectl",
        &format!(
            "#!/bin/sh\necho \"$@\" > {log}\nsed -e 's/\"172.31.44.125\"/\"127.0.0.11\"/' -e 's/\"172.31.12.7\"/\"127.0.0.12\"/' -e 's/\"172.31.30.201\"/\"127.0.0.13\"/' {fixture}\n",
            log = log.display(),
            fixture = fixture("kubectl-get-nodes.json").display()
        ),
    );
    let (code, stdout, stderr) = run(gnomon()
        .env("PATH", scratch.path_with_self())
        .args([
            "fleet",
            "--kubectl",
            "--selector",
            "eks.amazonaws.com/nodegroup=ng-northeast-1",
            "--port",
        ])
        .arg(port.to_string()));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "ip-172-31-44-125.ap-northeast-1.compute.internal → 127.0.0.11:{port}"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("ip-172-31-30-201"), "{stdout}");
    let args = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        args.trim(),
        "get nodes -o json -l eks.amazonaws.com/nodegroup=ng-northeast-1"
    );

    // kubectl failing is "unknown", with its message.
    scratch.script(
        "kubectl",
        "#!/bin/sh\necho 'error: You must be logged in to the server (Unauthorized)' >&2\nexit 1\n",
    );
    let (code, _, stderr) = run(gnomon()
        .env("PATH", scratch.path_with_self())
        .args(["fleet", "--kubectl"]));
    assert_eq!(code, 3);
    assert!(stderr.contains("Unauthorized"), "{stderr}");
}

#[test]
fn ssh_mode_runs_gnomon_query_on_each_host() {
    let reference = Responder::start(Behaviour::offset(0.0)).unwrap();
    let scratch = Scratch::new("ssh");
    let log = scratch.0.join("ssh-args");
    // A fake ssh: records its arguments, fails for host "down", and otherwise runs the
    // remote command here with this build's gnomon. Never contacts anything.
    scratch.script(
        "ssh",
        &format!(
            "#!/bin/bash\nprintf '%s\\n' \"$*\" >> {log}\nwhile [ \"${{1#-}}\" != \"$1\" ]; do [ \"$1\" = -o ] && shift; shift; done\nhost=$1; shift\nif [ \"$host\" = down ]; then echo 'ssh: connect to host down port 22: Connection refused' >&2; exit 255; fi\nshift\nexec {gnomon} \"$@\"\n",
            log = log.display(),
            gnomon = env!("CARGO_BIN_EXE_gnomon")
        ),
    );
    let (code, document, stderr) = {
        let (code, stdout, stderr) = run(gnomon()
            .env("PATH", scratch.path_with_self())
            .args(["fleet", "--json", "-c", "2", "--ssh"])
            .arg(reference.address().to_string())
            .args(["node-a", "admin@node-b", "down"]));
        (
            code,
            serde_json::from_str::<Value>(&stdout).unwrap_or(Value::Null),
            stderr,
        )
    };
    assert_eq!(code, 1, "{stderr}");
    let hosts = document["hosts"].as_array().unwrap();
    assert_eq!(hosts[0]["synchronized"], true);
    assert!(hosts[0]["offset_s"].as_f64().unwrap().abs() < 0.01);
    assert_eq!(hosts[1]["synchronized"], true);
    assert_eq!(hosts[2]["error"]["code"], "remote");
    assert!(hosts[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Connection refused"));
    let args = std::fs::read_to_string(&log).unwrap();
    assert_eq!(args.lines().count(), 3);
    assert!(
        args.lines().all(|line| line.contains("BatchMode=yes")),
        "{args}"
    );
    assert!(args.contains("admin@node-b gnomon query"), "{args}");
}

#[test]
fn ipv4_and_ipv6_hosts_together() {
    let Ok(v6) = Responder::start_on("[::1]:0".parse().unwrap(), Behaviour::offset(0.003)) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let v4 = Responder::start(Behaviour::offset(0.001)).unwrap();
    let (code, document, stderr) =
        fleet_json(&[v4.address().to_string(), v6.address().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(document["hosts_usable"], 2);
    let offset_s = host_by_address(&document, v6.address())["offset_s"]
        .as_f64()
        .unwrap();
    assert!((offset_s - 0.003).abs() < 0.001, "{offset_s}");
    assert!((document["spread_s"].as_f64().unwrap() - 0.002).abs() < 0.001);
}
