//! Clock discipline: turning the combined estimate into frequency changes, slews and
//! steps, chrony's way (independent phase and frequency control). The engine talks to
//! it through [`crate::clock_discipline::ClockDiscipline`].
//!
//! Owns the frequency correction and its uncertainty (the value a drift file keeps),
//! the slew in progress, `makestep`, `maxchange`, `maxslewrate` and the ±maxdrift
//! frequency limit. It must not select sources or read any clock; it is told the
//! combined estimate and the time, and answers with [`ClockAction`]s plus the
//! [`ClockChange`] the engine applies to every source's sample history.
//!
//! Frequency: each update moves the frequency towards the sources' estimate with
//! chrony's gain, `3 our_skew² / (3 our_skew² + skew²)`, so a precise saved frequency
//! is not thrown away for a first noisy estimate, and a fresh regression wins over a
//! stale guess. Our skew then moves towards the estimate's by the same gain, plus how
//! far the two frequencies disagreed: an estimate that keeps surprising us makes us
//! less sure, and the next one counts for more. (Replacing our skew by the estimate's,
//! as this did first, held the gain near one half; under clknetsim, chrony's test 1 at
//! 10 µs jitter, the RMS offset went from 21.0/18.2/20.4 to 15.0/16.7/18.4 µs, seeds
//! 1-3, with this rule.) Phase: the offset is removed by a slew (a temporary extra frequency) whose
//! length follows chrony's `corrtimeratio` rule: about `corrtimeratio` update intervals
//! for an offset as large as the noise, quicker for larger ones, never faster than
//! `maxslewrate`.
//!
//! Timescales: the clock's reading moves with the slew, but sources are measured
//! against the *corrected* reading (reading + correction still to be slewed), as
//! chrony does; see [`ClockChange`]. A slew in progress is then invisible to every
//! source's regression, including a source whose first sample arrives mid-slew.

use gnomon_proto::UnixTime;

use crate::clock_action::ClockAction;
use crate::clock_discipline::{ClockDiscipline, DisciplineState};
use crate::estimator::{seconds_between, WORST_CASE_SKEW_PPM};

/// `makestep THRESHOLD LIMIT`: step when |offset| > threshold during the first `limit`
/// updates (a negative limit: always).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MakeStep {
    pub threshold_s: f64,
    pub limit: i32,
}

/// `maxchange OFFSET START IGNORE`: after `start` updates, an offset over `offset_s`
/// is ignored `ignore` times, then reported as fatal (a negative `ignore`: never).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxChange {
    pub offset_s: f64,
    pub start: u32,
    pub ignore: i32,
}

/// Discipline settings, chrony's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisciplineOptions {
    pub makestep: Option<MakeStep>,
    pub maxchange: Option<MaxChange>,
    /// Fastest slew, ppm (chrony: 83333.333).
    pub maxslewrate_ppm: f64,
    /// Largest frequency correction, ppm (chrony's `maxdrift`: 500).
    pub max_frequency_ppm: f64,
    /// Frequency estimates less certain than this do not move the frequency (chrony's
    /// `maxupdateskew`: 1000 ppm).
    pub maxupdateskew_ppm: f64,
    /// chrony's `corrtimeratio` (3).
    pub corrtimeratio: f64,
}

impl Default for DisciplineOptions {
    fn default() -> Self {
        DisciplineOptions {
            makestep: None,
            maxchange: None,
            maxslewrate_ppm: 83_333.333,
            max_frequency_ppm: 500.0,
            maxupdateskew_ppm: 1000.0,
            corrtimeratio: 3.0,
        }
    }
}

/// The frequency correction and its uncertainty: what the daemon keeps in the drift file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SavedFrequency {
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
}

