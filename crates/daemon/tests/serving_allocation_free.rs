//! The serving path allocates nothing per request (DESIGN: "No allocation on this
//! path"): a counting global allocator around many `Server::on_datagram` calls, with
//! access control, the client log (including evictions) and rate limiting in play.
//! One test in this binary, so no other test allocates concurrently.

use gnomon_core::access::{AccessRule, AccessTable};
use gnomon_core::ratelimit::RateLimitParams;
use gnomon_core::serving::{reply_bytes, Served, Server, ServerConfig, TimestampKind};
use gnomon_core::system::SystemVariables;
use gnomon_proto::UnixTime;
use gnomon_testkit::counting_alloc::{allocations, CountingAllocator, COUNTING_ALLOCATOR};
use std::net::{IpAddr, Ipv4Addr};

#[global_allocator]
static GLOBAL: CountingAllocator = COUNTING_ALLOCATOR;

#[test]
fn on_datagram_does_not_allocate() {
    let rules = [
        AccessRule {
            allow: true,
            all: false,
            network: Some(("10.0.0.0".parse().unwrap(), 8)),
        },
        AccessRule {
            allow: false,
            all: false,
            network: Some(("10.9.0.0".parse().unwrap(), 16)),
        },
    ];
    let mut server = Server::new(ServerConfig {
        access: AccessTable::from_rules(&rules),
        rate_limit: Some(RateLimitParams {
            interval_log2_s: 0,
            burst: 4,
            leak_log2: 2,
            kod_log2: 1,
        }),
        client_table_capacity: 256,
        client_log: true,
        seed: [3; 32],
    });
    let system = SystemVariables::unsynchronized(-20);
    let mut request = [0u8; 48];
    request[0] = (4 << 3) | 3;
    let bad = [0x16u8, 0x02, 0, 1];
    // Let the test harness's own start-up allocations (other thread) settle first.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = allocations();
    let mut replies = 0u32;
    for n in 0..100_000u32 {
        // Many addresses (evictions), some denied, bursts (rate limit), bad packets.
        let from = if n % 3 == 0 {
            IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1))
        } else if n % 5 == 0 {
            IpAddr::V4(Ipv4Addr::from(0x0a09_0000 | (n % 256)))
        } else {
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | ((n % 2_000) * 37)))
        };
        let bytes: &[u8] = if n % 97 == 0 { &bad } else { &request };
        let served = server.on_datagram(
            bytes,
            from,
            UnixTime::from_secs(1_800_000_000),
            TimestampKind::Kernel,
            i64::from(n) * 100_000,
            &system,
        );
        if let Served::Reply(reply) = served {
            replies += reply_bytes(&reply)[1] as u32 & 1;
        }
        server.on_sent(&served, true, TimestampKind::Daemon);
    }
    let allocations = allocations() - before;
    assert_eq!(
        allocations, 0,
        "{allocations} allocations on the serving path"
    );
    assert!(server.client_log_evictions() > 0);
    let stats = server.stats();
    assert!(
        stats.denied > 0 && stats.rate_limited > 0 && stats.malformed > 0,
        "{stats:?}"
    );
    let _ = replies;
}
