//! The discipline seam: `Engine::with_discipline` drives any `ClockDiscipline`, so
//! another method can be compared with chrony's on the same samples. Here a
//! deliberately simple one (step by every offset, never touch the frequency, as
//! `ntpdate` from cron would) keeps a clock 5 ppm fast within what 5 ppm accumulates
//! in a poll interval or two, and the engine's outputs show it was the one deciding.

mod harness;

use gnomon_core::clock_action::ClockAction;
use gnomon_core::clock_discipline::{ClockDiscipline, DisciplineState};
use gnomon_core::discipline::{ClockChange, DisciplineInput, UpdateOutcome};
use gnomon_core::engine::{seed_from_u64, Engine, EngineConfig, EngineOutput};
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::UnixTime;
use harness::{Harness, VirtualServer};

/// 2026-12-04T00:00:00Z.
const START_S: i64 = 1_796_342_400;

#[derive(Clone, Debug, Default)]
struct StepEveryOffset {
    updates: u32,
    last_offset_s: f64,
    last_update: Option<UnixTime>,
}

impl ClockDiscipline for StepEveryOffset {
    fn initial_action(&self) -> ClockAction {
        ClockAction::SetFrequency {
            frequency_ppm: 0.0,
            slew_ppm: 0.0,
        }
    }
    fn update(
        &mut self,
        now: UnixTime,
        input: &DisciplineInput,
        actions: &mut Vec<ClockAction>,
    ) -> (UpdateOutcome, ClockChange) {
        self.updates += 1;
        self.last_offset_s = input.offset_s;
        self.last_update = Some(now.add_seconds_f64(input.offset_s));
        actions.push(ClockAction::Step {
            offset_s: input.offset_s,
        });
        let change = ClockChange {
            rate_change: 0.0,
            corrected_step_s: input.offset_s,
            step_s: input.offset_s,
        };
        (
            UpdateOutcome::Stepped {
                offset_s: input.offset_s,
            },
            change,
        )
    }
    fn on_timer(&mut self, _now: UnixTime) -> Option<(ClockAction, ClockChange)> {
        None
    }
    fn step_now(&mut self, _now: UnixTime) -> Option<[ClockAction; 2]> {
        None
    }
    fn shift(&mut self, _step_s: f64) {}
    fn remaining_correction_s(&self, _now: UnixTime) -> f64 {
        0.0
    }
    fn next_deadline(&self) -> Option<UnixTime> {
        None
    }
    fn state(&self) -> DisciplineState {
        DisciplineState {
            base_frequency_ppm: 0.0,
            slew_rate_ppm: 0.0,
            skew_ppm: 1.0,
            residual_frequency_ppm: 0.0,
            updates: self.updates,
            last_update: self.last_update,
            last_offset_s: self.last_offset_s,
            rms_offset_s: self.last_offset_s.abs(),
            last_update_interval_s: 0.0,
        }
    }
    fn clone_box(&self) -> Box<dyn ClockDiscipline> {
        Box::new(self.clone())
    }
}

#[test]
fn the_engine_drives_another_discipline() {
    let engine = Engine::with_discipline(
        EngineConfig::default(),
        seed_from_u64(3),
        Box::new(StepEveryOffset::default()),
    );
    let mut sim = Harness::with_engine(engine, START_S, 0.2, 5.0, 3);
    let options = SourceOptions {
        iburst: true,
        minpoll: 6,
        maxpoll: 6,
        ..Default::default()
    };
    sim.add_server(
        options,
        VirtualServer {
            jitter_s: 10e-6,
            ..Default::default()
        },
    );
    let mut worst_after_s = 0.0f64;
    sim.run_until(START_S as f64 + 3600.0, |h| {
        if h.now_s() > START_S as f64 + 600.0 {
            worst_after_s = worst_after_s.max(h.clock_error_s().abs());
        }
    });
    let steps = sim
        .clock_log
        .iter()
        .filter(|(_, action)| matches!(action, ClockAction::Step { .. }))
        .count();
    let updates = sim.engine.discipline().updates();
    assert!(updates >= 50, "{updates} updates in an hour of 64 s polls");
    assert_eq!(
        steps as u32, updates,
        "every update stepped, nothing else did"
    );
    assert!(sim
        .outputs_log
        .iter()
        .any(|(_, output)| matches!(output, EngineOutput::Updated { .. })));
    assert_eq!(sim.engine.discipline().base_frequency_ppm(), 0.0);
    // 5 ppm over one 64 s poll is 320 µs; a reply the delay test drops doubles the
    // gap (and the jitter adds a little).
    assert!(worst_after_s < 700e-6, "worst {worst_after_s} s");
    // chrony's discipline on the same network learns the frequency instead.
    let mut chrony_like = Harness::new(EngineConfig::default(), START_S, 0.2, 5.0, 3);
    chrony_like.add_server(
        options_for_comparison(),
        VirtualServer {
            jitter_s: 10e-6,
            ..Default::default()
        },
    );
    chrony_like.run_until(START_S as f64 + 3600.0, |_| {});
    let learnt_ppm = chrony_like.engine.discipline().base_frequency_ppm();
    assert!((learnt_ppm + 5.0).abs() < 0.5, "learnt {learnt_ppm} ppm");
}

fn options_for_comparison() -> SourceOptions {
    SourceOptions {
        iburst: true,
        minpoll: 6,
        maxpoll: 6,
        ..Default::default()
    }
}
