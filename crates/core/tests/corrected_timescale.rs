//! Sources are measured against the corrected clock (reading + correction still to
//! be slewed), so a slew in progress never leaks into a source's estimate: a source
//! whose first sample arrives in the middle of the initial fast slew gets the same
//! view of the clock as the sources heard before it (docs/accuracy.md, the
//! internet-pool falseticker bug).
//!
//! What a host serves, though, is its clock's reading, off by the correction still to
//! be slewed: the root dispersion it serves must cover that, or its clients' bounds
//! are too small (crates/sim's vpc-master, docs/accuracy.md "Bounded time"). The
//! local bound, centred on the corrected reading, must not count it twice, and once
//! the correction is made it leaves what is served.

mod harness;

use gnomon_core::engine::EngineConfig;
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::{NtpDuration, NtpHeader, NtpTimestamp, UnixTime};
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;

#[test]
fn a_source_first_heard_during_a_slew_gets_a_sane_frequency_and_offset() {
    // 0.2 s off and no makestep: the first update slews at maxslewrate (83 333 ppm).
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.2, 0.0, 7);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer::default(),
    );
    let mut t = START_S as f64;
    while sim.engine.discipline().slew_rate_ppm().abs() < 10_000.0 {
        t += 0.05;
        assert!(t < START_S as f64 + 30.0, "no fast slew started");
        sim.run_until(t, |_| {});
    }
    // A second server, polled rarely, is heard for the first time mid-slew.
    let late = sim.add_server(
        SourceOptions {
            minpoll: 10,
            maxpoll: 10,
            ..Default::default()
        },
        VirtualServer::default(),
    );
    sim.run_until(t + 0.1, |_| {});
    assert_eq!(
        sim.engine.source(late).unwrap().estimator().sample_count(),
        1
    );
    assert!(sim.engine.discipline().slew_rate_ppm().abs() > 10_000.0);

    // Long after that slew ended, the one sample still describes the clock: its
    // frequency is the clock's (0 ppm here, give or take the base frequency
    // corrections made since), not minus the slew rate it was taken under.
    sim.run_until(t + 30.0, |_| {});
    let estimate = *sim.engine.source(late).unwrap().estimate().unwrap();
    assert_eq!(estimate.samples_used, 1);
    assert!(
        estimate.frequency_ppm.abs() < 50.0,
        "frequency of a source first heard mid-slew: {estimate:?}"
    );
    let now = UnixTime::from_nanos(sim.true_ns);
    let remaining_s = sim.engine.discipline().remaining_correction_s(now);
    let corrected_now = now.add(NtpDuration::from_seconds_f64(remaining_s));
    let candidate = sim
        .engine
        .source(late)
        .unwrap()
        .selection_candidate(corrected_now, 1.0)
        .unwrap();
    // Source minus clock reading, predicted, against the truth.
    let predicted_s = candidate.offset_s + remaining_s;
    assert!(
        (predicted_s + sim.clock_error_s()).abs() < 1e-3,
        "predicted {predicted_s}, clock error {}",
        sim.clock_error_s()
    );
}

/// chronyc's `makestep` steps the correction still being slewed: the corrected
/// timescale (and every history) stays put, while what runs on the clock's reading
/// moves with it, so the next poll is still due at the same true time.
#[test]
fn make_step_moves_the_poll_schedule_with_the_reading() {
    use gnomon_core::clock_action::ClockAction;
    use gnomon_core::engine::EngineOutput;
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.2, 0.0, 8);
    let id = sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer::default(),
    );
    let mut t = START_S as f64;
    while sim.engine.discipline().slew_rate_ppm().abs() < 10_000.0 {
        t += 0.05;
        assert!(t < START_S as f64 + 30.0, "no fast slew started");
        sim.run_until(t, |_| {});
    }
    let now = UnixTime::from_nanos(sim.true_ns + (sim.clock_error_s() * 1e9).round() as i64);
    let pending_s = sim.engine.discipline().remaining_correction_s(now);
    let next_send = sim
        .engine
        .source(id)
        .unwrap()
        .poll_state()
        .next_send()
        .unwrap();
    let samples_before: Vec<_> = sim.engine.source(id).unwrap().estimator().samples();
    let outputs = sim.engine.make_step(now);
    let step_s = outputs
        .iter()
        .find_map(|o| match o {
            EngineOutput::Clock(ClockAction::Step { offset_s }) => Some(*offset_s),
            _ => None,
        })
        .expect("a step");
    assert!((step_s - pending_s).abs() < 1e-9);
    let moved_s = sim
        .engine
        .source(id)
        .unwrap()
        .poll_state()
        .next_send()
        .unwrap()
        .duration_since(next_send)
        .as_seconds_f64();
    assert!(
        (moved_s - pending_s).abs() < 1e-6,
        "poll moved {moved_s}, step {pending_s}"
    );
    let samples_after: Vec<_> = sim.engine.source(id).unwrap().estimator().samples();
    assert_eq!(samples_before, samples_after, "histories must not move");
}

