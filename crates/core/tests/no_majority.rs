//! When selection finds no majority the engine is no longer synchronised (chrony:
//! "Can't synchronise: no majority"): no reference, `SetSynchronized { false }` for
//! the kernel, stratum 16 served, unless the `local` reference takes over. The clock
//! is held (frequency kept), as in any holdover.

mod harness;

use gnomon_core::clock_action::ClockAction;
use gnomon_core::engine::{EngineConfig, EngineOutput};
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::{LocalStratum, LOCAL_REFERENCE_ID};
use gnomon_proto::{LeapIndicator, NtpHeader, NtpTimestamp, UnixTime};
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;

/// One good server and one 50 ms off that starts answering only after two minutes
/// ([`run_with_late_liar`]): the good one is selectable alone first (an update,
/// synchronised), then the liar's third sample leaves two sources that disagree. (Had
/// both answered from the start, selection would have waited for the second source's
/// samples, chrony's start-up rule, and never synchronised at all.)
fn two_disagreeing(config: EngineConfig) -> Harness {
    let mut sim = Harness::new(config, START_S, 0.001, 5.0, 11);
    let options = SourceOptions {
        iburst: true,
        minpoll: 4,
        maxpoll: 4,
        ..Default::default()
    };
    sim.add_server(
        options.clone(),
        VirtualServer {
            one_way_delay_s: 0.001,
            jitter_s: 10e-6,
            ..Default::default()
        },
    );
    sim.add_server(
        options,
        VirtualServer {
            one_way_delay_s: 0.005,
            jitter_s: 10e-6,
            offset_s: 0.050,
            answering: false,
            ..Default::default()
        },
    );
    sim
}

fn run_with_late_liar(sim: &mut Harness, mut observe: impl FnMut(&Harness)) {
    sim.run_until(START_S as f64 + 120.0, &mut observe);
    sim.servers[1].1.answering = true;
    sim.run_until(START_S as f64 + 600.0, &mut observe);
}

fn last_synchronized_action(sim: &Harness) -> Option<bool> {
    sim.outputs_log
        .iter()
        .rev()
        .find_map(|(_, output)| match output {
            EngineOutput::Clock(ClockAction::SetSynchronized { synchronized, .. }) => {
                Some(*synchronized)
            }
            _ => None,
        })
}

fn served(sim: &Harness) -> NtpHeader {
    let request = NtpHeader::client_request(NtpTimestamp::from_bits(9), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    sim.engine.build_reply(&request, now, now).unwrap()
}

#[test]
fn no_majority_means_unsynchronised_and_held() {
    let mut sim = two_disagreeing(EngineConfig::default());
    let mut was_synchronized = false;
    run_with_late_liar(&mut sim, |h| {
        was_synchronized |= h.engine.system_variables().synchronized;
    });
    assert!(
        was_synchronized,
        "never synchronised: the test proves nothing"
    );
    assert!(sim.engine.selection().unwrap().combined.is_none());
    assert_eq!(sim.engine.reference(), None);
    assert!(!sim.engine.system_variables().synchronized);
    assert_eq!(last_synchronized_action(&sim), Some(false));
    assert!(!sim.clock.synchronized);
    let now = UnixTime::from_nanos(sim.true_ns);
    assert!(!sim.engine.clock_error_bound(now).synchronized);
    let reply = served(&sim);
    assert_eq!(reply.leap, LeapIndicator::Unsynchronized);
    assert_eq!(reply.stratum, 16);
    // Holdover: the frequency learnt while synchronised stays applied.
    assert!(sim.engine.saved_frequency().frequency_ppm != 0.0);
    assert_eq!(
        sim.clock.correction_ppm,
        sim.engine.discipline().total_frequency_ppm()
    );
}

#[test]
fn no_majority_falls_back_to_the_local_reference() {
    let config = EngineConfig {
        local_stratum: Some(LocalStratum {
            stratum: 9,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut sim = two_disagreeing(config);
    run_with_late_liar(&mut sim, |_| {});
    assert_eq!(sim.engine.reference(), None);
    let system = sim.engine.system_variables();
    assert!(system.synchronized && system.local_reference);
    assert!(
        !sim.clock.synchronized,
        "local time is no bound on true time"
    );
    let reply = served(&sim);
    assert_eq!(reply.stratum, 9);
    assert_eq!(reply.reference_id, LOCAL_REFERENCE_ID);
    assert_eq!(reply.leap, LeapIndicator::NoWarning);
}
