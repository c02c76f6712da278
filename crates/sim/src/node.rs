//! A simulated gnomon node: one [`Engine`] on one [`VirtualClock`], with a link to
//! each of its servers.
//!
//! Owns the glue a daemon's event loop would be: building the engine from a node's
//! scenario entry, feeding it timer and packet events with readings of its own
//! clock, carrying out its outputs (clock actions applied, packets handed back to the
//! simulation to route), serving requests from its clients with `build_reply`, and
//! counting what happened (packets, steps, leap arming, stopped sources, which
//! upstream was selected). It must not schedule events or move true time; the
//! simulation does both.

use gnomon_core::clock_action::{ClockAction, LeapSecond};
use gnomon_core::discipline::MakeStep;
use gnomon_core::engine::{Engine, EngineConfig, EngineOutput};
use gnomon_core::poll::StopReason;
use gnomon_core::selection::SourceVerdict;
use gnomon_core::source::SourceId;
use gnomon_core::source_estimator::EstimatorKind;
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::LocalStratum;
use gnomon_proto::{NtpHeader, ReferenceId, HEADER_LEN};

use crate::clock::VirtualClock;
use crate::network::Link;
use crate::rng::SimRng;
use crate::scenario::{EngineSpec, NodeSpec};

/// Where a node's source sends its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    Server(usize),
    Node(usize),
}

/// One configured source of a node.
#[derive(Debug)]
pub struct NodeSource {
    pub id: SourceId,
    pub upstream: Upstream,
    pub upstream_name: String,
    pub link: Link,
    /// Selection rounds in which this source was the reference / combined with it.
    pub times_reference: u64,
    pub times_combined: u64,
    /// Last time (true seconds since start) it was selected or combined.
    pub last_chosen_s: Option<f64>,
    pub stopped: Option<StopReason>,
}

/// What a node did, for reports and tests.
#[derive(Clone, Debug, Default)]
pub struct NodeCounters {
    pub requests_sent: u64,
    pub responses_accepted: u64,
    pub responses_rejected: u64,
    pub requests_served: u64,
    /// (true seconds since start, offset) of every step the engine asked for.
    pub steps: Vec<(f64, f64)>,
    /// (true seconds since start, leap) of every SetLeap.
    pub leap_actions: Vec<(f64, LeapSecond)>,
    pub max_change_exceeded: u64,
    pub clock_updates: u64,
    /// Every clock update: what the engine believed beside the truth.
    pub updates: Vec<UpdateRecord>,
}

/// One clock update seen from outside the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateRecord {
    /// True seconds since start.
    pub t_s: f64,
    /// The clock's true error (clock − true time) just before the update.
    pub true_error_s: f64,
    /// The engine's combined estimate of (sources − clock) at the update.
    pub estimated_offset_s: f64,
}

impl UpdateRecord {
    /// How wrong the engine's estimate was: 0 for a perfect estimate.
    pub fn estimate_error_s(&self) -> f64 {
        self.estimated_offset_s + self.true_error_s
    }
}

/// A packet the node wants sent: to source `source_index`'s upstream.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing {
    pub source_index: usize,
    pub packet: [u8; HEADER_LEN],
}

/// A simulated gnomon instance.
#[derive(Debug)]
pub struct SimNode {
    pub name: String,
    pub measured: bool,
    pub engine: Engine,
    pub clock: VirtualClock,
    pub sources: Vec<NodeSource>,
    pub counters: NodeCounters,
    start_true_ns: i64,
    /// The true time of the timer event currently queued, to avoid duplicates.
    pub queued_timer_ns: Option<i64>,
}

fn engine_config(spec: &EngineSpec) -> EngineConfig {
    let mut config = EngineConfig::default();
    if let Some((threshold_s, limit)) = spec.makestep {
        config.discipline.makestep = Some(MakeStep { threshold_s, limit });
    }
    if let Some(minsources) = spec.minsources {
        config.selection.minsources = minsources;
    }
    if let Some(stratum) = spec.local_stratum {
        config.local_stratum = Some(LocalStratum {
            stratum,
            ..LocalStratum::default()
        });
    }
    config
}

impl SimNode {
    /// Build instance `name` of `spec`; `upstreams[i]` resolves `spec.sources[i]`.
    pub fn new(
        name: String,
        spec: &NodeSpec,
        upstreams: &[Upstream],
        seed: u64,
        start_true_ns: i64,
    ) -> SimNode {
        let clock = VirtualClock::new(
            &spec.clock,
            start_true_ns,
            SimRng::derive(seed, &format!("clock/{name}")),
        );
        let engine_seed = SimRng::derive(seed, &format!("engine/{name}")).seed_bytes();
        let mut engine = Engine::new(engine_config(&spec.engine), engine_seed);
        let now = clock.read();
        let outputs = engine.start(now);
        let mut sources = Vec::new();
        for (index, (source, upstream)) in spec.sources.iter().zip(upstreams).enumerate() {
            let defaults = SourceOptions::default();
            let options = SourceOptions {
                minpoll: source.minpoll,
                maxpoll: source.maxpoll,
                iburst: source.iburst,
                burst: source.burst,
                prefer: source.prefer,
                noselect: source.noselect,
                trust: source.trust,
                polltarget: source.polltarget.unwrap_or(defaults.polltarget),
                minsamples: source.minsamples.unwrap_or(defaults.minsamples),
                maxsamples: source.maxsamples.unwrap_or(defaults.maxsamples),
                maxdelay_s: source.maxdelay_s.unwrap_or(defaults.maxdelay_s),
                estimator: match &source.estimator {
                    None => defaults.estimator,
                    Some(kind) => EstimatorKind::from_name(kind).unwrap_or_else(|| {
                        panic!("node {name}: estimator {kind}: crossvalidated, runstest or kalman")
                    }),
                },
                ..defaults
            };
            let reference_id = ReferenceId::from_u32(0x0a00_0001 + index as u32);
            let id = engine
                .add_source(options, reference_id, now)
                .unwrap_or_else(|e| panic!("node {name}: source {}: {e}", source.upstream));
            let link_label = format!("link/{name}/{index}");
            sources.push(NodeSource {
                id,
                upstream: *upstream,
                upstream_name: source.upstream.clone(),
                link: Link::new(
                    source.network.clone(),
                    start_true_ns,
                    SimRng::derive(seed, &link_label),
                ),
                times_reference: 0,
                times_combined: 0,
                last_chosen_s: None,
                stopped: None,
            });
        }
        let mut node = SimNode {
            name,
            measured: spec.measured,
            engine,
            clock,
            sources,
            counters: NodeCounters::default(),
            start_true_ns,
            queued_timer_ns: None,
        };
        let mut ignored = Vec::new();
        node.carry_out(outputs, start_true_ns, &mut ignored);
        node
    }

