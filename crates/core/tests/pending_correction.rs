//! A correction years long (issue 19 items 5 and 6): a source 315,360,000 s (ten
//! years) away without makestep is slewed at maxslewrate for about 130 years. The slew's
//! end time used to be an NTP duration (±68 years), which saturated at 2^31 s, so the
//! pending correction read as 165,191,049.8 s forever; the error interval must contain
//! the truth.

use gnomon_core::clock_discipline::ClockDiscipline;
use gnomon_core::discipline::{Discipline, DisciplineInput, DisciplineOptions, UpdateOutcome};
use gnomon_core::system::ClockErrorBound;
use gnomon_proto::UnixTime;

const OFFSET_S: f64 = 315_360_000.0;

fn input(offset_s: f64) -> DisciplineInput {
    DisciplineInput {
        offset_s,
        offset_error_s: 1e-4,
        frequency_ppm: 0.0,
        skew_ppm: 1e6,
        poll_interval_s: 64.0,
    }
}

#[test]
fn a_ten_year_correction_is_pending_in_full() {
    let now = UnixTime::from_secs(1_800_000_000);
    let mut discipline = Discipline::new(DisciplineOptions::default(), None);
    let mut actions = Vec::new();
    let (outcome, _) = discipline.update(now, &input(OFFSET_S), &mut actions);
    let UpdateOutcome::Slewed { duration_s, .. } = outcome else {
        panic!("{outcome:?}")
    };
    // r D / (1 + r) = offset at r = 0.0833: D = 13 x the offset, about 130 years.
    assert!((duration_s / OFFSET_S - 13.0).abs() < 1e-3, "{duration_s}");
    let pending_s = discipline.remaining_correction_s(now);
    assert!((pending_s - OFFSET_S).abs() < 1e-3, "{pending_s}");
    let end = discipline.next_deadline().expect("a slew");
    assert!(
        (end.as_secs_f64() - now.as_secs_f64() - duration_s).abs() < 1e-3,
        "the end is not saturated"
    );
    // A day later a day's worth at the maximum rate has been corrected.
    let day_later = UnixTime::from_secs(1_800_000_000 + 86_400);
    let rate = 83_333.333e-6;
    let expected_s = OFFSET_S - rate / (1.0 + rate) * 86_400.0;
    let pending_s = discipline.remaining_correction_s(day_later);
    assert!((pending_s - expected_s).abs() < 1e-3, "{pending_s}");
    // The corrected reading is the truth (the source's time).
    let corrected = discipline.corrected_time(now);
    assert!((corrected.as_secs_f64() - now.as_secs_f64() - OFFSET_S).abs() < 1e-3);
}

#[test]
fn the_interval_and_the_reading_bound_hold_the_pending_correction() {
    let now = UnixTime::from_secs(1_800_000_000);
    let bound = ClockErrorBound {
        now,
        offset_s: OFFSET_S,
        bound_s: 0.005,
        synchronized: true,
    };
    let (earliest, latest) = bound.interval();
    let truth = now.as_secs_f64() + OFFSET_S;
    assert!(earliest.as_secs_f64() <= truth && truth <= latest.as_secs_f64());
    assert!((latest.as_secs_f64() - earliest.as_secs_f64() - 0.01).abs() < 1e-6);
    // The clock's own reading is ten years slow: its bound covers them.
    assert!((bound.reading_bound_s() - (OFFSET_S + 0.005)).abs() < 1e-9);
    let slow = ClockErrorBound {
        offset_s: -OFFSET_S,
        ..bound
    };
    assert!((slow.reading_bound_s() - (OFFSET_S + 0.005)).abs() < 1e-9);
    // Far beyond an NTP duration's 68 years, still no saturation.
    let far = ClockErrorBound {
        offset_s: 3.0e9,
        ..bound
    };
    let (_, latest) = far.interval();
    assert!((latest.as_secs_f64() - now.as_secs_f64() - 3.0e9).abs() < 1.0);
}
