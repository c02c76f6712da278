//! Packaging: generated man pages and completions, the shipped default config, the
//! systemd unit, and the examples/ configs (parsed with gnomond's parser and checked
//! with `gnomond -p`; the servers they name are never contacted).

use gnomon_config::{ConfigParser, StdFs};
use gnomon_testkit::chronyd::TempDir;
use gnomon_testkit::gnomond::workspace_binary;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn man_pages_and_completions_are_generated_from_the_clap_definitions() {
    let out = TempDir::new("gen-docs");
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .arg("generate-docs")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |name: &str| {
        std::fs::read_to_string(out.path().join(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"))
    };
    let gnomon = read("man/gnomon.1");
    assert!(
        gnomon.starts_with(".ie \\n(.g .ds Aq"),
        "roff: {}",
        &gnomon[..80]
    );
    assert!(gnomon.contains("doctor"), "subcommands are listed");
    let doctor = read("man/gnomon-doctor.1");
    assert!(doctor.contains("\\-\\-root"), "{doctor}");
    assert!(
        doctor.contains("worst finding"),
        "exit codes are in the page"
    );
    let gnomond = read("man/gnomond.8");
    assert!(
        gnomond.contains(".TH gnomond 8") || gnomond.contains(".TH GNOMOND 8"),
        "{}",
        &gnomond[..300]
    );
    assert!(gnomond.contains("chrony.conf"));
    assert!(
        !out.path().join("man/gnomon-generate-docs.1").exists(),
        "hidden"
    );
    assert!(!out.path().join("man/gnomon-help.1").exists());
    assert!(read("completions/gnomon.bash").contains("doctor"));
    assert!(read("completions/_gnomon").contains("#compdef gnomon"));
    assert!(read("completions/gnomond.fish").contains("complete -c gnomond"));
}

/// Parse a config with gnomond's parser: no error and no warning allowed.
fn parse_cleanly(text: &str, origin: &str) -> gnomon_config::Config {
    let mut parser = ConfigParser::new(&StdFs);
    parser
        .parse_text(text, origin)
        .unwrap_or_else(|error| panic!("{error}"));
    let parsed = parser.finish();
    assert!(
        parsed.warnings.is_empty(),
        "{origin}: {:?}",
        parsed.warnings
    );
    parsed.config
}

/// `gnomond -p -f FILE` prints the effective configuration and exits 0.
fn gnomond_accepts(path: &Path) {
    let output = Command::new(workspace_binary("gnomond"))
        .arg("-p")
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "gnomond -p -f {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn the_default_config_and_every_example_pass_gnomond_p() {
    let seed_line = "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4";
    for name in [
        "deploy/gnomon.conf",
        "examples/aws-time-sync.conf",
        "examples/vpc-master.conf",
        "examples/vpc-client.conf",
    ] {
        let config = parse_cleanly(&read(name), name);
        assert!(!config.sources.is_empty(), "{name}");
        assert!(config.makestep.is_some() && config.rtc_sync, "{name}");
        assert!(config.drift_file.is_some(), "{name}");
        gnomond_accepts(&repo().join(name));
    }
    assert!(read("examples/aws-time-sync.conf").contains(seed_line));
    let master = parse_cleanly(&read("examples/vpc-master.conf"), "master");
    assert!(master.serves_clients());
    assert_eq!(master.sources[0].name, "169.254.169.123");
    let client = parse_cleanly(&read("examples/vpc-client.conf"), "client");
    assert!(!client.serves_clients());
    assert_eq!(client.sources[0].name, "172.31.44.125");
    assert_eq!(client.sources[0].minpoll_log2_s, 4);
    let default = parse_cleanly(&read("deploy/gnomon.conf"), "default");
    assert!(
        !default.serves_clients(),
        "the default config serves nobody"
    );
}

#[test]
fn the_daemonset_runs_on_the_host_network_with_only_cap_sys_time() {
    let manifest = read("examples/kubernetes/gnomond-daemonset.yaml");
    for needle in [
        "kind: DaemonSet",
        "hostNetwork: true",
        "drop: [\"ALL\"]",
        "add: [\"SYS_TIME\"]",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "command: [\"/usr/bin/gnomon\", \"tracking\"]",
    ] {
        assert!(manifest.contains(needle), "missing {needle}");
    }
    // The embedded gnomon.conf (the ConfigMap's literal block) parses too.
    let block: String = manifest
        .split("gnomon.conf: |\n")
        .nth(1)
        .expect("ConfigMap with gnomon.conf")
        .lines()
        .take_while(|line| line.starts_with("    "))
        .map(|line| format!("{}\n", &line[4..]))
        .collect();
    let config = parse_cleanly(&block, "daemonset configmap");
    assert_eq!(config.sources.len(), 1);
    assert!(
        !config.serves_clients(),
        "no port below 1024 without NET_BIND_SERVICE"
    );
}

#[test]
fn the_systemd_unit_is_notify_conflicting_and_hardened() {
    let unit = read("deploy/gnomond.service");
    let conflicts = unit
        .lines()
        .find_map(|line| line.strip_prefix("Conflicts="))
        .expect("Conflicts=");
    for other in [
        "chrony.service",
        "ntp.service",
        "ntpsec.service",
        "openntpd.service",
        "systemd-timesyncd.service",
    ] {
        assert!(conflicts.split(' ').any(|unit| unit == other), "{other}");
    }
    for line in [
        "Type=notify",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_SYS_TIME CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_SYS_TIME CAP_NET_BIND_SERVICE",
        "RuntimeDirectory=gnomon",
        "StateDirectory=gnomon",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "SystemCallFilter=@system-service @clock",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    assert!(
        !unit.contains("ProtectClock=yes"),
        "gnomond must be able to set the clock"
    );
    // systemd-analyze verify, when present, with the binary path swapped for one that
    // exists here (gnomond is not installed on the build machine).
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let dir = TempDir::new("unit");
        let path = dir.path().join("gnomond.service");
        let testable = unit
            .replace("/usr/sbin/gnomond", "/bin/true")
            .replace("man:gnomond(8) man:gnomon(1)", "man:true(1)");
        std::fs::write(&path, testable).unwrap();
        let output = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let complaints = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !complaints.contains("gnomond.service"),
            "systemd-analyze verify: {complaints}"
        );
    }
}
