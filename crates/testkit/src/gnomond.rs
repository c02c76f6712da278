//! A real `gnomond -x` for tests, with clock control off.
//!
//! Owns the child process and its private directory (control socket, pidfile). The
//! binary is the workspace's own build (`cargo test --workspace` builds it); it is
//! stopped by its PID when the handle drops.

use crate::chronyd::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    /// and pidfile, and wait until the control socket exists.
    pub fn start(extra_args: &[&str], config_lines: &[&str]) -> Gnomond {
        let dir = TempDir::new("gnomond");
        // Other users may need to reach the socket (permission tests).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let socket = dir.path().join("gnomond.sock");
        let mut lines: Vec<String> = config_lines.iter().map(|line| line.to_string()).collect();
        lines.push(format!("bindcmdaddress {}", socket.display()));
        lines.push(format!("pidfile {}/gnomond.pid", dir.path().display()));
        let log = std::fs::File::create(dir.path().join("gnomond.log")).expect("log file");
        let child = Command::new(workspace_binary("gnomond"))
            .arg("-x")
            .args(extra_args)
            .args(&lines)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start gnomond");
        let gnomond = Gnomond { child, dir };
        let started = Instant::now();
        while !socket.exists() {
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

    /// Send SIGTERM and wait up to `limit` for a clean exit; returns the exit status.
    pub fn terminate(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gnomond {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
