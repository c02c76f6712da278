//! Per-source estimation of offset and frequency: chrony-style weighted linear
//! regression over a window chosen by cross-validation, guarded by a runs test.
//!
//! Owns a source's sample history (on the corrected timescale, see
//! [`crate::discipline::ClockChange`]), the regression over it, and the re-scaling of
//! that history whenever the engine changes the clock (frequency change, step). It
//! must not decide anything about the clock or other sources; it only answers "what
//! is this source's offset and frequency relative to our clock, and how sure are we".
//!
//! # Why regression and not a Kalman filter
//!
//! ntpd-rs runs a Kalman filter per source; chrony runs a weighted least-squares line
//! through the last samples. We fit a line too, for three reasons that bear on the
//! accuracy targets (chrony's published simulator figures):
//! - It needs no noise model. A Kalman filter must be told the process noise (wander)
//!   and the measurement noise; wrong values cost accuracy in exactly the scenarios we
//!   measure (wander from 1 to 10 ppb/s, jitter from 10 µs to 10 ms). Choosing the
//!   window from the data (below) is the same adaptation without tuning.
//! - Network jitter is one-sided (queues only add delay), so the error of a sample is
//!   bounded by half its excess delay over the minimum. Weighting samples by that
//!   bound, as chrony does, uses the best samples most; a Gaussian Kalman update does
//!   not model this and is pulled by delay spikes.
//! - The targets are chrony's own numbers; its method is known to reach them, and the
//!   simulator measures every change against that baseline.
//!
//! # The window
//!
//! How many of the newest samples the line goes through decides the accuracy: too
//! few and jitter passes straight into the estimate, too many and the frequency has
//! wandered within the window (at 10 ppb/s, about 0.6 ppm an hour). The best window
//! ran from 3–4 samples (10 µs jitter, 64 s polling) to all 64 (10 ms jitter), so no
//! fixed number will do. We choose it by cross-validation, which measures exactly
//! the quantity we want small: for each candidate length in [`CANDIDATE_WINDOWS`],
//! keep a running mean (over about 64 samples) of the squared error with which a line
//! through that many samples predicted the next sample before it arrived, weighted
//! like that sample; the window is the longest candidate whose mean is within 10 % of
//! the smallest (at least `minsamples`). Until the scores mean anything, the window is
//! every sample. Taking the smallest mean alone picked among the long windows by chance
//! at 10 ms jitter, where all of them predict the next sample about equally badly, and
//! now and then a short one that moved the estimate by milliseconds.
//!
//! A runs test then guards against sudden changes (a frequency step the running
//! scores have not seen yet): the oldest samples are dropped while the residuals'
//! signs change too rarely (Wald–Wolfowitz, 5 %). As in chrony, the test also counts
//! the residuals of as many older samples again ([`RUNS_RATIO`]): within a short
//! window wander looks like noise, and only older samples drifting away from the
//! extrapolated line reveal it.
//!
//! A jump (a step of the source, or of our clock behind our back, e.g. an
//! unannounced leap second upstream) is not wander: a line through samples on both
//! sides of it reads part of the step as frequency, and the clock overshot by up to
//! 297 ms after a 1 s jump. A sample further from the prediction than [`JUMP_FACTOR`]
//! times the sum of both error bounds (its peer distance, the prediction's error and
//! the line's spread) therefore drops the history before it; the line's frequency
//! and skew carry on, with the newest offset, until three samples make a new line,
//! and the source stays selectable meanwhile (otherwise, when our own clock jumps,
//! every source restarts at once and the first to answer three times, a liar
//! perhaps, would be alone to select).
//!
//! Measured (crates/sim, docs/accuracy.md, mean error over 10 seeds): chrony's
//! runs test over the window alone, as this estimator first had it, let the window
//! grow to 20–64 samples under 10 ppb/s of wander, and test2-jitter-100us was 81 µs
//! off on average (chrony: 56). Extending the runs test to twice the window brought
//! it to 45 µs; cross-validation to 30 µs, and test2-jitter-10us from 19 to 7 µs,
//! test1-jitter-10us from 52 to 4 µs. At 10 ms jitter the line wants every sample it
//! may have: 64 (`maxsamples`) is the cap, and at 10 ppb/s of wander about the best a
//! line can do (open loop: 643 µs RMS at 64 samples, 677 at 96, 896 at 128).
//!
//! Weights (chrony's): the variance of sample *i* is taken as
//! `(1 + (d_i - d_min) / s)^2`, where `d_i` is its peer distance (delay/2 +
//! dispersion), `d_min` the smallest of the last `maxsamples` and `s` their median's
//! excess over `d_min` divided by 0.7, kept within `[1 ns, d_min]`. Exponential
//! jitter makes the excess delay of a sample a bound on its error, so the lucky
//! samples weigh most.
//!
//! Measured with crates/sim (docs/accuracy.md has the tables).

