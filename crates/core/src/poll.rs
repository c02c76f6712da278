//! When to ask a source next: chrony's polling state machine for one source.
//!
//! Owns the poll exponent and its adaptation between minpoll and maxpoll (chrony's
//! polltarget rule), iburst and burst, the 8-bit reachability register, the back-off
//! while a source does not answer, the reaction to kiss-o'-death codes (RATE backs
//! off, DENY/RSTR stop the source), and chronyc's `offline`/`online` (see
//! [`PollState::set_offline`]). It must not look at packet contents or samples
//! itself: the source tells it what happened.

use gnomon_proto::{KissCode, NtpDuration, UnixTime};

use crate::source_options::{SourceOptions, MAX_POLL_EXPONENT};

/// Spacing of the requests of an iburst or burst (chrony: 2 s).
pub const BURST_INTERVAL_S: f64 = 2.0;
/// Good samples an iburst or burst aims for (chrony: 4).
pub const BURST_GOOD_SAMPLES: u8 = 4;
/// Requests an iburst or burst sends at most (chrony: 8).
pub const BURST_MAX_REQUESTS: u8 = 8;
/// Poll-score increase for each request sent while the previous one was not answered.
pub const UNREACHABLE_POLL_ADJ: f64 = 0.25;

/// Why a source is no longer polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The server sent a DENY or RSTR kiss-o'-death.
    AccessDenied(KissCode),
}

/// The polling state of one source.
#[derive(Clone, Debug)]
pub struct PollState {
    minpoll: i8,
    maxpoll: i8,
    polltarget: u32,
    burst_option: bool,
    poll: i8,
    /// Fractional progress towards the next poll change (chrony's poll score).
    score: f64,
    reach: u8,
    /// How many requests the reachability register has seen, up to its 8 bits
    /// (chrony's reachability size): below 8 the source is still starting up.
    reach_size: u8,
    unanswered: u32,
    burst_good_left: u8,
    burst_requests_left: u8,
    next_send: Option<UnixTime>,
    stopped: Option<StopReason>,
    /// Switched offline (chronyc `offline`, the `offline` option): no regular polls.
    offline: bool,
    /// The clock's reading when the last request left.
    last_send: Option<UnixTime>,
}

fn poll_interval(poll: i8) -> NtpDuration {
    NtpDuration::from_seconds_f64(2f64.powi(poll as i32))
}

impl PollState {
    /// Start polling at `now` (the first request is due immediately), or, with the
    /// `offline` option, wait offline without an initial burst (as chrony 4.3 does).
    pub fn new(options: &SourceOptions, now: UnixTime) -> Self {
        let mut state = PollState {
            minpoll: options.minpoll,
            maxpoll: options.maxpoll.max(options.minpoll),
            polltarget: options.polltarget.max(1),
            burst_option: options.burst,
            poll: options.minpoll,
            score: 0.0,
            reach: 0,
            reach_size: 0,
            unanswered: 0,
            burst_good_left: 0,
            burst_requests_left: 0,
            next_send: (!options.offline).then_some(now),
            stopped: None,
            offline: options.offline,
            last_send: None,
        };
        if options.iburst && !options.offline {
            state.start_burst();
        }
        state
    }

    /// Current poll exponent (log2 seconds).
    pub fn poll(&self) -> i8 {
        self.poll
    }

    /// The effective minpoll (raised by RATE kiss codes).
    pub fn minpoll(&self) -> i8 {
        self.minpoll
    }

    /// The reachability register: bit 0 is the latest request, 1 = answered.
    pub fn reach(&self) -> u8 {
        self.reach
    }

    /// Requests the reachability register has seen since it was last cleared, at
    /// most 8.
    pub fn reach_size(&self) -> u8 {
        self.reach_size
    }

    pub fn is_reachable(&self) -> bool {
        self.reach != 0
    }

