//! `gnomon waitsync`: block until the local gnomond is synchronised, for boot scripts.
//!
//! Owns the polling schedule (one tracking request per interval) and the decision:
//! synchronised, and |offset| plus error bound within `--max-offset` when given.

use super::client::ask;
use super::SocketArgs;
use clap::Args;
use gnomon_daemon::control::protocol::{Request, ResponseData};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 synchronised within the bound; 1 not within --timeout; \
                        2 usage error."
)]
pub struct WaitsyncArgs {
    /// Also require |system time offset| to be at most this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_offset: Option<f64>,
    /// Give up after this many seconds (0: wait forever).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Seconds between checks.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
}

pub fn run(socket: &SocketArgs, args: &WaitsyncArgs) -> Result<i32, String> {
    if !(args.interval.is_finite()
        && args.interval > 0.0
        && args.timeout.is_finite()
        && args.timeout >= 0.0)
    {
        return Err("--interval must be > 0 and --timeout >= 0 seconds".into());
    }
    let started = Instant::now();
    loop {
        let last_state = match ask(&socket.socket, &Request::Tracking) {
            Ok(ResponseData::Tracking(tracking)) => {
                let within = args
                    .max_offset
                    .is_none_or(|max| tracking.system_time_offset_s.abs() <= max);
                if tracking.synchronized && within {
                    println!(
                        "synchronised: stratum {}, offset {:+.9} s, bound {:.9} s",
                        tracking.stratum,
                        -tracking.system_time_offset_s,
                        tracking.error_bound_s.unwrap_or(f64::NAN)
                    );
                    return Ok(0);
                }
                if tracking.synchronized {
                    format!(
                        "offset {:+.9} s is over --max-offset",
                        tracking.system_time_offset_s
                    )
                } else {
                    "not synchronised".into()
                }
            }
            Ok(other) => format!("unexpected answer: {other:?}"),
            Err(message) => message,
        };
        if args.timeout > 0.0 && started.elapsed().as_secs_f64() >= args.timeout {
            eprintln!(
                "gnomon waitsync: not synchronised within {} s: {last_state}",
                args.timeout
            );
            return Ok(1);
        }
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
}

pub use run as run_waitsync;
