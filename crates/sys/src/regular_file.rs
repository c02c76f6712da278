//! Reading the files an operator (or an attacker with write access to a config or
//! state directory) names: configuration, `sourcedir` files, the drift file, the
//! leap-second zone.
//!
//! Owns one rule: gnomond reads only regular files, and only up to a size cap. A FIFO
//! would block the main loop until someone writes to it, `/dev/zero` would read until
//! memory runs out, a directory reads as an error. So the file is opened with
//! `O_NONBLOCK` (opening a FIFO then neither blocks nor waits for a writer), checked with
//! `fstat` on the open descriptor (no race with a rename between a check and the open),
//! and read through a limit. Errors name the kind of file that was refused; callers add
//! the path.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The largest configuration file (`include`, `confdir`, `sourcedir` files) read: 1 MiB,
/// a thousand times the largest real chrony.conf.
pub const CONFIG_FILE_MAX_BYTES: u64 = 1 << 20;

/// Linux's null device, 1:3 (`/dev/null`): empty, never blocks, so accepted as an
/// empty file (`gnomond -f /dev/null`, as `chronyd -f /dev/null`, is a common idiom).
const NULL_DEVICE: (u32, u32) = (1, 3);

/// Open `path` for reading without blocking, and refuse anything but a regular file
/// (or the null device, which reads as an empty one).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    let device = metadata.rdev();
    let is_null_device =
        kind.is_char_device() && (libc::major(device), libc::minor(device)) == NULL_DEVICE;
    if kind.is_file() || is_null_device {
        return Ok(file);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file; refused"),
    ))
}

/// The whole content of the regular file at `path`; an error if it is larger than
/// `max_bytes` (nothing beyond `max_bytes + 1` is read).
pub fn read_capped(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let bytes = read_prefix(path, max_bytes.saturating_add(1))?;
    if bytes.len() as u64 > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max_bytes} bytes; refused"),
        ));
    }
    Ok(bytes)
}

/// At most the first `max_bytes` of the regular file at `path`.
pub fn read_prefix(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo");
        assert!(status.success());
    }

    #[test]
    fn regular_files_read_whole_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.conf");
        std::fs::write(&path, b"server x\n").unwrap();
        assert_eq!(read_capped(&path, 100).unwrap(), b"server x\n");
        assert_eq!(read_capped(&path, 9).unwrap(), b"server x\n");
        let error = read_capped(&path, 8).unwrap_err();
        assert!(error.to_string().contains("larger than 8 bytes"), "{error}");
        assert_eq!(read_prefix(&path, 6).unwrap(), b"server");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sources");
        mkfifo(&path);
        // No writer exists: a blocking open would hang this test forever.
        let error = read_capped(&path, CONFIG_FILE_MAX_BYTES).unwrap_err();
        assert!(error.to_string().contains("a FIFO"), "{error}");
    }

    #[test]
    fn devices_and_directories_are_refused() {
        // /dev/null is the one device read: as an empty file.
        assert_eq!(
            read_capped(Path::new("/dev/null"), CONFIG_FILE_MAX_BYTES).unwrap(),
            b""
        );
        let error = read_capped(Path::new("/dev/zero"), CONFIG_FILE_MAX_BYTES).unwrap_err();
        assert!(error.to_string().contains("character device"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let error = read_capped(dir.path(), CONFIG_FILE_MAX_BYTES).unwrap_err();
        assert!(error.to_string().contains("a directory"), "{error}");
        let missing = read_capped(&dir.path().join("none"), 10).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
