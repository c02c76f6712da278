//! A tiny closed-loop harness for the engine's deterministic tests: one virtual clock
//! (frequency error, steps and frequency changes applied from the engine's actions),
//! ideal servers with an offset, and a network with base delay and exponential jitter.
//! Not the simulator (crates/sim): just enough to check behaviour end to end.

#![allow(dead_code)]

use gnomon_core::clock_action::{ClockAction, LeapSecond};
use gnomon_core::engine::{seed_from_u64, Engine, EngineConfig, EngineOutput};
use gnomon_core::server::build_kiss_of_death;
use gnomon_core::source::SourceId;
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::SystemVariables;
use gnomon_proto::{KissCode, LeapIndicator, NtpDuration, NtpHeader, ReferenceId, UnixTime};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const NANOS: i64 = 1_000_000_000;

/// The local clock: reads true time plus `error_s`, which grows at the intrinsic
/// frequency error plus the engine's correction.
pub struct VirtualClock {
    pub error_s: f64,
    pub intrinsic_ppm: f64,
    pub correction_ppm: f64,
    pub leap: LeapSecond,
    pub synchronized: bool,
    /// Random walk of the intrinsic frequency: standard deviation after one second, ppb.
    pub wander_ppb_per_s: f64,
    last_true_ns: i64,
}

impl VirtualClock {
    fn advance(&mut self, true_ns: i64) {
        let elapsed_s = (true_ns - self.last_true_ns) as f64 * 1e-9;
        self.error_s += elapsed_s * (self.intrinsic_ppm + self.correction_ppm) * 1e-6;
        self.last_true_ns = true_ns;
    }

    fn read(&self) -> UnixTime {
        UnixTime::from_nanos(self.last_true_ns + (self.error_s * 1e9).round() as i64)
    }

    fn apply(&mut self, action: &ClockAction) {
        match *action {
            ClockAction::SetFrequency { frequency_ppm, .. } => self.correction_ppm = frequency_ppm,
            ClockAction::Step { offset_s } => self.error_s += offset_s,
            ClockAction::SetLeap(leap) => self.leap = leap,
            ClockAction::SetSynchronized { synchronized, .. } => self.synchronized = synchronized,
        }
    }
}

/// How a simulated server behaves.
#[derive(Clone, Debug)]
pub struct VirtualServer {
    /// Server clock minus true time.
    pub offset_s: f64,
    pub stratum: u8,
    pub leap: LeapIndicator,
    /// Answer every request with this kiss code.
    pub kiss: Option<KissCode>,
    /// The reference ID it announces (`GPS` by default).
    pub reference_id: ReferenceId,
    pub answering: bool,
    /// One-way base delay and mean of the exponential one-way jitter.
    pub one_way_delay_s: f64,
    pub jitter_s: f64,
    pub requests_received: u64,
}

impl Default for VirtualServer {
    fn default() -> Self {
        VirtualServer {
            offset_s: 0.0,
            stratum: 1,
            leap: LeapIndicator::NoWarning,
            kiss: None,
            reference_id: ReferenceId::from_ascii(*b"GPS\0"),
            answering: true,
            one_way_delay_s: 0.0005,
            jitter_s: 0.0,
            requests_received: 0,
        }
    }
}

pub struct Harness {
    pub engine: Engine,
    pub clock: VirtualClock,
    pub servers: Vec<(SourceId, VirtualServer)>,
    pub true_ns: i64,
    pub clock_log: Vec<(i64, ClockAction)>,
    pub outputs_log: Vec<(i64, EngineOutput)>,
    in_flight: Vec<(i64, SourceId, [u8; 48])>,
    rng: ChaCha8Rng,
}

impl Harness {
    /// Start at true time `start_s` (Unix seconds) with the clock `error_s` off and
    /// running `intrinsic_ppm` fast.
    pub fn new(
        config: EngineConfig,
        start_s: i64,
        error_s: f64,
        intrinsic_ppm: f64,
        seed: u64,
    ) -> Harness {
        let engine = Engine::new(config, seed_from_u64(seed));
        Harness::with_engine(engine, start_s, error_s, intrinsic_ppm, seed)
    }

    /// [`Harness::new`] around an engine built by the caller (another discipline, say).
    pub fn with_engine(
        engine: Engine,
        start_s: i64,
        error_s: f64,
        intrinsic_ppm: f64,
        seed: u64,
    ) -> Harness {
        let true_ns = start_s * NANOS;
        let mut harness = Harness {
            engine,
            clock: VirtualClock {
                error_s,
                intrinsic_ppm,
                correction_ppm: 0.0,
                leap: LeapSecond::None,
                synchronized: false,
                wander_ppb_per_s: 0.0,
                last_true_ns: true_ns,
            },
            servers: Vec::new(),
            true_ns,
            clock_log: Vec::new(),
            outputs_log: Vec::new(),
            in_flight: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
        };
        let outputs = harness.engine.start(harness.clock.read());
        harness.handle(outputs);
        harness
    }

    pub fn add_server(&mut self, options: SourceOptions, server: VirtualServer) -> SourceId {
        let id = self
            .engine
            .add_source(
                options,
                ReferenceId::from_u32(0x0a00_0001 + self.servers.len() as u32),
                self.clock.read(),
            )
            .unwrap();
        self.servers.push((id, server));
        id
    }

    pub fn server_mut(&mut self, id: SourceId) -> &mut VirtualServer {
        &mut self.servers.iter_mut().find(|(s, _)| *s == id).unwrap().1
    }