/// How the engine changed the clock at one instant, for re-scaling sample histories.
///
/// Sample histories live on the *corrected* timescale: the clock's reading plus the
/// correction its slew in progress has still to make (chrony's "cooked" time). That
/// timescale runs at the base frequency whatever the slew, so a slew never shows up
/// in a source's frequency; it moves only when the base frequency changes, when a
/// new correction is started (it jumps by the new correction minus what the old slew
/// had left) and when the clock is stepped.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockChange {
    /// The corrected timescale now runs `1 + rate_change` times as fast as before
    /// (against true time): the base frequency change over its rate before it.
    pub rate_change: f64,
    /// The corrected timescale jumped forward by this much, seconds.
    pub corrected_step_s: f64,
    /// The clock's reading jumped forward by this much (a step), seconds.
    pub step_s: f64,
}

impl ClockChange {
    pub fn is_none(&self) -> bool {
        self.rate_change == 0.0 && self.corrected_step_s == 0.0 && self.step_s == 0.0
    }
}

/// What one update did.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateOutcome {
    Slewed {
        offset_s: f64,
        duration_s: f64,
    },
    Stepped {
        offset_s: f64,
    },
    /// maxchange: the offset was too large and ignored.
    Ignored {
        offset_s: f64,
    },
    /// maxchange: the offset was too large once too often; the daemon should exit.
    MaxChangeExceeded {
        offset_s: f64,
    },
}

/// The inputs of one update: the combined estimate at `now`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisciplineInput {
    pub offset_s: f64,
    /// Standard error of `offset_s`: an offset this size is slewed in about
    /// `corrtimeratio` update intervals (larger ones faster, smaller ones slower).
    pub offset_error_s: f64,
    /// Sources' frequency relative to the corrected clock (the base frequency, slew
    /// excluded; see [`ClockChange`]), ppm.
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
    /// Used as the update interval for the first update.
    pub poll_interval_s: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Slew {
    rate_ppm: f64,
    ends_at: UnixTime,
}

const MIN_SLEW_DURATION_S: f64 = 0.5;
const MAX_SLEW_DURATION_S: f64 = 10_000.0;

/// The state of the clock's correction.
#[derive(Clone, Debug)]
pub struct Discipline {
    options: DisciplineOptions,
    base_frequency_ppm: f64,
    skew_ppm: f64,
    residual_frequency_ppm: f64,
    slew: Option<Slew>,
    updates: u32,
    maxchange_ignored: u32,
    last_update: Option<UnixTime>,
    last_offset_s: f64,
    rms_offset_s: f64,
    last_update_interval_s: f64,
}

impl Discipline {
    /// Start from a saved frequency (the drift file) or from zero with no confidence.
    pub fn new(options: DisciplineOptions, saved: Option<SavedFrequency>) -> Self {
        let saved = saved.unwrap_or(SavedFrequency {
            frequency_ppm: 0.0,
            skew_ppm: WORST_CASE_SKEW_PPM,
        });
        Discipline {
            options,
            base_frequency_ppm: saved
                .frequency_ppm
                .clamp(-options.max_frequency_ppm, options.max_frequency_ppm),
            skew_ppm: saved.skew_ppm.max(1e-6),
            residual_frequency_ppm: 0.0,
            slew: None,
            updates: 0,
            maxchange_ignored: 0,
            last_update: None,
            last_offset_s: 0.0,
            rms_offset_s: 0.0,
            last_update_interval_s: 0.0,
        }
    }

    fn frequency_action(&self) -> ClockAction {
        ClockAction::SetFrequency {
            frequency_ppm: self.total_frequency_ppm(),
            slew_ppm: self.slew_rate_ppm(),
        }
    }
}

impl ClockDiscipline for Discipline {
    /// The frequency (and slew) the clock should run at now; what the driver applies
    /// at start, before any update.
    fn initial_action(&self) -> ClockAction {
        self.frequency_action()
    }

    /// Offset still to be removed by the slew in progress at `now`, seconds.
    fn remaining_correction_s(&self, now: UnixTime) -> f64 {
        self.slew.map_or(0.0, |s| {
            let rate = s.rate_ppm * 1e-6;
            rate / (1.0 + rate) * seconds_between(now, s.ends_at).max(0.0)
        })
    }

    /// When the slew in progress ends (the engine must call [`Discipline::on_timer`]).
    fn next_deadline(&self) -> Option<UnixTime> {
        self.slew.map(|s| s.ends_at)
    }

