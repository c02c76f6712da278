//! Tests of selection: intersection, falsetickers, options, combining, leap majority.

use super::*;
use proptest::prelude::*;

fn candidate(id: u32, offset_s: f64, distance_s: f64) -> SelectionCandidate {
    SelectionCandidate {
        id: SourceId(id),
        offset_s,
        root_distance_s: distance_s,
        root_delay_s: distance_s,
        root_dispersion_s: distance_s / 2.0,
        offset_sd_s: distance_s / 10.0,
        offset_error_s: distance_s / 30.0,
        frequency_ppm: 0.0,
        skew_ppm: 0.1,
        stratum: 2,
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
fn falseticker_is_rejected() {
    let sources = [
        candidate(1, 0.001, 0.010),
        candidate(2, -0.002, 0.020),
        candidate(3, 0.000, 0.040),
        candidate(4, 0.050, 0.005),
    ];
    let result = select(&sources, &SelectionOptions::default(), None, None);
    assert_eq!(
        result.verdict(SourceId(4)),
        Some(SourceVerdict::Falseticker)
    );
    let combined = result.combined.unwrap();
    assert_ne!(combined.reference, SourceId(4));
    assert!(combined.offset_s.abs() < 0.003, "{combined:?}");
}

#[test]
fn sources_without_a_regression_are_not_selectable() {
    let early = SelectionCandidate {
        regression_ok: false,
        ..candidate(2, 0.05, 0.01)
    };
    let result = select(
        &[candidate(1, 0.0, 0.01), early],
        &SelectionOptions::default(),
        None,
        None,
    );
    assert_eq!(
        result.verdict(SourceId(2)),
        Some(SourceVerdict::Unselectable)
    );
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
}

#[test]
fn start_up_waits_for_a_source_one_reply_behind() {
    // Three servers polled together; the falseticker's third reply came first.
    let first = SelectionCandidate {
        reach: 0b111,
        reach_size: 3,
        ..candidate(3, 0.005, 0.0001)
    };
    let behind = |id, reach| SelectionCandidate {
        reach,
        reach_size: 3,
        regression_ok: false,
        ..candidate(id, 0.0, 0.0001)
    };
    let options = SelectionOptions::default();
    for reach in [0b110, 0b11] {
        let sources = [first, behind(1, reach), behind(2, reach)];
        let result = select(&sources, &options, None, None);
        assert_eq!(result.combined, None, "reach {reach:#b}");
        assert_eq!(result.failure, Some(SelectionFailure::WaitingForSamples));
        assert_eq!(
            result.verdict(SourceId(3)),
            Some(SourceVerdict::Unselectable)
        );
        // With a reference already chosen, nothing waits.
        let result = select(&sources, &options, Some(SourceId(3)), None);
        assert_eq!(result.combined.unwrap().reference, SourceId(3));
    }
    // A source that missed a reply (0b100) or lost its own (0b1100 after the next
    // request) is not waited for, nor is anyone once the registers are full.
    for (reach, reach_size) in [(0b101, 3), (0b1100, 4)] {
        let ahead = SelectionCandidate {
            reach: 0b1111,
            reach_size,
            ..first
        };
        let result = select(&[ahead, behind(1, reach)], &options, None, None);
        assert_eq!(
            result.combined.unwrap().reference,
            SourceId(3),
            "reach {reach:#b}"
        );
    }
    let full = SelectionCandidate {
        reach: 0xff,
        reach_size: 8,
        ..first
    };
    let result = select(&[full, behind(1, 0x7f)], &options, None, None);
    assert_eq!(result.combined.unwrap().reference, SourceId(3));
}

#[test]
fn orphan_mode_follows_the_smallest_orphan_only_when_nothing_else_is_there() {
    let at_stratum = |id: u32, stratum: u8| SelectionCandidate {
        stratum,
        ..candidate(id, 0.0, 0.01)
    };
    let mode = OrphanMode {
        stratum: 5,
        own_reference_id: Some(ReferenceId::from_u32(3)),
    };
    let options = SelectionOptions::default();
    // A real source wins; orphans are left out.
    let result = select(
        &[at_stratum(1, 5), at_stratum(2, 5), at_stratum(7, 2)],
        &options,
        None,
        Some(&mode),
    );
    assert_eq!(result.combined.unwrap().reference, SourceId(7));
    assert_eq!(
        result.verdict(SourceId(1)),
        Some(SourceVerdict::Unselectable)
    );
    // Only orphans: the smallest ID below ours is followed, alone.
    let result = select(
        &[at_stratum(2, 5), at_stratum(1, 5), at_stratum(0, 6)],
        &options,
        None,
        Some(&mode),
    );
    let combined = result.combined.unwrap();
    assert_eq!(
        (combined.reference, combined.sources_combined),
        (SourceId(1), 1)
    );
    // Our own ID is the smallest: we are the root and follow nobody.
    let root = OrphanMode {
        own_reference_id: Some(ReferenceId::from_u32(1)),
        ..mode
    };
    let result = select(
        &[at_stratum(2, 5), at_stratum(1, 5)],
        &options,
        None,
        Some(&root),
    );
    assert!(result.combined.is_none());
    // Synchronised to an orphan (a stratum above ours): never followed.
    let result = select(&[at_stratum(0, 6)], &options, None, Some(&mode));
    assert!(result.combined.is_none());
    // Without our own ID there is no order to settle on.
    let unknown = OrphanMode {
        own_reference_id: None,
        ..mode
    };
    let result = select(&[at_stratum(1, 5)], &options, None, Some(&unknown));
    assert!(result.combined.is_none());
    // Not in orphan mode: a stratum-5 source is an ordinary one.
    let result = select(&[at_stratum(1, 5)], &options, None, None);
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
}

#[test]
fn two_disagreeing_sources_have_no_majority() {
    let sources = [candidate(1, 0.0, 0.001), candidate(2, 1.0, 0.001)];
    let result = select(&sources, &SelectionOptions::default(), None, None);
    assert!(result.combined.is_none());
}

#[test]
fn minsources_distance_noselect_and_prefer() {
    let options = SelectionOptions {
        minsources: 2,
        ..Default::default()
    };
    assert!(select(&[candidate(1, 0.0, 0.01)], &options, None, None)
        .combined
        .is_none());

    let far = candidate(2, 0.0, 5.0);
    let result = select(
        &[candidate(1, 0.0, 0.01), far],
        &SelectionOptions::default(),
        None,
        None,
    );
    assert_eq!(result.verdict(SourceId(2)), Some(SourceVerdict::TooDistant));

    let quiet = SelectionCandidate {
        noselect: true,
        ..candidate(3, 0.0, 0.001)
    };
    let result = select(
        &[candidate(1, 0.0, 0.01), quiet],
        &SelectionOptions::default(),
        None,
        None,
    );
    assert_eq!(result.verdict(SourceId(3)), Some(SourceVerdict::NoSelect));
    assert_eq!(result.combined.unwrap().reference, SourceId(1));

    let preferred = SelectionCandidate {
        prefer: true,
        ..candidate(5, 0.001, 0.02)
    };
    let result = select(
        &[candidate(4, 0.0, 0.001), preferred],
        &SelectionOptions::default(),
        None,
        None,
    );
    let combined = result.combined.unwrap();
    assert_eq!(combined.reference, SourceId(5));
    assert_eq!(combined.sources_combined, 1);
}

#[test]
fn hysteresis_keeps_the_current_reference() {
    let sources = [candidate(1, 0.0, 0.010), candidate(2, 0.0, 0.00995)];
    let result = select(
        &sources,
        &SelectionOptions::default(),
        Some(SourceId(1)),
        None,
    );
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
    let result = select(&sources, &SelectionOptions::default(), None, None);
    assert_eq!(result.combined.unwrap().reference, SourceId(2));
}

#[test]
fn a_source_scattering_more_than_maxjitter_is_not_selectable() {
    let jittery = SelectionCandidate {
        offset_sd_s: 0.002,
        ..candidate(2, 0.0, 0.001)
    };
    let steady = candidate(1, 0.0, 0.010);
    let options = SelectionOptions {
        maxjitter_s: 0.001,
        ..SelectionOptions::default()
    };
    let result = select(&[steady, jittery], &options, None, None);
    assert_eq!(result.verdict(SourceId(2)), Some(SourceVerdict::TooDistant));
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
    // chrony's default, 1 s, lets it through (and it is the closer one).
    let result = select(&[steady, jittery], &SelectionOptions::default(), None, None);
    assert_eq!(result.combined.unwrap().reference, SourceId(2));
}

#[test]
fn trusted_source_decides() {
    let trusted = SelectionCandidate {
        trust: true,
        ..candidate(1, 0.5, 0.01)
    };
    let sources = [trusted, candidate(2, 0.0, 0.01), candidate(3, 0.0, 0.01)];
    let result = select(&sources, &SelectionOptions::default(), None, None);
    assert_eq!(result.combined.unwrap().reference, SourceId(1));
    assert_eq!(
        result.verdict(SourceId(2)),
        Some(SourceVerdict::Falseticker)
    );
}

#[test]
fn leap_needs_a_majority() {
    use LeapIndicator::*;
    assert_eq!(
        majority_leap([InsertSecond, InsertSecond, NoWarning].into_iter()),
        InsertSecond
    );
    assert_eq!(
        majority_leap([InsertSecond, NoWarning].into_iter()),
        NoWarning
    );
    assert_eq!(majority_leap([DeleteSecond].into_iter()), DeleteSecond);
}

proptest! {
    /// A majority clique agreeing on the truth (0) always wins against a minority
    /// whose intervals all miss the truth, whatever their distances.
    #[test]
    fn never_selects_a_minority_clique(
        honest in prop::collection::vec((-1.0f64..1.0, 0.001f64..0.1), 1..8),
        liars in prop::collection::vec((0.2f64..10.0, 0.0001f64..0.1, any::<bool>()), 0..7),
    ) {
        prop_assume!(liars.len() < honest.len());
        let mut sources = Vec::new();
        for (i, (fraction, distance)) in honest.iter().enumerate() {
            sources.push(candidate(i as u32, fraction * distance, *distance));
        }
        for (i, (bias, distance, negative)) in liars.iter().enumerate() {
            let offset = (bias + distance) * if *negative { -1.0 } else { 1.0 };
            let mut liar = candidate(100 + i as u32, offset, *distance);
            liar.prefer = i % 2 == 0;
            sources.push(liar);
        }
        let result = select(&sources, &SelectionOptions::default(), None, None);
        if let Some(combined) = result.combined {
            prop_assert!(combined.reference.0 < 100, "minority selected: {combined:?}");
        }
        for (id, verdict) in &result.verdicts {
            if id.0 >= 100 {
                prop_assert!(!matches!(verdict, SourceVerdict::Selected | SourceVerdict::Combined));
            }
        }
    }
}
