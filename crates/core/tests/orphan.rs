//! `local stratum N orphan`: servers polling each other with the same line settle on
//! one root (the smallest reference ID) serving its own clock; the others follow it.

mod harness;

use gnomon_core::engine::EngineConfig;
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::{LocalStratum, LOCAL_REFERENCE_ID};
use gnomon_proto::{NtpHeader, NtpTimestamp, ReferenceId, UnixTime};
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;

/// A host in orphan mode at stratum 5 whose only source is another orphan at
/// stratum 5 (the harness names it 10.0.0.1), the host itself being `own`.
fn orphan_pair(own: u32) -> Harness {
    orphan_pair_waiting(own, 300.0)
}

/// The same with `waitunsynced` set.
fn orphan_pair_waiting(own: u32, wait_unsynced_s: f64) -> Harness {
    let config = EngineConfig {
        local_stratum: Some(LocalStratum {
            stratum: 5,
            orphan: true,
            wait_unsynced_s,
            ..Default::default()
        }),
        own_reference_id: Some(ReferenceId::from_u32(own)),
        ..Default::default()
    };
    let mut sim = Harness::new(config, START_S, 0.002, 3.0, 21);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            stratum: 5,
            jitter_s: 20e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 600.0, |_| {});
    sim
}

fn served_stratum_and_id(sim: &Harness) -> (u8, ReferenceId) {
    let request = NtpHeader::client_request(NtpTimestamp::from_bits(3), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    (reply.stratum, reply.reference_id)
}

#[test]
fn an_orphan_with_a_larger_id_follows_the_smaller_one() {
    let sim = orphan_pair(0x0a00_0009);
    assert!(sim.engine.reference().is_some(), "not following the root");
    assert_eq!(
        served_stratum_and_id(&sim),
        (6, ReferenceId::from_u32(0x0a00_0001))
    );
    assert!(sim.clock_error_s().abs() < 1e-3, "{}", sim.clock_error_s());
}

#[test]
fn the_orphan_with_the_smallest_id_is_the_root() {
    let sim = orphan_pair(0x0a00_0000);
    assert_eq!(sim.engine.reference(), None);
    assert!(sim.engine.system_variables().local_reference);
    assert_eq!(served_stratum_and_id(&sim), (5, LOCAL_REFERENCE_ID));
}

#[test]
fn a_follower_takes_over_waitunsynced_after_the_root_stops() {
    let mut sim = orphan_pair_waiting(0x0a00_0009, 120.0);
    assert_eq!(served_stratum_and_id(&sim).0, 6);
    let root = sim.servers[0].0;
    sim.server_mut(root).answering = false;
    // Until the root is unreachable (8 unanswered polls) and then `waitunsynced` has
    // passed, the follower holds over on it; then it is the root itself.
    let stopped_s = sim.now_s();
    let mut took_over_at = None;
    sim.run_until(stopped_s + 3600.0, |sim| {
        if took_over_at.is_none() && sim.engine.system_variables().local_reference {
            took_over_at = Some(sim.now_s() - stopped_s);
        }
    });
    let unreachable_s = sim
        .engine
        .source(root)
        .map(|s| s.poll_state().poll())
        .unwrap();
    let took_over_after_s = took_over_at.expect("the follower never took over");
    // 8 polls of 2^poll s (at most 1024 s) and then 120 s.
    assert!(took_over_after_s >= 120.0, "{took_over_after_s}");
    assert!(
        took_over_after_s <= 8.0 * 2f64.powi(i32::from(unreachable_s)) + 130.0,
        "{took_over_after_s}"
    );
    assert_eq!(sim.engine.reference(), None);
    assert_eq!(served_stratum_and_id(&sim), (5, LOCAL_REFERENCE_ID));
    // Before `waitunsynced` has passed, the same run still follows the silent root.
    let mut sim = orphan_pair_waiting(0x0a00_0009, 1e9);
    let root = sim.servers[0].0;
    sim.server_mut(root).answering = false;
    let stopped_s = sim.now_s();
    sim.run_until(stopped_s + 3600.0, |_| {});
    assert!(sim.engine.reference().is_some());
    assert_eq!(served_stratum_and_id(&sim).0, 6);
}
