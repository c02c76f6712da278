//! Running one simulation: a private directory per run and per node, the daemons'
//! configurations, the clknetsim server and one process per node, each behind the
//! safety wrappers (daemons and the observers of `observe.rs` alike), bounded by a
//! wall-clock timeout, and always cleaned up.
//!
//! Safety (DESIGN.md rules 1 and 2): every simulated process is started as
//! `unshare --net setpriv --bounding-set=-sys_time --inh-caps=-sys_time -- env
//! LD_PRELOAD=… CLKNETSIM_NODE=… <daemon> …`. Without CAP_SYS_TIME and in an empty
//! network namespace, a daemon whose preload failed can neither change this machine's
//! clock nor reach any network. LD_PRELOAD is set by `env`, after the wrappers: set
//! on `unshare` itself, the wrappers would connect to clknetsim as the node.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::analysis::{self, RunResult};
use crate::observe;
use crate::scenario::{Daemon, Role, Scenario};
use crate::tools::Tools;

/// One run: a scenario, the daemon under test, a seed and a length.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub scenario: &'a Scenario,
    pub daemon: Daemon,
    pub seed: u32,
    pub limit_s: f64,
    /// Keep the measured node's per-second offset in the result (for pictures).
    pub keep_trace: bool,
}

/// Run directories are kept when this is set (to look at logs), else removed.
pub const KEEP_ENV: &str = "GNOMON_CLKNETSIM_KEEP";

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Wall-clock bound of one run: generous for the simulated length (a 100000 s run takes
/// about a second here), short enough that a daemon which stops advancing simulated
/// time (e.g. a busy poll loop) fails the run in two minutes rather than hanging CI.
fn timeout_for(limit_s: f64) -> Duration {
    Duration::from_secs_f64(20.0 + limit_s / 1000.0)
}

/// The harness's own chrony.conf lines for node `number`, before the scenario's.
///
/// Every node runs with clknetsim's Unix subnet (subnet 2, `CLKNETSIM_UNIX_SUBNET`), so
/// gnomond's control socket is the simulated datagram socket `/clknetsim/unix/N:1` (its
/// first Unix bind on node N), where observer nodes (`observe.rs`) read its views
/// mid-run. The pidfile is always the node's own: with the default path, gnomond's
/// socket-directory checks and pidfile would be this machine's /run/gnomon. chronyd's
/// command socket stays off (`bindcmdaddress /`, `cmdport 0`) unless an observer reads
/// it with chronyc.
///
/// The Unix subnet alone changes no result. Binding the control socket moves gnomond's
/// runs slightly, only through its start-up log line ("no SO_PASSCRED"): until a
/// process first waits, clknetsim adds a growing random amount to every clock read
/// (its "precision hack"), and the line is one more read before the first request.
fn harness_lines(daemon: Daemon, dir: &Path, number: usize, observed: bool) -> Vec<String> {
    let pidfile = format!(
        "pidfile {}",
        dir.join(format!("{}.pid", daemon.name())).display()
    );
    let mut lines = match daemon {
        Daemon::Chronyd if observed => vec![
            pidfile,
            "cmdport 0".into(),
            format!("bindcmdaddress {}", observe::CHRONYD_SOCKET),
            "user root".into(),
        ],
        Daemon::Chronyd => vec![
            pidfile,
            "cmdport 0".into(),
            "bindcmdaddress /".into(),
            "user root".into(),
        ],
        Daemon::Gnomond => vec![
            pidfile,
            format!("bindcmdaddress {}", observe::socket_path(number)),
        ],
    };
    lines.extend(extra_config_lines(daemon));
    lines
}

/// Extra configuration lines for experiments, e.g.
/// `GNOMON_CLKNETSIM_GNOMOND_CONF="estimator runstest"` (`;`-separated; `…_CHRONYD_CONF`
/// for chronyd), added to every node running that daemon.
fn extra_config_lines(daemon: Daemon) -> Vec<String> {
    let name = format!("GNOMON_CLKNETSIM_{}_CONF", daemon.name().to_uppercase());
    std::env::var(name)
        .map(|lines| {
            lines
                .split(';')
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Arguments before the harness's `-d -f FILE`: gnomond logs at debug level so that
/// analysis can count the replies it dropped (until its counters can be read over the
/// control socket), plus any from the environment.
fn daemon_args(daemon: Daemon) -> Vec<String> {
    let mut args = match daemon {
        Daemon::Chronyd => Vec::new(),
        Daemon::Gnomond => vec!["-L".to_string(), "-1".to_string()],
    };
    args.extend(extra_args(daemon));
    args
}

/// Extra daemon arguments for debugging, e.g. `GNOMON_CLKNETSIM_GNOMOND_ARGS="-L -1"`
/// for gnomond's debug log (space-separated; `…_CHRONYD_ARGS` for chronyd).
fn extra_args(daemon: Daemon) -> Vec<String> {
    let name = format!("GNOMON_CLKNETSIM_{}_ARGS", daemon.name().to_uppercase());
    std::env::var(name)
        .map(|args| args.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Kills and reaps its processes when dropped, whatever happened to the run.
struct Processes {
    children: Vec<(String, Child)>,
}

impl Processes {
    fn kill_all(&mut self) {
        for (_, child) in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn private_dir(path: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Run one simulation and analyse it.
pub fn run(tools: &Tools, spec: &RunSpec<'_>) -> Result<RunResult, String> {
    let scenario = spec.scenario;
    if spec.limit_s <= scenario.stats_start_s {
        return Err(format!(
            "{}: a run of {} s ends before its statistics start at {} s",
            scenario.name, spec.limit_s, scenario.stats_start_s
        ));
    }
    let runs = crate::tools::target_dir().join("clknetsim").join("runs");
    private_dir(&runs)?;
    let dir = runs.join(format!(
        "{}-{}-{}-{}-{}",
        scenario.name,
        spec.daemon.name(),
        spec.seed,
        std::process::id(),
        RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    if dir.exists() {
        let _ = fs::remove_dir_all(&dir);
    }
    private_dir(&dir)?;
    let outcome = run_in(tools, spec, &dir);
    if std::env::var_os(KEEP_ENV).is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
    outcome.map_err(|e| {
        if std::env::var_os(KEEP_ENV).is_some() {
            format!("{e} (run directory kept: {})", dir.display())
        } else {
            format!("{e} (set {KEEP_ENV}=1 to keep the run directory)")
        }
    })
}

/// A command for simulated node `number`: the safety wrappers, then `env` with the
/// preload and clknetsim's variables, then `program`.
fn simulated(tools: &Tools, dir: &Path, number: usize, seed: &str, program: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .current_dir(dir)
        .env_remove("LD_PRELOAD")
        .env_remove("LISTEN_FDS")
        .env_remove("NOTIFY_SOCKET")
        .env("NO_COLOR", "1")
        .args(["--net", "setpriv", "--bounding-set=-sys_time"])
        .args(["--inh-caps=-sys_time", "--", "env"])
        .arg(format!("LD_PRELOAD={}", tools.preload.display()))
        .arg(format!("CLKNETSIM_NODE={number}"))
        .arg("CLKNETSIM_SOCKET=sock")
        .arg(format!("CLKNETSIM_RANDOM_SEED={seed}"))
        .arg(format!("CLKNETSIM_UNIX_SUBNET={}", observe::UNIX_SUBNET))
        .arg(program)
        .stdin(Stdio::null());
    command
}

fn create(path: &Path) -> Result<fs::File, String> {
    fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn run_in(tools: &Tools, spec: &RunSpec<'_>, dir: &Path) -> Result<RunResult, String> {
    let scenario = spec.scenario;
    let seed = spec.seed.to_string();
    let observers = observe::plan(scenario, spec.daemon, spec.limit_s);
    let nodes = scenario.nodes.len() + observers.len();
    let conf = dir.join("conf");
    let conf_text = scenario.clknetsim_conf() + &observe::conf_lines(&observers, nodes);
    fs::write(&conf, conf_text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;

    let mut processes = Processes {
        children: Vec::new(),
    };
    let mut node_logs: Vec<PathBuf> = Vec::new();
    for (index, node) in scenario.nodes.iter().enumerate() {
        let number = index + 1;
        let node_dir = dir.join(format!("node{number}"));
        private_dir(&node_dir)?;
        let daemon = match node.role {
            Role::Reference => Daemon::Chronyd,
            Role::UnderTest => spec.daemon,
        };
        let observed = number == scenario.measured && !observers.is_empty();
        let mut lines = harness_lines(daemon, &node_dir, number, observed);
        lines.extend(node.config.iter().cloned());
        let node_conf = node_dir.join(format!("{}.conf", daemon.name()));
        fs::write(&node_conf, lines.join("\n") + "\n")
            .map_err(|e| format!("cannot write {}: {e}", node_conf.display()))?;
        let log = node_dir.join("log");
        let log_file = create(&log)?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let program = match daemon {
            Daemon::Chronyd => &tools.chronyd,
            Daemon::Gnomond => &tools.gnomond,
        };
        let child = simulated(tools, dir, number, &seed, program)
            .args(daemon_args(daemon))
            .arg("-d")
            .arg("-f")
            .arg(&node_conf)
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start node {number} ({}): {e}", daemon.name()))?;
        processes.children.push((format!("node{number}"), child));
        node_logs.push(log);
    }
    // Observers exit after their reading; they are waited for separately.
    let mut observer_processes = Processes {
        children: Vec::new(),
    };
    let mut observer_outputs: Vec<PathBuf> = Vec::new();
    for observer in &observers {
        let number = observer.node;
        let node_dir = dir.join(format!("node{number}"));
        private_dir(&node_dir)?;
        let out = node_dir.join("out");
        let log = node_dir.join("log");
        let program = match spec.daemon {
            Daemon::Chronyd => &tools.chronyc,
            Daemon::Gnomond => &tools.gnomon,
        };
        let child = simulated(tools, dir, number, &seed, program)
            .args(observe::args(spec.daemon, observer.view, scenario.measured))
            .stdout(create(&out)?)
            .stderr(create(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start observer node {number}: {e}"))?;
        observer_processes
            .children
            .push((format!("node{number}"), child));
        observer_outputs.push(out);
        node_logs.push(log);
    }

    let stats_path = dir.join("stats");
    let stats_file = create(&stats_path)?;
    let server_log = dir.join("log.server");
    let server_err = create(&server_log)?;
    let mut server = Command::new(&tools.clknetsim)
        .current_dir(dir)
        .env_remove("LD_PRELOAD")
        .env("CLKNETSIM_RANDOM_SEED", &seed)
        .args([
            "-s",
            "sock",
            "-o",
            "log.offset",
            "-f",
            "log.freq",
            "-p",
            "log.packets",
        ])
        .arg("-r")
        .arg(format!("{}", scenario.stats_start_s))
        .arg("-l")
        .arg(format!("{}", spec.limit_s))
        // Two subnets: NTP, then the Unix one.
        .args(["-n", &observe::UNIX_SUBNET.to_string()])
        .arg("conf")
        .arg(nodes.to_string())
        .stdin(Stdio::null())
        .stdout(stats_file)
        .stderr(server_err)
        .spawn()
        .map_err(|e| format!("cannot start clknetsim: {e}"))?;

    let deadline = Instant::now() + timeout_for(spec.limit_s);
    // A node that exits before connecting (a wrapper refused, the daemon rejected its
    // config) leaves the server waiting for it: give up 2 s after a node has gone.
    let mut node_gone_at: Option<Instant> = None;
    let status = loop {
        match server.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) if node_gone_at.is_some_and(|at| at.elapsed() > Duration::from_secs(2)) => {
                break None
            }
            Ok(None) => {
                if node_gone_at.is_none()
                    && processes
                        .children
                        .iter_mut()
                        .any(|(_, child)| matches!(child.try_wait(), Ok(Some(_))))
                {
                    node_gone_at = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(format!("waiting for clknetsim: {e}")),
        }
    };
    if status.is_none() {
        let _ = server.kill();
        let _ = server.wait();
    }
    // The nodes exit when the server goes; give them a moment, then kill by PID.
    let grace = Instant::now() + Duration::from_secs(2);
    while Instant::now() < grace
        && processes
            .children
            .iter_mut()
            .chain(observer_processes.children.iter_mut())
            .any(|(_, child)| matches!(child.try_wait(), Ok(None)))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    // An observer that had not exited by now never finished its reading.
    let observer_failures: Vec<String> = observer_processes
        .children
        .iter_mut()
        .filter_map(|(name, child)| match child.try_wait() {
            Ok(Some(status)) if status.success() => None,
            Ok(Some(status)) => Some(format!("{name} (observer) exited with {status}")),
            _ => Some(format!("{name} (observer) did not finish its reading")),
        })
        .collect();
    processes.kill_all();
    observer_processes.kill_all();

    let describe = |what: &str| {
        let mut text = format!(
            "{} {} seed {}: {what}\nclknetsim: {}",
            scenario.name,
            spec.daemon.name(),
            spec.seed,
            tail(&server_log, 5)
        );
        for (index, log) in node_logs.iter().enumerate() {
            text.push_str(&format!("\nnode {}: {}", index + 1, tail(log, 5)));
        }
        text
    };
    match status {
        None if node_gone_at.is_some() => {
            return Err(describe(
                "a node exited while the simulation was still running",
            ))
        }
        None => {
            return Err(describe(&format!(
                "timed out after {:?}",
                timeout_for(spec.limit_s)
            )))
        }
        Some(status) if !status.success() => {
            return Err(describe(&format!("clknetsim failed ({status})")))
        }
        Some(_) => {}
    }
    if !observer_failures.is_empty() {
        return Err(describe(&observer_failures.join("; ")));
    }
    let outputs: Vec<String> = observer_outputs
        .iter()
        .map(|path| fs::read_to_string(path).unwrap_or_default())
        .collect();
    analysis::analyse(spec, dir, &observers, &outputs).map_err(|e| describe(&e))
}
