//! Reading the clock and the Linux adjtimex interface.
//!
//! Owns the raw `clock_gettime` and `clock_adjtime` calls behind [`KernelClock`], a
//! trait, so that the code deciding *what* to ask of the kernel (gnomon-daemon's `clock`) is
//! tested against a recording fake and never against this machine's clock. Reading
//! (`modes == 0`) is harmless; anything else changes the clock and happens only in
//! [`LinuxKernelClock`], which tests never construct with write access.

use super::check;
use gnomon_proto::UnixTime;
use std::io;

/// The fields of `struct timex` gnomon uses, in the kernel's units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timex {
    /// ADJ_* bits saying which fields to set; 0 reads only.
    pub modes: u32,
    /// ADJ_OFFSET: nanoseconds with ADJ_NANO (unused by gnomon: it slews by frequency).
    pub offset: i64,
    /// ADJ_FREQUENCY: ppm with a 16-bit fraction (65536 = 1 ppm).
    pub frequency: i64,
    /// ADJ_MAXERROR, microseconds.
    pub max_error_us: i64,
    /// ADJ_ESTERROR, microseconds.
    pub est_error_us: i64,
    /// ADJ_STATUS: STA_* bits.
    pub status: i32,
    /// ADJ_TICK: microseconds per tick.
    pub tick_us: i64,
    /// ADJ_SETOFFSET: the step, seconds and nanoseconds (with ADJ_NANO).
    pub step_seconds: i64,
    pub step_nanos: i64,
    /// Read back: TAI - UTC.
    pub tai_offset_s: i32,
}

/// The kernel clock calls, for the real kernel or a fake.
pub trait KernelClock {
    /// `clock_adjtime(CLOCK_REALTIME, ...)`: applies `request` and returns the state
    /// after it with the clock state code (TIME_OK, TIME_INS, ..., TIME_ERROR).
    fn adjtime(&mut self, request: &Timex) -> io::Result<(Timex, i32)>;
    /// CLOCK_REALTIME now.
    fn now(&self) -> UnixTime;
}

/// The real kernel, through glibc.
#[derive(Debug, Default)]
pub struct LinuxKernelClock;

/// CLOCK_REALTIME through glibc's clock_gettime.
pub fn realtime_now() -> UnixTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live timespec; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    super::timespec_to_unix(&ts)
}

/// CLOCK_MONOTONIC as nanoseconds, for intervals that must not jump with steps.
pub fn monotonic_now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    super::timespec_to_ns(&ts)
}

impl KernelClock for LinuxKernelClock {
    fn adjtime(&mut self, request: &Timex) -> io::Result<(Timex, i32)> {
        // SAFETY: a zeroed timex is a valid "read only" request.
        let mut raw: libc::timex = unsafe { std::mem::zeroed() };
        raw.modes = request.modes;
        raw.offset = request.offset as libc::c_long;
        raw.freq = request.frequency as libc::c_long;
        raw.maxerror = request.max_error_us as libc::c_long;
        raw.esterror = request.est_error_us as libc::c_long;
        raw.status = request.status;
        raw.tick = request.tick_us as libc::c_long;
        raw.time.tv_sec = request.step_seconds as libc::time_t;
        raw.time.tv_usec = request.step_nanos as libc::suseconds_t;
        // SAFETY: raw is a live, initialised timex for the call.
        let state = check(unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &mut raw) })?;
        Ok((
            Timex {
                modes: raw.modes,
                offset: raw.offset as i64,
                frequency: raw.freq as i64,
                max_error_us: raw.maxerror as i64,
                est_error_us: raw.esterror as i64,
                status: raw.status,
                tick_us: raw.tick as i64,
                step_seconds: raw.time.tv_sec as i64,
                step_nanos: raw.time.tv_usec as i64,
                tai_offset_s: raw.tai,
            },
            state,
        ))
    }

    fn now(&self) -> UnixTime {
        realtime_now()
    }
}

/// USER_HZ, the kernel's tick rate as adjtimex's `tick` counts it.
pub fn clock_ticks_per_second() -> i64 {
    // SAFETY: sysconf with a constant name has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as i64
    } else {
        100
    }
}
