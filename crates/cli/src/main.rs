//! `gnomon`, the operator's tool: measure NTP servers and, as the project grows,
//! inspect the local gnomond, check fleets and diagnose hosts.
//!
//! This file owns the command line (clap) and exit codes; each command lives in its
//! own module.

#![forbid(unsafe_code)]

mod address;
mod daemon_views;
mod doctor;
mod fleet;
mod gen_docs;
mod lab;
mod measure;
mod now;
mod query;
mod sample;

use clap::{Parser, Subcommand};
use daemon_views::View;

#[derive(Debug, Parser)]
#[command(
    name = "gnomon",
    version,
    about = "The operator's tool for NTP time on one host or a fleet",
    after_help = "Exit status (the monitoring-plugin convention, for every command): 0 OK; \
                  1 WARN (the command ran and found a problem); 2 CRIT (fleet: a host \
                  over the critical threshold; doctor: a FAIL finding); 3 UNKNOWN (the \
                  command could not find out: daemon unreachable, environment error); \
                  64 usage error (EX_USAGE: bad option, value or argument). See each \
                  command's --help."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    socket: daemon_views::SocketArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure NTP servers once (like `chronyd -Q`, `ntpdate -q`); never changes the clock.
    Query(query::QueryArgs),
    /// Clock consistency of many hosts: offsets vs the fleet median, spread, outliers.
    Fleet(fleet::FleetArgs),
    /// The whole story on loopback: upstream, VPC master and N drifting clients converging.
    Lab(lab::LabArgs),
    /// The local gnomond's clock: reference, offset, frequency, error (chronyc tracking).
    Tracking(daemon_views::ViewArgs),
    /// The local gnomond's time sources (chronyc sources).
    Sources(daemon_views::VerboseViewArgs),
    /// Statistics of each source's samples (chronyc sourcestats).
    Sourcestats(daemon_views::VerboseViewArgs),
    /// How many sources are online, offline, bursting, unresolved (chronyc activity).
    Activity(daemon_views::ViewArgs),
    /// Start a burst of requests on every source (root only).
    Burst(daemon_views::ViewArgs),
    /// Correct the clock now by stepping (root only).
    Makestep(daemon_views::ViewArgs),
    /// Stop polling sources, all or those named (chronyc offline; root only).
    Offline(daemon_views::ConnectivityArgs),
    /// Resume polling sources, all or those named (chronyc online; root only).
    Online(daemon_views::ConnectivityArgs),
    /// Re-read the daemon's sourcedir files: `gnomon reload sources` (root only).
    Reload(daemon_views::ReloadArgs),
    /// Wait until the local gnomond is synchronised (for boot scripts).
    Waitsync(daemon_views::WaitsyncArgs),
    /// Why is this host's time wrong? Read-only checks with [OK]/[WARN]/[FAIL] and remedies.
    Doctor(doctor::DoctorArgs),
    /// Write man pages and shell completions for gnomon and gnomond into DIR (packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// Output directory (man/ and completions/ are created in it).
        out_dir: std::path::PathBuf,
    },
    /// NTP clients the local gnomond serves (chronyc clients).
    Clients(daemon_views::ClientsArgs),
    /// The local gnomond's server totals (chronyc serverstats).
    Serverstats(daemon_views::ViewArgs),
    /// The time now as an interval (earliest, latest, status) from gnomond's clockbound file.
    Now(now::NowArgs),
}

/// A usage error (bad option, value or argument): sysexits.h's EX_USAGE, so it never
/// collides with the verdicts 0..=3 of fleet and doctor.
pub const EXIT_USAGE: i32 = 64;

/// A view that cannot reach the daemon exits 3 (unknown), not 64 (usage).
fn daemon_view(cli: &Cli, view: View, json: bool) -> Result<i32, String> {
    daemon_views::run_view(&cli.socket, view, json)
        .or_else(|message| Ok(daemon_views::could_not_ask(&message, json)))
}

/// Commands that never talk to the local gnomond: the global `--socket` is hidden
/// from their `--help` (it would be accepted and ignored).
const WITHOUT_SOCKET: [&str; 5] = ["query", "fleet", "lab", "now", "generate-docs"];

/// The command line, with `--socket` only in the help of the commands that use it
/// (for parsing, man pages and completions alike).
fn cli_command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    // A subcommand's own `socket` argument stops clap propagating the global one.
    for name in WITHOUT_SOCKET {
        command = command.mut_subcommand(name, |sub| {
            sub.arg(
                clap::Arg::new("socket")
                    .long("socket")
                    .value_name("PATH")
                    .value_parser(clap::value_parser!(std::path::PathBuf))
                    .hide(true),
            )
        });
    }
    command
}

/// The parsed command line, and whether `--socket` (or `GNOMON_SOCKET`) was given
/// rather than defaulted.
fn parse_command_line() -> Result<(Cli, bool), clap::Error> {
    use clap::FromArgMatches;
    let matches = cli_command().try_get_matches()?;
    let given = !matches!(
        matches.value_source("socket"),
        None | Some(clap::parser::ValueSource::DefaultValue)
    );
    Cli::from_arg_matches(&matches).map(|cli| (cli, given))
}

fn main() {
    let (cli, socket_given) = match parse_command_line() {
        Ok(parsed) => parsed,
        Err(error) => {
            // --help and --version print to stdout and succeed; the rest is usage.
            let _ = error.print();
            std::process::exit(if error.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let result = match &cli.command {
        Command::Query(args) => query::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Lab(args) => lab::run(args),
        Command::Tracking(args) => daemon_view(&cli, View::Tracking, args.json),
        Command::Sources(args) => daemon_view(
            &cli,
            View::Sources {
                verbose: args.verbose,
            },
            args.view.json,
        ),
        Command::Sourcestats(args) => daemon_view(
            &cli,
            View::Sourcestats {
                verbose: args.verbose,
            },
            args.view.json,
        ),
        Command::Activity(args) => daemon_view(&cli, View::Activity, args.json),
        Command::Burst(args) => daemon_view(&cli, View::Burst, args.json),
        Command::Makestep(args) => daemon_view(&cli, View::Makestep, args.json),
        Command::Reload(args) => daemon_view(&cli, View::ReloadSources, args.view.json),
        Command::Offline(args) => daemon_views::run_connectivity(&cli.socket, false, args),
        Command::Online(args) => daemon_views::run_connectivity(&cli.socket, true, args),
        Command::Waitsync(args) => daemon_views::run_waitsync(&cli.socket, args),
        Command::Doctor(args) => doctor::run(
            args,
            if socket_given {
                doctor::GnomondSocket::Given(&cli.socket.socket)
            } else {
                doctor::GnomondSocket::Default(&cli.socket.socket)
            },
        ),
        Command::GenerateDocs { out_dir } => {
            gen_docs::generate(cli_command(), out_dir).map(|files| {
                files.iter().for_each(|file| println!("{file}"));
                0
            })
        }
        Command::Clients(args) => daemon_views::run_clients(&cli.socket, args),
        Command::Serverstats(args) => daemon_views::run_serverstats(&cli.socket, args.json),
        Command::Now(args) => now::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gnomon: {message}");
            EXIT_USAGE
        }
    };
    std::process::exit(code);
}
