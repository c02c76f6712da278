//! Waiting for replies on many client sockets: epoll with a nanosecond timeout, for
//! the load generator (bench/loadgen) only.
//!
//! Owns one epoll instance over the load generator's sockets and waiting on it until
//! a socket is readable or the next send batch is due (epoll_pwait2, whose timeout is
//! a timespec, so pacing is not rounded to milliseconds). gnomond and gnomon must not
//! use it: they wait only in poll(2) (DESIGN.md rule 3: clknetsim intercepts poll, not
//! epoll). It is here because every `unsafe` block of the workspace is. A poll(2)
//! over 64 sockets per turn cost the generator more CPU than the server under test
//! spends per reply, CPU the server competes for on a 2-core machine.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// An epoll set of readable-interest descriptors.
pub struct ReadySet {
    epoll_fd: RawFd,
    events: Vec<libc::epoll_event>,
}

impl ReadySet {
    /// Watch `fds` for readability; `fds[i]` is reported as index `i`.
    pub fn new(fds: &[RawFd]) -> io::Result<ReadySet> {
        // SAFETY: plain syscall with a flag argument.
        let epoll_fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll_fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let set = ReadySet {
            epoll_fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; fds.len().max(1)],
        };
        for (index, fd) in fds.iter().enumerate() {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: index as u64,
            };
            // SAFETY: event is a live epoll_event; both descriptors are open.
            if unsafe { libc::epoll_ctl(epoll_fd, libc::EPOLL_CTL_ADD, *fd, &mut event) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(set)
    }

    /// Wait at most `timeout` for readable sockets; calls `on_ready(index)` for each.
    pub fn wait(&mut self, timeout: Duration, mut on_ready: impl FnMut(usize)) -> io::Result<()> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: events is a live array of events.len() entries; timeout is a valid
        // timespec; a null sigmask leaves the signal mask alone.
        let count = unsafe {
            libc::epoll_pwait2(
                self.epoll_fd,
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &timeout,
                std::ptr::null(),
            )
        };
        if count < 0 {
            let error = io::Error::last_os_error();
            return if error.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(error)
            };
        }
        for event in &self.events[..count as usize] {
            on_ready(event.u64 as usize);
        }
        Ok(())
    }
}

impl Drop for ReadySet {
    fn drop(&mut self) {
        // SAFETY: we own epoll_fd and close it once.
        unsafe {
            libc::close(self.epoll_fd);
        }
    }
}
