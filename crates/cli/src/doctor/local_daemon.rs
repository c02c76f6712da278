//! The local daemon's own view: gnomond over its control socket, chronyd through
//! `chronyc -c -n`.
//!
//! Owns asking (tracking and sources, both read-only requests) and judging the answers:
//! synchronised or not, offset, reachable sources. It must not send state-changing
//! requests (burst, makestep) and must not make chronyc resolve names (`-n`).

use super::daemons::DaemonStatus;
use super::finding::Finding;
use super::host::Host;
use crate::daemon_views::client;
use gnomon_control::protocol::{Request, ResponseData};
use std::path::Path;

const CHECK: &str = "local-daemon";

fn is_present(statuses: &[DaemonStatus], name: &str) -> Option<bool> {
    statuses
        .iter()
        .find(|status| status.kind.name == name)
        .map(|status| status.running())
}

/// gnomond through its control socket (the host path `socket`, mapped under the root).
pub fn gnomond_findings(host: &Host, statuses: &[DaemonStatus], socket: &Path) -> Vec<Finding> {
    let running = is_present(statuses, "gnomond").unwrap_or(false);
    let path = host.path(socket);
    if !path.exists() {
        return if running {
            vec![Finding::fail(
                CHECK,
                format!("gnomond runs but its control socket {} does not exist", socket.display()),
                "check bindcmdaddress in its config and RuntimeDirectory=gnomon in its unit; or pass --socket",
            )]
        } else {
            Vec::new()
        };
    }
    let tracking = match client::ask(&path, &Request::Tracking) {
        Ok(ResponseData::Tracking(tracking)) => tracking,
        Ok(other) => {
            return vec![Finding::fail(
                CHECK,
                format!("gnomond answered oddly: {other:?}"),
                "report a bug",
            )]
        }
        Err(error) => {
            return vec![Finding::fail(
                CHECK,
                error.message,
                "start gnomond (systemctl start gnomond) or pass --socket PATH",
            )]
        }
    };
    let mut findings = Vec::new();
    if tracking.synchronized {
        findings.push(Finding::ok(
            CHECK,
            format!(
                "gnomond synchronised to {} (stratum {}), offset {:+.6} s, error bound {} ({})",
                tracking.reference_name,
                tracking.stratum,
                tracking.system_time_offset_s,
                tracking
                    .error_bound_s
                    .map(|bound| format!("{bound:.6} s"))
                    .unwrap_or_else(|| "unknown".into()),
                tracking.clock
            ),
        ));
    } else {
        findings.push(Finding::warn(
            CHECK,
            format!("gnomond is not synchronised ({})", tracking.clock),
            "wait a minute after start; if it stays so, see the sources finding and `gnomon sources -v`",
        ));
    }
    if let Ok(ResponseData::Sources(sources)) = client::ask(&path, &Request::Sources) {
        let rows: Vec<(String, bool)> = sources
            .iter()
            .map(|source| (source.name.clone(), source.reach != 0))
            .collect();
        findings.push(reach_finding("gnomond", &rows));
    }
    findings
}

/// chronyc's default command socket (chrony 4.x).
const DEFAULT_CHRONYD_SOCKET: &str = "/run/chrony/chronyd.sock";

/// chronyd through chronyc, when chronyc is installed and chronyd is on the host.
pub fn chronyd_findings(
    host: &Host,
    statuses: &[DaemonStatus],
    chronyd_socket: Option<&Path>,
    as_root: bool,
) -> Vec<Finding> {
    let Some(running) = statuses
        .iter()
        .find(|status| status.kind.name == "chronyd" && status.present())
        .map(DaemonStatus::running)
    else {
        return Vec::new();
    };
    let socket = chronyd_socket.map(|path| host.path(path).display().to_string());
    let args = |command: &'static str| -> Vec<String> {
        let mut args = Vec::new();
        if let Some(socket) = &socket {
            args.extend(["-h".to_string(), socket.clone()]);
        }
        args.extend(["-c".to_string(), "-n".to_string(), command.to_string()]);
        args
    };
    let tracking_args = args("tracking");
    let refs: Vec<&str> = tracking_args.iter().map(String::as_str).collect();
    let Some(output) = host.run("chronyc-tracking", "chronyc", &refs) else {
        return vec![Finding::info(
            CHECK,
            "chronyc is not available: chronyd's own view not read",
        )];
    };
    let fields: Vec<&str> = output.stdout.trim().split(',').collect();
    if output.status != 0 || fields.len() < 14 {
        return vec![if running {
            Finding::fail(
                CHECK,
                format!(
                    "chronyd runs but chronyc cannot talk to it: {}",
                    output.stdout.trim()
                ),
                &if as_root {
                    format!(
                        "check that chronyd's command socket {} exists (its bindcmdaddress; \
                         chronyd creates it at start) and that chronyc is chrony 4.x, or pass \
                         --chronyd-socket PATH",
                        socket.as_deref().unwrap_or(DEFAULT_CHRONYD_SOCKET)
                    )
                } else {
                    "run doctor as root (sudo gnomon doctor): chronyc needs chronyd's command \
                     socket, which only root and chrony's user may use; or pass \
                     --chronyd-socket PATH"
                        .to_string()
                },
            )
        } else {
            Finding::info(CHECK, "chronyd is not running: nothing to ask")
        }];
    }
    let mut findings = Vec::new();
    let (reference, stratum, offset, leap) = (fields[1], fields[2], fields[4], fields[13]);
    if leap == "Not synchronised" || fields[0] == "00000000" {
        findings.push(Finding::warn(
            CHECK,
            format!("chronyd is not synchronised (leap status {leap})"),
            "see `chronyc sources -v`: are the servers reachable (UDP 123 in the security group)?",
        ));
    } else {
        findings.push(Finding::ok(
            CHECK,
            format!("chronyd synchronised to {reference} (stratum {stratum}), system time offset {offset} s"),
        ));
    }
    let sources_args = args("sources");
    let refs: Vec<&str> = sources_args.iter().map(String::as_str).collect();
    if let Some(output) = host.run("chronyc-sources", "chronyc", &refs) {
        let rows: Vec<(String, bool)> = output
            .stdout
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let reach = u32::from_str_radix(fields.get(5)?, 8).ok()?;
                Some((fields.get(2)?.to_string(), reach != 0))
            })
            .collect();
        findings.push(reach_finding("chronyd", &rows));
    }
    findings
}

/// One finding about which sources answered recently (reach register non-zero).
fn reach_finding(daemon: &str, rows: &[(String, bool)]) -> Finding {
    let unreachable: Vec<&str> = rows
        .iter()
        .filter(|(_, reached)| !reached)
        .map(|(name, _)| name.as_str())
        .collect();
    let reached = rows.len() - unreachable.len();
    if rows.is_empty() {
        // A deliberate `local`-only server has no sources; the config check judges that.
        Finding::info(CHECK, format!("{daemon} has no sources"))
    } else if reached == 0 {
        Finding::fail(
            CHECK,
            format!("{daemon}: none of {} source(s) reachable: {}", rows.len(), unreachable.join(", ")),
            "check that UDP 123 to the servers is allowed (security group, firewall) and the names resolve",
        )
    } else if !unreachable.is_empty() {
        Finding::warn(
            CHECK,
            format!(
                "{daemon}: {reached} of {} source(s) reachable; not reached: {}",
                rows.len(),
                unreachable.join(", ")
            ),
            "check those servers' addresses and the firewall path to them",
        )
    } else {
        Finding::ok(
            CHECK,
            format!("{daemon}: all {} source(s) reachable", rows.len()),
        )
    }
}
