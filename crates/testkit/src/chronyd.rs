//! A real `chronyd -x` for tests, on a loopback port, with clock control off.
//!
//! Owns the chronyd child process and its private directory (pidfile, driftfile,
//! command socket). chronyd runs in the foreground (`-d`) as our child, so it is
//! stopped by its PID when the handle drops. If chronyd is not installed this panics
//! with what to install: tests that need chronyd fail, they never skip.

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Path of chronyd; tests fail with this hint when it is missing.
pub const CHRONYD: &str = "/usr/sbin/chronyd";
const MISSING_HINT: &str =
    "chronyd is required by this test: install it with `apt-get install chrony` (see README)";

/// A private directory removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh directory with mode 0700 (chronyd refuses socket directories others can read).
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "gnomon-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .expect("chmod test directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A free UDP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A free TCP port on 127.0.0.1 (bound and released, like [`free_udp_port`]).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A running `chronyd -x -d` serving NTP on 127.0.0.1.
pub struct Chronyd {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Chronyd {
    /// Start chronyd serving on `127.0.0.1:PORT` with `extra_config` lines added to the
    /// isolation lines (port, pidfile, driftfile, bindcmdaddress, cmdport 0, user root).
    pub fn start(extra_config: &str) -> Chronyd {
        assert!(Path::new(CHRONYD).exists(), "{MISSING_HINT}");
        let dir = TempDir::new("chronyd");
        let port = free_udp_port();
        let config = format!(
            "port {port}\nbindaddress 127.0.0.1\npidfile {dir}/chronyd.pid\ndriftfile {dir}/drift\n\
             bindcmdaddress {dir}/chronyd.sock\ncmdport 0\nuser root\n{extra_config}\n",
            dir = dir.path().display()
        );
        let config_path = dir.path().join("chrony.conf");
        std::fs::write(&config_path, config).expect("write chrony.conf");
        let log = std::fs::File::create(dir.path().join("chronyd.log")).expect("create log");
        let child = Command::new(CHRONYD)
            .args(["-x", "-d", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("{MISSING_HINT}: {error}"));
        let chronyd = Chronyd { child, port, dir };
        chronyd.wait_for_socket(Duration::from_secs(10));
        chronyd
    }

    /// Serve `local stratum N` to 127.0.0.1: a reference with zero offset.
    pub fn local_stratum(stratum: u8) -> Chronyd {
        Chronyd::start(&format!("local stratum {stratum}\nallow 127.0.0.1\n"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("chronyd.sock")
    }

    /// What chronyd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chronyd.log")).unwrap_or_default()
    }

    fn wait_for_socket(&self, limit: Duration) {
        let started = Instant::now();
        while !self.socket_path().exists() {
            assert!(
                started.elapsed() < limit,
                "chronyd did not open its command socket within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run `chronyc -h SOCKET -c ARGS...` and return its CSV output lines.
    pub fn chronyc_csv(&self, args: &[&str]) -> Vec<Vec<String>> {
        let output = Command::new("chronyc")
            .arg("-h")
            .arg(self.socket_path())
            .arg("-c")
            .args(args)
            .output()
            .expect("run chronyc (apt-get install chrony)");
        assert!(
            output.status.success(),
            "chronyc {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.split(',').map(str::to_owned).collect())
            .collect()
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `chronyd -Q` (measure once, change nothing) against `127.0.0.1:port` and return
/// the offset it prints ("System clock wrong by X seconds"), in seconds. Its sign is
/// server minus local, like `gnomon query` (a test checks this against a shifted server).
pub fn chronyd_query_offset_s(port: u16) -> f64 {
    assert!(Path::new(CHRONYD).exists(), "{MISSING_HINT}");
    let dir = TempDir::new("chronyd-q");
    let output = Command::new("timeout")
        .arg("20")
        .arg(CHRONYD)
        .args(["-Q", "-f", "/dev/null", "-t", "15"])
        .arg(format!("server 127.0.0.1 port {port} iburst"))
        .arg(format!("pidfile {}/q.pid", dir.path().display()))
        .arg("cmdport 0")
        .arg("user root")
        .output()
        .expect("run chronyd -Q");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // "System clock wrong by -0.000002 seconds (ignored)"
    let value = text
        .split("System clock wrong by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("chronyd -Q printed no offset:\n{text}"));
    value.parse().expect("chronyd -Q offset is a number")
}
