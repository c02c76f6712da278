//! The Prometheus/OpenMetrics exposition of gnomond's state (docs/metrics.md).
//!
//! Owns metric names, help texts, units and labels, and the two text formats:
//! OpenMetrics (what prometheus-client writes, and what Prometheus asks for) and the
//! classic Prometheus text format 0.0.4 (for plain clients and `promtool check
//! metrics`). It reads the same views as `gnomon tracking/sources/serverstats`, so the
//! numbers agree with the CLI. Read-only; it must not do IO.

use gnomon_control::protocol::{ServerStatsReport, SourceReport, SourceStats, Tracking};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Everything one scrape shows.
pub struct MetricsInput<'a> {
    pub tracking: &'a Tracking,
    /// The views of `gnomon sources` and `sourcestats`, in the same order.
    pub sources: &'a [SourceReport],
    pub source_stats: &'a [SourceStats],
    /// Round-trip delay of each source's last sample, same order; None before one.
    pub source_delays_s: &'a [Option<f64>],
    pub server: &'a ServerStatsReport,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type Labels = Vec<(String, String)>;

fn gauge(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, value: f64) {
    let metric = FloatGauge::default();
    metric.set(value);
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric),
        None => registry.register(name, help, metric),
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Counter<u64> = Counter::default();
    metric.inc_by(value);
    registry.register(name, help, metric);
}

fn family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
) -> Family<Labels, FloatGauge> {
    let metric = Family::<Labels, FloatGauge>::default();
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric.clone()),
        None => registry.register(name, help, metric.clone()),
    }
    metric
}

