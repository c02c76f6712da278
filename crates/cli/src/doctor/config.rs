//! Configuration files: which one gnomond and chronyd would read, and what is in them.
//!
//! Owns choosing the path (the running daemon's `-f`, else gnomond's default
//! /etc/gnomon/gnomon.conf, and chronyd's per-distro default: /etc/chrony/chrony.conf
//! on Debian and Ubuntu, /etc/chrony.conf on RHEL, Fedora, Amazon Linux and SUSE) and
//! checking it with gnomond's own parser through the `--root` tree (errors with
//! file:line, sources, allow ranges, makestep, rtcsync). It must not resolve names or
//! contact any server named in a file.

use super::daemons::DaemonStatus;
use super::finding::Finding;
use super::host::Host;
use gnomon_config::{
    Config, ConfigParser, ParsedConfig, SourceConfig, SourceKind, Subnet, DEFAULT_CONFIG_PATH,
};

const CHECK: &str = "config";
const DEBIAN_CHRONY_CONF: &str = "/etc/chrony/chrony.conf";
const RHEL_CHRONY_CONF: &str = "/etc/chrony.conf";
/// Amazon Time Sync Service addresses (IPv4 link-local, and IPv6 on Nitro).
const AMAZON_TIME_SYNC: &[&str] = &["169.254.169.123", "fd00:ec2::123"];

/// The family of the distribution, from /etc/os-release's ID and ID_LIKE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distro {
    Debian,
    RedHat,
    Unknown,
}

pub fn distro(host: &Host) -> (Distro, String) {
    let text = host
        .read("/etc/os-release")
        .or_else(|| host.read("/usr/lib/os-release"))
        .unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|value| value.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let pretty = field("PRETTY_NAME");
    let words = format!("{} {}", field("ID"), field("ID_LIKE"));
    let has = |names: &[&str]| words.split_whitespace().any(|word| names.contains(&word));
    let family = if has(&["debian", "ubuntu"]) {
        Distro::Debian
    } else if has(&[
        "rhel", "fedora", "centos", "amzn", "suse", "opensuse", "sles",
    ]) {
        Distro::RedHat
    } else {
        Distro::Unknown
    };
    (
        family,
        if pretty.is_empty() {
            "unknown distribution".into()
        } else {
            pretty
        },
    )
}

/// The config file a daemon reads: its running process's `-f`, else `default`.
fn running_config(statuses: &[DaemonStatus], daemon: &str) -> Option<String> {
    statuses
        .iter()
        .find(|status| status.kind.name == daemon)?
        .processes
        .iter()
        .find_map(|process| process.option_value("-f").map(str::to_owned))
}

/// Which chrony.conf chronyd would read here, and why.
pub fn chrony_config_path(host: &Host, statuses: &[DaemonStatus]) -> (String, String) {
    if let Some(path) = running_config(statuses, "chronyd") {
        return (path, "the running chronyd's -f".into());
    }
    let (family, name) = distro(host);
    match family {
        Distro::Debian => (
            DEBIAN_CHRONY_CONF.into(),
            format!("Debian-family default ({name})"),
        ),
        Distro::RedHat => (
            RHEL_CHRONY_CONF.into(),
            format!("RHEL-family default ({name})"),
        ),
        Distro::Unknown if host.exists(RHEL_CHRONY_CONF) => (
            RHEL_CHRONY_CONF.into(),
            format!("the file that exists ({name})"),
        ),
        Distro::Unknown => (
            DEBIAN_CHRONY_CONF.into(),
            format!("the file that exists ({name})"),
        ),
    }
}

/// Paths the configurations name, for the checks that follow (host paths, not yet
/// mapped under `--root`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfiguredPaths {
    /// gnomond's `bindcmdaddress`, when its configuration parsed and names one.
    pub gnomond_socket: Option<std::path::PathBuf>,
    /// chronyd's `bindcmdaddress`, likewise.
    pub chronyd_socket: Option<std::path::PathBuf>,
}

/// Findings for gnomond's and chronyd's configuration files, and the paths they name.
pub fn findings(host: &Host, statuses: &[DaemonStatus]) -> (Vec<Finding>, ConfiguredPaths) {
    let mut paths = ConfiguredPaths::default();
    let present = |name: &str| {
        statuses
            .iter()
            .any(|status| status.kind.name == name && status.present())
    };
    let mut findings = Vec::new();

    let (gnomond_path, gnomond_why) = match running_config(statuses, "gnomond") {
        Some(path) => (path, "the running gnomond's -f".to_string()),
        None => (DEFAULT_CONFIG_PATH.to_string(), "its default".to_string()),
    };
    if host.exists(&gnomond_path) || present("gnomond") {
        findings.push(Finding::info(
            CHECK,
            format!("gnomond reads {gnomond_path} ({gnomond_why})"),
        ));
        let (checked, config) = check_file(host, "gnomond", &gnomond_path, true);
        findings.extend(checked);
        paths.gnomond_socket = config.and_then(|config| config.command_socket);
    }

    let (chrony_path, chrony_why) = chrony_config_path(host, statuses);
    let other = if chrony_path == DEBIAN_CHRONY_CONF {
        Some(RHEL_CHRONY_CONF)
    } else if chrony_path == RHEL_CHRONY_CONF {
        Some(DEBIAN_CHRONY_CONF)
    } else {
        None
    };
    if host.exists(&chrony_path) || present("chronyd") {
        findings.push(Finding::info(
            CHECK,
            format!("chronyd reads {chrony_path} ({chrony_why})"),
        ));
        if let Some(other) = other.filter(|other| host.exists(other)) {
            findings.push(Finding::warn(
                CHECK,
                format!("{other} also exists, and chronyd here ignores it"),
                &format!("edit {chrony_path}, and delete {other} so nobody edits the wrong file"),
            ));
        }
        let (checked, config) = check_file(host, "chronyd", &chrony_path, false);
        findings.extend(checked);
        paths.chronyd_socket = config.and_then(|config| config.command_socket);
    }
    (findings, paths)
}

