//! Deterministic closed-loop tests: the engine disciplines a virtual clock against
//! virtual servers (see `harness`). Each test asserts on the true clock error, which
//! only the engine's actions change.

mod harness;

use gnomon_core::clock_action::LeapSecond;
use gnomon_core::discipline::{DisciplineOptions, MakeStep};
use gnomon_core::engine::{EngineConfig, EngineOutput};
use gnomon_core::selection::SourceVerdict;
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::{KissCode, LeapIndicator, NtpHeader, ReferenceId, UnixTime};
use harness::{Harness, VirtualServer};

/// 2026-11-28T00:00:00Z.
const START_S: i64 = 1_795_824_000;

#[test]
fn converges_from_offset_and_frequency_error() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.050, 40.0, 1);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            jitter_s: 50e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 6.0 * 3600.0, |_| {});
    let error = sim.clock_error_s();
    assert!(error.abs() < 300e-6, "clock error after 6 h: {error}");
    let frequency = sim.engine.saved_frequency().frequency_ppm;
    assert!(
        (frequency + 40.0).abs() < 0.5,
        "frequency correction {frequency}"
    );
    assert!(
        sim.steps().is_empty(),
        "no makestep configured, yet stepped"
    );
    // Later half: it stays there.
    let mut worst = 0.0f64;
    sim.run_until(START_S as f64 + 12.0 * 3600.0, |h| {
        worst = worst.max(h.clock_error_s().abs())
    });
    assert!(worst < 300e-6, "worst error in hours 6..12: {worst}");
}

