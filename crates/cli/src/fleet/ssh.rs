//! `gnomon fleet --ssh REFERENCE`: for hosts that serve no NTP, each host measures
//! itself against a common reference with `gnomon query REFERENCE --json`, run over the
//! user's own `ssh` (BatchMode: never a password prompt).
//!
//! Owns the ssh command line, bounded parallelism, a time limit per host (the ssh child
//! is killed by PID when it overruns) and turning the remote JSON into a
//! [`HostMeasurement`]. The sign is flipped: the remote query says reference minus
//! host, the fleet reports host minus reference. Must not contact anything itself.

use super::measure::HostMeasurement;
use crate::measure::Failure;
use crate::sample::Sample;
use gnomon_proto::{LeapIndicator, NtpHeader, NtpShort, ReferenceId};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct SshOptions {
    /// What each host queries (`HOST[:PORT]`).
    pub reference: String,
    /// The gnomon program on the remote hosts.
    pub remote_gnomon: String,
    /// ssh sessions at once.
    pub parallel: usize,
    /// Longest one host may take, ssh included.
    pub timeout: Duration,
    /// Requests each host sends to the reference.
    pub samples_per_host: u32,
}

fn remote_failure(message: String) -> HostMeasurement {
    HostMeasurement::finished(Err(Failure::Remote(message)))
}

/// Run the remote query on every host (`ssh` destinations), in input order.
pub fn measure_all(
    destinations: &[String],
    options: &SshOptions,
    done: &AtomicUsize,
) -> Vec<HostMeasurement> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<HostMeasurement>> = destinations.iter().map(|_| None).collect();
    let workers = options
        .parallel
        .clamp(1, 256)
        .min(destinations.len().max(1));
    let collected: Vec<Vec<(usize, HostMeasurement)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= destinations.len() {
                            break;
                        }
                        mine.push((index, measure_one(&destinations[index], options)));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("ssh worker panicked"))
            .collect()
    });
    for (index, measurement) in collected.into_iter().flatten() {
        results[index] = Some(measurement);
    }
    results
        .into_iter()
        .map(|m| m.unwrap_or_else(|| remote_failure("not run".into())))
        .collect()
}

fn measure_one(destination: &str, options: &SshOptions) -> HostMeasurement {
    let connect_timeout_s = options.timeout.as_secs().clamp(1, 60);
    let query_timeout_s = (options.timeout.as_secs_f64() / 2.0).clamp(0.5, 30.0);
    let spawned = Command::new("ssh")
        .args([
            "-n",
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("ConnectTimeout={connect_timeout_s}"),
            destination,
            &options.remote_gnomon,
            "query",
            &options.reference,
            "--json",
            "-c",
            &options.samples_per_host.to_string(),
            "-i",
            "0.25",
            "-t",
            &format!("{query_timeout_s}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return remote_failure(format!("cannot run ssh: {error}")),
    };
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < options.timeout => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let output = out_reader.join().unwrap_or_default();
    let errors = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        return remote_failure(format!(
            "ssh did not finish within {} s",
            options.timeout.as_secs_f64()
        ));
    };
    // ssh exits 255 for its own errors; gnomon query exits 1 when the reference failed
    // (and still prints its JSON).
    let Some(line) = output
        .lines()
        .find(|line| line.trim_start().starts_with('{'))
    else {
        let reason = errors
            .lines()
            .last()
            .unwrap_or("no output")
            .trim()
            .to_owned();
        return remote_failure(format!("ssh {status}: {reason}"));
    };
    parse_remote(line)
}

/// Turn one line of `gnomon query --json` into a measurement of the host.
pub fn parse_remote(line: &str) -> HostMeasurement {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return remote_failure("remote gnomon printed something that is not JSON".into());
    };
    let number = |key: &str| value.get(key).and_then(Value::as_f64);
    if value.get("ok").and_then(Value::as_bool) != Some(true) {
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("remote query failed");
        return remote_failure(format!("remote query: {message}"));
    }
    let (Some(offset_s), Some(delay_s)) = (number("offset_s"), number("delay_s")) else {
        return remote_failure("remote JSON lacks offset_s or delay_s".into());
    };
    let leap = match value.get("leap").and_then(Value::as_str) {
        Some("insert_second") => LeapIndicator::InsertSecond,
        Some("delete_second") => LeapIndicator::DeleteSecond,
        Some("unsynchronized") => LeapIndicator::Unsynchronized,
        _ => LeapIndicator::NoWarning,
    };
    let reference_id = value
        .get("reference_id")
        .and_then(Value::as_str)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .unwrap_or(0);
    let reply = NtpHeader {
        leap,
        stratum: number("stratum").unwrap_or(0.0) as u8,
        reference_id: ReferenceId::from_u32(reference_id),
        root_delay: NtpShort::from_seconds_f64(number("root_delay_s").unwrap_or(0.0)),
        root_dispersion: NtpShort::from_seconds_f64(number("root_dispersion_s").unwrap_or(0.0)),
        ..NtpHeader::default()
    };
    let mut measurement = HostMeasurement::finished(Ok(Sample {
        // The remote offset is reference minus host; the fleet reports host minus reference.
        offset_s: -offset_s,
        delay_s,
        reply,
    }));
    measurement.requests_sent = number("requests_sent").unwrap_or(1.0) as u32;
    measurement.usable_samples = number("usable_samples").unwrap_or(1.0) as u32;
    measurement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_json_sign_and_failures() {
        let line = r#"{"server":"10.0.0.1:123","ok":true,"offset_s":0.25,"delay_s":0.002,"stratum":2,"reference_id":"A9FEA97B","leap":"normal","root_delay_s":0.0,"root_dispersion_s":0.001,"requests_sent":4,"usable_samples":4}"#;
        let measurement = parse_remote(line);
        let sample = measurement.outcome.as_ref().unwrap();
        assert_eq!(sample.offset_s, -0.25);
        assert_eq!(sample.reply.reference_id.to_hex(), "A9FEA97B");
        let failed = parse_remote(
            r#"{"ok":false,"error":{"code":"timeout","message":"no reply within 5 s"}}"#,
        );
        assert!(failed.outcome.unwrap_err().to_string().contains("no reply"));
        assert!(parse_remote("nonsense").outcome.is_err());
    }
}
