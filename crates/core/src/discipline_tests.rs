//! Tests of the discipline: slews, steps, makestep, maxchange, the frequency gain.

use super::*;
use gnomon_proto::NtpDuration;

fn at(seconds: f64) -> UnixTime {
    UnixTime::from_secs(1_800_000_000).add(NtpDuration::from_seconds_f64(seconds))
}

fn input(offset_s: f64, frequency_ppm: f64, skew_ppm: f64) -> DisciplineInput {
    DisciplineInput {
        offset_s,
        offset_error_s: 1e-4,
        frequency_ppm,
        skew_ppm,
        poll_interval_s: 64.0,
    }
}

#[test]
fn step_now_turns_the_pending_slew_into_a_step() {
    let mut discipline = Discipline::new(DisciplineOptions::default(), None);
    assert_eq!(discipline.step_now(at(0.0)), None, "nothing pending");
    let mut actions = Vec::new();
    let (outcome, _) =
        discipline.update(at(0.0), &input(0.5, 0.0, WORST_CASE_SKEW_PPM), &mut actions);
    assert!(
        matches!(outcome, UpdateOutcome::Slewed { .. }),
        "{outcome:?}"
    );
    let pending_s = discipline.remaining_correction_s(at(0.1));
    assert!(pending_s > 0.1, "{pending_s}");
    let corrected_before = discipline.corrected_time(at(0.1));
    let [frequency, step] = discipline.step_now(at(0.1)).expect("a slew was pending");
    assert_eq!(
        step,
        ClockAction::Step {
            offset_s: pending_s
        }
    );
    assert_eq!(
        frequency,
        ClockAction::SetFrequency {
            frequency_ppm: discipline.base_frequency_ppm(),
            slew_ppm: 0.0
        }
    );
    assert_eq!(discipline.remaining_correction_s(at(0.1)), 0.0);
    assert_eq!(discipline.next_deadline(), None);
    // The reading jumps by the step; the corrected timescale stays where it was.
    let reading_after = at(0.1).add(NtpDuration::from_seconds_f64(pending_s));
    let moved_ns = discipline
        .corrected_time(reading_after)
        .duration_since(corrected_before)
        .as_nanos();
    assert!(moved_ns.abs() <= 1, "{moved_ns} ns");
}