    fn since_start_s(&self, true_ns: i64) -> f64 {
        (true_ns - self.start_true_ns) as f64 * 1e-9
    }

    /// Apply the engine's outputs in order; packets to send go to `outgoing`.
    fn carry_out(&mut self, outputs: Vec<EngineOutput>, true_ns: i64, out: &mut Vec<Outgoing>) {
        let t_s = self.since_start_s(true_ns);
        for output in outputs {
            match output {
                EngineOutput::Send { source, packet } => {
                    let Some(source_index) = self.sources.iter().position(|s| s.id == source)
                    else {
                        continue;
                    };
                    self.counters.requests_sent += 1;
                    // Software TX timestamp: the clock reading as the packet leaves.
                    self.engine.on_transmit_timestamp(source, self.clock.read());
                    out.push(Outgoing {
                        source_index,
                        packet,
                    });
                }
                EngineOutput::Clock(action) => {
                    match action {
                        ClockAction::Step { offset_s } => self.counters.steps.push((t_s, offset_s)),
                        ClockAction::SetLeap(leap) => self.counters.leap_actions.push((t_s, leap)),
                        _ => {}
                    }
                    self.clock.apply(&action);
                }
                EngineOutput::Updated { .. } => self.counters.clock_updates += 1,
                EngineOutput::SourceStopped { source, reason } => {
                    if let Some(s) = self.sources.iter_mut().find(|s| s.id == source) {
                        s.stopped = Some(reason);
                    }
                }
                EngineOutput::MaxChangeExceeded { .. } => self.counters.max_change_exceeded += 1,
                EngineOutput::SelectionChanged { .. } => {}
            }
        }
    }

    /// The true time at which the engine next wants `on_timer`.
    pub fn next_timer_true_ns(&self) -> Option<i64> {
        self.engine
            .next_deadline()
            .map(|local| self.clock.true_time_of(local))
    }

    /// Timer event at true time `true_ns`. Returns whether the deadline had arrived.
    pub fn on_timer(&mut self, true_ns: i64, out: &mut Vec<Outgoing>) -> bool {
        self.clock.advance_to(true_ns);
        let now = self.clock.read();
        if self.engine.next_deadline().is_none_or(|d| d > now) {
            return false;
        }
        let outputs = self.engine.on_timer(now);
        self.carry_out(outputs, true_ns, out);
        true
    }

    /// A reply from source `source_index`'s upstream arrives at true time `true_ns`.
    pub fn on_response(
        &mut self,
        source_index: usize,
        packet: &[u8],
        true_ns: i64,
        out: &mut Vec<Outgoing>,
    ) {
        self.clock.advance_to(true_ns);
        let now = self.clock.read();
        let id = self.sources[source_index].id;
        let true_error_s = self.clock.error_s();
        let updates_before = self.counters.clock_updates;
        match self.engine.on_response(id, packet, now, now) {
            Ok(outputs) => {
                self.counters.responses_accepted += 1;
                self.carry_out(outputs, true_ns, out);
                let combined = self.engine.selection().and_then(|s| s.combined);
                if let (true, Some(combined)) =
                    (self.counters.clock_updates > updates_before, combined)
                {
                    self.counters.updates.push(UpdateRecord {
                        t_s: self.since_start_s(true_ns),
                        true_error_s,
                        estimated_offset_s: combined.offset_s,
                    });
                }
                self.count_selection(true_ns);
            }
            Err(_) => self.counters.responses_rejected += 1,
        }
    }

    /// Count this round's verdicts (they say what this very round chose).
    fn count_selection(&mut self, true_ns: i64) {
        let t_s = self.since_start_s(true_ns);
        let Some(selection) = self.engine.selection() else {
            return;
        };
        for source in &mut self.sources {
            match selection.verdict(source.id) {
                Some(SourceVerdict::Selected) => {
                    source.times_reference += 1;
                    source.last_chosen_s = Some(t_s);
                }
                Some(SourceVerdict::Combined) => {
                    source.times_combined += 1;
                    source.last_chosen_s = Some(t_s);
                }
                _ => {}
            }
        }
    }

    /// Answer a client's request arriving at true time `true_ns` (sent back at once).
    pub fn serve(&mut self, request: &[u8], true_ns: i64) -> Option<NtpHeader> {
        self.clock.advance_to(true_ns);
        let now = self.clock.read();
        let (header, _) = NtpHeader::parse(request).ok()?;
        self.counters.requests_served += 1;
        self.engine.build_reply(&header, now, now).ok()
    }

    /// A step nobody asked for, at true time `true_ns`.
    pub fn unscheduled_step(&mut self, true_ns: i64, offset_s: f64) {
        self.clock.advance_to(true_ns);
        self.clock.step(offset_s);
    }
}
