//! Per-source estimation of offset and frequency with a Kalman filter whose measurement
//! noise follows each sample's delay (`estimator kalman`), beside the regression of
//! [`crate::estimator`] behind the same [`crate::source_estimator::SourceEstimator`] seam.
//!
//! Owns a source's sample history (on the engine's *corrected* timescale, see
//! [`crate::discipline::ClockChange`]), a bank of two-state filters over it, and their
//! re-expression whenever the engine changes the clock. It must not decide anything
//! about the clock, polling or other sources: like the regression it only answers
//! "what is this source's offset and frequency relative to our clock, and how sure are
//! we", in the same [`Estimate`] fields with the same meanings.
//!
//! # The model
//!
//! The state is the offset θ (source minus local, seconds, at the newest sample's
//! local time) and the frequency ω (seconds per second), as in ntpd-rs's per-source
//! filter. Between samples `dt` apart the offset moves by `ω dt`, and the frequency
//! takes a random walk (the clock's wander, a Wiener process of spectral density `q`,
//! s²/s³): process noise `q [[dt³/3, dt²/2], [dt²/2, dt]]`. A wander of 1 ppb/s as
//! clknetsim and gnomon-sim define it (the frequency's change over one second has a
//! standard deviation of 1 ppb) is `q = 1e-18`.
//!
//! **Measurement noise follows the sample's delay.** Queues only add delay, so with
//! exponential one-way jitter a sample's offset error is half the difference of its two
//! one-way excess delays: given the round trip's excess `e` over the least delay, the
//! split of `e` between the two ways is uniform, and the error uniform within ±e/2. In
//! peer-distance units (delay/2 + dispersion, plus the server's announced root
//! dispersion beyond the least, as the regression weighs samples) the excess `x` bounds
//! the error, and the variance is `x²/3`. The least distance is itself only the
//! smallest seen among the `n` kept samples, above the true least by about `J √(2/n)`
//! for jitter `J`, so each excess is taken that much larger: `(x + b)²/3` with
//! `b = BIAS_FACTOR · median excess / √n`, at least [`MIN_NOISE_S`]². The lucky samples
//! (small excess) then weigh up to hundreds of times more than the median one, where
//! chrony's weights give about three times: the regression's docs noted that beating
//! chrony at 10 ms of jitter needs a better use of the few low-delay samples than
//! chrony's weights. (The bias's expectation for exponential jitter is 0.84 median
//! excesses over √n; gnomon-sim measured 1.2 to 1.6 best at 10 ms, 0.5 without the bias
//! inside the square lost to the regression there: docs/accuracy.md.)
//!
//! **The wander is not told; it is chosen by the data.** A bank of
//! [`WANDER_BANK_LEN`] filters runs on the same samples, with wanders from 0.1 ppb/s
//! doubling up to about 0.8 ppm/s (the scenarios range from 1 to 10 ppb/s). Each keeps
//! a running mean (over about 256 samples, from the 32nd on) of its one-step
//! predictive negative log-likelihood, `ln S + ν²/S` for the innovation ν and its predicted variance S; the
//! estimate is the best-scoring filter's. This is the regression's cross-validated
//! window in a Kalman filter's terms (and multiple-model adaptive estimation in the
//! literature's): the wander is a property of the clock, so unlike a window length it
//! does not change with the polling interval. ntpd-rs instead adapts a single filter's
//! wander up or down by factors of four when its innovations are too often too large or
//! too small; the bank needs no hysteresis and settles within the score's memory.
//! Each sample's `ν²/S` is capped at [`NIS_CAP`] in the score so one wild sample
//! cannot bar a filter for hundreds of samples; a filter whose prediction was
//! implausible (over the cap) while another's was not restarts from the best
//! predictor's state, so after a frequency step the slow filters do not take their own
//! long memory to catch up.
//!
//! **Jumps** (a step of the source or of our clock behind our back) are detected as
//! the regression detects them, with the same [`JUMP_FACTOR`] and error bounds: the
//! history is dropped, every filter's offset restarts at the sample, known within its
//! whole distance (as a first sample is: alone, nothing says how lucky it was), and
//! the frequency with its variance carries on; the source stays selectable.
//!
//! **What the engine relies on.** `skew_ppm` is the standard error of the frequency
//! (√P₁₁), `offset_error_s` that of the offset (√P₀₀), both inflated by the square
//! root of the running mean of the normalised squared innovations when that is over
//! one (the innovations say the model's variances are too small: the error bound grows
//! with the skew, and without this it missed its 99.99 % in gnomon-sim's vpc-master,
//! 99.944 % in the worst seed, against 99.997 % with it), `offset_sd_s` the running RMS
//! of the innovations (the scatter of samples about the filter's prediction: what
//! maxdelaydevratio and selection's distances use). `consistent_samples`, which steers
//! the poll towards `polltarget`, is chrony's count: the samples a regression passes
//! the runs test over, started from every kept sample (the same function the
//! regression uses), so gnomond polls as the regression and chronyd would.
//! `samples_used` counts the samples since the filters started or last jumped (at most
//! `maxsamples`): the degrees of freedom the error bound's growth takes.
//!
//! Measured under clknetsim beside chronyd and in gnomon-sim: docs/accuracy.md,
//! "Kalman filter".

