//! gnomond as a time server on loopback: chronyd as its client, rate limiting and
//! KoD, malformed and oversized requests, and an access-control matrix.
//!
//! Everything runs on 127.0.0.0/8 and ::1 with gnomond -x and chronyd -x (no clock is
//! changed). Tests that need chronyd fail when it is missing.

mod serving;

use gnomon_testkit::chronyd::{free_udp_port, Chronyd};
use serving::{drain, exchange, request, server_lines, Gnomond};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn chronyd_synchronises_to_gnomond() {
    let upstream = Chronyd::local_stratum(1);
    let port = free_udp_port();
    let source = format!(
        "server 127.0.0.1 port {} iburst minpoll 0 maxpoll 0",
        upstream.port()
    );
    let gnomond = Gnomond::start(&["-4"], &server_lines(port, &[&source, "allow 127.0.0.1"]));
    let tracking = gnomond.wait_synchronized(Duration::from_secs(30));
    let gnomond_stratum = tracking["stratum"].as_u64().expect("stratum");
    assert_eq!(gnomond_stratum, 2, "{tracking}");

    let client = Chronyd::start(&format!(
        "server 127.0.0.1 port {port} iburst minpoll 0 maxpoll 0"
    ));
    let started = Instant::now();
    let selected = loop {
        let rows = client.chronyc_csv(&["sources"]);
        if let Some(row) = rows
            .iter()
            .find(|row| row.get(1).map(String::as_str) == Some("*"))
        {
            break row.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "chronyd never selected gnomond: {rows:?}\nchronyd log:\n{}\ngnomond log:\n{}",
            client.log(),
            gnomond.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // ^,*,NAME,STRATUM,POLL,REACH,LASTRX,ADJUSTED,MEASURED,ERROR
    assert_eq!(selected[0], "^");
    assert_eq!(selected[2], "127.0.0.1");
    assert_eq!(selected[3].parse::<u64>().unwrap(), gnomond_stratum);
    let offset_s: f64 = selected[7].parse().unwrap();
    assert!(offset_s.abs() < 1e-3, "offset {offset_s} s");
    let tracking = client.chronyc_csv(&["tracking"]);
    assert_eq!(tracking[0][2].parse::<u64>().unwrap(), gnomond_stratum + 1);

    let clients = gnomond.control("clients");
    let row = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("no 127.0.0.1 in {clients}"));
    assert!(row["ntp_requests"].as_u64().unwrap() >= 4, "{row}");
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["ntp_packets_dropped"], 0, "{stats}");
    assert!(
        stats["ntp_kernel_rx_timestamps"].as_u64().unwrap() >= 4,
        "{stats}"
    );
}

#[test]
fn a_burst_from_one_client_is_rate_limited_with_kods() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &server_lines(
            port,
            &[
                "allow 127.0.0.1",
                "ratelimit interval 2 burst 4 leak 2 kod 1",
                "local stratum 5",
            ],
        ),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    const BURST: u64 = 400;
    // Send in chunks and read in between, so our own receive buffer never overflows.
    let mut answers = Vec::new();
    for n in 0..BURST {
        socket.send_to(&request(4, n + 1), loopback(port)).unwrap();
        if n % 50 == 49 {
            answers.extend(drain(&socket, Duration::from_millis(30)));
        }
    }
    answers.extend(drain(&socket, Duration::from_millis(500)));
    let kods = answers
        .iter()
        .filter(|a| a[1] == 0 && &a[12..16] == b"RATE")
        .count() as u64;
    let replies = answers.iter().filter(|a| a[1] != 0).count() as u64;
    assert!(answers.iter().all(|a| a.len() == 48));
    assert!((4..200).contains(&replies), "{replies} replies");
    assert!(kods >= 50, "{kods} KoDs");
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["ntp_packets_received"], BURST, "{stats}");
    assert_eq!(stats["ntp_replies_sent"], replies, "{stats}");
    assert_eq!(stats["ntp_kods_sent"], kods, "{stats}");
    let limited = stats["ntp_packets_rate_limited"].as_u64().unwrap();
    assert_eq!(replies + kods + limited, BURST, "{stats}");
    let clients = gnomond.control("clients");
    let row = &clients["clients"][0];
    assert_eq!(row["address"], "127.0.0.1");
    assert_eq!(row["ntp_requests"], BURST);
    assert_eq!(row["ntp_dropped"], limited);
    assert_eq!(row["kods_sent"], kods);
}

