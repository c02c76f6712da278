//! What doctor found: findings, their severity, and the report's two forms.
//!
//! Owns the [`Finding`] shape, the `[OK]`/`[INFO]`/`[WARN]`/`[FAIL]` text layout, the
//! `--json` form (a contract for scripts: add fields, never rename them) and the exit
//! code derived from the worst finding. It must not look at the host: checks do.

use serde::Serialize;

/// How bad a finding is. Ordered: the worst finding decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A fact worth knowing that needs no action (or a check that did not apply).
    Info,
    /// Checked and fine.
    Ok,
    /// Works now, but is fragile or not what is recommended.
    Warn,
    /// Time on this host is wrong or will be (e.g. daemons fighting over the clock).
    Fail,
}

impl Severity {
    /// The label printed at the start of a line.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "[INFO]",
            Severity::Ok => "[OK]",
            Severity::Warn => "[WARN]",
            Severity::Fail => "[FAIL]",
        }
    }

    /// The exit code when this is the worst finding: 0 OK (or only INFO), 1 WARN, 2 FAIL
    /// (the monitoring-plugin convention, so doctor can run as a health check).
    pub fn exit_code(self) -> i32 {
        match self {
            Severity::Info | Severity::Ok => 0,
            Severity::Warn => 1,
            Severity::Fail => 2,
        }
    }
}

/// Exit code when doctor itself could not run (e.g. `--root` is not a directory).
pub const EXIT_CANNOT_RUN: i32 = 3;

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Which check: `daemons`, `timesyncd`, `kernel`, `clocksource`, `config`,
    /// `local-daemon`, `probe`.
    pub check: &'static str,
    pub severity: Severity,
    /// What was found, one line.
    pub summary: String,
    /// What to do about it, one line; empty when nothing needs doing.
    pub remedy: String,
    /// Supporting lines (parser messages, processes seen), possibly empty.
    pub details: Vec<String>,
}

impl Finding {
    pub fn new(check: &'static str, severity: Severity, summary: impl Into<String>) -> Finding {
        Finding {
            check,
            severity,
            summary: summary.into(),
            remedy: String::new(),
            details: Vec::new(),
        }
    }

    pub fn ok(check: &'static str, summary: impl Into<String>) -> Finding {
        Finding::new(check, Severity::Ok, summary)
    }

    pub fn info(check: &'static str, summary: impl Into<String>) -> Finding {
        Finding::new(check, Severity::Info, summary)
    }

    pub fn warn(check: &'static str, summary: impl Into<String>, remedy: &str) -> Finding {
        Finding::new(check, Severity::Warn, summary).with_remedy(remedy)
    }

    pub fn fail(check: &'static str, summary: impl Into<String>, remedy: &str) -> Finding {
        Finding::new(check, Severity::Fail, summary).with_remedy(remedy)
    }

    pub fn with_remedy(mut self, remedy: impl Into<String>) -> Finding {
        self.remedy = remedy.into();
        self
    }

    pub fn with_details(mut self, details: Vec<String>) -> Finding {
        self.details = details;
        self
    }
}

/// Every finding of one run, in check order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The root the host was read from (`/` for this host).
    pub root: String,
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst severity (Ok for an empty report).
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|finding| finding.severity)
            .max()
            .unwrap_or(Severity::Ok)
            .max(Severity::Ok)
    }

    pub fn exit_code(&self) -> i32 {
        self.worst().exit_code()
    }

    /// The human layout: one `[LABEL] check: summary` line per finding, details and
    /// the remedy indented below it, and a closing count.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for finding in &self.findings {
            text.push_str(&format!(
                "{:<6} {}: {}\n",
                finding.severity.label(),
                finding.check,
                finding.summary
            ));
            for detail in &finding.details {
                text.push_str(&format!("       {detail}\n"));
            }
            if !finding.remedy.is_empty() {
                text.push_str(&format!("       remedy: {}\n", finding.remedy));
            }
        }
        let count = |severity| {
            self.findings
                .iter()
                .filter(|finding| finding.severity == severity)
                .count()
        };
        text.push_str(&format!(
            "doctor: {} ok, {} warn, {} fail ({} info); worst: {}\n",
            count(Severity::Ok),
            count(Severity::Warn),
            count(Severity::Fail),
            count(Severity::Info),
            self.worst().label()
        ));
        text
    }

    /// The `--json` form: `{"root", "worst", "exit_code", "findings": [...]}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            root: &'a str,
            worst: Severity,
            exit_code: i32,
            findings: &'a [Finding],
        }
        serde_json::to_string_pretty(&Json {
            root: &self.root,
            worst: self.worst(),
            exit_code: self.exit_code(),
            findings: &self.findings,
        })
        .expect("findings serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_finding_decides_the_exit_code() {
        let mut report = Report::default();
        assert_eq!(report.exit_code(), 0);
        report.findings.push(Finding::info("kernel", "fact"));
        assert_eq!(report.exit_code(), 0);
        report
            .findings
            .push(Finding::warn("config", "no makestep", "add it"));
        assert_eq!(report.exit_code(), 1);
        report.findings.push(Finding::ok("kernel", "fine"));
        assert_eq!(report.exit_code(), 1);
        report
            .findings
            .push(Finding::fail("daemons", "two", "remove one"));
        assert_eq!(report.exit_code(), 2);
        let text = report.to_text();
        assert!(text.contains("[WARN] config: no makestep\n       remedy: add it\n"));
        assert!(text.ends_with("doctor: 1 ok, 1 warn, 1 fail (1 info); worst: [FAIL]\n"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["worst"], "fail");
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["findings"][3]["check"], "daemons");
    }
}