use std::collections::VecDeque;

use gnomon_proto::UnixTime;

use crate::line_fit::{fit_line, median_of_sorted, runs_test_passes, RegressionPoint};

/// Frequency uncertainty assumed before a regression is possible (chrony's 2000 ppm).
pub const WORST_CASE_SKEW_PPM: f64 = 2000.0;
/// Fewest samples a regression is done with.
pub const MIN_SAMPLES_FOR_REGRESSION: usize = 3;
/// Fewest samples before the maxdelaydevratio test applies (chrony: 6).
pub const MIN_SAMPLES_FOR_DELAY_TEST: usize = 6;
/// Lower bound of the weighting scale, seconds.
const MIN_WEIGHT_SCALE_S: f64 = 1e-9;
/// The runs test looks at up to this many times as many samples as the regression
/// uses: older samples, already dropped from the line, must still sit around its
/// extrapolation (chrony's `REGRESS_RUNS_RATIO`). Without them a short window always
/// looks random, and the window never shrinks for wander.
pub const RUNS_RATIO: usize = 2;
/// Window lengths (samples) scored by cross-validation; longer ones than a source's
/// `maxsamples` count as `maxsamples`.
pub const CANDIDATE_WINDOWS: [usize; 10] = [3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
/// The longest window whose score is within this fraction of the best one is chosen
/// (cross-validation's "one standard error" rule: a longer line is the smoother one, and
/// at high jitter every window predicts the next sample about as badly, so the minimum
/// alone picks among long windows by chance).
const WINDOW_SCORE_TOLERANCE: f64 = 0.10;
/// Weight of the newest prediction error in a window's running score (a running
/// average over about 64 predictions).
const SCORE_GAIN: f64 = 1.0 / 64.0;
/// Predictions a window must have been scored on before it may be chosen.
const MIN_SCORED_PREDICTIONS: u32 = 8;
/// A sample this many times further from the prediction than the error bounds of
/// both allow marks a jump (a step of the source or of our clock): the history
/// before it no longer describes the source.
pub const JUMP_FACTOR: f64 = 4.0;

/// One sample as kept in the history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredSample {
    pub local_time: UnixTime,
    pub offset_s: f64,
    pub delay_s: f64,
    pub dispersion_s: f64,
    /// The root dispersion the server announced in this reply: how far it said its
    /// own time might be off then (a gnomon server slewing away a correction adds
    /// what it still has to slew).
    pub server_root_dispersion_s: f64,
}

impl StoredSample {
    pub(crate) fn peer_distance_s(&self) -> f64 {
        self.delay_s / 2.0 + self.dispersion_s
    }

    /// How far off this sample may be, compared with samples whose server announced
    /// a root dispersion of `least_server_s`: its peer distance plus the server's
    /// root dispersion beyond that. The server's constant part cancels; what is left
    /// is how much less sure of itself the server was when it answered this one.
    pub(crate) fn weight_distance_s(&self, least_server_s: f64) -> f64 {
        self.peer_distance_s() + (self.server_root_dispersion_s - least_server_s).max(0.0)
    }
}

/// The least root dispersion the server announced in `samples`.
pub(crate) fn least_server_dispersion_s<'a>(
    samples: impl Iterator<Item = &'a StoredSample>,
) -> f64 {
    samples
        .map(|s| s.server_root_dispersion_s)
        .fold(f64::INFINITY, f64::min)
}

