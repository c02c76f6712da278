//! The daemon views in chronyc's layout, column for column.
//!
//! Owns the human text of `tracking`, `sources [-v]`, `sourcestats [-v]` and
//! `activity`. Input is the control protocol's data; output is a String, so the
//! layout is unit-tested against chronyc's own output.

use super::format::{interval, nanoseconds, signed_nanoseconds, utc_date};
use gnomon_control::protocol::{Activity, SourceMode, SourceReport, SourceStats, Tracking};
use std::fmt::Write;

pub fn tracking(report: &Tracking) -> String {
    let mut out = String::new();
    // The clock's own frequency error is the opposite of the correction applied.
    let clock_error_ppm = -report.frequency_ppm;
    let lines = [
        (
            "Reference ID",
            format!("{} ({})", report.reference_id, report.reference_name),
        ),
        // chronyc shows an unsynchronised daemon as stratum 0 (gnomond's JSON keeps 16).
        (
            "Stratum",
            if report.synchronized {
                report.stratum
            } else {
                0
            }
            .to_string(),
        ),
        (
            "Ref time (UTC)",
            utc_date(report.reference_time_unix_s.unwrap_or(0.0)),
        ),
        (
            "System time",
            format!(
                "{:.9} seconds {} of NTP time",
                report.system_time_offset_s.abs(),
                if report.system_time_offset_s >= 0.0 {
                    "fast"
                } else {
                    "slow"
                }
            ),
        ),
        (
            "Last offset",
            format!("{:+.9} seconds", report.last_offset_s),
        ),
        ("RMS offset", format!("{:.9} seconds", report.rms_offset_s)),
        (
            "Frequency",
            format!(
                "{:.3} ppm {}",
                clock_error_ppm.abs(),
                // chronyc 4.3 says "0.000 ppm slow" for no error at all.
                if clock_error_ppm <= 0.0 {
                    "slow"
                } else {
                    "fast"
                }
            ),
        ),
        (
            "Residual freq",
            format!("{:+.3} ppm", report.residual_frequency_ppm),
        ),
        ("Skew", format!("{:.3} ppm", report.skew_ppm)),
        // Unsynchronised, chronyc shows 1 s of root delay and dispersion (nothing is
        // known about the distance to true time).
        (
            "Root delay",
            format!(
                "{:.9} seconds",
                unsynchronised_or(report, report.root_delay_s)
            ),
        ),
        (
            "Root dispersion",
            format!(
                "{:.9} seconds",
                unsynchronised_or(report, report.root_dispersion_s)
            ),
        ),
        (
            "Update interval",
            format!("{:.1} seconds", report.update_interval_s),
        ),
        ("Leap status", report.leap_status.to_string()),
    ];
    for (label, value) in lines {
        let _ = writeln!(out, "{label:<16}: {value}");
    }
    out
}

/// The Name column: a pool member by its address, as chronyc shows it (every member
/// showing the pool's name would tell them apart by nothing).
fn shown_name(report: &SourceReport) -> &str {
    if report.mode == SourceMode::Pool && !report.address.is_empty() {
        &report.address
    } else {
        &report.name
    }
}

/// chronyc's root delay/dispersion for an unsynchronised daemon, else `value_s`.
fn unsynchronised_or(report: &Tracking, value_s: f64) -> f64 {
    if report.synchronized {
        value_s
    } else {
        1.0
    }
}

const SOURCES_LEGEND: &str = "
  .-- Source mode  '^' = server, '=' = peer, '#' = local clock.
 / .- Source state '*' = current best, '+' = combined, '-' = not combined,
| /             'x' = may be in error, '~' = too variable, '?' = unusable.
||                                                 .- xxxx [ yyyy ] +/- zzzz
||      Reachability register (octal) -.           |  xxxx = adjusted offset,
||      Log2(Polling interval) --.      |          |  yyyy = measured offset,
||                                \\     |          |  zzzz = estimated error.
||                                 |    |           \\
";

