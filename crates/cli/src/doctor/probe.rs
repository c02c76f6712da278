//! Cloud hints, only with `--probe`: Amazon Time Sync reachability and the ENA PTP
//! hardware clock.
//!
//! Owns the one network exchange doctor may make (a single NTP request to the Amazon
//! Time Sync link-local address, through `gnomon query`'s measurement code) and the PHC
//! device listing under `/sys/class/ptp`. It must only run when the operator asked with
//! `--probe`; tests never pass it.

use super::finding::Finding;
use super::host::Host;
use crate::address::{AddressFamily, ServerName};
use crate::measure::{query_server, QueryOptions};
use std::time::Duration;

const CHECK: &str = "probe";
const AMAZON_TIME_SYNC: &str = "169.254.169.123";

pub fn findings(host: &Host) -> Vec<Finding> {
    let mut findings = Vec::new();
    let options = QueryOptions {
        requests: 1,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        family: AddressFamily::Any,
    };
    match ServerName::parse(AMAZON_TIME_SYNC, 123) {
        Ok(name) => match query_server(&name, &options).outcome {
            Ok(sample) => findings.push(Finding::ok(
                CHECK,
                format!(
                    "Amazon Time Sync ({AMAZON_TIME_SYNC}) answers: offset {:+.6} s, delay {:.6} s",
                    sample.offset_s, sample.delay_s
                ),
            )),
            Err(failure) => findings.push(Finding::info(
                CHECK,
                format!("Amazon Time Sync ({AMAZON_TIME_SYNC}) did not answer ({failure}): not on EC2, or blocked"),
            )),
        },
        Err(message) => findings.push(Finding::info(CHECK, message)),
    }
    let mut ena_clocks = Vec::new();
    for device in host.list_dir("/sys/class/ptp") {
        let name = host
            .read_line(format!("/sys/class/ptp/{device}/clock_name"))
            .unwrap_or_default();
        if name.to_ascii_lowercase().contains("ena") {
            ena_clocks.push(format!("/dev/{device} ({name})"));
        }
    }
    if ena_clocks.is_empty() {
        findings.push(Finding::info(
            CHECK,
            "no ENA PTP hardware clock (on EC2 Nitro instances it appears with ENA driver 2.10+ and phc_enable=1)",
        ));
    } else {
        findings.push(Finding::ok(
            CHECK,
            format!("ENA PTP hardware clock: {}", ena_clocks.join(", ")),
        ));
    }
    findings
}
