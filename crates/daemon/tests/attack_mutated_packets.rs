//! Attack suite, mutated packets (issue 19 "What to build"): a bounded soak of
//! mutated NTP requests against the real `gnomond -x` on loopback, in the one-thread
//! mode and with `server_threads 2`.
//!
//! 20,000 datagrams per mode from four sockets, about 5,000 a second: valid requests,
//! mode 6 and 7 control queries, other modes and versions, bit flips, truncations,
//! random and well-formed extension fields and MACs, random bytes, datagrams over
//! 2048 bytes. Asserts: gnomond is alive and answers afterwards; every reply is a
//! 48-byte mode 4 packet answering (by its origin timestamp) a mode 3 request of
//! version 3 or 4 that was at least as long; no mode 6/7 datagram gets an answer; the
//! unmodified requests are answered; RSS after the soak is within 4 MiB of RSS after
//! a warm-up of 2,000; serverstats add up (received = dropped + replies + KoDs + send
//! failures, dropped = the sum of its reasons) and saw every kind of datagram sent.
//!
//! Loopback only, `-x` (no clock is changed); the generator is seeded, so a run is
//! repeatable; every loop is bounded in count and time.

mod serving;

use gnomon_testkit::chronyd::free_udp_port;
use serde_json::Value;
use serving::{request, server_lines, Gnomond};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PACKETS: u64 = 20_000;
const WARM_UP: u64 = 2_000;
const SOCKETS: usize = 4;
/// Datagrams sent back to back, then a pause: about 5,000 a second.
const BURST: u64 = 50;
const PAUSE: Duration = Duration::from_millis(10);
const RSS_GROWTH_LIMIT_KB: u64 = 4096;

/// xorshift64*: a seeded, dependency-free generator, so every run sends the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What a datagram was made as, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Valid,
    Mode6,
    Mode7,
    OtherMode,
    OtherVersion,
    BitFlips,
    Truncated,
    RandomTrailer,
    Extension,
    Oversized,
    RandomBytes,
}

/// One mutated datagram; `tag` goes into its transmit timestamp when it is long
/// enough, so a reply (whose origin echoes it) names its request.
fn mutated(rng: &mut Rng, tag: u64) -> (Kind, Vec<u8>) {
    let version = if rng.below(4) == 0 { 3 } else { 4 };
    let mut bytes = request(version, 0).to_vec();
    let kind = match rng.below(16) {
        0..=2 => Kind::Valid,
        3 => {
            bytes[0] = (bytes[0] & !7) | 6;
            bytes.truncate([12, 48, 60][rng.below(3) as usize]);
            Kind::Mode6
        }
        4 => {
            bytes[0] = (bytes[0] & !7) | 7;
            bytes.truncate([8, 48, 72][rng.below(3) as usize].min(bytes.len()));
            bytes.resize(bytes.len().max(8), 0);
            Kind::Mode7
        }
        5 => {
            bytes[0] = (bytes[0] & !7) | [0, 1, 2, 4, 5][rng.below(5) as usize];
            Kind::OtherMode
        }
        6 => {
            bytes[0] = (bytes[0] & !0x38) | ([0, 1, 2, 5, 6, 7][rng.below(6) as usize] << 3);
            Kind::OtherVersion
        }
        7 | 8 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(48) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            Kind::BitFlips
        }
        9 => {
            bytes.truncate(rng.below(48) as usize);
            Kind::Truncated
        }
        10 | 11 => {
            let len = 1 + rng.below(400) as usize;
            let trailer = rng.bytes(len);
            bytes.extend_from_slice(&trailer);
            Kind::RandomTrailer
        }
        12 => {
            // A well-formed RFC 7822 field of 16..=256 bytes, then maybe a MAC.
            let len = 16 + 4 * rng.below(61) as usize;
            let mut field = rng.bytes(len);
            field[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            bytes.extend_from_slice(&field);
            if rng.below(2) == 0 {
                bytes.extend_from_slice(&rng.bytes(24));
            }
            Kind::Extension
        }
        13 => {
            bytes.resize(2049 + rng.below(1500) as usize, 0);
            Kind::Oversized
        }
        _ => {
            let len = 48 + rng.below(150) as usize;
            bytes = rng.bytes(len);
            Kind::RandomBytes
        }
    };
    if bytes.len() >= 48 {
        bytes[40..48].copy_from_slice(&tag.to_be_bytes());
    }
    (kind, bytes)
}