    pub fn in_burst(&self) -> bool {
        self.burst_requests_left > 0
    }

    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// Switched offline: no regular requests (a `burst` still runs).
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Local time the next request is due; `None` once stopped or while offline.
    pub fn next_send(&self) -> Option<UnixTime> {
        self.next_send
    }

    /// Begin a burst now (chrony's `burst` command, or `iburst` at start).
    pub fn start_burst(&mut self) {
        self.burst_good_left = BURST_GOOD_SAMPLES;
        self.burst_requests_left = BURST_MAX_REQUESTS;
    }

    /// chronyc's `burst` at `now`. On an online source the burst takes the place of the
    /// next poll; an offline source sends its burst at once and goes back offline after
    /// it (chronyc activity's "doing burst (return to offline)"). A stopped source stays
    /// stopped.
    pub fn request_burst(&mut self, now: UnixTime) {
        if self.stopped.is_some() {
            return;
        }
        self.start_burst();
        if self.offline && self.next_send.is_none() {
            self.next_send = Some(now);
        }
    }

    /// chronyc `offline`: stop polling. As chronyd 4.3 does, the reachability register
    /// is cleared (the source shows as unreachable, `?`) and then stays as it is: no
    /// request is sent, so none goes unanswered. A burst in progress finishes first (see
    /// [`PollState::end_offline_burst`]). Returns false if the source was offline already.
    pub fn set_offline(&mut self) -> bool {
        if self.offline {
            return false;
        }
        self.offline = true;
        if !self.in_burst() {
            self.go_quiet();
        }
        true
    }

    /// chronyc `online`: resume polling. With `iburst` a burst starts at `now` (chrony
    /// repeats the initial burst on every switch to online); otherwise the next request
    /// goes out one poll interval after the last one, or at `now` if that has passed.
    /// A source stopped by a kiss-o'-death stays stopped. Returns false if the source
    /// was online already.
    pub fn set_online(&mut self, now: UnixTime, iburst: bool) -> bool {
        if !self.offline {
            return false;
        }
        self.offline = false;
        if self.stopped.is_some() || self.in_burst() {
            return true;
        }
        if iburst {
            self.start_burst();
            self.next_send = Some(now);
        } else {
            let due = self
                .last_send
                .map_or(now, |last| last.add(poll_interval(self.poll)));
            self.next_send = Some(due.max(now));
        }
        true
    }

    /// After a reply was used: an offline source whose burst is over is quiet again and,
    /// as in chronyd, its reachability register is cleared. Called after the sample has
    /// been through selection, so a burst's last sample still counts.
    pub fn end_offline_burst(&mut self) {
        if self.offline && !self.in_burst() {
            self.go_quiet();
        }
    }

    fn go_quiet(&mut self) {
        self.reach = 0;
        self.reach_size = 0;
        self.unanswered = 0;
        self.next_send = None;
    }

    /// A request is being sent at `now`: shift the reachability register, back off if
    /// the last requests went unanswered, and schedule the next one.
    pub fn on_send(&mut self, now: UnixTime) {
        if self.stopped.is_some() {
            return;
        }
        self.reach <<= 1;
        self.reach_size = (self.reach_size + 1).min(8);
        if self.unanswered >= 1 && !self.in_burst() {
            self.adjust_poll(UNREACHABLE_POLL_ADJ);
        }
        self.unanswered += 1;
        if self.burst_requests_left == 0 && self.burst_option && self.unanswered == 1 {
            // With `burst`, every regular poll becomes a burst.
            self.start_burst();
        }
        let interval = if self.burst_requests_left > 0 {
            self.burst_requests_left -= 1;
            if self.burst_requests_left == 0 {
                poll_interval(self.poll)
            } else {
                poll_interval(self.poll).min(NtpDuration::from_seconds_f64(BURST_INTERVAL_S))
            }
        } else {
            poll_interval(self.poll)
        };
        self.last_send = Some(now);
        // An offline source's burst is over: no more requests (the reply may still come).
        let quiet = self.offline && self.burst_requests_left == 0;
        self.next_send = (!quiet).then(|| now.add(interval));
    }

