//! Finding and building the programs a run needs: clknetsim (built from source into
//! `target/clknetsim/`), chronyd and chronyc (the Debian package's) and gnomond and
//! gnomon (built by cargo from this workspace).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the programs of a simulation are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The built clknetsim server.
    pub clknetsim: PathBuf,
    /// The built preload library (absolute path: it is handed to LD_PRELOAD).
    pub preload: PathBuf,
    /// chronyd 4.x.
    pub chronyd: PathBuf,
    /// chronyc, the observer of chronyd's views.
    pub chronyc: PathBuf,
    /// The gnomond binary under test.
    pub gnomond: PathBuf,
    /// gnomon, the observer of gnomond's views (built in the same profile).
    pub gnomon: PathBuf,
}

/// Why the programs are not there, with what to do about it.
#[derive(Debug)]
pub struct ToolError(pub String);

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToolError {}

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// The target directory cargo uses for this workspace (`CARGO_TARGET_DIR` if set).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The clknetsim source: `$CLKNETSIM_SRC`, else `<workspace>/../shared/clknetsim`.
pub fn clknetsim_source() -> Result<PathBuf, ToolError> {
    let beside = workspace_root().join("..").join("shared").join("clknetsim");
    let from_env = std::env::var_os("CLKNETSIM_SRC").map(PathBuf::from);
    find_source(from_env, beside)
}

fn find_source(from_env: Option<PathBuf>, beside: PathBuf) -> Result<PathBuf, ToolError> {
    let candidates: Vec<PathBuf> = from_env.iter().cloned().chain([beside.clone()]).collect();
    for dir in &candidates {
        if dir.join("client.c").is_file() && dir.join("Makefile").is_file() {
            return Ok(dir.clone());
        }
    }
    Err(ToolError(format!(
        "clknetsim source not found: $CLKNETSIM_SRC is {} and {} does not exist; \
         clone https://github.com/mlichvar/clknetsim (the commit in \
         ../shared/clknetsim/SOURCE.md) into one of them",
        match &from_env {
            Some(dir) => format!("{}, which holds no clknetsim source,", dir.display()),
            None => "not set".to_string(),
        },
        beside.display()
    )))
}

