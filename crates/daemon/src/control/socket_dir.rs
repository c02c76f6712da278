//! Where the control socket may live: its directory's rules (issue 19 item 10).
//!
//! Owns the decision, before bind, that the socket's path is safe: the parent
//! directory is created when missing (mode 0755, like chronyd's /run/chrony); an
//! existing one must be owned by root or by the daemon's user and writable by nobody
//! else — a group- or world-writable directory is refused even with the sticky bit
//! (/tmp), since another user could then take the socket's name first and leave
//! gnomond without a control socket. A stale socket file is removed; any other file
//! at the path is refused. Paths under `/clknetsim/unix/` are the simulator's: it
//! reports that directory as root's and mode 0750, and keeps no files there.

use gnomon_sys::files::{link_status, make_dir, status};
use gnomon_sys::privileges::effective_uid;
use std::path::Path;

/// Mode of a directory gnomond creates for its socket.
pub const CREATED_DIR_MODE: u32 = 0o755;

/// Make `socket_path` ready for bind, or say why it is not safe.
pub fn prepare(socket_path: &Path) -> Result<(), String> {
    let Some(parent) = socket_path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Err(format!(
            "{}: the control socket needs an absolute path",
            socket_path.display()
        ));
    };
    if !socket_path.is_absolute() {
        return Err(format!(
            "{}: the control socket needs an absolute path",
            socket_path.display()
        ));
    }
    ensure_dir(parent, 0)?;
    check_dir(parent)?;
    match link_status(socket_path) {
        Ok(None) => Ok(()),
        Ok(Some(file)) if file.is_socket => std::fs::remove_file(socket_path).map_err(|error| {
            format!(
                "{}: cannot remove the stale socket: {error}",
                socket_path.display()
            )
        }),
        Ok(Some(_)) => Err(format!(
            "{} exists and is not a socket; not replacing it (remove it, or choose another \
             bindcmdaddress)",
            socket_path.display()
        )),
        Err(error) => Err(format!("{}: {error}", socket_path.display())),
    }
}

/// Create `dir` and its missing parents with [`CREATED_DIR_MODE`].
fn ensure_dir(dir: &Path, depth: usize) -> Result<(), String> {
    match status(dir) {
        Ok(Some(file)) if file.is_dir => return Ok(()),
        Ok(Some(_)) => return Err(format!("{} is not a directory", dir.display())),
        Ok(None) => {}
        Err(error) => return Err(format!("{}: {error}", dir.display())),
    }
    if depth > 32 {
        return Err(format!("{}: too many missing parents", dir.display()));
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent, depth + 1)?;
    }
    match make_dir(dir, CREATED_DIR_MODE) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(format!("cannot create {}: {error}", dir.display())),
    }
}

/// The socket's directory is owned by root or us and writable by nobody else.
fn check_dir(dir: &Path) -> Result<(), String> {
    let file = match status(dir) {
        Ok(Some(file)) => file,
        Ok(None) => return Err(format!("{} vanished", dir.display())),
        Err(error) => return Err(format!("{}: {error}", dir.display())),
    };
    let our_uid = effective_uid();
    if file.uid != 0 && file.uid != our_uid {
        return Err(format!(
            "{} is owned by uid {}, not by root or gnomond's user (uid {our_uid}); another user \
             could replace the control socket. Use a directory root owns, such as /run/gnomon",
            dir.display(),
            file.uid
        ));
    }
    if file.permissions & 0o022 != 0 {
        return Err(format!(
            "{} is writable by its group or by everyone (mode {:04o}); another user could take \
             the control socket's name first (the sticky bit does not prevent that). Use a \
             directory only its owner can write, such as /run/gnomon (mode 0755)",
            dir.display(),
            file.permissions
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn missing_directories_are_created_0755() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        let socket = dir.path().join("run/gnomon/gnomond.sock");
        prepare(&socket).unwrap();
        assert_eq!(mode(&dir.path().join("run/gnomon")), 0o755);
        assert_eq!(mode(&dir.path().join("run")), 0o755);
    }

    #[test]
    fn writable_directories_are_refused_even_sticky() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [0o777, 0o1777, 0o775, 0o757] {
            std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(bad)).unwrap();
            let error = prepare(&dir.path().join("gnomond.sock")).unwrap_err();
            assert!(
                error.contains("writable by its group or by everyone"),
                "{error}"
            );
        }
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        prepare(&dir.path().join("gnomond.sock")).unwrap();
    }

    #[test]
    fn a_stale_socket_is_removed_and_other_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o700)).unwrap();
        let socket = dir.path().join("gnomond.sock");
        let stale = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        drop(stale);
        assert!(socket.exists());
        prepare(&socket).unwrap();
        assert!(!socket.exists());
        std::fs::write(&socket, "not a socket").unwrap();
        let error = prepare(&socket).unwrap_err();
        assert!(error.contains("is not a socket"), "{error}");
        assert!(socket.exists());
        assert!(prepare(Path::new("relative.sock")).is_err());
    }
}
