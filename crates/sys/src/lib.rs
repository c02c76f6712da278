//! gnomon-sys, the libc call layer: the one crate in gnomon where `unsafe` lives
//! (every other crate forbids it; here clippy denies an `unsafe` block without a
//! `// SAFETY:` comment).
//!
//! Owns every system call gnomond and gnomon make, as small safe wrappers, each
//! `unsafe` block with a `// SAFETY:` line. DESIGN.md rule 3 shapes it: everything goes
//! through glibc (so an LD_PRELOAD clock/network simulator can intercept it), sockets are
//! created with a plain `SOCK_DGRAM`/`SOCK_STREAM` type and get their flags afterwards
//! with `fcntl`, `recvmsg` always has exactly one iovec, and waiting is `poll(2)` only.
//! Policy (what to send, when, which clock change) does not belong here.
//!
//! - [`batch`]: recvmmsg/sendmmsg batches (worker threads and the load generator).
//! - [`epoll`]: the load generator's wait over many sockets (never gnomond's).
//! - [`fd`]: owned file descriptors, `fcntl` flags, `poll`.
//! - [`files`]: `stat`/`lstat`/`mkdir` through glibc (the control socket's directory).
//! - [`regular_file`]: reading configuration and state files (regular files only,
//!   O_NONBLOCK, size caps).
//! - [`socket`]: UDP sockets with kernel timestamps (SO_TIMESTAMPING).
//! - [`unix`]: Unix datagram sockets (control socket, sd_notify) and SCM_CREDENTIALS.
//! - [`tcp`]: the metrics endpoint's TCP listener and connections.
//! - [`timex`]: reading the clock and the adjtimex interface.
//! - [`privileges`]: dropping root, keeping CAP_SYS_TIME.
//! - [`signal`]: SIGTERM/SIGINT/SIGHUP to flags the main loop polls.

// The workspace denies unsafe code; this is the crate that holds it (DESIGN rule 4).
#![allow(unsafe_code)]

pub mod batch;
pub mod epoll;
pub mod fd;
pub mod files;
pub mod privileges;
pub mod regular_file;
pub mod signal;
pub mod socket;
pub mod tcp;
pub mod timex;
pub mod unix;

use std::io;

/// Turn a libc return value into a `Result`, reading `errno` on -1.
pub(crate) fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Like [`check`] for `ssize_t` results.
pub(crate) fn check_size(result: libc::ssize_t) -> io::Result<usize> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result as usize)
    }
}

/// A kernel timespec as Unix time.
pub(crate) fn timespec_to_unix(ts: &libc::timespec) -> gnomon_proto::UnixTime {
    gnomon_proto::UnixTime::from_nanos(timespec_to_ns(ts))
}

/// A kernel timespec as nanoseconds. The conversions are no-ops where time_t and long
/// are 64-bit, and widen on 32-bit targets.
#[allow(clippy::useless_conversion)]
pub(crate) fn timespec_to_ns(ts: &libc::timespec) -> i64 {
    i64::from(ts.tv_sec) * 1_000_000_000 + i64::from(ts.tv_nsec)
}

/// recvmsg(2) of one datagram on `fd` with exactly one iovec (DESIGN rule 3): the data
/// into `buffer`, the sender's address into `from` (a sockaddr type), control messages
/// into `control`. Returns the datagram's length (possibly more than `buffer` holds,
/// with MSG_TRUNC) and the message header as the kernel filled it in, whose pointers
/// refer to the caller's `from` and `control` (read its control messages while they
/// live).
pub(crate) fn recv_one<A>(
    fd: std::os::fd::RawFd,
    buffer: &mut [u8],
    from: &mut A,
    control: &mut [u64],
    flags: libc::c_int,
) -> io::Result<(usize, libc::msghdr)> {
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr() as *mut libc::c_void,
        iov_len: buffer.len(),
    };
    // SAFETY: an all-zero msghdr is a valid value.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_name = from as *mut A as *mut libc::c_void;
    message.msg_namelen = std::mem::size_of::<A>() as libc::socklen_t;
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    message.msg_controllen = std::mem::size_of_val(control);
    // SAFETY: every pointer in message refers to a buffer of the stated size that lives
    // for the whole call (iov is local; buffer, from and control are borrowed).
    let len = check_size(unsafe { libc::recvmsg(fd, &mut message, flags) })?;
    // The iovec dies here: the caller gets no pointer to it.
    message.msg_iov = std::ptr::null_mut();
    message.msg_iovlen = 0;
    Ok((len, message))
}