use std::collections::VecDeque;

use gnomon_proto::UnixTime;

use crate::estimator::{
    delay_passes, least_server_dispersion_s, runs_tested_count, seconds_between, Estimate,
    StoredSample, JUMP_FACTOR, MIN_SAMPLES_FOR_REGRESSION, RUNS_RATIO, WORST_CASE_SKEW_PPM,
};
use crate::line_fit::median_of_sorted;

/// Filters in the bank.
pub const WANDER_BANK_LEN: usize = 14;
/// The smallest wander in the bank, per second (0.1 ppb/s); each next one doubles it.
pub const SMALLEST_WANDER_PER_S: f64 = 0.1e-9;
/// The filter whose estimate is used until the scores mean something (index into the
/// bank: 0.1 ppb/s × 2^5 = 3.2 ppb/s, the geometric middle of the 1-10 ppb/s the
/// scenarios have). 12.8 ppb/s, as first chosen, cost chrony's 001-defaults (100 µs
/// jitter, 1 ppb/s, statistics from 210 s) 14 %: 76 µs RMS against the regression's
/// 68 µs under clknetsim; 3.2 ppb/s gives 47 µs in gnomon-sim (regression: 67 µs).
const DEFAULT_FILTER: usize = 5;
/// Weight of the newest sample in a filter's running score (about 256 samples: the
/// wander is a property of the clock, and a shorter memory let heavy-tailed noise
/// switch between wanders a hundred times apart).
const SCORE_GAIN: f64 = 1.0 / 256.0;
/// Samples since the start before predictions are scored: the start-up (a large
/// offset slewed away, a frequency first estimated from a few samples) made the
/// fastest wanders win the first scores, and with them the first hours.
const SCORE_AFTER_SAMPLES: usize = 32;
/// Samples scored before the bank's choice is used.
const MIN_SCORED: u32 = 8;
/// Largest normalised squared innovation a sample adds to a score (5 σ).
pub const NIS_CAP: f64 = 25.0;
/// Least standard deviation of a sample's error, seconds (the servers' timestamps are
/// fuzzed below their precision, 2^-24 s at chronyd's default).
pub const MIN_NOISE_S: f64 = 30e-9;
/// How far above the true least distance the least of `n` kept samples is taken to
/// be, in median excesses over √n (exponential jitter's expectation is 0.84; the
/// simulations measured best between 1.2 and 1.6: docs/accuracy.md).
const BIAS_FACTOR: f64 = 1.2;
/// Weight of the newest innovation in `offset_sd_s` once there are this many (the
/// running RMS's memory).
const SPREAD_MEMORY: f64 = 32.0;

/// One two-state filter of the bank.
#[derive(Clone, Copy, Debug)]
struct Filter {
    /// Spectral density of the frequency's random walk, s²/s³.
    wander: f64,
    offset_s: f64,
    /// Seconds per second.
    frequency: f64,
    /// Covariance of (offset, frequency).
    p: [[f64; 2]; 2],
    /// Running mean of `ln S + min(ν²/S, NIS_CAP)`.
    score: f64,
}

/// A filter's prediction of one sample.
#[derive(Clone, Copy, Debug)]
struct Prediction {
    offset_s: f64,
    p: [[f64; 2]; 2],
    /// Innovation: the sample's offset minus the predicted one.
    innovation_s: f64,
    /// Predicted variance of the innovation.
    innovation_variance: f64,
}

impl Prediction {
    fn normalised_squared_innovation(&self) -> f64 {
        self.innovation_s * self.innovation_s / self.innovation_variance
    }
}