    /// The outstanding request was answered by a valid reply. `poll_adjustment` comes
    /// from [`poll_adjustment`] when the reply gave a usable sample (0 otherwise).
    pub fn on_reply(&mut self, poll_adjustment: f64, now: UnixTime) {
        self.reach |= 1;
        self.unanswered = 0;
        if self.burst_requests_left > 0 {
            self.burst_good_left = self.burst_good_left.saturating_sub(1);
            if self.burst_good_left == 0 {
                // Burst done: back to regular polling from now (offline: none).
                self.burst_requests_left = 0;
                self.next_send = (!self.offline).then(|| now.add(poll_interval(self.poll)));
            }
        } else {
            self.adjust_poll(poll_adjustment);
        }
    }

    /// The outstanding request was answered, but the reply gave no usable sample (the
    /// server is unsynchronised, or the sample failed a delay test): the source is
    /// reachable, and a burst goes on, as chronyd's does, since only good samples count
    /// towards it. Counting such replies ended an `iburst` against a master still
    /// unsynchronised after three of them, and the client then waited a whole poll
    /// interval per sample (under clknetsim: synchronised at 40 s instead of 11 s).
    pub fn on_unusable_reply(&mut self) {
        self.reach |= 1;
        self.unanswered = 0;
    }

    /// A kiss-o'-death with a valid origin arrived. RATE raises the minimum poll to at
    /// least one above the current one and the server's poll; DENY and RSTR stop the
    /// source for good; other codes count as no answer.
    pub fn on_kiss_of_death(&mut self, code: KissCode, server_poll: i8, now: UnixTime) {
        self.unanswered = 0;
        if code.is_access_denied() {
            self.stopped = Some(StopReason::AccessDenied(code));
            self.next_send = None;
            self.burst_requests_left = 0;
            return;
        }
        if code == KissCode::Rate {
            let raised = (self.poll.saturating_add(1))
                .max(server_poll)
                .min(MAX_POLL_EXPONENT);
            self.minpoll = raised;
            self.maxpoll = self.maxpoll.max(raised);
            self.poll = raised;
            self.score = 0.0;
            self.burst_requests_left = 0;
            self.burst_good_left = 0;
            self.next_send = (!self.offline).then(|| now.add(poll_interval(self.poll)));
        }
    }

    /// Move the poll exponent by a fractional amount, chrony's poll-score way.
    pub fn adjust_poll(&mut self, adjustment: f64) {
        self.score += adjustment;
        while self.score >= 1.0 {
            if self.poll < self.maxpoll {
                self.poll += 1;
                self.score -= 1.0;
            } else {
                self.score = 0.0;
            }
        }
        while self.score < 0.0 {
            if self.poll > self.minpoll {
                self.poll -= 1;
                self.score += 1.0;
            } else {
                self.score = 0.0;
            }
        }
        self.poll = self.poll.clamp(self.minpoll, self.maxpoll);
    }

    /// Polltarget used by [`poll_adjustment`].
    pub fn polltarget(&self) -> u32 {
        self.polltarget
    }

    /// Shift every scheduled time by `step_s` (the engine stepped the clock).
    pub fn shift(&mut self, step_s: f64) {
        for time in [&mut self.next_send, &mut self.last_send]
            .into_iter()
            .flatten()
        {
            *time = time.add_seconds_f64(step_s);
        }
    }
}

