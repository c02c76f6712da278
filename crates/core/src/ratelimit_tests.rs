//! The rate limiter on deterministic request schedules (issue 19 item 2): the share
//! of a flood that is answered, for smooth and bursty floods, is chrony's: one in
//! 2^leak once the bucket is empty, whatever the flood's shape. The schedules do not
//! depend on the answers (a spoofing flooder sees none).

use crate::client_table::ClientTable;
use crate::ratelimit::{Limit, RateLimitParams, RateLimiter};
use std::net::IpAddr;

/// `ratelimit interval 1 burst 4 leak 2`, the attack run's setting.
const ATTACK: RateLimitParams = RateLimitParams {
    interval_log2_s: 1,
    burst: 4,
    leak_log2: 2,
    kod_log2: 0,
};

/// A flood of `bursts` bursts of `burst_len` requests, `spacing_ns` apart inside a
/// burst, one burst every `period_ns`. Returns the requests answered.
fn flood(
    params: RateLimitParams,
    seed: u8,
    bursts: u32,
    burst_len: u32,
    spacing_ns: i64,
    period_ns: i64,
) -> u32 {
    let mut limiter = RateLimiter::new(params, [seed; 32]);
    let mut table = ClientTable::new(16, u64::from(seed));
    let client: IpAddr = "192.0.2.9".parse().unwrap();
    let mut answered = 0;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(seed);
    for burst in 0..bursts {
        let mut offset_ns = 0i64;
        for _ in 0..burst_len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Jitter: each gap log-uniform between spacing/100 and spacing.
            let octaves = (x % 6_644) as f64 / 1_000.0;
            offset_ns += (spacing_ns as f64 / 2f64.powf(octaves)) as i64;
            let now_ns = 1_000_000_000 + i64::from(burst) * period_ns + offset_ns;
            let (record, elapsed) = table.log_request(client, now_ns, params.full_tokens());
            if limiter.check(record, elapsed) != Limit::Drop {
                answered += 1;
            }
        }
    }
    answered
}

fn share(answered: u32, total: u32) -> f64 {
    f64::from(answered) / f64::from(total)
}

/// The flood shapes, with jittered gaps (log-uniform between 1/100 of the spacing and
/// the spacing, as a loopback sender's are): (burst length, spacing, period).
const SHAPES: [(&str, u32, i64, i64); 4] = [
    ("smooth, 1 ms", 1, 1_000_000, 1_000_000),
    ("smooth, up to 1 ms, jittered", 1, 1_000_000, 100_000),
    ("bursts of 10 every 20 ms", 10, 100_000, 20_000_000),
    ("bursts of 100 every 100 ms", 100, 100_000, 100_000_000),
];

/// chronyd 4.3 answers 24.5-25.0 % of these floods on loopback (tests/attack
/// measures it in the same run, crates/daemon/tests/attack_ratelimit.rs): the leak's
/// one in four. The ns-precise limiter with averaged log2 intervals answered up to
/// 32 % here (46 % on a real loopback flood): jitter in microsecond gaps made the
/// "faster when dropped" test fire and invert the leak.
#[test]
fn every_flood_shape_gets_the_leak_share() {
    let total = 20_000;
    for (name, burst_len, spacing_ns, period_ns) in SHAPES {
        for seed in 1..4 {
            let answered = flood(
                ATTACK,
                seed,
                total / burst_len,
                burst_len,
                spacing_ns,
                period_ns,
            );
            let share = share(answered, total);
            assert!(
                (share - 0.25).abs() < 0.01,
                "{name}, seed {seed}: {share:.4}"
            );
        }
    }
}

/// Leak 1 and 3 are one in two and one in eight, whatever the shape.
#[test]
fn the_share_follows_the_leak() {
    for (leak_log2, expected) in [(1u8, 0.5), (3, 0.125), (4, 0.0625)] {
        let params = RateLimitParams {
            leak_log2,
            ..ATTACK
        };
        for (name, burst_len, spacing_ns, period_ns) in SHAPES {
            let answered = flood(
                params,
                7,
                16_000 / burst_len,
                burst_len,
                spacing_ns,
                period_ns,
            );
            let share = share(answered, 16_000);
            assert!(
                (share - expected).abs() < expected * 0.08,
                "leak {leak_log2}, {name}: {share:.4}"
            );
        }
    }
}

/// Tokens accrue with ticks: a client at exactly its allowed rate (one request per
/// 2^interval s) is always answered; one at twice the rate gets its burst, then every
/// other request has the tokens unless a leaked answer emptied the bucket just
/// before: one pass per 1 + 3/4 requests, 4/7.
#[test]
fn tokens_follow_the_configured_interval() {
    let answered = flood(ATTACK, 3, 500, 1, 2_000_000_000, 2_000_000_000);
    assert_eq!(answered, 500);
    let answered = flood(ATTACK, 3, 4_000, 1, 1_000_000_000, 1_000_000_000);
    let share = share(answered, 4_000);
    assert!((share - 4.0 / 7.0).abs() < 0.03, "{share}");
}
