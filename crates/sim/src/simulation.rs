//! The discrete-event simulation: true time, the event queue and the routing of
//! packets between nodes and servers.
//!
//! Owns true time (it only moves forward, from one event to the next; nothing
//! sleeps), the priority queue of events (timer deadlines converted from each node's
//! local clock to true time, packet arrivals, truth samples, scheduled clock steps)
//! and the instantiation of a scenario into servers, nodes and links. It must not
//! contain synchronisation logic (that is gnomon-core's) nor compute statistics
//! beyond handing samples to the [`Recorder`].
//!
//! Determinism: events at the same true time run in the order they were queued;
//! every random draw comes from a stream derived from the seed and a stable label.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use gnomon_proto::{NtpHeader, HEADER_LEN};

use crate::clock::VirtualClock;
use crate::network::Direction;
use crate::node::{Outgoing, SimNode, Upstream};
use crate::rng::SimRng;
use crate::scenario::Scenario;
use crate::servers::{Reference, StaticServer};
use crate::stats::{NodeSample, Recorder};

const NANOS_PER_S: i64 = 1_000_000_000;
/// A guard against a node whose timer keeps firing without progress.
const RETRY_NS: i64 = 1_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    /// Node `node`'s timer, queued for `deadline_true_ns` (stale if requeued since).
    Timer { node: usize },
    /// A request from `node`'s source `source` reaches its upstream.
    Request {
        node: usize,
        source: usize,
        packet: [u8; HEADER_LEN],
    },
    /// The upstream's reply reaches `node`.
    Response {
        node: usize,
        source: usize,
        packet: [u8; HEADER_LEN],
    },
    /// Record every measured clock's error.
    Sample,
    /// A scheduled step of `node`'s clock (index into its spec's steps).
    Step { node: usize, step: usize },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at_ns: i64,
    seq: u64,
    kind: EventKind,
}

/// A simulation in progress (or finished).
pub struct Simulation {
    pub scenario: Scenario,
    pub seed: u64,
    pub servers: Vec<StaticServer>,
    pub nodes: Vec<SimNode>,
    /// For each node, the index of its spec in `scenario.nodes`.
    node_spec: Vec<usize>,
    pub recorder: Recorder,
    /// Is true time within the bound gnomond would publish? (crate::bound_check)
    pub bound_check: crate::bound_check::BoundCheck,
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
    pub start_ns: i64,
    pub now_ns: i64,
    end_ns: i64,
    pub events_processed: u64,
}

impl Simulation {
    /// Instantiate `scenario` with `seed`.
    pub fn new(scenario: Scenario, seed: u64) -> Simulation {
        let start_ns = scenario.start_unix_s * NANOS_PER_S;
        let end_ns = start_ns + (scenario.duration_s * 1e9) as i64;
        let servers: Vec<StaticServer> = scenario
            .servers
            .iter()
            .map(|spec| {
                let rng = SimRng::derive(seed, &format!("server/{}", spec.name));
                let fuzz = SimRng::derive(seed, &format!("server-fuzz/{}", spec.name));
                StaticServer::new(spec.clone(), start_ns, rng, fuzz)
            })
            .collect();
        // Instance names first, so that upstream nodes resolve to instance indices.
        let mut instances = Vec::new();
        for (spec_index, spec) in scenario.nodes.iter().enumerate() {
            for i in 0..spec.count {
                let name = if spec.count == 1 {
                    spec.name.clone()
                } else {
                    format!("{}-{}", spec.name, i + 1)
                };
                instances.push((spec_index, name));
            }
        }
        let resolve = |upstream: &str| -> Upstream {
            if let Some(i) = scenario.servers.iter().position(|s| s.name == upstream) {
                return Upstream::Server(i);
            }
            let i = instances
                .iter()
                .position(|(_, name)| name == upstream)
                .expect("scenario check resolves every upstream");
            Upstream::Node(i)
        };
        let mut nodes = Vec::new();
        let mut node_spec = Vec::new();
        for (spec_index, name) in &instances {
            let spec = &scenario.nodes[*spec_index];
            let upstreams: Vec<Upstream> =
                spec.sources.iter().map(|s| resolve(&s.upstream)).collect();
            nodes.push(SimNode::new(name.clone(), spec, &upstreams, seed, start_ns));
            node_spec.push(*spec_index);
        }
        let measured = nodes.iter().filter(|n| n.measured).count();
        let recorder = Recorder::new(measured, scenario.settle_s());
        let mut sim = Simulation {
            scenario,
            seed,
            servers,
            nodes,
            node_spec,
            recorder,
            bound_check: Default::default(),
            queue: BinaryHeap::new(),
            seq: 0,
            start_ns,
            now_ns: start_ns,
            end_ns,
            events_processed: 0,
        };
        sim.push(start_ns, EventKind::Sample);
        for node in 0..sim.nodes.len() {
            let steps = &sim.scenario.nodes[sim.node_spec[node]].clock.steps;
            let times: Vec<i64> = steps
                .iter()
                .map(|s| start_ns + (s.at_s * 1e9) as i64)
                .collect();
            for (step, at_ns) in times.into_iter().enumerate() {
                sim.push(at_ns, EventKind::Step { node, step });
            }
            sim.schedule_timer(node);
        }
        sim
    }

