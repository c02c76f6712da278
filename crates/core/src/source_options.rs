//! Per-source configuration: the options of chrony's `server`/`pool`/`peer` directives
//! that shape how one source is polled, filtered and selected.
//!
//! Owns the option values, chrony's defaults and their consistency check. It must not
//! parse configuration text (the daemon's config module does) and holds no state.

use thiserror::Error;

/// chrony's default minimum poll exponent (64 s).
pub const DEFAULT_MINPOLL: i8 = 6;
/// chrony's default maximum poll exponent (1024 s).
pub const DEFAULT_MAXPOLL: i8 = 10;
/// chrony's default `polltarget`: number of regression samples the poll adapts to.
pub const DEFAULT_POLLTARGET: u32 = 8;
/// chrony's default `maxdelay` (seconds).
pub const DEFAULT_MAXDELAY_S: f64 = 3.0;
/// chrony's default `maxdelayratio` and `maxdelaydevratio` value that turns the test off.
pub const DEFAULT_MAXDELAYRATIO: f64 = 0.0;
/// chrony's default `maxdelaydevratio`.
pub const DEFAULT_MAXDELAYDEVRATIO: f64 = 10.0;
/// chrony's default `maxsamples` (the hard limit of samples kept per source).
pub const DEFAULT_MAXSAMPLES: usize = 64;
/// Default `minsamples`: no floor above the 3 samples a line needs (chrony's is 6).
/// The estimator chooses its window by cross-validation, and at low jitter and fast
/// wander the best window is 3–4 samples (crates/sim's test2-jitter-10us: 9.9 µs
/// mean error with a floor of 6, 7.2 µs without).
pub const DEFAULT_MINSAMPLES: usize = 3;
/// Smallest poll exponent accepted (1/64 s, as in chrony).
pub const MIN_POLL_EXPONENT: i8 = -6;
/// Largest poll exponent accepted (36 h, as in chrony).
pub const MAX_POLL_EXPONENT: i8 = 17;

/// Options of one time source, with chrony's meaning and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceOptions {
    /// Shortest poll interval, log2 seconds; negative means sub-second.
    pub minpoll: i8,
    /// Longest poll interval, log2 seconds.
    pub maxpoll: i8,
    /// Send the first four requests 2 s apart to get a fast first measurement.
    pub iburst: bool,
    /// Turn every regular poll into a short burst of requests.
    pub burst: bool,
    /// Prefer this source in selection over others that are not preferred.
    pub prefer: bool,
    /// Measure the source but never select it.
    pub noselect: bool,
    /// Count the source as trusted: a trusted source is never a falseticker to untrusted ones.
    pub trust: bool,
    /// Selection requires at least one source with `require` to be selectable.
    pub require: bool,
    /// Samples with a round-trip delay above this are rejected (seconds).
    pub maxdelay_s: f64,
    /// Reject samples whose delay exceeds this multiple of the minimum delay among
    /// the stored samples; 0 turns the test off.
    pub maxdelayratio: f64,
    /// Reject samples whose delay exceeds the minimum by more than this multiple of
    /// the regression's standard deviation; 0 turns the test off.
    pub maxdelaydevratio: f64,
    /// Treat the source's stratum as at least this (demotes it in selection).
    pub minstratum: u8,
    /// Number of regression samples the poll interval adapts towards.
    pub polltarget: u32,
    /// Constant correction added to every offset measured from this source (seconds).
    pub offset_s: f64,
    /// Most samples kept for the regression.
    pub maxsamples: usize,
    /// Fewest samples kept for the regression (when available).
    pub minsamples: usize,
    /// Start offline (chrony's `offline` option): no requests until the source is
    /// switched online (chronyc `online`). An initial `iburst` is not sent then.
    pub offline: bool,
    /// How samples become the estimate (gnomon's `estimator` directive).
    pub estimator: crate::source_estimator::EstimatorKind,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            minpoll: DEFAULT_MINPOLL,
            maxpoll: DEFAULT_MAXPOLL,
            iburst: false,
            burst: false,
            prefer: false,
            noselect: false,
            trust: false,
            require: false,
            maxdelay_s: DEFAULT_MAXDELAY_S,
            maxdelayratio: DEFAULT_MAXDELAYRATIO,
            maxdelaydevratio: DEFAULT_MAXDELAYDEVRATIO,
            minstratum: 0,
            polltarget: DEFAULT_POLLTARGET,
            offset_s: 0.0,
            maxsamples: DEFAULT_MAXSAMPLES,
            minsamples: DEFAULT_MINSAMPLES,
            offline: false,
            estimator: crate::source_estimator::EstimatorKind::CrossValidated,
        }
    }
}

