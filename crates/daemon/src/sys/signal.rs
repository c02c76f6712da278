//! Signals as flags: SIGTERM and SIGINT ask the main loop to stop, SIGHUP to reload.
//!
//! The handlers store into atomics and write one byte to a self-pipe (both
//! async-signal-safe). The pipe's read end is in the main loop's poll set, so a signal
//! that arrives just before poll(2) still wakes it: no race between checking the
//! flags and going to sleep, and no ppoll/signalfd (DESIGN rule 3).

use super::check;
use super::fd::Fd;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
static RELOAD_REQUESTED: AtomicBool = AtomicBool::new(false);
static WAKE_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

fn wake() {
    let fd = WAKE_WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe (EAGAIN) already wakes poll.
        unsafe {
            libc::write(fd, b"s".as_ptr() as *const libc::c_void, 1);
        }
    }
}

extern "C" fn on_stop(_signal: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    wake();
}

extern "C" fn on_reload(_signal: libc::c_int) {
    RELOAD_REQUESTED.store(true, Ordering::SeqCst);
    wake();
}

/// The read end of the self-pipe: poll it for readability, then [`drain`](WakePipe::drain).
pub struct WakePipe {
    read: Fd,
    _write: Fd,
}

impl WakePipe {
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.read.raw()
    }

    /// Empty the pipe after poll said it is readable.
    pub fn drain(&self) {
        let mut buffer = [0u8; 64];
        // SAFETY: buffer is live for its length; the fd is non-blocking.
        while unsafe {
            libc::read(
                self.read.raw(),
                buffer.as_mut_ptr() as *mut libc::c_void,
                buffer.len(),
            )
        } > 0
        {}
    }
}

fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; we set the handler and an empty mask.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = 0;
    // SAFETY: sa_mask is a live sigset_t.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: action is fully initialised; the old action is not wanted.
    check(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) })?;
    Ok(())
}

/// Install the handlers for SIGTERM, SIGINT and SIGHUP, ignore SIGPIPE, and return
/// the pipe that wakes the main loop when one of them arrives.
pub fn install_handlers() -> io::Result<WakePipe> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a live array of two ints for pipe(2) to fill.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    let pipe = WakePipe {
        read: Fd::from_raw(fds[0]),
        _write: Fd::from_raw(fds[1]),
    };
    pipe.read.set_nonblocking_cloexec()?;
    pipe._write.set_nonblocking_cloexec()?;
    WAKE_WRITE_FD.store(fds[1], Ordering::SeqCst);
    install(libc::SIGTERM, on_stop)?;
    install(libc::SIGINT, on_stop)?;
    install(libc::SIGHUP, on_reload)?;
    // SAFETY: setting SIGPIPE to SIG_IGN is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    Ok(pipe)
}

/// True once SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// True once after each SIGHUP.
pub fn take_reload_request() -> bool {
    RELOAD_REQUESTED.swap(false, Ordering::SeqCst)
}