/// The regression's answer about one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Time the offset refers to (the newest sample's local time).
    pub reference_time: UnixTime,
    /// Source minus local clock at `reference_time`, seconds.
    pub offset_s: f64,
    /// Rate at which the offset grows: how much faster the local clock should run, ppm.
    pub frequency_ppm: f64,
    /// Standard error of `frequency_ppm`.
    pub skew_ppm: f64,
    /// Standard deviation of the samples about the line, seconds.
    pub offset_sd_s: f64,
    /// Standard error of `offset_s`, seconds.
    pub offset_error_s: f64,
    /// Samples the line was fitted to.
    pub samples_used: usize,
    /// Samples a line passes the runs test over when started from every sample kept
    /// (up to `maxsamples`): the count chrony's regression would use. The polling
    /// interval is steered by it (towards `polltarget`), not by `samples_used`: the
    /// cross-validated window is the best line for the samples at hand, but it is
    /// short exactly when the samples are good, and steering by it polled 4x as often
    /// as chronyd at 10 µs jitter.
    pub consistent_samples: usize,
}

impl Estimate {
    /// Predicted offset at local time `at`.
    pub fn offset_at_s(&self, at: UnixTime) -> f64 {
        self.offset_s + self.frequency_ppm * 1e-6 * seconds_between(self.reference_time, at)
    }

    /// Standard error of the prediction at `at`.
    pub fn error_at_s(&self, at: UnixTime) -> f64 {
        let elapsed_s = seconds_between(self.reference_time, at).abs();
        (self.offset_error_s.powi(2) + (self.skew_ppm * 1e-6 * elapsed_s).powi(2)).sqrt()
    }
}

/// `later - earlier` in seconds.
pub fn seconds_between(earlier: UnixTime, later: UnixTime) -> f64 {
    (later.as_nanos() - earlier.as_nanos()) as f64 * 1e-9
}

/// How the regression's window is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WindowChoice {
    /// The longest candidate within [`WINDOW_SCORE_TOLERANCE`] of the best
    /// cross-validation score, then the runs test (gnomon's).
    #[default]
    CrossValidated,
    /// Every sample up to `maxsamples`, then the runs test (chrony's method).
    RunsTestOnly,
}

/// Sample history and regression of one source.
#[derive(Clone, Debug)]
pub struct Estimator {
    window_choice: WindowChoice,
    /// Oldest first. The newest `regression_len` are the regression's; the ones before
    /// them only extend the runs test (at most `(RUNS_RATIO - 1) * regression_len`).
    samples: VecDeque<StoredSample>,
    regression_len: usize,
    min_samples: usize,
    max_samples: usize,
    estimate: Option<Estimate>,
    /// Per candidate window: running mean of the squared, weighted error with which
    /// a line through that many samples predicted the next sample.
    window_scores: [f64; CANDIDATE_WINDOWS.len()],
    window_scored: [u32; CANDIDATE_WINDOWS.len()],
    /// Frequency and skew of the line before a jump, carried over until the samples
    /// after it make a line of their own.
    jump_prior: Option<(f64, f64)>,
}

impl Estimator {
    pub fn new(min_samples: usize, max_samples: usize) -> Self {
        Estimator::with_window(min_samples, max_samples, WindowChoice::CrossValidated)
    }

    /// An estimator whose window is chosen by `window_choice`.
    pub fn with_window(
        min_samples: usize,
        max_samples: usize,
        window_choice: WindowChoice,
    ) -> Self {
        let max_samples = max_samples.max(MIN_SAMPLES_FOR_REGRESSION);
        Estimator {
            window_choice,
            samples: VecDeque::with_capacity(max_samples * RUNS_RATIO),
            regression_len: 0,
            min_samples: min_samples.clamp(MIN_SAMPLES_FOR_REGRESSION, max_samples),
            max_samples,
            estimate: None,
            window_scores: [0.0; CANDIDATE_WINDOWS.len()],
            window_scored: [0; CANDIDATE_WINDOWS.len()],
            jump_prior: None,
        }
    }

    /// Whether selection may use the estimate: a line through at least three samples,
    /// or, just after a jump, the line from before it with the newest offset.
    pub fn is_selectable(&self) -> bool {
        self.estimate
            .is_some_and(|e| e.samples_used >= MIN_SAMPLES_FOR_REGRESSION)
            || (self.jump_prior.is_some() && self.regression_len > 0)
    }

