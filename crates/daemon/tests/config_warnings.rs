//! Known-but-unsupported directives and options: a warning each, the line skipped,
//! parsing goes on. Also chrony's case rules.

mod common;

use common::parse;
use gnomon_config::directives::{OBSOLETE, UNSUPPORTED};
use gnomon_config::{AddressFamily, Warning};

const F: &str = "/etc/gnomon/gnomon.conf";

fn warnings_of(text: &str) -> Vec<Warning> {
    parse(text).unwrap().warnings
}

#[test]
fn every_unsupported_chrony_directive_warns_and_is_skipped() {
    for directive in UNSUPPORTED.iter().chain(OBSOLETE) {
        let text = format!("{directive} whatever 1 2\nrtcsync\n");
        let parsed = parse(&text).unwrap_or_else(|e| panic!("{directive}: {e}"));
        assert!(
            parsed.config.rtc_sync,
            "parsing continued after {directive}"
        );
        let [warning] = parsed.warnings.as_slice() else {
            panic!("{directive}: {:?}", parsed.warnings);
        };
        assert_eq!(
            (
                warning.file.as_str(),
                warning.line,
                warning.directive.as_str()
            ),
            (F, 1, *directive)
        );
        assert!(warning.message.ends_with("line skipped"), "{warning}");
    }
}

#[test]
fn peer_and_refclock_say_why() {
    let warnings = warnings_of("peer 10.0.0.1 iburst\nrefclock PHC /dev/ptp0 poll 2\n");
    assert_eq!(
        warnings[0].to_string(),
        format!(
            "{F}:1: peer: symmetric peers are not supported by gnomon yet; use `server` on both \
             hosts; line skipped"
        )
    );
    assert_eq!(warnings[1].directive, "refclock");
    assert!(warnings[1].message.contains("reference clocks"));
}

#[test]
fn authenticated_sources_are_skipped_not_downgraded() {
    let parsed = parse("server time.cloudflare.com iburst nts\nserver a.example key 10\n").unwrap();
    assert!(parsed.config.sources.is_empty());
    assert_eq!(
        parsed.warnings[0].to_string(),
        format!(
            "{F}:1: server: NTS authentication is not supported by gnomon yet; source \
             time.cloudflare.com skipped (it is never used unauthenticated)"
        )
    );
    assert!(parsed.warnings[1]
        .message
        .starts_with("symmetric-key authentication"));
}

#[test]
fn options_kept_but_unused_are_listed() {
    let parsed = parse(
        "server a.example xleave presend 9 filter 4 asymmetry 0.1 auto_offline offline iburst",
    )
    .unwrap();
    let source = &parsed.config.sources[0];
    assert!(source.iburst);
    assert!(source.offline, "offline is used: the source starts offline");
    assert_eq!(
        source.kept_options,
        [
            "xleave",
            "presend 9",
            "filter 4",
            "asymmetry 0.1",
            "auto_offline"
        ]
    );
    assert_eq!(
        parsed.warnings[0].message,
        "option(s) xleave, presend 9, filter 4, asymmetry 0.1, auto_offline kept but not used \
         by gnomon yet"
    );
}

#[test]
fn engine_options_are_applied() {
    let parsed = parse(
        "server a.example burst noselect trust require maxdelayratio 2 maxdelaydevratio 5 \
         minstratum 3 polltarget 12 offset -0.0005 minsamples 4 maxsamples 32 port 1123 ipv4",
    )
    .unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let s = &parsed.config.sources[0];
    assert!(s.burst && s.noselect && s.trust && s.require);
    assert_eq!(s.maxdelayratio, Some(2.0));
    assert_eq!(s.maxdelaydevratio, 5.0);
    assert_eq!((s.minstratum, s.polltarget, s.port), (3, 12, 1123));
    assert_eq!(s.offset_s, -0.0005);
    assert_eq!((s.minsamples, s.maxsamples), (Some(4), Some(32)));
    assert_eq!(s.family, AddressFamily::Ipv4);
}

#[test]
fn maxpoll_below_minpoll_is_raised_with_a_warning() {
    let parsed = parse("server a.example minpoll 8 maxpoll 4").unwrap();
    assert_eq!(parsed.config.sources[0].maxpoll_log2_s, 8);
    assert!(parsed.warnings[0].message.contains("raised to 8"));
}

#[test]
fn maxsources_on_a_server_is_noted() {
    let warnings = warnings_of("server a.example maxsources 2");
    assert!(warnings[0].message.contains("pool only"));
}

#[test]
fn command_port_and_address_are_noted() {
    let parsed =
        parse("cmdport 257\nbindcmdaddress 127.0.0.1\nbindcmdaddress /run/x.sock\n").unwrap();
    assert_eq!(parsed.config.command_port, 257);
    assert_eq!(
        parsed.config.command_bind_v4,
        Some("127.0.0.1".parse().unwrap())
    );
    assert_eq!(
        parsed.config.command_socket.as_deref(),
        Some(std::path::Path::new("/run/x.sock"))
    );
    let lines: Vec<usize> = parsed.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 2]);
    // Disabling the UDP command port is what gnomon does anyway: nothing to say.
    assert!(warnings_of("cmdport 0").is_empty());
}

#[test]
fn logs_gnomon_does_not_write_are_noted() {
    let parsed = parse("log tracking selection rtc statistics").unwrap();
    assert!(parsed.config.logs.tracking && parsed.config.logs.statistics);
    assert_eq!(
        parsed.warnings[0].message,
        "log selection rtc not written by gnomon yet; skipped"
    );
}

#[test]
fn directives_and_options_ignore_case_like_chrony() {
    let parsed = parse("SERVER a.example IBurst MinPoll 4\nRtcSync\nAllow 10/8\n").unwrap();
    assert!(parsed.warnings.is_empty());
    let s = &parsed.config.sources[0];
    assert!(s.iburst);
    assert_eq!(s.minpoll_log2_s, 4);
    assert!(parsed.config.rtc_sync);
    assert_eq!(parsed.config.access_rules.len(), 1);
}

#[test]
fn disabling_with_slash() {
    let config = parse("pidfile /\nbindcmdaddress /\n").unwrap().config;
    assert_eq!(config.pid_file, None);
    assert_eq!(config.command_socket, None);
}

#[test]
fn log_without_logdir_is_noted() {
    let warnings = warnings_of("log tracking\n");
    assert_eq!(
        warnings[0].to_string(),
        format!("{F}:1: log: no logdir is set, so no log file is written (as chrony)")
    );
    assert!(warnings_of("log tracking\nlogdir /var/log/gnomon\n").is_empty());
}

#[test]
fn local_wait_unsynced_follows_orphan_like_chrony() {
    let local = parse("local stratum 8 orphan")
        .unwrap()
        .config
        .local
        .unwrap();
    assert_eq!(
        (local.stratum, local.orphan, local.wait_unsynced_s),
        (8, true, 300.0)
    );
    assert_eq!(local.distance_s, 1.0);
    let local = parse("local").unwrap().config.local.unwrap();
    assert_eq!((local.stratum, local.wait_unsynced_s), (10, 0.0));
    let local = parse("local orphan waitunsynced 5")
        .unwrap()
        .config
        .local
        .unwrap();
    assert_eq!(local.wait_unsynced_s, 5.0);
}
