//! The operator's configurations from the seed notes and Debian's default chrony.conf
//! parse, with the expected values and warnings.

mod common;

use common::{parse, parse_with, MemFs};
use gnomon_config::{
    AccessRule, AddressFamily, Config, MakeStep, SourceKind, Subnet, Warning, COMMAND_LINE_ORIGIN,
};
use std::path::{Path, PathBuf};

const DEBIAN_DEFAULT: &str = include_str!("fixtures/debian-chrony.conf");

#[test]
fn amazon_time_sync_line() {
    let parsed = parse("server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\n").unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let [source] = parsed.config.sources.as_slice() else {
        panic!("one source expected");
    };
    assert_eq!(source.kind, SourceKind::Server);
    assert_eq!(source.name, "169.254.169.123");
    assert!(source.prefer && source.iburst);
    assert!(!source.burst && !source.noselect);
    assert_eq!((source.minpoll_log2_s, source.maxpoll_log2_s), (4, 4));
    assert_eq!(source.port, 123);
    assert_eq!(source.maxdelay_s, 3.0);
    assert_eq!(source.origin.to_string(), "/etc/gnomon/gnomon.conf:1");
}

#[test]
fn vpc_master_server() {
    let text = "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\nallow 172.31.0.0/16 \n";
    let parsed = parse(text).unwrap();
    assert!(parsed.warnings.is_empty());
    assert_eq!(
        parsed.config.access_rules,
        vec![AccessRule {
            allow: true,
            all: false,
            subnet: Subnet::Network {
                address: "172.31.0.0".parse().unwrap(),
                prefix_len: 16
            }
        }]
    );
    assert!(parsed.config.serves_clients());
}

#[test]
fn vpc_client() {
    let parsed = parse("server 172.31.44.125 prefer iburst minpoll 4 maxpoll 4").unwrap();
    assert_eq!(parsed.config.sources[0].name, "172.31.44.125");
    assert!(!parsed.config.serves_clients());
}

#[test]
fn seed_sed_edit_of_debian_default() {
    // The seed's script inserts the Amazon line before Debian's pool line.
    let edited = DEBIAN_DEFAULT.replace(
        "pool 2.debian.pool.ntp.org iburst",
        "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\npool 2.debian.pool.ntp.org iburst",
    );
    let parsed = parse_with(&MemFs::new(), &edited, "/etc/chrony/chrony.conf").unwrap();
    let names: Vec<&str> = parsed
        .config
        .sources
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["169.254.169.123", "2.debian.pool.ntp.org"]);
}

#[test]
fn debian_default_chrony_conf() {
    let fs = MemFs::new()
        .with("/etc/chrony/conf.d/local.conf", "allow 10.0.0.0/8\n")
        .with("/run/chrony-dhcp/eth0.sources", "server 10.0.0.2 iburst\n");
    let parsed = parse_with(&fs, DEBIAN_DEFAULT, "/etc/chrony/chrony.conf").unwrap();
    let config = &parsed.config;

    let pool = &config.sources[0];
    assert_eq!(pool.kind, SourceKind::Pool);
    assert_eq!(pool.name, "2.debian.pool.ntp.org");
    assert!(pool.iburst);
    assert_eq!(pool.maxsources, 4);
    assert!(!pool.from_sourcedir);
    let dhcp = &config.sources[1];
    assert_eq!(dhcp.name, "10.0.0.2");
    assert!(dhcp.from_sourcedir);
    assert_eq!(dhcp.origin.to_string(), "/run/chrony-dhcp/eth0.sources:1");

    assert_eq!(
        config.source_dirs,
        vec![
            vec![PathBuf::from("/run/chrony-dhcp")],
            vec![PathBuf::from("/etc/chrony/sources.d")]
        ]
    );
    assert_eq!(config.access_rules.len(), 1, "confdir file was included");
    assert_eq!(
        config.drift_file.as_deref(),
        Some(Path::new("/var/lib/chrony/chrony.drift"))
    );
    assert_eq!(
        config.log_dir.as_deref(),
        Some(Path::new("/var/log/chrony"))
    );
    assert!(config.rtc_sync);
    assert_eq!(
        config.makestep,
        Some(MakeStep {
            threshold_s: 1.0,
            limit_updates: 3
        })
    );
    assert_eq!(config.leap_sec_tz.as_deref(), Some("right/UTC"));
    assert_eq!(
        config.logs,
        Default::default(),
        "the log line is commented out"
    );

    let skipped: Vec<(usize, &str)> = parsed
        .warnings
        .iter()
        .map(|w: &Warning| (w.line, w.directive.as_str()))
        .collect();
    assert_eq!(skipped, [(18, "keyfile"), (25, "ntsdumpdir")]);
    // Line 34, `maxupdateskew 100.0`, acts (it was skipped before issue 18's tuning
    // directives).
    assert_eq!(config.tuning.max_update_skew_ppm, 100.0);
    for warning in &parsed.warnings {
        assert_eq!(warning.file, "/etc/chrony/chrony.conf");
        assert!(warning.message.contains("skipped"), "{warning}");
    }
}

#[test]
fn command_line_lines_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gnomon.conf");
    std::fs::write(&file, "server 172.31.44.125 iburst\n").unwrap();
    let extra = vec!["allow 172.31.0.0/16".to_string(), "rtcsync".to_string()];
    let parsed = Config::load(&file, &extra).unwrap();
    assert!(parsed.config.rtc_sync);
    assert_eq!(parsed.config.access_rules.len(), 1);

    let err = Config::load(&file, &["rtcsync now".to_string()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{COMMAND_LINE_ORIGIN}:1: unexpected argument \"now\" in: rtcsync now — expected \
             `rtcsync` with no argument"
        )
    );
}

#[test]
fn address_family_for_names() {
    let mut config = parse("server a.example ipv6\nserver b.example\n")
        .unwrap()
        .config;
    config.restrict_address_family(AddressFamily::Ipv4);
    let families: Vec<AddressFamily> = config
        .sources
        .iter()
        .map(|s| s.effective_family(config.address_family))
        .collect();
    assert_eq!(families, [AddressFamily::Ipv6, AddressFamily::Ipv4]);
}
