//! The clock layer against a recording fake of the kernel: what each engine action
//! asks of adjtimex, without touching this machine's clock.

use gnomon_core::clock_action::{ClockAction, LeapSecond};
use gnomon_daemon::clock::{Clock, SystemClock, VirtualClock};
use gnomon_proto::UnixTime;
use gnomon_sys::timex::{KernelClock, Timex};
use std::cell::Cell;
use std::rc::Rc;

/// Records every adjtimex request and keeps a kernel-like state, with the Linux
/// behaviours gnomond has to work around (kernel/time/ntp.c): a pending PLL offset and
/// an adjtime() slew that survive STA_PLL going off, ADJ_OFFSET ignored without STA_PLL,
/// and a step (ntp_clear) that forgets an armed leap until the leap state machine is
/// reset by STA_PLL going off.
#[derive(Default)]
struct RecordingKernel {
    calls: Vec<Timex>,
    state: Timex,
    /// What is left of an adjtime() slew, microseconds.
    adjtime_left_us: i64,
    /// A step made the kernel forget the armed leap.
    leap_forgotten: bool,
}

/// ADJ_ADJTIME, the adjtime() bit of ADJ_OFFSET_SINGLESHOT.
const ADJ_ADJTIME: u32 = 0x8000;

impl KernelClock for RecordingKernel {
    fn adjtime(&mut self, request: &Timex) -> std::io::Result<(Timex, i32)> {
        self.calls.push(*request);
        let modes = request.modes;
        if modes & ADJ_ADJTIME != 0 {
            // adjtime(): nothing else in the request is looked at.
            self.adjtime_left_us = request.offset;
            return Ok((self.state, 0));
        }
        if modes & libc::ADJ_SETOFFSET != 0 {
            // ntp_clear(): both pending corrections and the leap time go.
            self.state.offset = 0;
            self.adjtime_left_us = 0;
            self.state.status |= libc::STA_UNSYNC;
            self.leap_forgotten = true;
        }
        if modes & libc::ADJ_STATUS != 0 {
            if self.state.status & libc::STA_PLL != 0 && request.status & libc::STA_PLL == 0 {
                // The leap state machine goes back to TIME_OK and re-arms from STA_INS.
                self.leap_forgotten = false;
            }
            self.state.status = request.status;
        }
        if modes & libc::ADJ_OFFSET != 0 && self.state.status & libc::STA_PLL != 0 {
            self.state.offset = request.offset;
        }
        if modes & libc::ADJ_FREQUENCY != 0 {
            self.state.frequency = request.frequency;
        }
        if modes & libc::ADJ_TICK != 0 {
            self.state.tick_us = request.tick_us;
        }
        Ok((self.state, 0))
    }

    fn now(&self) -> UnixTime {
        UnixTime::from_secs(1_795_000_000)
    }
}

fn fresh_kernel() -> RecordingKernel {
    RecordingKernel {
        calls: Vec::new(),
        state: Timex {
            status: libc::STA_PLL | libc::STA_UNSYNC,
            frequency: 3 * 65_536,
            tick_us: 10_000,
            ..Timex::default()
        },
        ..RecordingKernel::default()
    }
}

/// adjtimex calls of a takeover: read, cancel adjtime(), cancel the PLL offset, PLL off.
const TAKEOVER_CALLS: usize = 4;

#[test]
fn takeover_reads_then_turns_kernel_pll_off() {
    let clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    let calls = &clock.kernel().calls;
    assert_eq!(calls.len(), TAKEOVER_CALLS);
    assert_eq!(calls[0].modes, 0, "first call only reads");
    let last = calls[TAKEOVER_CALLS - 1];
    assert_eq!(last.modes, libc::ADJ_STATUS);
    assert_eq!(last.status & libc::STA_PLL, 0);
    assert_ne!(last.status & libc::STA_UNSYNC, 0);
    assert!(
        (clock.frequency_ppm() - 3.0).abs() < 1e-9,
        "kernel frequency kept"
    );
}

