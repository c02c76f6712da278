//! The clock layer against a recording fake of the kernel: what each engine action
//! asks of adjtimex, without touching this machine's clock.

use gnomon_core::clock_action::{ClockAction, LeapSecond};
use gnomon_daemon::clock::{Clock, SystemClock, VirtualClock};
use gnomon_daemon::sys::timex::{KernelClock, Timex};
use gnomon_proto::UnixTime;
use std::cell::Cell;
use std::rc::Rc;

/// Records every adjtimex request and keeps a kernel-like state.
#[derive(Default)]
struct RecordingKernel {
    calls: Vec<Timex>,
    state: Timex,
}

impl KernelClock for RecordingKernel {
    fn adjtime(&mut self, request: &Timex) -> std::io::Result<(Timex, i32)> {
        self.calls.push(*request);
        let modes = request.modes;
        if modes & libc::ADJ_STATUS != 0 {
            self.state.status = request.status;
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
    }
}

#[test]
fn takeover_reads_then_turns_kernel_pll_off() {
    let clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
    let calls = &clock.kernel().calls;
    assert_eq!(calls[0].modes, 0, "first call only reads");
    assert_eq!(calls[1].modes, libc::ADJ_STATUS);
    assert_eq!(calls[1].status & libc::STA_PLL, 0);
    assert_ne!(calls[1].status & libc::STA_UNSYNC, 0);
    assert!(
        (clock.frequency_ppm() - 3.0).abs() < 1e-9,
        "kernel frequency kept"
    );
}

#[test]
fn actions_become_the_right_adjtimex_calls() {
    let mut clock = SystemClock::new(fresh_kernel(), 10_000).unwrap();
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

    let calls = &clock.kernel().calls[2..];
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
        "synchronised clears STA_UNSYNC"
    );
    assert_ne!(calls[3].status & libc::STA_INS, 0, "leap flag survives");
    assert_eq!((calls[3].max_error_us, calls[3].est_error_us), (2_000, 100));

    assert_eq!(calls[4].status & (libc::STA_INS | libc::STA_DEL), 0);
    assert_ne!(calls[5].status & libc::STA_UNSYNC, 0);
    assert_eq!(calls[5].max_error_us, 16_000_000);
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
