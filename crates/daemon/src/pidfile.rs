//! The pidfile: one gnomond per configuration.
//!
//! Owns claiming the file: refuse when it names a live gnomond, otherwise write our
//! PID atomically (temp file, rename). Removing it at exit is the caller's job.

use std::path::Path;

/// Write our PID to `path`, unless a live gnomond already holds it.
pub fn claim(path: &Path) -> Result<(), String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(pid) = text.trim().parse::<u32>() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if pid != std::process::id() && comm.trim() == "gnomond" {
                return Err(format!(
                    "{}: another gnomond is running (pid {pid}); stop it first or use another pidfile",
                    path.display()
                ));
            }
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let temporary = path.with_extension("pid.tmp");
    std::fs::write(&temporary, format!("{}\n", std::process::id()))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| format!("{}: cannot write pidfile: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_and_refuses_a_live_gnomond_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/gnomond.pid");
        claim(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        // A stale pidfile naming a process that is not gnomond is taken over.
        std::fs::write(&path, "1\n").unwrap();
        claim(&path).unwrap();
    }
}
