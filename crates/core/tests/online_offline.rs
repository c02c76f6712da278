//! chronyc's `offline`, `online` and `burst` on the engine, in closed loop (see
//! `harness`): an offline source sends nothing and its reachability register, cleared
//! once as chronyd 4.3 clears it, stays at zero; the clock coasts on its frequency
//! instead of claiming to be unsynchronised; `online` resumes polling at once (with
//! `iburst`, with a burst); a burst on an offline source returns it to offline.

mod harness;

use gnomon_core::engine::EngineConfig;
use gnomon_core::selection::SourceVerdict;
use gnomon_core::source::SourceId;
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::UnixTime;
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;
/// When [`synchronised`] hands over.
const SYNCED_S: f64 = START_S as f64 + 600.0;

fn server() -> VirtualServer {
    VirtualServer {
        jitter_s: 20e-6,
        ..Default::default()
    }
}

fn polled_every_16_s(iburst: bool) -> SourceOptions {
    SourceOptions {
        iburst,
        minpoll: 4,
        maxpoll: 4,
        ..Default::default()
    }
}

/// One source polled every 16 s, followed for 10 minutes.
fn synchronised(iburst: bool) -> (Harness, SourceId) {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.010, 5.0, 7);
    let id = sim.add_server(polled_every_16_s(iburst), server());
    sim.run_until(SYNCED_S, |_| {});
    assert!(sim.engine.system_variables().synchronized);
    assert_eq!(sim.engine.reference(), Some(id));
    assert_eq!(reach(&sim, id), 0xff);
    (sim, id)
}

fn reach(sim: &Harness, id: SourceId) -> u8 {
    sim.engine.source(id).unwrap().poll_state().reach()
}

/// The engine's clock reading now (the harness's clock: true time plus its error).
fn now(sim: &Harness) -> UnixTime {
    UnixTime::from_nanos(sim.true_ns + (sim.clock.error_s * 1e9).round() as i64)
}

#[test]
fn offline_source_sends_nothing_and_its_reach_stays_cleared() {
    let (mut sim, id) = synchronised(true);
    assert_eq!(sim.engine.set_offline(id), Some(true));
    assert_eq!(sim.engine.set_offline(id), Some(false), "offline already");
    assert_eq!(sim.engine.set_offline(SourceId(99)), None);
    let sent = sim.requests_to(id);
    let mut highest_reach = 0;
    sim.run_until(SYNCED_S + 3600.0, |h| {
        highest_reach = highest_reach.max(reach(h, id))
    });
    assert_eq!(sim.requests_to(id), sent, "requests while offline");
    assert_eq!(highest_reach, 0, "reach while offline");
    let source = sim.engine.source(id).unwrap();
    assert!(source.is_offline());
    assert_eq!(source.poll_state().next_send(), None);
    assert_eq!(sim.engine.next_deadline(), None, "nothing to wake up for");
    // Coasting, as chronyd does: still synchronised to the same reference, on the
    // frequency learnt, with the root dispersion growing.
    assert!(sim.engine.system_variables().synchronized);
    assert_eq!(sim.engine.reference(), Some(id));
    assert!(
        sim.clock_error_s().abs() < 0.002,
        "error after an hour offline: {}",
        sim.clock_error_s()
    );
}

#[test]
fn online_after_a_long_time_offline_polls_at_once() {
    let (mut sim, id) = synchronised(false);
    sim.engine.set_offline(id);
    sim.run_until(SYNCED_S + 600.0, |_| {});
    let sent = sim.requests_to(id);
    let at = now(&sim);
    assert_eq!(sim.engine.set_online(id, at), Some(true));
    assert_eq!(sim.engine.set_online(id, at), Some(false), "online already");
    // The last request left ten minutes ago, longer than the 16 s poll: send now.
    assert_eq!(sim.engine.next_deadline(), Some(at));
    sim.run_until(SYNCED_S + 601.0, |_| {});
    assert_eq!(sim.requests_to(id), sent + 1);
    assert_eq!(reach(&sim, id), 1);
    sim.run_until(SYNCED_S + 600.0 + 70.0, |_| {});
    assert_eq!(sim.requests_to(id), sent + 5, "every 16 s again");
    assert_eq!(reach(&sim, id), 0b1_1111);
    assert_eq!(sim.engine.reference(), Some(id));
    assert_eq!(
        sim.engine.selection().unwrap().verdict(id),
        Some(SourceVerdict::Selected)
    );
}

