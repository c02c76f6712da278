//! One time source: its options, polling state, outstanding request, sample checks and
//! estimator, put together.
//!
//! Owns the life of a client association: building the request (with a random
//! transmit timestamp the engine supplies), matching the reply to it, counting what
//! was rejected and why, refusing a server that is synchronised to us (the sync-loop
//! test, RFC 5905's loop check and chrony's test D), feeding good samples to the
//! estimator, and describing itself to selection. It must not look at other sources
//! or touch the clock.
//!
//! Two timescales meet here. Polling (send times, the outstanding request) runs on
//! the clock's reading; samples and the estimator run on the *corrected* reading, the
//! reading plus the correction the slew in progress has still to make (see
//! [`crate::discipline::ClockChange`]). The engine tells the source that correction
//! for each timestamp it hands over.

use gnomon_proto::{LeapIndicator, NtpHeader, NtpTimestamp, ReferenceId, UnixTime};

use crate::discipline::ClockChange;
use crate::estimator::{seconds_between, Estimate, StoredSample};
use crate::measurement::{
    check_reply_header, compute_sample, ExchangeTimes, MeasurementLimits, RejectReason, Sample,
};
use crate::poll::{poll_adjustment, PollState, StopReason};
use crate::source_estimator::{new_estimator, SourceEstimator};
use crate::source_options::SourceOptions;

/// Identifies a source inside one engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq)]
struct OutstandingRequest {
    cookie: NtpTimestamp,
    /// The clock's reading when the request left.
    sent_at: UnixTime,
    /// The correction still to be slewed at `sent_at`, in the corrected timescale of
    /// now (kept up to date across clock changes), seconds.
    sent_correction_s: f64,
}

/// Counters of one source, for `sources -v` style views and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCounters {
    pub requests_sent: u64,
    pub samples_accepted: u64,
    pub duplicates: u64,
    pub bogus: u64,
    pub kiss_of_death: u64,
    pub unsynchronized: u64,
    pub bad_delay: u64,
    /// Replies whose reference ID says the server is synchronised to us.
    pub sync_loops: u64,
    pub other_rejects: u64,
}

/// What a reply did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplyOutcome {
    /// A new sample was added to the estimator.
    Accepted(Sample),
    Rejected(RejectReason),
}

/// What selection needs to know about a source at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectionCandidate {
    pub id: SourceId,
    /// Estimated source minus local clock now, seconds.
    pub offset_s: f64,
    /// Half-width of the correctness interval: root delay / 2 + root dispersion grown
    /// to now + the estimate's standard deviation.
    pub root_distance_s: f64,
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    pub offset_sd_s: f64,
    /// Standard error of `offset_s` (the regression's, extrapolated to now).
    pub offset_error_s: f64,
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
    /// The source's stratum raised to `minstratum`.
    pub stratum: u8,
    pub leap: LeapIndicator,
    pub reference_id: ReferenceId,
    pub prefer: bool,
    pub noselect: bool,
    pub trust: bool,
    pub require: bool,
    pub reachable: bool,
    /// The reachability register (bit 0: the latest request, 1 = answered) and how
    /// many requests it has seen (at most 8): the start-up wait in selection.
    pub reach: u8,
    pub reach_size: u8,
    /// The estimator has a regression (at least three samples): chrony's `select_ok`.
    pub regression_ok: bool,
}

/// A client association with one server.
#[derive(Clone, Debug)]
pub struct Source {
    id: SourceId,
    options: SourceOptions,
    reference_id: ReferenceId,
    /// The reference ID this source's server announces if it is synchronised to us
    /// (our address as it sees us); `None` turns the sync-loop test off.
    loop_reference_id: Option<ReferenceId>,
    /// The last authentic reply said the server is synchronised to us: not selectable
    /// until a reply says otherwise.
    in_sync_loop: bool,
    poll: PollState,
    estimator: Box<dyn SourceEstimator>,
    outstanding: Option<OutstandingRequest>,
    last_reply_transmit: Option<NtpTimestamp>,
    last_sample: Option<Sample>,
    last_reject: Option<RejectReason>,
    counters: SourceCounters,
}

