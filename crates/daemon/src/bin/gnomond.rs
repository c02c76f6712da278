//! `gnomond`, the gnomon NTP daemon. Reads chrony.conf syntax.
//!
//! This file owns the command line (chronyd's options where they exist) and process
//! set-up: logging, the pidfile, choosing the clock. The loop is crate::runtime.

#![forbid(unsafe_code)]

use clap::Parser;
use gnomon_config::command_line::Args;
use gnomon_config::{AddressFamily, Config, DEFAULT_CONFIG_PATH};
use gnomon_daemon::clock::{Clock, SystemClock, VirtualClock};
use gnomon_daemon::runtime::{Daemon, Exit, OneShot, RunOptions};
use gnomon_sys::timex::{realtime_now, LinuxKernelClock};
use std::process::ExitCode;
use std::time::Duration;

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
        // Colour only for a person at a terminal: never into files, pipes or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
            gnomon_config::COMMAND_LINE_ORIGIN,
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
            Ok(clock) => Box::new(clock.with_rtc_sync(parsed.config.rtc_sync)),
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

/// `user NAME`: with every socket open, become NAME keeping only CAP_SYS_TIME.
/// Not root already: nothing to drop, so the directive is ignored with a note.
fn drop_privileges(user: &str) -> Result<(), String> {
    use gnomon_sys::privileges::{drop_to, effective_uid, lookup_user};
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
    1_000_000 / gnomon_sys::timex::clock_ticks_per_second()
}
