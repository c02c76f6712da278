//! The effective configuration as text, for `gnomond -p -f FILE`: every setting with
//! its resolved value, defaults written out, in chrony syntax.
//!
//! Owns the listing's layout. The output is itself a valid configuration that parses
//! back to the same [`Config`] (settings that are off are `#` comment lines; chrony
//! syntax has no trailing comments). It must not resolve names or touch the network.

use std::fmt::Write as _;
use std::path::Path;

use super::model::{
    AccessRule, AddressFamily, Config, SourceConfig, SourceKind, Subnet, DEFAULT_COMMAND_PORT,
};

/// Render the effective configuration.
pub fn render_effective(config: &Config) -> String {
    let mut out = String::new();
    out.push_str("# gnomon effective configuration: every setting with its resolved value.\n");
    out.push_str("# Host names are shown as written; nothing was resolved.\n");

    section(&mut out, "Time sources");
    for source in config.sources.iter().filter(|s| !s.from_sourcedir) {
        line(&mut out, format!("# from {}", source.origin));
        line(&mut out, source_line(source));
    }
    for dirs in &config.source_dirs {
        line(&mut out, format!("sourcedir {}", join_paths(dirs)));
    }
    for source in config.sources.iter().filter(|s| s.from_sourcedir) {
        line(
            &mut out,
            format!("#   read from {}: {}", source.origin, source_line(source)),
        );
    }
    if config.sources.is_empty() && config.source_dirs.is_empty() {
        line(
            &mut out,
            "# no server, pool or sourcedir: nothing to synchronise to",
        );
    }
    let family = match config.address_family {
        AddressFamily::Any => "IPv4 and IPv6",
        AddressFamily::Ipv4 => "IPv4 only (-4)",
        AddressFamily::Ipv6 => "IPv6 only (-6)",
    };
    line(&mut out, format!("# names resolve to: {family}"));

    section(&mut out, "System clock");
    match config.makestep {
        Some(step) => line(
            &mut out,
            format!("makestep {} {}", step.threshold_s, step.limit_updates),
        ),
        None => line(&mut out, "# makestep: not set, the clock is never stepped"),
    }
    match config.maxchange {
        Some(change) => line(
            &mut out,
            format!(
                "maxchange {} {} {}",
                change.offset_s, change.start_after_updates, change.ignore_count
            ),
        ),
        None => line(&mut out, "# maxchange: not set, offsets are not limited"),
    }
    line(
        &mut out,
        format!("maxslewrate {}", config.max_slew_rate_ppm),
    );
    line(&mut out, format!("minsources {}", config.min_sources));
    line(&mut out, format!("maxdistance {}", config.max_distance_s));
    let tuning = &config.tuning;
    line(&mut out, format!("combinelimit {}", tuning.combine_limit));
    line(&mut out, format!("maxjitter {}", tuning.max_jitter_s));
    line(
        &mut out,
        format!("reselectdist {}", tuning.reselect_distance_s),
    );
    line(
        &mut out,
        format!("stratumweight {}", tuning.stratum_weight_s),
    );
    line(
        &mut out,
        format!("maxupdateskew {}", tuning.max_update_skew_ppm),
    );
    line(
        &mut out,
        format!("corrtimeratio {}", tuning.correction_time_ratio),
    );
    line(&mut out, format!("maxdrift {}", tuning.max_drift_ppm));
    line(
        &mut out,
        format!("maxclockerror {}", tuning.max_clock_error_ppm),
    );
    match tuning.clock_precision_s {
        Some(precision_s) => line(&mut out, format!("clockprecision {precision_s}")),
        None => line(&mut out, "# clockprecision: not set, measured at start"),
    }
    match &config.drift_file {
        Some(file) => line(
            &mut out,
            format!(
                "driftfile {} interval {}",
                file.display(),
                config.drift_file_interval_s
            ),
        ),
        None => line(&mut out, "# driftfile: not set, the frequency is not saved"),
    }
    flag(&mut out, config.rtc_sync, "rtcsync", "# rtcsync: off");
    optional(&mut out, "leapsectz", config.leap_sec_tz.as_deref());
    optional(
        &mut out,
        "leapseclist",
        path_text(config.leap_sec_list.as_deref()).as_deref(),
    );

    section(&mut out, "NTP server");
    line(&mut out, format!("port {}", config.ntp_port));
    match config.bind_address_v4 {
        Some(v4) => line(&mut out, format!("bindaddress {v4}")),
        None => line(&mut out, "# bindaddress (IPv4): not set, any address"),
    }
    match config.bind_address_v6 {
        Some(v6) => line(&mut out, format!("bindaddress {v6}")),
        None => line(&mut out, "# bindaddress (IPv6): not set, any address"),
    }
    for rule in &config.access_rules {
        line(&mut out, access_line(rule));
    }
    if !config.serves_clients() {
        line(&mut out, "# no client is served (no allow rule, or port 0)");
    }
    match config.rate_limit {
        Some(limit) => line(
            &mut out,
            format!(
                "ratelimit interval {} burst {} leak {} kod {}",
                limit.interval_log2_s, limit.burst, limit.leak_log2, limit.kod_log2
            ),
        ),
        None => line(&mut out, "# ratelimit: off"),
    }
    line(
        &mut out,
        format!("clientloglimit {}", config.client_log_limit_bytes),
    );
    if config.no_client_log {
        line(&mut out, "noclientlog");
    } else {
        line(&mut out, "# noclientlog: off, clients are logged");
    }
    match config.local {
        Some(local) => {
            let mut text = format!("local stratum {}", local.stratum);
            if local.orphan {
                text.push_str(" orphan");
            }
            let _ = write!(
                text,
                " distance {} activate {} waitsynced {} waitunsynced {}",
                local.distance_s, local.activate_s, local.wait_synced_s, local.wait_unsynced_s
            );
            line(&mut out, text);
        }
        None => line(&mut out, "# local: off"),
    }
    line(&mut out, format!("estimator {}", config.estimator.name()));
    match config.server_threads {
        Some(threads) => line(&mut out, format!("server_threads {threads}")),
        None => line(&mut out, "server_threads 0"),
    }
    match config.metrics_address {
        Some(address) => line(&mut out, format!("metrics {address}")),
        None => line(&mut out, "# metrics: off"),
    }
    match &config.clock_bound {
        Some(bound) => line(
            &mut out,
            format!(
                "clockbound {} maxdrift {}",
                bound.path.display(),
                bound.max_drift_ppm
            ),
        ),
        None => line(&mut out, "# clockbound: off"),
    }

    section(&mut out, "Control, files and logging");
    match &config.command_socket {
        Some(path) => line(&mut out, format!("bindcmdaddress {}", path.display())),
        None => line(&mut out, "bindcmdaddress /"),
    }
    if let Some(v4) = config.command_bind_v4 {
        line(&mut out, format!("bindcmdaddress {v4}"));
    }
    if let Some(v6) = config.command_bind_v6 {
        line(&mut out, format!("bindcmdaddress {v6}"));
    }
    if config.command_port == DEFAULT_COMMAND_PORT {
        line(&mut out, "# cmdport 323 (gnomon has no UDP command port)");
    } else {
        line(&mut out, format!("cmdport {}", config.command_port));
    }
    match &config.pid_file {
        Some(path) => line(&mut out, format!("pidfile {}", path.display())),
        None => line(&mut out, "pidfile /"),
    }
    match &config.user {
        Some(user) => line(&mut out, format!("user {user}")),
        None => line(
            &mut out,
            "# user: not set, gnomond keeps the user it was started as",
        ),
    }
    optional(
        &mut out,
        "logdir",
        path_text(config.log_dir.as_deref()).as_deref(),
    );
    let logs = config.logs;
    let names: Vec<&str> = [
        (logs.tracking, "tracking"),
        (logs.measurements && !logs.raw_measurements, "measurements"),
        (logs.raw_measurements, "rawmeasurements"),
        (logs.statistics, "statistics"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if names.is_empty() {
        line(&mut out, "# log: none");
    } else {
        line(&mut out, format!("log {}", names.join(" ")));
    }
    out
}

/// One source as a directive line with every option explicit.
pub fn source_line(source: &SourceConfig) -> String {
    let mut text = format!(
        "{} {} port {} minpoll {} maxpoll {} maxdelay {} maxdelayratio {} \
         maxdelaydevratio {} minstratum {} polltarget {} offset {}",
        source.kind.directive(),
        source.name,
        source.port,
        source.minpoll_log2_s,
        source.maxpoll_log2_s,
        source.maxdelay_s,
        source.maxdelayratio.unwrap_or(0.0),
        source.maxdelaydevratio,
        source.minstratum,
        source.polltarget,
        source.offset_s,
    );
    if source.kind == SourceKind::Pool {
        let _ = write!(text, " maxsources {}", source.maxsources);
    }
    if let Some(min) = source.minsamples {
        let _ = write!(text, " minsamples {min}");
    }
    if let Some(max) = source.maxsamples {
        let _ = write!(text, " maxsamples {max}");
    }
    let flags = [
        (source.iburst, "iburst"),
        (source.burst, "burst"),
        (source.offline, "offline"),
        (source.prefer, "prefer"),
        (source.noselect, "noselect"),
        (source.trust, "trust"),
        (source.require, "require"),
        (source.family == AddressFamily::Ipv4, "ipv4"),
        (source.family == AddressFamily::Ipv6, "ipv6"),
    ];
    for (on, name) in flags {
        if on {
            let _ = write!(text, " {name}");
        }
    }
    for kept in &source.kept_options {
        let _ = write!(text, " {kept}");
    }
    text
}

fn access_line(rule: &AccessRule) -> String {
    let mut text = String::from(if rule.allow { "allow" } else { "deny" });
    if rule.all {
        text.push_str(" all");
    }
    match &rule.subnet {
        Subnet::Everything => {}
        Subnet::Network {
            address,
            prefix_len,
        } => {
            let _ = write!(text, " {address}/{prefix_len}");
        }
        Subnet::Host(name) => {
            let _ = write!(text, " {name}");
        }
    }
    text
}

fn section(out: &mut String, title: &str) {
    let _ = write!(out, "\n# {title}\n");
}

fn line(out: &mut String, text: impl AsRef<str>) {
    out.push_str(text.as_ref());
    out.push('\n');
}

fn flag(out: &mut String, on: bool, directive: &str, off_comment: &str) {
    line(out, if on { directive } else { off_comment });
}

fn optional(out: &mut String, directive: &str, value: Option<&str>) {
    match value {
        Some(value) => line(out, format!("{directive} {value}")),
        None => line(out, format!("# {directive}: not set")),
    }
}

fn path_text(path: Option<&Path>) -> Option<String> {
    path.map(|p| p.display().to_string())
}

fn join_paths(paths: &[std::path::PathBuf]) -> String {
    let texts: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    texts.join(" ")
}
