//! The lab's processes: an upstream gnomond (`local stratum 1`), a VPC-master gnomond
//! syncing to it and serving 127.0.0.0/8, and N client gnomonds on virtual clocks that
//! start seconds off and drift tens of ppm.
//!
//! Owns finding the gnomond binary (next to this gnomon), the private directory, the
//! loopback addresses and port, the configuration lines, starting the daemons and
//! stopping every one of them by PID (SIGTERM, then SIGKILL) when the [`Lab`] drops,
//! which also happens after Ctrl-C. Every daemon runs with `-x`: no clock is changed.
//! Must not measure (that is [`crate::fleet`]'s).

use rand::{Rng, SeedableRng};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Loopback addresses: upstream, master, and the clients' block. The upstream is not
/// 127.0.0.1: every daemon here sends to loopback from 127.0.0.1, so a master
/// synchronised to 127.0.0.1 would announce the clients' own source address as its
/// reference ID, and their sync-loop test (chronyd's test D) would rightly refuse it.
pub const UPSTREAM_IP: &str = "127.0.0.3";
pub const MASTER_IP: &str = "127.0.0.2";

/// One client's starting clock.
#[derive(Clone, Debug)]
pub struct ClientPlan {
    pub name: String,
    pub address: SocketAddr,
    /// The virtual clock starts this far off the system clock.
    pub initial_offset_s: f64,
    /// And runs this much fast (negative: slow).
    pub frequency_ppm: f64,
}

/// Where gnomond should be: next to the running gnomon (same target directory).
pub fn gnomond_path() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dir = exe.parent().ok_or("this program has no directory")?;
    let path = dir.join("gnomond");
    if path.is_file() {
        Ok(path)
    } else {
        let profile = if dir.ends_with("release") {
            " --release"
        } else {
            ""
        };
        Err(format!(
            "gnomond is not built: expected {} next to gnomon. Build both with \
             `cargo build{profile}` (or `cargo build{profile} -p gnomon-daemon`) in the \
             gnomon workspace.",
            path.display()
        ))
    }
}

/// The clients' starting clocks, from the seed: offsets uniform in ±`offset_range_s`,
/// frequencies uniform in ±`frequency_range_ppm`.
pub fn plan_clients(
    count: usize,
    seed: u64,
    port: u16,
    offset_range_s: f64,
    frequency_range_ppm: f64,
) -> Vec<ClientPlan> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|index| ClientPlan {
            name: format!("node-{:02}", index + 1),
            address: client_address(index, port),
            initial_offset_s: rng.gen_range(-offset_range_s..=offset_range_s),
            frequency_ppm: rng.gen_range(-frequency_range_ppm..=frequency_range_ppm),
        })
        .collect()
}

fn client_address(index: usize, port: u16) -> SocketAddr {
    let index = index + 1;
    SocketAddr::from(([127, 0, 1 + (index / 250) as u8, (index % 250) as u8], port))
}

/// A UDP port free on every address the lab needs (checked by binding each).
pub fn choose_port(client_count: usize) -> Result<u16, String> {
    for _attempt in 0..50 {
        let probe =
            UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("cannot bind loopback: {e}"))?;
        let port = probe.local_addr().map_err(|e| e.to_string())?.port();
        drop(probe);
        let mut addresses: Vec<SocketAddr> = vec![
            format!("{UPSTREAM_IP}:{port}").parse().expect("literal"),
            format!("{MASTER_IP}:{port}").parse().expect("literal"),
        ];
        addresses.extend((0..client_count).map(|index| client_address(index, port)));
        if addresses
            .iter()
            .all(|address| UdpSocket::bind(address).is_ok())
        {
            return Ok(port);
        }
    }
    Err("no UDP port is free on all the lab's loopback addresses".into())
}