/// A host 20 ms off, caught in the middle of the fast slew of its first update.
fn mid_slew(seed: u64) -> Harness {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.02, 0.0, seed);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer::default(),
    );
    let mut t = START_S as f64;
    while sim.engine.discipline().slew_rate_ppm().abs() < 10_000.0 {
        t += 0.01;
        assert!(t < START_S as f64 + 30.0, "no fast slew started");
        sim.run_until(t, |_| {});
    }
    sim
}

fn reading(sim: &Harness) -> UnixTime {
    UnixTime::from_nanos(sim.true_ns + (sim.clock_error_s() * 1e9).round() as i64)
}

/// Root delay / 2 + root dispersion of what the host serves at `now`.
fn served_distance_s(sim: &Harness, now: UnixTime) -> (f64, f64) {
    let request = NtpHeader::client_request(NtpTimestamp::from_bits(7), 6);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    let dispersion_s = reply.root_dispersion.as_seconds_f64();
    (
        reply.root_delay.as_seconds_f64() / 2.0 + dispersion_s,
        dispersion_s,
    )
}

#[test]
fn the_served_root_dispersion_covers_the_correction_still_to_be_slewed() {
    let sim = mid_slew(3);
    let now = reading(&sim);
    let pending_s = sim.engine.discipline().remaining_correction_s(now).abs();
    assert!(pending_s > 0.01, "{pending_s}");
    // What a client measures is the reading, still about `pending_s` from the truth.
    let error_s = sim.clock_error_s().abs();
    assert!(error_s > 0.01, "{error_s}");
    let (distance_s, dispersion_s) = served_distance_s(&sim, now);
    assert!(
        dispersion_s >= pending_s,
        "served {dispersion_s}, pending {pending_s}"
    );
    assert!(
        distance_s >= error_s,
        "served {distance_s}, error {error_s}"
    );
    // Counted at the update, when there was more of it left.
    let system = sim.engine.system_variables();
    assert!(
        system.pending_correction_s >= pending_s
            && system.pending_correction_s <= system.root_dispersion_s,
        "{system:?}"
    );

    // The local bound covers the reading too, counting the pending correction once.
    let bound = sim.engine.clock_error_bound(now);
    assert!(bound.synchronized);
    let half_width_s = bound.bound_s + bound.offset_s.abs();
    assert!(half_width_s >= error_s, "{bound:?}, error {error_s}");
    assert!(
        bound.bound_s < 0.005,
        "the bound around the corrected reading must not include the pending correction: {bound:?}"
    );
    assert!(
        half_width_s <= distance_s + 1e-6,
        "{bound:?}, served {distance_s}"
    );
}

#[test]
fn once_the_correction_is_made_it_leaves_the_served_root_dispersion() {
    // Stepped away (chronyc makestep).
    let mut sim = mid_slew(4);
    let now = reading(&sim);
    assert!(served_distance_s(&sim, now).1 > 0.01);
    assert!(!sim.engine.make_step(now).is_empty());
    let (_, dispersion_s) = served_distance_s(&sim, reading(&sim));
    assert!(dispersion_s < 0.005, "{dispersion_s}");
    assert_eq!(sim.engine.system_variables().pending_correction_s, 0.0);

    // Slewed away: the slew's end takes it out.
    let mut sim = mid_slew(5);
    assert!(served_distance_s(&sim, reading(&sim)).1 > 0.01);
    let mut t = sim.now_s();
    while sim.engine.discipline().slew_rate_ppm().abs() >= 10_000.0 {
        t += 0.01;
        assert!(t < START_S as f64 + 60.0, "the slew did not end");
        sim.run_until(t, |_| {});
    }
    let now = reading(&sim);
    let (_, dispersion_s) = served_distance_s(&sim, now);
    let pending_s = sim.engine.discipline().remaining_correction_s(now).abs();
    assert!(
        dispersion_s < 0.005 + pending_s,
        "{dispersion_s}, pending now {pending_s}"
    );
}