/// Copy the clknetsim source into `target/clknetsim/` and `make` it there, unless both
/// programs are already built. Needs gcc, g++ and make.
pub fn build_clknetsim() -> Result<(PathBuf, PathBuf), ToolError> {
    let dir = target_dir().join("clknetsim");
    let server = dir.join("clknetsim");
    let preload = dir.join("clknetsim.so");
    if server.is_file() && preload.is_file() {
        return Ok((server, preload));
    }
    let source = clknetsim_source()?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| ToolError(format!("cannot create {}: {e}", dir.display())))?;
    for entry in std::fs::read_dir(&source)
        .map_err(|e| ToolError(format!("cannot read {}: {e}", source.display())))?
    {
        let entry = entry.map_err(|e| ToolError(format!("{}: {e}", source.display())))?;
        let path = entry.path();
        if path.is_file() {
            let to = dir.join(entry.file_name());
            std::fs::copy(&path, &to).map_err(|e| {
                ToolError(format!(
                    "cannot copy {} to {}: {e}",
                    path.display(),
                    to.display()
                ))
            })?;
            // The source may be read-only; the copies must be writable for make.
            let mut perms = std::fs::metadata(&to)
                .map_err(|e| ToolError(format!("{}: {e}", to.display())))?
                .permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            let _ = std::fs::set_permissions(&to, perms);
        }
    }
    let output = Command::new("make")
        .arg("-C")
        .arg(&dir)
        .output()
        .map_err(|e| {
            ToolError(format!(
                "cannot run make ({e}); clknetsim needs gcc, g++ and make: \
                 apt-get install gcc g++ make"
            ))
        })?;
    if !output.status.success() || !server.is_file() || !preload.is_file() {
        return Err(ToolError(format!(
            "building clknetsim in {} failed (needs gcc, g++ and make: apt-get install gcc g++ make):\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok((server, preload))
}

/// chronyd: `$CHRONYD`, else `/usr/sbin/chronyd`.
pub fn find_chronyd() -> Result<PathBuf, ToolError> {
    find_chrony("CHRONYD", "/usr/sbin/chronyd")
}

/// chronyc: `$CHRONYC`, else `/usr/bin/chronyc`.
pub fn find_chronyc() -> Result<PathBuf, ToolError> {
    find_chrony("CHRONYC", "/usr/bin/chronyc")
}

fn find_chrony(variable: &str, default: &str) -> Result<PathBuf, ToolError> {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if path.is_file() {
        Ok(path)
    } else {
        Err(ToolError(format!(
            "{} not found at {} (set ${variable} or install it: apt-get install chrony, \
             with service starts blocked as scripts/test.sh does)",
            variable.to_lowercase(),
            path.display()
        )))
    }
}

/// Which cargo profile gnomond is built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build --release`: the command line's choice (`run`, `docs`).
    Release,
    /// `cargo build`: the CI test's, where `cargo test --workspace` has built it
    /// already. Results under clknetsim are bit-identical to the release build's (no
    /// float contraction in Rust, same code) and a run is no slower: the simulation,
    /// not the daemon, takes the time.
    Dev,
}

/// gnomond: `$GNOMOND` if set, else built by [`build_bin`].
pub fn build_gnomond(profile: Profile) -> Result<PathBuf, ToolError> {
    build_bin(profile, "GNOMOND", "gnomon-daemon", "gnomond")
}

/// gnomon: `$GNOMON` if set, else built by [`build_bin`].
pub fn build_gnomon(profile: Profile) -> Result<PathBuf, ToolError> {
    build_bin(profile, "GNOMON", "gnomon-cli", "gnomon")
}

/// `$VARIABLE` if set, else build it with `cargo build [--release] -p PACKAGE --bin
/// BIN` (quick when it is up to date) and use `target/{release,debug}/BIN`.
fn build_bin(
    profile: Profile,
    variable: &str,
    package: &str,
    bin: &str,
) -> Result<PathBuf, ToolError> {
    if let Some(path) = std::env::var_os(variable) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ToolError(format!(
                "${variable} is {}, not a file",
                path.display()
            )))
        };
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root()).arg("build");
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command
        .args(["--locked", "-p", package, "--bin", bin])
        .status()
        .map_err(|e| ToolError(format!("cannot run cargo to build {bin}: {e}")))?;
    let dir = match profile {
        Profile::Release => "release",
        Profile::Dev => "debug",
    };
    let path = target_dir().join(dir).join(bin);
    if status.success() && path.is_file() {
        Ok(path)
    } else {
        Err(ToolError(format!(
            "cargo build -p {package} failed; {} missing",
            path.display()
        )))
    }
}

/// Everything a run needs, built where necessary.
pub fn prepare(profile: Profile) -> Result<Tools, ToolError> {
    let (clknetsim, preload) = build_clknetsim()?;
    let chronyd = find_chronyd()?;
    let chronyc = find_chronyc()?;
    let gnomond = build_gnomond(profile)?;
    let gnomon = build_gnomon(profile)?;
    let preload = preload
        .canonicalize()
        .map_err(|e| ToolError(format!("{}: {e}", preload.display())))?;
    Ok(Tools {
        clknetsim,
        preload,
        chronyd,
        chronyc,
        gnomond,
        gnomon,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_source_names_both_places() {
        let error = find_source(
            Some(PathBuf::from("/nonexistent/env")),
            PathBuf::from("/nonexistent/shared/clknetsim"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("/nonexistent/env"), "{error}");
        assert!(error.contains("/nonexistent/shared/clknetsim"), "{error}");
        let error = find_source(None, PathBuf::from("/nonexistent/shared/clknetsim"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("$CLKNETSIM_SRC is not set"), "{error}");
    }
}