#[test]
fn actions_become_the_right_adjtimex_calls() {
    let mut clock = SystemClock::new(fresh_kernel(), 10_000)
        .unwrap()
        .with_rtc_sync(true);
    clock
        .apply(&ClockAction::SetFrequency {
            frequency_ppm: -12.5,
            slew_ppm: 0.0,
        })
        .unwrap();
    clock.apply(&ClockAction::Step { offset_s: -0.25 }).unwrap();
    clock
        .apply(&ClockAction::SetLeap(LeapSecond::Insert))
        .unwrap();
    clock
        .apply(&ClockAction::SetSynchronized {
            synchronized: true,
            max_error_s: 0.002,
            est_error_s: 0.0001,
        })
        .unwrap();
    clock
        .apply(&ClockAction::SetLeap(LeapSecond::None))
        .unwrap();
    clock
        .apply(&ClockAction::SetSynchronized {
            synchronized: false,
            max_error_s: 16.0,
            est_error_s: 16.0,
        })
        .unwrap();

    let calls = &clock.kernel().calls[TAKEOVER_CALLS..];
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[0].modes, (libc::ADJ_FREQUENCY | libc::ADJ_TICK));
    assert_eq!(calls[0].frequency, -819_200);
    assert_eq!(calls[0].tick_us, 10_000);

    assert_eq!(calls[1].modes, (libc::ADJ_SETOFFSET | libc::ADJ_NANO));
    assert_eq!(
        (calls[1].step_seconds, calls[1].step_nanos),
        (-1, 750_000_000)
    );

    assert_eq!(calls[2].modes, libc::ADJ_STATUS);
    assert_ne!(calls[2].status & libc::STA_INS, 0);
    assert_eq!(calls[2].status & libc::STA_DEL, 0);

    assert_eq!(
        calls[3].modes,
        (libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR)
    );
    assert_eq!(
        calls[3].status & libc::STA_UNSYNC,
        0,
        "synchronised with rtcsync clears STA_UNSYNC"
    );
    assert_ne!(calls[3].status & libc::STA_INS, 0, "leap flag survives");
    assert_eq!((calls[3].max_error_us, calls[3].est_error_us), (2_000, 100));

    assert_eq!(calls[4].status & (libc::STA_INS | libc::STA_DEL), 0);
    assert_ne!(calls[5].status & libc::STA_UNSYNC, 0);
    assert_eq!(calls[5].max_error_us, 16_000_000);
}

/// Without `rtcsync`, as chronyd on Linux: STA_UNSYNC stays set when synchronised
/// (so the kernel's 11-minute mode never writes the RTC), while maxerror and esterror
/// are written as with it, for readers that go by them (systemd's timedated: "in sync"
/// is maxerror < 16 s). A bound of 16 s or more never clears STA_UNSYNC.
#[test]
fn sta_unsync_is_cleared_only_with_rtcsync() {
    let synchronised = |max_error_s: f64| ClockAction::SetSynchronized {
        synchronized: true,
        max_error_s,
        est_error_s: 0.0001,
    };
    let mut clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    clock.apply(&synchronised(0.002)).unwrap();
    let call = *clock.kernel().calls.last().unwrap();
    assert_eq!(
        call.modes,
        (libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR)
    );
    assert_ne!(call.status & libc::STA_UNSYNC, 0, "no rtcsync: stays set");
    assert_eq!((call.max_error_us, call.est_error_us), (2_000, 100));
    assert_ne!(clock.kernel().state.status & libc::STA_UNSYNC, 0);

    let mut clock = SystemClock::new(fresh_kernel(), 10_000)
        .unwrap()
        .with_rtc_sync(true);
    clock.apply(&synchronised(0.002)).unwrap();
    assert_eq!(clock.kernel().state.status & libc::STA_UNSYNC, 0);
    clock.apply(&synchronised(16.0)).unwrap();
    let call = *clock.kernel().calls.last().unwrap();
    assert_ne!(
        call.status & libc::STA_UNSYNC,
        0,
        "a 16 s bound is unsynchronised"
    );
    assert_eq!(call.max_error_us, 16_000_000);
}