    /// The corrected reading of the clock at `now`: the reading plus the correction
    /// still to be slewed (the timescale sample histories live on).
    fn corrected_time(&self, now: UnixTime) -> UnixTime {
        match self.slew {
            Some(_) => now.add_seconds_f64(self.remaining_correction_s(now)),
            None => now,
        }
    }

    /// End a slew that is due: the action to apply and how the corrected timescale
    /// moved. Ended on time, the slew has made exactly the correction it had left and
    /// the timescale does not move. Ended late (the driver woke after `ends_at`: poll(2)
    /// waits in whole milliseconds, and a loaded host wakes later still), it went on
    /// correcting at its rate meanwhile, `r / (1 + r)` per second of the clock's
    /// reading: at chrony's 83333 ppm, 83 µs per millisecond. That overshoot is a jump
    /// of the corrected reading, and the sample histories must move with it; left
    /// unaccounted, the samples before the start-up slew sat tens of µs off those after
    /// it, and the first frequency estimate was ppm off (under clknetsim, the seed's
    /// client line: still 33 µs off at 100 s, chronyd 12 µs).
    fn on_timer(&mut self, now: UnixTime) -> Option<(ClockAction, ClockChange)> {
        let slew = self.slew?;
        if now < slew.ends_at {
            return None;
        }
        let rate = slew.rate_ppm * 1e-6;
        let overshoot_s = rate / (1.0 + rate) * seconds_between(slew.ends_at, now);
        self.slew = None;
        let change = ClockChange {
            corrected_step_s: overshoot_s,
            ..ClockChange::default()
        };
        Some((self.frequency_action(), change))
    }

    /// chronyc's `makestep`: turn the correction still being slewed into a step, now.
    /// The corrected timescale does not move (the reading jumps by exactly what the
    /// slew had left), so sample histories need no change. `None` when no slew is in
    /// progress.
    fn step_now(&mut self, now: UnixTime) -> Option<[ClockAction; 2]> {
        self.slew?;
        let remaining_s = self.remaining_correction_s(now);
        self.slew = None;
        Some([
            self.frequency_action(),
            ClockAction::Step {
                offset_s: remaining_s,
            },
        ])
    }