/// A started daemon.
struct Daemon {
    name: String,
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

/// The running lab. Dropping it stops every daemon by PID and removes its directory.
pub struct Lab {
    dir: PathBuf,
    daemons: Vec<Daemon>,
}

impl Lab {
    /// Make the private directory.
    pub fn new() -> Result<Lab, String> {
        let dir = std::env::temp_dir().join(format!("gnomon-lab-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Ours alone, whatever the umask: gnomond refuses a control socket directory
        // that its group or everyone may write.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Lab {
            dir,
            daemons: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start `gnomond -x EXTRA... DIRECTIVES...` with its own control socket and pidfile.
    fn start(
        &mut self,
        gnomond: &Path,
        name: &str,
        extra: &[String],
        lines: &[String],
    ) -> Result<(), String> {
        let socket = self.dir.join(format!("{name}.sock"));
        let log = self.dir.join(format!("{name}.log"));
        let mut all: Vec<String> = lines.to_vec();
        all.push(format!("bindcmdaddress {}", socket.display()));
        all.push(format!(
            "pidfile {}",
            self.dir.join(format!("{name}.pid")).display()
        ));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(gnomond)
            .arg("-x")
            .args(["-L", "1"])
            .args(extra)
            .args(&all)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", gnomond.display()))?;
        self.daemons.push(Daemon {
            name: name.to_owned(),
            child,
            socket,
            log,
        });
        Ok(())
    }

    /// Start the whole topology and wait (bounded) for every control socket.
    pub fn start_all(
        &mut self,
        gnomond: &Path,
        port: u16,
        clients: &[ClientPlan],
    ) -> Result<(), String> {
        let common = |ip: &str| {
            vec![
                format!("port {port}"),
                format!("bindaddress {ip}"),
                "allow 127.0.0.0/8".to_owned(),
            ]
        };
        let mut upstream = common(UPSTREAM_IP);
        upstream.push("local stratum 1".into());
        self.start(gnomond, "upstream", &[], &upstream)?;
        // The seed's VPC master: `server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4`
        // and `allow 172.31.0.0/16`, scaled to loopback and short polls.
        let mut master = common(MASTER_IP);
        master.push(format!(
            "server {UPSTREAM_IP} port {port} prefer iburst minpoll -1 maxpoll -1"
        ));
        master.push("makestep 0.1 3".into());
        self.start(gnomond, "master", &[], &master)?;
        for client in clients {
            let mut lines = common(&client.address.ip().to_string());
            lines.push(format!(
                "server {MASTER_IP} port {port} prefer iburst minpoll -1 maxpoll 0"
            ));
            lines.push("makestep 0.1 3".into());
            let extra = vec![
                format!("--virtual-offset={}", client.initial_offset_s),
                format!("--virtual-frequency={}", client.frequency_ppm),
            ];
            self.start(gnomond, &client.name, &extra, &lines)?;
        }
        let started = Instant::now();
        for index in 0..self.daemons.len() {
            loop {
                let daemon = &mut self.daemons[index];
                if daemon.socket.exists() {
                    break;
                }
                if let Ok(Some(status)) = daemon.child.try_wait() {
                    return Err(format!(
                        "gnomond {} exited at start ({status}); its log:\n{}",
                        daemon.name,
                        std::fs::read_to_string(&daemon.log).unwrap_or_default()
                    ));
                }
                if started.elapsed() > Duration::from_secs(15) {
                    return Err(format!(
                        "gnomond {} did not open its control socket in 15 s",
                        daemon.name
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// A daemon that has exited since it started, with the tail of its log.
    pub fn casualty(&mut self) -> Option<String> {
        for daemon in self.daemons.iter_mut() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Some(format!(
                    "gnomond {} exited ({status}): {}",
                    daemon.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
        }
        None
    }

    pub fn pids(&self) -> Vec<u32> {
        self.daemons.iter().map(|d| d.child.id()).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // SIGTERM each by PID (gnomond exits cleanly), then SIGKILL stragglers.
        for daemon in &self.daemons {
            let _ = Command::new("kill")
                .args(["-TERM", &daemon.child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for daemon in self.daemons.iter_mut() {
            loop {
                match daemon.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => {
                        let _ = daemon.child.kill();
                        let _ = daemon.child.wait();
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_seeded_and_in_range() {
        let a = plan_clients(20, 7, 5000, 3.0, 50.0);
        let b = plan_clients(20, 7, 5000, 3.0, 50.0);
        assert_eq!(a.len(), 20);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.initial_offset_s, y.initial_offset_s);
            assert!(x.initial_offset_s.abs() <= 3.0 && x.frequency_ppm.abs() <= 50.0);
        }
        assert_eq!(a[0].address.to_string(), "127.0.1.1:5000");
        assert_eq!(a[19].name, "node-20");
        assert_ne!(
            plan_clients(3, 8, 1, 3.0, 50.0)[0].initial_offset_s,
            a[0].initial_offset_s
        );
    }
}