impl Filter {
    fn predict(&self, dt_s: f64, measured_s: f64, noise_variance: f64) -> Prediction {
        let q = self.wander;
        let [[p00, p01], [_, p11]] = self.p;
        let p00 = p00 + 2.0 * dt_s * p01 + dt_s * dt_s * p11 + q * dt_s.powi(3) / 3.0;
        let p01 = p01 + dt_s * p11 + q * dt_s * dt_s / 2.0;
        let p11 = p11 + q * dt_s;
        let offset_s = self.offset_s + self.frequency * dt_s;
        Prediction {
            offset_s,
            p: [[p00, p01], [p01, p11]],
            innovation_s: measured_s - offset_s,
            innovation_variance: p00 + noise_variance,
        }
    }

    /// Absorb a measurement predicted by `prediction`.
    fn absorb(&mut self, prediction: &Prediction) {
        let [[p00, p01], [_, p11]] = prediction.p;
        let s = prediction.innovation_variance;
        let (k0, k1) = (p00 / s, p01 / s);
        self.offset_s = prediction.offset_s + k0 * prediction.innovation_s;
        self.frequency += k1 * prediction.innovation_s;
        let q00 = (1.0 - k0) * p00;
        let q01 = (1.0 - k0) * p01;
        let q11 = p11 - k1 * p01;
        self.p = [[q00, q01], [q01, q11.max(0.0)]];
    }

    fn add_score(&mut self, prediction: &Prediction, gain: f64) {
        let term = prediction.innovation_variance.ln()
            + prediction.normalised_squared_innovation().min(NIS_CAP);
        self.score += gain * (term - self.score);
    }
}

/// The bank of filters over one source's samples.
#[derive(Clone, Debug)]
pub struct KalmanEstimator {
    min_samples: usize,
    max_samples: usize,
    /// Oldest first, at most `RUNS_RATIO * max_samples` (the runs test's reach).
    samples: VecDeque<StoredSample>,
    filters: [Filter; WANDER_BANK_LEN],
    /// Local time of the filters' state (the newest sample's); `None` before a sample.
    state_time: Option<UnixTime>,
    chosen: usize,
    scored: u32,
    /// Samples since the filters started or last jumped.
    since_restart: usize,
    /// Samples since the filters started (a jump keeps the source selectable).
    since_start: usize,
    /// Running mean of the chosen filter's squared innovations.
    innovation_mean_square: f64,
    /// Running mean of the chosen filter's normalised squared innovations (1 when the
    /// filter's variances are honest).
    mean_nis: f64,
    estimate: Option<Estimate>,
}

impl KalmanEstimator {
    /// A bank with chrony's `minsamples` (for the polling count) and `maxsamples`.
    pub fn new(min_samples: usize, max_samples: usize) -> Self {
        let max_samples = max_samples.max(MIN_SAMPLES_FOR_REGRESSION);
        let filters = std::array::from_fn(|index| Filter {
            wander: (SMALLEST_WANDER_PER_S * f64::powi(2.0, index as i32)).powi(2),
            offset_s: 0.0,
            frequency: 0.0,
            p: [[0.0; 2]; 2],
            score: 0.0,
        });
        KalmanEstimator {
            min_samples: min_samples.clamp(MIN_SAMPLES_FOR_REGRESSION, max_samples),
            max_samples,
            samples: VecDeque::with_capacity(max_samples * RUNS_RATIO),
            filters,
            state_time: None,
            chosen: DEFAULT_FILTER,
            scored: 0,
            since_restart: 0,
            since_start: 0,
            innovation_mean_square: 0.0,
            mean_nis: 1.0,
            estimate: None,
        }
    }

    /// The wander (per second, e.g. 1e-9 for 1 ppb/s) of the filter the estimate is
    /// taken from.
    pub fn chosen_wander_per_s(&self) -> f64 {
        self.filters[self.chosen].wander.sqrt()
    }

    pub fn estimate(&self) -> Option<&Estimate> {
        self.estimate.as_ref()
    }

    /// chrony's `select_ok`: three samples since the filters started.
    pub fn is_selectable(&self) -> bool {
        self.since_start >= MIN_SAMPLES_FOR_REGRESSION
    }

