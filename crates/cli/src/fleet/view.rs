//! The fleet view: each host against the fleet's median, the spread and its bound,
//! outliers, unsynchronised hosts, references that differ from the majority, and the
//! ok/warn/crit/unknown verdict.
//!
//! Owns the statistics and the thresholds; pure functions over measurements (no IO, no
//! clock), so tests feed it made-up samples. Rendering is [`super::output`]'s.

use super::hosts::Host;
use super::measure::HostMeasurement;
use crate::measure::Failure;
use crate::sample::Sample;
use gnomon_proto::ReferenceId;
use std::collections::HashMap;

/// `--warn` / `--crit`: largest |offset − fleet median| in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Thresholds {
    pub warn_s: Option<f64>,
    pub crit_s: Option<f64>,
}

/// The verdict; the process exits with [`Status::exit_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Crit,
    Unknown,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Crit => 2,
            Status::Unknown => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Crit => "crit",
            Status::Unknown => "unknown",
        }
    }
}

/// One host in the view.
#[derive(Clone, Debug)]
pub struct HostRow {
    pub label: String,
    pub address: Option<String>,
    /// Host clock minus this machine's (or, in ssh mode, minus the reference's).
    /// Present for usable samples and for unsynchronised hosts that still answered.
    pub offset_s: Option<f64>,
    /// `offset_s` minus the fleet median.
    pub relative_offset_s: Option<f64>,
    pub error_bound_s: Option<f64>,
    pub delay_s: Option<f64>,
    pub stratum: Option<u8>,
    pub reference_id: Option<String>,
    pub reference_id_text: Option<String>,
    /// The fleet host the reference ID names, when it is one of them.
    pub reference_host: Option<String>,
    pub leap: Option<&'static str>,
    pub reachable: bool,
    pub synchronized: bool,
    /// Why the host has no usable sample (code, message).
    pub problem: Option<(String, String)>,
    pub outlier: bool,
    pub reference_differs: bool,
    pub status: Status,
    pub requests_sent: u32,
    pub usable_samples: u32,
}

/// The whole fleet.
#[derive(Clone, Debug)]
pub struct FleetView {
    pub hosts: Vec<HostRow>,
    pub usable_hosts: usize,
    pub median_offset_s: Option<f64>,
    /// max − min of the usable offsets.
    pub spread_s: Option<f64>,
    /// The true spread is at most this: spread plus the error bounds of both extremes.
    pub spread_bound_s: Option<f64>,
    /// Host labels with the largest and smallest offsets.
    pub spread_between: Option<(String, String)>,
    pub majority_reference: Option<String>,
    /// `--warn`/`--crit` as given.
    pub thresholds: Thresholds,
    /// The thresholds the verdict used: the given ones, or (neither given) the
    /// defaults of [`default_thresholds`].
    pub effective_thresholds: Thresholds,
    pub status: Status,
}

impl FleetView {
    /// Whether the verdict used the default thresholds (neither `--warn` nor `--crit`).
    pub fn default_thresholds(&self) -> bool {
        self.thresholds.warn_s.is_none() && self.thresholds.crit_s.is_none()
    }
}

impl FleetView {
    pub fn outliers(&self) -> impl Iterator<Item = &HostRow> {
        self.hosts.iter().filter(|row| row.outlier)
    }
    pub fn unsynchronized(&self) -> impl Iterator<Item = &HostRow> {
        self.hosts.iter().filter(|row| {
            row.problem
                .as_ref()
                .is_some_and(|(code, _)| code == "unsynchronized")
        })
    }
    pub fn unreachable(&self) -> impl Iterator<Item = &HostRow> {
        self.hosts.iter().filter(|row| !row.reachable)
    }
    pub fn reference_differs(&self) -> impl Iterator<Item = &HostRow> {
        self.hosts.iter().filter(|row| row.reference_differs)
    }
}

/// How far from the median (in robust standard deviations, or error bounds) a host
/// must be, beyond its own error bound, to count as an outlier.
const OUTLIER_FACTOR: f64 = 5.0;

/// Default warn threshold: this many times the spread bound of the consistent part
/// of the fleet, and never below [`DEFAULT_WARN_FLOOR_S`].
pub const DEFAULT_WARN_FACTOR: f64 = 2.0;
/// Default critical threshold: this many times that spread bound, never below
/// [`DEFAULT_CRIT_FLOOR_S`].
pub const DEFAULT_CRIT_FACTOR: f64 = 10.0;
/// Smallest default warn threshold (1 ms): below it differences are measurement noise
/// for a fleet measured over a network.
pub const DEFAULT_WARN_FLOOR_S: f64 = 0.001;
/// Smallest default critical threshold (10 ms).
pub const DEFAULT_CRIT_FLOOR_S: f64 = 0.010;

