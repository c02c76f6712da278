//! Fuzz the served-request path, `gnomon_core::serving::Server::on_datagram`, with
//! arbitrary datagrams from arbitrary source addresses under an arbitrary serving
//! configuration (access rules, rate limit, client log on or off).
//!
//! Asserts: never a panic; a reply (normal, interleaved or KoD) only to a well-formed
//! mode 3 request of version 3 or 4 from an allowed address, so never to mode 6/7 and
//! never to a denied client; the reply is the 48-byte header, never larger than the
//! request, in mode 4 with the request's version; and the `serverstats` totals add up
//! (received = replies + KoDs + dropped, dropped = the sum of its reasons).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gnomon_core::access::{AccessRule, AccessTable};
use gnomon_core::ratelimit::RateLimitParams;
use gnomon_core::serving::{reply_bytes, Served, Server, ServerConfig, TimestampKind};
use gnomon_core::SystemVariables;
use gnomon_proto::{LeapIndicator, Mode, NtpTimestamp, ReferenceId, UnixTime, HEADER_LEN};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const START_S: i64 = 1_795_824_000;
/// A few fixed clients, so the client log and the rate limiter see repeat visitors.
const CLIENTS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203)),
];

fn address(u: &mut Unstructured) -> Result<IpAddr> {
    Ok(match u.int_in_range(0..=5u8)? {
        0..=3 => CLIENTS[usize::from(u.int_in_range(0..=3u8)?)],
        4 => IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?)),
        _ => IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?)),
    })
}

fn rules(u: &mut Unstructured) -> Result<Vec<AccessRule>> {
    let mut rules = Vec::new();
    for _ in 0..u.int_in_range(0..=4u8)? {
        let network = if u.arbitrary()? {
            None
        } else {
            Some((address(u)?, u.int_in_range(0..=128u8)?))
        };
        rules.push(AccessRule {
            allow: u.arbitrary()?,
            all: u.arbitrary()?,
            network,
        });
    }
    Ok(rules)
}

fn system(u: &mut Unstructured) -> Result<SystemVariables> {
    let mut system = SystemVariables::unsynchronized(-20);
    if u.arbitrary()? {
        system.synchronized = true;
        system.leap = LeapIndicator::from_bits(u.int_in_range(0..=3u8)?);
        system.stratum = u.int_in_range(1..=15u8)?;
        system.reference_id = ReferenceId::from_u32(u.arbitrary()?);
        system.reference_time = Some(UnixTime::from_secs(START_S - 64));
        system.root_delay_s = f64::from(u.arbitrary::<u16>()?) / 1000.0;
        system.root_dispersion_s = f64::from(u.arbitrary::<u16>()?) / 1000.0;
        system.dispersion_rate_ppm = f64::from(u.arbitrary::<u8>()?);
    }
    Ok(system)
}

fn run(u: &mut Unstructured) -> Result<()> {
    let table = AccessTable::from_rules(&rules(u)?);
    let rate_limit = if u.arbitrary()? {
        Some(RateLimitParams {
            interval_log2_s: u.int_in_range(-19..=12i8)?,
            burst: u.int_in_range(1..=255u8)?,
            leak_log2: u.int_in_range(1..=4u8)?,
            kod_log2: u.int_in_range(0..=4u8)?,
        })
    } else {
        None
    };
    let client_log = u.arbitrary()?;
    let mut server = Server::new(ServerConfig {
        access: table.clone(),
        rate_limit: rate_limit.filter(|_| client_log),
        client_table_capacity: 16,
        client_log,
        seed: [9; 32],
    });
    let system = system(u)?;
    let mut now_ns: i64 = 1_000_000_000;
    let mut last_receive = NtpTimestamp::ZERO;
    let (mut replies, mut kods) = (0u64, 0u64);
    for _ in 0..u.int_in_range(1..=32u8)? {
        let from = address(u)?;
        now_ns += i64::from(u.arbitrary::<u32>()?);
        let received_at = UnixTime::from_nanos(START_S * 1_000_000_000 + now_ns);
        let len = u.int_in_range(0..=2100u16)?;
        let mut bytes = u.bytes(usize::from(len).min(u.len()))?.to_vec();
        if bytes.len() >= HEADER_LEN && u.arbitrary()? {
            // Echo a receive timestamp we sent: the request asks for interleaved mode.
            bytes[24..32].copy_from_slice(&last_receive.to_be_bytes());
        }
        let rx_kind = match u.int_in_range(0..=2u8)? {
            0 => TimestampKind::Daemon,
            1 => TimestampKind::Kernel,
            _ => TimestampKind::Hardware,
        };
        let served = server.on_datagram(&bytes, from, received_at, rx_kind, now_ns, &system);
        let header = match served {
            Served::Reply(header) | Served::InterleavedReply(header, _) => {
                replies += 1;
                header
            }
            Served::KissOfDeath(header) => {
                kods += 1;
                header
            }
            Served::Drop(_) => continue,
        };
        let mode = bytes[0] & 7;
        assert_eq!(mode, 3, "answered a mode {mode} datagram");
        let version = (bytes[0] >> 3) & 7;
        assert!((3..=4).contains(&version), "answered version {version}");
        assert!(table.is_allowed(from), "answered denied {from}");
        let out = reply_bytes(&header);
        assert!(
            out.len() <= bytes.len(),
            "reply {} > request {}",
            out.len(),
            bytes.len()
        );
        assert_eq!(header.mode, Mode::Server);
        assert_eq!(header.version, version);
        let sent_ok = u.arbitrary()?;
        server.on_sent(&served, sent_ok, rx_kind);
        if sent_ok && matches!(served, Served::Reply(_)) {
            last_receive = header.receive_timestamp;
            let transmit = NtpTimestamp::from_unix(received_at);
            server.note_reply_sent(last_receive, transmit);
            if u.arbitrary()? {
                server.note_precise_transmit(last_receive, transmit, TimestampKind::Kernel);
            }
        }
    }
    let stats = *server.stats();
    assert_eq!(stats.received, replies + kods + stats.dropped, "{stats:?}");
    assert_eq!(
        stats.dropped,
        stats.malformed
            + stats.oversized
            + stats.not_client_request
            + stats.denied
            + stats.rate_limited,
        "{stats:?}"
    );
    assert!(stats.replies_sent + stats.kods_sent + stats.send_failures <= replies + kods);
    assert!(server.clients().count() <= server.client_log_capacity());
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
