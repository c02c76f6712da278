//! `gnomond`, the gnomon NTP daemon. Reads chrony.conf syntax.
//!
//! This file owns the command line (chronyd's options where they exist) and process
//! set-up: logging, the pidfile, choosing the clock. The loop is crate::runtime.

use clap::Parser;
use gnomon_daemon::clock::{Clock, SystemClock, VirtualClock};
use gnomon_daemon::config::{AddressFamily, Config, DEFAULT_CONFIG_PATH};
use gnomon_daemon::runtime::{Daemon, Exit, OneShot, RunOptions};
use gnomon_daemon::sys::timex::{realtime_now, LinuxKernelClock};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "gnomond",
    version,
    about = "The gnomon NTP daemon: reads chrony.conf syntax, disciplines the clock, serves time",
    after_help = "Trailing arguments are configuration lines, read after the file (as chronyd does).\n\n\
Exit status: 0 stopped cleanly (SIGTERM/SIGINT) or -q/-Q measured; 1 configuration error; \
2 usage error; 3 runtime failure (no measurement for -q/-Q, maxchange exceeded, IO error)."
)]
struct Args {
    /// Configuration file (chrony.conf syntax). Default /etc/gnomon/gnomon.conf,
    /// which is not read when directives are given on the command line (as chronyd).
    #[arg(short = 'f', value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Do not change the system clock: discipline a virtual clock over it instead
    /// (measure, report and serve; the machine's clock is left alone).
    #[arg(short = 'x')]
    no_clock_control: bool,
    /// Measure once, step the clock by the offset, and exit (like chronyd -q).
    #[arg(short = 'q', conflicts_with = "print_offset")]
    set_once: bool,
    /// Measure once, print the offset, change nothing, and exit (like chronyd -Q).
    #[arg(short = 'Q')]
    print_offset: bool,
    /// With -q/-Q: give up after this many seconds.
    #[arg(short = 't', value_name = "SECONDS", default_value_t = 30)]
    one_shot_timeout_s: u64,
    /// Print the effective configuration and exit; touches no network.
    #[arg(short = 'p')]
    print_config: bool,
    /// Resolve names to IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    ipv4_only: bool,
    /// Resolve names to IPv6 addresses only.
    #[arg(short = '6')]
    ipv6_only: bool,
    /// Stay in the foreground (gnomond never forks; accepted for chronyd compatibility).
    #[arg(short = 'n')]
    foreground: bool,
    /// Foreground with log messages on stderr (accepted for chronyd compatibility).
    #[arg(short = 'd')]
    debug: bool,
    /// Log level: 0 info (default), 1 warnings, 2 errors, -1 debug.
    #[arg(
        short = 'L',
        value_name = "LEVEL",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    log_level: i8,
    /// Lab and tests: with -x, start the virtual clock this many seconds off the system clock.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0.0,
        requires = "no_clock_control"
    )]
    virtual_offset: f64,
    /// Lab and tests: with -x, make the virtual clock run this many ppm fast.
    #[arg(
        long,
        value_name = "PPM",
        default_value_t = 0.0,
        requires = "no_clock_control",
        allow_hyphen_values = true
    )]
    virtual_frequency: f64,
    /// Drop root to this user after opening sockets, keeping CAP_SYS_TIME
    /// (overrides the `user` directive).
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    /// Answer for NAME with these addresses instead of asking DNS (like curl --resolve;
    /// for testing pools and split-horizon set-ups). Repeatable.
    #[arg(long, value_name = "NAME=ADDR[,ADDR...]", value_parser = parse_resolve)]
    resolve: Vec<(String, Vec<std::net::IpAddr>)>,
    /// Configuration lines read after the file.
    #[arg(value_name = "DIRECTIVE")]
    extra_lines: Vec<String>,
}

