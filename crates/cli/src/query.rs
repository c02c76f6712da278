//! `gnomon query`: measure NTP servers once, never touching the clock.
//!
//! Owns the command's arguments, running one measurement per server concurrently, and
//! the human and JSON renderings of the reports. The exchange itself is in
//! [`crate::measure`].

use crate::address::{AddressFamily, ServerName, NTP_PORT};
use crate::measure::{query_server, QueryOptions, ServerReport};
use clap::Args;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(after_help = "\
The offset is the server's clock minus this host's clock: positive means the server is \
ahead (this host is slow), negative means this host is ahead. True time lies within \
offset ± error bound, where the error bound is delay/2 + root delay/2 + root dispersion.

Each request carries a random transmit timestamp; replies that do not echo it are \
discarded. Kiss-o'-death replies, unsynchronised servers (leap 3 or stratum 0/16) and \
bogus timestamps are reported with their reason, never as a number.

Exit status: 0 every server gave a usable sample; 1 at least one did not (the reason \
is printed per server); 64 usage error.")]
pub struct QueryArgs {
    /// Servers to measure: HOST, HOST:PORT, IPv6 literal or [IPV6]:PORT.
    #[arg(required = true, value_name = "HOST[:PORT]")]
    pub servers: Vec<String>,
    /// Requests per server; the reply with the smallest round-trip delay wins.
    #[arg(short = 'c', long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub count: u32,
    /// Seconds between requests to the same server.
    #[arg(short = 'i', long, default_value_t = 1.0, value_name = "SECONDS")]
    pub interval: f64,
    /// Seconds the whole query of one server may take; it fails when no usable reply came.
    #[arg(short = 't', long, default_value_t = 5.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Use IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// Use IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6_only: bool,
    /// Print one JSON object per server, one per line.
    #[arg(long)]
    pub json: bool,
}

fn seconds(value: f64, what: &str) -> Result<Duration, String> {
    if value.is_finite() && (0.0..=3600.0).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "--{what} {value}: expected seconds between 0 and 3600"
        ))
    }
}

/// Run the command; returns the process exit code.
pub fn run(args: &QueryArgs) -> Result<i32, String> {
    let options = QueryOptions {
        requests: args.count,
        interval: seconds(args.interval, "interval")?,
        timeout: seconds(args.timeout, "timeout")?,
        family: AddressFamily::from_flags(args.ipv4_only, args.ipv6_only),
    };
    let names = args
        .servers
        .iter()
        .map(|text| ServerName::parse(text, NTP_PORT))
        .collect::<Result<Vec<_>, _>>()?;
    let reports: Vec<ServerReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| scope.spawn(|| query_server(name, &options)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("query thread panicked"))
            .collect()
    });
    let mut failed = false;
    for (index, report) in reports.iter().enumerate() {
        if let Err(failure) = &report.outcome {
            failed = true;
            eprintln!("gnomon query: {}: {failure}", describe_target(report));
        }
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&JsonReport::from(report)).expect("serialisable")
            );
        } else {
            if index > 0 {
                println!();
            }
            print_human(report);
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn describe_target(report: &ServerReport) -> String {
    match report.address {
        Some(address) if address.to_string() != report.name.to_string() => {
            format!("{} ({address})", report.name)
        }
        _ => report.name.to_string(),
    }
}

fn signed(value: f64) -> String {
    format!("{value:+.9}")
}

fn print_human(report: &ServerReport) {
    let target = describe_target(report);
    let sample = match &report.outcome {
        Ok(sample) => sample,
        Err(failure) => {
            println!("Server          : {target}");
            println!("Result          : failed: {failure}");
            return;
        }
    };
    let reply = &sample.reply;
    let direction = if sample.offset_s >= 0.0 {
        "server ahead of this host"
    } else {
        "this host ahead of server"
    };
    println!("Server          : {target}");
    println!(
        "Offset          : {} seconds ({direction})",
        signed(sample.offset_s)
    );
    println!("Round-trip delay: {:.9} seconds", sample.delay_s);
    println!("Error bound     : {:.9} seconds", sample.error_bound_s());
    println!("Stratum         : {}", reply.stratum);
    println!(
        "Reference ID    : {} ({})",
        reply.reference_id.to_hex(),
        reply.reference_id.display(reply.stratum)
    );
    println!("Leap status     : {}", reply.leap.chronyc_name());
    println!(
        "Precision       : 2^{} ({:.9} seconds)",
        reply.precision,
        2f64.powi(reply.precision as i32)
    );
    println!(
        "Root delay      : {:.9} seconds",
        reply.root_delay.as_seconds_f64()
    );
    println!(
        "Root dispersion : {:.9} seconds",
        reply.root_dispersion.as_seconds_f64()
    );
    println!(
        "Samples         : {} sent, {} usable, {} rejected",
        report.requests_sent,
        report.usable_samples,
        report.rejections.len()
    );
}

/// The `--json` object for one server. Field names are a contract: add, never rename.
#[derive(Serialize)]
struct JsonReport {
    server: String,
    address: Option<String>,
    ok: bool,
    error: Option<JsonError>,
    offset_s: Option<f64>,
    delay_s: Option<f64>,
    error_bound_s: Option<f64>,
    stratum: Option<u8>,
    reference_id: Option<String>,
    reference_id_text: Option<String>,
    leap: Option<&'static str>,
    precision_log2: Option<i8>,
    root_delay_s: Option<f64>,
    root_dispersion_s: Option<f64>,
    requests_sent: u32,
    usable_samples: u32,
    rejections: Vec<String>,
}

#[derive(Serialize)]
struct JsonError {
    code: String,
    message: String,
}

impl From<&ServerReport> for JsonReport {
    fn from(report: &ServerReport) -> Self {
        let sample = report.outcome.as_ref().ok();
        let reply = sample.map(|sample| sample.reply);
        JsonReport {
            server: report.name.to_string(),
            address: report.address.map(|address| address.to_string()),
            ok: sample.is_some(),
            error: report.outcome.as_ref().err().map(|failure| JsonError {
                code: failure.code(),
                message: failure.to_string(),
            }),
            offset_s: sample.map(|sample| sample.offset_s),
            delay_s: sample.map(|sample| sample.delay_s),
            error_bound_s: sample.map(|sample| sample.error_bound_s()),
            stratum: reply.map(|reply| reply.stratum),
            reference_id: reply.map(|reply| reply.reference_id.to_hex()),
            reference_id_text: reply.map(|reply| reply.reference_id.display(reply.stratum)),
            leap: reply.map(|reply| leap_json(reply.leap)),
            precision_log2: reply.map(|reply| reply.precision),
            root_delay_s: reply.map(|reply| reply.root_delay.as_seconds_f64()),
            root_dispersion_s: reply.map(|reply| reply.root_dispersion.as_seconds_f64()),
            requests_sent: report.requests_sent,
            usable_samples: report.usable_samples,
            rejections: report.rejections.iter().map(|r| r.to_string()).collect(),
        }
    }
}

fn leap_json(leap: gnomon_proto::LeapIndicator) -> &'static str {
    match leap {
        gnomon_proto::LeapIndicator::NoWarning => "normal",
        gnomon_proto::LeapIndicator::InsertSecond => "insert_second",
        gnomon_proto::LeapIndicator::DeleteSecond => "delete_second",
        gnomon_proto::LeapIndicator::Unsynchronized => "unsynchronized",
    }
}
