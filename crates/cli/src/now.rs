//! `gnomon now`: the time as an interval, read as applications read it (gnomon-clock).
//!
//! Owns the command's arguments, its human and JSON output and its exit code (0 with a
//! bound, 1 when the status is unknown, so scripts can gate on a trusted clock). It
//! must not talk to the daemon: it reads the clockbound file only.

use gnomon_clock::{ClockBound, Now, Status, DEFAULT_PATH};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct NowArgs {
    /// The clockbound file gnomond publishes (its `clockbound FILE` directive).
    #[arg(long, default_value = DEFAULT_PATH)]
    pub file: std::path::PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `2026-11-28T01:19:47.123456789Z`.
fn rfc3339(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let date = gnomon_core::leap::utc_date(gnomon_proto::UnixTime::from_secs(secs));
    let second_of_day = secs.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        date.year,
        date.month,
        date.day,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The human output.
pub fn render(now: &Now) -> String {
    let mut out = format!("Clock    : {}\n", rfc3339(now.clock_ns));
    match now.bound_ns {
        Some(bound_ns) => {
            out.push_str(&format!("Earliest : {}\n", rfc3339(now.earliest_ns)));
            out.push_str(&format!("Latest   : {}\n", rfc3339(now.latest_ns)));
            out.push_str(&format!(
                "Bound    : ±{:.9} seconds\n",
                bound_ns as f64 * 1e-9
            ));
        }
        None => out.push_str("Bound    : unknown (no usable bound published)\n"),
    }
    out.push_str(&format!("Status   : {}\n", now.status.name()));
    out
}

/// The `--json` output: times as Unix nanoseconds and RFC 3339, null when unknown.
pub fn render_json(now: &Now) -> serde_json::Value {
    let known = now.bound_ns.is_some();
    json!({
        "clock_unix_ns": now.clock_ns,
        "clock": rfc3339(now.clock_ns),
        "earliest_unix_ns": known.then_some(now.earliest_ns),
        "latest_unix_ns": known.then_some(now.latest_ns),
        "earliest": known.then(|| rfc3339(now.earliest_ns)),
        "latest": known.then(|| rfc3339(now.latest_ns)),
        "bound_s": now.bound_ns.map(|ns| ns as f64 * 1e-9),
        "status": now.status.name(),
    })
}

pub fn run(args: &NowArgs) -> Result<i32, String> {
    let reader = ClockBound::open(&args.file);
    let now = reader.now();
    if args.json {
        println!("{}", render_json(&now));
    } else {
        print!("{}", render(&now));
        if !reader.is_open() {
            eprintln!(
                "gnomon: {} not found (is gnomond's `clockbound` directive set?)",
                args.file.display()
            );
        }
    }
    Ok(if now.status == Status::Unknown { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_printed_in_utc_with_nanoseconds() {
        let now = Now {
            clock_ns: 1_795_828_787_000_000_500,
            earliest_ns: 1_795_828_786_999_000_500,
            latest_ns: 1_795_828_787_001_000_500,
            bound_ns: Some(1_000_000),
            status: Status::Synchronized,
        };
        let text = render(&now);
        assert!(
            text.contains("Clock    : 2026-11-28T01:19:47.000000500Z"),
            "{text}"
        );
        assert!(
            text.contains("Earliest : 2026-11-28T01:19:46.999000500Z"),
            "{text}"
        );
        assert!(text.contains("Bound    : ±0.001000000 seconds"), "{text}");
        assert_eq!(render_json(&now)["status"], "synchronized");
        let unknown = Now {
            bound_ns: None,
            status: Status::Unknown,
            earliest_ns: i64::MIN,
            latest_ns: i64::MAX,
            ..now
        };
        assert!(render(&unknown).contains("unknown"));
        assert!(render_json(&unknown)["earliest"].is_null());
    }
}