pub fn sources(reports: &[SourceReport], verbose: bool) -> String {
    let mut out = String::new();
    if verbose {
        out.push_str(SOURCES_LEGEND);
    }
    out.push_str(
        "MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n",
    );
    out.push_str(&"=".repeat(79));
    out.push('\n');
    for report in reports {
        let _ = write!(
            out,
            "^{} {:<27}  {:2}  {:2}   {:3o}  {}  ",
            report.state,
            truncated(shown_name(report), 27),
            report.stratum,
            report.poll,
            report.reach,
            interval(report.last_rx_ago_s)
        );
        match (
            report.adjusted_offset_s,
            report.measured_offset_s,
            report.error_s,
        ) {
            (Some(adjusted), Some(measured), Some(error)) => {
                let _ = writeln!(
                    out,
                    "{}[{}] +/- {}",
                    signed_nanoseconds(adjusted),
                    signed_nanoseconds(measured),
                    nanoseconds(error)
                );
            }
            _ => out.push_str("   +0ns[   +0ns] +/-    0ns\n"),
        }
    }
    out
}

const SOURCESTATS_LEGEND: &str =
    "                             .- Number of sample points in measurement set.
                            /    .- Number of residual runs with same sign.
                           |    /    .- Length of measurement set (time).
                           |   |    /      .- Est. clock freq error (ppm).
                           |   |   |      /           .- Est. error in freq.
                           |   |   |     |           /         .- Est. offset.
                           |   |   |     |          |          |   On the -.
                           |   |   |     |          |          |   samples. \\
                           |   |   |     |          |          |             |
";

pub fn sourcestats(stats: &[SourceStats], verbose: bool) -> String {
    let mut out = String::new();
    if verbose {
        out.push_str(SOURCESTATS_LEGEND);
    }
    out.push_str(
        "Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev\n",
    );
    out.push_str(&"=".repeat(78));
    out.push('\n');
    for stat in stats {
        // A source without samples: chronyd's initial 2000 ppm skew and 4 s deviation.
        let (skew_ppm, std_dev_s) = if stat.samples == 0 {
            (NO_SAMPLES_SKEW_PPM, NO_SAMPLES_STD_DEV_S)
        } else {
            (stat.skew_ppm, stat.std_dev_s)
        };
        let _ = writeln!(
            out,
            "{:<25} {:3} {:3}  {} {:+10.3} {:10.3}  {}  {}",
            truncated(&stat.name, 25),
            stat.samples,
            stat.residual_runs,
            interval(Some(stat.span_s)),
            stat.frequency_ppm,
            skew_ppm,
            signed_nanoseconds(stat.offset_s),
            nanoseconds(std_dev_s)
        );
    }
    out
}

/// chronyc sourcestats' skew for a source with no samples (chronyd's initial value).
const NO_SAMPLES_SKEW_PPM: f64 = 2000.0;
/// chronyc sourcestats' standard deviation for a source with no samples.
const NO_SAMPLES_STD_DEV_S: f64 = 4.0;

/// `name` cut to `width` characters, as chronyc cuts its name column.
fn truncated(name: &str, width: usize) -> String {
    name.chars().take(width).collect()
}