#[test]
fn malformed_and_oversized_requests_are_counted_and_dropped_while_serving() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &server_lines(port, &["allow 127.0.0.1", "local stratum 5"]),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = loopback(port);
    let mut mode6 = request(4, 1);
    mode6[0] = (4 << 3) | 6;
    let mut mode7 = request(4, 1);
    mode7[0] = (4 << 3) | 7;
    let mut server_reply = request(4, 1);
    server_reply[0] = (4 << 3) | 4;
    let mut bad_extension = [0u8; 48 + 28];
    bad_extension[..48].copy_from_slice(&request(4, 1));
    bad_extension[50..52].copy_from_slice(&[0, 14]);
    let oversized = [0x23u8; 3000];
    let bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "ntpq-style mode 6",
            vec![0x16, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("ntpdc monlist", vec![0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0]),
        ("mode 6 header", mode6.to_vec()),
        ("mode 7 header", mode7.to_vec()),
        ("mode 4", server_reply.to_vec()),
        ("version 1", {
            let mut r = request(1, 1);
            r[0] = (1 << 3) | 3;
            r.to_vec()
        }),
        ("short", request(4, 1)[..47].to_vec()),
        ("bad extension", bad_extension.to_vec()),
        ("oversized", oversized.to_vec()),
        ("empty", Vec::new()),
    ];
    for round in 0..20 {
        for (what, bytes) in &bad {
            socket.send_to(bytes, to).unwrap();
            let _ = what;
        }
        // The server keeps serving in between.
        let reply = exchange(
            &socket,
            to,
            &request(3 + (round % 2) as u8, 7 + round),
            Duration::from_secs(2),
        )
        .expect("a reply to a good request");
        assert_eq!(reply.len(), 48);
        assert_eq!(&reply[24..32], &(7 + round).to_be_bytes());
    }
    assert!(
        drain(&socket, Duration::from_millis(300)).is_empty(),
        "a bad request got an answer"
    );
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["ntp_packets_received"], 20 * 11, "{stats}");
    assert_eq!(stats["ntp_replies_sent"], 20, "{stats}");
    assert_eq!(stats["ntp_packets_dropped"], 20 * 10, "{stats}");
    assert_eq!(stats["ntp_packets_oversized"], 20, "{stats}");
    assert_eq!(stats["ntp_packets_not_requests"], 20 * 3, "{stats}");
    assert_eq!(stats["ntp_packets_malformed"], 20 * 6, "{stats}");
    assert!(!gnomond.log().contains("ERROR"), "{}", gnomond.log());
}

#[test]
fn access_control_matrix_on_loopback() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &[],
        &[
            format!("port {port}"),
            "local stratum 5".to_string(),
            "allow 127.0.0.0/8".to_string(),
            "deny 127.0.1.0/24".to_string(),
            "allow 127.0.1.5".to_string(),
            "deny 127.0.0.0/24".to_string(),
            "allow localhost".to_string(),
            "allow all 127.0.3.0/24".to_string(),
        ],
    );
    let cases = [
        ("127.0.0.1", true),  // allow localhost (a host name, resolved at start)
        ("127.0.0.3", false), // deny 127.0.0.0/24
        ("127.0.1.7", false), // deny 127.0.1.0/24
        ("127.0.1.5", true),  // the more specific allow
        ("127.0.2.9", true),  // allow 127.0.0.0/8
        ("127.0.3.9", true),  // allow all
    ];
    let mut denied = 0;
    for (n, (from, allowed)) in cases.iter().enumerate() {
        let socket = UdpSocket::bind(format!("{from}:0")).unwrap();
        let reply = exchange(
            &socket,
            loopback(port),
            &request(4, n as u64 + 1),
            // Long enough for a loaded machine when a reply is due; silence is
            // confirmed by the denied count below.
            Duration::from_millis(if *allowed { 3000 } else { 300 }),
        );
        assert_eq!(reply.is_some(), *allowed, "{from}");
        denied += u64::from(!allowed);
    }
    // IPv6 is served by its own wildcard socket, but ::1 is not allowed.
    if let Ok(socket) = UdpSocket::bind("[::1]:0") {
        let reply = exchange(
            &socket,
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
            &request(4, 9),
            Duration::from_millis(500),
        );
        assert!(reply.is_none());
        denied += 1;
    }
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["ntp_packets_denied"], denied, "{stats}");
    // Denied clients are not in the client log.
    let clients = gnomond.control("clients");
    assert_eq!(clients["clients"].as_array().unwrap().len(), 4, "{clients}");
}

#[test]
fn without_allow_nothing_is_served() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(&["-4"], &server_lines(port, &["local stratum 5"]));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(exchange(
        &socket,
        loopback(port),
        &request(4, 1),
        Duration::from_millis(300)
    )
    .is_none());
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["serving"], false);
    assert_eq!(gnomond.control("clients")["serving"], false);
}

