//! `gnomon doctor`: why is this host's time wrong? Read-only checks of the local host.
//!
//! Owns the command's arguments, choosing how the host is read (the live system at
//! `--root /`, or a fixture tree with optional recorded command outputs), running the
//! checks in order and printing the report. One concern per file: [`daemons`] (which
//! time daemons are installed, enabled, running, fighting), [`known_daemons`] (the
//! table of daemons), [`timesyncd`] (its condition drop-ins), [`interfaces`]
//! (container veths against ntpd's socket per interface), [`kernel`] (adjtimex state
//! read with modes 0, clocksource), [`config`] (which file each daemon reads, checked
//! with gnomond's parser), [`local_daemon`] (gnomond's or chronyd's own view),
//! [`probe`] (cloud hints, only with `--probe`), [`host`] (file, command and /proc
//! access under the root), [`finding`] (the report). Doctor must never change
//! anything on the host: no clock adjustment, no service change, no write; network
//! only with `--probe`.

mod config;
mod daemons;
mod finding;
mod host;
mod interfaces;
mod kernel;
mod known_daemons;
mod local_daemon;
mod probe;
mod timesyncd;

use clap::Args;
use finding::{Report, EXIT_CANNOT_RUN};
use host::{CannedCommands, CommandRunner, Host, NoCommands, SystemCommands};
use kernel::KernelSource;
use std::path::PathBuf;

/// Options of `gnomon doctor`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every finding OK (or INFO); 1 the worst finding is a \
WARN; 2 the worst is a FAIL; 3 doctor could not run (e.g. --root is not a directory). \
A usage error exits 64 (EX_USAGE), with clap's message and no report.\n\n\
Doctor only reads: files under --root, /proc, /sys, adjtimex with modes 0, and the \
queries dpkg-query, rpm, systemctl show, chronyc -c -n tracking|sources and gnomond's \
tracking/sources. With --root other than /, commands run only from --recordings."
)]
pub struct DoctorArgs {
    /// Read the host from this directory instead of / (files, /proc, /sys, /etc).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also probe the network for cloud hints: one NTP request to Amazon Time Sync
    /// (169.254.169.123) and the ENA PTP hardware clock.
    #[arg(long)]
    pub probe: bool,
    /// chronyd's command socket for chronyc (`chronyc -h PATH`); default chronyc's own.
    #[arg(long, value_name = "PATH")]
    pub chronyd_socket: Option<PathBuf>,
    /// Recorded outputs for a fixture root: files named dpkg-query, rpm, systemctl-show,
    /// chronyc-tracking, chronyc-sources, and adjtimex.json (tests and bug reports).
    #[arg(long, value_name = "DIR", hide = true)]
    pub recordings: Option<PathBuf>,
}

/// gnomond's control socket as the command line gave it.
#[derive(Clone, Copy, Debug)]
pub enum GnomondSocket<'a> {
    /// `--socket PATH` or `GNOMON_SOCKET`: used as given.
    Given(&'a std::path::Path),
    /// Nothing given: the parsed config's `bindcmdaddress` wins over this default.
    Default(&'a std::path::Path),
}

/// Run doctor; returns the exit code.
pub fn run(args: &DoctorArgs, gnomond_socket: GnomondSocket) -> Result<i32, String> {
    if !args.root.is_dir() {
        eprintln!(
            "gnomon doctor: --root {} is not a directory",
            args.root.display()
        );
        return Ok(EXIT_CANNOT_RUN);
    }
    let live = args.root == std::path::Path::new("/");
    let runner: Box<dyn CommandRunner> = match &args.recordings {
        Some(dir) => Box::new(CannedCommands { dir: dir.clone() }),
        None if live => Box::new(SystemCommands),
        None => Box::new(NoCommands),
    };
    let recorded_kernel = args
        .recordings
        .as_ref()
        .map(|dir| dir.join("adjtimex.json"));
    let kernel_source = match &recorded_kernel {
        Some(path) if path.exists() => KernelSource::Recorded(path),
        Some(_) => KernelSource::Unavailable,
        None if live => KernelSource::Live,
        None => KernelSource::Unavailable,
    };
    let host = Host::new(args.root.clone(), runner);
    let report = examine(&host, &kernel_source, gnomond_socket, args);
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(report.exit_code())
}

/// Every check, in report order.
fn examine(
    host: &Host,
    kernel_source: &KernelSource,
    gnomond_socket: GnomondSocket,
    args: &DoctorArgs,
) -> Report {
    let statuses = daemons::survey(host);
    let systemd = host.exists("/run/systemd/system");
    let mut findings = daemons::findings(&statuses, systemd);
    findings.extend(timesyncd::findings(host, &statuses));
    findings.extend(interfaces::findings(host, &statuses));
    findings.extend(kernel::findings(kernel_source));
    findings.extend(kernel::clocksource_findings(host));
    let (config_findings, paths) = config::findings(host, &statuses);
    findings.extend(config_findings);
    // The socket the operator named wins; else the one the config names; else the
    // default (gnomond's, and chronyc's own for chronyd).
    let gnomond_socket = match gnomond_socket {
        GnomondSocket::Given(path) => path.to_path_buf(),
        GnomondSocket::Default(path) => paths
            .gnomond_socket
            .clone()
            .unwrap_or_else(|| path.to_path_buf()),
    };
    findings.extend(local_daemon::gnomond_findings(
        host,
        &statuses,
        &gnomond_socket,
    ));
    findings.extend(local_daemon::chronyd_findings(
        host,
        &statuses,
        args.chronyd_socket
            .as_deref()
            .or(paths.chronyd_socket.as_deref()),
        gnomon_sys::privileges::effective_uid() == 0,
    ));
    if args.probe {
        findings.extend(probe::findings(host));
    }
    Report {
        root: host.root().display().to_string(),
        findings,
    }
}
