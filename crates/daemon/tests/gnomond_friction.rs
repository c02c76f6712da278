//! Issue 17 item 8, gnomond's side: `--virtual-offset -0.3` without `=`, a UTF-8 BOM
//! accepted, a binary file refused without echoing it, and no `[::]:PORT` socket when
//! `bindaddress` and every `allow` are IPv4 (as chronyd). Loopback only, `-x`.

use gnomon_testkit::chronyd::free_udp_port;
use gnomon_testkit::gnomond::Gnomond;
use std::process::Command;

fn gnomond(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gnomond"))
        .args(args)
        .output()
        .expect("run gnomond")
}

#[test]
fn a_negative_virtual_offset_needs_no_equals_sign() {
    let output = gnomond(&["-x", "--virtual-offset", "-0.3", "-p", "server 127.0.0.1"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_byte_order_mark_is_not_a_directive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chrony.conf");
    std::fs::write(&path, "\u{feff}server 127.0.0.1 iburst\n").unwrap();
    let output = gnomond(&["-p", "-f", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("server 127.0.0.1 "));
}

#[test]
fn a_binary_file_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chrony.conf");
    std::fs::write(
        &path,
        b"server 127.0.0.1\n\x7fELF\x02\x01\x01\x00\x1b[31mred\n",
    )
    .unwrap();
    let output = gnomond(&["-p", "-f", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a text file"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "control characters echoed: {stderr:?}"
    );
}

/// Whether a UDP socket of this process table listens on `port` in /proc/net/FILE.
fn listening(file: &str, port: u16) -> bool {
    let table = std::fs::read_to_string(format!("/proc/net/{file}")).unwrap_or_default();
    let needle = format!(":{port:04X} ");
    table.lines().skip(1).any(|line| {
        line.split_whitespace()
            .nth(1)
            .is_some_and(|local| format!("{local} ").ends_with(&needle))
    })
}

#[test]
fn ipv4_bindaddress_and_ipv4_allow_open_no_ipv6_socket() {
    let port = free_udp_port();
    let port_line = format!("port {port}");
    let gnomond = Gnomond::start(
        &[],
        &[
            port_line.as_str(),
            "bindaddress 127.0.0.1",
            "allow 127.0.0.1",
            "local stratum 8",
        ],
    );
    assert!(
        listening("udp", port),
        "no IPv4 socket on {port}:\n{}",
        gnomond.log()
    );
    assert!(
        !listening("udp6", port),
        "an IPv6 socket on {port} although nothing IPv6 may be served"
    );
    // With an IPv6 allow rule too, the IPv6 socket is there (if IPv6 exists here).
    drop(gnomond);
    let port = free_udp_port();
    let port_line = format!("port {port}");
    let both = Gnomond::start(
        &[],
        &[
            port_line.as_str(),
            "allow 127.0.0.1",
            "allow ::1",
            "local stratum 8",
        ],
    );
    if std::path::Path::new("/proc/net/if_inet6").exists() {
        assert!(listening("udp6", port), "{}", both.log());
    }
}
