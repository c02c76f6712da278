//! gnomond serving inside network namespaces the tests create: ntpdig on port 123,
//! the seed's VPC topology (upstream chronyd, a gnomond master, gnomond clients, one
//! client outside the allowed range), and interface churn while serving.
//!
//! Needs root (as in CI), iproute2, chronyd and ntpdig: a missing one fails the test.
//! gnomond runs with -x and chronyd with -x (no clock is changed); ntpdig is never given
//! -s/-S (they set the clock). Namespaces, veths and processes are removed on drop, also
//! when an assertion fails. Every wait and loop is bounded.

mod serving;

use gnomon_testkit::chronyd::{TempDir, CHRONYD};
use serde_json::Value;
use serving::netns::{link, HostVeth, Netns, Process};
use serving::{exchange, request, Gnomond};
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Wait (bounded) until gnomond answers with stratum `stratum` at `to`.
fn wait_for_stratum(to: SocketAddr, stratum: u8, limit: Duration) {
    let socket = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).unwrap();
    let started = Instant::now();
    loop {
        if let Some(reply) = exchange(&socket, to, &request(4, 1), Duration::from_millis(300)) {
            if reply[1] == stratum {
                return;
            }
        }
        assert!(
            started.elapsed() < limit,
            "{to} never served stratum {stratum}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ntpdig_queries_gnomond_on_port_123_in_a_namespace() {
    let ns = Netns::new("gnd");
    let _veth = HostVeth::new(&ns, "10.251.1.1/24", "eth0", "10.251.1.2/24");
    let gnomond = Gnomond::start_in(&ns.name, &[], &["allow 10.251.1.0/24", "local stratum 3"]);
    wait_for_stratum(
        "10.251.1.2:123".parse().unwrap(),
        3,
        Duration::from_secs(10),
    );
    // -j: JSON; -t: timeout. Never -s/-S: they would set this machine's clock.
    let output = std::process::Command::new("ntpdig")
        .args(["-j", "-t", "5", "10.251.1.2"])
        .output()
        .expect("ntpdig is required (apt-get install ntpsec-ntpdig)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ntpdig: {text} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json["stratum"], 3, "{json}");
    assert_eq!(json["ip"], "10.251.1.2", "{json}");
    assert_eq!(json["adjusted"], false, "{json}");
    let offset_s = json["offset"].as_f64().expect("offset");
    assert!(offset_s.abs() < 0.01, "{json}");
    let stats = gnomond.control("serverstats");
    assert!(stats["ntp_replies_sent"].as_u64().unwrap() >= 1, "{stats}");
    let clients = gnomond.control("clients");
    assert_eq!(clients["clients"][0]["address"], "10.251.1.1", "{clients}");
}

/// Start `chronyd -x -d` in `ns` with `config` (its files in `dir`).
fn chronyd_in(ns: &Netns, dir: &TempDir, config: &str) -> Process {
    assert!(
        std::path::Path::new(CHRONYD).exists(),
        "chronyd is required (apt-get install chrony)"
    );
    let path = dir.path().join("chrony.conf");
    let full = format!(
        "{config}\ncmdport 0\nuser root\npidfile {d}/chronyd.pid\nbindcmdaddress {d}/chronyd.sock\ndriftfile {d}/drift\n",
        d = dir.path().display()
    );
    std::fs::write(&path, full).unwrap();
    let log = std::fs::File::create(dir.path().join("chronyd.log")).unwrap();
    let child = ns
        .command(CHRONYD)
        .args(["-x", "-d", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start chronyd");
    Process { child }
}

#[test]
fn the_seed_topology_in_namespaces() {
    // Namespaces first: they are dropped after the processes in them.
    let upstream_ns = Netns::new("gnu");
    let master_ns = Netns::new("gnm");
    let clients_ns: Vec<Netns> = (1..=3).map(|_| Netns::new("gnc")).collect();
    let refused_ns = Netns::new("gnr");
    link(
        &master_ns,
        "up0",
        "10.99.0.2/24",
        &upstream_ns,
        "eth0",
        "10.99.0.1/24",
    );
    for (k, ns) in clients_ns.iter().enumerate() {
        let k = k + 1;
        link(
            &master_ns,
            &format!("c{k}"),
            &format!("10.77.{k}.1/24"),
            ns,
            "eth0",
            &format!("10.77.{k}.2/24"),
        );
    }
    link(
        &master_ns,
        "r0",
        "10.78.4.1/24",
        &refused_ns,
        "eth0",
        "10.78.4.2/24",
    );

    let upstream_dir = TempDir::new("gn-upstream");
    let _upstream = chronyd_in(
        &upstream_ns,
        &upstream_dir,
        "local stratum 1\nallow 10.99.0.0/24",
    );
    let master = Gnomond::start_in(
        &master_ns.name,
        &[],
        &[
            "server 10.99.0.1 iburst minpoll 0 maxpoll 0",
            "allow 10.77.0.0/16",
        ],
    );
    let client_lines = |k: &str| {
        [
            format!("server {k} iburst minpoll 0 maxpoll 0"),
            "port 0".into(),
        ]
    };
    let clients: Vec<Gnomond> = clients_ns
        .iter()
        .enumerate()
        .map(|(k, ns)| {
            Gnomond::start_in(&ns.name, &[], &client_lines(&format!("10.77.{}.1", k + 1)))
        })
        .collect();
    let refused = Gnomond::start_in(&refused_ns.name, &[], &client_lines("10.78.4.1"));

    let master_tracking = master.wait_synchronized(Duration::from_secs(40));
    assert_eq!(master_tracking["stratum"], 2, "{master_tracking}");
    for client in &clients {
        let tracking = client.wait_synchronized(Duration::from_secs(40));
        assert_eq!(tracking["stratum"], 3, "{tracking}");
        assert!(
            tracking["system_time_offset_s"].as_f64().unwrap().abs() < 0.001,
            "{tracking}"
        );
        let sources = client.control("sources");
        assert_eq!(sources[0]["state"], "*", "{sources}");
    }
    // The refused client: its requests go out, nothing comes back (chrony's behaviour
    // for a denied client), so it stays unsynchronised with reach 0 and says so.
    let sources = refused.control("sources");
    assert_eq!(sources[0]["reach"], 0, "{sources}");
    assert!(
        sources[0]["requests_sent"].as_u64().unwrap() >= 2,
        "{sources}"
    );
    assert_eq!(refused.control("tracking")["synchronized"], false);
    // ... and the master's views say why: denied, and not in its client log.
    let stats = master.control("serverstats");
    assert!(
        stats["ntp_packets_denied"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    let served = master.control("clients");
    let mut addresses: Vec<String> = served["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["address"].as_str().unwrap().to_string())
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        ["10.77.1.2", "10.77.2.2", "10.77.3.2"],
        "{served}"
    );
}

#[test]
fn interface_churn_while_serving_loses_nothing() {
    let ns = Netns::new("gnx");
    let veth = HostVeth::new(&ns, "10.251.2.1/24", "eth0", "10.251.2.2/24");
    serving::netns::ip(&[
        "-6",
        "addr",
        "add",
        "fd77:2::1/64",
        "dev",
        &veth.name,
        "nodad",
    ]);
    ns.ip(&["-6", "addr", "add", "fd77:2::2/64", "dev", "eth0", "nodad"]);
    let gnomond = Gnomond::start_in(
        &ns.name,
        &[],
        &[
            "allow 10.251.2.0/24",
            "allow fd77:2::/64",
            "local stratum 3",
        ],
    );
    let v4: SocketAddr = "10.251.2.2:123".parse().unwrap();
    let v6: SocketAddr = "[fd77:2::2]:123".parse().unwrap();
    wait_for_stratum(v4, 3, Duration::from_secs(10));
    wait_for_stratum(v6, 3, Duration::from_secs(10));
    let before = gnomond.control("serverstats");
    let socket4 = UdpSocket::bind("10.251.2.1:0").unwrap();
    let socket6 = UdpSocket::bind("[fd77:2::1]:0").unwrap();
    let started = Instant::now();
    let mut asked = 0u64;
    let mut ask = |round: u64| {
        for (socket, to) in [(&socket4, v4), (&socket6, v6)] {
            asked += 1;
            let reply = exchange(
                socket,
                to,
                &request(4, 1000 + asked),
                Duration::from_secs(5),
            )
            .unwrap_or_else(|| panic!("request {asked} (round {round}, {to}) lost"));
            assert_eq!(&reply[24..32], &(1000 + asked).to_be_bytes());
        }
    };
    for round in 0..50u64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "churn took too long"
        );
        let a = format!("ch{round}a");
        let b = format!("ch{round}b");
        let extra = format!("fd77:2::{:x}/64", 0x100 + round);
        ns.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ns.ip(&["addr", "add", &format!("10.252.{round}.1/24"), "dev", &a]);
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("fd78:{round:x}::1/64"),
            "dev",
            &a,
            "nodad",
        ]);
        ns.ip(&["link", "set", &a, "up"]);
        ns.ip(&["link", "set", &b, "up"]);
        ns.ip(&["-6", "addr", "add", &extra, "dev", "eth0", "nodad"]);
        ask(round);
        ns.ip(&["-6", "addr", "del", &extra, "dev", "eth0"]);
        ns.ip(&["link", "del", &a]);
        ask(round);
    }
    let after = gnomond.control("serverstats");
    let sent = |stats: &Value| stats["ntp_replies_sent"].as_u64().unwrap();
    assert_eq!(sent(&after) - sent(&before), asked, "{after}");
    assert_eq!(
        after["ntp_packets_dropped"], before["ntp_packets_dropped"],
        "{after}"
    );
    assert_eq!(after["ntp_send_failures"], 0, "{after}");
    let log = gnomond.log();
    assert!(!log.contains("WARN") && !log.contains("ERROR"), "{log}");
}