impl Source {
    /// `reference_id` is what we announce when this source is our reference (for an
    /// IPv4 server, its address; the daemon computes it).
    pub fn new(
        id: SourceId,
        options: SourceOptions,
        reference_id: ReferenceId,
        now: UnixTime,
    ) -> Self {
        Source {
            id,
            poll: PollState::new(&options, now),
            estimator: new_estimator(options.estimator, options.minsamples, options.maxsamples),
            options,
            reference_id,
            loop_reference_id: None,
            in_sync_loop: false,
            outstanding: None,
            last_reply_transmit: None,
            last_sample: None,
            last_reject: None,
            counters: SourceCounters::default(),
        }
    }

    pub fn id(&self) -> SourceId {
        self.id
    }
    pub fn options(&self) -> &SourceOptions {
        &self.options
    }
    pub fn reference_id(&self) -> ReferenceId {
        self.reference_id
    }
    /// Turn the sync-loop test on (`Some`) or off. `id` is the reference ID of the
    /// local address the server sees our requests come from: a reply of stratum 2 or
    /// more carrying it means the server is synchronised to us, and the source is not
    /// used (chrony's test D, which assumes the server reached us at that address).
    pub fn set_loop_reference_id(&mut self, id: Option<ReferenceId>) {
        self.loop_reference_id = id;
        if id.is_none() {
            self.in_sync_loop = false;
        }
    }
    pub fn loop_reference_id(&self) -> Option<ReferenceId> {
        self.loop_reference_id
    }
    /// The last authentic reply said the server is synchronised to us.
    pub fn in_sync_loop(&self) -> bool {
        self.in_sync_loop
    }
    pub fn poll_state(&self) -> &PollState {
        &self.poll
    }
    pub fn poll_state_mut(&mut self) -> &mut PollState {
        &mut self.poll
    }
    pub fn estimator(&self) -> &dyn SourceEstimator {
        self.estimator.as_ref()
    }
    pub fn estimate(&self) -> Option<&Estimate> {
        self.estimator.estimate()
    }
    pub fn last_sample(&self) -> Option<&Sample> {
        self.last_sample.as_ref()
    }
    pub fn last_reject(&self) -> Option<RejectReason> {
        self.last_reject
    }
    pub fn counters(&self) -> &SourceCounters {
        &self.counters
    }
    pub fn stopped(&self) -> Option<StopReason> {
        self.poll.stopped()
    }
    /// Switched offline (chronyc `offline`): not polled, except by a `burst`.
    pub fn is_offline(&self) -> bool {
        self.poll.is_offline()
    }

    /// chronyc `offline` (see [`PollState::set_offline`]). The request in flight is
    /// forgotten, so a late reply is not used, as chronyd closes the socket. Returns
    /// false if the source was offline already.
    pub fn set_offline(&mut self) -> bool {
        let changed = self.poll.set_offline();
        if changed && !self.poll.in_burst() {
            self.outstanding = None;
        }
        changed
    }

    /// chronyc `online` at `now` (see [`PollState::set_online`]; `iburst` repeats the
    /// initial burst). Returns false if the source was online already.
    pub fn set_online(&mut self, now: UnixTime) -> bool {
        self.poll.set_online(now, self.options.iburst)
    }

    /// Build the request to send at `now`, remembering `cookie` (random bits from the
    /// engine) as its transmit timestamp: the reply must echo it as its origin.
    /// `correction_s` is the correction still to be slewed at `now`.
    pub fn make_request(
        &mut self,
        now: UnixTime,
        correction_s: f64,
        cookie: NtpTimestamp,
    ) -> [u8; gnomon_proto::HEADER_LEN] {
        self.poll.on_send(now);
        self.outstanding = Some(OutstandingRequest {
            cookie,
            sent_at: now,
            sent_correction_s: correction_s,
        });
        self.counters.requests_sent += 1;
        NtpHeader::client_request(cookie, self.poll.poll()).to_bytes()
    }

