//! The libc call layer: the one place in gnomon where `unsafe` lives.
//!
//! Owns every system call gnomond makes, as small safe wrappers, each `unsafe` block
//! with a `// SAFETY:` line. DESIGN.md rule 3 shapes it: everything goes through
//! glibc (so an LD_PRELOAD clock/network simulator can intercept it), sockets are
//! created with a plain `SOCK_DGRAM`/`SOCK_STREAM` type and get their flags afterwards
//! with `fcntl`, `recvmsg` always has exactly one iovec, and waiting is `poll(2)` only.
//! Policy (what to send, when, which clock change) does not belong here.
//!
//! - [`batch`]: recvmmsg/sendmmsg batches (worker threads and the load generator).
//! - [`counting_alloc`]: a counting allocator for allocation-free tests.
//! - [`fd`]: owned file descriptors, `fcntl` flags, `poll`.
//! - [`files`]: `stat`/`lstat`/`mkdir` through glibc (the control socket's directory).
//! - [`socket`]: UDP sockets with kernel timestamps (SO_TIMESTAMPING).
//! - [`unix`]: Unix datagram sockets (control socket, sd_notify) and SCM_CREDENTIALS.
//! - [`tcp`]: the metrics endpoint's TCP listener and connections.
//! - [`timex`]: reading the clock and the adjtimex interface.
//! - [`privileges`]: dropping root, keeping CAP_SYS_TIME.
//! - [`signal`]: SIGTERM/SIGINT/SIGHUP to flags the main loop polls.

pub mod batch;
pub mod counting_alloc;
pub mod fd;
pub mod files;
pub mod privileges;
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
