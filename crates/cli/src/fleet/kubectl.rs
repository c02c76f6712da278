//! `gnomon fleet --kubectl`: the cluster's nodes as hosts.
//!
//! Owns running `kubectl get nodes -o json [-l SELECTOR]` (the user's kubectl and
//! kubeconfig, found on PATH; bounded in time, killed by PID when it overruns) and
//! reading each node's name and InternalIP from its output. Must not talk to the API
//! server itself or to the nodes.

use super::hosts::HostSpec;
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a kubectl call may take.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// Run kubectl and return its nodes as hosts (`node → InternalIP`, port appended).
pub fn nodes(selector: Option<&str>, port: u16) -> Result<Vec<HostSpec>, String> {
    let mut command = Command::new("kubectl");
    command.args(["get", "nodes", "-o", "json"]);
    if let Some(selector) = selector {
        command.args(["-l", selector]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run kubectl: {error} (is it on PATH?)"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let error_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > KUBECTL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "kubectl did not finish within {} s",
                KUBECTL_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = reader.join().unwrap_or_default();
    let errors = error_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "kubectl get nodes failed ({status}): {}",
            errors.trim()
        ));
    }
    parse_nodes(&output, port)
}

/// Read `kubectl get nodes -o json`: each node's name and first InternalIP.
pub fn parse_nodes(json: &str, port: u16) -> Result<Vec<HostSpec>, String> {
    let document: Value = serde_json::from_str(json)
        .map_err(|error| format!("kubectl output is not JSON: {error}"))?;
    let items = document
        .get("items")
        .and_then(Value::as_array)
        .ok_or("kubectl output has no \"items\" list")?;
    let mut specs = Vec::new();
    for item in items {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let addresses = item
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let internal = addresses.iter().find_map(|address| {
            (address.get("type").and_then(Value::as_str) == Some("InternalIP"))
                .then(|| address.get("address").and_then(Value::as_str))
                .flatten()
        });
        let Some(ip) = internal else {
            eprintln!("gnomon fleet: node {name} has no InternalIP; skipped");
            continue;
        };
        let target = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        specs.push(HostSpec {
            target,
            node_name: Some(name.to_owned()),
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_internal_ips() {
        let json = r#"{"apiVersion":"v1","kind":"List","items":[
          {"metadata":{"name":"ip-172-31-44-125.ap-northeast-1.compute.internal"},
           "status":{"addresses":[{"type":"InternalIP","address":"172.31.44.125"},
                                  {"type":"Hostname","address":"ip-172-31-44-125"}]}},
          {"metadata":{"name":"v6-node"},
           "status":{"addresses":[{"type":"InternalIP","address":"fd00::5"}]}},
          {"metadata":{"name":"no-ip"},"status":{"addresses":[]}}]}"#;
        let specs = parse_nodes(json, 123).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].target, "172.31.44.125:123");
        assert_eq!(
            specs[0].node_name.as_deref(),
            Some("ip-172-31-44-125.ap-northeast-1.compute.internal")
        );
        assert_eq!(specs[1].target, "[fd00::5]:123");
        assert!(parse_nodes("{}", 123).is_err());
    }
}
