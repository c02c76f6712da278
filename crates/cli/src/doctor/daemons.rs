//! Which time daemons are on the host: installed, enabled, running, and whether more
//! than one of them steers the clock.
//!
//! Owns the table of known daemons (packages, binary paths, systemd units, process
//! names), the evidence gathering (dpkg-query or rpm when a package database exists,
//! else binary paths; `systemctl show` when systemd runs, plus a `/proc` scan always)
//! and the conflict findings. It must not start, stop or change any service: every
//! command it runs is a query.

use super::finding::Finding;
use super::host::{Host, Process};
pub use super::known_daemons::{DaemonKind, KNOWN_DAEMONS};

const CHECK: &str = "daemons";

/// A systemd unit's state from `systemctl show`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitState {
    pub id: String,
    /// enabled, disabled, masked, static, ... (empty when the unit does not exist).
    pub unit_file_state: String,
    /// active, inactive, failed, ...
    pub active_state: String,
    pub sub_state: String,
    /// `no` when a start condition failed (timesyncd beside ntpd).
    pub condition_result: String,
}

impl UnitState {
    pub fn enabled(&self) -> bool {
        matches!(
            self.unit_file_state.as_str(),
            "enabled" | "enabled-runtime" | "alias" | "generated"
        )
    }

    pub fn active(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }

    fn describe(&self) -> String {
        format!(
            "unit {} {}, {} ({})",
            self.id, self.unit_file_state, self.active_state, self.sub_state
        )
    }
}

/// What doctor learnt about one known daemon.
#[derive(Debug)]
pub struct DaemonStatus {
    pub kind: &'static DaemonKind,
    /// How we know it is installed: "package chrony 4.3-2" or a binary path.
    pub installed: Option<String>,
    /// Its systemd units that exist (LoadState loaded).
    pub units: Vec<UnitState>,
    /// Its running processes.
    pub processes: Vec<Process>,
}

impl DaemonStatus {
    pub fn enabled(&self) -> bool {
        self.units.iter().any(UnitState::enabled)
    }

    pub fn running(&self) -> bool {
        !self.processes.is_empty() || self.units.iter().any(UnitState::active)
    }

    /// Running processes that adjust the system clock (not `chronyd -x`).
    pub fn steering_processes(&self) -> Vec<&Process> {
        if !self.kind.steers_system_clock {
            return Vec::new();
        }
        self.processes
            .iter()
            .filter(|process| {
                self.kind
                    .no_clock_flag
                    .is_none_or(|flag| !process.has_flag(flag))
            })
            .collect()
    }

    /// True if it adjusts the system clock now (a steering process, or an active
    /// unit when /proc showed none).
    pub fn steers_now(&self) -> bool {
        self.kind.steers_system_clock
            && (!self.steering_processes().is_empty()
                || (self.processes.is_empty() && self.units.iter().any(UnitState::active)))
    }

    pub fn present(&self) -> bool {
        self.installed.is_some() || !self.units.is_empty() || !self.processes.is_empty()
    }