#[test]
fn online_soon_after_offline_keeps_the_poll_interval() {
    let (mut sim, id) = synchronised(false);
    let sent = sim.requests_to(id);
    let next_poll = sim.engine.next_deadline().unwrap();
    sim.engine.set_offline(id);
    sim.run_until(SYNCED_S + 2.0, |_| {});
    let at = now(&sim);
    sim.engine.set_online(id, at);
    // Not sooner than one poll interval after the last request: the schedule resumes.
    assert!(
        next_poll > at,
        "the next poll was due within 2 s; pick another moment"
    );
    assert_eq!(sim.engine.next_deadline(), Some(next_poll));
    sim.run_until(SYNCED_S + 20.0, |_| {});
    assert_eq!(sim.requests_to(id), sent + 1);
}

#[test]
fn offline_option_waits_for_online_which_repeats_the_iburst() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.010, 5.0, 8);
    let id = sim.add_server(
        SourceOptions {
            offline: true,
            iburst: true,
            ..Default::default()
        },
        server(),
    );
    sim.run_until(START_S as f64 + 3600.0, |_| {});
    assert_eq!(sim.requests_to(id), 0, "no initial burst while offline");
    assert!(!sim.engine.system_variables().synchronized);
    sim.engine.set_online(id, now(&sim));
    // iburst: four good samples 2 s apart, then the 64 s poll.
    sim.run_until(START_S as f64 + 3600.0 + 10.0, |_| {});
    assert_eq!(sim.requests_to(id), 4);
    assert_eq!(reach(&sim, id), 0b1111);
    assert!(sim.engine.system_variables().synchronized);
    assert_eq!(sim.engine.reference(), Some(id));
}

#[test]
fn burst_on_an_offline_source_returns_it_to_offline() {
    let (mut sim, id) = synchronised(true);
    sim.engine.set_offline(id);
    sim.run_until(SYNCED_S + 100.0, |_| {});
    let sent = sim.requests_to(id);
    let at = now(&sim);
    assert!(sim.engine.burst(id, at));
    assert!(!sim.engine.burst(SourceId(99), at));
    let source = sim.engine.source(id).unwrap();
    assert!(source.is_offline() && source.poll_state().in_burst());
    assert_eq!(
        sim.engine.next_deadline(),
        Some(at),
        "an offline burst starts at once"
    );
    let mut highest_reach = 0;
    sim.run_until(SYNCED_S + 100.0 + 3600.0, |h| {
        highest_reach = highest_reach.max(reach(h, id))
    });
    // Four good samples, then offline again: no more requests, register cleared.
    assert_eq!(sim.requests_to(id), sent + 4);
    // Requests 2 s apart, each answered before the next: the register holds 0b1110
    // just after the fourth request, and the fourth reply ends the burst and clears it.
    assert_eq!(highest_reach, 0b1110);
    let source = sim.engine.source(id).unwrap();
    assert!(source.is_offline() && !source.poll_state().in_burst());
    assert_eq!(reach(&sim, id), 0);
    assert!(sim.engine.system_variables().synchronized);
}

#[test]
fn an_offline_reference_gives_way_to_an_online_source() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.010, 5.0, 9);
    let a = sim.add_server(polled_every_16_s(true), server());
    let b = sim.add_server(polled_every_16_s(true), server());
    sim.run_until(SYNCED_S, |_| {});
    let reference = sim.engine.reference().expect("synchronised");
    let other = if reference == a { b } else { a };
    sim.engine.set_offline(reference);
    sim.run_until(SYNCED_S + 40.0, |_| {});
    assert_eq!(sim.engine.reference(), Some(other));
    assert_eq!(
        sim.engine.selection().unwrap().verdict(reference),
        Some(SourceVerdict::Unselectable)
    );
    // Back online: selectable again once it answers.
    sim.engine.set_online(reference, now(&sim));
    sim.run_until(SYNCED_S + 120.0, |_| {});
    assert_ne!(
        sim.engine.selection().unwrap().verdict(reference),
        Some(SourceVerdict::Unselectable)
    );
}

#[test]
fn online_with_iburst_repeats_the_burst() {
    let (mut sim, id) = synchronised(true);
    sim.engine.set_offline(id);
    sim.run_until(SYNCED_S + 600.0, |_| {});
    let sent = sim.requests_to(id);
    sim.engine.set_online(id, now(&sim));
    sim.run_until(SYNCED_S + 600.0 + 7.0, |_| {});
    assert_eq!(sim.requests_to(id), sent + 4, "four requests 2 s apart");
    assert_eq!(reach(&sim, id), 0b1111);
    assert!(!sim.engine.source(id).unwrap().poll_state().in_burst());
}