    /// The newest samples, up to `maxsamples`, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &StoredSample> {
        self.samples
            .iter()
            .skip(self.samples.len().saturating_sub(self.max_samples))
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len().min(self.max_samples)
    }

    pub fn clear(&mut self) {
        *self = KalmanEstimator::new(self.min_samples, self.max_samples);
    }

    /// chrony's maxdelayratio / maxdelaydevratio tests (as the regression applies them).
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

    /// The variance of the newest sample's error: its excess distance over the least
    /// kept, uniform within ±excess, plus the floor (module doc).
    fn noise_variance(&self) -> f64 {
        let least_server_s = least_server_dispersion_s(self.samples.iter());
        let mut distances_s: Vec<f64> = self
            .samples
            .iter()
            .map(|s| s.weight_distance_s(least_server_s))
            .collect();
        let newest_s = *distances_s.last().expect("a sample was just kept");
        distances_s.sort_by(f64::total_cmp);
        let least_s = distances_s[0];
        let median_excess_s = median_of_sorted(&distances_s) - least_s;
        // The least kept is above the true least by about this much.
        let bias_s = BIAS_FACTOR * median_excess_s / (distances_s.len() as f64).sqrt();
        ((newest_s - least_s + bias_s).powi(2) / 3.0).max(MIN_NOISE_S * MIN_NOISE_S)
    }

    /// Add a sample (in time order) and redo the estimate.
    pub fn add_sample(&mut self, sample: StoredSample) {
        if let Some(last) = self.samples.back() {
            if sample.local_time < last.local_time {
                // Out of order (a clock step raced a reply): history is unusable.
                self.clear();
            }
        }
        self.samples.push_back(sample);
        if self.samples.len() > self.max_samples * RUNS_RATIO {
            self.samples.pop_front();
        }
        let noise_variance = self.noise_variance();
        let Some(state_time) = self.state_time else {
            self.start(sample, noise_variance);
            return;
        };
        let dt_s = seconds_between(state_time, sample.local_time);
        let predictions: [Prediction; WANDER_BANK_LEN] = std::array::from_fn(|index| {
            self.filters[index].predict(dt_s, sample.offset_s, noise_variance)
        });
        self.state_time = Some(sample.local_time);
        let chosen = predictions[self.chosen];
        if self.is_jump(&sample, &chosen) {
            self.restart_after_jump(sample, noise_variance, &predictions);
            return;
        }
        if self.since_restart >= 2 && self.since_start >= SCORE_AFTER_SAMPLES {
            // Both states are known: the prediction means something.
            self.scored = self.scored.saturating_add(1);
            let gain = (1.0 / self.scored as f64).max(SCORE_GAIN);
            for (filter, prediction) in self.filters.iter_mut().zip(&predictions) {
                filter.add_score(prediction, gain);
            }
        }
        for (filter, prediction) in self.filters.iter_mut().zip(&predictions) {
            filter.absorb(prediction);
        }
        self.reseed_implausible(&predictions);
        if self.scored >= MIN_SCORED {
            self.chosen = (0..WANDER_BANK_LEN)
                .min_by(|&a, &b| self.filters[a].score.total_cmp(&self.filters[b].score))
                .unwrap_or(DEFAULT_FILTER);
        }
        if self.since_restart >= 2 {
            let innovation_s = predictions[self.chosen].innovation_s;
            let gain = (1.0 / (self.since_restart - 1) as f64).max(1.0 / SPREAD_MEMORY);
            self.innovation_mean_square +=
                gain * (innovation_s.powi(2) - self.innovation_mean_square);
            let nis = predictions[self.chosen].normalised_squared_innovation();
            self.mean_nis += gain * (nis.min(NIS_CAP) - self.mean_nis);
        }
        self.since_restart += 1;
        self.since_start += 1;
        self.publish(sample);
    }

    /// The first sample: every filter starts at it, frequency unknown.
    fn start(&mut self, sample: StoredSample, noise_variance: f64) {
        // Without a least distance to compare with, the error is bounded by the whole
        // distance, the server's root dispersion included: a master still slewing its
        // start offset announces it there, and a first sample taken then at its peer
        // distance alone anchored the line 20 ms off (gnomon-sim vpc-master).
        let variance = noise_variance.max(sample.weight_distance_s(0.0).powi(2) / 3.0);
        let worst = (WORST_CASE_SKEW_PPM * 1e-6).powi(2);
        for filter in &mut self.filters {
            filter.offset_s = sample.offset_s;
            filter.frequency = 0.0;
            filter.p = [[variance, 0.0], [0.0, worst]];
        }
        self.state_time = Some(sample.local_time);
        self.since_restart = 1;
        self.since_start = 1;
        self.innovation_mean_square = 0.0;
        self.mean_nis = 1.0;
        self.publish(sample);
    }

    /// Whether `sample` is further from the chosen filter's prediction than
    /// [`JUMP_FACTOR`] times both error bounds (the regression's test).
    fn is_jump(&self, sample: &StoredSample, chosen: &Prediction) -> bool {
        let Some(estimate) = &self.estimate else {
            return false;
        };
        if self.since_restart < MIN_SAMPLES_FOR_REGRESSION {
            return false;
        }
        let least_s = least_server_dispersion_s(self.samples.iter());
        let bound_s =
            sample.weight_distance_s(least_s) + chosen.p[0][0].sqrt() + estimate.offset_sd_s;
        chosen.innovation_s.abs() > JUMP_FACTOR * bound_s
    }

    /// A jump: the offset restarts at the sample, the frequency carries on.
    fn restart_after_jump(
        &mut self,
        sample: StoredSample,
        noise_variance: f64,
        predictions: &[Prediction; WANDER_BANK_LEN],
    ) {
        let variance = noise_variance.max(sample.weight_distance_s(0.0).powi(2) / 3.0);
        for (filter, prediction) in self.filters.iter_mut().zip(predictions) {
            filter.offset_s = sample.offset_s;
            filter.p = [[variance, 0.0], [0.0, prediction.p[1][1]]];
        }
        self.samples.clear();
        self.samples.push_back(sample);
        self.since_restart = 1;
        self.since_start += 1;
        self.publish(sample);
    }

    /// Filters whose prediction of this sample was implausible restart from the state
    /// of the one that predicted it best, when that one's was plausible.
    fn reseed_implausible(&mut self, predictions: &[Prediction; WANDER_BANK_LEN]) {
        let nis = predictions.map(|p| p.normalised_squared_innovation());
        let Some(best) = (0..WANDER_BANK_LEN).min_by(|&a, &b| nis[a].total_cmp(&nis[b])) else {
            return;
        };
        if nis[best] > NIS_CAP {
            return;
        }
        let source = self.filters[best];
        for (filter, &nis) in self.filters.iter_mut().zip(&nis) {
            if nis > NIS_CAP {
                filter.offset_s = source.offset_s;
                filter.frequency = source.frequency;
                filter.p = source.p;
            }
        }
    }

    fn publish(&mut self, newest: StoredSample) {
        let filter = &self.filters[self.chosen];
        let offset_sd_s = if self.since_restart < MIN_SAMPLES_FOR_REGRESSION {
            newest.peer_distance_s()
        } else {
            self.innovation_mean_square.sqrt()
        };
        // Innovations larger than the filter expects say its variances are too small.
        let inflation = self.mean_nis.max(1.0).sqrt();
        self.estimate = Some(Estimate {
            reference_time: newest.local_time,
            offset_s: filter.offset_s,
            frequency_ppm: filter.frequency * 1e6,
            skew_ppm: (inflation * filter.p[1][1].sqrt() * 1e6).clamp(1e-6, WORST_CASE_SKEW_PPM),
            offset_sd_s,
            offset_error_s: inflation * filter.p[0][0].sqrt(),
            samples_used: self.since_restart.min(self.max_samples),
            consistent_samples: runs_tested_count(
                &self.samples,
                self.min_samples,
                self.max_samples,
            ),
        });
    }

    /// Re-express the state after the engine changed the clock at local time `now`
    /// (as [`crate::estimator::Estimator::apply_clock_change`] does the regression's):
    /// times and offsets move, the frequency becomes `(ω - rate_change) / (1 +
    /// rate_change)` and its variances scale with it.
    pub fn apply_clock_change(&mut self, now: UnixTime, rate_change: f64, step_s: f64) {
        let rescale = |time: &mut UnixTime, offset_s: &mut f64| {
            let shift_s = rate_change * seconds_between(*time, now);
            *offset_s += shift_s - step_s;
            *time = time.add_seconds_f64(step_s - shift_s);
        };
        for sample in &mut self.samples {
            rescale(&mut sample.local_time, &mut sample.offset_s);
        }
        if let Some(state_time) = self.state_time {
            let scale = 1.0 / (1.0 + rate_change);
            let mut moved_time = state_time;
            for filter in &mut self.filters {
                moved_time = state_time;
                rescale(&mut moved_time, &mut filter.offset_s);
                filter.frequency = (filter.frequency - rate_change) * scale;
                filter.p[0][1] *= scale;
                filter.p[1][0] *= scale;
                filter.p[1][1] *= scale * scale;
            }
            self.state_time = Some(moved_time);
        }
        if let Some(estimate) = &mut self.estimate {
            rescale(&mut estimate.reference_time, &mut estimate.offset_s);
            estimate.frequency_ppm =
                (estimate.frequency_ppm - rate_change * 1e6) / (1.0 + rate_change);
            estimate.skew_ppm /= 1.0 + rate_change;
        }
    }
}

#[cfg(test)]
#[path = "kalman_tests.rs"]
mod tests;
