//! `gnomon fleet`: are the clocks of many hosts consistent, and which ones are not?
//!
//! Owns the command's arguments, gathering hosts (arguments, `--hosts FILE`, stdin,
//! `--kubectl`), choosing the way of measuring (NTP from here, or `--ssh`), progress on
//! a terminal, and the exit code. The pieces: [`hosts`] (lists and resolving),
//! [`kubectl`], [`measure`] (the concurrent NTP engine), [`ssh`], [`view`] (median,
//! spread, outliers, verdict) and [`output`] (table, JSON, Prometheus). It never changes
//! the clock.

pub mod host_lines;
pub mod hosts;
pub mod kubectl;
pub mod measure;
pub mod output;
pub mod ssh;
pub mod textfile;
pub mod view;

use crate::address::{AddressFamily, NTP_PORT};
use crate::measure::Failure;
use clap::Args;
use hosts::{Host, HostSpec};
use measure::{HostMeasurement, MeasureOptions, Progress};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use view::{FleetView, Thresholds};

#[derive(Debug, Args)]
#[command(after_help = "\
Hosts come from the arguments, --hosts FILE (HOST[:PORT] words, several per line, # \
comments; a `kubectl get nodes` table, with or without its header, gives its nodes, by \
INTERNAL-IP with -o wide), stdin (when no host is given and stdin is not a terminal) or \
--kubectl (each node's InternalIP). A bad host or port (127.0.0.1:99999) is a usage \
error. Every host is measured concurrently over NTP from a few UDP sockets, paced \
to --rate requests per second overall; each request carries a random transmit timestamp \
and a reply must echo it and come from the host's address. The smallest-delay reply of \
--count wins. Offsets are the host's clock minus this machine's (with --ssh: minus the \
reference's); the fleet view subtracts the fleet median, so this machine's own error \
cancels out.

Spread is the largest minus the smallest usable offset; the true spread is at most the \
spread plus both extremes' error bounds. An outlier is a host whose distance from the \
median, less its own error bound, exceeds 5 robust deviations (1.4826 x MAD, or the \
median error bound when larger).

The verdict is right by default. Each host's |offset - fleet median| is checked against \
--warn and --crit; when neither is given the defaults are 2x (warn) and 10x (crit) the \
spread bound of the consistent hosts (the synchronised non-outliers), at least 1 ms and \
10 ms (with fewer than 3 usable hosts there is no default: give them). A host following \
a minority reference, or unreachable, unsynchronised or failed, is a warning. --warn must \
be less than --crit.

Fleet targets must answer NTP (their daemon needs an `allow` line for this machine). \
Client-only nodes (no `allow`) show as `refused` or `timeout`: measure them with --ssh \
REFERENCE (runs `gnomon query REFERENCE` on each node), or read their gnomond metrics.

Exit status (for cron and monitoring; the monitoring-plugin convention):
  0   ok: every host measured, none over the warn threshold
  1   warn: a host over the warn threshold, on a minority reference, unreachable, \
unsynchronised or failed
  2   crit: a host over the crit threshold
  3   unknown: no host gave a usable sample, or the hosts could not be listed
  64  usage error (bad option, value or host syntax)
--prometheus FILE is written (atomically) whatever the verdict.")]
pub struct FleetArgs {
    /// Hosts to measure: HOST, HOST:PORT, IPv6 literal or [IPV6]:PORT (a bad port is a
    /// usage error).
    #[arg(value_name = "HOST[:PORT]")]
    pub hosts: Vec<String>,
    /// Read hosts from FILE: several per line, # comments, or a `kubectl get nodes`
    /// table (`-` for stdin).
    #[arg(long = "hosts", value_name = "FILE")]
    pub hosts_file: Option<std::path::PathBuf>,
    /// Take the hosts from `kubectl get nodes -o json` (each node's InternalIP).
    #[arg(long)]
    pub kubectl: bool,
    /// With --kubectl: only nodes matching this label selector (kubectl -l).
    #[arg(long, value_name = "LABEL", requires = "kubectl")]
    pub selector: Option<String>,
    /// Port for hosts given without one (and for kubectl nodes).
    #[arg(long, default_value_t = NTP_PORT)]
    pub port: u16,
    /// Requests per host; the smallest-delay usable reply wins.
    #[arg(short = 'c', long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub count: u32,
    /// Least seconds between two requests to the same host.
    #[arg(short = 'i', long, default_value_t = 0.2, value_name = "SECONDS")]
    pub interval: f64,
    /// Seconds to wait for replies after the last request.
    #[arg(short = 't', long, default_value_t = 1.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Requests per second over all hosts (a polite global rate).
    #[arg(long, default_value_t = 20000.0, value_name = "PER_SECOND")]
    pub rate: f64,
    /// UDP sockets (one thread each) for IPv4 hosts.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub sockets: u32,
    /// Warn when a host is more than this many seconds from the fleet median.
    #[arg(long, value_name = "SECONDS")]
    pub warn: Option<f64>,
    /// Critical when a host is more than this many seconds from the fleet median.
    #[arg(long, value_name = "SECONDS")]
    pub crit: Option<f64>,
    /// Print one JSON document.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Write the Prometheus text exposition format to FILE (node_exporter textfile
    /// collector) atomically: temporary file, fsync, rename; `-` prints it instead.
    /// Written whatever the verdict; the table is not printed.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<std::path::PathBuf>,
    /// Measure each host against REFERENCE by running `gnomon query REFERENCE --json` on
    /// it over ssh (BatchMode), for hosts that serve no NTP.
    #[arg(long, value_name = "REFERENCE")]
    pub ssh: Option<String>,
    /// With --ssh: ssh sessions at once.
    #[arg(long, default_value_t = 32)]
    pub ssh_parallel: usize,
    /// With --ssh: the gnomon program on the hosts.
    #[arg(long, default_value = "gnomon", value_name = "PATH")]
    pub ssh_gnomon: String,
    /// Use IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// Use IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6_only: bool,
}

fn seconds(value: f64, what: &str, max_s: f64) -> Result<Duration, String> {
    if value.is_finite() && (0.0..=max_s).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "--{what} {value}: expected seconds between 0 and {max_s}"
        ))
    }
}

