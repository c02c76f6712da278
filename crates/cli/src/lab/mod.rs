//! `gnomon lab`: the seed's setup running live on loopback, with no root, no internet
//! and no clock changes, then the fleet view of it.
//!
//! Owns the command's arguments, the measuring loop (every second, `fleet`'s NTP engine
//! measures every client), convergence (the fleet's spread bound within `--bound` for
//! several measurements in a row), the final report and the exit code. The processes are
//! [`setup`]'s, the live display [`live`]'s.
//!
//! How a client's error is known: every client gnomond runs `-x` on a virtual clock over
//! the system clock and serves NTP from that virtual clock. The upstream's reference is
//! the system clock itself, so "true time" in the lab is this machine's clock, and what
//! `fleet` measures against this machine *is* each client's error (unsynchronised
//! clients still answer, with leap 3, and their offset is kept). No control-socket
//! estimate is trusted for the verdict.

pub mod live;
pub mod setup;

use crate::fleet::hosts::Host;
use crate::fleet::measure::{MeasureOptions, Progress};
use crate::fleet::output::human_seconds;
use crate::fleet::view::{self, Thresholds};
use clap::Args;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
#[command(after_help = "\
Starts, on loopback only: an upstream gnomond (local stratum 1, 127.0.0.3), a VPC-master \
gnomond syncing to it and serving 127.0.0.0/8 (127.0.0.2), and N client gnomonds \
(127.0.1.x) whose virtual clocks start up to --offset-range seconds off and run up to \
--frequency-range ppm fast or slow. Every daemon runs with -x: no clock is changed and \
no root is needed. gnomond must be built next to this gnomon (cargo build --release).

Every second the clients are measured over NTP exactly as `gnomon fleet` does; since the \
lab's true time is this machine's clock, each offset is that client's error. The run ends \
when the spread bound stays within --bound for 20 measurements in a row (20 s, long enough for an uncorrected frequency error to show), or after --duration.

Exit status: 0 the fleet converged within --bound; 1 it did not; 64 usage error; \
3 the lab could not run (gnomond missing, a daemon died), or it was interrupted.")]
pub struct LabArgs {
    /// Client daemons.
    #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub clients: u32,
    /// Longest run, seconds.
    #[arg(short = 'd', long, default_value_t = 90.0, value_name = "SECONDS")]
    pub duration: f64,
    /// Seed of the clients' starting offsets and frequencies.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Converged when the fleet's spread bound is within this many seconds.
    #[arg(long, default_value_t = 0.001, value_name = "SECONDS")]
    pub bound: f64,
    /// Clients start up to this many seconds off (either way).
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub offset_range: f64,
    /// Clients' clocks run up to this many ppm fast or slow.
    #[arg(long, default_value_t = 50.0, value_name = "PPM")]
    pub frequency_range: f64,
    /// Print a JSON summary only.
    #[arg(long)]
    pub json: bool,
}

/// One measurement of every client.
#[derive(Clone, Debug)]
pub struct Tick {
    pub elapsed_s: f64,
    /// Each client's error (None: no reply).
    pub offsets_s: Vec<Option<f64>>,
    /// max − min over every client that answered (synchronised or not).
    pub spread_s: Option<f64>,
    /// The fleet view's spread bound (synchronised clients only).
    pub spread_bound_s: Option<f64>,
    pub synchronized: usize,
}

#[derive(Serialize)]
struct JsonClient {
    name: String,
    address: String,
    initial_offset_s: f64,
    frequency_ppm: f64,
    final_offset_s: Option<f64>,
    final_error_bound_s: Option<f64>,
    synchronized: bool,
}

#[derive(Serialize)]
struct JsonSummary {
    /// The human sentence, e.g. "2.41 s → 83.0 µs in 14 s (converged within 1.00 ms; …)".
    spread_story: String,
    clients: usize,
    seed: u64,
    bound_s: f64,
    elapsed_s: f64,
    initial_spread_s: Option<f64>,
    final_spread_s: Option<f64>,
    final_spread_bound_s: Option<f64>,
    converged: bool,
    converged_after_s: Option<f64>,
    synchronized: usize,
    fleet_status: &'static str,
    nodes: Vec<JsonClient>,
}