#[test]
fn unsynchronised_without_local_answers_leap_3() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(&["-4"], &server_lines(port, &["allow 127.0.0.1"]));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let reply = exchange(
        &socket,
        loopback(port),
        &request(4, 5),
        Duration::from_secs(2),
    )
    .expect("reply");
    assert_eq!(reply[0] >> 6, 3, "leap indicator");
    assert_eq!(reply[1], 16, "stratum");
    assert_eq!(reply[0] & 7, 4, "mode");
    drop(gnomond);
}

#[test]
fn server_threads_serve_from_worker_threads() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &server_lines(
            port,
            &["allow 127.0.0.1", "local stratum 4", "server_threads 2"],
        ),
    );
    let stats = gnomond.control("serverstats");
    assert_eq!(stats["worker_threads"], 2, "{stats}");
    // The local reference engages in the main thread; workers see it via the snapshot.
    let started = Instant::now();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    loop {
        let reply = exchange(
            &socket,
            loopback(port),
            &request(4, 1),
            Duration::from_secs(1),
        );
        if reply.as_ref().is_some_and(|r| r[1] == 4) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{reply:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Many source ports (spread over the workers by the kernel), each answered.
    let mut asked = 1;
    for n in 0..40u64 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let reply = exchange(
            &socket,
            loopback(port),
            &request(4, 100 + n),
            Duration::from_secs(2),
        )
        .expect("reply");
        assert_eq!(&reply[24..32], &(100 + n).to_be_bytes());
        assert_eq!(reply[1], 4);
        // Transmit timestamp close to now (the clock mapping reaches the workers).
        let transmit_s = u32::from_be_bytes(reply[40..44].try_into().unwrap());
        let now_s = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 2_208_988_800) as u32;
        assert!(
            now_s.wrapping_sub(transmit_s) <= 1,
            "{transmit_s} vs {now_s}"
        );
        asked += 1;
    }
    // A worker counts a reply once its send call has returned, after the client may
    // already have it: the last reply's count can trail the control request by a
    // moment (the datagram control socket answers within the same loop turn).
    let counted = Instant::now();
    let stats = loop {
        let stats = gnomond.control("serverstats");
        if stats["ntp_replies_sent"].as_u64().unwrap() >= asked
            || counted.elapsed() > Duration::from_secs(2)
        {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        stats["ntp_replies_sent"].as_u64().unwrap() >= asked,
        "{stats}"
    );
    let clients = gnomond.control("clients");
    assert_eq!(clients["clients"].as_array().unwrap().len(), 1, "{clients}");
    assert!(clients["clients"][0]["ntp_requests"].as_u64().unwrap() >= asked);
    let status = {
        let mut gnomond = gnomond;
        let pid = gnomond.pid();
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        gnomond.wait_exit(Duration::from_secs(5))
    };
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

#[test]
fn clientloglimit_sizes_the_client_log() {
    // 3000 bytes hold fewer than 64 records: the table keeps a power of two of
    // 4-record buckets, and 200 clients overflow it.
    for threads in [None, Some("server_threads 2")] {
        let port = free_udp_port();
        let mut lines = vec![
            "allow 127.0.0.0/8",
            "local stratum 5",
            "clientloglimit 3000",
        ];
        lines.extend(threads);
        let gnomond = Gnomond::start(&["-4"], &server_lines(port, &lines));
        let capacity = gnomond.control("serverstats")["client_log_capacity"]
            .as_u64()
            .unwrap();
        assert!((4..=64).contains(&capacity), "{threads:?}: {capacity}");
        for n in 0..200u8 {
            let flooder = UdpSocket::bind((std::net::Ipv4Addr::new(127, 20, 0, n + 1), 0)).unwrap();
            assert!(
                exchange(
                    &flooder,
                    loopback(port),
                    &request(4, u64::from(n) + 1),
                    Duration::from_secs(2)
                )
                .is_some(),
                "{threads:?}: client {n} not answered"
            );
        }
        let stats = gnomond.control("serverstats");
        assert!(
            stats["client_log_records_dropped"].as_u64().unwrap() >= 200 - capacity,
            "{threads:?}: {stats}"
        );
        let clients = gnomond.control("clients");
        assert!(clients["clients"].as_array().unwrap().len() as u64 <= capacity);
    }
}

#[test]
fn a_flood_from_many_addresses_cannot_grow_memory() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &server_lines(port, &["allow 127.0.0.0/8", "local stratum 5"]),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(exchange(
        &socket,
        loopback(port),
        &request(4, 1),
        Duration::from_secs(2)
    )
    .is_some());
    let rss_before_kib = rss_kib(gnomond.pid());
    // 12 000 distinct source addresses (all of 127/8 is local), more than the 4096
    // records of the default client log (512 KiB, as chronyd's); bounded in count.
    const SOURCES: u32 = 12_000;
    let started = Instant::now();
    for n in 0..SOURCES {
        let source = std::net::Ipv4Addr::new(
            127,
            10 + (n / 250 / 250) as u8,
            ((n / 250) % 250) as u8,
            (n % 250 + 1) as u8,
        );
        let flooder = UdpSocket::bind((source, 0)).unwrap();
        flooder
            .send_to(&request(4, u64::from(n)), loopback(port))
            .unwrap();
        if n % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = gnomond.control("serverstats");
    let received = stats["ntp_packets_received"].as_u64().unwrap();
    let capacity = stats["client_log_capacity"].as_u64().unwrap();
    assert_eq!(capacity, 4096);
    // Some datagrams may be lost in a loaded machine's socket buffers; enough must
    // arrive to overflow the client log.
    assert!(received > capacity + 1_000, "{stats}");
    assert!(
        stats["client_log_records_dropped"].as_u64().unwrap() >= received - 1 - capacity,
        "{stats}"
    );
    let clients = gnomond.control("clients");
    assert!(clients["clients"].as_array().unwrap().len() as u64 <= capacity);
    // The table was allocated at start; touching it costs at most its size (512 KiB).
    let growth_kib = rss_kib(gnomond.pid()).saturating_sub(rss_before_kib);
    assert!(growth_kib < 2048, "RSS grew by {growth_kib} KiB");
    // Still serving.
    assert!(exchange(
        &socket,
        loopback(port),
        &request(4, 2),
        Duration::from_secs(2)
    )
    .is_some());
}

#[test]
fn an_ipv6_socket_that_cannot_be_opened_is_logged_once_and_ipv4_serves() {
    let port = free_udp_port();
    let gnomond = Gnomond::start(
        &[],
        &server_lines(
            port,
            &[
                "bindaddress 2001:db8::1",
                "allow 127.0.0.1",
                "local stratum 5",
            ],
        ),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..5 {
        assert!(exchange(
            &socket,
            loopback(port),
            &request(4, n + 1),
            Duration::from_secs(2)
        )
        .is_some());
    }
    let log = gnomond.log();
    assert_eq!(
        log.matches("cannot open the IPv6 NTP server socket")
            .count(),
        1,
        "{log}"
    );
    let stats = gnomond.control("serverstats");
    assert_eq!(
        stats["sockets"],
        serde_json::json!([format!("127.0.0.1:{port}")]),
        "{stats}"
    );
}

#[test]
fn chronyd_with_xleave_gets_interleaved_replies() {
    chronyd_with_xleave_gets_interleaved_replies_from(&[]);
}

#[test]
fn chronyd_with_xleave_gets_interleaved_replies_from_server_threads() {
    // The workers stamp interleaved replies in the kernel too (sendmmsg with a
    // per-message SO_TIMESTAMPING request, the error queue read on POLLPRI).
    chronyd_with_xleave_gets_interleaved_replies_from(&["server_threads 2"]);
}

fn chronyd_with_xleave_gets_interleaved_replies_from(extra: &[&str]) {
    let port = free_udp_port();
    let mut lines = vec!["allow 127.0.0.1", "local stratum 4"];
    lines.extend_from_slice(extra);
    let gnomond = Gnomond::start(&["-4"], &server_lines(port, &lines));
    let client = Chronyd::start(&format!(
        "server 127.0.0.1 port {port} iburst minpoll -2 maxpoll -2 xleave"
    ));
    let started = Instant::now();
    let ntpdata = loop {
        let output = std::process::Command::new("chronyc")
            .arg("-h")
            .arg(client.socket_path())
            .args(["ntpdata", "127.0.0.1"])
            .output()
            .expect("chronyc (apt-get install chrony)");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        // The second interleaved exchange is the first to carry a transmit timestamp
        // the kernel took (the first carries the one read before sending).
        let interleaved = text
            .lines()
            .any(|line| line.starts_with("Interleaved") && line.ends_with("Yes"));
        let kernel_stamped = gnomond.control("serverstats")["ntp_kernel_tx_timestamps"]
            .as_u64()
            .unwrap_or(0);
        if interleaved && kernel_stamped >= 1 {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chronyd never used interleaved mode with kernel TX timestamps:\n{text}\n{}",
            gnomond.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let stats = gnomond.control("serverstats");
    assert!(
        stats["ntp_interleaved"].as_u64().unwrap() >= 1,
        "{stats}\n{ntpdata}"
    );
    assert!(
        stats["ntp_kernel_tx_timestamps"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    // The measured delay stays sane (a mismatched exchange would add a poll interval).
    let delay_s: f64 = ntpdata
        .lines()
        .find(|line| line.starts_with("Peer delay"))
        .and_then(|line| line.split(':').nth(1))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no peer delay in\n{ntpdata}"));
    assert!(delay_s < 0.01, "{ntpdata}");
}