/// Parse one file with gnomond's parser and judge its directives. `own` is true for
/// gnomond's own file (parser warnings are then the operator's business). Returns the
/// parsed configuration too, when it parses.
fn check_file(host: &Host, daemon: &str, path: &str, own: bool) -> (Vec<Finding>, Option<Config>) {
    if !host.exists(path) {
        let finding = Finding::fail(
            CHECK,
            format!("{daemon}'s configuration {path} does not exist"),
            &format!("create {path} (see examples/ and docs/deploy.md)"),
        );
        return (vec![finding], None);
    }
    let fs = host.config_fs();
    let mut parser = ConfigParser::new(&fs);
    let parsed: ParsedConfig = match parser.parse_file(std::path::Path::new(path)) {
        Ok(()) => parser.finish(),
        Err(error) => {
            let finding = Finding::fail(
                CHECK,
                format!("{path}: does not parse: {error}"),
                "fix that line (gnomond -p -f FILE shows the same message)",
            );
            return (vec![finding], None);
        }
    };
    let mut findings = Vec::new();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    if !warnings.is_empty() {
        let summary = if own {
            format!(
                "{path}: {} line(s) gnomond skips or does not fully use",
                warnings.len()
            )
        } else {
            format!(
                "{path}: {} line(s) gnomond would skip if it replaced chronyd",
                warnings.len()
            )
        };
        let finding = if own {
            Finding::warn(
                CHECK,
                summary,
                "see docs/config.md for what gnomond supports",
            )
        } else {
            Finding::info(CHECK, summary)
        };
        findings.push(finding.with_details(warnings));
    }
    findings.extend(directive_findings(path, &parsed.config));
    (findings, Some(parsed.config))
}

fn describe_source(source: &SourceConfig) -> String {
    let mut options = Vec::new();
    if source.prefer {
        options.push("prefer".to_string());
    }
    if source.iburst {
        options.push("iburst".to_string());
    }
    options.push(format!(
        "poll 2^{}..2^{} s",
        source.minpoll_log2_s, source.maxpoll_log2_s
    ));
    let amazon = if AMAZON_TIME_SYNC.contains(&source.name.as_str()) {
        " = Amazon Time Sync"
    } else {
        ""
    };
    let kind = match source.kind {
        SourceKind::Server => "server",
        SourceKind::Pool => "pool",
    };
    format!("{kind} {}{amazon} ({})", source.name, options.join(", "))
}

fn describe_subnet(subnet: &Subnet) -> String {
    match subnet {
        Subnet::Everything => "everyone".into(),
        Subnet::Network {
            address,
            prefix_len,
        } => format!("{address}/{prefix_len}"),
        Subnet::Host(name) => name.clone(),
    }
}

fn directive_findings(path: &str, config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    if config.sources.is_empty() {
        findings.push(Finding::fail(
            CHECK,
            format!("{path}: no server or pool: nothing to synchronise to"),
            "add a source, e.g. `server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4` on AWS, \
             or `pool pool.ntp.org iburst`",
        ));
    } else {
        findings.push(
            Finding::ok(CHECK, format!("{path}: {} source(s)", config.sources.len()))
                .with_details(config.sources.iter().map(describe_source).collect()),
        );
    }
    let allowed: Vec<String> = config
        .access_rules
        .iter()
        .map(|rule| {
            format!(
                "{}{} {}",
                if rule.allow { "allow" } else { "deny" },
                if rule.all { " all" } else { "" },
                describe_subnet(&rule.subnet)
            )
        })
        .collect();
    if config.serves_clients() {
        findings.push(Finding::info(
            CHECK,
            format!(
                "{path}: serves NTP on port {}: {}",
                config.ntp_port,
                allowed.join(", ")
            ),
        ));
    } else {
        findings.push(Finding::info(
            CHECK,
            format!("{path}: serves no NTP clients (no allow)"),
        ));
    }
    match config.makestep {
        Some(step) => findings.push(Finding::ok(
            CHECK,
            format!(
                "{path}: makestep {} {} (steps large offsets at start)",
                step.threshold_s, step.limit_updates
            ),
        )),
        None => findings.push(Finding::warn(
            CHECK,
            format!("{path}: no makestep: a clock that is far off at boot is slewed, which can take hours"),
            "add `makestep 1.0 3`",
        )),
    }
    if config.rtc_sync {
        findings.push(Finding::ok(
            CHECK,
            format!("{path}: rtcsync (kernel keeps the RTC and its sync flag)"),
        ));
    } else {
        findings.push(Finding::warn(
            CHECK,
            format!("{path}: no rtcsync: the kernel's synchronised flag and the RTC are not kept up to date"),
            "add `rtcsync`",
        ));
    }
    findings
}
