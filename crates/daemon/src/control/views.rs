//! The monitoring views: the engine's state as control-protocol reports.
//!
//! Owns turning [`Engine`] state plus the daemon's source names into [`Tracking`],
//! [`SourceReport`], [`SourceStats`] and [`Activity`]. Read-only: it never changes the
//! engine.

use gnomon_control::protocol::{
    Activity, LeapStatus, SourceMode, SourceReport, SourceState, SourceStats, StopReason, Tracking,
};
use gnomon_core::engine::Engine;
use gnomon_core::estimator::seconds_between;
use gnomon_core::poll::StopReason as EngineStopReason;
use gnomon_core::selection::SourceVerdict;
use gnomon_core::source::SourceId;
use gnomon_proto::{KissCode, LeapIndicator, UnixTime};

/// What the daemon knows about a source that the engine does not.
#[derive(Clone, Debug)]
pub struct SourceLabel {
    pub id: SourceId,
    pub name: String,
    pub address: String,
    pub from_pool: bool,
}

fn label_for(labels: &[SourceLabel], id: SourceId) -> Option<&SourceLabel> {
    labels.iter().find(|label| label.id == id)
}

pub fn tracking(engine: &Engine, labels: &[SourceLabel], now: UnixTime, clock: &str) -> Tracking {
    let system = engine.system_variables();
    let bound = engine.clock_error_bound(now);
    let reference_name = match engine.reference().and_then(|id| label_for(labels, id)) {
        Some(label) => label.address.clone(),
        None => system
            .reference_id
            .ascii()
            .unwrap_or_else(|| system.reference_id.display(system.stratum)),
    };
    Tracking {
        reference_id: system.reference_id.to_hex(),
        reference_name,
        stratum: system.stratum,
        reference_time_unix_s: system.reference_time.map(UnixTime::as_secs_f64),
        // The correction still to be slewed is how far the clock is off, with the
        // opposite sign: a positive remaining correction means the clock is slow.
        system_time_offset_s: -bound.offset_s,
        last_offset_s: system.last_offset_s,
        rms_offset_s: system.rms_offset_s,
        frequency_ppm: engine.discipline().base_frequency_ppm(),
        residual_frequency_ppm: engine
            .reference()
            .and_then(|id| engine.source(id))
            .and_then(|source| source.estimate())
            .map_or(0.0, |estimate| estimate.frequency_ppm),
        skew_ppm: system.skew_ppm,
        root_delay_s: system.root_delay_s,
        root_dispersion_s: system.root_dispersion_at_s(now),
        update_interval_s: system.update_interval_s,
        leap_status: leap_status(system.leap),
        synchronized: bound.synchronized,
        // The reading's bound: true time is within now ± this, pending correction
        // included (docs/control-protocol.md).
        error_bound_s: bound.synchronized.then(|| bound.reading_bound_s()),
        clock: clock.to_owned(),
    }
}

fn leap_status(leap: LeapIndicator) -> LeapStatus {
    match leap {
        LeapIndicator::NoWarning => LeapStatus::Normal,
        LeapIndicator::InsertSecond => LeapStatus::InsertSecond,
        LeapIndicator::DeleteSecond => LeapStatus::DeleteSecond,
        LeapIndicator::Unsynchronized => LeapStatus::NotSynchronised,
    }
}

fn source_state(verdict: Option<SourceVerdict>) -> SourceState {
    match verdict {
        Some(SourceVerdict::Selected) => SourceState::Selected,
        Some(SourceVerdict::Combined) => SourceState::Combined,
        Some(SourceVerdict::NotCombined) => SourceState::NotCombined,
        Some(SourceVerdict::Falseticker) => SourceState::Falseticker,
        Some(SourceVerdict::TooDistant) => SourceState::TooVariable,
        Some(SourceVerdict::NoSelect) => SourceState::NoSelect,
        Some(SourceVerdict::Unselectable) | None => SourceState::Unusable,
    }
}

fn stop_reason(reason: EngineStopReason) -> StopReason {
    match reason {
        EngineStopReason::AccessDenied(KissCode::Rstr) => StopReason::KodRstr,
        // The engine stops a source only for DENY and RSTR (`KissCode::is_access_denied`).
        EngineStopReason::AccessDenied(_) => StopReason::KodDeny,
    }
}