    /// Samples in the regression.
    pub fn sample_count(&self) -> usize {
        self.regression_len
    }

    /// The regression's samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &StoredSample> {
        self.samples
            .iter()
            .skip(self.samples.len() - self.regression_len)
    }

    pub fn estimate(&self) -> Option<&Estimate> {
        self.estimate.as_ref()
    }

    /// Forget all samples (e.g. after the source was replaced or stopped).
    pub fn clear(&mut self) {
        self.samples.clear();
        self.regression_len = 0;
        self.estimate = None;
        self.window_scores = [0.0; CANDIDATE_WINDOWS.len()];
        self.window_scored = [0; CANDIDATE_WINDOWS.len()];
        self.jump_prior = None;
    }

    /// chrony's maxdelayratio / maxdelaydevratio tests: is a sample with this delay
    /// good enough to add? Ratios of 0 turn a test off.
    pub fn accepts_delay(&self, delay_s: f64, maxdelayratio: f64, maxdelaydevratio: f64) -> bool {
        let min_delay_s = self.samples().map(|s| s.delay_s).reduce(f64::min);
        delay_passes(
            min_delay_s,
            self.estimate.as_ref(),
            delay_s,
            maxdelayratio,
            maxdelaydevratio,
        )
    }

    /// Add a sample (in time order) and redo the regression.
    pub fn add_sample(&mut self, sample: StoredSample) {
        if let Some(last) = self.samples.back() {
            if sample.local_time < last.local_time {
                // Out of order (a clock step raced a reply): history is unusable.
                self.clear();
            }
        }
        if let Some(estimate) = self.estimate {
            if estimate.samples_used >= MIN_SAMPLES_FOR_REGRESSION {
                let error_s = (estimate.offset_at_s(sample.local_time) - sample.offset_s).abs();
                let least_s =
                    least_server_dispersion_s(self.samples().chain(std::iter::once(&sample)));
                let bound_s = sample.weight_distance_s(least_s)
                    + estimate.error_at_s(sample.local_time)
                    + estimate.offset_sd_s;
                if error_s > JUMP_FACTOR * bound_s {
                    // Keep the frequency (a jump is a phase step), forget the samples.
                    self.samples.clear();
                    self.regression_len = 0;
                    self.jump_prior = Some((estimate.frequency_ppm, estimate.skew_ppm));
                }
            }
        }
        self.samples.push_back(sample);
        if self.samples.len() > self.max_samples * RUNS_RATIO {
            self.samples.pop_front();
        }
        self.regression_len = (self.regression_len + 1).min(self.max_samples);
        self.regress();
    }

    /// Re-express the history after the engine changed the clock at local time `now`:
    /// from then on the clock runs `rate_change` (a fraction) faster than it did, and it
    /// was stepped forward by `step_s`. Samples become what they would have been had
    /// the clock always run that way (times and offsets both move; the regression's
    /// frequency becomes `(f - rate_change) / (1 + rate_change)`).
    pub fn apply_clock_change(&mut self, now: UnixTime, rate_change: f64, step_s: f64) {
        let rescale = |time: &mut UnixTime, offset_s: &mut f64| {
            let before_now_s = seconds_between(*time, now);
            let shift_s = rate_change * before_now_s;
            *offset_s += shift_s - step_s;
            *time = time.add_seconds_f64(step_s - shift_s);
        };
        for sample in &mut self.samples {
            rescale(&mut sample.local_time, &mut sample.offset_s);
        }
        if let Some(estimate) = &mut self.estimate {
            rescale(&mut estimate.reference_time, &mut estimate.offset_s);
            estimate.frequency_ppm =
                (estimate.frequency_ppm - rate_change * 1e6) / (1.0 + rate_change);
        }
    }

    fn regress(&mut self) {
        let newest = *self.samples.back().expect("regress runs after a push");
        let previous_frequency_ppm = self.estimate.map_or(0.0, |e| e.frequency_ppm);
        if self.regression_len < MIN_SAMPLES_FOR_REGRESSION {
            // Not enough for a line: the newest offset, the old frequency, no confidence
            // (or the line's from before a jump).
            let (frequency_ppm, skew_ppm) = self
                .jump_prior
                .unwrap_or((previous_frequency_ppm, WORST_CASE_SKEW_PPM));
            self.estimate = Some(Estimate {
                reference_time: newest.local_time,
                offset_s: newest.offset_s,
                frequency_ppm,
                skew_ppm,
                offset_sd_s: newest.peer_distance_s(),
                offset_error_s: newest.peer_distance_s(),
                samples_used: self.regression_len,
                consistent_samples: self.regression_len,
            });
            return;
        }
        // All stored samples: the older ones only for the runs test (weight unused).
        let points = regression_points(&self.samples, self.max_samples);
        let total = points.len();
        self.score_windows(&points);
        let n = match self.window_choice {
            WindowChoice::CrossValidated => self.chosen_window(total),
            WindowChoice::RunsTestOnly => total.min(self.max_samples),
        };
        let (used, fit) = runs_tested_fit(&points, n, self.min_samples);
        let consistent_samples =
            runs_tested_fit(&points, total.min(self.max_samples), self.min_samples).0;
        self.regression_len = used;
        self.jump_prior = None;
        self.estimate = Some(Estimate {
            reference_time: newest.local_time,
            offset_s: fit.intercept_s,
            frequency_ppm: fit.slope * 1e6,
            skew_ppm: fit.slope_error * 1e6,
            offset_sd_s: fit.unweighted_residual_sd_s,
            offset_error_s: fit.intercept_error_s,
            samples_used: used,
            consistent_samples,
        });
    }
}

