//! `gnomon fleet --prometheus FILE`: the node_exporter textfile, written atomically.
//!
//! Owns writing a file so a reader sees the old content or the new, never a part:
//! a temporary file in the same directory, fsync, rename over FILE, fsync of the
//! directory. The collector ignores files not ending in `.prom`, so the temporary
//! name ends otherwise.

use std::io::Write;
use std::path::Path;

/// Write `contents` to `path` atomically; errors name the file and the step.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), String> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("--prometheus {}: not a file name", path.display()))?;
    let temporary = directory.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)
            .map_err(|error| format!("cannot create {}: {error}", temporary.display()))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|error| format!("cannot write {}: {error}", temporary.display()))?;
        std::fs::rename(&temporary, path).map_err(|error| {
            format!(
                "cannot rename {} to {}: {error}",
                temporary.display(),
                path.display()
            )
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result?;
    // The rename is durable once the directory is synced; failing that is not fatal.
    if let Ok(handle) = std::fs::File::open(directory) {
        let _ = handle.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let directory =
            std::env::temp_dir().join(format!("gnomon-textfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("fleet.prom");
        std::fs::write(&path, "old\n").unwrap();
        write_atomically(&path, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(&directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["fleet.prom"]);
        let missing = write_atomically(&directory.join("no/such.prom"), b"x").unwrap_err();
        assert!(missing.contains("no/.such.prom"), "{missing}");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