/// Why a set of source options cannot be used.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum OptionsError {
    #[error("poll exponent {value} is outside {MIN_POLL_EXPONENT}..={MAX_POLL_EXPONENT}")]
    PollOutOfRange { value: i8 },
    #[error("maxdelay must be positive and finite, got {value}")]
    BadMaxDelay { value: f64 },
    #[error("{name} must be zero or positive and finite, got {value}")]
    BadRatio { name: &'static str, value: f64 },
    #[error("polltarget must be between 6 and 60, got {value}")]
    BadPollTarget { value: u32 },
    #[error("maxsamples must be at least 4 (got {value})")]
    TooFewMaxSamples { value: usize },
    #[error("offset must be finite, got {value}")]
    BadOffset { value: f64 },
}

impl SourceOptions {
    /// Check the values and normalise them the way chrony does: a `maxpoll` below
    /// `minpoll` is raised to it, and `minsamples` is capped at `maxsamples`.
    pub fn validated(mut self) -> Result<SourceOptions, OptionsError> {
        for value in [self.minpoll, self.maxpoll] {
            if !(MIN_POLL_EXPONENT..=MAX_POLL_EXPONENT).contains(&value) {
                return Err(OptionsError::PollOutOfRange { value });
            }
        }
        if !(self.maxdelay_s.is_finite() && self.maxdelay_s > 0.0) {
            return Err(OptionsError::BadMaxDelay {
                value: self.maxdelay_s,
            });
        }
        for (name, value) in [
            ("maxdelayratio", self.maxdelayratio),
            ("maxdelaydevratio", self.maxdelaydevratio),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(OptionsError::BadRatio { name, value });
            }
        }
        if !(6..=60).contains(&self.polltarget) {
            return Err(OptionsError::BadPollTarget {
                value: self.polltarget,
            });
        }
        if self.maxsamples < 4 {
            return Err(OptionsError::TooFewMaxSamples {
                value: self.maxsamples,
            });
        }
        if !self.offset_s.is_finite() {
            return Err(OptionsError::BadOffset {
                value: self.offset_s,
            });
        }
        self.maxpoll = self.maxpoll.max(self.minpoll);
        self.minsamples = self.minsamples.min(self.maxsamples);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_chronys() {
        let options = SourceOptions::default();
        assert_eq!((options.minpoll, options.maxpoll), (6, 10));
        assert_eq!(options.maxdelay_s, 3.0);
        assert_eq!(options.polltarget, 8);
        assert_eq!(options.maxsamples, 64);
        assert!(options.clone().validated().is_ok());
    }

    #[test]
    fn maxpoll_below_minpoll_is_raised() {
        let options = SourceOptions {
            minpoll: 8,
            maxpoll: 4,
            ..Default::default()
        };
        assert_eq!(options.validated().unwrap().maxpoll, 8);
    }

    #[test]
    fn bad_values_are_named() {
        let options = SourceOptions {
            minpoll: -9,
            ..Default::default()
        };
        assert_eq!(
            options.validated(),
            Err(OptionsError::PollOutOfRange { value: -9 })
        );
        let options = SourceOptions {
            maxdelay_s: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(
            options.validated(),
            Err(OptionsError::BadMaxDelay { .. })
        ));
        let options = SourceOptions {
            maxdelaydevratio: -1.0,
            ..Default::default()
        };
        assert!(matches!(
            options.validated(),
            Err(OptionsError::BadRatio {
                name: "maxdelaydevratio",
                ..
            })
        ));
        let options = SourceOptions {
            polltarget: 2,
            ..Default::default()
        };
        assert!(options.validated().is_err());
    }
}