/// Measurements in a row within the bound that count as converged.
const STABLE_TICKS: usize = 20;

fn measure_tick(hosts: &[Host], started: Instant) -> (Tick, view::FleetView) {
    let options = MeasureOptions {
        samples_per_host: 2,
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(400),
        rate_per_s: 2000.0,
        sockets: 1,
    };
    let measurements = crate::fleet::measure_ntp(hosts, &options, &Progress::default());
    let mut fleet_view = view::build(hosts, &measurements, Thresholds::default());
    // Name the lab's servers where a client's reference ID is one of them.
    for row in fleet_view.hosts.iter_mut() {
        row.reference_host = match row.reference_id_text.as_deref() {
            Some(setup::MASTER_IP) => Some("vpc-master".into()),
            Some(setup::UPSTREAM_IP) => Some("upstream".into()),
            _ => row.reference_host.take(),
        };
    }
    let offsets_s: Vec<Option<f64>> = fleet_view.hosts.iter().map(|row| row.offset_s).collect();
    let known: Vec<f64> = offsets_s.iter().flatten().copied().collect();
    let spread_s = (!known.is_empty()).then(|| {
        known.iter().copied().fold(f64::MIN, f64::max)
            - known.iter().copied().fold(f64::MAX, f64::min)
    });
    let tick = Tick {
        elapsed_s: started.elapsed().as_secs_f64(),
        offsets_s,
        spread_s,
        spread_bound_s: fleet_view.spread_bound_s,
        synchronized: fleet_view.usable_hosts,
    };
    (tick, fleet_view)
}

