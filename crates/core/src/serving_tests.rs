//! Tests of the serving decision: formats, access matrix, rate limiting, counters.

use super::*;
use crate::access::AccessRule;
use gnomon_proto::{LeapIndicator, ReferenceId};

fn request_bytes(version: u8, mode: u8) -> [u8; 48] {
    let mut bytes = [0u8; 48];
    bytes[0] = (version << 3) | mode;
    bytes[2] = 6;
    bytes[40..48].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    bytes
}

fn synced() -> SystemVariables {
    SystemVariables {
        synchronized: true,
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        reference_id: ReferenceId::from_u32(0x7f00_0001),
        reference_time: Some(UnixTime::from_secs(1_800_000_000)),
        ..SystemVariables::unsynchronized(-20)
    }
}

fn rule(allow: bool, all: bool, net: Option<(&str, u8)>) -> AccessRule {
    AccessRule {
        allow,
        all,
        network: net.map(|(a, p)| (a.parse().unwrap(), p)),
    }
}

fn server(rules: &[AccessRule], rate_limit: Option<RateLimitParams>) -> Server {
    Server::new(ServerConfig {
        access: AccessTable::from_rules(rules),
        rate_limit,
        client_table_capacity: 64,
        client_log: true,
        seed: [1; 32],
    })
}

fn ask(server: &mut Server, bytes: &[u8], from: &str, now_ns: i64) -> Served {
    server.on_datagram(
        bytes,
        from.parse().unwrap(),
        UnixTime::from_secs(1_800_000_100),
        TimestampKind::Kernel,
        now_ns,
        &synced(),
    )
}

#[test]
fn v3_and_v4_requests_get_replies_no_larger_than_the_request() {
    let mut server = server(&[rule(true, false, None)], None);
    for version in [3, 4] {
        let served = ask(&mut server, &request_bytes(version, 3), "10.0.0.1", 0);
        let Served::Reply(reply) = served else {
            panic!("{served:?}")
        };
        assert_eq!(reply.version, version);
        assert_eq!(reply.mode, Mode::Server);
        assert_eq!(reply.stratum, 2);
        assert_eq!(reply.origin_timestamp.to_bits(), 0x1122_3344_5566_7788);
        assert_eq!(reply.transmit_timestamp, NtpTimestamp::ZERO);
        assert!(reply_bytes(&reply).len() <= 48);
    }
    // A request with an extension field still gets only the 48-byte header.
    let mut long = [0u8; 48 + 16];
    long[..48].copy_from_slice(&request_bytes(4, 3));
    long[48..52].copy_from_slice(&[0x01, 0x04, 0x00, 0x10]);
    assert!(matches!(
        ask(&mut server, &long, "10.0.0.1", 1),
        Served::Reply(_)
    ));
    assert_eq!(server.stats().received, 3);
    assert_eq!(server.stats().kernel_rx_timestamps, 3);
}

#[test]
fn unsynchronized_server_says_leap_3() {
    let mut server = server(&[rule(true, false, None)], None);
    let served = server.on_datagram(
        &request_bytes(4, 3),
        "10.0.0.1".parse().unwrap(),
        UnixTime::from_secs(1_800_000_100),
        TimestampKind::Daemon,
        0,
        &SystemVariables::unsynchronized(-20),
    );
    let Served::Reply(reply) = served else {
        panic!()
    };
    assert_eq!(reply.leap, LeapIndicator::Unsynchronized);
    assert_eq!(reply.stratum, 16);
}

