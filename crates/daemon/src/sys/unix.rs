//! Unix stream sockets (the control socket) and Unix datagrams (sd_notify).
//!
//! Owns creating, binding, accepting and connecting Unix sockets with a plain
//! `SOCK_STREAM`/`SOCK_DGRAM` type and `fcntl` flags, SO_PEERCRED, and the one-shot
//! datagram sd_notify needs. Who may do what over them is the control server's business.

use super::fd::Fd;
use super::socket::new_socket;
use super::{check, check_size};
use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A listening Unix stream socket (the control socket).
#[derive(Debug)]
pub struct UnixListener {
    fd: Fd,
}

/// An accepted Unix stream connection.
#[derive(Debug)]
pub struct UnixStream {
    fd: Fd,
}

fn unix_address(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: zeroed sockaddr_un is valid.
    let mut address: libc::sockaddr_un = unsafe { zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= address.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path too long: {}", path.display()),
        ));
    }
    for (slot, byte) in address.sun_path.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    let len = size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((address, len as libc::socklen_t))
}

impl UnixListener {
    /// Bind and listen at `path`, replacing a stale socket file there.
    pub fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
        let fd = new_socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        let _ = std::fs::remove_file(path);
        let (address, len) = unix_address(path)?;
        // SAFETY: address is a valid sockaddr_un of length len.
        check(unsafe { libc::bind(fd.raw(), &address as *const _ as *const libc::sockaddr, len) })?;
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: c_path is a NUL-terminated path.
        check(unsafe { libc::chmod(c_path.as_ptr(), mode as libc::mode_t) })?;
        // SAFETY: listen on a bound socket we own.
        check(unsafe { libc::listen(fd.raw(), 16) })?;
        Ok(UnixListener { fd })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    /// Accept one connection (WouldBlock when none waits).
    pub fn accept(&self) -> io::Result<UnixStream> {
        // SAFETY: null address pointers are allowed by accept().
        let raw = check(unsafe {
            libc::accept(self.fd.raw(), std::ptr::null_mut(), std::ptr::null_mut())
        })?;
        let fd = Fd::from_raw(raw);
        fd.set_nonblocking_cloexec()?;
        Ok(UnixStream { fd })
    }
}

/// The credentials of the process at the other end of a Unix socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCredentials {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl UnixStream {
    /// Connect to a listening socket at `path` (the CLI side, and tests).
    pub fn connect(path: &Path) -> io::Result<UnixStream> {
        // SAFETY: socket() with constant arguments; checked.
        let raw = check(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) })?;
        let fd = Fd::from_raw(raw);
        let (address, len) = unix_address(path)?;
        // SAFETY: address is a valid sockaddr_un of length len.
        check(unsafe {
            libc::connect(fd.raw(), &address as *const _ as *const libc::sockaddr, len)
        })?;
        Ok(UnixStream { fd })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    /// SO_PEERCRED: who is connected.
    pub fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        let mut credentials = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: credentials and len are live and sized for SO_PEERCRED.
        check(unsafe {
            libc::getsockopt(
                self.fd.raw(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                &mut credentials as *mut _ as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(PeerCredentials {
            pid: credentials.pid,
            uid: credentials.uid,
            gid: credentials.gid,
        })
    }

    pub fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.fd.stream_read(buffer)
    }

    pub fn write(&self, data: &[u8]) -> io::Result<usize> {
        self.fd.stream_write(data)
    }
}

/// Send one datagram to a Unix datagram socket at `path` ('@' first: abstract
/// namespace), as sd_notify does. Returns Ok(false) when `path` is empty.
pub fn send_unix_datagram(path: &str, data: &[u8]) -> io::Result<bool> {
    if path.is_empty() {
        return Ok(false);
    }
    // SAFETY: socket() with constant arguments; checked.
    let raw = check(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) })?;
    let fd = Fd::from_raw(raw);
    let (mut address, len) = unix_address(Path::new(path))?;
    if path.starts_with('@') {
        address.sun_path[0] = 0;
    }
    let len = if path.starts_with('@') { len - 1 } else { len };
    // SAFETY: data and address are live with their sizes passed.
    check_size(unsafe {
        libc::sendto(
            fd.raw(),
            data.as_ptr() as *const libc::c_void,
            data.len(),
            libc::MSG_NOSIGNAL,
            &address as *const _ as *const libc::sockaddr,
            len,
        )
    })?;
    Ok(true)
}
