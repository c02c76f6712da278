//! Cross-check with the real chronyd (skipped when it is not installed): lines gnomon
//! accepts are accepted by `chronyd -p`, and lines both should refuse are refused.
//! `chronyd -p` only parses and prints; it changes nothing and contacts nothing
//! (no host names are used in `allow` here, so nothing is resolved).

mod common;

use std::process::Command;

use common::parse;

fn chronyd_accepts(line: &str) -> Option<bool> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chrony.conf");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let output = Command::new("chronyd")
        .arg("-p")
        .arg("-f")
        .arg(&file)
        .output()
        .ok()?;
    Some(output.status.success())
}

fn chronyd_available() -> bool {
    if chronyd_accepts("rtcsync").is_none() {
        eprintln!("chronyd not installed; cross-check skipped");
        return false;
    }
    true
}

#[test]
fn lines_gnomon_accepts_chronyd_accepts() {
    if !chronyd_available() {
        return;
    }
    for line in [
        "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4",
        "server 172.31.44.125 prefer iburst minpoll 4 maxpoll 4",
        "allow 172.31.0.0/16",
        "pool 2.debian.pool.ntp.org iburst",
        "pool pool.example maxsources 8 xleave presend 9 filter 4 asymmetry 0.1 offline",
        "server a.example noselect trust require minsamples 4 maxsamples 32 offset 0.25",
        "server a.example maxdelay 0.3 maxdelayratio 2 maxdelaydevratio 5 minstratum 3",
        "server a.example polltarget 20 port 1123 version 3 extfield F323 copy",
        "makestep 0.1 -1",
        "maxchange 1000 1 2",
        "maxslewrate 500",
        "minsources 2",
        "maxdistance 1.5",
        "driftfile /var/lib/chrony/drift",
        "rtcsync",
        "local stratum 8 orphan distance 0.1",
        "local",
        "leapsectz right/UTC",
        "logdir /var/log/chrony",
        "log rawmeasurements statistics tracking",
        "pidfile /",
        "user _chrony",
        "bindcmdaddress /",
        "bindcmdaddress ::1",
        "cmdport 0",
        "port 0",
        "bindaddress 172.31.44.125",
        "allow",
        "allow all 10/8",
        "deny 10.1.2",
        "deny 2001:db8::/32",
        "allow 0/0",
        "ratelimit interval 1 burst 16 leak 3",
        "ratelimit",
        "noclientlog",
        "SERVER a.example IBURST",
    ] {
        assert!(parse(line).is_ok(), "gnomon refuses {line:?}");
        assert_eq!(
            chronyd_accepts(line),
            Some(true),
            "chronyd refuses {line:?}"
        );
    }
}

#[test]
fn lines_both_refuse() {
    if !chronyd_available() {
        return;
    }
    for line in [
        "sever a.example",
        "server",
        "server a.example iburst # comment",
        "server a.example frob",
        "server a.example minpoll",
        "makestep 1",
        "makestep 1 2 3",
        "rtcsync now",
        "log Tracking",
        "allow 10.0.0.0/8 11.0.0.0/8",
        "bindaddress eth0",
        "ratelimit rate 3",
        "local stratum 16",
        "noclientlog yes",
    ] {
        assert!(parse(line).is_err(), "gnomon accepts {line:?}");
        assert_eq!(
            chronyd_accepts(line),
            Some(false),
            "chronyd accepts {line:?}"
        );
    }
}

/// Out-of-range values that chronyd's parser lets through (it clamps or ignores them
/// later, or not at all); gnomon refuses them with the range (docs/config.md).
#[test]
fn gnomon_is_stricter_on_ranges() {
    if !chronyd_available() {
        return;
    }
    for line in [
        "allow 1.2.3.4/40",
        "pool p.example maxsources 0",
        "pool p.example maxsources 17",
        "server a.example minpoll 30",
        "server a.example maxdelay 2000",
        "server a.example offset nan",
        "ratelimit interval 20",
        "minsources 0",
    ] {
        assert!(parse(line).is_err(), "gnomon accepts {line:?}");
        assert_eq!(
            chronyd_accepts(line),
            Some(true),
            "chronyd refuses {line:?}"
        );
    }
}