/// A sent datagram, as the replies are checked against it.
#[derive(Clone, Copy, Debug)]
struct Sent {
    kind: Kind,
    len: usize,
    first_byte: u8,
}

#[derive(Default)]
struct Replies {
    total: u64,
    /// Problems found (kept to report them all).
    bad: Vec<String>,
    /// Tags of the requests answered.
    answered: Vec<u64>,
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// serverstats once they stop changing (the workers publish their totals on their
/// own schedule), within 5 s.
fn settled_serverstats(gnomond: &Gnomond) -> Value {
    let started = Instant::now();
    let mut last = gnomond.control("serverstats");
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = gnomond.control("serverstats");
        if now["ntp_packets_received"] == last["ntp_packets_received"]
            && now["ntp_replies_sent"] == last["ntp_replies_sent"]
            || started.elapsed() > Duration::from_secs(5)
        {
            return now;
        }
        last = now;
    }
}

fn count(stats: &Value, field: &str) -> u64 {
    stats[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {stats}"))
}

/// The soak against one gnomond; returns its report line.
fn soak(name: &str, extra: &[&str]) -> String {
    let port = free_udp_port();
    let mut lines = vec!["local stratum 3", "allow 127.0.0.1"];
    lines.extend_from_slice(extra);
    let gnomond = Gnomond::start(&["-4"], &server_lines(port, &lines));
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let sent: Arc<Mutex<HashMap<u64, Sent>>> = Arc::default();
    let replies: Arc<Mutex<Replies>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let sockets: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let readers: Vec<_> = sockets
        .iter()
        .map(|socket| {
            let socket = socket.try_clone().expect("clone");
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let (sent, replies, done) = (sent.clone(), replies.clone(), done.clone());
            std::thread::spawn(move || read_replies(&socket, &sent, &replies, &done))
        })
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut kinds: HashMap<Kind, u64> = HashMap::new();
    let started = Instant::now();
    let mut rss_after_warm_up = 0;
    for index in 0..PACKETS {
        let tag = 0x4000_0000_0000_0000 | index;
        let (kind, bytes) = mutated(&mut rng, tag);
        *kinds.entry(kind).or_default() += 1;
        sent.lock().unwrap().insert(
            tag,
            Sent {
                kind,
                len: bytes.len(),
                first_byte: bytes.first().copied().unwrap_or(0),
            },
        );
        sockets[index as usize % SOCKETS]
            .send_to(&bytes, to)
            .expect("send");
        if (index + 1) % BURST == 0 {
            std::thread::sleep(PAUSE);
        }
        if index + 1 == WARM_UP {
            std::thread::sleep(Duration::from_millis(300));
            rss_after_warm_up = rss_kb(gnomond.pid());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name}: the soak took too long"
        );
    }
    let sending_s = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().expect("reader");
    }
    // Alive and still serving a plain request.
    let check = UdpSocket::bind("127.0.0.1:0").unwrap();
    let reply = serving::exchange(&check, to, &request(4, 7), Duration::from_secs(2));
    assert!(
        reply.is_some_and(|r| r.len() == 48),
        "{name}: no answer after the soak\n{}",
        gnomond.log()
    );
    let stats = settled_serverstats(&gnomond);
    let rss_after = rss_kb(gnomond.pid());
    let replies = replies.lock().unwrap();
    assert!(replies.bad.is_empty(), "{name}: {:#?}", replies.bad);

    let received = count(&stats, "ntp_packets_received");
    let dropped = count(&stats, "ntp_packets_dropped");
    let (replies_sent, kods, send_failures) = (
        count(&stats, "ntp_replies_sent"),
        count(&stats, "ntp_kods_sent"),
        count(&stats, "ntp_send_failures"),
    );
    // The plain request after the soak is one more.
    assert!(
        ((PACKETS + 1) * 9 / 10..=PACKETS + 1).contains(&received),
        "{name}: received {received} of {PACKETS}: {stats}"
    );
    assert_eq!(
        received,
        dropped + replies_sent + kods + send_failures,
        "{name}: {stats}"
    );
    let reasons: u64 = [
        "ntp_packets_denied",
        "ntp_packets_rate_limited",
        "ntp_packets_malformed",
        "ntp_packets_oversized",
        "ntp_packets_not_requests",
    ]
    .iter()
    .map(|field| count(&stats, field))
    .sum();
    assert_eq!(dropped, reasons, "{name}: {stats}");
    for field in [
        "ntp_packets_malformed",
        "ntp_packets_oversized",
        "ntp_packets_not_requests",
    ] {
        assert!(count(&stats, field) > 0, "{name}: no {field}: {stats}");
    }
    assert!(
        replies.total <= replies_sent + kods,
        "{name}: {} replies seen, {replies_sent} sent: {stats}",
        replies.total
    );
    // Every unmodified request answered (a datagram lost on loopback excepted).
    let sent = sent.lock().unwrap();
    let answered: std::collections::HashSet<u64> = replies.answered.iter().copied().collect();
    let valid: Vec<u64> = sent
        .iter()
        .filter(|(_, s)| s.kind == Kind::Valid)
        .map(|(&tag, _)| tag)
        .collect();
    let valid_answered = valid.iter().filter(|tag| answered.contains(tag)).count();
    assert!(
        valid_answered * 100 >= valid.len() * 95,
        "{name}: {valid_answered} of {} valid requests answered",
        valid.len()
    );
    assert!(
        rss_after <= rss_after_warm_up + RSS_GROWTH_LIMIT_KB,
        "{name}: RSS {rss_after_warm_up} kB after the warm-up, {rss_after} kB after the soak"
    );
    let mode_6_7 = kinds.get(&Kind::Mode6).unwrap_or(&0) + kinds.get(&Kind::Mode7).unwrap_or(&0);
    format!(
        "{name}: {PACKETS} sent in {sending_s:.1} s ({mode_6_7} mode 6/7, {} valid), \
         {received} received, {} replies seen ({valid_answered} of the valid), \
         {replies_sent} sent, dropped {dropped} (malformed {}, oversized {}, not requests {}), \
         RSS {rss_after_warm_up} -> {rss_after} kB",
        valid.len(),
        replies.total,
        count(&stats, "ntp_packets_malformed"),
        count(&stats, "ntp_packets_oversized"),
        count(&stats, "ntp_packets_not_requests"),
    )
}

