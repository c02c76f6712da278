//! A real `gnomond -x` for tests, with clock control off.
//!
//! Owns the child process and its private directory (control socket, pidfile, log).
//! The binary is the workspace's own build (`cargo test --workspace` builds it); it is
//! stopped by its PID when the handle drops. [`Gnomond::start_in`] runs it inside a
//! network namespace the test made (through `ip netns exec`, which execs it, so the
//! PID is still gnomond's). Every wait is bounded.

use crate::chronyd::TempDir;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The path of a binary built by this workspace (next to the test executable).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run the tests with `cargo test --workspace` (or `cargo build -p gnomon-daemon`)",
        path.display()
    );
    path
}

/// A running `gnomond -x`.
pub struct Gnomond {
    child: Child,
    dir: TempDir,
}

impl Gnomond {
    /// Start `gnomond -x EXTRA_ARGS... -- CONFIG_LINES...` with its own control socket
    /// and pidfile, and wait until the control socket accepts connections.
    pub fn start<L: AsRef<str>>(extra_args: &[&str], config_lines: &[L]) -> Gnomond {
        Gnomond::launch(
            Command::new(workspace_binary("gnomond")),
            extra_args,
            config_lines,
        )
    }

    /// The same inside the network namespace `netns` (`ip netns exec NETNS gnomond ...`;
    /// needs root). The namespace is the caller's to make and remove.
    pub fn start_in<L: AsRef<str>>(
        netns: &str,
        extra_args: &[&str],
        config_lines: &[L],
    ) -> Gnomond {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", netns])
            .arg(workspace_binary("gnomond"));
        Gnomond::launch(command, extra_args, config_lines)
    }

    fn launch<L: AsRef<str>>(
        mut command: Command,
        extra_args: &[&str],
        config_lines: &[L],
    ) -> Gnomond {
        let dir = TempDir::new("gnomond");
        // Other users may need to reach the socket (permission tests).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let socket = dir.path().join("gnomond.sock");
        let log = std::fs::File::create(dir.path().join("gnomond.log")).expect("log file");
        let child = command
            .arg("-x")
            .args(extra_args)
            .args(config_lines.iter().map(AsRef::as_ref))
            .arg(format!("bindcmdaddress {}", socket.display()))
            .arg(format!("pidfile {}/gnomond.pid", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start gnomond");
        let gnomond = Gnomond { child, dir };
        let started = Instant::now();
        // Connectable, not only present: the file appears at bind(), a moment before
        // listen(), and a connection in between is refused.
        while UnixStream::connect(&socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "gnomond did not open its control socket; log:\n{}",
                gnomond.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        gnomond
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("gnomond.sock")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gnomond.log")).unwrap_or_default()
    }

    /// One request on the control socket (docs/control-protocol.md); returns its
    /// `data` and panics on an error answer.
    pub fn control(&self, command: &str) -> Value {
        let mut stream = UnixStream::connect(self.socket_path()).expect("connect control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        writeln!(stream, "{{\"command\":\"{command}\"}}").expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        let value: Value = serde_json::from_str(text.trim()).expect("json");
        assert_eq!(value["ok"], true, "{command}: {value}");
        value["data"].clone()
    }

    /// Wait up to `limit` until the `tracking` view says synchronised; returns it.
    pub fn wait_synchronized(&self, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let tracking = self.control("tracking");
            if tracking["synchronized"] == true {
                return tracking;
            }
            assert!(
                started.elapsed() < limit,
                "gnomond did not synchronise within {limit:?}: {tracking}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait up to `limit` for the process to exit; returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Send SIGTERM and wait up to `limit` for a clean exit; returns the exit status.
    pub fn terminate(mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(limit)
    }
}

impl Drop for Gnomond {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
