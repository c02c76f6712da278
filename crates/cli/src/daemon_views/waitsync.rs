//! `gnomon waitsync`: block until the local gnomond is synchronised, for boot scripts.
//!
//! Owns the polling schedule (one tracking request per interval) and the decision:
//! synchronised, and |offset| plus error bound within `--max-offset` when given.

use super::client::ask;
use super::SocketArgs;
use clap::Args;
use gnomon_control::protocol::{Request, ResponseData};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 synchronised within the bound; 1 not within --timeout \
                  (the message says what was last seen: not synchronised, over \
                  --max-offset, or the daemon unreachable); 64 usage error. With --json \
                  one object is printed either way: {\"synchronized\", \"within_bound\", \
                  \"waited_s\", \"stratum\", \"reference\", \"offset_s\", \
                  \"error_bound_s\", \"error\"}."
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
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What the last check saw.
#[derive(Debug, Default, serde::Serialize)]
struct Outcome {
    synchronized: bool,
    within_bound: bool,
    waited_s: f64,
    stratum: Option<u8>,
    reference: Option<String>,
    /// The clock minus true time (positive: fast), as `tracking`'s system time.
    offset_s: Option<f64>,
    error_bound_s: Option<f64>,
    /// Why it is not done, for people (null when it is).
    error: Option<String>,
}

/// One check: the outcome as far as one tracking answer tells.
fn check(socket: &SocketArgs, args: &WaitsyncArgs) -> Outcome {
    match ask(&socket.socket, &Request::Tracking) {
        Ok(ResponseData::Tracking(tracking)) => {
            let within = args
                .max_offset
                .is_none_or(|max| tracking.system_time_offset_s.abs() <= max);
            let error = if !tracking.synchronized {
                Some(format!(
                    "gnomond is not synchronised yet (stratum {}, leap status {}; see \
                     `gnomon sources` for why no source is selected)",
                    tracking.stratum, tracking.leap_status
                ))
            } else if !within {
                Some(format!(
                    "synchronised, but the system time offset {:+.9} s is over --max-offset {} s",
                    tracking.system_time_offset_s,
                    args.max_offset.unwrap_or(0.0)
                ))
            } else {
                None
            };
            Outcome {
                synchronized: tracking.synchronized,
                within_bound: tracking.synchronized && within,
                waited_s: 0.0,
                stratum: Some(tracking.stratum),
                reference: Some(tracking.reference_name),
                offset_s: Some(tracking.system_time_offset_s),
                error_bound_s: tracking.error_bound_s,
                error,
            }
        }
        Ok(other) => Outcome {
            error: Some(format!("unexpected answer from gnomond: {other:?}")),
            ..Outcome::default()
        },
        Err(error) => Outcome {
            error: Some(error.message),
            ..Outcome::default()
        },
    }
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
        let mut outcome = check(socket, args);
        outcome.waited_s = started.elapsed().as_secs_f64();
        let done = outcome.within_bound;
        let timed_out = args.timeout > 0.0 && outcome.waited_s >= args.timeout;
        if done || timed_out {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome).expect("serialisable")
                );
            } else if done {
                println!(
                    "synchronised: stratum {}, offset {:+.9} s, bound {:.9} s",
                    outcome.stratum.unwrap_or(0),
                    -outcome.offset_s.unwrap_or(0.0),
                    outcome.error_bound_s.unwrap_or(f64::NAN)
                );
            } else {
                eprintln!(
                    "gnomon waitsync: gave up after {} s: {}",
                    args.timeout,
                    outcome.error.as_deref().unwrap_or("not synchronised")
                );
            }
            return Ok(if done { 0 } else { 1 });
        }
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
}

pub use run as run_waitsync;