/// The thresholds used when neither `--warn` nor `--crit` is given, on
/// |offset − fleet median|: `DEFAULT_WARN_FACTOR` and `DEFAULT_CRIT_FACTOR` times the
/// spread bound of the consistent hosts (the synchronised non-outliers), with 1 ms and
/// 10 ms floors. With fewer than three usable hosts no host can be told apart from the
/// rest, so there is no default (give `--warn`/`--crit`). Rows must have their outlier
/// flags set.
pub fn default_thresholds(rows: &[HostRow], usable_hosts: usize) -> Thresholds {
    if usable_hosts < 3 {
        return Thresholds::default();
    }
    let consistent = || {
        rows.iter()
            .filter(|row| row.synchronized && !row.outlier)
            .filter_map(|row| Some((row.offset_s?, row.error_bound_s.unwrap_or(0.0))))
    };
    let highest = consistent().max_by(|a, b| a.0.total_cmp(&b.0));
    let lowest = consistent().min_by(|a, b| a.0.total_cmp(&b.0));
    let bound_s = match (highest, lowest) {
        (Some((high_s, high_bound_s)), Some((low_s, low_bound_s))) => {
            high_s - low_s + high_bound_s + low_bound_s
        }
        _ => 0.0,
    };
    Thresholds {
        warn_s: Some((DEFAULT_WARN_FACTOR * bound_s).max(DEFAULT_WARN_FLOOR_S)),
        crit_s: Some((DEFAULT_CRIT_FACTOR * bound_s).max(DEFAULT_CRIT_FLOOR_S)),
    }
}

