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

/// Issue 19 item 10: a control socket directory anyone may write is refused with a
/// clear log line, and gnomond keeps running (serving, syncing) without the socket;
/// a missing directory is created 0755 with the socket 0666 in it.
#[test]
fn a_world_writable_socket_directory_is_refused_and_gnomond_runs_on() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, PermissionsExt::from_mode(0o1777)).unwrap();
    let run = |socket: &std::path::Path, name: &str| {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_gnomond"))
            .args(["-x", "-f", "/dev/null", "port 0"])
            .arg(format!("bindcmdaddress {}", socket.display()))
            .arg(format!("pidfile {}/{name}.pid", dir.path().display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut refused = run(&open.join("gnomond.sock"), "refused");
    let created = dir.path().join("run/gnomon/gnomond.sock");
    let mut fine = run(&created, "fine");
    let started = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(dir.path().join("refused.log")).unwrap();
        if log.contains("started") || started.elapsed() > Duration::from_secs(10) {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while !created.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still_running = refused.try_wait().unwrap().is_none();
    let _ = refused.kill();
    let _ = refused.wait();
    let _ = fine.kill();
    let _ = fine.wait();
    assert!(
        log.contains("writable by its group or by everyone (mode 1777)")
            && log.contains("running without it"),
        "{log}"
    );
    assert!(still_running, "{log}");
    assert!(!open.join("gnomond.sock").exists());
    let mode = |path: &std::path::Path| {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&dir.path().join("run/gnomon")), 0o755);
    assert_eq!(mode(&created), 0o666);
}
