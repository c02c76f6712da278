//! The seam between the engine and the method that turns combined estimates into
//! clock changes.
//!
//! Owns the [`ClockDiscipline`] trait the engine talks to and [`DisciplineState`],
//! what a discipline reports about itself (tracking, metrics, the drift file). It
//! must not hold discipline logic: each method lives in its own module
//! ([`crate::discipline`] for chrony's independent phase and frequency control, the
//! one gnomond runs). As with [`crate::source_estimator`], the point is comparison
//! (issue 13): [`crate::engine::Engine::with_discipline`] takes any implementation,
//! so gnomon-sim or a test can drive another method through the same engine, on the
//! same samples, and compare.
//!
//! The contract every implementation keeps, because the engine's sample histories
//! depend on it: sources measure against the *corrected* reading
//! ([`ClockDiscipline::corrected_time`], the clock's reading plus the correction still
//! to be made), and every change of that timescale is reported as a
//! [`ClockChange`] (from `update` and `on_timer`) so the engine can re-express the
//! histories.

use gnomon_proto::UnixTime;

use crate::clock_action::ClockAction;
use crate::discipline::{ClockChange, DisciplineInput, SavedFrequency, UpdateOutcome};

/// How combined estimates become frequency changes, slews and steps.
pub trait ClockDiscipline: std::fmt::Debug + Send {
    /// The frequency (and slew) the clock should run at before any update.
    fn initial_action(&self) -> ClockAction;
    /// Apply one combined estimate at `now` (the clock's reading): push the clock
    /// actions to carry out, say what happened and how the corrected timescale moved.
    fn update(
        &mut self,
        now: UnixTime,
        input: &DisciplineInput,
        actions: &mut Vec<ClockAction>,
    ) -> (UpdateOutcome, ClockChange);
    /// Time reached `now`: end whatever is due ([`ClockDiscipline::next_deadline`]),
    /// with the action and the timescale's change.
    fn on_timer(&mut self, now: UnixTime) -> Option<(ClockAction, ClockChange)>;
    /// chronyc's `makestep`: turn the correction in progress into a step now, keeping
    /// the corrected timescale where it is. `None` when nothing is in progress.
    fn step_now(&mut self, now: UnixTime) -> Option<[ClockAction; 2]>;
    /// Shift remembered times after a step the engine made.
    fn shift(&mut self, step_s: f64);
    /// Correction still to be made at `now`, seconds.
    fn remaining_correction_s(&self, now: UnixTime) -> f64;
    /// The reading plus the correction still to be made: the timescale samples live on.
    fn corrected_time(&self, now: UnixTime) -> UnixTime {
        now.add_seconds_f64(self.remaining_correction_s(now))
    }
    /// When [`ClockDiscipline::on_timer`] is next due.
    fn next_deadline(&self) -> Option<UnixTime>;
    /// What the discipline reports about itself.
    fn state(&self) -> DisciplineState;
    /// A boxed copy (the simulator clones engines).
    fn clone_box(&self) -> Box<dyn ClockDiscipline>;

    /// The frequency correction without the slew, ppm.
    fn base_frequency_ppm(&self) -> f64 {
        self.state().base_frequency_ppm
    }
    /// The slew's extra frequency, ppm (0 without one).
    fn slew_rate_ppm(&self) -> f64 {
        self.state().slew_rate_ppm
    }
    /// Base frequency plus slew, ppm: what the clock runs at.
    fn total_frequency_ppm(&self) -> f64 {
        let state = self.state();
        state.base_frequency_ppm + state.slew_rate_ppm
    }
    /// Updates made so far.
    fn updates(&self) -> u32 {
        self.state().updates
    }
    /// What a drift file keeps.
    fn saved_frequency(&self) -> SavedFrequency {
        let state = self.state();
        SavedFrequency {
            frequency_ppm: state.base_frequency_ppm,
            skew_ppm: state.skew_ppm,
        }
    }
}

impl Clone for Box<dyn ClockDiscipline> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A discipline's report of itself at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisciplineState {
    /// The frequency correction without the slew, ppm.
    pub base_frequency_ppm: f64,
    /// The slew's extra frequency, ppm.
    pub slew_rate_ppm: f64,
    /// Uncertainty of the base frequency, ppm.
    pub skew_ppm: f64,
    /// The part of the last frequency estimate not applied, ppm (chronyc's "Residual
    /// freq" idea): the clock may drift this much more until the next update.
    pub residual_frequency_ppm: f64,
    pub updates: u32,
    /// The clock's reading at the last update.
    pub last_update: Option<UnixTime>,
    pub last_offset_s: f64,
    pub rms_offset_s: f64,
    pub last_update_interval_s: f64,
}
