//! Virtual clocks: the local clock of a simulated machine, measured against true time.
//!
//! Owns one clock's state (error against the continuous true timescale, intrinsic
//! frequency error with its random-walk wander, the engine's frequency correction,
//! the armed leap second) and how it moves: integrating the frequency between events,
//! applying the engine's [`ClockAction`]s the way Linux's adjtimex would, inserting or
//! deleting a leap second at the clock's own midnight, and mapping a local deadline
//! back to true time. It must not decide anything about synchronisation and knows
//! nothing of networks or engines.
//!
//! True time is a continuous count of nanoseconds (it never repeats a second); the
//! reference UTC timescale repeats one second at an inserted leap, which
//! [`crate::simulation`] accounts for when it measures errors.

use gnomon_core::clock_action::{ClockAction, LeapSecond};
use gnomon_proto::UnixTime;

use crate::rng::SimRng;
use crate::scenario::ClockSpec;

const NANOS_PER_S: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// A simulated machine's clock.
#[derive(Clone, Debug)]
pub struct VirtualClock {
    /// Clock reading minus continuous true time, seconds.
    error_s: f64,
    /// The oscillator's own frequency error (including wander so far), ppm.
    intrinsic_ppm: f64,
    /// What the engine last asked for (frequency correction plus slew), ppm.
    correction_ppm: f64,
    /// The engine's frequency correction without the slew, ppm.
    base_correction_ppm: f64,
    wander_ppb_per_s: f64,
    last_true_ns: i64,
    next_wander_tick_ns: i64,
    leap: LeapSecond,
    synchronized: bool,
    /// Leap seconds this clock inserted (+1) or deleted (−1).
    leaps_applied: i32,
    rng: SimRng,
}

impl VirtualClock {
    /// A clock starting at true time `start_true_ns`; spreads in `spec` are drawn from `rng`.
    pub fn new(spec: &ClockSpec, start_true_ns: i64, mut rng: SimRng) -> VirtualClock {
        let offset_s = spec.offset_s + rng.symmetric(spec.offset_spread_s);
        let frequency_ppm = spec.frequency_ppm + rng.symmetric(spec.frequency_spread_ppm);
        VirtualClock {
            error_s: offset_s,
            intrinsic_ppm: frequency_ppm,
            correction_ppm: 0.0,
            base_correction_ppm: 0.0,
            wander_ppb_per_s: spec.wander_ppb_per_s,
            last_true_ns: start_true_ns,
            next_wander_tick_ns: if spec.wander_ppb_per_s > 0.0 {
                start_true_ns + NANOS_PER_S
            } else {
                i64::MAX
            },
            leap: LeapSecond::None,
            synchronized: false,
            leaps_applied: 0,
            rng,
        }
    }

    /// A perfect clock.
    pub fn perfect(start_true_ns: i64) -> VirtualClock {
        VirtualClock::new(
            &ClockSpec::default(),
            start_true_ns,
            SimRng::derive(0, "perfect"),
        )
    }

    /// Run the clock forward to true time `true_ns` (never backwards).
    pub fn advance_to(&mut self, true_ns: i64) {
        while self.last_true_ns < true_ns {
            let segment_end = true_ns.min(self.next_wander_tick_ns);
            let before = self.read();
            let elapsed_s = (segment_end - self.last_true_ns) as f64 * 1e-9;
            self.error_s += elapsed_s * self.rate();
            self.last_true_ns = segment_end;
            self.leap_if_midnight_passed(before);
            if segment_end == self.next_wander_tick_ns {
                self.intrinsic_ppm += self.wander_ppb_per_s * 1e-3 * self.rng.normal();
                self.next_wander_tick_ns += NANOS_PER_S;
            }
        }
    }

    /// The kernel inserts or deletes the armed leap second when the clock itself
    /// passes midnight, then forgets it.
    fn leap_if_midnight_passed(&mut self, before: UnixTime) {
        let step_s = match self.leap {
            LeapSecond::None => return,
            LeapSecond::Insert => -1.0,
            LeapSecond::Delete => 1.0,
        };
        let midnight_s =
            (before.as_nanos().div_euclid(NANOS_PER_S) / SECONDS_PER_DAY + 1) * SECONDS_PER_DAY;
        if self.read().as_nanos() >= midnight_s * NANOS_PER_S {
            self.error_s += step_s;
            self.leaps_applied -= step_s as i32;
            self.leap = LeapSecond::None;
        }
    }

    /// Total rate of the clock against true time (dimensionless).
    fn rate(&self) -> f64 {
        (self.intrinsic_ppm + self.correction_ppm) * 1e-6
    }

    /// The clock's reading now.
    pub fn read(&self) -> UnixTime {
        UnixTime::from_nanos(self.last_true_ns + (self.error_s * 1e9).round() as i64)
    }

