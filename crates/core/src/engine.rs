//! The engine: sources, selection, discipline and system variables tied together
//! behind a small event API that a daemon's poll loop and a simulator both drive.
//!
//! Owns the set of sources, the random request cookies (a seeded ChaCha generator:
//! the engine has no entropy of its own), the selection round after each new sample,
//! the application of every clock change to every source's history, leap arming and
//! the system variables. It must not do IO or read a clock: every method takes the
//! local clock's reading as an argument and returns what to do.
//!
//! Driving it:
//! 1. `Engine::new`, then apply the actions of [`Engine::start`].
//! 2. Loop: wait until [`Engine::next_deadline`] (local clock time) or a packet;
//!    call [`Engine::on_timer`] or [`Engine::on_response`]; carry out the returned
//!    [`EngineOutput`]s in order (send packets, apply clock actions) before the next
//!    call. Report kernel TX timestamps with [`Engine::on_transmit_timestamp`].
//! 3. Serve clients with [`Engine::build_reply`] (no allocation).

use gnomon_proto::{NtpHeader, NtpTimestamp, ReferenceId, UnixTime, HEADER_LEN};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

mod config;
mod connectivity;
mod holdover;
mod selection_report;

pub use config::EngineConfig;

use selection_report::SelectionReport;

use crate::clock_action::{ClockAction, LeapSecond};
use crate::clock_discipline::ClockDiscipline;
use crate::discipline::{ClockChange, Discipline, DisciplineInput, SavedFrequency, UpdateOutcome};
use crate::estimator::seconds_between;
use crate::leap::{leap_to_announce, leap_to_arm};
use crate::measurement::{MeasurementLimits, RejectReason};
use crate::poll::StopReason;
use crate::selection::{select, OrphanMode, SelectionFailure, SelectionResult, SourceVerdict};
use crate::server::{build_reply, ReplyError};
use crate::source::{ReplyOutcome, SelectionCandidate, Source, SourceId};
use crate::source_options::{OptionsError, SourceOptions};
use crate::system::{dispersion_rate_ppm, ClockErrorBound, SystemVariables};

/// One thing for the driver to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineOutput {
    /// Send these bytes to the source's server, now.
    Send {
        source: SourceId,
        packet: [u8; HEADER_LEN],
    },
    /// Apply this to the clock, now.
    Clock(ClockAction),
    /// A clock update happened (for logs and tracking views).
    Updated {
        reference: SourceId,
        outcome: UpdateOutcome,
    },
    /// The source will not be polled again (DENY/RSTR).
    SourceStopped {
        source: SourceId,
        reason: StopReason,
    },
    /// `maxchange` was exceeded: chrony exits here; the daemon decides.
    MaxChangeExceeded { offset_s: f64 },
    /// The selection changed, at the moments chronyd logs it: a new reference
    /// ("Selected source X"), or losing it / never agreeing ("Can't synchronise:
    /// no selectable sources" after a reference, "no majority" once per episode).
    SelectionChanged {
        reference: Option<SourceId>,
        failure: Option<SelectionFailure>,
    },
}

/// Why a packet was dropped before reaching a source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("no source {0:?}")]
    UnknownSource(SourceId),
    #[error("malformed packet: {0}")]
    Malformed(#[from] gnomon_proto::ParseError),
    #[error("rejected: {0}")]
    Rejected(RejectReason),
}

/// The synchronization engine. See the module documentation for how to drive it.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    sources: Vec<Source>,
    next_source_id: u32,
    discipline: Box<dyn ClockDiscipline>,
    system: SystemVariables,
    selection: Option<SelectionResult>,
    /// What the last [`EngineOutput::SelectionChanged`] said.
    selection_report: SelectionReport,
    /// Sources with an accepted sample since the last clock update.
    sampled_since_update: Vec<SourceId>,
    reference: Option<SourceId>,
    /// Since when every source has been unreachable while we hold a reference.
    unreachable_since: Option<UnixTime>,
    armed_leap: LeapSecond,
    cookies: ChaCha12Rng,
}