    fn pids(&self) -> String {
        self.processes
            .iter()
            .map(|process| process.pid.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn label(&self) -> String {
        match self.processes.len() {
            0 => self.kind.name.to_string(),
            _ => format!("{} (pid {})", self.kind.name, self.pids()),
        }
    }
}

/// Look for every known daemon.
pub fn survey(host: &Host) -> Vec<DaemonStatus> {
    let packages = installed_packages(host);
    let units = unit_states(host);
    let processes = host.processes();
    let mut statuses: Vec<DaemonStatus> = KNOWN_DAEMONS
        .iter()
        .map(|kind| {
            let by_package = packages.as_ref().and_then(|found| {
                kind.packages.iter().find_map(|name| {
                    found
                        .iter()
                        .find(|(package, _)| package == name)
                        .map(|(package, version)| format!("package {package} {version}"))
                })
            });
            let by_binary = kind
                .binaries
                .iter()
                .find(|path| host.is_executable(path))
                .map(|path| path.to_string());
            DaemonStatus {
                kind,
                installed: by_package.or(by_binary),
                units: {
                    // An alias (chronyd.service for chrony.service) shows the same unit.
                    let mut mine: Vec<UnitState> = units
                        .iter()
                        .filter(|(unit, _)| kind.units.contains(&unit.as_str()))
                        .map(|(_, state)| state.clone())
                        .collect();
                    mine.dedup_by(|a, b| a.id == b.id);
                    mine
                },
                processes: Vec::new(),
            }
        })
        .collect();
    // ntpsec installs /usr/sbin/ntpd too: the binary alone is no evidence of ntp then.
    let ntpsec_packaged = statuses.iter().any(|s| {
        s.kind.name == "ntpsec"
            && s.installed
                .as_deref()
                .is_some_and(|i| i.starts_with("package"))
    });
    for status in &mut statuses {
        if status.kind.name == "ntpd"
            && ntpsec_packaged
            && status.installed.as_deref() == Some("/usr/sbin/ntpd")
        {
            status.installed = None;
        }
    }
    // Each process goes to the first daemon it can be: one installed, else the first.
    for process in processes {
        let program = process.program();
        let candidates: Vec<usize> = statuses
            .iter()
            .enumerate()
            .filter(|(_, status)| {
                status.kind.programs.contains(&program.as_str())
                    || status.kind.programs.contains(&process.comm.as_str())
            })
            .map(|(index, _)| index)
            .collect();
        let chosen = candidates
            .iter()
            .copied()
            .find(|&index| statuses[index].installed.is_some())
            .or(candidates.first().copied());
        if let Some(index) = chosen {
            statuses[index].processes.push(process);
        }
    }
    statuses
}

/// Installed packages as (name, version), from dpkg-query or rpm; None when the host
/// has no package database doctor can ask.
fn installed_packages(host: &Host) -> Option<Vec<(String, String)>> {
    let names: Vec<&str> = {
        let mut names: Vec<&str> = KNOWN_DAEMONS
            .iter()
            .flat_map(|kind| kind.packages.iter().copied())
            .collect();
        names.dedup();
        names
    };
    if host.exists("/var/lib/dpkg/status") {
        let mut args = vec!["-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n"];
        args.extend(&names);
        // dpkg-query exits 1 when some names are unknown; the known ones are printed.
        if let Some(output) = host.run("dpkg-query", "dpkg-query", &args) {
            return Some(
                output
                    .stdout
                    .lines()
                    .filter_map(|line| {
                        let mut fields = line.split('\t');
                        let (name, status, version) =
                            (fields.next()?, fields.next()?, fields.next()?);
                        status
                            .starts_with("ii")
                            .then(|| (name.to_string(), version.to_string()))
                    })
                    .collect(),
            );
        }
    }
    if host.exists("/var/lib/rpm") {
        let mut args = vec!["-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"];
        args.extend(&names);
        if let Some(output) = host.run("rpm", "rpm", &args) {
            return Some(
                output
                    .stdout
                    .lines()
                    .filter_map(|line| {
                        let (name, version) = line.split_once('\t')?;
                        Some((name.to_string(), version.to_string()))
                    })
                    .collect(),
            );
        }
    }
    None
}

/// Unit states from one `systemctl show`, when systemd is the running init
/// (`/run/systemd/system` exists, as sd_booted(3) tests). Units that do not exist are
/// left out.
fn unit_states(host: &Host) -> Vec<(String, UnitState)> {
    if !host.exists("/run/systemd/system") {
        return Vec::new();
    }
    let units: Vec<&str> = KNOWN_DAEMONS
        .iter()
        .flat_map(|kind| kind.units.iter().copied())
        .collect();
    let mut args = vec![
        "show",
        "--property=Id,LoadState,UnitFileState,ActiveState,SubState,ConditionResult",
    ];
    args.extend(&units);
    let Some(output) = host.run("systemctl-show", "systemctl", &args) else {
        return Vec::new();
    };
    // One block per unit, in argument order, separated by blank lines.
    output
        .stdout
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .zip(units)
        .filter_map(|(block, unit)| {
            let mut state = UnitState::default();
            let mut loaded = false;
            for line in block.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                let value = value.trim().to_string();
                match key.trim() {
                    "Id" => state.id = value,
                    "LoadState" => loaded = value == "loaded" || value == "masked",
                    "UnitFileState" => state.unit_file_state = value,
                    "ActiveState" => state.active_state = value,
                    "SubState" => state.sub_state = value,
                    "ConditionResult" => state.condition_result = value,
                    _ => {}
                }
            }
            if state.id.is_empty() {
                state.id = unit.to_string();
            }
            loaded.then(|| (unit.to_string(), state))
        })
        .collect()
}

/// The findings about daemons: one line per daemon present, then the conflict verdicts.
pub fn findings(statuses: &[DaemonStatus], systemd: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    for status in statuses.iter().filter(|status| status.present()) {
        let mut facts = Vec::new();
        facts.push(match &status.installed {
            Some(evidence) => format!("installed ({evidence})"),
            None => "not installed".to_string(),
        });
        for unit in &status.units {
            facts.push(unit.describe());
        }
        let mut details = Vec::new();
        for process in &status.processes {
            let quiet = status
                .kind
                .no_clock_flag
                .filter(|flag| process.has_flag(flag))
                .map(|flag| format!(" [{flag}: leaves the clock alone]"))
                .unwrap_or_default();
            details.push(format!(
                "pid {}: {}{quiet}",
                process.pid,
                process.cmdline.join(" ")
            ));
        }
        if status.running() {
            facts.push(format!(
                "running{}",
                match status.processes.len() {
                    0 => String::new(),
                    n => format!(" ({n} process{})", if n == 1 { "" } else { "es" }),
                }
            ));
        } else {
            facts.push("not running".to_string());
        }
        findings.push(
            Finding::info(CHECK, format!("{}: {}", status.kind.name, facts.join(", ")))
                .with_details(details),
        );
    }
    let absent: Vec<&str> = statuses
        .iter()
        .filter(|status| !status.present())
        .map(|status| status.kind.name)
        .collect();
    if !absent.is_empty() {
        findings.push(Finding::info(
            CHECK,
            format!("not found: {}", absent.join(", ")),
        ));
    }
    findings.extend(conflicts(statuses, systemd));
    findings
}

fn conflicts(statuses: &[DaemonStatus], systemd: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let steering: Vec<&DaemonStatus> = statuses.iter().filter(|s| s.steers_now()).collect();
    let names = |list: &[&DaemonStatus]| {
        list.iter()
            .map(|status| status.label())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match steering.len() {
        0 => findings.push(Finding::warn(
            CHECK,
            "no running daemon steers the system clock: it drifts freely",
            "enable one time daemon: systemctl enable --now gnomond (or install the gnomon package)",
        )),
        1 => findings.push(Finding::ok(
            CHECK,
            format!("one daemon steers the clock: {}", names(&steering)),
        )),
        n => {
            let remove: Vec<&str> = steering.iter().skip(1).map(|s| s.kind.remove_hint).collect();
            findings.push(Finding::fail(
                CHECK,
                format!("{n} daemons steer the clock at once and fight over it: {}", names(&steering)),
                &format!(
                    "keep exactly one; stop, disable and remove the others ({}), or install the \
                     gnomon package, which conflicts with them all",
                    remove.join("; ")
                ),
            ));
        }
    }
    // Enabled at boot, even if not running now: the seed's "ntp came back after reboot".
    let at_boot: Vec<&DaemonStatus> = statuses
        .iter()
        .filter(|s| s.kind.steers_system_clock && s.enabled() && !skips_itself(s))
        .collect();
    if systemd && at_boot.len() > 1 {
        findings.push(Finding::fail(
            CHECK,
            format!(
                "{} clock-steering daemons are enabled and will all start at boot: {}",
                at_boot.len(),
                at_boot
                    .iter()
                    .map(|s| s.kind.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "disable and mask all but one: systemctl disable --now UNIT && systemctl mask UNIT",
        ));
    }
    // Installed but idle daemons come back with upgrades, reboots and dependencies.
    let keep = steering.first().map(|status| status.kind.name);
    let idle: Vec<&str> = statuses
        .iter()
        .filter(|s| {
            s.kind.steers_system_clock
                && s.installed.is_some()
                && Some(s.kind.name) != keep
                && !s.steers_now()
                && s.kind.name != "systemd-timesyncd"
        })
        .map(|s| s.kind.name)
        .collect();
    if !idle.is_empty() && !steering.is_empty() {
        findings.push(Finding::warn(
            CHECK,
            format!(
                "also installed, not running now: {} (an upgrade, a reboot or a dependency \
                 can start it again)",
                idle.join(", ")
            ),
            "remove the packages of the daemons you do not use, not just their services",
        ));
    }
    findings
}

/// True when the unit's start condition failed (timesyncd beside /usr/sbin/ntpd).
fn skips_itself(status: &DaemonStatus) -> bool {
    status
        .units
        .iter()
        .any(|unit| unit.condition_result == "no")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::finding::Severity;

    fn status(name: &str, processes: Vec<Process>) -> DaemonStatus {
        DaemonStatus {
            kind: KNOWN_DAEMONS.iter().find(|kind| kind.name == name).unwrap(),
            installed: Some("test".into()),
            units: Vec::new(),
            processes,
        }
    }

    fn process(pid: u32, cmdline: &[&str]) -> Process {
        Process {
            pid,
            comm: "x".into(),
            cmdline: cmdline.iter().map(|arg| arg.to_string()).collect(),
        }
    }

    #[test]
    fn two_running_daemons_are_a_fail_that_names_them() {
        let statuses = vec![
            status("ntpd", vec![process(2785, &["/usr/sbin/ntpd", "-g"])]),
            status("chronyd", vec![process(9, &["/usr/sbin/chronyd"])]),
        ];
        let findings = findings(&statuses, false);
        let fail = findings
            .iter()
            .find(|f| f.severity == Severity::Fail)
            .unwrap();
        assert!(fail.summary.contains("ntpd (pid 2785)"), "{}", fail.summary);
        assert!(fail.summary.contains("chronyd (pid 9)"), "{}", fail.summary);
    }

    #[test]
    fn chronyd_with_x_does_not_steer() {
        let statuses = vec![
            status("gnomond", vec![process(5, &["gnomond"])]),
            status(
                "chronyd",
                vec![process(9, &["/usr/sbin/chronyd", "-x", "-d"])],
            ),
        ];
        let findings = findings(&statuses, false);
        assert!(findings.iter().all(|f| f.severity != Severity::Fail));
        assert!(findings
            .iter()
            .any(|f| f.severity == Severity::Ok && f.summary.contains("gnomond (pid 5)")));
    }
}