    /// Local clock minus true time, seconds.
    pub fn clock_error_s(&self) -> f64 {
        self.clock.error_s
    }

    pub fn now_s(&self) -> f64 {
        self.true_ns as f64 * 1e-9
    }

    fn gaussian(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Move true time to `true_ns`, letting the clock's frequency wander on the way.
    fn advance_to(&mut self, true_ns: i64) {
        if self.clock.wander_ppb_per_s > 0.0 {
            // Walk in steps of at most 16 s so the phase integrates the wander.
            while self.clock.last_true_ns < true_ns {
                let next = (self.clock.last_true_ns + 16 * NANOS).min(true_ns);
                let dt_s = (next - self.clock.last_true_ns) as f64 * 1e-9;
                self.clock.advance(next);
                self.clock.intrinsic_ppm +=
                    self.clock.wander_ppb_per_s * 1e-3 * dt_s.sqrt() * self.gaussian();
            }
        } else {
            self.clock.advance(true_ns);
        }
        self.true_ns = true_ns;
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn one_way_s(&mut self, server: &VirtualServer) -> f64 {
        let jitter = if server.jitter_s > 0.0 {
            -server.jitter_s * (1.0 - self.uniform()).ln()
        } else {
            0.0
        };
        server.one_way_delay_s + jitter
    }

    fn handle(&mut self, outputs: Vec<EngineOutput>) {
        for output in outputs {
            match &output {
                EngineOutput::Clock(action) => {
                    self.clock.apply(action);
                    self.clock_log.push((self.true_ns, *action));
                }
                EngineOutput::Send { source, packet } => self.serve(*source, packet),
                _ => {}
            }
            self.outputs_log.push((self.true_ns, output));
        }
    }

    fn serve(&mut self, source: SourceId, packet: &[u8; 48]) {
        let index = self.servers.iter().position(|(s, _)| *s == source).unwrap();
        let server = self.servers[index].1.clone();
        self.servers[index].1.requests_received += 1;
        if !server.answering {
            return;
        }
        let (request, _) = NtpHeader::parse(packet).unwrap();
        let forward_s = self.one_way_s(&server);
        let back_s = self.one_way_s(&server);
        let arrive_ns = self.true_ns + (forward_s * 1e9) as i64;
        let server_time = UnixTime::from_nanos(arrive_ns + (server.offset_s * 1e9).round() as i64);
        let reply = match server.kiss {
            Some(code) => NtpHeader {
                poll: request.poll,
                ..build_kiss_of_death(&request, code).unwrap()
            },
            None => {
                let system = SystemVariables {
                    synchronized: true,
                    leap: server.leap,
                    stratum: server.stratum,
                    reference_id: server.reference_id,
                    reference_time: Some(server_time),
                    root_dispersion_s: 1e-6,
                    ..SystemVariables::unsynchronized(-24)
                };
                gnomon_core::server::build_reply(&request, server_time, server_time, &system)
                    .unwrap()
            }
        };
        let deliver_ns = arrive_ns + (back_s * 1e9) as i64;
        self.in_flight.push((deliver_ns, source, reply.to_bytes()));
    }

    /// Run until true time `until_s`, calling `observe` after every event.
    pub fn run_until(&mut self, until_s: f64, mut observe: impl FnMut(&Harness)) {
        let end_ns = (until_s * 1e9) as i64;
        let mut events = 0u64;
        loop {
            events += 1;
            assert!(events < 10_000_000, "runaway loop");
            let timer_ns = self.engine.next_deadline().map(|local| {
                // Local deadline to true time; +1 ns so the clock reads at least the deadline.
                local.as_nanos() - (self.clock.error_s * 1e9).round() as i64 + 1
            });
            let delivery = self
                .in_flight
                .iter()
                .enumerate()
                .min_by_key(|(_, (t, _, _))| *t)
                .map(|(i, e)| (i, e.0));
            let next_ns = match (timer_ns, delivery) {
                (Some(t), Some((_, d))) => t.min(d),
                (Some(t), None) => t,
                (None, Some((_, d))) => d,
                // Nothing will happen (every source offline): skip to the end.
                (None, None) => end_ns + 1,
            }
            .max(self.true_ns);
            if next_ns > end_ns {
                self.advance_to(end_ns);
                return;
            }
            self.advance_to(next_ns);
            let now = self.clock.read();
            if let Some((index, at_ns)) = delivery {
                if at_ns == next_ns {
                    let (_, source, bytes) = self.in_flight.swap_remove(index);
                    if let Ok(outputs) = self.engine.on_response(source, &bytes, now, now) {
                        self.handle(outputs);
                    }
                    observe(self);
                    continue;
                }
            }
            let outputs = self.engine.on_timer(now);
            if outputs.is_empty() && self.engine.next_deadline().is_some_and(|d| d <= now) {
                // Clock rounding: nudge time forward.
                self.advance_to(self.true_ns + 1000);
            }
            self.handle(outputs);
            observe(self);
        }
    }

    pub fn steps(&self) -> Vec<f64> {
        self.clock_log
            .iter()
            .filter_map(|(_, a)| match a {
                ClockAction::Step { offset_s } => Some(*offset_s),
                _ => None,
            })
            .collect()
    }

    pub fn requests_to(&self, id: SourceId) -> u64 {
        self.servers
            .iter()
            .find(|(s, _)| *s == id)
            .unwrap()
            .1
            .requests_received
    }
}

pub fn duration_s(seconds: f64) -> NtpDuration {
    NtpDuration::from_seconds_f64(seconds)
}
