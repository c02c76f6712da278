//! The `metrics` and `clockbound` directives (gnomon only): parsed, defaulted, rendered,
//! and refused with a clear error when malformed.

mod common;

use common::{error_of, parse};
use gnomon_config::{render_effective, DEFAULT_CLOCKBOUND_MAX_DRIFT_PPM};

#[test]
fn both_are_off_by_default() {
    let config = parse("server 169.254.169.123 iburst\n").unwrap().config;
    assert_eq!(config.metrics_address, None);
    assert_eq!(config.clock_bound, None);
}

#[test]
fn metrics_takes_an_address_and_port() {
    let config = parse("metrics 127.0.0.1:9123\n").unwrap().config;
    assert_eq!(
        config.metrics_address,
        Some("127.0.0.1:9123".parse().unwrap())
    );
    let config = parse("metrics [::1]:9123\n").unwrap().config;
    assert_eq!(config.metrics_address, Some("[::1]:9123".parse().unwrap()));
    assert!(render_effective(&config).contains("metrics [::1]:9123"));
    let error = error_of("metrics 127.0.0.1\n");
    assert!(
        error.contains(":1:") && error.contains("metrics"),
        "{error}"
    );
    let error = error_of("metrics\n");
    assert!(error.contains("metrics ADDRESS:PORT"), "{error}");
}

#[test]
fn clockbound_takes_a_file_and_an_optional_maxdrift() {
    let config = parse("clockbound /run/gnomon/clockbound\n").unwrap().config;
    let bound = config.clock_bound.unwrap();
    assert_eq!(bound.path.to_str(), Some("/run/gnomon/clockbound"));
    assert_eq!(bound.max_drift_ppm, DEFAULT_CLOCKBOUND_MAX_DRIFT_PPM);
    let config = parse("clockbound /tmp/cb maxdrift 50\n").unwrap().config;
    assert_eq!(config.clock_bound.as_ref().unwrap().max_drift_ppm, 50.0);
    assert!(render_effective(&config).contains("clockbound /tmp/cb maxdrift 50"));
    for bad in [
        "clockbound\n",
        "clockbound /tmp/cb maxdrift\n",
        "clockbound /tmp/cb maxdrift -1\n",
        "clockbound /tmp/cb speed 3\n",
    ] {
        let error = error_of(bad);
        assert!(error.contains("clockbound"), "{bad:?}: {error}");
    }
}