    /// Clock minus continuous true time, seconds.
    pub fn error_s(&self) -> f64 {
        self.error_s
    }

    /// The true time at which the clock will read `local` (assuming the current rate),
    /// rounded up so the clock reads at least `local` then.
    pub fn true_time_of(&self, local: UnixTime) -> i64 {
        let ahead_ns = (local.as_nanos() - self.read().as_nanos()) as f64;
        // Relative to now: absolute nanoseconds do not fit an f64's mantissa.
        let wait_ns = (ahead_ns / (1.0 + self.rate())).ceil() as i64;
        self.last_true_ns + wait_ns.max(0) + 1
    }

    /// Carry out one of the engine's instructions.
    pub fn apply(&mut self, action: &ClockAction) {
        match *action {
            ClockAction::SetFrequency {
                frequency_ppm,
                slew_ppm,
            } => {
                self.correction_ppm = frequency_ppm;
                self.base_correction_ppm = frequency_ppm - slew_ppm;
            }
            ClockAction::Step { offset_s } => self.error_s += offset_s,
            ClockAction::SetLeap(leap) => self.leap = leap,
            ClockAction::SetSynchronized { synchronized, .. } => self.synchronized = synchronized,
        }
    }

    /// A step nobody asked for (scenario-scheduled).
    pub fn step(&mut self, offset_s: f64) {
        self.error_s += offset_s;
    }

    /// Remaining frequency error once the slew ends: intrinsic + correction, ppm.
    pub fn frequency_error_ppm(&self) -> f64 {
        self.intrinsic_ppm + self.base_correction_ppm
    }

    pub fn intrinsic_ppm(&self) -> f64 {
        self.intrinsic_ppm
    }

    pub fn correction_ppm(&self) -> f64 {
        self.correction_ppm
    }

    pub fn leap(&self) -> LeapSecond {
        self.leap
    }

    pub fn leaps_applied(&self) -> i32 {
        self.leaps_applied
    }

    pub fn synchronized(&self) -> bool {
        self.synchronized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_NS: i64 = 1_767_225_600 * NANOS_PER_S;

    fn clock(offset_s: f64, frequency_ppm: f64, wander: f64) -> VirtualClock {
        let spec = ClockSpec {
            offset_s,
            frequency_ppm,
            wander_ppb_per_s: wander,
            ..ClockSpec::default()
        };
        VirtualClock::new(&spec, START_NS, SimRng::derive(1, "test"))
    }

    #[test]
    fn frequency_error_accumulates_and_correction_cancels_it() {
        let mut c = clock(0.0, 10.0, 0.0);
        c.advance_to(START_NS + 100 * NANOS_PER_S);
        assert!((c.error_s() - 1e-3).abs() < 1e-12);
        c.apply(&ClockAction::SetFrequency {
            frequency_ppm: -10.0,
            slew_ppm: 0.0,
        });
        c.advance_to(START_NS + 200 * NANOS_PER_S);
        assert!((c.error_s() - 1e-3).abs() < 1e-12);
        assert_eq!(c.frequency_error_ppm(), 0.0);
    }

    #[test]
    fn steps_and_deadline_mapping() {
        let mut c = clock(0.25, 100.0, 0.0);
        c.apply(&ClockAction::Step { offset_s: -0.25 });
        assert!(c.error_s().abs() < 1e-12);
        let local = UnixTime::from_nanos(c.read().as_nanos() + 64 * NANOS_PER_S);
        let at = c.true_time_of(local);
        c.advance_to(at);
        assert!(c.read() >= local);
        assert!(c.read().as_nanos() - local.as_nanos() < 1_000);
    }

    #[test]
    fn wander_is_a_random_walk_of_the_frequency() {
        let mut c = clock(0.0, 0.0, 10.0);
        c.advance_to(START_NS + 10_000 * NANOS_PER_S);
        // 10 ppb/s over 10^4 s: sd 1 ppm; exactly zero would mean no wander at all.
        assert!(c.intrinsic_ppm() != 0.0 && c.intrinsic_ppm().abs() < 5.0);
    }

    #[test]
    fn armed_leap_is_inserted_at_the_clocks_midnight() {
        // 2016-12-31 23:59:00 UTC.
        let start = 1_483_228_740 * NANOS_PER_S;
        let mut c = VirtualClock::new(&ClockSpec::default(), start, SimRng::derive(1, "l"));
        c.apply(&ClockAction::SetLeap(LeapSecond::Insert));
        c.advance_to(start + 30 * NANOS_PER_S);
        assert_eq!(c.leaps_applied(), 0);
        c.advance_to(start + 61 * NANOS_PER_S);
        assert_eq!(c.leaps_applied(), 1);
        assert!((c.error_s() + 1.0).abs() < 1e-9);
        assert_eq!(c.leap(), LeapSecond::None);
    }
}
