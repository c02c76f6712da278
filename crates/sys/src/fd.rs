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

/// A reusable poll(2) set: the `pollfd` array and the results live across calls, so
/// a loop that polls on every turn allocates nothing once the set has grown to size.
#[derive(Debug, Default)]
pub struct PollSet {
    pollfds: Vec<libc::pollfd>,
    ready: Vec<Readiness>,
}

impl PollSet {
    pub fn new() -> PollSet {
        PollSet::default()
    }

    /// Forget the descriptors (keeps the storage).
    pub fn clear(&mut self) {
        self.pollfds.clear();
        self.ready.clear();
    }

    /// Add `fd`, waited on for `interest`; returns its index in the results.
    pub fn push(&mut self, fd: RawFd, interest: Readiness) -> usize {
        self.pollfds.push(libc::pollfd {
            fd,
            events: (if interest.readable { libc::POLLIN } else { 0 })
                | (if interest.priority { libc::POLLPRI } else { 0 })
                | (if interest.writable { libc::POLLOUT } else { 0 }),
            revents: 0,
        });
        self.pollfds.len() - 1
    }

    pub fn len(&self) -> usize {
        self.pollfds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pollfds.is_empty()
    }

    /// Wait until a descriptor is ready or `timeout` passes (`None`: forever). The
    /// result has one entry per descriptor, in the order pushed. An interrupted wait
    /// (a signal) returns no readiness, so the caller checks its flags.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<&[Readiness]> {
        let timeout_ms = match timeout {
            None => -1,
            // Round up so a deadline is never polled a millisecond early in a busy loop.
            Some(wait) => wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        for pollfd in &mut self.pollfds {
            pollfd.revents = 0;
        }
        // SAFETY: pollfds is a live, correctly sized array of pollfd for the whole call.
        let result = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        self.ready.clear();
        if result == -1 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
            self.ready.resize(self.pollfds.len(), Readiness::default());
            return Ok(&self.ready);
        }
        self.ready.extend(self.pollfds.iter().map(|p| Readiness {
            readable: p.revents & libc::POLLIN != 0,
            priority: p.revents & libc::POLLPRI != 0,
            writable: p.revents & libc::POLLOUT != 0,
            error: p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0,
        }));
        Ok(&self.ready)
    }
}

/// Wait until one of `fds` is ready or `timeout` passes (`None`: forever), once (see
/// [`PollSet`] for a loop). The result has one entry per fd; an interrupted wait (a
/// signal) returns no readiness, so the caller checks its flags.
pub fn poll(fds: &[(RawFd, Readiness)], timeout: Option<Duration>) -> io::Result<Vec<Readiness>> {
    let mut set = PollSet::new();
    for (fd, interest) in fds {
        set.push(*fd, *interest);
    }
    Ok(set.wait(timeout)?.to_vec())
}