pub fn leap_name(leap: gnomon_proto::LeapIndicator) -> &'static str {
    match leap {
        gnomon_proto::LeapIndicator::NoWarning => "normal",
        gnomon_proto::LeapIndicator::InsertSecond => "insert_second",
        gnomon_proto::LeapIndicator::DeleteSecond => "delete_second",
        gnomon_proto::LeapIndicator::Unsynchronized => "unsynchronized",
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

fn row_for(
    host: &Host,
    measurement: &HostMeasurement,
    names: &HashMap<ReferenceId, String>,
) -> HostRow {
    let usable = measurement.outcome.as_ref().ok();
    let shown: Option<&Sample> = usable.or(measurement.unsynchronized_sample.as_ref());
    let reply = shown.map(|sample| sample.reply);
    let reference_host = reply.and_then(|reply| {
        if reply.stratum < 2 {
            return None;
        }
        names.get(&reply.reference_id).cloned()
    });
    let problem = match &measurement.outcome {
        Err(failure) => Some((failure.code(), failure.to_string())),
        Ok(_) => None,
    };
    let synchronized = usable.is_some();
    let reachable = measurement.replies > 0
        && !matches!(
            measurement.outcome,
            Err(Failure::Refused | Failure::Timeout { .. })
        );
    HostRow {
        label: host.label.clone(),
        address: host.address.as_ref().ok().map(|a| a.to_string()),
        offset_s: shown.map(|sample| sample.offset_s),
        relative_offset_s: None,
        error_bound_s: shown.map(Sample::error_bound_s),
        delay_s: shown.map(|sample| sample.delay_s),
        stratum: reply.map(|reply| reply.stratum),
        reference_id: reply.map(|reply| reply.reference_id.to_hex()),
        reference_id_text: reply.map(|reply| reply.reference_id.display(reply.stratum)),
        reference_host,
        leap: reply.map(|reply| leap_name(reply.leap)),
        reachable,
        synchronized,
        problem,
        outlier: false,
        reference_differs: false,
        status: if synchronized {
            Status::Ok
        } else {
            Status::Unknown
        },
        requests_sent: measurement.requests_sent,
        usable_samples: measurement.usable_samples,
    }
}

/// Build the view. `hosts` and `measurements` are parallel.
pub fn build(
    hosts: &[Host],
    measurements: &[HostMeasurement],
    thresholds: Thresholds,
) -> FleetView {
    // A reference ID names an address (IPv4, or the MD5 of an IPv6 one), not a port:
    // name it only when one host has it.
    let mut by_id: HashMap<ReferenceId, Option<String>> = HashMap::new();
    for host in hosts {
        if let Ok(address) = &host.address {
            by_id
                .entry(ReferenceId::from_ip(address.ip()))
                .and_modify(|name| *name = None)
                .or_insert_with(|| Some(host.label.clone()));
        }
    }
    let names: HashMap<ReferenceId, String> = by_id
        .into_iter()
        .filter_map(|(id, name)| name.map(|name| (id, name)))
        .collect();
    let mut rows: Vec<HostRow> = hosts
        .iter()
        .zip(measurements)
        .map(|(host, measurement)| row_for(host, measurement, &names))
        .collect();
    let mut usable_offsets: Vec<f64> = rows
        .iter()
        .filter(|row| row.synchronized)
        .filter_map(|row| row.offset_s)
        .collect();
    let usable_hosts = usable_offsets.len();
    let median_offset_s = median(&mut usable_offsets);
    let mut view = FleetView {
        hosts: Vec::new(),
        usable_hosts,
        median_offset_s,
        spread_s: None,
        spread_bound_s: None,
        spread_between: None,
        majority_reference: None,
        thresholds,
        effective_thresholds: thresholds,
        status: Status::Unknown,
    };
    let Some(median_s) = median_offset_s else {
        view.hosts = rows;
        return view;
    };
    for row in rows.iter_mut() {
        row.relative_offset_s = row.offset_s.map(|offset| offset - median_s);
    }
    // Spread and its bound.
    let usable = || rows.iter().filter(|row| row.synchronized);
    let highest = usable()
        .max_by(|a, b| {
            a.offset_s
                .unwrap_or(0.0)
                .total_cmp(&b.offset_s.unwrap_or(0.0))
        })
        .expect("at least one usable host");
    let lowest = usable()
        .min_by(|a, b| {
            a.offset_s
                .unwrap_or(0.0)
                .total_cmp(&b.offset_s.unwrap_or(0.0))
        })
        .expect("at least one usable host");
    let spread_s = highest.offset_s.unwrap_or(0.0) - lowest.offset_s.unwrap_or(0.0);
    view.spread_s = Some(spread_s);
    view.spread_bound_s =
        Some(spread_s + highest.error_bound_s.unwrap_or(0.0) + lowest.error_bound_s.unwrap_or(0.0));
    view.spread_between = Some((highest.label.clone(), lowest.label.clone()));
    // Outliers: far from the median in robust terms, beyond their own error bound.
    let mut deviations: Vec<f64> = usable()
        .filter_map(|row| row.relative_offset_s.map(f64::abs))
        .collect();
    let mut bounds: Vec<f64> = usable().filter_map(|row| row.error_bound_s).collect();
    let scale_s = (1.4826 * median(&mut deviations).unwrap_or(0.0))
        .max(median(&mut bounds).unwrap_or(0.0))
        .max(1e-6);
    // Majority reference among synchronised hosts.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for row in usable() {
        if let Some(reference) = &row.reference_id {
            *counts.entry(reference.as_str()).or_default() += 1;
        }
    }
    let majority = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .filter(|(_, &count)| count * 2 > usable_hosts)
        .map(|(reference, _)| reference.to_string());
    for row in rows.iter_mut().filter(|row| row.synchronized) {
        let deviation_s = row.relative_offset_s.unwrap_or(0.0).abs();
        let beyond_bound_s = deviation_s - row.error_bound_s.unwrap_or(0.0);
        row.outlier = usable_hosts >= 3 && beyond_bound_s > OUTLIER_FACTOR * scale_s;
        row.reference_differs = match (&majority, &row.reference_id) {
            (Some(majority), Some(reference)) => majority != reference,
            _ => false,
        };
    }
    let effective = if thresholds.warn_s.is_none() && thresholds.crit_s.is_none() {
        default_thresholds(&rows, usable_hosts)
    } else {
        thresholds
    };
    let mut fleet_status = Status::Ok;
    for row in rows.iter_mut() {
        if !row.synchronized {
            // Unreachable, unsynchronised or failed: "warn".
            row.status = Status::Warn;
            fleet_status = fleet_status.max(Status::Warn);
            continue;
        }
        let deviation_s = row.relative_offset_s.unwrap_or(0.0).abs();
        row.status = if effective.crit_s.is_some_and(|crit| deviation_s > crit) {
            Status::Crit
        } else if effective.warn_s.is_some_and(|warn| deviation_s > warn) || row.reference_differs {
            Status::Warn
        } else {
            Status::Ok
        };
        fleet_status = fleet_status.max(row.status);
    }
    view.effective_thresholds = effective;
    view.majority_reference = majority;
    view.status = fleet_status;
    view.hosts = rows;
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::{NtpHeader, ReferenceId};

    fn host(label: &str, ip: &str) -> Host {
        Host {
            label: label.into(),
            host: ip.into(),
            address: Ok(format!("{ip}:123").parse().unwrap()),
        }
    }

    fn sample(offset_s: f64, reference: &str) -> HostMeasurement {
        let reply = NtpHeader {
            stratum: 3,
            reference_id: ReferenceId::from_u32(u32::from(
                reference.parse::<std::net::Ipv4Addr>().unwrap(),
            )),
            ..NtpHeader::default()
        };
        HostMeasurement::finished(Ok(Sample {
            offset_s,
            delay_s: 0.0002,
            reply,
        }))
    }

    #[test]
    fn a_reference_id_names_an_ipv6_host_by_its_md5() {
        let hosts = vec![
            Host {
                label: "v6-master".into(),
                host: "2001:db8::1".into(),
                address: Ok("[2001:db8::1]:123".parse().unwrap()),
            },
            host("client", "10.0.0.2"),
        ];
        // 39AB9B37: the first octets of the MD5 of 2001:db8::1's 16 octets, computed
        // with openssl (see gnomon-proto's refid tests).
        let mut client = sample(0.001, "10.0.0.1");
        if let Ok(sample) = &mut client.outcome {
            sample.reply.reference_id = ReferenceId::from_u32(0x39AB_9B37);
        }
        let view = build(
            &hosts,
            &[sample(0.001, "10.9.9.9"), client],
            Thresholds::default(),
        );
        assert_eq!(view.hosts[1].reference_host.as_deref(), Some("v6-master"));
    }

    #[test]
    fn median_spread_outliers_references_and_thresholds() {
        let hosts: Vec<Host> = (1..=6)
            .map(|i| host(&format!("n{i}"), &format!("10.0.0.{i}")))
            .collect();
        let measurements = vec![
            sample(0.0010, "10.0.0.1"),
            sample(0.0011, "10.0.0.1"),
            sample(0.0009, "10.0.0.1"),
            sample(0.0012, "10.0.0.1"),
            sample(0.0500, "10.9.9.9"),
            HostMeasurement::finished(Err(Failure::Timeout { timeout_s: 1.0 })),
        ];
        let view = build(
            &hosts,
            &measurements,
            Thresholds {
                warn_s: Some(0.01),
                crit_s: Some(0.1),
            },
        );
        assert_eq!(view.usable_hosts, 5);
        assert!((view.median_offset_s.unwrap() - 0.0011).abs() < 1e-12);
        assert!((view.spread_s.unwrap() - 0.0491).abs() < 1e-12);
        assert!((view.spread_bound_s.unwrap() - 0.0493).abs() < 1e-9);
        let outliers: Vec<_> = view.outliers().map(|r| r.label.as_str()).collect();
        assert_eq!(outliers, ["n5"]);
        let differs: Vec<_> = view.reference_differs().map(|r| r.label.as_str()).collect();
        assert_eq!(differs, ["n5"]);
        assert_eq!(view.hosts[0].reference_host.as_deref(), Some("n1"));
        // Two hosts on one address (different ports): the reference is not named.
        let mut shared = hosts.clone();
        shared[1].address = Ok("10.0.0.1:124".parse().unwrap());
        let ambiguous = build(&shared, &measurements, Thresholds::default());
        assert_eq!(ambiguous.hosts[0].reference_host, None);
        assert_eq!(view.unreachable().count(), 1);
        assert_eq!(view.hosts[4].status, Status::Warn);
        assert_eq!(view.status, Status::Warn);
        let crit = build(
            &hosts[..5],
            &measurements[..5],
            Thresholds {
                warn_s: None,
                crit_s: Some(0.02),
            },
        );
        assert_eq!(crit.status.exit_code(), 2);
        let ok = build(
            &hosts[..4],
            &measurements[..4],
            Thresholds {
                warn_s: Some(0.01),
                crit_s: None,
            },
        );
        assert_eq!(ok.status.exit_code(), 0);
        let none = build(&hosts[5..], &measurements[5..], Thresholds::default());
        assert_eq!(none.status.exit_code(), 3);
    }
}
