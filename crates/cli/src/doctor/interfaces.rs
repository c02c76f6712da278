//! Container network interfaces versus ntpd's socket per interface.
//!
//! ntpd (and ntpsec) open one socket per local address and rescan interfaces as they
//! come and go; on Kubernetes nodes every Calico/CNI veth brings an IPv6 link-local
//! address it fails to bind (`bind(...) failed: Cannot assign requested address`, the
//! seed's log). This module owns spotting that combination from `/sys/class/net` and
//! the running ntpd's options. It must not open sockets or change interfaces.

use super::daemons::DaemonStatus;
use super::finding::Finding;
use super::host::Host;

const CHECK: &str = "interfaces";
/// Name prefixes of interfaces that container networking creates and removes.
const CONTAINER_PREFIXES: &[&str] = &[
    "cali", "veth", "cni", "flannel", "docker", "vxlan", "tunl", "lxc", "weave", "cilium",
];

/// Container interfaces present under `/sys/class/net`.
pub fn container_interfaces(host: &Host) -> Vec<String> {
    host.list_dir("/sys/class/net")
        .into_iter()
        .filter(|name| {
            CONTAINER_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .collect()
}

pub fn findings(host: &Host, statuses: &[DaemonStatus]) -> Vec<Finding> {
    let interfaces = container_interfaces(host);
    if interfaces.is_empty() {
        return Vec::new();
    }
    let shown: Vec<&str> = interfaces.iter().take(5).map(String::as_str).collect();
    let more = interfaces.len().saturating_sub(shown.len());
    let listing = if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    };
    let mut findings = Vec::new();
    for status in statuses
        .iter()
        .filter(|status| matches!(status.kind.name, "ntpd" | "ntpsec"))
    {
        for process in &status.processes {
            let ipv4_only = process.has_flag("-4");
            let summary = format!(
                "{} (pid {}) opens a socket per interface, and this host has {} container \
                 interface(s): {listing}",
                status.kind.name,
                process.pid,
                interfaces.len()
            );
            findings.push(if ipv4_only {
                Finding::info(
                    CHECK,
                    format!("{summary}; it runs with -4, so their IPv6 link-local addresses are skipped"),
                )
            } else {
                Finding::warn(
                    CHECK,
                    format!("{summary}; expect `bind(...) failed: Cannot assign requested address` for their IPv6 link-local addresses"),
                    "add -4 to NTPD_OPTS in /etc/default/ntp as a stopgap; gnomond binds one wildcard socket and is not affected",
                )
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::daemons::DaemonStatus;
    use crate::doctor::finding::Severity;
    use crate::doctor::host::{NoCommands, Process};
    use crate::doctor::known_daemons::KNOWN_DAEMONS;

    #[test]
    fn ntpd_without_dash_4_beside_calico_veths_is_a_warning() {
        let root = std::env::temp_dir().join(format!("gnomon-doctor-if-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sys/class/net/cali00c42313d69")).unwrap();
        std::fs::create_dir_all(root.join("sys/class/net/eth0")).unwrap();
        let host = Host::new(root.clone(), Box::new(NoCommands));
        assert_eq!(
            container_interfaces(&host),
            vec!["cali00c42313d69".to_string()]
        );
        let ntpd = |args: &[&str]| DaemonStatus {
            kind: KNOWN_DAEMONS
                .iter()
                .find(|kind| kind.name == "ntpd")
                .unwrap(),
            installed: None,
            units: Vec::new(),
            processes: vec![Process {
                pid: 2785,
                comm: "ntpd".into(),
                cmdline: args.iter().map(|arg| arg.to_string()).collect(),
            }],
        };
        let warned = findings(&host, &[ntpd(&["/usr/sbin/ntpd", "-g"])]);
        assert_eq!(warned[0].severity, Severity::Warn);
        assert!(warned[0]
            .summary
            .contains("Cannot assign requested address"));
        let quiet = findings(&host, &[ntpd(&["/usr/sbin/ntpd", "-4", "-g"])]);
        assert_eq!(quiet[0].severity, Severity::Info);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
