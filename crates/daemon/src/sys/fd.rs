//! Owned file descriptors, descriptor flags and `poll(2)`.

use super::{check, check_size};
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// A file descriptor closed on drop. Never duplicated (DESIGN.md rule 3).
#[derive(Debug)]
pub struct Fd {
    raw: RawFd,
}

impl Fd {
    /// Take ownership of `raw`, which must be an open descriptor nobody else closes.
    pub(crate) fn from_raw(raw: RawFd) -> Fd {
        Fd { raw }
    }

    pub fn raw(&self) -> RawFd {
        self.raw
    }

    /// Set O_NONBLOCK and FD_CLOEXEC, the flags gnomond wants on every socket.
    pub fn set_nonblocking_cloexec(&self) -> io::Result<()> {
        // SAFETY: fcntl on a descriptor we own with integer arguments only.
        let flags = check(unsafe { libc::fcntl(self.raw, libc::F_GETFL) })?;
        // SAFETY: as above.
        check(unsafe { libc::fcntl(self.raw, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
        // SAFETY: as above.
        let fd_flags = check(unsafe { libc::fcntl(self.raw, libc::F_GETFD) })?;
        // SAFETY: as above.
        check(unsafe { libc::fcntl(self.raw, libc::F_SETFD, fd_flags | libc::FD_CLOEXEC) })?;
        Ok(())
    }
}

impl Fd {
    /// recv(2) on a stream socket (the control and metrics connections).
    pub(crate) fn stream_read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buffer is live and writable for buffer.len() bytes.
        check_size(unsafe {
            libc::recv(
                self.raw,
                buffer.as_mut_ptr() as *mut libc::c_void,
                buffer.len(),
                0,
            )
        })
    }

    /// send(2) on a stream socket; MSG_NOSIGNAL so a closed peer is an error, not SIGPIPE.
    pub(crate) fn stream_write(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: data is live for data.len() bytes.
        check_size(unsafe {
            libc::send(
                self.raw,
                data.as_ptr() as *const libc::c_void,
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        })
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor and close it exactly once.
        unsafe {
            libc::close(self.raw);
        }
    }
}

/// What a descriptor is waited on for, and what happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    /// POLLPRI: on a timestamping socket, a TX timestamp waits in the error queue.
    pub priority: bool,
    pub writable: bool,
    /// POLLERR/POLLHUP/POLLNVAL.
    pub error: bool,
}

/// Wait until one of `fds` is ready or `timeout` passes (`None`: forever).
/// `interests[i]` says what to wait for on `fds[i]`; the result has one entry per fd.
/// An interrupted wait (a signal) returns no readiness, so the caller checks its flags.
pub fn poll(fds: &[(RawFd, Readiness)], timeout: Option<Duration>) -> io::Result<Vec<Readiness>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, interest)| libc::pollfd {
            fd: *fd,
            events: (if interest.readable { libc::POLLIN } else { 0 })
                | (if interest.priority { libc::POLLPRI } else { 0 })
                | (if interest.writable { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    let timeout_ms = match timeout {
        None => -1,
        // Round up so a deadline is never polled a millisecond early in a busy loop.
        Some(wait) => wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
    };
    // SAFETY: pollfds is a live, correctly sized array of pollfd for the whole call.
    let result = unsafe {
        libc::poll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if result == -1 {
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![Readiness::default(); fds.len()]);
        }
        return Err(error);
    }
    Ok(pollfds
        .iter()
        .map(|p| Readiness {
            readable: p.revents & libc::POLLIN != 0,
            priority: p.revents & libc::POLLPRI != 0,
            writable: p.revents & libc::POLLOUT != 0,
            error: p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0,
        })
        .collect())
}
