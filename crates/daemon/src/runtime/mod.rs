//! gnomond's main loop: one thread, waiting only in poll(2).
//!
//! Owns wiring the engine to the world: sockets per source, the control socket, the
//! clock, the drift file, the pidfile and sd_notify. Each turn it waits for the
//! engine's next deadline or a ready socket, feeds the engine (timers, replies with
//! kernel RX timestamps, TX timestamps from the error queue) and carries out what it
//! returns in order. DESIGN rule 3: glibc calls only (through gnomon-sys), no other
//! thread does IO, no busy loop. Policy lives in gnomon-core, not here.

mod chrony_log;
mod client;
mod connectivity;
mod requests;
pub mod serve;
pub mod snapshot;
pub mod sources;
pub mod tx_ring;
pub mod workers;

use crate::clock::Clock;
use crate::control::observe::{Observability, ScrapeSource};
use crate::control::server::ControlServer;
use crate::control::views::SourceLabel;
use crate::driftfile;
use crate::engine_config::engine_config;
use crate::logs::Logs;
use gnomon_config::Config;
use gnomon_core::clock_action::ClockAction;
use gnomon_core::discipline::UpdateOutcome;
use gnomon_core::engine::{Engine, EngineOutput};
use gnomon_core::selection::SourceVerdict;
use gnomon_proto::UnixTime;
use gnomon_sys::fd::{PollSet, Readiness};
use gnomon_sys::signal;
use gnomon_sys::timex::monotonic_now_ns;
use gnomon_sys::unix::send_unix_datagram;
use serve::Serving;
use sources::SourceSlot;
use std::io;
use std::time::Duration;

/// `-q` and `-Q`: measure once, then set the clock (`-q`) or only print (`-Q`), and exit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneShot {
    pub set_clock: bool,
    /// Give up after this long without a measurement.
    pub timeout: Duration,
}

/// How the daemon runs, from its command line.
pub struct RunOptions {
    pub one_shot: Option<OneShot>,
    /// `--resolve NAME=ADDR,...`: answers for these names without asking DNS.
    pub resolve_overrides: Vec<(String, Vec<std::net::IpAddr>)>,
}

/// How a run ended.
#[derive(Debug, PartialEq)]
pub enum Exit {
    /// SIGTERM/SIGINT, or a one-shot that measured.
    Clean,
    /// One-shot without a usable measurement, or maxchange exceeded.
    Failed(String),
}

/// Longest sleep in one poll, so housekeeping (drift file, re-resolving) happens.
const MAX_POLL_WAIT: Duration = Duration::from_secs(60);
/// A pool member with an empty reach register after this many requests is replaced.
const UNREACHABLE_REQUESTS: u64 = 8;
/// Replaced pool addresses remembered so they are not picked again at once.
const MAX_REMEMBERED_REPLACED: usize = 64;
/// How often unresolvable names are tried again.
const RESOLVE_RETRY_NS: i64 = 64_000_000_000;

pub struct Daemon {
    config: Config,
    options: RunOptions,
    clock: Box<dyn Clock>,
    engine: Engine,
    sources: Vec<SourceSlot>,
    unresolved: Vec<usize>,
    next_resolve_ns: i64,
    control: Option<ControlServer>,
    /// NTP server sockets and state, when `allow` serves clients.
    serving: Option<Serving>,
    /// `metrics` endpoint and `clockbound` file, when configured.
    observe: Observability,
    control_requests: u64,
    /// Control requests that got no reply (the control server's count, copied each turn).
    control_dropped: u64,
    next_drift_save_ns: i64,
    one_shot_result: Option<f64>,
    failure: Option<String>,
    logs: Logs,
    /// Config source lines removed by a reload (indices stay stable for the slots).
    retired_sources: Vec<usize>,
    replaced_addresses: Vec<std::net::SocketAddr>,
    /// Config source lines a whole-line `online` (true) / `offline` named last.
    line_connectivity: Vec<(usize, bool)>,
}

/// The local clock's reading precision as log2 seconds: the smallest step seen
/// between consecutive reads, as chrony measures it.
pub fn measure_precision_log2(clock: &dyn Clock) -> i8 {
    let mut smallest_ns = i64::MAX;
    let mut previous = clock.now();
    for _ in 0..100 {
        let next = clock.now();
        let step = next.as_nanos() - previous.as_nanos();
        if step > 0 {
            smallest_ns = smallest_ns.min(step);
        }
        previous = next;
    }
    let seconds = if smallest_ns == i64::MAX {
        1e-9
    } else {
        smallest_ns as f64 * 1e-9
    };
    seconds.log2().ceil().clamp(-30.0, 0.0) as i8
}

