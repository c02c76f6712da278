//! The host doctor reads: files under `--root`, commands, processes.
//!
//! Owns mapping absolute host paths (`/etc/chrony.conf`, `/proc/1/comm`) under the root,
//! the [`CommandRunner`] seam (the real one runs programs with a time limit; the canned
//! one reads recorded outputs for fixture trees; none runs nothing), the `/proc` scan,
//! and a [`ConfigFs`] rooted at the root for gnomond's configuration parser. It must
//! not write anything, and the real runner must only ever be given read-only commands.

use gnomon_config::ConfigFs;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most `/proc` entries looked at (a bound on the scan, far above real process counts).
const MAX_PROC_ENTRIES: usize = 200_000;
/// Longest a command may run before it is killed.
const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(5);
/// Most bytes read from one file or command output.
const MAX_READ_BYTES: u64 = 1 << 20;

/// What a command printed and how it exited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit status (-1 when killed by a signal or the time limit).
    pub status: i32,
    pub stdout: String,
}

/// Runs the few read-only commands doctor uses.
pub trait CommandRunner {
    /// Run `program args`; `key` names the call for the canned runner. None means the
    /// command is not available here (not installed, or not to be run).
    fn run(&self, key: &str, program: &str, args: &[String]) -> Option<CommandOutput>;
}

/// Runs nothing: commands are "not available" (a `--root` tree without recordings).
pub struct NoCommands;

impl CommandRunner for NoCommands {
    fn run(&self, _key: &str, _program: &str, _args: &[String]) -> Option<CommandOutput> {
        None
    }
}

/// Runs real programs, each with stdin closed and a time limit; the child is killed by
/// its PID if it overruns.
pub struct SystemCommands;

impl CommandRunner for SystemCommands {
    fn run(&self, _key: &str, program: &str, args: &[String]) -> Option<CommandOutput> {
        let mut child = Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut stdout = child.stdout.take()?;
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = (&mut stdout).take(MAX_READ_BYTES).read_to_end(&mut bytes);
            bytes
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code().unwrap_or(-1),
                Ok(None) if started.elapsed() < COMMAND_TIME_LIMIT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break -1;
                }
            }
        };
        let bytes = reader.join().unwrap_or_default();
        Some(CommandOutput {
            status,
            stdout: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Recorded outputs for fixture trees: the file `DIR/KEY` is the output of the call
/// named KEY; a first line `exit: N` gives its exit status (default 0). A missing file
/// means the command is not available.
pub struct CannedCommands {
    pub dir: PathBuf,
}

impl CommandRunner for CannedCommands {
    fn run(&self, key: &str, _program: &str, _args: &[String]) -> Option<CommandOutput> {
        let text = std::fs::read_to_string(self.dir.join(key)).ok()?;
        let (status, stdout) = match text.split_once('\n') {
            Some((first, rest)) if first.starts_with("exit:") => {
                (first["exit:".len()..].trim().parse().unwrap_or(1), rest)
            }
            _ => (0, text.as_str()),
        };
        Some(CommandOutput {
            status,
            stdout: stdout.to_string(),
        })
    }
}

/// One process seen in `/proc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// `/proc/PID/comm` (the kernel truncates it to 15 bytes).
    pub comm: String,
    /// `/proc/PID/cmdline`, split at NULs.
    pub cmdline: Vec<String>,
}

impl Process {
    /// The program's file name: argv[0]'s last component, else comm.
    pub fn program(&self) -> String {
        self.cmdline
            .first()
            .and_then(|arg0| Path::new(arg0).file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| self.comm.clone())
    }

    /// The value after option `flag` (e.g. `-f FILE`), if present.
    pub fn option_value(&self, flag: &str) -> Option<&str> {
        let position = self.cmdline.iter().position(|arg| arg == flag)?;
        self.cmdline.get(position + 1).map(String::as_str)
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.cmdline.iter().skip(1).any(|arg| arg == flag)
    }
}

/// The host under `root`, with its command runner.
pub struct Host {
    root: PathBuf,
    runner: Box<dyn CommandRunner>,
}

impl Host {
    pub fn new(root: PathBuf, runner: Box<dyn CommandRunner>) -> Host {
        Host { root, runner }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where host path `path` (absolute, as the host names it) is under the root.
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.path(path).exists()
    }

    /// True for a regular file with an execute bit (what systemd's
    /// ConditionFileIsExecutable tests).
    pub fn is_executable(&self, path: impl AsRef<Path>) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.path(path))
            .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }

    /// A text file's content (at most 1 MiB), or None if it cannot be read.
    pub fn read(&self, path: impl AsRef<Path>) -> Option<String> {
        let file = std::fs::File::open(self.path(path)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_READ_BYTES).read_to_end(&mut bytes).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The first line of a file, trimmed.
    pub fn read_line(&self, path: impl AsRef<Path>) -> Option<String> {
        self.read(path)
            .map(|text| text.lines().next().unwrap_or("").trim().to_string())
    }

    /// Entry names of a directory, sorted (empty if it cannot be read).
    pub fn list_dir(&self, path: impl AsRef<Path>) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(path))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Run a command through the runner.
    pub fn run(&self, key: &str, program: &str, args: &[&str]) -> Option<CommandOutput> {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        self.runner.run(key, program, &args)
    }

    /// Every process in `<root>/proc`, by PID.
    pub fn processes(&self) -> Vec<Process> {
        let mut processes: Vec<Process> = self
            .list_dir("/proc")
            .into_iter()
            .take(MAX_PROC_ENTRIES)
            .filter_map(|name| name.parse::<u32>().ok())
            .filter_map(|pid| {
                let comm = self.read_line(format!("/proc/{pid}/comm"))?;
                let cmdline = self
                    .read(format!("/proc/{pid}/cmdline"))
                    .unwrap_or_default()
                    .split('\0')
                    .filter(|arg| !arg.is_empty())
                    .map(str::to_owned)
                    .collect();
                Some(Process { pid, comm, cmdline })
            })
            .collect();
        processes.sort_by_key(|process| process.pid);
        processes
    }

    /// gnomond's configuration parser reading through this root.
    pub fn config_fs(&self) -> RootedFs<'_> {
        RootedFs { host: self }
    }
}

