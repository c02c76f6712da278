//! The sync-loop test (RFC 5905's loop check, chrony's test D): a server whose
//! reference ID is our own address is synchronised to us, and must not be selected,
//! neither from the start nor once it was our reference.

mod harness;

use gnomon_core::engine::EngineConfig;
use gnomon_core::measurement::RejectReason;
use gnomon_core::source::SourceId;
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::{LocalStratum, LOCAL_REFERENCE_ID};
use gnomon_proto::{NtpHeader, NtpTimestamp, ReferenceId, UnixTime};
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;

/// What a server synchronised to us (through ::1) announces: the MD5-derived ID of
/// ::1, CF404DC8 (the vector is checked in gnomon-proto's refid tests).
fn our_id() -> ReferenceId {
    ReferenceId::from_ip("::1".parse().unwrap())
}

fn host_with_local_stratum() -> Harness {
    let config = EngineConfig {
        local_stratum: Some(LocalStratum {
            stratum: 8,
            ..Default::default()
        }),
        ..Default::default()
    };
    Harness::new(config, START_S, 0.002, 3.0, 7)
}

fn iburst() -> SourceOptions {
    SourceOptions {
        iburst: true,
        ..Default::default()
    }
}

fn served(sim: &Harness) -> (u8, ReferenceId) {
    let request = NtpHeader::client_request(NtpTimestamp::from_bits(3), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    (reply.stratum, reply.reference_id)
}

fn add_looping_server(sim: &mut Harness) -> SourceId {
    let id = sim.add_server(
        iburst(),
        VirtualServer {
            stratum: 9,
            reference_id: our_id(),
            ..Default::default()
        },
    );
    assert!(sim.engine.set_loop_reference_id(id, Some(our_id())));
    id
}

#[test]
fn a_server_synchronised_to_us_is_never_selected() {
    let mut sim = host_with_local_stratum();
    let looping = add_looping_server(&mut sim);
    sim.run_until(START_S as f64 + 300.0, |sim| {
        assert_ne!(
            sim.engine.reference(),
            Some(looping),
            "selected a sync loop"
        );
    });
    let source = sim.engine.source(looping).unwrap();
    assert!(source.in_sync_loop());
    assert_eq!(source.last_reject(), Some(RejectReason::SyncLoop));
    assert_eq!(source.counters().samples_accepted, 0);
    assert!(source.counters().sync_loops >= 8, "{:?}", source.counters());
    assert!(
        source.poll_state().is_reachable(),
        "its replies are authentic"
    );
    // We keep serving our local reference, at its stratum.
    assert_eq!(served(&sim), (8, LOCAL_REFERENCE_ID));
}

#[test]
fn without_the_loop_id_the_same_server_is_followed() {
    // The control for the test above: the server is usable, only the loop test
    // refuses it.
    let mut sim = host_with_local_stratum();
    let looping = add_looping_server(&mut sim);
    sim.engine.set_loop_reference_id(looping, None);
    sim.run_until(START_S as f64 + 300.0, |_| {});
    assert_eq!(sim.engine.reference(), Some(looping));
    // Stratum 9 + 1, announcing the harness's ID for its first server.
    assert_eq!(served(&sim), (10, ReferenceId::from_u32(0x0a00_0001)));
}

#[test]
fn a_reference_that_becomes_synchronised_to_us_is_dropped() {
    let mut sim = host_with_local_stratum();
    let server = sim.add_server(
        iburst(),
        VirtualServer {
            stratum: 2,
            reference_id: ReferenceId::from_u32(0x0a09_0909),
            ..Default::default()
        },
    );
    sim.engine.set_loop_reference_id(server, Some(our_id()));
    sim.run_until(START_S as f64 + 300.0, |_| {});
    assert_eq!(sim.engine.reference(), Some(server));
    assert_eq!(served(&sim).0, 3);

    // The server's own reference goes; it now follows us.
    let switched_s = sim.now_s();
    sim.server_mut(server).reference_id = our_id();
    sim.server_mut(server).stratum = 4;
    let mut seen_at_s = None;
    let mut dropped_at_s = None;
    sim.run_until(switched_s + 2.0 * 1024.0 + 60.0, |sim| {
        if seen_at_s.is_none() && sim.engine.source(server).unwrap().in_sync_loop() {
            seen_at_s = Some(sim.now_s());
        }
        if dropped_at_s.is_none() && sim.engine.reference().is_none() {
            dropped_at_s = Some(sim.now_s());
        }
    });
    let seen_at_s = seen_at_s.expect("no reply said it is synchronised to us");
    let dropped_at_s = dropped_at_s.expect("the looping reference was kept");
    // Dropped at the next timer after the reply that showed the loop (its next
    // request), not at some later sample: there is none.
    let poll_s = 2f64.powi(sim.engine.source(server).unwrap().poll_state().poll() as i32);
    assert!(
        dropped_at_s >= seen_at_s && dropped_at_s - seen_at_s <= poll_s + 1.0,
        "loop seen at +{} s, reference dropped at +{} s, poll {poll_s} s",
        seen_at_s - switched_s,
        dropped_at_s - switched_s
    );
    assert_eq!(sim.engine.reference(), None);
    assert_eq!(served(&sim), (8, LOCAL_REFERENCE_ID));
}