#[test]
fn makestep_steps_once_then_slews() {
    let config = EngineConfig {
        discipline: DisciplineOptions {
            makestep: Some(MakeStep {
                threshold_s: 1.0,
                limit: 3,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sim = Harness::new(config, START_S, -12.5, 10.0, 2);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            jitter_s: 20e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 10.0, |_| {});
    let steps = sim.steps();
    assert_eq!(steps.len(), 1, "steps {steps:?}");
    assert!((steps[0] - 12.5).abs() < 0.01, "step {}", steps[0]);
    assert!(
        sim.clock_error_s().abs() < 0.01,
        "error after step {}",
        sim.clock_error_s()
    );
    // A later offset of 2 s (over the threshold, past the limit) is slewed, not stepped.
    sim.run_until(START_S as f64 + 3600.0, |_| {});
    sim.clock.error_s += 2.0;
    sim.run_until(START_S as f64 + 3.0 * 3600.0, |_| {});
    assert_eq!(sim.steps().len(), 1, "stepped again: {:?}", sim.steps());
    assert!(
        sim.clock_error_s().abs() < 0.001,
        "slew did not finish: {}",
        sim.clock_error_s()
    );
}

#[test]
fn aws_like_fast_start_within_100us_in_30s() {
    let config = EngineConfig {
        discipline: DisciplineOptions {
            makestep: Some(MakeStep {
                threshold_s: 1.0,
                limit: 3,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sim = Harness::new(config, START_S, 0.5, 30.0, 3);
    sim.add_server(
        SourceOptions {
            iburst: true,
            prefer: true,
            minpoll: 4,
            maxpoll: 4,
            ..Default::default()
        },
        VirtualServer {
            one_way_delay_s: 50e-6,
            jitter_s: 5e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 30.0, |_| {});
    assert!(
        sim.clock_error_s().abs() < 100e-6,
        "error at 30 s: {}",
        sim.clock_error_s()
    );
    let mut sum_sq = 0.0;
    let mut count = 0.0;
    sim.run_until(START_S as f64 + 3600.0, |h| {
        sum_sq += h.clock_error_s().powi(2);
        count += 1.0;
    });
    let rms = (sum_sq / count).sqrt();
    assert!(rms < 20e-6, "rms after convergence {rms}");
}

#[test]
fn falseticker_is_never_selected() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.002, -15.0, 4);
    let options = SourceOptions {
        iburst: true,
        ..Default::default()
    };
    let mut ids = Vec::new();
    for (one_way_ms, offset_s) in [(5.0, 0.0), (15.0, 0.0), (25.0, 0.0), (40.0, 0.050)] {
        ids.push(sim.add_server(
            options.clone(),
            VirtualServer {
                one_way_delay_s: one_way_ms * 1e-3,
                jitter_s: 0.5e-3,
                offset_s,
                ..Default::default()
            },
        ));
    }
    let falseticker = ids[3];
    let mut bad_choices = 0;
    let mut rejected_seen = false;
    let mut sum_sq = 0.0;
    let mut count = 0.0;
    sim.run_until(START_S as f64 + 6.0 * 3600.0, |h| {
        if let Some(selection) = h.engine.selection() {
            match selection.verdict(falseticker) {
                Some(SourceVerdict::Selected | SourceVerdict::Combined) => bad_choices += 1,
                Some(SourceVerdict::Falseticker) => rejected_seen = true,
                _ => {}
            }
        }
        if h.now_s() > START_S as f64 + 3600.0 {
            sum_sq += h.clock_error_s().powi(2);
            count += 1.0;
        }
    });
    assert_eq!(bad_choices, 0, "the falseticker was used");
    assert!(rejected_seen, "the falseticker was never even judged");
    let rms = (sum_sq / count).sqrt();
    assert!(rms < 1e-3, "rms {rms}");
}

#[test]
fn holdover_keeps_frequency_and_grows_dispersion() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.0, 25.0, 5);
    let id = sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            jitter_s: 10e-6,
            ..Default::default()
        },
    );
    let lost_at_s = START_S as f64 + 4.0 * 3600.0;
    sim.run_until(lost_at_s, |_| {});
    let frequency_before = sim.engine.saved_frequency().frequency_ppm;
    let system_before = *sim.engine.system_variables();
    let updates_before = sim.outputs_log.len();
    sim.server_mut(id).answering = false;
    sim.run_until(lost_at_s + 3.0 * 3600.0, |_| {});
    let new_updates = sim.outputs_log[updates_before..]
        .iter()
        .filter(|(_, o)| matches!(o, EngineOutput::Updated { .. }))
        .count();
    assert!(new_updates <= 1, "updates without a server: {new_updates}");
    assert_eq!(sim.engine.saved_frequency().frequency_ppm, frequency_before);
    assert!(!sim.engine.source(id).unwrap().poll_state().is_reachable());
    assert!(sim.requests_to(id) > 0);
    // Holding the learnt frequency keeps the clock close for hours.
    assert!(
        sim.clock_error_s().abs() < 1e-3,
        "drifted {}",
        sim.clock_error_s()
    );
    assert!(
        (sim.clock.correction_ppm + 25.0).abs() < 0.1,
        "frequency not held: {}",
        sim.clock.correction_ppm
    );
    let now = UnixTime::from_nanos(sim.true_ns);
    let grown = sim.engine.system_variables().root_dispersion_at_s(now);
    assert!(
        grown > system_before.root_dispersion_s + 3.0 * 3600.0 * 1e-6,
        "root dispersion {grown} did not grow from {}",
        system_before.root_dispersion_s
    );
    let bound = sim.engine.clock_error_bound(now);
    assert!(
        bound.bound_s >= sim.clock_error_s().abs(),
        "bound {} misses error",
        bound.bound_s
    );
}

#[test]
fn kiss_of_death_rate_backs_off_and_deny_stops() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.0, 0.0, 6);
    let fixed = SourceOptions {
        minpoll: 6,
        maxpoll: 6,
        ..Default::default()
    };
    let rate = sim.add_server(
        fixed.clone(),
        VirtualServer {
            kiss: Some(KissCode::Rate),
            ..Default::default()
        },
    );
    let deny = sim.add_server(
        fixed.clone(),
        VirtualServer {
            kiss: Some(KissCode::Deny),
            ..Default::default()
        },
    );
    let normal = sim.add_server(fixed, VirtualServer::default());
    sim.run_until(START_S as f64 + 4.0 * 3600.0, |_| {});
    // 4 h at minpoll 6 would be 225 requests; each RATE doubles the interval.
    assert!(sim.requests_to(normal) > 200);
    assert!(
        sim.requests_to(rate) < 12,
        "RATE ignored: {} requests",
        sim.requests_to(rate)
    );
    assert!(sim.engine.source(rate).unwrap().poll_state().poll() >= 12);
    assert_eq!(sim.requests_to(deny), 1, "DENY must stop the source");
    assert!(sim
        .outputs_log
        .iter()
        .any(|(_, o)| matches!(o, EngineOutput::SourceStopped { source, .. } if *source == deny)));
}

/// 2026-06-29T20:00:00Z: the day before a possible leap second.
const JUNE_29_2026_20H_S: i64 = 1_782_763_200;
const JUNE_30_2026_S: i64 = 1_782_777_600;

fn leap_sim(announcing: usize) -> (Harness, Vec<f64>) {
    let mut sim = Harness::new(EngineConfig::default(), JUNE_29_2026_20H_S, 0.0, 0.0, 7);
    for i in 0..3 {
        let leap = if i < announcing {
            LeapIndicator::InsertSecond
        } else {
            LeapIndicator::NoWarning
        };
        sim.add_server(
            SourceOptions {
                iburst: true,
                ..Default::default()
            },
            VirtualServer {
                leap,
                jitter_s: 10e-6,
                ..Default::default()
            },
        );
    }
    let mut armed_at = Vec::new();
    sim.run_until(JUNE_30_2026_S as f64 + 7200.0, |h| {
        if h.clock.leap == LeapSecond::Insert && armed_at.is_empty() {
            armed_at.push(h.now_s());
        }
    });
    (sim, armed_at)
}

