//! `gnomon clients -p N -k -r` as chronyc 4.3 has them: side by side with a real
//! `chronyd -x` given the same requests, and `-r` (reset after reporting) as root only,
//! in one-thread mode and with `server_threads`; and `noclientlog` beside chronyd's.
//! Loopback only.

mod common;

use common::{gnomon, gnomon_as_nobody, local_server_lines, text};
use gnomon_testkit::chronyd::{free_udp_port, Chronyd, TempDir};
use gnomon_testkit::gnomond::{workspace_binary, Gnomond};
use serde_json::Value;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn chronyc(socket: &Path, args: &[&str]) -> String {
    let output = Command::new("chronyc")
        .arg("-h")
        .arg(socket)
        .arg("-n")
        .args(args)
        .output()
        .expect("run chronyc (apt-get install chrony)");
    text(output)
}

fn json(output: Output) -> Value {
    serde_json::from_str(&text(output)).expect("JSON")
}

/// Send `count` client requests back to back to 127.0.0.1:`port`, then count the
/// answers (replies and KoDs) until none comes for 300 ms.
fn send_requests(socket: &UdpSocket, port: u16, count: u64) -> u64 {
    for n in 0..count {
        let mut request = [0u8; 48];
        request[0] = (4 << 3) | 3;
        request[40..48].copy_from_slice(&(n + 1).to_be_bytes());
        socket.send_to(&request, ("127.0.0.1", port)).unwrap();
        // A little spacing, so chronyd (one thread, like gnomond's main loop) sees
        // each request apart and computes intervals as it would for a real client.
        std::thread::sleep(Duration::from_millis(5));
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut answered = 0;
    let mut reply = [0u8; 100];
    while answered < count && socket.recv(&mut reply).is_ok() {
        answered += 1;
    }
    answered
}

/// A `clients` table with the columns that do not depend on timing: the header
/// lines, then per row the address, NTP, Drop and the last four columns (Int, IntL
/// and Last are intervals measured by each daemon).
fn stable_columns(table: &str) -> Vec<String> {
    table
        .lines()
        .enumerate()
        .map(|(index, line)| {
            if index < 2 {
                return line.to_owned();
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 10, "{line:?}");
            let mut kept = fields[..3].to_vec();
            kept.extend_from_slice(&fields[6..]);
            kept.join(" ")
        })
        .collect()
}

#[test]
fn clients_options_agree_with_chronyc() {
    let chronyd = Chronyd::local_stratum(5);
    let port = free_udp_port();
    let gnomond = Gnomond::start(&["-4"], &local_server_lines(port, &[]));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(send_requests(&socket, chronyd.port(), 3), 3);
    assert_eq!(send_requests(&socket, port, 3), 3);

    // In order: -r resets after the report, so the last two see zero counters.
    let cases: [&[&str]; 6] = [
        &[],
        &["-k"],
        &["-p", "3"],
        &["-p", "4", "-k"],
        &["-r"],
        &["-k", "-p", "0"],
    ];
    for args in cases {
        let expected = chronyc(&chronyd.socket_path(), &[&["clients"], args].concat());
        let ours = text(gnomon(&gnomond, &[&["clients"], args].concat()));
        assert_eq!(
            stable_columns(&ours),
            stable_columns(&expected),
            "clients {args:?}\n--- gnomon:\n{ours}--- chronyc:\n{expected}"
        );
        for line in ours.lines() {
            assert_eq!(line.len(), 79, "{line:?}");
        }
    }
    // The last case, after the reset: the record stays, with zero counters.
    let after = text(gnomon(&gnomond, &["clients", "-k"]));
    assert!(
        after
            .lines()
            .nth(2)
            .is_some_and(|row| row.starts_with("127.0.0.1                       0      0 ")),
        "{after}"
    );
    assert!(after.contains("Last  NTS-KE   Drop Int  Last\n"), "{after}");
    // Neither daemon resets its serverstats totals with the clients' counters.
    let chrony_stats = chronyc(&chronyd.socket_path(), &["serverstats"]);
    assert!(
        chrony_stats.starts_with("NTP packets received       : 3\n"),
        "{chrony_stats}"
    );
    let stats = text(gnomon(&gnomond, &["serverstats"]));
    assert!(
        stats.starts_with("NTP packets received       : 3\n"),
        "{stats}"
    );
}

/// `-r` is refused to other users and changes nothing then; as root it reports, then
/// zeroes requests and drops of every record (also those `-p` leaves out), keeping the
/// records; serverstats' totals are not reset. Both with the main loop serving and with
/// worker threads sharing one server.
#[test]
fn clients_reset_is_for_root_and_reaches_every_server() {
    for threads in [None, Some(2)] {
        let port = free_udp_port();
        // One request per 16 s, a burst of 1: most of a quick series is dropped.
        let mut lines = local_server_lines(port, &["ratelimit interval 4 burst 1"]);
        if let Some(threads) = threads {
            lines.push(format!("server_threads {threads}"));
        }
        let gnomond = Gnomond::start(&["-4"], &lines);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let answered = send_requests(&socket, port, 20);
        let dropped = 20 - answered;
        assert!(dropped > 0, "{threads:?}: the rate limit dropped nothing");

        let refused = gnomon_as_nobody(&gnomond, &["clients", "-r"]);
        assert_eq!(refused.status.code(), Some(3), "{threads:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("permission denied"),
            "{refused:?}"
        );
        // Reading is open to everyone, and the refused reset changed nothing.
        let before = json(gnomon_as_nobody(&gnomond, &["clients", "--json"]));
        assert_eq!(before["clients"][0]["ntp_requests"], 20, "{before}");
        assert_eq!(before["clients"][0]["ntp_dropped"], dropped, "{before}");

        // -p filters what is shown, --json too; -r still resets every record.
        let shown = json(gnomon(&gnomond, &["clients", "-p", "21", "-r", "--json"]));
        assert_eq!(
            shown["clients"].as_array().map(Vec::len),
            Some(0),
            "{shown}"
        );
        let after = json(gnomon(&gnomond, &["clients", "--json"]));
        let record = &after["clients"][0];
        assert_eq!(record["address"], "127.0.0.1", "{after}");
        assert_eq!(record["ntp_requests"], 0, "{threads:?}: {after}");
        assert_eq!(record["ntp_dropped"], 0, "{threads:?}: {after}");
        assert_eq!(record["kods_sent"], 0, "{threads:?}: {after}");
        assert!(record["interval_log2_s"].is_i64(), "{after}");
        assert_eq!(
            text(gnomon(&gnomond, &["clients", "-p", "1"]))
                .lines()
                .count(),
            2,
            "a reset record has no packets"
        );
        let stats = json(gnomon(&gnomond, &["serverstats", "--json"]));
        assert_eq!(stats["ntp_packets_received"], 20, "{stats}");

        // Counting starts again from zero.
        send_requests(&socket, port, 2);
        let again = json(gnomon(&gnomond, &["clients", "-r", "--json"]));
        assert_eq!(again["clients"][0]["ntp_requests"], 2, "{again}");
    }
}

/// One exchange in the way an interleaved (`xleave`) client asks: the origin field
/// carries the receive timestamp of the server's previous reply (`previous_rx`, 0 for
/// the first). Returns the reply's origin and receive timestamps.
fn exchange(socket: &UdpSocket, port: u16, previous_rx: u64, transmit: u64) -> (u64, u64) {
    let mut request = [0u8; 48];
    request[0] = (4 << 3) | 3;
    request[24..32].copy_from_slice(&previous_rx.to_be_bytes());
    request[32..40].copy_from_slice(&0x5555_6666_7777_8888u64.to_be_bytes());
    request[40..48].copy_from_slice(&transmit.to_be_bytes());
    socket.send_to(&request, ("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut reply = [0u8; 100];
    let len = socket.recv(&mut reply).expect("a reply");
    assert_eq!(len, 48);
    let field = |at: usize| u64::from_be_bytes(reply[at..at + 8].try_into().unwrap());
    (field(24), field(32))
}

/// Whether a second request in interleaved form gets an interleaved reply (its
/// origin is the request's receive field, not its transmit field).
fn answers_interleaved(socket: &UdpSocket, port: u16) -> bool {
    let (_, first_rx) = exchange(socket, port, 0, 0x1111);
    std::thread::sleep(Duration::from_millis(50));
    let (origin, _) = exchange(socket, port, first_rx, 0x2222);
    assert!(
        origin == 0x2222 || origin == 0x5555_6666_7777_8888,
        "{origin:#x}"
    );
    origin == 0x5555_6666_7777_8888
}

/// `noclientlog` as chronyd has it: clients are served, serverstats counts them, but
/// no client is logged (`clients` prints chronyc's header and its 519 line, exit 1)
/// and interleaved requests get basic replies. A `ratelimit` with it is refused at
/// start, by both daemons. In one-thread mode and with worker threads.
#[test]
fn noclientlog_keeps_no_client_records() {
    let chronyd = Chronyd::start("local stratum 5\nallow 127.0.0.1\nnoclientlog\n");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(!answers_interleaved(&socket, chronyd.port()));
    let output = Command::new("chronyc")
        .arg("-h")
        .arg(chronyd.socket_path())
        .args(["-n", "clients"])
        .output()
        .expect("run chronyc (apt-get install chrony)");
    assert_eq!(output.status.code(), Some(1));
    let expected = String::from_utf8(output.stdout).unwrap();
    assert!(expected.ends_with("519 Client logging is not active in the daemon\n"));

    for threads in [None, Some(2)] {
        let port = free_udp_port();
        let mut lines = local_server_lines(port, &["noclientlog"]);
        if let Some(threads) = threads {
            lines.push(format!("server_threads {threads}"));
        }
        let gnomond = Gnomond::start(&["-4"], &lines);
        assert!(
            !answers_interleaved(&socket, port),
            "{threads:?}: interleaved without a client log"
        );
        let output = gnomon(&gnomond, &["clients"]);
        assert_eq!(output.status.code(), Some(1), "{threads:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
        let output = gnomon(&gnomond, &["clients", "--json"]);
        assert_eq!(output.status.code(), Some(1));
        let error: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            error["error"],
            "client logging is not active in the daemon (noclientlog)"
        );
        let stats = json(gnomon(&gnomond, &["serverstats", "--json"]));
        assert_eq!(stats["ntp_packets_received"], 2, "{stats}");
        assert_eq!(stats["ntp_replies_sent"], 2, "{stats}");
        assert_eq!(stats["ntp_interleaved"], 0, "{stats}");
        assert_eq!(stats["client_log_capacity"], 0, "{stats}");
    }

    // The control: with the client log, the same exchange is interleaved.
    let port = free_udp_port();
    let port_line = format!("port {port}");
    let gnomond = Gnomond::start(
        &["-4"],
        &[
            &port_line,
            "bindaddress 127.0.0.1",
            "allow 127.0.0.1",
            "local stratum 5",
        ],
    );
    assert!(answers_interleaved(&socket, port));
    drop(gnomond);

    // Both refuse to start with ratelimit and noclientlog.
    let dir = TempDir::new("noclientlog");
    let config = dir.path().join("both.conf");
    std::fs::write(
        &config,
        format!(
            "port 0\ncmdport 0\nbindcmdaddress {dir}/sock\npidfile {dir}/pid\nuser root\n\
             allow 127.0.0.1\nratelimit\nnoclientlog\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let chronyd = Command::new("timeout")
        .args(["10", "chronyd", "-x", "-d", "-f"])
        .arg(&config)
        .output()
        .expect("run chronyd (apt-get install chrony)");
    assert_eq!(chronyd.status.code(), Some(1), "{chronyd:?}");
    assert!(
        String::from_utf8_lossy(&chronyd.stderr)
            .contains("Rate limiting cannot be enabled with noclientlog"),
        "{chronyd:?}"
    );
    let gnomond = Command::new(workspace_binary("gnomond"))
        .arg("-f")
        .arg(&config)
        .arg("-p")
        .output()
        .expect("run gnomond -p");
    assert!(!gnomond.status.success());
    assert!(
        String::from_utf8_lossy(&gnomond.stderr)
            .contains(":8: noclientlog cannot be used with ratelimit"),
        "{gnomond:?}"
    );
}
