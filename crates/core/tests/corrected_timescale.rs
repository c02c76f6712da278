//! Sources are measured against the corrected clock (reading + correction still to
//! be slewed), so a slew in progress never leaks into a source's estimate: a source
//! whose first sample arrives in the middle of the initial fast slew gets the same
//! view of the clock as the sources heard before it (docs/accuracy.md, the
//! internet-pool falseticker bug).

mod harness;

use gnomon_core::engine::EngineConfig;
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::{NtpDuration, UnixTime};
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
    let samples_before: Vec<_> = sim
        .engine
        .source(id)
        .unwrap()
        .estimator()
        .samples()
        .copied()
        .collect();
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
    let samples_after: Vec<_> = sim
        .engine
        .source(id)
        .unwrap()
        .estimator()
        .samples()
        .copied()
        .collect();
    assert_eq!(samples_before, samples_after, "histories must not move");
}
