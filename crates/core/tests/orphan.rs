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
    let config = EngineConfig {
        local_stratum: Some(LocalStratum {
            stratum: 5,
            orphan: true,
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