/// Why the host list could not be made.
enum GatherError {
    /// A bad host or port in the arguments or a host list: exit 64.
    Usage(String),
    /// A list could not be read (kubectl failed, unreadable file): exit 3.
    Unavailable(String),
}

/// Read a host list (several hosts per line, comments, kubectl tables).
fn read_lines(
    reader: impl std::io::BufRead,
    origin: &str,
    port: u16,
) -> Result<Vec<HostSpec>, GatherError> {
    host_lines::parse(reader, origin, port).map_err(GatherError::Usage)
}

/// Gather the host list from every source given.
fn gather(args: &FleetArgs) -> Result<Vec<HostSpec>, GatherError> {
    let mut specs = Vec::new();
    for host in &args.hosts {
        crate::address::ServerName::parse(host, args.port)
            .map_err(|message| GatherError::Usage(format!("argument {message}")))?;
        specs.push(HostSpec::plain(host));
    }
    if let Some(path) = &args.hosts_file {
        if path.as_os_str() == "-" {
            specs.extend(read_lines(std::io::stdin().lock(), "stdin", args.port)?);
        } else {
            let file = std::fs::File::open(path).map_err(|error| {
                GatherError::Unavailable(format!("--hosts {}: {error}", path.display()))
            })?;
            specs.extend(read_lines(
                std::io::BufReader::new(file),
                &path.display().to_string(),
                args.port,
            )?);
        }
    }
    if args.kubectl {
        specs.extend(
            kubectl::nodes(args.selector.as_deref(), args.port)
                .map_err(GatherError::Unavailable)?,
        );
    }
    if specs.is_empty()
        && args.hosts_file.is_none()
        && !args.kubectl
        && !std::io::stdin().is_terminal()
    {
        specs.extend(read_lines(std::io::stdin().lock(), "stdin", args.port)?);
    }
    let dropped = hosts::dedup(&mut specs);
    if dropped > 0 {
        eprintln!("gnomon fleet: {dropped} repeated host(s) measured once");
    }
    Ok(specs)
}

/// Measure resolved hosts over NTP (unresolved ones fail with their reason).
pub fn measure_ntp(
    hosts: &[Host],
    options: &MeasureOptions,
    progress: &Progress,
) -> Vec<HostMeasurement> {
    let addresses: Vec<_> = hosts
        .iter()
        .map(|host| host.address.as_ref().ok().copied())
        .collect();
    let mut measurements = measure::measure_all(&addresses, options, progress);
    for (host, measurement) in hosts.iter().zip(measurements.iter_mut()) {
        if let Err(message) = &host.address {
            measurement.outcome = Err(Failure::Resolve(message.clone()));
        }
    }
    measurements
}