/// The exposition in OpenMetrics text (ends with `# EOF`).
pub fn render_openmetrics(input: &MetricsInput) -> String {
    let mut registry = Registry::with_prefix("gnomon");
    let t = input.tracking;
    let seconds = || Some(Unit::Seconds);
    gauge(&mut registry, "system_offset", "How far the clock is ahead of the engine's estimate of true time (chronyc System time, fast positive)", seconds(), t.system_time_offset_s);
    gauge(
        &mut registry,
        "system_last_offset",
        "Offset measured at the last clock update",
        seconds(),
        t.last_offset_s,
    );
    gauge(
        &mut registry,
        "system_rms_offset",
        "Long-term RMS of the offsets at clock updates",
        seconds(),
        t.rms_offset_s,
    );
    gauge(
        &mut registry,
        "system_frequency",
        "Frequency correction applied to the clock (1e-6 = 1 ppm, positive speeds the clock up)",
        Some(Unit::Other("ratio".into())),
        t.frequency_ppm * 1e-6,
    );
    gauge(
        &mut registry,
        "system_skew",
        "Error bound of the frequency estimate",
        Some(Unit::Other("ratio".into())),
        t.skew_ppm * 1e-6,
    );
    gauge(
        &mut registry,
        "system_root_delay",
        "Round-trip delay to the stratum-1 reference",
        seconds(),
        t.root_delay_s,
    );
    gauge(
        &mut registry,
        "system_root_dispersion",
        "Dispersion accumulated up to the reference, grown to now",
        seconds(),
        t.root_dispersion_s,
    );
    // `tracking`'s bound already holds the pending correction (one function).
    let bound_s = t.error_bound_s.unwrap_or(f64::INFINITY);
    gauge(
        &mut registry,
        "system_error_bound",
        "True time lies within the clock's reading plus or minus this (+Inf unsynchronised)",
        seconds(),
        bound_s,
    );
    gauge(
        &mut registry,
        "system_stratum",
        "Stratum (16 unsynchronised)",
        None,
        f64::from(t.stratum),
    );
    gauge(
        &mut registry,
        "system_leap",
        "Leap indicator: 0 none, 1 insert, 2 delete, 3 unsynchronised",
        None,
        f64::from(t.leap_status.leap_indicator()),
    );
    gauge(
        &mut registry,
        "system_synchronized",
        "1 when the clock is synchronised to a source",
        None,
        f64::from(u8::from(t.synchronized)),
    );
    gauge(
        &mut registry,
        "system_update_interval",
        "Interval between the last two clock updates",
        seconds(),
        t.update_interval_s,
    );

    let labels = |source: &SourceReport| -> Labels {
        vec![
            ("address".into(), source.address.clone()),
            ("name".into(), source.name.clone()),
        ]
    };
    let offset = family(
        &mut registry,
        "source_offset",
        "Offset of the source's last sample, adjusted for clock changes since",
        seconds(),
    );
    let delay = family(
        &mut registry,
        "source_delay",
        "Round-trip delay of the source's last sample",
        seconds(),
    );
    let std_dev = family(
        &mut registry,
        "source_std_dev",
        "Standard deviation of the source's offset estimate",
        seconds(),
    );
    let reach = family(
        &mut registry,
        "source_reachability",
        "Reachability register, the last 8 polls as bits (255 all answered)",
        None,
    );
    let poll = family(
        &mut registry,
        "source_poll_interval",
        "Polling interval",
        seconds(),
    );
    let stratum = family(
        &mut registry,
        "source_stratum",
        "Stratum the source reports",
        None,
    );
    let state = family(
        &mut registry,
        "source_state",
        "Selection state of the source: 1 for the current state label",
        None,
    );
    let selected = family(
        &mut registry,
        "source_selected",
        "1 when the source is the system peer or combined with it",
        None,
    );
    for (index, source) in input.sources.iter().enumerate() {
        let labels = labels(source);
        if let Some(value) = source.adjusted_offset_s {
            offset.get_or_create(&labels).set(value);
        }
        if let Some(Some(value)) = input.source_delays_s.get(index) {
            delay.get_or_create(&labels).set(*value);
        }
        if let Some(stats) = input.source_stats.get(index).filter(|s| s.samples_used > 0) {
            std_dev.get_or_create(&labels).set(stats.std_dev_s);
        }
        reach.get_or_create(&labels).set(f64::from(source.reach));
        poll.get_or_create(&labels)
            .set(2f64.powi(i32::from(source.poll)));
        stratum
            .get_or_create(&labels)
            .set(f64::from(source.stratum));
        let mut with_state = labels.clone();
        with_state.push(("state".into(), source.state_name.to_string()));
        state.get_or_create(&with_state).set(1.0);
        let is_selected = source.state_name.is_in_use();
        selected
            .get_or_create(&labels)
            .set(f64::from(u8::from(is_selected)));
    }

    let s = input.server;
    counter(
        &mut registry,
        "server_requests_received",
        "NTP datagrams received on the server sockets",
        s.ntp_packets_received,
    );
    counter(
        &mut registry,
        "server_responses_sent",
        "NTP replies sent (served requests)",
        s.ntp_replies_sent,
    );
    counter(
        &mut registry,
        "server_requests_denied",
        "Requests refused by allow/deny",
        s.ntp_packets_denied,
    );
    counter(
        &mut registry,
        "server_requests_rate_limited",
        "Requests dropped by rate limiting",
        s.ntp_packets_rate_limited,
    );
    counter(
        &mut registry,
        "server_kod_sent",
        "Kiss-o'-death replies sent",
        s.ntp_kods_sent,
    );
    counter(
        &mut registry,
        "server_requests_dropped",
        "Requests that got no reply, all reasons",
        s.ntp_packets_dropped,
    );
    counter(
        &mut registry,
        "server_requests_malformed",
        "Datagrams that were not valid NTP",
        s.ntp_packets_malformed,
    );

    let build = Family::<Labels, FloatGauge>::default();
    registry.register("build_info", "gnomond's version (value 1)", build.clone());
    build
        .get_or_create(&vec![("version".into(), env!("CARGO_PKG_VERSION").into())])
        .set(1.0);

    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}

/// The classic Prometheus text format 0.0.4 of an OpenMetrics text from
/// [`render_openmetrics`]: counters' HELP/TYPE lines take the `_total` sample name,
/// and `# UNIT` and `# EOF` lines go.
pub fn openmetrics_to_classic(openmetrics: &str) -> String {
    let mut counters = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.push(name.to_owned());
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let mut rewritten = None;
        for prefix in ["# HELP ", "# TYPE "] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let name = rest.split(' ').next().unwrap_or("");
                if counters.iter().any(|counter| counter == name) {
                    rewritten = Some(format!("{prefix}{name}_total{}", &rest[name.len()..]));
                }
            }
        }
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}