impl Estimator {
    /// Cross-validation: how well would a line through the last `L` samples before
    /// the newest have predicted it, for each candidate `L`? Errors are weighted like
    /// the sample (a delayed sample says little about any window).
    fn score_windows(&mut self, points: &[RegressionPoint]) {
        let Some((newest, history)) = points.split_last() else {
            return;
        };
        for (index, &window) in CANDIDATE_WINDOWS.iter().enumerate() {
            let window = window.min(self.max_samples);
            if window < MIN_SAMPLES_FOR_REGRESSION || window > history.len() {
                continue;
            }
            let fit = fit_line(&history[history.len() - window..]);
            let error_s = fit.intercept_s + fit.slope * newest.x_s - newest.y_s;
            let scored = &mut self.window_scored[index];
            *scored = scored.saturating_add(1);
            let gain = (1.0 / *scored as f64).max(SCORE_GAIN);
            let score = &mut self.window_scores[index];
            *score += gain * (newest.weight * error_s * error_s - *score);
        }
    }

    /// The window to fit: the candidate that predicted best so far (at least
    /// `minsamples`), or every sample up to `maxsamples` until the scores mean much.
    fn chosen_window(&self, available: usize) -> usize {
        let limit = available.min(self.max_samples);
        let candidates = || {
            CANDIDATE_WINDOWS
                .iter()
                .zip(self.window_scores.iter().zip(&self.window_scored))
                .map(|(&window, (&score, &scored))| (window.min(self.max_samples), score, scored))
                .filter(|&(window, _, scored)| {
                    scored >= MIN_SCORED_PREDICTIONS
                        && window >= self.min_samples
                        && window <= limit
                })
        };
        let Some(best_score) = candidates().map(|(_, score, _)| score).reduce(f64::min) else {
            return limit;
        };
        let within = |score: f64| score <= best_score * (1.0 + WINDOW_SCORE_TOLERANCE);
        // While the history grows, the short windows are scored first: the longer
        // ones have fewer predictions behind them. A window longer than any scored one
        // is presumed as good as the longest scored one, so the short windows win only
        // once the long ones were seen to predict worse. Choosing among the scored ones
        // alone chose 3 samples at the 8th prediction, at 10 µs jitter and a 16 s poll
        // (under clknetsim, the seed's client line seed 9: a 27 µs correction at 118 s
        // from a 3-sample line, when the clock was 3 µs off).
        let longest_scored = candidates().max_by_key(|&(window, _, _)| window);
        if let Some((window, score, _)) = longest_scored {
            if window < limit && within(score) {
                return limit;
            }
        }
        candidates()
            .filter(|&(_, score, _)| within(score))
            .map(|(window, _, _)| window)
            .max()
            .unwrap_or(limit)
    }
}