/// Show progress on stderr until `stop` (only called when stderr is a terminal).
fn show_progress(
    total_requests: usize,
    progress: &Progress,
    ssh_done: &AtomicUsize,
    stop: &AtomicBool,
) {
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(3600) {
        let sent = progress.requests_sent.load(Ordering::Relaxed);
        let replies = progress.replies.load(Ordering::Relaxed);
        let done = ssh_done.load(Ordering::Relaxed);
        if done > 0 {
            eprint!("\r\x1b[Kmeasuring: {done}/{total_requests} hosts done over ssh");
        } else {
            eprint!("\r\x1b[Kmeasuring: {sent}/{total_requests} requests sent, {replies} replies");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprint!("\r\x1b[K");
}

/// Run the command; returns the exit code (0 ok, 1 warn, 2 crit, 3 unknown).
pub fn run(args: &FleetArgs) -> Result<i32, String> {
    let interval = seconds(args.interval, "interval", 60.0)?;
    let timeout = seconds(args.timeout, "timeout", 600.0)?;
    if !(args.rate.is_finite() && args.rate >= 1.0) {
        return Err(format!(
            "--rate {}: expected at least 1 request per second",
            args.rate
        ));
    }
    for (value, what) in [(args.warn, "warn"), (args.crit, "crit")] {
        if let Some(value) = value {
            seconds(value, what, 1e6)?;
        }
    }
    if let (Some(warn_s), Some(crit_s)) = (args.warn, args.crit) {
        if warn_s >= crit_s {
            return Err(format!(
                "--warn {warn_s} --crit {crit_s}: the warn threshold must be less than the \
                 critical one (e.g. --warn {crit_s} --crit {warn_s})"
            ));
        }
    }
    let specs = match gather(args) {
        Ok(specs) => specs,
        Err(GatherError::Usage(message)) => return Err(format!("fleet: {message}")),
        Err(GatherError::Unavailable(message)) => {
            eprintln!("gnomon fleet: {message}");
            return Ok(3);
        }
    };
    if specs.is_empty() {
        eprintln!("gnomon fleet: no hosts (give HOST[:PORT]..., --hosts FILE, stdin or --kubectl)");
        return Ok(3);
    }
    let family = AddressFamily::from_flags(args.ipv4_only, args.ipv6_only);
    let interactive = std::io::stderr().is_terminal() && !args.json && args.prometheus.is_none();
    let progress = Progress::default();
    let ssh_done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (hosts, measurements) = std::thread::scope(|scope| {
        let total = specs.len()
            * if args.ssh.is_some() {
                1
            } else {
                args.count as usize
            };
        if interactive {
            let (progress, ssh_done, stop) = (&progress, &ssh_done, &stop);
            scope.spawn(move || show_progress(total, progress, ssh_done, stop));
        }
        let result = match &args.ssh {
            Some(reference) => {
                let hosts: Vec<Host> = specs
                    .iter()
                    .map(|spec| Host {
                        label: match &spec.node_name {
                            Some(node) => format!("{node} → {}", spec.target),
                            None => spec.target.clone(),
                        },
                        host: ssh_destination(&spec.target),
                        address: Err("measured over ssh".into()),
                    })
                    .collect();
                let destinations: Vec<String> = hosts.iter().map(|h| h.host.clone()).collect();
                let options = ssh::SshOptions {
                    reference: reference.clone(),
                    remote_gnomon: args.ssh_gnomon.clone(),
                    parallel: args.ssh_parallel,
                    timeout: timeout.max(Duration::from_secs(1)) * 10,
                    samples_per_host: args.count,
                };
                let measurements = ssh::measure_all(&destinations, &options, &ssh_done);
                (hosts, measurements)
            }
            None => {
                let hosts = hosts::resolve_all(&specs, args.port, family, 16);
                let options = MeasureOptions {
                    samples_per_host: args.count,
                    interval,
                    timeout,
                    rate_per_s: args.rate,
                    sockets: args.sockets as usize,
                };
                let measurements = measure_ntp(&hosts, &options, &progress);
                (hosts, measurements)
            }
        };
        stop.store(true, Ordering::Relaxed);
        result
    });
    let view = view::build(
        &hosts,
        &measurements,
        Thresholds {
            warn_s: args.warn,
            crit_s: args.crit,
        },
    );
    if let Err(message) = print_view(&view, args) {
        eprintln!("gnomon fleet: {message}");
        return Ok(view.status.max(view::Status::Unknown).exit_code());
    }
    Ok(view.status.exit_code())
}

/// `HOST[:PORT]` → the ssh destination (the port is NTP's, not ssh's).
fn ssh_destination(target: &str) -> String {
    match crate::address::ServerName::parse(target, NTP_PORT) {
        Ok(name) if !target.starts_with('[') && target.matches(':').count() == 1 => name.host,
        Ok(name) if target.starts_with('[') => name.host,
        _ => target.to_owned(),
    }
}

/// Print (or, with `--prometheus FILE`, write) the view. A textfile that cannot be
/// written is an environment error: the verdict would be stale where it is read.
fn print_view(view: &FleetView, args: &FleetArgs) -> Result<(), String> {
    let observer = if args.ssh.is_some() {
        "the reference"
    } else {
        "this machine"
    };
    if args.json {
        println!("{}", output::json(view));
    } else if let Some(path) = &args.prometheus {
        let text = output::prometheus(view);
        if path.as_os_str() == "-" {
            print!("{text}");
        } else {
            textfile::write_atomically(path, text.as_bytes())?;
        }
    } else {
        print!("{}", output::table(view, observer));
    }
    Ok(())
}
