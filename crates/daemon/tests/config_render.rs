//! The effective configuration (`gnomond -p`): every setting explicit, and the text
//! parses back to the same configuration.

mod common;

use common::{parse, parse_with, MemFs};
use gnomon_config::{render_effective, Config};

const DEBIAN_DEFAULT: &str = include_str!("fixtures/debian-chrony.conf");

/// Origins differ between the original and the re-parsed text; compare the rest.
fn without_origins(mut config: Config) -> Config {
    for source in &mut config.sources {
        source.origin.origin.clear();
        source.origin.line_number = 0;
    }
    config
}

fn assert_round_trip(config: &Config) {
    let text = render_effective(config);
    let reparsed = parse_with(&MemFs::new(), &text, "effective")
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .config;
    assert_eq!(
        without_origins(reparsed),
        without_origins(config.clone()),
        "{text}"
    );
}

#[test]
fn defaults_are_explicit() {
    let text = render_effective(&Config::default());
    for expected in [
        "maxslewrate 83333.33333333333\n",
        "minsources 1\n",
        "maxdistance 3\n",
        "port 123\n",
        "bindcmdaddress /run/gnomon/gnomond.sock\n",
        "pidfile /run/gnomon/gnomond.pid\n",
        "server_threads 0\n",
        "clientloglimit 524288\n",
        "# makestep: not set, the clock is never stepped\n",
        "# no client is served (no allow rule, or port 0)\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert_round_trip(&Config::default());
}

#[test]
fn clientloglimit_is_kept_and_rendered() {
    let config = parse("allow 10.0.0.0/8\nclientloglimit 10000000\n")
        .unwrap()
        .config;
    assert_eq!(config.client_log_limit_bytes, 10_000_000);
    assert!(render_effective(&config).contains("clientloglimit 10000000\n"));
    assert_round_trip(&config);
}

#[test]
fn estimator_is_kept_and_rendered() {
    let config = parse("server 192.0.2.1\nestimator RunsTest\n")
        .unwrap()
        .config;
    assert_eq!(
        config.estimator,
        gnomon_core::source_estimator::EstimatorKind::RunsTest
    );
    assert!(render_effective(&config).contains("\nestimator runstest\n"));
    assert_round_trip(&config);
    let config = parse("server 192.0.2.1\nestimator kalman\n")
        .unwrap()
        .config;
    assert_eq!(
        config.estimator,
        gnomon_core::source_estimator::EstimatorKind::Kalman
    );
    assert!(render_effective(&config).contains("\nestimator kalman\n"));
    assert_round_trip(&config);
    assert!(render_effective(&Config::default()).contains("\nestimator crossvalidated\n"));
}

#[test]
fn noclientlog_is_kept_and_rendered() {
    let config = parse("allow 10.0.0.0/8\nNoClientLog\n").unwrap().config;
    assert!(config.no_client_log);
    assert!(render_effective(&config).contains("\nnoclientlog\n"));
    assert_round_trip(&config);
    let default = render_effective(&Config::default());
    assert!(
        default.contains("# noclientlog: off, clients are logged\n"),
        "{default}"
    );
}

#[test]
fn seed_configuration() {
    let config =
        parse("server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\nallow 172.31.0.0/16\n")
            .unwrap()
            .config;
    let text = render_effective(&config);
    assert!(text.contains(
        "# from /etc/gnomon/gnomon.conf:1\nserver 169.254.169.123 port 123 minpoll 4 maxpoll 4 \
         maxdelay 3 maxdelayratio 0 maxdelaydevratio 10 minstratum 0 polltarget 8 offset 0 \
         iburst prefer\n"
    ));
    assert!(text.contains("\nallow 172.31.0.0/16\n"));
    assert_round_trip(&config);
}

#[test]
fn debian_default_round_trips() {
    let fs = MemFs::new().with("/run/chrony-dhcp/eth0.sources", "server 10.0.0.2\n");
    let config = parse_with(&fs, DEBIAN_DEFAULT, "/etc/chrony/chrony.conf")
        .unwrap()
        .config;
    let text = render_effective(&config);
    assert!(text.contains("sourcedir /run/chrony-dhcp\n"));
    assert!(text.contains("#   read from /run/chrony-dhcp/eth0.sources:1: server 10.0.0.2 "));
    let reparsed = parse_with(&fs, &text, "effective").unwrap().config;
    assert_eq!(without_origins(reparsed), without_origins(config));
}

#[test]
fn rich_configuration_round_trips() {
    let config = parse(
        "pool pool.example iburst maxsources 8 ipv6 xleave\n\
         server a.example noselect trust require minsamples 4 offset 0.25 polltarget 20\n\
         makestep 0.1 -1\nmaxchange 1000 1 2\nmaxslewrate 500\nminsources 2\n\
         maxdistance 1.5\ndriftfile /var/lib/gnomon/drift interval 60\nrtcsync\n\
         local stratum 8 orphan distance 0.1\nleapsectz right/UTC\n\
         leapseclist /usr/share/zoneinfo/leap-seconds.list\nlogdir /var/log/gnomon\n\
         log rawmeasurements statistics\npidfile /\nuser _gnomon\nbindcmdaddress /\n\
         bindcmdaddress ::1\ncmdport 0\nport 11123\nbindaddress 172.31.44.125\n\
         bindaddress fe80::1\nallow\nallow all 10/8\ndeny 10.1.2\nallow ntp.example.net\n\
         deny 2001:db8::/32\nratelimit interval 1 burst 16\nserver_threads 2\n",
    )
    .unwrap()
    .config;
    assert_round_trip(&config);
}

#[test]
fn output_has_no_trailing_comments() {
    let config = parse("server a.example iburst\nallow\n").unwrap().config;
    for line in render_effective(&config).lines() {
        let directive_line = !line.trim_start().starts_with('#');
        assert!(!(directive_line && line.contains('#')), "{line}");
    }
}