/// Run the command; returns the exit code.
pub fn run(args: &LabArgs) -> Result<i32, String> {
    if !(args.duration.is_finite() && (5.0..=3600.0).contains(&args.duration)) {
        return Err(format!(
            "--duration {}: expected 5 to 3600 seconds",
            args.duration
        ));
    }
    if !(args.bound.is_finite() && args.bound > 0.0) {
        return Err(format!(
            "--bound {}: expected a positive number of seconds",
            args.bound
        ));
    }
    let gnomond = match setup::gnomond_path() {
        Ok(path) => path,
        Err(message) => {
            eprintln!("gnomon lab: {message}");
            return Ok(3);
        }
    };
    // SIGINT/SIGTERM only set a flag (the daemon crate's handler): the loop below sees
    // it, and dropping the Lab stops every daemon by PID.
    let _signals = gnomon_sys::signal::install_handlers()
        .map_err(|error| format!("cannot install signal handlers: {error}"))?;
    let count = args.clients as usize;
    let port = match setup::choose_port(count) {
        Ok(port) => port,
        Err(message) => {
            eprintln!("gnomon lab: {message}");
            return Ok(3);
        }
    };
    let plans = setup::plan_clients(
        count,
        args.seed,
        port,
        args.offset_range,
        args.frequency_range,
    );
    let mut lab = setup::Lab::new().map_err(|message| format!("lab directory: {message}"))?;
    let say = |text: String| {
        if !args.json {
            println!("{text}");
        }
    };
    say(format!(
        "gnomon lab: upstream {}:{port} (local stratum 1) → VPC master {}:{port} (allow 127.0.0.0/8) → {count} clients on 127.0.1.x, seed {}",
        setup::UPSTREAM_IP,
        setup::MASTER_IP,
        args.seed
    ));
    if let Err(message) = lab.start_all(&gnomond, port, &plans) {
        eprintln!("gnomon lab: {message}");
        return Ok(3);
    }
    say(format!(
        "started {} gnomond -x processes (pids {:?}) in {}",
        lab.pids().len(),
        lab.pids(),
        lab.dir().display()
    ));
    let hosts: Vec<Host> = plans
        .iter()
        .map(|plan| Host {
            label: plan.name.clone(),
            host: plan.address.ip().to_string(),
            address: Ok(plan.address),
        })
        .collect();
    let names: Vec<String> = plans.iter().map(|plan| plan.name.clone()).collect();
    let live = std::io::stdout().is_terminal() && !args.json;
    let started = Instant::now();
    let limit = Duration::from_secs_f64(args.duration);
    let mut first: Option<Tick> = None;
    let mut last = None;
    let mut stable = 0usize;
    let mut converged_at: Option<f64> = None;
    let mut drawn_lines = 0usize;
    let mut last_line_s = -10.0;
    let mut interrupted = false;
    let mut casualty = None;
    while started.elapsed() < limit {
        let tick_started = Instant::now();
        let (tick, fleet_view) = measure_tick(&hosts, started);
        if first.is_none() && tick.spread_s.is_some() {
            first = Some(tick.clone());
        }
        let within =
            tick.synchronized == count && tick.spread_bound_s.is_some_and(|b| b <= args.bound);
        if within {
            stable += 1;
            if stable == 1 {
                converged_at = Some(tick.elapsed_s);
            }
        } else {
            stable = 0;
            converged_at = None;
        }
        if live {
            let text = live::table(&tick, &names, args.bound);
            print!("{}", live::redraw(drawn_lines, &text));
            let _ = std::io::stdout().flush();
            drawn_lines = text.lines().count();
        } else if !args.json && tick.elapsed_s - last_line_s >= 5.0 {
            println!("{}", live::line(&tick, count));
            last_line_s = tick.elapsed_s;
        }
        last = Some((tick, fleet_view));
        if stable >= STABLE_TICKS {
            break;
        }
        casualty = lab.casualty();
        if casualty.is_some() {
            break;
        }
        // Sleep to the next second in small steps, watching for Ctrl-C.
        while tick_started.elapsed() < Duration::from_secs(1) {
            if gnomon_sys::signal::stop_requested() {
                interrupted = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if interrupted || gnomon_sys::signal::stop_requested() {
            interrupted = true;
            break;
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let Some((final_tick, fleet_view)) = last else {
        eprintln!("gnomon lab: no measurement was made");
        return Ok(3);
    };
    let converged = stable >= STABLE_TICKS;
    let initial_spread_s = first.as_ref().and_then(|tick| tick.spread_s);
    let from = initial_spread_s
        .map(human_seconds)
        .unwrap_or_else(|| "?".into());
    let to = final_tick
        .spread_s
        .map(human_seconds)
        .unwrap_or_else(|| "?".into());
    let story = match (converged, converged_at) {
        (true, Some(at_s)) => format!(
            "{from} → {to} in {at_s:.0} s (converged within {}; bound {})",
            human_seconds(args.bound),
            final_tick
                .spread_bound_s
                .map(human_seconds)
                .unwrap_or_default()
        ),
        _ => format!(
            "{from} → {to} after {elapsed_s:.0} s: NOT converged within {}",
            human_seconds(args.bound)
        ),
    };
    if args.json {
        let summary = JsonSummary {
            spread_story: story.clone(),
            clients: count,
            seed: args.seed,
            bound_s: args.bound,
            elapsed_s,
            initial_spread_s,
            final_spread_s: final_tick.spread_s,
            final_spread_bound_s: final_tick.spread_bound_s,
            converged,
            converged_after_s: converged.then_some(converged_at).flatten(),
            synchronized: final_tick.synchronized,
            fleet_status: fleet_view.status.name(),
            nodes: plans
                .iter()
                .zip(&fleet_view.hosts)
                .map(|(plan, row)| JsonClient {
                    name: plan.name.clone(),
                    address: plan.address.to_string(),
                    initial_offset_s: plan.initial_offset_s,
                    frequency_ppm: plan.frequency_ppm,
                    final_offset_s: row.offset_s,
                    final_error_bound_s: row.error_bound_s,
                    synchronized: row.synchronized,
                })
                .collect(),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("serialisable")
        );
    } else {
        println!();
        println!("Fleet view of the {count} clients (offsets vs this machine = true time):");
        print!("{}", crate::fleet::output::table(&fleet_view, "true time"));
        println!();
        println!("Spread: {story}");
    }
    if let Some(message) = casualty {
        eprintln!("gnomon lab: {message}");
        return Ok(3);
    }
    if interrupted {
        eprintln!("gnomon lab: interrupted; stopping the daemons");
        return Ok(3);
    }
    drop(lab);
    Ok(if converged { 0 } else { 1 })
}