fn init_logging(level: i8) {
    let filter = match level {
        i8::MIN..=-1 => "debug",
        0 => "info",
        1 => "warn",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = (args.foreground, args.debug);
    let loaded = match &args.config_file {
        Some(path) => Config::load(path, &args.extra_lines),
        None if !args.extra_lines.is_empty() => Config::parse_str(
            &args.extra_lines.join("\n"),
            gnomon_daemon::config::COMMAND_LINE_ORIGIN,
        ),
        None => Config::load(std::path::Path::new(DEFAULT_CONFIG_PATH), &[]),
    };
    let mut parsed = match loaded {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("gnomond: {error}");
            return ExitCode::from(1);
        }
    };
    for warning in &parsed.warnings {
        eprintln!("gnomond: warning: {warning}");
    }
    if args.ipv4_only {
        parsed.config.restrict_address_family(AddressFamily::Ipv4);
    } else if args.ipv6_only {
        parsed.config.restrict_address_family(AddressFamily::Ipv6);
    }
    if args.print_config {
        print!("{}", parsed.config.effective_text());
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_level);

    let one_shot = (args.set_once || args.print_offset).then(|| OneShot {
        set_clock: args.set_once,
        timeout: Duration::from_secs(args.one_shot_timeout_s),
    });
    let clock: Box<dyn Clock> = if args.no_clock_control || args.print_offset {
        Box::new(VirtualClock::new(
            realtime_now,
            args.virtual_offset,
            args.virtual_frequency,
            "virtual clock over the system clock (-x: the system clock is not changed)",
        ))
    } else {
        match SystemClock::new(LinuxKernelClock, nominal_tick_us()) {
            Ok(clock) => Box::new(clock),
            Err(error) => {
                eprintln!("gnomond: cannot control the system clock ({error}); run as root with CAP_SYS_TIME, or use -x");
                return ExitCode::from(3);
            }
        }
    };
    let pid_file = if one_shot.is_none() {
        parsed.config.pid_file.clone()
    } else {
        None
    };
    if let Some(path) = &pid_file {
        if let Err(message) = gnomon_daemon::pidfile::claim(path) {
            eprintln!("gnomond: {message}");
            return ExitCode::from(3);
        }
    }
    let user = args.user.clone().or_else(|| parsed.config.user.clone());
    let result = Daemon::new(
        parsed.config,
        RunOptions {
            one_shot,
            resolve_overrides: args.resolve.clone(),
        },
        clock,
    )
    .map_err(|e| e.to_string())
    .and_then(|mut daemon| {
        if let Some(user) = &user {
            drop_privileges(user)?;
        }
        tracing::info!("gnomond {} started", env!("CARGO_PKG_VERSION"));
        daemon.run().map_err(|error| format!("main loop: {error}"))
    });
    if let Some(path) = &pid_file {
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(Exit::Clean) => ExitCode::SUCCESS,
        Ok(Exit::Failed(message)) | Err(message) => {
            eprintln!("gnomond: {message}");
            ExitCode::from(3)
        }
    }
}

fn parse_resolve(text: &str) -> Result<(String, Vec<std::net::IpAddr>), String> {
    let (name, list) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=ADDR[,ADDR...]"))?;
    let addresses = list
        .split(',')
        .map(|address| {
            address
                .trim()
                .parse()
                .map_err(|_| format!("{address:?} is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_owned(), addresses))
}

/// `user NAME`: with every socket open, become NAME keeping only CAP_SYS_TIME.
/// Not root already: nothing to drop, so the directive is ignored with a note.
fn drop_privileges(user: &str) -> Result<(), String> {
    use gnomon_daemon::sys::privileges::{drop_to, effective_uid, lookup_user};
    if effective_uid() != 0 {
        tracing::info!("not running as root; user {user} ignored");
        return Ok(());
    }
    let account = lookup_user(user).map_err(|error| format!("user {user}: {error}"))?;
    if account.uid == 0 {
        return Ok(());
    }
    drop_to(account).map_err(|error| format!("cannot switch to user {user}: {error}"))?;
    tracing::info!("running as {user} (uid {}) with CAP_SYS_TIME", account.uid);
    Ok(())
}

/// Microseconds per kernel tick at zero correction: 1e6 / USER_HZ.
fn nominal_tick_us() -> i64 {
    1_000_000 / gnomon_daemon::sys::timex::clock_ticks_per_second()
}