    /// The kernel's transmit timestamp of the outstanding request replaces t1;
    /// `correction_s` is the correction still to be slewed at `sent_at`.
    pub fn on_transmit_timestamp(&mut self, sent_at: UnixTime, correction_s: f64) {
        if let Some(request) = &mut self.outstanding {
            request.sent_at = sent_at;
            request.sent_correction_s = correction_s;
        }
    }

    /// Handle a reply received at local time `received_at` (the kernel RX timestamp if
    /// there is one), when the correction still to be slewed was `correction_s`.
    pub fn on_reply(
        &mut self,
        reply: &NtpHeader,
        received_at: UnixTime,
        correction_s: f64,
        limits: &MeasurementLimits,
    ) -> ReplyOutcome {
        let outcome = self.process_reply(reply, received_at, correction_s, limits);
        match outcome {
            ReplyOutcome::Accepted(sample) => {
                self.counters.samples_accepted += 1;
                self.last_sample = Some(sample);
                self.in_sync_loop = false;
            }
            ReplyOutcome::Rejected(reason) => {
                self.last_reject = Some(reason);
                let counter = match reason {
                    RejectReason::Duplicate => &mut self.counters.duplicates,
                    RejectReason::BogusOrigin | RejectReason::NotServerMode(_) => {
                        &mut self.counters.bogus
                    }
                    RejectReason::KissOfDeath(_) => &mut self.counters.kiss_of_death,
                    RejectReason::Unsynchronized => &mut self.counters.unsynchronized,
                    RejectReason::DelayTooLarge | RejectReason::DelayOutlier => {
                        &mut self.counters.bad_delay
                    }
                    RejectReason::SyncLoop => &mut self.counters.sync_loops,
                    _ => &mut self.counters.other_rejects,
                };
                *counter += 1;
            }
        }
        outcome
    }

    fn process_reply(
        &mut self,
        reply: &NtpHeader,
        received_at: UnixTime,
        correction_s: f64,
        limits: &MeasurementLimits,
    ) -> ReplyOutcome {
        if self.last_reply_transmit == Some(reply.transmit_timestamp) {
            return ReplyOutcome::Rejected(RejectReason::Duplicate);
        }
        let expected = self.outstanding.map(|r| r.cookie);
        if let Err(reason) = check_reply_header(reply, expected) {
            match reason {
                RejectReason::Duplicate
                | RejectReason::BogusOrigin
                | RejectReason::NotServerMode(_) => {}
                RejectReason::KissOfDeath(code) => {
                    self.outstanding = None;
                    self.poll.on_kiss_of_death(code, reply.poll, received_at);
                }
                _ => {
                    // Authentic but unusable (unsynchronised): the server is reachable.
                    self.outstanding = None;
                    self.last_reply_transmit = Some(reply.transmit_timestamp);
                    self.poll.on_unusable_reply();
                }
            }
            return ReplyOutcome::Rejected(reason);
        }
        let request = self
            .outstanding
            .take()
            .expect("origin matched an outstanding request");
        self.last_reply_transmit = Some(reply.transmit_timestamp);
        // The loop test (chrony's test D): a server at stratum 2 or more whose
        // reference is our address is synchronised to us. Its reply is authentic, so
        // the server is reachable, but nothing it says may steer our clock.
        let synchronised_to_us =
            reply.stratum > 1 && Some(reply.reference_id) == self.loop_reference_id;
        if synchronised_to_us {
            self.in_sync_loop = true;
            self.poll.on_unusable_reply();
            return ReplyOutcome::Rejected(RejectReason::SyncLoop);
        }
        // On the corrected timescale: a slew in progress is not part of the sample.
        let times = ExchangeTimes {
            t1_local: request.sent_at.add_seconds_f64(request.sent_correction_s),
            t2_server: reply.receive_timestamp,
            t3_server: reply.transmit_timestamp,
            t4_local: received_at.add_seconds_f64(correction_s),
        };
        let source_limits = MeasurementLimits {
            maxdelay_s: self.options.maxdelay_s,
            offset_correction_s: self.options.offset_s,
            ..*limits
        };
        let sample = match compute_sample(reply, &times, &source_limits) {
            Ok(sample) => sample,
            Err(reason) => {
                self.poll.on_unusable_reply();
                return ReplyOutcome::Rejected(reason);
            }
        };
        if !self.estimator.accepts_delay(
            sample.delay_s,
            self.options.maxdelayratio,
            self.options.maxdelaydevratio,
        ) {
            self.poll.on_unusable_reply();
            return ReplyOutcome::Rejected(RejectReason::DelayOutlier);
        }
        let prediction_error_s = self
            .estimator
            .estimate()
            .filter(|e| e.samples_used >= crate::estimator::MIN_SAMPLES_FOR_REGRESSION)
            .map_or(0.0, |e| {
                (e.offset_at_s(sample.local_time) - sample.offset_s).abs()
            });
        self.estimator.add_sample(StoredSample {
            local_time: sample.local_time,
            offset_s: sample.offset_s,
            delay_s: sample.delay_s,
            dispersion_s: sample.dispersion_s,
            server_root_dispersion_s: sample.root_dispersion_s - sample.dispersion_s,
        });
        let consistent_samples = self
            .estimator
            .estimate()
            .map_or(0, |e| e.consistent_samples);
        let adjustment = poll_adjustment(
            prediction_error_s,
            sample.peer_distance_s(),
            consistent_samples,
            self.poll.polltarget(),
        );
        self.poll.on_reply(adjustment, received_at);
        ReplyOutcome::Accepted(sample)
    }

