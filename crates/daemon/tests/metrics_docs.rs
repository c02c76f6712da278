//! docs/metrics.md and its examples agree with what gnomond exports: the alerting rules
//! pass `promtool check rules`, and every gnomon metric that the rules or the Grafana
//! dashboard use is documented. (That every exported metric is documented is checked
//! against a live scrape in metrics_prometheus.rs.)

use std::collections::BTreeSet;
use std::process::Command;

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{full}: {error}"))
}

/// `gnomon_...` names in `text`, with `_total`/`_bucket` kept as written.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (index, _) in text.match_indices("gnomon_") {
        let name: String = text[index..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

#[test]
fn alerting_rules_pass_promtool() {
    let path = format!(
        "{}/../../docs/examples/prometheus/gnomon-alerts.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = Command::new("promtool")
        .args(["check", "rules", &path])
        .output()
        .expect("promtool (Debian package `prometheus`; scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn rules_and_dashboard_use_only_documented_metrics() {
    let docs = repo_file("docs/metrics.md");
    let documented = metric_names(&docs);
    let rules = repo_file("docs/examples/prometheus/gnomon-alerts.yml");
    let dashboard = repo_file("docs/examples/grafana/gnomon-dashboard.json");
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 8));
    for (what, text) in [("rules", &rules), ("dashboard", &dashboard)] {
        let used = metric_names(text);
        assert!(used.len() >= 5, "{what}: {used:?}");
        let missing: Vec<_> = used.difference(&documented).collect();
        assert!(missing.is_empty(), "{what} uses undocumented {missing:?}");
    }
}
