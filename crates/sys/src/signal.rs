//! Signals as flags: SIGTERM and SIGINT ask the main loop to stop, SIGHUP to reload.
//!
//! The handlers store into atomics and add one to an eventfd counter (both
//! async-signal-safe). The eventfd is in the main loop's poll set, so a signal that
//! arrives just before poll(2) still wakes it: no race between checking the flags and
//! going to sleep, and no ppoll/signalfd (DESIGN rule 3).
//!
//! Why an eventfd and not a self-pipe: clknetsim (chrony's simulator, issue 13) reports
//! every descriptor it does not simulate as always readable, so a pipe in the poll set
//! would keep poll(2) from ever waiting there. It intercepts `eventfd` and hands back a
//! simulated timer descriptor that is never armed, so the poll set waits as it should; it
//! ends a simulation by raising SIGTERM itself and returning EINTR from the wait, which the
//! flag catches. Outside the simulator the eventfd is an ordinary kernel one.

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
        let one: u64 = 1;
        // SAFETY: write(2) is async-signal-safe and `one` is live for its 8 bytes; a
        // counter at its maximum (EAGAIN) is readable already and so wakes poll anyway.
        unsafe {
            libc::write(fd, &one as *const u64 as *const libc::c_void, 8);
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

/// The wake-up eventfd: poll it for readability, then [`drain`](WakePipe::drain).
pub struct WakePipe {
    read: Fd,
}

impl WakePipe {
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.read.raw()
    }

    /// Reset the counter after poll said it is readable (one read empties an eventfd).
    pub fn drain(&self) {
        let mut counter = 0u64;
        // SAFETY: counter is live and writable for its 8 bytes; the fd is non-blocking.
        unsafe {
            libc::read(
                self.read.raw(),
                &mut counter as *mut u64 as *mut libc::c_void,
                8,
            );
        }
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
/// the eventfd that wakes the main loop when one of them arrives.
pub fn install_handlers() -> io::Result<WakePipe> {
    // The flags are given at creation, not with fcntl afterwards: under clknetsim the
    // descriptor is a simulated one that fcntl does not know (it ignores the flags).
    // SAFETY: eventfd(2) with integer arguments only.
    let raw = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    let pipe = WakePipe {
        read: Fd::from_raw(raw),
    };
    WAKE_WRITE_FD.store(raw, Ordering::SeqCst);
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