/// [`ConfigFs`] over the host's root: `/etc/chrony/conf.d` in an include is read from
/// `<root>/etc/chrony/conf.d`, and messages keep the host's path.
pub struct RootedFs<'a> {
    host: &'a Host,
}

impl ConfigFs for RootedFs<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.host.path(path))
    }

    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<OsString>> {
        std::fs::read_dir(self.host.path(dir))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    fn exists(&self, path: &Path) -> bool {
        self.host.exists(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_mapped_under_the_root() {
        let host = Host::new(PathBuf::from("/tmp/x"), Box::new(NoCommands));
        assert_eq!(
            host.path("/etc/chrony.conf"),
            Path::new("/tmp/x/etc/chrony.conf")
        );
        assert!(host.run("k", "true", &[]).is_none());
    }

    #[test]
    fn processes_name_their_program_and_options() {
        let process = Process {
            pid: 7,
            comm: "chronyd".into(),
            cmdline: vec![
                "/usr/sbin/chronyd".into(),
                "-x".into(),
                "-f".into(),
                "/c".into(),
            ],
        };
        assert_eq!(process.program(), "chronyd");
        assert_eq!(process.option_value("-f"), Some("/c"));
        assert!(process.has_flag("-x"));
        assert!(!process.has_flag("-q"));
    }

    #[test]
    fn the_system_runner_reports_exit_status_and_output() {
        let output = SystemCommands
            .run("k", "sh", &["-c".into(), "echo hi; exit 3".into()])
            .expect("sh runs");
        assert_eq!(
            output,
            CommandOutput {
                status: 3,
                stdout: "hi\n".into()
            }
        );
        assert!(SystemCommands.run("k", "/nonexistent/prog", &[]).is_none());
    }
}