pub fn activity(report: &Activity) -> String {
    format!(
        "200 OK\n{} sources online\n{} sources offline\n{} sources doing burst (return to online)\n\
         {} sources doing burst (return to offline)\n{} sources with unknown address\n",
        report.online, report.offline, report.burst_online, report.burst_offline, report.unresolved
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_control::protocol::{LeapStatus, SourceState, StateSymbol};

    /// The numbers of a real `chronyc sources` line, rendered by gnomon, must give
    /// chronyc's line byte for byte.
    #[test]
    fn sources_line_matches_chronyc() {
        let report = SourceReport {
            name: "localhost".into(),
            address: "127.0.0.1".into(),
            mode: SourceMode::Server,
            state: StateSymbol::Selected,
            state_name: SourceState::Selected,
            stratum: 8,
            poll: 0,
            reach: 0o377,
            last_rx_ago_s: Some(1.2),
            adjusted_offset_s: Some(-249e-9),
            measured_offset_s: Some(-403e-9),
            error_s: Some(4646e-9),
            requests_sent: 10,
            samples_accepted: 10,
            stopped: None,
            offline: false,
        };
        let text = sources(&[report], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "MS Name/IP address         Stratum Poll Reach LastRx Last sample               "
        );
        assert_eq!(lines[1], "=".repeat(79));
        assert_eq!(
            lines[2],
            "^* localhost                     8   0   377     1   -249ns[ -403ns] +/- 4646ns"
        );
        let verbose = sources(&[], true);
        assert!(verbose.contains(
            "||      Log2(Polling interval) --.      |          |  yyyy = measured offset,\n"
        ));
    }

    #[test]
    fn sourcestats_line_matches_chronyc() {
        let stat = SourceStats {
            name: "localhost".into(),
            samples: 10,
            samples_used: 10,
            residual_runs: 4,
            span_s: 7.0,
            frequency_ppm: -0.006,
            skew_ppm: 0.398,
            offset_s: -5e-9,
            std_dev_s: 598e-9,
        };
        let text = sourcestats(&[stat], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev"
        );
        assert_eq!(lines[1], "=".repeat(78));
        assert_eq!(
            lines[2],
            "localhost                  10   4     7     -0.006      0.398     -5ns   598ns"
        );
    }

    #[test]
    fn long_names_are_cut_to_chronyc_widths() {
        let stat = SourceStats {
            name: "ip-172-31-44-125.ap-northeast-1.compute.internal".into(),
            samples: 3,
            samples_used: 3,
            residual_runs: 2,
            span_s: 2.0,
            frequency_ppm: 0.25,
            skew_ppm: 1.0,
            offset_s: 2e-6,
            std_dev_s: 1e-6,
        };
        let text = sourcestats(&[stat], false);
        let row = text.lines().nth(2).unwrap();
        assert!(row.starts_with("ip-172-31-44-125.ap-north "), "{row}");
        assert!(row.contains("    +0.250 "), "{row}");
        assert!(row.contains("  +2000ns "), "{row}");
    }

    #[test]
    fn tracking_matches_chronyc() {
        let report = Tracking {
            reference_id: "7F000001".into(),
            reference_name: "localhost".into(),
            stratum: 9,
            reference_time_unix_s: Some(1_795_828_787.2),
            system_time_offset_s: 0.000002501,
            last_offset_s: -0.000000154,
            rms_offset_s: 0.000001936,
            frequency_ppm: -0.073,
            residual_frequency_ppm: -0.006,
            skew_ppm: 0.441,
            root_delay_s: 0.000007192,
            root_dispersion_s: 0.000003453,
            update_interval_s: 1.0,
            leap_status: LeapStatus::Normal,
            synchronized: true,
            error_bound_s: Some(1e-5),
            clock: "system".into(),
        };
        let expected = "Reference ID    : 7F000001 (localhost)
Stratum         : 9
Ref time (UTC)  : Sat Nov 28 01:19:47 2026
System time     : 0.000002501 seconds fast of NTP time
Last offset     : -0.000000154 seconds
RMS offset      : 0.000001936 seconds
Frequency       : 0.073 ppm fast
Residual freq   : -0.006 ppm
Skew            : 0.441 ppm
Root delay      : 0.000007192 seconds
Root dispersion : 0.000003453 seconds
Update interval : 1.0 seconds
Leap status     : Normal
";
        assert_eq!(tracking(&report), expected);
    }

    #[test]
    fn activity_matches_chronyc() {
        let text = activity(&Activity {
            online: 1,
            offline: 0,
            burst_online: 0,
            burst_offline: 0,
            unresolved: 0,
        });
        assert!(text.starts_with("200 OK\n1 sources online\n0 sources offline\n"));
        assert!(text.ends_with("0 sources with unknown address\n"));
    }
}