#[test]
fn virtual_clock_follows_frequency_and_steps() {
    let base_ns = Rc::new(Cell::new(1_795_000_000_000_000_000i64));
    let base = {
        let base_ns = Rc::clone(&base_ns);
        move || UnixTime::from_nanos(base_ns.get())
    };
    // Starts 2 s ahead and runs 50 ppm fast.
    let mut clock = VirtualClock::new(base, 2.0, 50.0, "virtual");
    let advance = |seconds: i64| base_ns.set(base_ns.get() + seconds * 1_000_000_000);
    advance(100);
    assert!((clock.offset_from_base_s() - (2.0 + 100.0 * 50e-6)).abs() < 1e-9);
    clock
        .apply(&ClockAction::Step { offset_s: -2.005 })
        .unwrap();
    assert!(clock.offset_from_base_s().abs() < 1e-9);
    // The engine corrects the frequency: the clock now keeps the base's time.
    clock
        .apply(&ClockAction::SetFrequency {
            frequency_ppm: -50.0,
            slew_ppm: 0.0,
        })
        .unwrap();
    advance(1000);
    assert!(clock.offset_from_base_s().abs() < 1e-9);
    let expected = UnixTime::from_nanos(base_ns.get());
    assert!(clock.now().duration_since(expected).as_seconds_f64().abs() < 1e-9);
    clock
        .apply(&ClockAction::SetLeap(LeapSecond::Delete))
        .unwrap();
    assert_eq!(clock.leap(), LeapSecond::Delete);
    assert!(!clock.synchronized());
}

/// Found by tests/vm: ntpd (or anything using the kernel PLL or adjtime()) leaves a
/// pending offset that the kernel keeps slewing under gnomond after STA_PLL goes off.
#[test]
fn takeover_cancels_a_previous_daemons_pll_offset_and_adjtime_slew() {
    let mut kernel = fresh_kernel();
    kernel.state.offset = 50_000;
    kernel.adjtime_left_us = 50_000;
    let clock = SystemClock::new(kernel, 10_000).unwrap();
    let kernel = clock.kernel();
    assert_eq!(kernel.state.offset, 0, "PLL offset cancelled");
    assert_eq!(kernel.adjtime_left_us, 0, "adjtime() slew cancelled");
    assert_eq!(kernel.state.status & libc::STA_PLL, 0, "PLL off afterwards");
    assert_eq!(kernel.state.frequency, 3 * 65_536, "frequency untouched");
    let cancel = kernel
        .calls
        .iter()
        .find(|call| call.modes & libc::ADJ_OFFSET != 0 && call.modes & ADJ_ADJTIME == 0)
        .expect("an ADJ_OFFSET call");
    assert_ne!(
        cancel.modes & libc::ADJ_MICRO,
        0,
        "back to microsecond mode"
    );
    assert_ne!(
        cancel.status & libc::STA_PLL,
        0,
        "ADJ_OFFSET counts only with STA_PLL"
    );
}

/// Found by tests/vm: a step on the leap day made the guest kernel skip the leap second
/// although STA_INS stayed set.
#[test]
fn a_step_rearms_an_armed_leap_second() {
    let mut clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    clock
        .apply(&ClockAction::SetLeap(LeapSecond::Insert))
        .unwrap();
    clock.apply(&ClockAction::Step { offset_s: 3.0 }).unwrap();
    let kernel = clock.kernel();
    assert!(
        !kernel.leap_forgotten,
        "the leap is armed again after the step"
    );
    assert_ne!(kernel.state.status & libc::STA_INS, 0);
    assert_eq!(kernel.state.status & libc::STA_PLL, 0);

    // Without a leap a step is one call.
    let mut clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    clock.apply(&ClockAction::Step { offset_s: 3.0 }).unwrap();
    assert_eq!(clock.kernel().calls.len(), TAKEOVER_CALLS + 1);
}