pub fn sources(engine: &Engine, labels: &[SourceLabel], now: UnixTime) -> Vec<SourceReport> {
    engine
        .sources()
        .map(|source| {
            let label = label_for(labels, source.id());
            let verdict = engine
                .selection()
                .and_then(|result| result.verdict(source.id()));
            // Offline, chronyd shows the source as unreachable at once; the last
            // selection's verdict would say otherwise until the next sample.
            let quiet = source.is_offline() && source.poll_state().reach() == 0;
            let state = if quiet {
                SourceState::Offline
            } else if source.in_sync_loop() {
                // Its last reply said it is synchronised to us: refused, whatever the
                // last selection said (chronyc shows it as `?`).
                SourceState::SyncLoop
            } else {
                source_state(verdict)
            };
            let sample = source.last_sample();
            let adjusted = source.estimate().map(|estimate| estimate.offset_at_s(now));
            SourceReport {
                name: label.map_or_else(|| format!("{:?}", source.id()), |l| l.name.clone()),
                address: label.map_or_else(String::new, |l| l.address.clone()),
                mode: if label.is_some_and(|l| l.from_pool) {
                    SourceMode::Pool
                } else {
                    SourceMode::Server
                },
                state: state.symbol(),
                state_name: state,
                stratum: sample.map_or(0, |s| s.stratum),
                poll: source.poll_state().poll(),
                reach: source.poll_state().reach(),
                last_rx_ago_s: sample.map(|s| seconds_between(s.local_time, now)),
                adjusted_offset_s: adjusted.or(sample.map(|s| s.offset_s)),
                measured_offset_s: sample.map(|s| s.offset_s),
                error_s: sample.map(|s| s.delay_s / 2.0 + s.dispersion_s),
                requests_sent: source.counters().requests_sent,
                samples_accepted: source.counters().samples_accepted,
                stopped: source.stopped().map(stop_reason),
                offline: source.is_offline(),
            }
        })
        .collect()
}

/// Runs of one sign in `residuals` (a zero residual continues the run it is in).
fn residual_runs(residuals: impl Iterator<Item = f64>) -> usize {
    let mut runs = 0;
    let mut last_positive: Option<bool> = None;
    for residual in residuals {
        let positive = if residual == 0.0 {
            last_positive.unwrap_or(true)
        } else {
            residual > 0.0
        };
        if last_positive != Some(positive) {
            runs += 1;
            last_positive = Some(positive);
        }
    }
    runs
}

pub fn sourcestats(engine: &Engine, labels: &[SourceLabel]) -> Vec<SourceStats> {
    engine
        .sources()
        .map(|source| {
            let label = label_for(labels, source.id());
            let samples = source.estimator().samples();
            let span_s = match (samples.first(), samples.last()) {
                (Some(first), Some(last)) => seconds_between(first.local_time, last.local_time),
                _ => 0.0,
            };
            let estimate = source.estimate();
            SourceStats {
                // A pool member by its address, as chronyc shows it (not the pool's name).
                name: label.map_or_else(
                    || format!("{:?}", source.id()),
                    |l| {
                        if l.from_pool {
                            l.address.clone()
                        } else {
                            l.name.clone()
                        }
                    },
                ),
                samples: samples.len(),
                samples_used: estimate.map_or(0, |e| e.samples_used),
                residual_runs: estimate.map_or(samples.len().min(1), |e| {
                    let used = &samples[samples.len().saturating_sub(e.samples_used)..];
                    residual_runs(
                        used.iter()
                            .map(|s| s.offset_s - e.offset_at_s(s.local_time)),
                    )
                }),
                span_s,
                frequency_ppm: estimate.map_or(0.0, |e| e.frequency_ppm),
                skew_ppm: estimate.map_or(0.0, |e| e.skew_ppm),
                offset_s: estimate.map_or(0.0, |e| e.offset_s),
                std_dev_s: estimate.map_or(0.0, |e| e.offset_sd_s),
            }
        })
        .collect()
}

pub fn activity(engine: &Engine, unresolved: usize) -> Activity {
    let mut activity = Activity {
        online: 0,
        offline: 0,
        burst_online: 0,
        burst_offline: 0,
        unresolved,
    };
    for source in engine.sources() {
        let bursting = source.poll_state().in_burst();
        match (source.stopped().is_some(), source.is_offline(), bursting) {
            (true, _, _) | (false, true, false) => activity.offline += 1,
            (false, true, true) => activity.burst_offline += 1,
            (false, false, true) => activity.burst_online += 1,
            (false, false, false) => activity.online += 1,
        }
    }
    activity
}

#[cfg(test)]
mod tests {
    use super::residual_runs;

    #[test]
    fn runs_of_residual_signs_as_chronyc_nr() {
        let runs = |values: &[f64]| residual_runs(values.iter().copied());
        assert_eq!(runs(&[]), 0);
        assert_eq!(runs(&[1e-6]), 1);
        assert_eq!(runs(&[1e-6, 2e-6, -1e-6, -3e-6, 4e-6]), 3);
        assert_eq!(runs(&[1e-6, -1e-6, 1e-6, -1e-6]), 4);
        // A zero continues its run.
        assert_eq!(runs(&[-1e-6, 0.0, -2e-6]), 1);
    }
}