#[test]
fn leap_from_majority_is_armed_on_june_30_only() {
    let (sim, armed_at) = leap_sim(2);
    assert_eq!(armed_at.len(), 1, "leap never armed");
    assert!(
        armed_at[0] >= JUNE_30_2026_S as f64,
        "armed on June 29 at {}",
        armed_at[0]
    );
    assert!(
        armed_at[0] < JUNE_30_2026_S as f64 + 1100.0,
        "armed late: {}",
        armed_at[0]
    );
    assert_eq!(
        sim.engine.system_variables().leap,
        LeapIndicator::InsertSecond
    );
    // Clients are told too.
    let request = NtpHeader::client_request(gnomon_proto::NtpTimestamp::from_bits(1), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    assert_eq!(reply.leap, LeapIndicator::InsertSecond);
}

#[test]
fn leap_is_announced_to_clients_before_the_day_but_armed_only_on_it() {
    let mut sim = Harness::new(EngineConfig::default(), JUNE_29_2026_20H_S, 0.0, 0.0, 9);
    for announcing in [true, true, false] {
        sim.add_server(
            SourceOptions {
                iburst: true,
                ..Default::default()
            },
            VirtualServer {
                leap: if announcing {
                    LeapIndicator::InsertSecond
                } else {
                    LeapIndicator::NoWarning
                },
                jitter_s: 10e-6,
                ..Default::default()
            },
        );
    }
    sim.run_until(JUNE_29_2026_20H_S as f64 + 600.0, |_| {});
    assert_eq!(sim.clock.leap, LeapSecond::None, "armed on June 29");
    let request = NtpHeader::client_request(gnomon_proto::NtpTimestamp::from_bits(1), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    assert_eq!(reply.leap, LeapIndicator::InsertSecond);
    // After the month (no new update needed), the warning is gone.
    let july = UnixTime::from_secs(JUNE_30_2026_S + 86_400 + 10);
    let reply = sim.engine.build_reply(&request, july, july).unwrap();
    assert_eq!(reply.leap, LeapIndicator::NoWarning);
}

#[test]
fn leap_from_a_minority_is_ignored() {
    let (sim, armed_at) = leap_sim(1);
    assert!(armed_at.is_empty(), "armed on a minority's word");
    assert_eq!(sim.engine.system_variables().leap, LeapIndicator::NoWarning);
}

#[test]
fn serving_unsynchronized_and_local_stratum() {
    let request = NtpHeader::client_request(gnomon_proto::NtpTimestamp::from_bits(9), 6);
    let now = UnixTime::from_secs(START_S);
    let mut plain = gnomon_core::engine::Engine::new(EngineConfig::default(), [7; 32]);
    plain.start(now);
    let reply = plain.build_reply(&request, now, now).unwrap();
    assert_eq!(reply.leap, LeapIndicator::Unsynchronized);
    assert_eq!(reply.stratum, 16);

    let config = EngineConfig {
        local_stratum: Some(gnomon_core::system::LocalStratum {
            stratum: 8,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut local = gnomon_core::engine::Engine::new(config, [7; 32]);
    local.start(now);
    let reply = local.build_reply(&request, now, now).unwrap();
    assert_eq!(reply.leap, LeapIndicator::NoWarning);
    assert_eq!(reply.stratum, 8);
    assert_eq!(reply.reference_id, gnomon_core::system::LOCAL_REFERENCE_ID);
    assert!(
        !local.clock_error_bound(now).synchronized,
        "local time is no bound on true time"
    );
}

#[test]
fn synced_client_serves_its_source_stratum_plus_one() {
    let mut sim = Harness::new(EngineConfig::default(), START_S, 0.001, 5.0, 8);
    sim.add_server(
        SourceOptions {
            iburst: true,
            ..Default::default()
        },
        VirtualServer {
            stratum: 2,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 600.0, |_| {});
    let request = NtpHeader::client_request(gnomon_proto::NtpTimestamp::from_bits(9), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    assert_eq!(reply.stratum, 3);
    assert_eq!(reply.leap, LeapIndicator::NoWarning);
    assert_eq!(reply.reference_id, ReferenceId::from_u32(0x0a00_0001));
    assert!(reply.root_delay.as_seconds_f64() >= 0.001);
    let bound = sim.engine.clock_error_bound(now);
    assert!(bound.synchronized);
    assert!(
        bound.bound_s >= sim.clock_error_s().abs() && bound.bound_s < 0.01,
        "{bound:?}"
    );
}
