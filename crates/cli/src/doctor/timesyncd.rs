//! Why systemd-timesyncd does (not) start: its condition drop-ins.
//!
//! Debian's systemd-timesyncd ships `disable-with-time-daemon.conf` with lines like
//! `ConditionFileIsExecutable=!/usr/sbin/ntpd`: timesyncd silently skips itself when
//! another daemon's binary exists (the seed's "start condition failed"). This module
//! owns finding those drop-ins and explaining them; it must not change any unit.

use super::daemons::DaemonStatus;
use super::finding::Finding;
use super::host::Host;

const CHECK: &str = "timesyncd";
/// Where systemd reads drop-ins of a system unit, in its precedence order.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const UNIT: &str = "systemd-timesyncd.service";

/// One `ConditionFileIsExecutable=!PATH` line.
#[derive(Debug, PartialEq, Eq)]
pub struct Condition {
    /// The drop-in file (host path).
    pub file: String,
    /// The path whose existence stops timesyncd.
    pub path: String,
}

/// Every negated executable condition in timesyncd's drop-ins.
pub fn conditions(host: &Host) -> Vec<Condition> {
    let mut found = Vec::new();
    for dir in UNIT_DIRS {
        let dropin_dir = format!("{dir}/{UNIT}.d");
        for name in host.list_dir(&dropin_dir) {
            if !name.ends_with(".conf") {
                continue;
            }
            let file = format!("{dropin_dir}/{name}");
            let Some(text) = host.read(&file) else {
                continue;
            };
            for line in text.lines() {
                if let Some(value) = line.trim().strip_prefix("ConditionFileIsExecutable=") {
                    if let Some(path) = value.trim().strip_prefix('!') {
                        found.push(Condition {
                            file: file.clone(),
                            path: path.trim().to_string(),
                        });
                    }
                }
            }
        }
    }
    found
}

/// Explain timesyncd's conditions (only when timesyncd is on the host).
pub fn findings(host: &Host, statuses: &[DaemonStatus]) -> Vec<Finding> {
    let Some(timesyncd) = statuses
        .iter()
        .find(|status| status.kind.name == "systemd-timesyncd" && status.present())
    else {
        return Vec::new();
    };
    let conditions = conditions(host);
    if conditions.is_empty() {
        return vec![Finding::info(
            CHECK,
            "systemd-timesyncd has no condition drop-in: it starts even beside another time daemon",
        )];
    }
    let blocking: Vec<&Condition> = conditions
        .iter()
        .filter(|condition| host.is_executable(&condition.path))
        .collect();
    let details: Vec<String> = conditions
        .iter()
        .map(|condition| {
            let state = if host.is_executable(&condition.path) {
                "exists: condition not met"
            } else {
                "absent"
            };
            format!(
                "{}: ConditionFileIsExecutable=!{} ({state})",
                condition.file, condition.path
            )
        })
        .collect();
    if blocking.is_empty() {
        return vec![Finding::info(
            CHECK,
            format!(
                "systemd-timesyncd steps aside when one of {} exists; none does",
                conditions
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_details(details)];
    }
    let paths: Vec<&str> = blocking.iter().map(|c| c.path.as_str()).collect();
    let summary = format!(
        "systemd-timesyncd will not start because {} exist{} (its drop-in says \
         ConditionFileIsExecutable=!PATH; systemctl shows \"start condition failed\")",
        paths.join(", "),
        if paths.len() == 1 { "s" } else { "" }
    );
    if timesyncd.enabled() {
        vec![Finding::warn(
            CHECK,
            summary,
            "this is deliberate (one daemon at a time): if timesyncd is the one you want, remove the \
             other daemon's package (not just its service); otherwise disable timesyncd to say so",
        )
        .with_details(details)]
    } else {
        vec![Finding::info(CHECK, summary).with_details(details)]
    }
}