impl Daemon {
    /// Set everything up: read the drift file, create the engine, resolve and open
    /// the sources, bind the control socket. Only unusable settings are errors; a
    /// source or socket that cannot be opened is logged and skipped.
    pub fn new(
        config: Config,
        options: RunOptions,
        clock: Box<dyn Clock>,
    ) -> Result<Daemon, String> {
        let from_drift_file = match &config.drift_file {
            Some(path) => driftfile::load(path),
            None => None,
        };
        // Without a drift file, start from the frequency the clock already runs at (the
        // kernel's, for the system clock), as chronyd does, with no confidence in it.
        let saved = from_drift_file.or_else(|| {
            let frequency_ppm = clock.frequency_ppm();
            (frequency_ppm != 0.0).then_some(gnomon_core::discipline::SavedFrequency {
                frequency_ppm,
                skew_ppm: gnomon_core::estimator::WORST_CASE_SKEW_PPM,
            })
        });
        if let Some(saved) = from_drift_file {
            tracing::info!(
                "frequency {:.3} ppm (skew {:.3}) read from drift file",
                saved.frequency_ppm,
                saved.skew_ppm
            );
        }
        let precision_log2 = measure_precision_log2(clock.as_ref());
        let seed: [u8; 32] = rand::random();
        let mut settings = engine_config(&config, saved, precision_log2);
        if settings.own_reference_id.is_none() {
            // `local ... orphan` compares orphan peers' IDs with the one they know us by.
            settings.own_reference_id = serve::own_reference_id(&config);
        }
        let engine = Engine::new(settings, seed);
        // NTP sockets before the control socket: once the control socket exists (tests
        // and scripts wait for it), the server is listening.
        let serving = match options.one_shot {
            None => Serving::open(
                &config,
                rand::random(),
                &serve::snapshot_of(engine.system_variables(), clock.as_ref()),
            ),
            Some(_) => None,
        };
        let control = match (&config.command_socket, options.one_shot) {
            (Some(path), None) => match ControlServer::bind(path) {
                Ok(server) => Some(server),
                Err(error) => {
                    tracing::warn!(
                        "control socket {} not available: {error}; running without it",
                        path.display()
                    );
                    None
                }
            },
            _ => None,
        };
        let observe = match options.one_shot {
            None => Observability::open(&config),
            Some(_) => Observability::default(),
        };
        let now_ns = monotonic_now_ns();
        let mut daemon = Daemon {
            next_drift_save_ns: now_ns + i64::from(config.drift_file_interval_s) * 1_000_000_000,
            config,
            options,
            clock,
            engine,
            sources: Vec::new(),
            unresolved: Vec::new(),
            next_resolve_ns: now_ns,
            control,
            serving,
            observe,
            control_requests: 0,
            control_dropped: 0,
            one_shot_result: None,
            failure: None,
            logs: Logs::default(),
            retired_sources: Vec::new(),
            replaced_addresses: Vec::new(),
            line_connectivity: Vec::new(),
        };
        if let Some(dir) = &daemon.config.log_dir {
            daemon.logs = Logs::open(dir, &daemon.config.logs);
        }
        let outputs = daemon.engine.start(daemon.clock.now());
        daemon.carry_out(outputs);
        daemon.unresolved = (0..daemon.config.sources.len()).collect();
        daemon.resolve_pending();
        Ok(daemon)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn labels(&self) -> Vec<SourceLabel> {
        self.sources.iter().map(SourceSlot::label).collect()
    }

    /// Carry out the engine's outputs in order.
    fn carry_out(&mut self, outputs: Vec<EngineOutput>) {
        for output in outputs {
            match output {
                EngineOutput::Send { source, packet } => {
                    let Some(slot) = self.sources.iter_mut().find(|slot| slot.id == source) else {
                        continue;
                    };
                    match slot.socket.send(&packet) {
                        Ok(_) => {
                            slot.awaiting_tx_index = Some(slot.sends);
                            slot.sends = slot.sends.wrapping_add(1);
                        }
                        Err(error) => tracing::debug!("{}: send failed: {error}", slot.address),
                    }
                }
                EngineOutput::Clock(action) => self.apply_clock(&action),
                EngineOutput::Updated { reference, outcome } => {
                    let name = self
                        .sources
                        .iter()
                        .find(|slot| slot.id == reference)
                        .map_or_else(String::new, |slot| slot.address.to_string());
                    let offset_s = match outcome {
                        UpdateOutcome::Slewed { offset_s, .. }
                        | UpdateOutcome::Stepped { offset_s }
                        | UpdateOutcome::Ignored { offset_s }
                        | UpdateOutcome::MaxChangeExceeded { offset_s } => offset_s,
                    };
                    tracing::debug!("update from {name}: {outcome:?}");
                    let now = self.clock.now();
                    let combined = self.engine.selection().map_or(0, |result| {
                        result
                            .verdicts
                            .iter()
                            .filter(|(_, verdict)| {
                                matches!(verdict, SourceVerdict::Selected | SourceVerdict::Combined)
                            })
                            .count()
                    });
                    let remaining_s = self.engine.clock_error_bound(now).offset_s;
                    let address = name.rsplit_once(':').map_or(name.as_str(), |(ip, _)| ip);
                    self.logs.tracking(
                        now,
                        address,
                        self.engine.system_variables(),
                        combined,
                        remaining_s,
                    );
                    if self.options.one_shot.is_some() && self.one_shot_result.is_none() {
                        self.one_shot_result = Some(offset_s);
                    }
                }
                EngineOutput::SourceStopped { source, reason } => {
                    if let Some(slot) = self.sources.iter().find(|slot| slot.id == source) {
                        tracing::warn!(
                            "source {} ({}) stopped: {reason:?}",
                            slot.name,
                            slot.address
                        );
                    }
                }
                EngineOutput::SelectionChanged { reference, failure } => {
                    self.log_selection(reference, failure)
                }
                EngineOutput::MaxChangeExceeded { offset_s } => {
                    let message = format!(
                        "offset {offset_s:+.6} s exceeds maxchange; exiting as chronyd does"
                    );
                    tracing::error!("{message}");
                    self.failure = Some(message);
                }
            }
        }
    }

    fn apply_clock(&mut self, action: &ClockAction) {
        // One-shot modes change nothing until the measurement is in (then -q steps).
        if self.options.one_shot.is_some() {
            return;
        }
        match self.clock.apply(action) {
            Err(error) => tracing::error!(
                "{}: cannot apply {action:?}: {error}",
                self.clock.describe()
            ),
            Ok(()) => chrony_log::clock_applied(action),
        }
    }

    fn save_drift(&self) {
        if let Some(path) = &self.config.drift_file {
            if self.engine.discipline().updates() == 0 {
                return;
            }
            if let Err(error) = driftfile::write(path, self.engine.saved_frequency()) {
                tracing::warn!("{}: cannot write drift file: {error}", path.display());
            }
        }
    }

    /// Run until SIGTERM/SIGINT (or the one-shot measurement).
    pub fn run(&mut self) -> io::Result<Exit> {
        let wake_pipe = signal::install_handlers()?;
        notify("READY=1\nSTATUS=running");
        let started_ns = monotonic_now_ns();
        let mut buffer = [0u8; 2048];
        let mut poll_set = PollSet::new();
        loop {
            if signal::stop_requested() {
                break;
            }
            if let Some(message) = self.failure.take() {
                self.save_drift();
                return Ok(Exit::Failed(message));
            }
            if let Some(one_shot) = self.options.one_shot {
                if let Some(offset_s) = self.one_shot_result {
                    return Ok(self.finish_one_shot(one_shot, offset_s));
                }
                if monotonic_now_ns() - started_ns > one_shot.timeout.as_nanos() as i64 {
                    tracing::warn!("{}", chrony_log::NO_SUITABLE_SOURCE);
                    return Ok(Exit::Failed(format!(
                        "no usable measurement within {:.0} s",
                        one_shot.timeout.as_secs_f64()
                    )));
                }
            }
            let now = self.clock.now();
            let wait = self
                .engine
                .next_deadline()
                .map(|deadline| {
                    let nanos = deadline.as_nanos().saturating_sub(now.as_nanos()).max(0);
                    Duration::from_nanos(nanos as u64)
                })
                .unwrap_or(MAX_POLL_WAIT)
                .min(MAX_POLL_WAIT)
                .min(
                    self.serving
                        .as_ref()
                        .and_then(Serving::max_wait)
                        .unwrap_or(MAX_POLL_WAIT),
                )
                .min(self.observe.max_wait().unwrap_or(MAX_POLL_WAIT))
                .min(if self.options.one_shot.is_some() {
                    Duration::from_millis(500)
                } else {
                    MAX_POLL_WAIT
                });

            // One poll set for the whole run: refilled each turn, never reallocated
            // once it has grown to size (a busy server turns many times a second).
            poll_set.clear();
            for slot in &self.sources {
                poll_set.push(
                    slot.socket.raw_fd(),
                    Readiness {
                        readable: true,
                        priority: true,
                        ..Readiness::default()
                    },
                );
            }
            let sources_end = poll_set.len();
            if let Some(serving) = &self.serving {
                for (fd, interest) in serving.poll_entries() {
                    poll_set.push(fd, interest);
                }
            }
            let wake_index = poll_set.push(
                wake_pipe.raw_fd(),
                Readiness {
                    readable: true,
                    ..Readiness::default()
                },
            );
            let control_index = self.control.as_ref().map(|control| {
                let (fd, interest) = control.poll_entry();
                poll_set.push(fd, interest)
            });
            let observe_start = poll_set.len();
            for (fd, interest) in self.observe.poll_entries() {
                poll_set.push(fd, interest);
            }
            let ready = poll_set.wait(Some(wait))?;
            if ready[wake_index].readable {
                wake_pipe.drain();
            }

            let now = self.clock.now();
            if self
                .engine
                .next_deadline()
                .is_some_and(|deadline| deadline <= now)
            {
                let outputs = self.engine.on_timer(now);
                self.carry_out(outputs);
            }
            for (index, readiness) in ready[..sources_end].iter().copied().enumerate() {
                if readiness.priority || readiness.error {
                    self.drain_tx_timestamps(index);
                }
                if readiness.readable || readiness.error {
                    self.drain_replies(index, &mut buffer);
                }
            }
            if let Some(serving) = &mut self.serving {
                let system = self.engine.system_variables();
                let server_ready = ready[sources_end..].iter().take(serving.socket_count());
                for (index, readiness) in server_ready.enumerate() {
                    serving.on_ready(index, *readiness, self.clock.as_ref(), system);
                }
            }
            if let (Some(index), Some(mut control)) = (control_index, self.control.take()) {
                control.handle_ready(ready[index], self);
                self.control_dropped = control.counters().dropped();
                self.control = Some(control);
            }
            if self.observe.is_active() {
                let labels = self.labels();
                let scrape = ScrapeSource {
                    engine: &self.engine,
                    labels: &labels,
                    now: self.clock.now(),
                    clock: self.clock.describe(),
                    serving: self.serving.as_ref(),
                    command_requests: self.control_requests,
                    command_dropped: self.control_dropped,
                };
                let observe_ready = &ready[observe_start..];
                self.observe
                    .handle_ready(observe_ready, &scrape, monotonic_now_ns());
            }
            if let Some(serving) = &self.serving {
                serving.publish(self.engine.system_variables(), self.clock.as_ref());
            }
            self.housekeeping();
        }
        self.save_drift();
        notify("STOPPING=1");
        Ok(Exit::Clean)
    }

    fn housekeeping(&mut self) {
        self.replace_unreachable_pool_members();
        let now_ns = monotonic_now_ns();
        if !self.unresolved.is_empty() && now_ns >= self.next_resolve_ns {
            self.resolve_pending();
        }
        if now_ns >= self.next_drift_save_ns {
            self.save_drift();
            self.next_drift_save_ns =
                now_ns + i64::from(self.config.drift_file_interval_s.max(60)) * 1_000_000_000;
        }
    }

    fn finish_one_shot(&mut self, one_shot: OneShot, offset_s: f64) -> Exit {
        if one_shot.set_clock {
            if let Err(error) = self.clock.apply(&ClockAction::Step { offset_s }) {
                return Exit::Failed(format!("cannot step the clock: {error}"));
            }
            println!("System clock wrong by {offset_s:.6} seconds (step)");
        } else {
            println!("System clock wrong by {offset_s:.6} seconds (ignored)");
        }
        Exit::Clean
    }

    /// The clock's time now (for tests and the lab).
    pub fn clock_now(&self) -> UnixTime {
        self.clock.now()
    }
}

/// Tell systemd (Type=notify) about our state, if it is listening.
fn notify(state: &str) {
    if let Ok(path) = std::env::var("NOTIFY_SOCKET") {
        if let Err(error) = send_unix_datagram(&path, state.as_bytes()) {
            tracing::warn!("sd_notify to {path}: {error}");
        }
    }
}