    /// Apply one combined estimate at `now`.
    fn update(
        &mut self,
        now: UnixTime,
        input: &DisciplineInput,
        actions: &mut Vec<ClockAction>,
    ) -> (UpdateOutcome, ClockChange) {
        let offset_s = input.offset_s;
        if let Some(maxchange) = self.options.maxchange {
            if self.updates >= maxchange.start && offset_s.abs() > maxchange.offset_s {
                if maxchange.ignore < 0 || (self.maxchange_ignored as i64) < maxchange.ignore as i64
                {
                    self.maxchange_ignored += 1;
                    return (UpdateOutcome::Ignored { offset_s }, ClockChange::default());
                }
                return (
                    UpdateOutcome::MaxChangeExceeded { offset_s },
                    ClockChange::default(),
                );
            }
        }
        self.maxchange_ignored = 0;
        let previous_base_ppm = self.base_frequency_ppm;
        let remaining_before_s = self.remaining_correction_s(now);
        let update_interval_s = match self.last_update {
            Some(last) => seconds_between(last, now).max(0.0),
            None => input.poll_interval_s,
        };

        // Frequency: move towards the sources' estimate by the skew-weighted gain.
        if input.skew_ppm.is_finite() && input.skew_ppm <= self.options.maxupdateskew_ppm {
            // The sources' frequency is per corrected second (which runs at the base
            // frequency); the clock's rate is what counts.
            let estimate_ppm =
                previous_base_ppm + input.frequency_ppm / (1.0 + input.frequency_ppm * 1e-6);
            let gain = 3.0 * self.skew_ppm.powi(2)
                / (3.0 * self.skew_ppm.powi(2) + input.skew_ppm.powi(2));
            let limit = self.options.max_frequency_ppm;
            let previous = self.base_frequency_ppm;
            self.base_frequency_ppm = (self.base_frequency_ppm
                + gain * (estimate_ppm - self.base_frequency_ppm))
                .clamp(-limit, limit);
            let extra_ppm = ((previous - self.base_frequency_ppm).powi(2) * (1.0 - gain)
                + (estimate_ppm - self.base_frequency_ppm).powi(2) * gain)
                .sqrt();
            self.skew_ppm =
                (self.skew_ppm + gain * (input.skew_ppm - self.skew_ppm) + extra_ppm).max(1e-6);
            self.residual_frequency_ppm = estimate_ppm - self.base_frequency_ppm;
        }

        // Phase: step or slew.
        let may_step = self.options.makestep.is_some_and(|m| {
            offset_s.abs() > m.threshold_s
                && (m.limit < 0 || (self.updates as i64) < m.limit as i64)
        });
        let mut step_s = 0.0;
        let outcome = if may_step {
            self.slew = None;
            step_s = offset_s;
            actions.push(ClockAction::Step { offset_s });
            UpdateOutcome::Stepped { offset_s }
        } else {
            // A slew at rate r over a local duration D corrects r D / (1 + r).
            let wanted_s =
                self.options.corrtimeratio * 0.5 * input.offset_error_s * update_interval_s
                    / offset_s.abs().max(1e-12);
            let wanted_s = wanted_s.clamp(MIN_SLEW_DURATION_S, MAX_SLEW_DURATION_S);
            let max_rate = self.options.maxslewrate_ppm * 1e-6;
            let rate = if wanted_s > offset_s {
                (offset_s / (wanted_s - offset_s)).clamp(-max_rate, max_rate)
            } else {
                max_rate
            };
            let duration_s = if rate == 0.0 {
                0.0
            } else {
                offset_s * (1.0 + rate) / rate
            };
            self.slew = (rate != 0.0).then(|| Slew {
                rate_ppm: rate * 1e6,
                ends_at: now.add_seconds_f64(duration_s),
            });
            UpdateOutcome::Slewed {
                offset_s,
                duration_s,
            }
        };
        actions.push(self.frequency_action());

        self.updates = self.updates.saturating_add(1);
        self.last_update = Some(now.add_seconds_f64(step_s));
        self.last_update_interval_s = update_interval_s;
        self.last_offset_s = offset_s;
        self.rms_offset_s = if self.updates == 1 {
            offset_s.abs()
        } else {
            (0.9 * self.rms_offset_s.powi(2) + 0.1 * offset_s.powi(2)).sqrt()
        };
        let base_change = (self.base_frequency_ppm - previous_base_ppm) * 1e-6;
        // The corrected clock's rate against true time before the change is 1 - the
        // change, taking the new base frequency as the best estimate of its error.
        // Stepped or slewed, the corrected reading jumps by the new correction minus
        // what the old slew had left: a new slew's remaining correction is `offset_s`.
        let change = ClockChange {
            rate_change: base_change / (1.0 - base_change),
            corrected_step_s: offset_s - remaining_before_s,
            step_s,
        };
        (outcome, change)
    }

    /// Shift remembered times after a step the engine made.
    fn shift(&mut self, step_s: f64) {
        if let Some(slew) = &mut self.slew {
            slew.ends_at = slew.ends_at.add_seconds_f64(step_s);
        }
    }

    fn state(&self) -> DisciplineState {
        DisciplineState {
            base_frequency_ppm: self.base_frequency_ppm,
            slew_rate_ppm: self.slew.map_or(0.0, |s| s.rate_ppm),
            skew_ppm: self.skew_ppm,
            residual_frequency_ppm: self.residual_frequency_ppm,
            updates: self.updates,
            last_update: self.last_update,
            last_offset_s: self.last_offset_s,
            rms_offset_s: self.rms_offset_s,
            last_update_interval_s: self.last_update_interval_s,
        }
    }

    fn clone_box(&self) -> Box<dyn ClockDiscipline> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
#[path = "discipline_tests.rs"]
mod tests;
