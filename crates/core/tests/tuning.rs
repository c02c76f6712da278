//! chrony's selection and clock tuning directives, by their effect on the engine
//! (the daemon's mapping of each directive is tested in engine_config.rs):
//! `maxdrift`, `maxupdateskew`, `corrtimeratio`, `maxclockerror`, `clockprecision`
//! (the precision served), `combinelimit`, `stratumweight`, `reselectdist`
//! (`maxjitter`: selection_tests.rs).

mod harness;

use gnomon_core::clock_discipline::ClockDiscipline;
use gnomon_core::discipline::{Discipline, DisciplineInput, DisciplineOptions, UpdateOutcome};
use gnomon_core::engine::EngineConfig;
use gnomon_core::selection::{select, SelectionOptions, SourceVerdict};
use gnomon_core::source::{SelectionCandidate, SourceId};
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::{LeapIndicator, NtpHeader, NtpTimestamp, ReferenceId, UnixTime};
use harness::{Harness, VirtualServer};

/// 2026-12-04T00:00:00Z.
const START_S: i64 = 1_796_342_400;

fn one_server_for_an_hour(config: EngineConfig, intrinsic_ppm: f64) -> Harness {
    let mut sim = Harness::new(config, START_S, 0.0, intrinsic_ppm, 5);
    sim.add_server(
        SourceOptions {
            iburst: true,
            minpoll: 4,
            maxpoll: 4,
            ..Default::default()
        },
        VirtualServer {
            jitter_s: 10e-6,
            ..Default::default()
        },
    );
    sim.run_until(START_S as f64 + 3600.0, |_| {});
    sim
}

#[test]
fn maxdrift_caps_the_frequency_correction() {
    // The clock runs 50 ppm fast: the correction wants -50 ppm.
    let free = one_server_for_an_hour(EngineConfig::default(), 50.0);
    assert!((free.engine.discipline().base_frequency_ppm() + 50.0).abs() < 0.5);
    let mut config = EngineConfig::default();
    config.discipline.max_frequency_ppm = 10.0;
    let capped = one_server_for_an_hour(config, 50.0);
    assert_eq!(capped.engine.discipline().base_frequency_ppm(), -10.0);
}

#[test]
fn maxupdateskew_keeps_uncertain_estimates_from_moving_the_frequency() {
    let mut config = EngineConfig::default();
    // No estimate is ever this certain: the frequency stays where it started.
    config.discipline.maxupdateskew_ppm = 1e-9;
    let sim = one_server_for_an_hour(config, 5.0);
    assert!(sim.engine.discipline().updates() > 100);
    assert_eq!(sim.engine.discipline().base_frequency_ppm(), 0.0);
    let learnt = one_server_for_an_hour(EngineConfig::default(), 5.0);
    assert!((learnt.engine.discipline().base_frequency_ppm() + 5.0).abs() < 0.5);
}

fn slew_duration_s(corrtimeratio: f64) -> f64 {
    let options = DisciplineOptions {
        corrtimeratio,
        ..DisciplineOptions::default()
    };
    let mut discipline = Discipline::new(options, None);
    let input = DisciplineInput {
        offset_s: 100e-6,
        offset_error_s: 10e-6,
        frequency_ppm: 0.0,
        skew_ppm: 1.0,
        poll_interval_s: 64.0,
    };
    let now = UnixTime::from_secs(START_S);
    match discipline.update(now, &input, &mut Vec::new()).0 {
        UpdateOutcome::Slewed { duration_s, .. } => duration_s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrtimeratio_sets_how_long_an_offset_takes_to_slew() {
    // chrony: about corrtimeratio × update interval × noise / offset.
    let chrony = slew_duration_s(3.0);
    let slower = slew_duration_s(30.0);
    assert!(
        (chrony - 3.0 * 0.5 * 10e-6 * 64.0 / 100e-6).abs() < 0.1,
        "{chrony}"
    );
    assert!((slower / chrony - 10.0).abs() < 0.1, "{slower} vs {chrony}");
}

#[test]
fn maxclockerror_grows_the_root_dispersion_faster() {
    let rate = |max_clock_error_ppm: f64| {
        let config = EngineConfig {
            max_clock_error_ppm,
            ..EngineConfig::default()
        };
        one_server_for_an_hour(config, 5.0)
            .engine
            .system_variables()
            .dispersion_rate_ppm
    };
    let (chrony, looser) = (rate(1.0), rate(100.0));
    assert!(looser - chrony > 90.0, "{chrony} vs {looser}");
}

#[test]
fn clockprecision_is_the_precision_served() {
    let config = EngineConfig {
        precision_log2: -20,
        ..EngineConfig::default()
    };
    let sim = one_server_for_an_hour(config, 5.0);
    let request = NtpHeader::client_request(NtpTimestamp::from_bits(7), 6);
    let now = UnixTime::from_nanos(sim.true_ns);
    let reply = sim.engine.build_reply(&request, now, now).unwrap();
    assert_eq!(reply.precision, -20);
}

fn candidate(id: u32, distance_s: f64, stratum: u8) -> SelectionCandidate {
    SelectionCandidate {
        id: SourceId(id),
        offset_s: 0.0,
        root_distance_s: distance_s,
        root_delay_s: distance_s,
        root_dispersion_s: distance_s / 2.0,
        offset_sd_s: distance_s / 10.0,
        offset_error_s: distance_s / 30.0,
        frequency_ppm: 0.0,
        skew_ppm: 0.1,
        stratum,
        leap: LeapIndicator::NoWarning,
        reference_id: ReferenceId::from_u32(id),
        prefer: false,
        noselect: false,
        trust: false,
        require: false,
        reachable: true,
        reach: 0xff,
        reach_size: 8,
        regression_ok: true,
    }
}

#[test]
fn combinelimit_decides_which_sources_are_combined() {
    let sources = [candidate(1, 0.010, 2), candidate(2, 0.020, 2)];
    let chrony = select(&sources, &SelectionOptions::default(), None, None);
    assert_eq!(chrony.verdict(SourceId(2)), Some(SourceVerdict::Combined));
    let alone = SelectionOptions {
        combinelimit: 0.0,
        ..SelectionOptions::default()
    };
    let result = select(&sources, &alone, None, None);
    assert_eq!(result.verdict(SourceId(1)), Some(SourceVerdict::Selected));
    assert_eq!(
        result.verdict(SourceId(2)),
        Some(SourceVerdict::NotCombined)
    );
}

#[test]
fn stratumweight_prefers_lower_strata() {
    // Stratum 3 at 5 ms against stratum 1 at 10 ms.
    let sources = [candidate(1, 0.010, 1), candidate(2, 0.005, 3)];
    let chrony = select(&sources, &SelectionOptions::default(), None, None);
    assert_eq!(chrony.combined.unwrap().reference, SourceId(2));
    let heavy = SelectionOptions {
        stratumweight_s: 0.01,
        ..SelectionOptions::default()
    };
    let result = select(&sources, &heavy, None, None);
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
}

#[test]
fn reselectdist_is_the_margin_a_new_reference_needs() {
    // Source 2 is 1 ms closer than the current reference 1.
    let sources = [candidate(1, 0.011, 2), candidate(2, 0.010, 2)];
    let chrony = select(
        &sources,
        &SelectionOptions::default(),
        Some(SourceId(1)),
        None,
    );
    assert_eq!(chrony.combined.unwrap().reference, SourceId(2));
    let sticky = SelectionOptions {
        reselectdist_s: 0.002,
        ..SelectionOptions::default()
    };
    let result = select(&sources, &sticky, Some(SourceId(1)), None);
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
}
