//! The gnomond binary's command line: -p prints the effective configuration without
//! touching the network, configuration errors exit 1 naming FILE:LINE, and the seed's
//! configs run unchanged.

use std::process::Command;

fn gnomond(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gnomond"))
        .args(args)
        .output()
        .expect("run gnomond")
}

#[test]
fn print_config_of_the_seed_master_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chrony.conf");
    // The seed's VPC master: Amazon Time Sync upstream, serving the VPC.
    std::fs::write(
        &path,
        "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\nallow 172.31.0.0/16\n",
    )
    .unwrap();
    let output = gnomond(&["-p", "-f", path.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("server 169.254.169.123 "), "{text}");
    assert!(
        text.contains(" prefer") && text.contains(" iburst"),
        "{text}"
    );
    assert!(text.contains("minpoll 4 maxpoll 4"), "{text}");
    assert!(text.contains("allow 172.31.0.0/16"), "{text}");
    // Defaults are written out.
    assert!(text.contains("maxslewrate"), "{text}");
}

#[test]
fn command_line_directives_replace_the_default_file() {
    // No /etc/gnomon/gnomon.conf is read when directives are given (as chronyd).
    let output = gnomond(&["-p", "pool 2.debian.pool.ntp.org iburst", "makestep 1 3"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("pool 2.debian.pool.ntp.org"), "{text}");
    assert!(text.contains("makestep 1 3"), "{text}");
}

#[test]
fn configuration_errors_name_file_and_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.conf");
    std::fs::write(
        &path,
        "server a.example iburst\nserver b.example minpoll x\n",
    )
    .unwrap();
    let output = gnomond(&["-p", "-f", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("minpoll") && stderr.contains("server b.example minpoll x"),
        "{stderr}"
    );
}

#[test]
fn unsupported_chrony_directives_warn_and_continue() {
    let output = gnomond(&["-p", "server 127.0.0.1", "keyfile /etc/chrony/chrony.keys"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("keyfile"),
        "{stderr}"
    );
}