/// Found by tests/vm: gnomond stopped while slewing left the kernel running at the slew
/// rate (up to maxslewrate, 8 %) for good.
#[test]
fn letting_go_of_the_clock_ends_the_slew_in_progress() {
    let mut clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    clock
        .apply(&ClockAction::SetFrequency {
            frequency_ppm: 20_012.5,
            slew_ppm: 20_000.0,
        })
        .unwrap();
    assert_eq!(clock.kernel().state.tick_us, 10_200);
    let calls = Rc::new(Cell::new(Timex::default()));
    let last = Rc::clone(&calls);
    let kernel = DropWitness {
        inner: fresh_kernel(),
        last,
    };
    let mut clock = SystemClock::new(kernel, 10_000).unwrap();
    clock
        .apply(&ClockAction::SetFrequency {
            frequency_ppm: 20_012.5,
            slew_ppm: 20_000.0,
        })
        .unwrap();
    drop(clock);
    let last = calls.get();
    assert_eq!(last.modes, libc::ADJ_FREQUENCY | libc::ADJ_TICK);
    assert_eq!(
        (last.tick_us, last.frequency),
        (10_000, 819_200),
        "12.5 ppm, no slew"
    );

    // Without a slew in progress, nothing is written at the end.
    let last = Rc::new(Cell::new(Timex::default()));
    let mut clock = SystemClock::new(
        DropWitness {
            inner: fresh_kernel(),
            last: Rc::clone(&last),
        },
        10_000,
    )
    .unwrap();
    clock
        .apply(&ClockAction::SetFrequency {
            frequency_ppm: 12.5,
            slew_ppm: 0.0,
        })
        .unwrap();
    let before = last.get();
    drop(clock);
    assert_eq!(last.get(), before);
}

/// A kernel that reports its last request to the test after the clock is gone.
struct DropWitness {
    inner: RecordingKernel,
    last: Rc<Cell<Timex>>,
}

impl KernelClock for DropWitness {
    fn adjtime(&mut self, request: &Timex) -> std::io::Result<(Timex, i32)> {
        self.last.set(*request);
        self.inner.adjtime(request)
    }

    fn now(&self) -> UnixTime {
        self.inner.now()
    }
}

/// Without a drift file, the engine starts from the frequency the kernel already runs
/// at (as chronyd does), not from zero; a drift file's value wins over it.
#[test]
fn starts_from_the_kernel_frequency_without_a_drift_file() {
    use gnomon_config::Config;
    use gnomon_daemon::runtime::{Daemon, RunOptions};
    let options = || RunOptions {
        one_shot: None,
        resolve_overrides: Vec::new(),
    };
    let config = Config::parse_str("bindcmdaddress /\n", "test.conf")
        .unwrap()
        .config;
    let clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    let daemon = Daemon::new(config, options(), Box::new(clock)).unwrap();
    let frequency_ppm = daemon.engine().discipline().base_frequency_ppm();
    assert!((frequency_ppm - 3.0).abs() < 1e-9, "{frequency_ppm}");

    let dir = tempfile::tempdir().unwrap();
    let drift = dir.path().join("drift");
    std::fs::write(&drift, "-7.5 0.1\n").unwrap();
    let text = format!("bindcmdaddress /\ndriftfile {}\n", drift.display());
    let config = Config::parse_str(&text, "test.conf").unwrap().config;
    let clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    let daemon = Daemon::new(config, options(), Box::new(clock)).unwrap();
    let frequency_ppm = daemon.engine().discipline().base_frequency_ppm();
    assert!((frequency_ppm + 7.5).abs() < 1e-9, "{frequency_ppm}");
}