#[test]
fn never_an_amplifier_and_bad_packets_are_counted() {
    let mut server = server(&[rule(true, false, None)], None);
    for mode in [0, 1, 2, 4, 5, 6, 7] {
        assert_eq!(
            ask(&mut server, &request_bytes(4, mode), "10.0.0.1", 0),
            Served::Drop(DropReason::NotClientRequest),
            "mode {mode}"
        );
    }
    // A mode 6 / mode 7 query shorter than a header (as ntpq/ntpdc send) is malformed.
    assert_eq!(
        ask(
            &mut server,
            &[0x16, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "10.0.0.1",
            0
        ),
        Served::Drop(DropReason::Malformed)
    );
    assert_eq!(
        ask(
            &mut server,
            &[0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0],
            "10.0.0.1",
            0
        ),
        Served::Drop(DropReason::Malformed)
    );
    for version in [0, 1, 2, 5, 7] {
        assert_eq!(
            ask(&mut server, &request_bytes(version, 3), "10.0.0.1", 0),
            Served::Drop(DropReason::Malformed)
        );
    }
    let mut bad_extension = [0u8; 48 + 28];
    bad_extension[..48].copy_from_slice(&request_bytes(4, 3));
    bad_extension[48..52].copy_from_slice(&[0x01, 0x04, 0x00, 0x0e]);
    assert_eq!(
        ask(&mut server, &bad_extension, "10.0.0.1", 0),
        Served::Drop(DropReason::Malformed)
    );
    let huge = [0x23u8; MAX_REQUEST_LEN + 1];
    assert_eq!(
        ask(&mut server, &huge, "10.0.0.1", 0),
        Served::Drop(DropReason::Oversized)
    );
    let stats = *server.stats();
    assert_eq!(stats.not_client_request, 7);
    assert_eq!(stats.malformed, 8);
    assert_eq!(stats.oversized, 1);
    assert_eq!(stats.dropped, 16);
    assert_eq!(stats.received, 16);
    // Still serving.
    assert!(matches!(
        ask(&mut server, &request_bytes(4, 3), "10.0.0.1", 0),
        Served::Reply(_)
    ));
    // Nothing from a bad packet is logged as a client.
    assert_eq!(server.clients().count(), 1);
}

#[test]
fn access_matrix() {
    let seed_rules = [rule(true, false, Some(("172.31.0.0", 16)))];
    let layered = [
        rule(true, false, Some(("10.0.0.0", 8))),
        rule(false, false, Some(("10.1.0.0", 16))),
        rule(true, false, Some(("10.1.2.3", 32))),
        rule(true, false, Some(("2001:db8::", 32))),
    ];
    let cases: &[(&[AccessRule], &str, bool)] = &[
        (&[], "127.0.0.1", false),
        (&[], "::1", false),
        (&seed_rules, "172.31.4.5", true),
        (&seed_rules, "172.30.4.5", false),
        (&seed_rules, "::ffff:172.31.4.5", true),
        (&seed_rules, "2001:db8::1", false),
        (&layered, "10.2.0.1", true),
        (&layered, "10.1.0.1", false),
        (&layered, "10.1.2.3", true),
        (&layered, "2001:db8:5::1", true),
        (&layered, "2001:db9::1", false),
        (
            &[
                rule(true, false, None),
                rule(false, false, Some(("10.0.0.0", 8))),
            ],
            "10.0.0.1",
            false,
        ),
        (
            &[
                rule(true, false, None),
                rule(false, false, Some(("10.0.0.0", 8))),
            ],
            "11.0.0.1",
            true,
        ),
        (
            &[
                rule(false, false, Some(("10.0.0.0", 8))),
                rule(true, true, None),
            ],
            "10.0.0.1",
            true,
        ),
    ];
    for (rules, from, allowed) in cases {
        let mut server = server(rules, None);
        let served = ask(&mut server, &request_bytes(4, 3), from, 0);
        let expected = if *allowed { "reply" } else { "denied" };
        match served {
            Served::Reply(_) => assert!(allowed, "{from} with {rules:?}: {expected}"),
            Served::Drop(DropReason::Denied) => {
                assert!(!allowed, "{from} with {rules:?}: {expected}")
            }
            other => panic!("{other:?}"),
        }
        // Denied clients leave no record.
        assert_eq!(server.clients().count(), usize::from(*allowed));
    }
}

#[test]
fn a_burst_from_one_client_is_limited_with_kods() {
    let params = RateLimitParams {
        interval_log2_s: 0,
        burst: 4,
        leak_log2: 2,
        kod_log2: 1,
    };
    let mut server = server(&[rule(true, false, None)], Some(params));
    let (mut replies, mut kods, mut drops) = (0, 0, 0);
    for n in 0..1_000 {
        let served = ask(&mut server, &request_bytes(4, 3), "10.0.0.7", n * 1_000_000);
        match served {
            Served::Reply(_) => replies += 1,
            Served::InterleavedReply(..) => panic!("no interleaved request was sent"),
            Served::KissOfDeath(kod) => {
                assert_eq!(kod.kiss_code(), Some(KissCode::Rate));
                assert_eq!(kod.origin_timestamp.to_bits(), 0x1122_3344_5566_7788);
                kods += 1;
            }
            Served::Drop(reason) => {
                assert_eq!(reason, DropReason::RateLimited);
                drops += 1
            }
        }
        server.on_sent(&served, true, TimestampKind::Daemon);
    }
    assert!((4..400).contains(&replies), "{replies}");
    assert!(kods > 100 && drops > 100, "{kods} {drops}");
    // Another client is not affected.
    assert!(matches!(
        ask(&mut server, &request_bytes(4, 3), "10.0.0.8", 1_000_000_000),
        Served::Reply(_)
    ));
    let record = server
        .clients()
        .find(|r| r.address == "10.0.0.7".parse::<IpAddr>().unwrap())
        .unwrap();
    assert_eq!(record.requests, 1_000);
    assert_eq!(record.rate_limit_drops, drops);
    assert_eq!(record.kods_sent, kods);
    let stats = server.stats();
    assert_eq!(stats.rate_limited, drops);
    assert_eq!(stats.kods_sent, kods);
    assert_eq!(stats.replies_sent, replies);
}

#[test]
fn interleaved_requests_get_the_previous_replys_transmit_timestamp() {
    let mut server = server(&[rule(true, false, None)], None);
    let first = match ask(&mut server, &request_bytes(4, 3), "10.0.0.1", 0) {
        Served::Reply(reply) => reply,
        other => panic!("{other:?}"),
    };
    let daemon_tx = NtpTimestamp::from_bits(0xeef4_50e4_0000_1000);
    let kernel_tx = NtpTimestamp::from_bits(0xeef4_50e4_0000_0800);
    server.note_reply_sent(first.receive_timestamp, daemon_tx);
    server.on_sent(&Served::Reply(first), true, TimestampKind::Daemon);
    server.note_precise_transmit(first.receive_timestamp, kernel_tx, TimestampKind::Kernel);
    // The client's next request: origin = our receive timestamp, receive = when it
    // received our reply.
    let mut second = request_bytes(4, 3);
    second[24..32].copy_from_slice(&first.receive_timestamp.to_be_bytes());
    second[32..40].copy_from_slice(&0x5555_6666_7777_8888u64.to_be_bytes());
    let served = server.on_datagram(
        &second,
        "10.0.0.1".parse().unwrap(),
        UnixTime::from_secs(1_800_000_101),
        TimestampKind::Kernel,
        1_000_000_000,
        &synced(),
    );
    let Served::InterleavedReply(reply, kind) = served else {
        panic!("{served:?}")
    };
    assert_eq!(kind, TimestampKind::Kernel);
    assert_eq!(reply.origin_timestamp.to_bits(), 0x5555_6666_7777_8888);
    assert_eq!(reply.transmit_timestamp, kernel_tx);
    assert_eq!(
        reply.receive_timestamp,
        NtpTimestamp::from_unix(UnixTime::from_secs(1_800_000_101))
    );
    server.on_sent(&served, true, TimestampKind::Daemon);
    assert_eq!(server.stats().interleaved, 1);
    assert_eq!(server.stats().kernel_tx_timestamps, 1);
    assert_eq!(server.stats().daemon_tx_timestamps, 1);
    // An origin we never sent as a receive timestamp: basic mode.
    let mut stranger = request_bytes(4, 3);
    stranger[24..32].copy_from_slice(&0x1234u64.to_be_bytes());
    assert!(matches!(
        ask(&mut server, &stranger, "10.0.0.1", 2_000_000_000),
        Served::Reply(_)
    ));
}

#[test]
fn without_a_client_log_nothing_is_kept_per_client() {
    // chrony's noclientlog: no records, no rate limiting, no interleaved replies; the
    // totals still count.
    let limit = RateLimitParams {
        interval_log2_s: 4,
        burst: 1,
        leak_log2: 2,
        kod_log2: 1,
    };
    let mut server = Server::new(ServerConfig {
        access: AccessTable::from_rules(&[rule(true, false, None)]),
        rate_limit: Some(limit),
        client_table_capacity: 64,
        client_log: false,
        seed: [1; 32],
    });
    assert!(!server.has_client_log());
    assert_eq!(server.client_log_capacity(), 0);
    let mut previous: Option<NtpHeader> = None;
    for n in 0..20 {
        let mut bytes = request_bytes(4, 3);
        if let Some(previous) = previous {
            // What a client in interleaved mode sends: our last receive timestamp.
            bytes[24..32].copy_from_slice(&previous.receive_timestamp.to_be_bytes());
        }
        let served = ask(&mut server, &bytes, "10.0.0.1", n * 1_000_000);
        let Served::Reply(reply) = served else {
            panic!("request {n}: {served:?} (no limit, no interleaving without a log)")
        };
        server.note_reply_sent(reply.receive_timestamp, NtpTimestamp::from_bits(n as u64));
        server.note_precise_transmit(
            reply.receive_timestamp,
            NtpTimestamp::from_bits(n as u64),
            TimestampKind::Kernel,
        );
        server.on_sent(&served, true, TimestampKind::Daemon);
        previous = Some(reply);
    }
    assert_eq!(server.clients().count(), 0);
    server.reset_client_counters();
    let stats = server.stats();
    assert_eq!((stats.received, stats.replies_sent), (20, 20));
    assert_eq!((stats.rate_limited, stats.interleaved), (0, 0));
    assert_eq!(server.client_log_evictions(), 0);
}

/// `clientloglimit` is a cap (issue 19 item 7): the records and the interleaved
/// timestamps together stay within it, rounded down to a power of two; 1 GiB used to
/// give 1.79 GB (the table rounded up, and the map came on top).
#[test]
fn clientloglimit_caps_the_log_and_the_timestamps_together() {
    use crate::client_table::RECORD_BYTES;
    use crate::interleave::SLOT_BYTES;
    let per_client = RECORD_BYTES + TIMESTAMPS_PER_CLIENT * SLOT_BYTES;
    let minimum = 4 * per_client;
    let mut limits: Vec<u64> = vec![0, 1, 383, 384, 3000, 524_288, 1_000_000, 1 << 30];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        limits.push(x % (1 << 30));
    }
    for limit in limits {
        let capacity = client_log_capacity(limit);
        assert!(
            capacity.is_power_of_two() && capacity >= 4,
            "{limit}: {capacity}"
        );
        let bytes = capacity * per_client;
        assert!(
            bytes as u64 <= limit.max(minimum as u64),
            "{limit}: {bytes}"
        );
        // Rounded down, never by more than half.
        assert!(
            2 * bytes as u64 > limit || capacity == 4,
            "{limit}: {bytes}"
        );
    }
    // chrony's default 512 KiB holds 4096 records, as chronyd's does.
    assert_eq!(client_log_capacity(524_288), 4096);
    // The structures really are that size (small limits only: no big allocation here).
    for limit in [3000u64, 100_000, 524_288] {
        let server = Server::new(ServerConfig {
            access: AccessTable::from_rules(&[rule(true, false, None)]),
            rate_limit: None,
            client_table_capacity: client_log_capacity(limit),
            client_log: true,
            seed: [3; 32],
        });
        assert!(server.client_log_memory_bytes() as u64 <= limit, "{limit}");
        assert_eq!(server.client_log_capacity(), client_log_capacity(limit));
    }
}
