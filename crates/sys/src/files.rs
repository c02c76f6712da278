//! File status and directories through glibc's `stat`, `lstat` and `mkdir`.
//!
//! Owns the calls the control socket's directory checks need. std's metadata uses
//! `statx`, which clknetsim does not intercept; these go through the glibc symbols it
//! replaces, so its `/clknetsim/unix` directory is seen as it reports it. What is a
//! safe directory is the caller's policy (control/socket_dir.rs).

use super::check;
use std::ffi::CString;
use std::io;
use std::mem::zeroed;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What `stat`/`lstat` say about a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStatus {
    /// The permission bits with set-id and sticky bits (`st_mode & 0o7777`).
    pub permissions: u32,
    pub uid: u32,
    pub is_dir: bool,
    pub is_socket: bool,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn status_of(st: &libc::stat) -> FileStatus {
    FileStatus {
        permissions: st.st_mode & 0o7777,
        uid: st.st_uid,
        is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
        is_socket: st.st_mode & libc::S_IFMT == libc::S_IFSOCK,
    }
}

/// `stat(2)` (symbolic links followed); `Ok(None)` when nothing is there.
pub fn status(path: &Path) -> io::Result<Option<FileStatus>> {
    stat_with(path, true)
}

/// `lstat(2)` (a symbolic link is described, not followed); `Ok(None)` when nothing
/// is there.
pub fn link_status(path: &Path) -> io::Result<Option<FileStatus>> {
    stat_with(path, false)
}

fn stat_with(path: &Path, follow: bool) -> io::Result<Option<FileStatus>> {
    let c_path = c_path(path)?;
    // SAFETY: an all-zero struct stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { zeroed() };
    let result = if follow {
        // SAFETY: c_path is NUL-terminated and st is live and writable.
        unsafe { libc::stat(c_path.as_ptr(), &mut st) }
    } else {
        // SAFETY: as above.
        unsafe { libc::lstat(c_path.as_ptr(), &mut st) }
    };
    match check(result) {
        Ok(_) => Ok(Some(status_of(&st))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// `mkdir(2)` with exactly `mode`: the umask is cleared for the call.
pub fn make_dir(path: &Path, mode: u32) -> io::Result<()> {
    let c_path = c_path(path)?;
    // SAFETY: umask only swaps the process's file mode mask; it cannot fail.
    let previous = unsafe { libc::umask(0) };
    // SAFETY: c_path is NUL-terminated.
    let result = check(unsafe { libc::mkdir(c_path.as_ptr(), mode as libc::mode_t) });
    // SAFETY: as above, restoring the mask.
    unsafe { libc::umask(previous) };
    result?;
    Ok(())
}