/// chrony's maxdelayratio / maxdelaydevratio tests of a new sample's delay against the
/// least delay kept (`None`: no sample yet) and the estimate's spread. Ratios of 0 turn
/// a test off.
pub(crate) fn delay_passes(
    min_delay_s: Option<f64>,
    estimate: Option<&Estimate>,
    delay_s: f64,
    maxdelayratio: f64,
    maxdelaydevratio: f64,
) -> bool {
    let Some(min_delay_s) = min_delay_s else {
        return true;
    };
    if maxdelayratio > 0.0 && delay_s > maxdelayratio * min_delay_s {
        return false;
    }
    if maxdelaydevratio > 0.0 {
        if let Some(estimate) = estimate {
            // Like chrony, only with enough samples for the deviation to mean something.
            if estimate.samples_used >= MIN_SAMPLES_FOR_DELAY_TEST
                && delay_s - min_delay_s > maxdelaydevratio * estimate.offset_sd_s.max(1e-6)
            {
                return false;
            }
        }
    }
    true
}

/// `samples` (oldest first, the newest being x = 0) as points weighted chrony's way
/// by their distance beyond the least of the newest `max_samples`.
fn regression_points(samples: &VecDeque<StoredSample>, max_samples: usize) -> Vec<RegressionPoint> {
    let newest = samples.back().expect("points of a non-empty history");
    let recent = samples.len().min(max_samples);
    let least_server_s = least_server_dispersion_s(samples.iter().skip(samples.len() - recent));
    let mut distances_s: Vec<f64> = samples
        .iter()
        .skip(samples.len() - recent)
        .map(|s| s.weight_distance_s(least_server_s))
        .collect();
    distances_s.sort_by(f64::total_cmp);
    let min_distance_s = distances_s[0];
    let median_distance_s = median_of_sorted(&distances_s);
    let scale_s = ((median_distance_s - min_distance_s) / 0.7)
        .clamp(MIN_WEIGHT_SCALE_S, min_distance_s.max(MIN_WEIGHT_SCALE_S));
    samples
        .iter()
        .map(|s| RegressionPoint {
            x_s: seconds_between(newest.local_time, s.local_time),
            y_s: s.offset_s,
            weight: 1.0
                / (1.0 + (s.weight_distance_s(least_server_s) - min_distance_s).max(0.0) / scale_s)
                    .powi(2),
        })
        .collect()
}

/// How many of the newest of `samples` (up to `max_samples`, at least `min_samples`)
/// chrony's regression would fit: a line started from all of them, its oldest samples
/// dropped while the runs test fails. Polling is steered by this count.
pub(crate) fn runs_tested_count(
    samples: &VecDeque<StoredSample>,
    min_samples: usize,
    max_samples: usize,
) -> usize {
    if samples.len() < MIN_SAMPLES_FOR_REGRESSION {
        return samples.len();
    }
    let points = regression_points(samples, max_samples);
    runs_tested_fit(&points, points.len().min(max_samples), min_samples).0
}

/// The line through the newest `n` of `points`, its oldest samples dropped while the
/// residuals fail the runs test (over up to [`RUNS_RATIO`] times the samples used),
/// down to `min_samples`; with how many samples it ended.
fn runs_tested_fit(
    points: &[RegressionPoint],
    n: usize,
    min_samples: usize,
) -> (usize, crate::line_fit::LineFit) {
    let total = points.len();
    let first = total - n;
    let keep_at_least = min_samples.min(n);
    let mut start = 0;
    loop {
        let used = n - start;
        let fit = fit_line(&points[first + start..]);
        let runs_from = total.saturating_sub(used * RUNS_RATIO);
        let signs: Vec<bool> = points[runs_from..]
            .iter()
            .map(|p| p.y_s - fit.intercept_s - fit.slope * p.x_s >= 0.0)
            .collect();
        if used <= keep_at_least || runs_test_passes(&signs) {
            return (used, fit);
        }
        start += 1;
    }
}

#[cfg(test)]
#[path = "estimator_tests.rs"]
mod tests;