impl Engine {
    /// `rng_seed` seeds the request cookies: the daemon passes 32 bytes from the OS,
    /// a simulator a fixed value.
    pub fn new(config: EngineConfig, rng_seed: [u8; 32]) -> Engine {
        let discipline = Box::new(Discipline::new(config.discipline, config.saved_frequency));
        Engine::with_discipline(config, rng_seed, discipline)
    }

    /// An engine whose clock is disciplined by `discipline` instead of chrony's method
    /// (`config.discipline` and `config.saved_frequency` are then the caller's to
    /// honour): the seam to compare disciplines on the same samples.
    pub fn with_discipline(
        config: EngineConfig,
        rng_seed: [u8; 32],
        discipline: Box<dyn ClockDiscipline>,
    ) -> Engine {
        let system = SystemVariables::unsynchronized(config.precision_log2);
        Engine {
            config,
            sources: Vec::new(),
            next_source_id: 0,
            discipline,
            system,
            selection: None,
            selection_report: SelectionReport::Nothing,
            sampled_since_update: Vec::new(),
            reference: None,
            unreachable_since: None,
            armed_leap: LeapSecond::None,
            cookies: ChaCha12Rng::from_seed(rng_seed),
        }
    }

    /// The clock settings to apply before anything else: the saved frequency, no leap,
    /// not synchronised. Also starts serving the `local` reference if configured.
    pub fn start(&mut self, now: UnixTime) -> Vec<EngineOutput> {
        self.use_local_reference_if_configured(now);
        vec![
            EngineOutput::Clock(self.discipline.initial_action()),
            EngineOutput::Clock(ClockAction::SetLeap(LeapSecond::None)),
            EngineOutput::Clock(self.synchronized_action(now)),
        ]
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The reference ID orphan peers know this host by (see
    /// [`EngineConfig::own_reference_id`]), learnt once a source's name resolved.
    pub fn set_own_reference_id(&mut self, id: Option<ReferenceId>) {
        self.config.own_reference_id = id;
    }

    /// Add a source; its first request is due at `now`. `reference_id` is what we
    /// announce while it is our reference (an IPv4 server's address).
    pub fn add_source(
        &mut self,
        options: SourceOptions,
        reference_id: ReferenceId,
        now: UnixTime,
    ) -> Result<SourceId, OptionsError> {
        let options = options.validated()?;
        let id = SourceId(self.next_source_id);
        self.next_source_id += 1;
        self.sources
            .push(Source::new(id, options, reference_id, now));
        Ok(id)
    }

    /// Turn on the sync-loop test for `source`: `id` is the reference ID of the local
    /// address its server sees our requests come from ([`ReferenceId::from_ip`]), so a
    /// reply carrying it (stratum 2+) says the server is synchronised to us and the
    /// source is not selected (see [`Source::set_loop_reference_id`]). The daemon
    /// sets it only while it serves NTP, as chronyd tests only when its server socket
    /// is open: nobody can be synchronised to a host that serves nobody. Returns
    /// whether the source exists.
    pub fn set_loop_reference_id(&mut self, source: SourceId, id: Option<ReferenceId>) -> bool {
        match self.sources.iter_mut().find(|s| s.id() == source) {
            Some(source) => {
                source.set_loop_reference_id(id);
                true
            }
            None => false,
        }
    }

    /// Remove a source (e.g. a pool member replaced). Returns whether it existed.
    pub fn remove_source(&mut self, id: SourceId) -> bool {
        let before = self.sources.len();
        self.sources.retain(|s| s.id() != id);
        if self.reference == Some(id) {
            self.reference = None;
        }
        before != self.sources.len()
    }

    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter()
    }

    pub fn source(&self, id: SourceId) -> Option<&Source> {
        self.sources.iter().find(|s| s.id() == id)
    }

    /// chronyc's `makestep`: step away the correction still being slewed, now. Empty
    /// when nothing is pending.
    pub fn make_step(&mut self, now: UnixTime) -> Vec<EngineOutput> {
        let corrected_now = self.discipline.corrected_time(now);
        let remaining_s = self.discipline.remaining_correction_s(now);
        let Some(actions) = self.discipline.step_now(now) else {
            return Vec::new();
        };
        self.system.correction_applied();
        // The corrected timescale does not move; what runs on the clock's reading
        // (poll schedules, the request in flight, the reference time) does.
        self.apply_clock_change(
            corrected_now,
            ClockChange {
                step_s: remaining_s,
                ..ClockChange::default()
            },
        );
        actions.into_iter().map(EngineOutput::Clock).collect()
    }

    /// The last selection's verdicts.
    pub fn selection(&self) -> Option<&SelectionResult> {
        self.selection.as_ref()
    }

    /// The current reference source.
    pub fn reference(&self) -> Option<SourceId> {
        self.reference
    }

    pub fn system_variables(&self) -> &SystemVariables {
        &self.system
    }

    pub fn discipline(&self) -> &dyn ClockDiscipline {
        self.discipline.as_ref()
    }

    /// The value for the drift file.
    pub fn saved_frequency(&self) -> SavedFrequency {
        self.discipline.saved_frequency()
    }

    /// True time lies within `now + offset ± bound` (see [`ClockErrorBound`]): the
    /// bound is centred on the corrected reading, so it leaves out the pending
    /// correction the served root dispersion includes; a reader of the clock itself
    /// adds |offset| (the correction still pending now), as the `clockbound` file does.
    pub fn clock_error_bound(&self, now: UnixTime) -> ClockErrorBound {
        let remaining_s = self.discipline.remaining_correction_s(now);
        let synchronized = self.system.synchronized && !self.system.local_reference;
        ClockErrorBound {
            now,
            offset_s: remaining_s,
            bound_s: if synchronized {
                self.system.corrected_root_distance_at_s(now)
            } else {
                f64::INFINITY
            },
            synchronized,
        }
    }

    /// When (local clock time) the engine next wants [`Engine::on_timer`] called.
    pub fn next_deadline(&self) -> Option<UnixTime> {
        self.sources
            .iter()
            .filter_map(|s| s.poll_state().next_send())
            .chain(self.discipline.next_deadline())
            .min()
    }

    /// Time has reached `now`: send due requests, end a finished slew, select again
    /// when a selected source turned out to be synchronised to us.
    pub fn on_timer(&mut self, now: UnixTime) -> Vec<EngineOutput> {
        let mut outputs = Vec::new();
        if let Some((action, change)) = self.discipline.on_timer(now) {
            self.system.correction_applied();
            self.apply_clock_change(now, change);
            outputs.push(EngineOutput::Clock(action));
        }
        if self.selection_follows_a_sync_loop() {
            // Its reply gave no sample, so no selection ran; without this round a
            // reference that is now synchronised to us would stay our reference.
            outputs.extend(self.update(now));
        }
        for index in 0..self.sources.len() {
            let due = self.sources[index]
                .poll_state()
                .next_send()
                .is_some_and(|t| t <= now);
            if due {
                let cookie = NtpTimestamp::from_bits(self.cookies.next_u64());
                let correction_s = self.discipline.remaining_correction_s(now);
                let source = &mut self.sources[index];
                let packet = source.make_request(now, correction_s, cookie);
                outputs.push(EngineOutput::Send {
                    source: source.id(),
                    packet,
                });
            }
        }
        if self.reference.is_some() && self.sources_all_unreachable() {
            // Holdover: keep the frequency, let the dispersion grow; fall back to the
            // local reference once we are worse than it, or (orphan, `waitunsynced`)
            // once the sources have been silent long enough.
            if self.unreachable_since.is_none() {
                // chronyd's moment to say so, though the reference is kept in holdover.
                self.report_selection(
                    None,
                    Some(SelectionFailure::NoSelectableSources),
                    &mut outputs,
                );
            }
            let since = *self.unreachable_since.get_or_insert(now);
            if let Some(local) = self.config.local_stratum {
                let waited = (local.orphan || local.wait_unsynced_s > 0.0)
                    && seconds_between(since, now) >= local.wait_unsynced_s;
                if waited || self.system.root_distance_at_s(now) > local.distance_s {
                    self.lose_reference(now, &mut outputs);
                }
            }
        } else {
            self.unreachable_since = None;
        }
        outputs
    }

    /// The last selection selected or combined a source now in a sync loop.
    fn selection_follows_a_sync_loop(&self) -> bool {
        self.selection.as_ref().is_some_and(|result| {
            result.verdicts.iter().any(|(id, verdict)| {
                matches!(verdict, SourceVerdict::Selected | SourceVerdict::Combined)
                    && self.source(*id).is_some_and(Source::in_sync_loop)
            })
        })
    }

    fn sources_all_unreachable(&self) -> bool {
        self.sources.iter().all(|s| !s.poll_state().is_reachable())
    }

    /// The kernel's transmit timestamp of the last request to `source`.
    pub fn on_transmit_timestamp(&mut self, source: SourceId, sent_at: UnixTime) {
        let correction_s = self.discipline.remaining_correction_s(sent_at);
        if let Some(source) = self.sources.iter_mut().find(|s| s.id() == source) {
            source.on_transmit_timestamp(sent_at, correction_s);
        }
    }

    /// A packet from `source`'s server arrived at `received_at` (kernel RX timestamp
    /// if any); `now` is the clock reading at the time of this call.
    pub fn on_response(
        &mut self,
        source: SourceId,
        packet: &[u8],
        received_at: UnixTime,
        now: UnixTime,
    ) -> Result<Vec<EngineOutput>, ResponseError> {
        let (header, _) = NtpHeader::parse(packet)?;
        let limits = MeasurementLimits {
            local_precision_s: 2f64.powi(self.config.precision_log2 as i32),
            max_clock_error_ppm: self.config.max_clock_error_ppm,
            ..MeasurementLimits::default()
        };
        let index = self
            .sources
            .iter()
            .position(|s| s.id() == source)
            .ok_or(ResponseError::UnknownSource(source))?;
        let correction_s = self.discipline.remaining_correction_s(received_at);
        let result = match self.sources[index].on_reply(&header, received_at, correction_s, &limits)
        {
            ReplyOutcome::Accepted(_) => {
                if !self.sampled_since_update.contains(&source) {
                    self.sampled_since_update.push(source);
                }
                Ok(self.update(now))
            }
            ReplyOutcome::Rejected(reason) => match self.sources[index].stopped() {
                Some(reason) => {
                    if self.reference == Some(source) {
                        self.reference = None;
                    }
                    Ok(vec![EngineOutput::SourceStopped { source, reason }])
                }
                None => Err(ResponseError::Rejected(reason)),
            },
        };
        // A burst on an offline source may have ended with this reply, now used.
        self.sources[index].poll_state_mut().end_offline_burst();
        result
    }

    /// Build the reply to a client's request (no allocation): the server path.
    pub fn build_reply(
        &self,
        request: &NtpHeader,
        received_at: UnixTime,
        transmit_at: UnixTime,
    ) -> Result<NtpHeader, ReplyError> {
        build_reply(request, received_at, transmit_at, &self.system)
    }

    /// The sources as selection sees them at `now`, offsets from the clock's reading
    /// (the sources estimate them from the corrected reading; the correction still to
    /// be slewed is the difference, the same for all).
    fn candidates(&self, now: UnixTime) -> Vec<SelectionCandidate> {
        let correction_s = self.discipline.remaining_correction_s(now);
        let corrected_now = self.discipline.corrected_time(now);
        self.sources
            .iter()
            .filter_map(|s| s.selection_candidate(corrected_now, self.config.max_clock_error_ppm))
            .map(|c| SelectionCandidate {
                offset_s: c.offset_s + correction_s,
                ..c
            })
            .collect()
    }

    /// Select and, when a majority agrees, discipline the clock.
    fn update(&mut self, now: UnixTime) -> Vec<EngineOutput> {
        let mut outputs = Vec::new();
        let orphan = self
            .config
            .local_stratum
            .filter(|local| local.orphan)
            .map(|local| OrphanMode {
                stratum: local.stratum,
                own_reference_id: self.config.own_reference_id,
            });
        let result = select(
            &self.candidates(now),
            &self.config.selection,
            self.reference,
            orphan.as_ref(),
        );
        self.report_selection(
            result.combined.map(|c| c.reference),
            result.failure,
            &mut outputs,
        );
        let Some(combined) = result.combined else {
            self.selection = Some(result);
            self.lose_reference(now, &mut outputs);
            return outputs;
        };
        self.selection = Some(result);
        self.reference = Some(combined.reference);
        // As chronyd: the clock is updated only when the reference has a new sample,
        // so "Update interval" is the reference's, not any source's.
        if !self.sampled_since_update.contains(&combined.reference) {
            return outputs;
        }
        self.sampled_since_update.clear();
        let poll = self
            .source(combined.reference)
            .map_or(self.config.selection.maxdistance_s, |s| {
                2f64.powi(s.poll_state().poll() as i32)
            });
        let input = DisciplineInput {
            offset_s: combined.offset_s,
            offset_error_s: combined.offset_error_s,
            frequency_ppm: combined.frequency_ppm,
            skew_ppm: combined.skew_ppm,
            poll_interval_s: poll,
        };
        let mut actions = Vec::new();
        let corrected_now = self.discipline.corrected_time(now);
        let (outcome, change) = self.discipline.update(now, &input, &mut actions);
        match outcome {
            UpdateOutcome::Ignored { .. } => {
                outputs.push(EngineOutput::Updated {
                    reference: combined.reference,
                    outcome,
                });
                return outputs;
            }
            UpdateOutcome::MaxChangeExceeded { offset_s } => {
                outputs.push(EngineOutput::MaxChangeExceeded { offset_s });
                return outputs;
            }
            _ => {}
        }
        self.apply_clock_change(corrected_now, change);
        let now = now.add_seconds_f64(change.step_s);
        outputs.extend(actions.into_iter().map(EngineOutput::Clock));
        outputs.push(EngineOutput::Updated {
            reference: combined.reference,
            outcome,
        });

        // `leapsectz`: the time zone's table, not the sources, says when a leap is due.
        let announced_leap = self
            .config
            .leap_table
            .as_ref()
            .map_or(combined.leap, |table| table.announced(now));
        let leap = leap_to_arm(announced_leap, now);
        if leap != self.armed_leap {
            self.armed_leap = leap;
            outputs.push(EngineOutput::Clock(ClockAction::SetLeap(leap)));
        }
        let precision_s = 2f64.powi(self.config.precision_log2 as i32);
        // What clients are served is the clock's reading, still this far from the
        // corrected reading the estimate is about (0 after a step).
        let pending_s = self.discipline.remaining_correction_s(now).abs();
        let samples_used = self
            .source(combined.reference)
            .and_then(Source::estimate)
            .map_or(0, |estimate| estimate.samples_used);
        let discipline = self.discipline.state();
        self.system = SystemVariables {
            synchronized: true,
            local_reference: false,
            leap: leap_to_announce(announced_leap, now),
            stratum: combined.stratum.saturating_add(1).min(15),
            precision: self.config.precision_log2,
            reference_id: combined.reference_id,
            reference_time: Some(now),
            root_delay_s: combined.root_delay_s,
            root_dispersion_s: combined.root_dispersion_s
                + combined.offset_sd_s
                + precision_s
                + pending_s,
            pending_correction_s: pending_s,
            dispersion_rate_ppm: dispersion_rate_ppm(
                discipline.skew_ppm,
                samples_used,
                discipline.residual_frequency_ppm,
                self.config.max_clock_error_ppm,
            ),
            frequency_ppm: discipline.base_frequency_ppm,
            skew_ppm: discipline.skew_ppm,
            estimated_error_s: combined.offset_error_s,
            last_offset_s: discipline.last_offset_s,
            rms_offset_s: discipline.rms_offset_s,
            update_interval_s: discipline.last_update_interval_s,
        };
        outputs.push(EngineOutput::Clock(self.synchronized_action(now)));
        outputs
    }

    /// Re-express every source's history after `change`, made when the corrected
    /// reading was `corrected_now`.
    fn apply_clock_change(&mut self, corrected_now: UnixTime, change: ClockChange) {
        if change.is_none() {
            return;
        }
        for source in &mut self.sources {
            source.apply_clock_change(corrected_now, &change);
        }
        if change.step_s != 0.0 {
            self.discipline.shift(change.step_s);
            if let Some(t) = &mut self.system.reference_time {
                *t = t.add_seconds_f64(change.step_s);
            }
        }
    }
}

/// A seed from a number, for simulators and tests.
pub fn seed_from_u64(value: u64) -> [u8; 32] {
    let mut seed = [0u8; 32];
    ChaCha12Rng::seed_from_u64(value).fill_bytes(&mut seed);
    seed
}