/// Check every reply on `socket` against what was sent, until 1 s after `done`.
fn read_replies(
    socket: &UdpSocket,
    sent: &Mutex<HashMap<u64, Sent>>,
    replies: &Mutex<Replies>,
    done: &AtomicBool,
) {
    let mut buffer = [0u8; 4096];
    let mut quiet_since: Option<Instant> = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        let (len, _) = match socket.recv_from(&mut buffer) {
            Ok(got) => got,
            Err(_) => {
                if done.load(Ordering::Relaxed) {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(1) {
                        return;
                    }
                }
                continue;
            }
        };
        quiet_since = None;
        let reply = &buffer[..len];
        let mut replies = replies.lock().unwrap();
        replies.total += 1;
        if len != 48 || reply[0] & 7 != 4 {
            replies
                .bad
                .push(format!("a {len}-byte reply in mode {}", reply[0] & 7));
            continue;
        }
        let tag = u64::from_be_bytes(reply[24..32].try_into().unwrap());
        let Some(request) = sent.lock().unwrap().get(&tag).copied() else {
            replies
                .bad
                .push(format!("a reply to no request (origin {tag:#x})"));
            continue;
        };
        let (mode, version) = (request.first_byte & 7, (request.first_byte >> 3) & 7);
        if mode != 3 || !(3..=4).contains(&version) || request.len < len {
            replies.bad.push(format!(
                "a {len}-byte reply to a {}-byte mode {mode} version {version} {:?}",
                request.len, request.kind
            ));
        }
        replies.answered.push(tag);
    }
}

#[test]
fn mutated_packets_one_thread() {
    let report = soak("gnomond", &[]);
    eprintln!("{report}");
}

#[test]
fn mutated_packets_server_threads_2() {
    let report = soak("gnomond server_threads 2", &["server_threads 2"]);
    eprintln!("{report}");
}