    fn push(&mut self, at_ns: i64, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Reverse(Event {
            at_ns,
            seq: self.seq,
            kind,
        }));
    }

    /// Queue node `node`'s next timer unless the same one is already queued.
    fn schedule_timer(&mut self, node: usize) {
        let Some(at_ns) = self.nodes[node].next_timer_true_ns() else {
            self.nodes[node].queued_timer_ns = None;
            return;
        };
        let at_ns = at_ns.max(self.now_ns);
        if self.nodes[node].queued_timer_ns == Some(at_ns) {
            return;
        }
        self.nodes[node].queued_timer_ns = Some(at_ns);
        self.push(at_ns, EventKind::Timer { node });
    }

    /// Seconds of true time since the start.
    pub fn elapsed_s(&self) -> f64 {
        (self.now_ns - self.start_ns) as f64 * 1e-9
    }

    /// Run to the end of the scenario.
    pub fn run(&mut self) {
        let end_s = self.scenario.duration_s;
        self.run_until_s(end_s);
    }

    /// Run until `until_s` seconds after the start (not past the scenario's end).
    pub fn run_until_s(&mut self, until_s: f64) {
        let until_ns = (self.start_ns + (until_s * 1e9) as i64).min(self.end_ns);
        while let Some(Reverse(event)) = self.queue.peek() {
            if event.at_ns > until_ns {
                break;
            }
            let Reverse(event) = self.queue.pop().expect("peeked");
            self.now_ns = event.at_ns;
            self.events_processed += 1;
            self.dispatch(event.kind);
        }
        self.now_ns = self.now_ns.max(until_ns);
    }

    fn dispatch(&mut self, kind: EventKind) {
        let now_ns = self.now_ns;
        let mut outgoing = Vec::new();
        match kind {
            EventKind::Timer { node } => {
                if self.nodes[node].queued_timer_ns != Some(now_ns) {
                    return; // superseded
                }
                self.nodes[node].queued_timer_ns = None;
                let fired = self.nodes[node].on_timer(now_ns, &mut outgoing);
                self.send_all(node, outgoing);
                let next = self.nodes[node].next_timer_true_ns();
                if !fired || next.is_some_and(|t| t <= now_ns) {
                    // Rounding left the clock short of its deadline: look again shortly.
                    let retry_ns = next.unwrap_or(now_ns).max(now_ns + RETRY_NS);
                    self.nodes[node].queued_timer_ns = Some(retry_ns);
                    self.push(retry_ns, EventKind::Timer { node });
                    return;
                }
                self.schedule_timer(node);
            }
            EventKind::Request {
                node,
                source,
                packet,
            } => self.deliver_request(node, source, &packet),
            EventKind::Response {
                node,
                source,
                packet,
            } => {
                self.nodes[node].on_response(source, &packet, now_ns, &mut outgoing);
                self.send_all(node, outgoing);
                self.schedule_timer(node);
            }
            EventKind::Sample => {
                self.sample();
                let next_ns = now_ns + (self.scenario.sample_interval_s * 1e9) as i64;
                if next_ns <= self.end_ns {
                    self.push(next_ns, EventKind::Sample);
                }
            }
            EventKind::Step { node, step } => {
                let offset_s = self.scenario.nodes[self.node_spec[node]].clock.steps[step].offset_s;
                self.nodes[node].unscheduled_step(now_ns, offset_s);
                self.nodes[node].queued_timer_ns = None;
                self.schedule_timer(node);
            }
        }
    }

    fn send_all(&mut self, node: usize, outgoing: Vec<Outgoing>) {
        for Outgoing {
            source_index,
            packet,
        } in outgoing
        {
            let link = &mut self.nodes[node].sources[source_index].link;
            if let Some(transit_s) = link.transit_s(self.now_ns, Direction::ToServer) {
                let at_ns = self.now_ns + (transit_s * 1e9).round() as i64;
                self.push(
                    at_ns,
                    EventKind::Request {
                        node,
                        source: source_index,
                        packet,
                    },
                );
            }
        }
    }

    fn deliver_request(&mut self, node: usize, source: usize, packet: &[u8; HEADER_LEN]) {
        let reply = match self.nodes[node].sources[source].upstream {
            Upstream::Server(index) => {
                let reference = self.reference();
                let Ok((request, _)) = NtpHeader::parse(packet) else {
                    return;
                };
                self.servers[index].reply(&request, &reference)
            }
            Upstream::Node(index) => self.nodes[index].serve(packet, self.now_ns),
        };
        let Some(reply) = reply else {
            return;
        };
        let link = &mut self.nodes[node].sources[source].link;
        if let Some(transit_s) = link.transit_s(self.now_ns, Direction::ToClient) {
            let at_ns = self.now_ns + (transit_s * 1e9).round() as i64;
            self.push(
                at_ns,
                EventKind::Response {
                    node,
                    source,
                    packet: reply.to_bytes(),
                },
            );
        }
    }

    /// The reference timescale now.
    pub fn reference(&self) -> Reference {
        Reference::at(self.now_ns, self.scenario.leap.as_ref())
    }

    /// Clock − true UTC for `clock`, already advanced to now. Within 2 s of a leap
    /// second UTC is ambiguous (the inserted second repeats 23:59:59), and a clock
    /// that inserts its leap a few microseconds before or after true midnight is
    /// compared with the timescale in the same state rather than counted 1 s off.
    fn utc_error_s(&self, clock: &VirtualClock) -> f64 {
        let lag_s = self.reference().utc_lag_s as f64;
        let near_leap = self.scenario.leap.as_ref().is_some_and(|event| {
            (self.now_ns - event.midnight_unix_s * NANOS_PER_S).abs() < 2 * NANOS_PER_S
        });
        if near_leap {
            clock.error_s() + clock.leaps_applied() as f64
        } else {
            clock.error_s() + lag_s
        }
    }

    fn sample(&mut self) {
        let now_ns = self.now_ns;
        let mut samples = Vec::new();
        for index in 0..self.nodes.len() {
            if !self.nodes[index].measured {
                continue;
            }
            self.nodes[index].clock.advance_to(now_ns);
            let clock = &self.nodes[index].clock;
            let error_s = self.utc_error_s(clock);
            let (engine, clock_now) = (&self.nodes[index].engine, clock.read());
            let slot = samples.len();
            let settled = self.elapsed_s() >= self.recorder.settle_s();
            self.bound_check
                .sample(slot, engine, clock_now, (now_ns, settled), error_s);
            samples.push(NodeSample {
                error_s,
                synchronized: clock.synchronized(),
            });
        }
        let t_s = self.elapsed_s();
        self.recorder.record(t_s, &samples);
    }

    /// Indices of the measured nodes, in the recorder's order.
    pub fn measured_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].measured)
            .collect()
    }

    /// Find a node by instance name.
    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The true error (clock − UTC) of a node right now.
    pub fn node_error_s(&mut self, node: usize) -> f64 {
        let now_ns = self.now_ns;
        self.nodes[node].clock.advance_to(now_ns);
        self.utc_error_s(&self.nodes[node].clock)
    }
}