#[test]
fn makestep_steps_within_limit_then_slews() {
    let options = DisciplineOptions {
        makestep: Some(MakeStep {
            threshold_s: 1.0,
            limit: 2,
        }),
        ..Default::default()
    };
    let mut discipline = Discipline::new(options, None);
    let mut actions = Vec::new();
    let (outcome, change) =
        discipline.update(at(0.0), &input(5.0, 0.0, WORST_CASE_SKEW_PPM), &mut actions);
    assert_eq!(outcome, UpdateOutcome::Stepped { offset_s: 5.0 });
    assert_eq!(change.step_s, 5.0);
    assert!(matches!(actions[0], ClockAction::Step { offset_s } if offset_s == 5.0));
    // Below the threshold: slew.
    let (outcome, _) = discipline.update(
        at(69.0),
        &input(0.5, 0.0, WORST_CASE_SKEW_PPM),
        &mut actions,
    );
    assert!(matches!(outcome, UpdateOutcome::Slewed { .. }));
    // Third update: over the threshold but past the limit: slew, at most maxslewrate.
    let (outcome, _) = discipline.update(
        at(133.0),
        &input(5.0, 0.0, WORST_CASE_SKEW_PPM),
        &mut actions,
    );
    let UpdateOutcome::Slewed { duration_s, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(duration_s >= 5.0 / 0.083_333_333 - 1e-6, "{duration_s}");
    assert!(discipline.slew_rate_ppm() <= 83_333.334);
}

#[test]
fn slew_removes_the_offset_and_ends() {
    let mut discipline = Discipline::new(DisciplineOptions::default(), None);
    let mut actions = Vec::new();
    let (outcome, change) = discipline.update(
        at(0.0),
        &input(0.001, 0.0, WORST_CASE_SKEW_PPM),
        &mut actions,
    );
    let UpdateOutcome::Slewed { duration_s, .. } = outcome else {
        panic!()
    };
    let end = discipline.next_deadline().unwrap();
    assert!((seconds_between(at(0.0), end) - duration_s).abs() < 1e-6);
    // The slew's integral is the offset.
    let rate = discipline.slew_rate_ppm() * 1e-6;
    assert!((rate * duration_s / (1.0 + rate) - 0.001).abs() < 1e-9);
    assert!((discipline.remaining_correction_s(at(0.0)) - 0.001).abs() < 1e-9);
    // The corrected timescale jumps by the whole correction at once, and runs
    // on at the base rate: at the slew's end it meets the clock's reading.
    assert!(
        (change.corrected_step_s - 0.001).abs() < 1e-12,
        "{change:?}"
    );
    assert_eq!(change.step_s, 0.0);
    let corrected = discipline.corrected_time(at(0.0));
    assert!((seconds_between(at(0.0), corrected) - 0.001).abs() < 1e-9);
    let midway = at(duration_s / 2.0);
    let corrected = discipline.corrected_time(midway);
    assert!((seconds_between(midway, corrected) - 0.0005).abs() < 1e-9);
    assert!(discipline.on_timer(at(0.0)).is_none());
    let (action, change) = discipline.on_timer(end).unwrap();
    assert_eq!(
        action,
        ClockAction::SetFrequency {
            frequency_ppm: 0.0,
            slew_ppm: 0.0
        }
    );
    assert!(change.is_none(), "ended on time: {change:?}");
    assert_eq!(discipline.corrected_time(end), end);
    assert_eq!(discipline.next_deadline(), None);
}

#[test]
fn a_slew_ended_late_moves_the_corrected_timescale_by_its_overshoot() {
    let mut discipline = Discipline::new(DisciplineOptions::default(), None);
    let mut actions = Vec::new();
    // 0.1 s, far above the noise: slewed at maxslewrate.
    discipline.update(at(0.0), &input(0.1, 0.0, WORST_CASE_SKEW_PPM), &mut actions);
    let rate = discipline.slew_rate_ppm() * 1e-6;
    assert!((rate - 0.083_333_333).abs() < 1e-9, "{rate}");
    let end = discipline.next_deadline().unwrap();
    // The driver wakes 1 ms late: the clock went on slewing meanwhile.
    let late = end.add_seconds_f64(0.001);
    let (_, change) = discipline.on_timer(late).unwrap();
    let overshoot_s = rate / (1.0 + rate) * 0.001;
    assert!(
        (change.corrected_step_s - overshoot_s).abs() < 1e-12,
        "{change:?}, want {overshoot_s}"
    );
    assert!(
        overshoot_s > 75e-6,
        "the case is worth testing: {overshoot_s}"
    );
    assert_eq!((change.rate_change, change.step_s), (0.0, 0.0));
}

#[test]
fn frequency_gain_follows_skews() {
    // No saved frequency: the first good estimate is taken almost fully.
    let mut discipline = Discipline::new(DisciplineOptions::default(), None);
    let mut actions = Vec::new();
    discipline.update(at(0.0), &input(0.0, 20.0, 1.0), &mut actions);
    assert!((discipline.base_frequency_ppm() - 20.0).abs() < 0.01);
    // A precise saved frequency resists a noisy estimate.
    let saved = SavedFrequency {
        frequency_ppm: 5.0,
        skew_ppm: 0.01,
    };
    let mut discipline = Discipline::new(DisciplineOptions::default(), Some(saved));
    discipline.update(at(0.0), &input(0.0, 10.0, 2.0), &mut actions);
    assert!((discipline.base_frequency_ppm() - 5.0).abs() < 0.01);
    // What it does not take is residual.
    let residual_ppm = discipline.state().residual_frequency_ppm;
    assert!((residual_ppm - (10.0 - discipline.base_frequency_ppm() + 5.0)).abs() < 1e-3);
    // An estimate over maxupdateskew does not move the frequency.
    let mut discipline = Discipline::new(DisciplineOptions::default(), None);
    discipline.update(at(0.0), &input(0.0, 10.0, 1500.0), &mut actions);
    assert_eq!(discipline.base_frequency_ppm(), 0.0);
    // The frequency is limited to maxdrift; the rest is left as residual.
    discipline.update(at(64.0), &input(0.0, 900.0, 1.0), &mut actions);
    assert_eq!(discipline.base_frequency_ppm(), 500.0);
    assert!((discipline.state().residual_frequency_ppm - 400.0).abs() < 1.0);
}

#[test]
fn frequency_gain_and_skew_follow_chrony() {
    // Equal skews: chrony's gain is 3/4.
    let saved = SavedFrequency {
        frequency_ppm: 10.0,
        skew_ppm: 1.0,
    };
    let mut discipline = Discipline::new(DisciplineOptions::default(), Some(saved));
    let mut actions = Vec::new();
    discipline.update(at(0.0), &input(0.0, 4.0, 1.0), &mut actions);
    // The estimate is per corrected second: 10 + 4 / (1 + 4e-6) ppm.
    let estimate_ppm = 10.0 + 4.0 / (1.0 + 4e-6);
    let expected_ppm = 10.0 + 0.75 * (estimate_ppm - 10.0);
    assert!(
        (discipline.base_frequency_ppm() - expected_ppm).abs() < 1e-9,
        "{}",
        discipline.base_frequency_ppm()
    );
    // Our skew: moved towards the estimate's (equal here) plus the disagreement,
    // sqrt(d_old² · 1/4 + d_new² · 3/4) with d_old = 3/4, d_new = 1/4 of the gap.
    let gap_ppm = estimate_ppm - 10.0;
    let expected_skew_ppm =
        1.0 + ((0.75 * gap_ppm).powi(2) * 0.25 + (0.25 * gap_ppm).powi(2) * 0.75).sqrt();
    assert!(
        (discipline.state().skew_ppm - expected_skew_ppm).abs() < 1e-9,
        "{}",
        discipline.state().skew_ppm
    );
    // An estimate that agrees leaves our skew where the estimate's is.
    let mut discipline = Discipline::new(DisciplineOptions::default(), Some(saved));
    discipline.update(at(0.0), &input(0.0, 0.0, 0.5), &mut actions);
    assert_eq!(discipline.base_frequency_ppm(), 10.0);
    let gain = 3.0 / 3.25;
    assert!((discipline.state().skew_ppm - (1.0 + gain * (0.5 - 1.0))).abs() < 1e-9);
}

#[test]
fn maxchange_ignores_then_gives_up() {
    let options = DisciplineOptions {
        maxchange: Some(MaxChange {
            offset_s: 0.1,
            start: 1,
            ignore: 2,
        }),
        ..Default::default()
    };
    let mut discipline = Discipline::new(options, None);
    let mut actions = Vec::new();
    // The first update is before `start`.
    assert!(matches!(
        discipline
            .update(at(0.0), &input(1.0, 0.0, 1.0), &mut actions)
            .0,
        UpdateOutcome::Slewed { .. }
    ));
    for i in 1..=2 {
        let (outcome, change) =
            discipline.update(at(64.0 * i as f64), &input(1.0, 0.0, 1.0), &mut actions);
        assert_eq!(outcome, UpdateOutcome::Ignored { offset_s: 1.0 });
        assert!(change.is_none());
    }
    let (outcome, _) = discipline.update(at(300.0), &input(1.0, 0.0, 1.0), &mut actions);
    assert_eq!(outcome, UpdateOutcome::MaxChangeExceeded { offset_s: 1.0 });
}