/// chrony's poll adjustment after a sample: back off fast when the sample is far from
/// the prediction (we are not tracking the source), otherwise steer the number of
/// samples a line fits (the runs test's count, as chrony's regression has it: the
/// estimator's `consistent_samples`) towards `polltarget` (shortening twice as fast as
/// lengthening).
pub fn poll_adjustment(
    prediction_error_s: f64,
    peer_distance_s: f64,
    samples_used: usize,
    polltarget: u32,
) -> f64 {
    if peer_distance_s > 0.0 && prediction_error_s > peer_distance_s {
        return -(prediction_error_s / peer_distance_s).log2();
    }
    let target = polltarget as f64;
    let adjustment = (samples_used as f64 / target - 1.0) / target;
    if (samples_used as f64) < target {
        2.0 * adjustment
    } else {
        adjustment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64) -> UnixTime {
        UnixTime::from_secs(1_800_000_000).add(NtpDuration::from_seconds_f64(seconds))
    }

    fn secs_until(state: &PollState, from: UnixTime) -> f64 {
        state
            .next_send()
            .unwrap()
            .duration_since(from)
            .as_seconds_f64()
    }

    #[test]
    fn iburst_sends_four_requests_two_seconds_apart() {
        let options = SourceOptions {
            iburst: true,
            ..Default::default()
        };
        let mut state = PollState::new(&options, at(0.0));
        assert_eq!(state.next_send(), Some(at(0.0)));
        let mut now = at(0.0);
        for i in 0..4 {
            state.on_send(now);
            let wait = secs_until(&state, now);
            assert_eq!(wait, 2.0, "request {i}");
            state.on_reply(0.0, now.add(NtpDuration::from_seconds_f64(0.01)));
            now = state.next_send().unwrap();
        }
        // After four good samples: regular polling at minpoll.
        assert!(!state.in_burst());
        assert!((secs_until(&state, at(6.01)) - 64.0).abs() < 1e-6);
        assert_eq!(state.reach(), 0b1111);
    }

    #[test]
    fn unusable_replies_do_not_end_an_iburst() {
        // A master still unsynchronised answers the first three requests; the burst
        // goes on until four good samples (or eight requests), as chronyd's does.
        let options = SourceOptions {
            iburst: true,
            ..Default::default()
        };
        let mut state = PollState::new(&options, at(0.0));
        let mut now = at(0.0);
        for i in 0..7 {
            state.on_send(now);
            assert_eq!(secs_until(&state, now), 2.0, "request {i}");
            let replied = now.add(NtpDuration::from_seconds_f64(0.01));
            if i < 3 {
                state.on_unusable_reply();
            } else {
                state.on_reply(0.0, replied);
            }
            assert!(state.in_burst() || i == 6, "burst ended after request {i}");
            now = state.next_send().unwrap();
        }
        assert!(!state.in_burst());
        assert_eq!(state.reach(), 0b111_1111);
    }

    #[test]
    fn without_iburst_polls_at_minpoll() {
        let mut state = PollState::new(&SourceOptions::default(), at(0.0));
        state.on_send(at(0.0));
        assert_eq!(secs_until(&state, at(0.0)), 64.0);
    }

    #[test]
    fn sub_second_polling() {
        let options = SourceOptions {
            minpoll: -2,
            maxpoll: -2,
            ..Default::default()
        };
        let mut state = PollState::new(&options, at(0.0));
        state.on_send(at(0.0));
        assert_eq!(secs_until(&state, at(0.0)), 0.25);
    }

    #[test]
    fn unanswered_requests_empty_reach_and_back_off() {
        let mut state = PollState::new(&SourceOptions::default(), at(0.0));
        state.on_send(at(0.0));
        state.on_reply(0.0, at(0.1));
        assert!(state.is_reachable());
        let mut now = at(64.0);
        for _ in 0..8 {
            state.on_send(now);
            now = state.next_send().unwrap();
        }
        assert!(!state.is_reachable());
        assert!(state.poll() > 6, "poll {}", state.poll());
        for _ in 0..40 {
            state.on_send(now);
            now = state.next_send().unwrap();
        }
        assert_eq!(state.poll(), 10, "backs off to maxpoll");
    }

    #[test]
    fn kod_rate_raises_poll_and_deny_stops() {
        let mut state = PollState::new(&SourceOptions::default(), at(0.0));
        state.on_send(at(0.0));
        state.on_kiss_of_death(KissCode::Rate, 8, at(0.1));
        assert_eq!(state.poll(), 8);
        assert_eq!(state.minpoll(), 8);
        assert!((secs_until(&state, at(0.1)) - 256.0).abs() < 1e-6);
        state.adjust_poll(-5.0);
        assert_eq!(state.poll(), 8, "cannot go below the raised minpoll");
        state.on_kiss_of_death(KissCode::Rate, 0, at(1.0));
        assert_eq!(state.poll(), 9, "a second RATE backs off further");
        state.on_kiss_of_death(KissCode::Deny, 0, at(2.0));
        assert_eq!(
            state.stopped(),
            Some(StopReason::AccessDenied(KissCode::Deny))
        );
        assert_eq!(state.next_send(), None);
    }

    #[test]
    fn poll_adjusts_towards_polltarget() {
        // Many samples in the regression: lengthen the poll.
        assert!(poll_adjustment(1e-6, 1e-3, 16, 8) > 0.0);
        // Few samples: shorten, twice as fast.
        let shorten = poll_adjustment(1e-6, 1e-3, 4, 8);
        assert!((shorten - 2.0 * (4.0 / 8.0 - 1.0) / 8.0).abs() < 1e-12);
        // Prediction far off: shorten by log2 of how far.
        assert!((poll_adjustment(8e-3, 1e-3, 30, 8) + 3.0).abs() < 1e-12);
        let mut state = PollState::new(&SourceOptions::default(), at(0.0));
        for _ in 0..20 {
            state.adjust_poll(poll_adjustment(1e-6, 1e-3, 20, 8));
        }
        assert!(state.poll() > 6);
    }

    #[test]
    fn offline_stops_requests_and_clears_reach_once() {
        let mut state = PollState::new(&SourceOptions::default(), at(0.0));
        state.on_send(at(0.0));
        state.on_reply(0.0, at(0.1));
        assert!(state.set_offline());
        assert!(!state.set_offline());
        assert_eq!((state.reach(), state.next_send()), (0, None));
        // Online 10 s later: the poll interval (64 s) since the last request is kept.
        assert!(state.set_online(at(10.0), false));
        assert!(!state.set_online(at(10.0), false));
        assert_eq!(state.next_send(), Some(at(64.0)));
    }

    #[test]
    fn offline_during_a_burst_finishes_it_first() {
        let options = SourceOptions {
            iburst: true,
            ..Default::default()
        };
        let mut state = PollState::new(&options, at(0.0));
        state.on_send(at(0.0));
        state.on_reply(0.0, at(0.1));
        state.set_offline();
        assert!(state.in_burst() && state.next_send() == Some(at(2.0)));
        assert_eq!(state.reach(), 1, "cleared when the burst ends, not before");
        let mut now = at(2.0);
        for _ in 0..3 {
            state.on_send(now);
            state.on_reply(0.0, now.add(NtpDuration::from_seconds_f64(0.1)));
            now = now.add(NtpDuration::from_seconds_f64(2.0));
        }
        assert!(!state.in_burst());
        assert_eq!(state.next_send(), None);
        state.end_offline_burst();
        assert_eq!(state.reach(), 0);
    }

    #[test]
    fn online_does_not_revive_a_denied_source() {
        let mut state = PollState::new(&SourceOptions::default(), at(0.0));
        state.on_send(at(0.0));
        state.on_kiss_of_death(KissCode::Deny, 0, at(0.1));
        state.set_offline();
        state.set_online(at(100.0), true);
        state.request_burst(at(100.0));
        assert_eq!(state.next_send(), None);
        assert!(!state.in_burst());
    }

    #[test]
    fn burst_option_bursts_every_poll() {
        let options = SourceOptions {
            burst: true,
            minpoll: 8,
            maxpoll: 8,
            ..Default::default()
        };
        let mut state = PollState::new(&options, at(0.0));
        state.on_send(at(0.0));
        assert!(state.in_burst());
        assert_eq!(secs_until(&state, at(0.0)), 2.0);
    }
}