    /// The engine changed the clock when the corrected reading was `corrected_now`
    /// (see [`ClockChange`] and [`Estimator::apply_clock_change`]).
    pub fn apply_clock_change(&mut self, corrected_now: UnixTime, change: &ClockChange) {
        self.estimator.apply_clock_change(
            corrected_now,
            change.rate_change,
            change.corrected_step_s,
        );
        if let Some(sample) = &mut self.last_sample {
            sample.local_time = sample.local_time.add_seconds_f64(change.corrected_step_s);
            sample.offset_s -= change.corrected_step_s;
        }
        if let Some(request) = &mut self.outstanding {
            // t1 keeps its corrected value in the new corrected timescale.
            request.sent_correction_s += change.corrected_step_s - change.step_s;
        }
        if change.step_s != 0.0 {
            self.poll.shift(change.step_s);
            if let Some(request) = &mut self.outstanding {
                request.sent_at = request.sent_at.add_seconds_f64(change.step_s);
            }
        }
    }

    /// Describe the source to selection at corrected local time `now` (offsets are
    /// from the corrected clock); `None` when it has no estimate yet, is stopped, or
    /// is synchronised to us (its older samples, from before the loop, must not
    /// select it either).
    pub fn selection_candidate(
        &self,
        now: UnixTime,
        max_clock_error_ppm: f64,
    ) -> Option<SelectionCandidate> {
        if self.poll.stopped().is_some() || self.in_sync_loop {
            return None;
        }
        let estimate = self.estimator.estimate()?;
        let sample = self.last_sample.as_ref()?;
        let elapsed_s = seconds_between(sample.local_time, now).max(0.0);
        let skew_ppm = estimate.skew_ppm.min(crate::estimator::WORST_CASE_SKEW_PPM);
        let root_dispersion_s =
            sample.root_dispersion_s + (skew_ppm + max_clock_error_ppm) * 1e-6 * elapsed_s;
        Some(SelectionCandidate {
            id: self.id,
            offset_s: estimate.offset_at_s(now),
            root_distance_s: sample.root_delay_s / 2.0 + root_dispersion_s + estimate.offset_sd_s,
            root_delay_s: sample.root_delay_s,
            root_dispersion_s,
            offset_sd_s: estimate.offset_sd_s,
            offset_error_s: estimate.error_at_s(now),
            frequency_ppm: estimate.frequency_ppm,
            skew_ppm,
            stratum: sample.stratum.max(self.options.minstratum),
            leap: sample.leap,
            reference_id: self.reference_id,
            prefer: self.options.prefer,
            noselect: self.options.noselect,
            trust: self.options.trust,
            require: self.options.require,
            reachable: self.poll.is_reachable(),
            reach: self.poll.reach(),
            reach_size: self.poll.reach_size(),
            regression_ok: self.estimator.is_selectable(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::{KissCode, Mode, NtpDuration, NtpShort};

    fn at(seconds: f64) -> UnixTime {
        UnixTime::from_secs(1_800_000_000).add(NtpDuration::from_seconds_f64(seconds))
    }

    /// A server `offset_s` ahead, 1 ms each way, answering the request in `bytes`.
    fn answer(bytes: &[u8], sent: f64, offset_s: f64) -> (NtpHeader, UnixTime) {
        let (request, _) = NtpHeader::parse(bytes).unwrap();
        let reply = NtpHeader {
            mode: Mode::Server,
            stratum: 1,
            precision: -20,
            root_dispersion: NtpShort::from_seconds_f64(1e-5),
            reference_id: ReferenceId::from_ascii(*b"GPS\0"),
            origin_timestamp: request.transmit_timestamp,
            receive_timestamp: NtpTimestamp::from_unix(at(sent + 0.001 + offset_s)),
            transmit_timestamp: NtpTimestamp::from_unix(at(sent + 0.001 + offset_s)),
            ..NtpHeader::default()
        };
        (reply, at(sent + 0.002))
    }

    fn source(options: SourceOptions) -> Source {
        Source::new(
            SourceId(1),
            options,
            ReferenceId::from_u32(0x0a00_0001),
            at(0.0),
        )
    }

    #[test]
    fn request_reply_sample_and_duplicate() {
        let mut source = source(SourceOptions::default());
        let bytes =
            source.make_request(at(0.0), 0.0, NtpTimestamp::from_bits(0x1234_5678_9abc_def0));
        let (request, _) = NtpHeader::parse(&bytes).unwrap();
        assert_eq!(request.mode, Mode::Client);
        assert_eq!(request.transmit_timestamp.to_bits(), 0x1234_5678_9abc_def0);
        let (reply, received) = answer(&bytes, 0.0, 0.1);
        let limits = MeasurementLimits::default();
        let ReplyOutcome::Accepted(sample) = source.on_reply(&reply, received, 0.0, &limits) else {
            panic!("rejected");
        };
        assert!((sample.offset_s - 0.1).abs() < 1e-8);
        assert_eq!(
            source.on_reply(&reply, received, 0.0, &limits),
            ReplyOutcome::Rejected(RejectReason::Duplicate)
        );
        let forged = NtpHeader {
            transmit_timestamp: NtpTimestamp::from_bits(99),
            ..reply
        };
        assert_eq!(
            source.on_reply(&forged, received, 0.0, &limits),
            ReplyOutcome::Rejected(RejectReason::Duplicate)
        );
        assert_eq!(source.counters().duplicates, 2);
        assert!(source.poll_state().is_reachable());
        let candidate = source.selection_candidate(at(1.0), 1.0).unwrap();
        assert!((candidate.offset_s - 0.1).abs() < 1e-6);
        assert_eq!(candidate.stratum, 1);
    }

    #[test]
    fn kernel_tx_timestamp_replaces_t1() {
        let mut source = source(SourceOptions::default());
        let bytes = source.make_request(at(0.0), 0.0, NtpTimestamp::from_bits(77));
        // The packet really left 0.5 ms after the engine built it.
        source.on_transmit_timestamp(at(0.0005), 0.0);
        let (reply, received) = answer(&bytes, 0.0005, 0.0);
        let ReplyOutcome::Accepted(sample) =
            source.on_reply(&reply, received, 0.0, &MeasurementLimits::default())
        else {
            panic!("rejected");
        };
        assert!(sample.offset_s.abs() < 1e-8, "{sample:?}");
        assert!((sample.delay_s - 0.002).abs() < 1e-8);
    }

    #[test]
    fn kiss_of_death_deny_stops_the_source() {
        let mut source = source(SourceOptions::default());
        let bytes = source.make_request(at(0.0), 0.0, NtpTimestamp::from_bits(5));
        let (reply, received) = answer(&bytes, 0.0, 0.0);
        let kod = NtpHeader {
            stratum: 0,
            reference_id: KissCode::Deny.to_reference_id(),
            ..reply
        };
        let outcome = source.on_reply(&kod, received, 0.0, &MeasurementLimits::default());
        assert_eq!(
            outcome,
            ReplyOutcome::Rejected(RejectReason::KissOfDeath(KissCode::Deny))
        );
        assert!(source.stopped().is_some());
        assert_eq!(source.poll_state().next_send(), None);
    }

    #[test]
    fn maxdelay_option_applies() {
        let mut source = source(SourceOptions {
            maxdelay_s: 0.001,
            ..Default::default()
        });
        let bytes = source.make_request(at(0.0), 0.0, NtpTimestamp::from_bits(5));
        let (reply, received) = answer(&bytes, 0.0, 0.0);
        assert_eq!(
            source.on_reply(&reply, received, 0.0, &MeasurementLimits::default()),
            ReplyOutcome::Rejected(RejectReason::DelayTooLarge)
        );
        assert!(
            source.poll_state().is_reachable(),
            "a reply still counts for reach"
        );
        assert!(source.selection_candidate(at(1.0), 1.0).is_none());
    }

    #[test]
    fn sync_loop_needs_stratum_two_and_our_id() {
        let ours = ReferenceId::from_u32(0x7f00_0001);
        let mut source = source(SourceOptions::default());
        source.set_loop_reference_id(Some(ours));
        let limits = MeasurementLimits::default();
        let exchange = |source: &mut Source, sent: f64, stratum: u8, id: ReferenceId| {
            let cookie = NtpTimestamp::from_bits(1000 + sent as u64);
            let bytes = source.make_request(at(sent), 0.0, cookie);
            let (reply, received) = answer(&bytes, sent, 0.0);
            let reply = NtpHeader {
                stratum,
                reference_id: id,
                ..reply
            };
            source.on_reply(&reply, received, 0.0, &limits)
        };
        // Stratum 1: the ID names a reference clock, not an address.
        assert!(matches!(
            exchange(&mut source, 0.0, 1, ours),
            ReplyOutcome::Accepted(_)
        ));
        for sent in [1.0, 2.0] {
            assert!(matches!(
                exchange(&mut source, sent, 2, ReferenceId::from_u32(0x7f00_0002)),
                ReplyOutcome::Accepted(_)
            ));
        }
        assert!(source.selection_candidate(at(2.5), 1.0).is_some());
        assert_eq!(
            exchange(&mut source, 3.0, 2, ours),
            ReplyOutcome::Rejected(RejectReason::SyncLoop)
        );
        assert!(source.in_sync_loop());
        assert_eq!(source.counters().sync_loops, 1);
        assert!(source.poll_state().is_reachable());
        // Earlier samples do not make it selectable while it follows us.
        assert!(source.selection_candidate(at(3.5), 1.0).is_none());
        // Its next reply names another reference: usable again.
        assert!(matches!(
            exchange(&mut source, 4.0, 3, ReferenceId::from_u32(0x0a00_0009)),
            ReplyOutcome::Accepted(_)
        ));
        assert!(!source.in_sync_loop());
        assert!(source.selection_candidate(at(4.5), 1.0).is_some());
    }
}
