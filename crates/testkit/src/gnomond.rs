//! A real `gnomond -x` for tests, with clock control off.
//!
//! Owns the child process and its private directory (control socket, pidfile, log).
//! The binary is the workspace's own build (`cargo test --workspace` builds it); it is
//! stopped by its PID when the handle drops. [`Gnomond::start_in`] runs it inside a
//! network namespace the test made (through `ip netns exec`, which execs it, so the
//! PID is still gnomond's). Every wait is bounded.

use crate::chronyd::TempDir;
use gnomon_control::envelope::records_mut;
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
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
    /// and pidfile, and wait until the control socket answers.
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
        // Answering, not only present: the socket is bound a moment after the NTP
        // sockets open, and a request before that gets ENOENT or ECONNREFUSED.
        while gnomond
            .try_control(r#"{"command":"tracking"}"#, Duration::from_millis(500))
            .is_err()
        {
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
    /// `data`, every page of a list put together, and panics on an error answer.
    pub fn control(&self, command: &str) -> Value {
        self.control_request(&serde_json::json!({ "command": command }))
    }

    /// The same for a whole request object (`{"command":"clients","min_packets":2}`).
    pub fn control_request(&self, request: &Value) -> Value {
        let mut records: Vec<Value> = Vec::new();
        let mut data;
        loop {
            let mut paged = request.clone();
            paged["first"] = records.len().into();
            let reply = self
                .try_control(&paged.to_string(), Duration::from_secs(5))
                .unwrap_or_else(|error| panic!("{request}: {error}\n{}", self.log()));
            assert_eq!(reply["ok"], true, "{request}: {reply}");
            data = reply["data"].clone();
            let (Some(first), Some(total)) = (reply["first"].as_u64(), reply["total"].as_u64())
            else {
                return data;
            };
            assert_eq!(first as usize, records.len(), "{reply}");
            let page = records_mut(&mut data).expect("a paged reply has records");
            assert!(
                !page.is_empty() || total as usize == records.len(),
                "{reply}"
            );
            records.append(page);
            if records.len() >= total as usize {
                break;
            }
        }
        *records_mut(&mut data).expect("records") = records;
        data
    }

    /// One request datagram, as text, and the whole reply (not checked), or why none came.
    /// The reply address is a file in the daemon's directory, not an abstract name
    /// (as gnomon's), so this works across network namespaces too (`start_in`):
    /// abstract names belong to one.
    pub fn try_control(&self, request: &str, timeout: Duration) -> Result<Value, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = self.dir.path().join(format!(
            "client.{}.{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let socket = UnixDatagram::bind(&path).map_err(|e| e.to_string())?;
        // A daemon that dropped root (`user nobody`) must be able to write to it.
        let writable = std::os::unix::fs::PermissionsExt::from_mode(0o666);
        let result = std::fs::set_permissions(&path, writable)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                socket
                    .connect(self.socket_path())
                    .map_err(|e| e.to_string())?;
                socket
                    .set_read_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                socket.send(request.as_bytes()).map_err(|e| e.to_string())?;
                let mut buffer = vec![0u8; 65536];
                let len = socket.recv(&mut buffer).map_err(|e| e.to_string())?;
                serde_json::from_slice(&buffer[..len]).map_err(|e: serde_json::Error| e.to_string())
            });
        let _ = std::fs::remove_file(&path);
        result
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

    /// SIGKILL (by its PID, through the child handle: no process spawned, so it lands
    /// right away) and reap it; returns the exit status (a clean exit if it had
    /// already finished).
    pub fn kill(mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Gnomond {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
