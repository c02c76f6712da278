//! CI's clknetsim run: every scenario, seeds 1..=3, chronyd and gnomond side by side
//! (full lengths: all 84 runs take about half a minute on two cores), with regression
//! gates on gnomond and sanity checks on chronyd.
//!
//! The gates are what gnomond achieves today (measured at the commit that set them,
//! see docs/accuracy.md) plus a margin: a gate that fails means gnomond got worse, or
//! the harness measures differently. When gnomond improves, tighten the gate. Runs
//! are deterministic given the seed, so a gate moves only when code (gnomond's or
//! chronyd's version) changes; the test checks that determinism too.
//!
//! In the falseticker scenario the test reads the daemons' own views mid-run (observer
//! nodes, crates/clknetsim/src/observe.rs): the falseticker must be `x` in every
//! `gnomon sources` reading with a truechimer `*`, and `gnomon tracking`'s error bound
//! must hold clknetsim's true offset and stay informative (≤ 1 ms); the test also
//! checks that both checks see a wrong state in the same readings.
//!
//! This test fails, never skips, when clknetsim's source or chronyd is missing. It
//! runs the dev build of gnomond (`cargo test --workspace` has built it; the results
//! are bit-identical to the release build's that docs/accuracy.md shows).

use gnomon_clknetsim::report::{self, Row, Summary};
use gnomon_clknetsim::scenario::View;
use gnomon_clknetsim::{jobs, run_jobs, scenario, tools, Daemon, Job, RunResult};

/// Regression gate for gnomond in one scenario, relative to chronyd in the same runs.
struct Gate {
    scenario: &'static str,
    /// gnomond mean RMS offset ≤ this × chronyd's.
    rms_ratio: f64,
    /// gnomond worst max |offset| ≤ this × chronyd's.
    max_ratio: f64,
    /// gnomond's mean poll interval ≥ this × chronyd's, where polling adapts.
    min_poll_ratio: Option<f64>,
    /// gnomond's worst sync time (chrony's find_sync) ≤ this, where it is meaningful.
    worst_sync_s: Option<f64>,
    /// Seeds allowed to end outside the sync limits.
    unsynchronised_seeds: usize,
}

/// Measured at 3 seeds at 73ea655 (ratio rms / max, mean poll, worst sync), margin
/// about 20 % on ratios. Where polling adapts (`min_poll_ratio`), gnomond must not poll
/// more often than chronyd (issue 13's target): the gates before 73ea655 let test1-10us
/// sit at 0.28x chronyd's RMS while polling 4x as often (mean 66 s against 287 s), and
/// test1-10ms at 0.64x polling 1.5x as often; polling as chronyd does, they are 0.71x and
/// 0.89x, so those two RMS gates are higher than they were, and the poll gate is new.
/// Since 7d75d79 gnomond binds its control socket under clknetsim and the falseticker
/// runs have observer nodes; each run moves a little (the control socket's start-up
/// log line "no SO_PASSCRED" is one more clock read before gnomond's first wait, where
/// clknetsim's precision hack offsets each read by a growing random amount; at `-L 1`
/// binding the socket changes nothing, bit for bit),
/// the ratios at 3 seeds by at most 0.02 except falseticker's max (0.68 to 0.60) and
/// test1-10us's max (0.80 to 0.84): the gates stand.
const GATES: &[Gate] = &[
    // 0.71 / 0.84, poll 1.20, 130 s
    gate("test1-10us", 0.9, 1.05, Some(0.95), Some(200.0), 0),
    // 0.81 / 0.73, poll 1.05, 130 s
    gate("test1-100us", 1.0, 0.9, Some(0.95), Some(200.0), 0),
    // 0.85 / 1.12, poll 1.00, 130 s
    gate("test1-1ms", 1.05, 1.35, Some(0.95), Some(200.0), 0),
    // 0.89 / 0.91, poll 0.965 (not met: chronyd's is 784 s, gnomond's 756 s), 906 s
    gate("test1-10ms", 1.1, 1.1, Some(0.95), Some(1100.0), 0),
    // 0.64 / 0.57, 130 s
    gate("test2-10us", 0.8, 0.7, None, Some(200.0), 0),
    // 0.68 / 0.64, 130 s
    gate("test2-100us", 0.85, 0.8, None, Some(200.0), 0),
    // 0.77 / 0.70, 130 s
    gate("test2-1ms", 0.95, 0.85, None, Some(250.0), 0),
    // 0.98 / 1.14, 906 s
    gate("test2-10ms", 1.2, 1.4, None, Some(1100.0), 0),
    // 0.51 / 0.68, poll 1.03, 130 s
    gate("falseticker", 0.6, 0.85, Some(0.95), Some(200.0), 0),
    // 0.81 / 0.62, poll 1.34, 450 s
    gate("lossy-20pct", 1.0, 0.75, Some(0.95), Some(550.0), 0),
    // 0.96 / 1.04; sync time is the recovery after the outage (37318 s)
    gate("outage-2h", 1.15, 1.25, None, Some(38_000.0), 0),
    // 0.86 / 2.06, 6 s (target 10 s)
    gate("seed-line", 1.05, 2.5, None, Some(10.0), 0),
    // 0.98 / 1.03, 12 s
    gate("vpc-chain", 1.2, 1.25, None, Some(20.0), 0),
];

const fn gate(
    scenario: &'static str,
    rms_ratio: f64,
    max_ratio: f64,
    min_poll_ratio: Option<f64>,
    worst_sync_s: Option<f64>,
    unsynchronised_seeds: usize,
) -> Gate {
    Gate {
        scenario,
        rms_ratio,
        max_ratio,
        min_poll_ratio,
        worst_sync_s,
        unsynchronised_seeds,
    }
}

const SEEDS: u32 = 3;
/// 001-defaults: gnomond passes chrony's criteria in every seed (3 of 3 since 2242991;
/// 1 before, when it threw away half of chronyd's replies)…
const DEFAULTS_MIN_PASSES: usize = 3;
/// … and synchronises within chrony's own limit for that test (130 s today).
const DEFAULTS_WORST_SYNC_S: f64 = 210.0;

/// The falseticker scenario's readings per run: `sources` readings expected.
const FALSETICKER_SOURCES_READINGS: usize = 3;
const FALSETICKER_TRACKING_READINGS: usize = 3;
/// gnomond's error bound must be informative, not only true: at most this in the
/// falseticker scenario (100 µs jitter; 0.20-0.63 ms at 3 seeds when this was set).
const MAX_ERROR_BOUND_S: f64 = 1e-3;

/// What the daemon's own sources view says of `falseticker` and `truechimers` in each
/// run of the falseticker scenario: the falseticker is `x` in every reading (never
/// `*`/`+`), and every reading shows one of the truechimers selected (`*`), so the
/// reading is of a working selection.
fn selection_failures(
    results: &[RunResult],
    daemon: Daemon,
    falseticker: &str,
    truechimers: &[&str],
) -> Vec<String> {
    let mut failures = Vec::new();
    for run in results
        .iter()
        .filter(|r| r.scenario == "falseticker" && r.daemon == daemon)
    {
        let name = format!("falseticker {} seed {}", daemon.name(), run.seed);
        let readings: Vec<_> = run
            .readings
            .iter()
            .filter(|r| r.view == View::Sources)
            .collect();
        if readings.len() != FALSETICKER_SOURCES_READINGS {
            failures.push(format!(
                "{name}: {} sources readings, expected {FALSETICKER_SOURCES_READINGS}",
                readings.len()
            ));
        }
        for reading in readings {
            let state = |address: &str| {
                reading
                    .sources
                    .iter()
                    .find(|s| s.address == address)
                    .map_or("missing", |s| s.state.as_str())
            };
            if state(falseticker) != "x" {
                failures.push(format!(
                    "{name}: at {} s the daemon shows {falseticker} as {:?}, not x",
                    reading.at_s,
                    state(falseticker)
                ));
            }
            if !truechimers.iter().any(|a| state(a) == "*") {
                failures.push(format!(
                    "{name}: at {} s no truechimer is selected: {:?}",
                    reading.at_s, reading.sources
                ));
            }
        }
    }
    failures
}

/// gnomond's tracking readings in the falseticker scenario: synchronised, with a bound
/// of at most MAX_ERROR_BOUND_S that holds clknetsim's true offset (after adding
/// `shift_s` to it: the test's own control that a violation is seen).
fn bound_failures(results: &[RunResult], shift_s: f64) -> Vec<String> {
    let mut failures = Vec::new();
    for run in results
        .iter()
        .filter(|r| r.scenario == "falseticker" && r.daemon == Daemon::Gnomond)
    {
        let readings: Vec<_> = run
            .readings
            .iter()
            .filter_map(|r| r.tracking.clone().map(|t| (r.at_s, t)))
            .collect();
        if readings.len() != FALSETICKER_TRACKING_READINGS {
            failures.push(format!(
                "falseticker gnomond seed {}: {} tracking readings, expected {FALSETICKER_TRACKING_READINGS}",
                run.seed,
                readings.len()
            ));
        }
        for (at_s, mut tracking) in readings {
            tracking.true_offset_s = tracking.true_offset_s.map(|o| o + shift_s);
            if !tracking.bound_holds()
                || tracking.error_bound_s.is_none_or(|b| b > MAX_ERROR_BOUND_S)
            {
                failures.push(format!(
                    "falseticker gnomond seed {} at {at_s} s: error bound {:?} s, true offset {:?} s \
                     (synchronised {}; the bound must hold it and be ≤ {MAX_ERROR_BOUND_S} s)",
                    run.seed,
                    tracking.error_bound_s,
                    tracking.true_offset_s,
                    tracking.synchronized
                ));
            }
        }
    }
    failures
}

fn both(row: &Row) -> (&Summary, &Summary) {
    (
        row.chronyd.as_ref().expect("chronyd ran"),
        row.gnomond.as_ref().expect("gnomond ran"),
    )
}

#[test]
fn chronyd_and_gnomond_side_by_side_under_clknetsim() {
    let tools = tools::prepare(tools::Profile::Dev).unwrap_or_else(|e| {
        panic!(
            "{e}\n(this test needs clknetsim's source and chronyd; scripts/test.sh installs \
             chrony, gcc, g++ and make)"
        )
    });
    let scenarios = scenario::all();
    let todo = jobs(&scenarios, &(1..=SEEDS).collect::<Vec<_>>(), true, None);
    let results = run_jobs(&tools, &scenarios, &todo, 2).unwrap_or_else(|e| panic!("{e}"));
    let rows = report::rows(&scenarios, &results);
    let table = report::text_table(&rows);
    println!("{table}");

    let mut failures = Vec::new();
    let row = |name: &str| {
        rows.iter()
            .find(|row| row.scenario == name)
            .unwrap_or_else(|| panic!("no scenario {name}"))
    };
    for gate in GATES {
        let (c, g) = both(row(gate.scenario));
        let rms_ratio = g.rms_offset_s / c.rms_offset_s;
        if rms_ratio > gate.rms_ratio {
            failures.push(format!(
                "{}: gnomond RMS {:.1} µs is {rms_ratio:.2}× chronyd's {:.1} µs (gate {})",
                gate.scenario,
                g.rms_offset_s * 1e6,
                c.rms_offset_s * 1e6,
                gate.rms_ratio
            ));
        }
        let max_ratio = g.max_abs_offset_s / c.max_abs_offset_s;
        if max_ratio > gate.max_ratio {
            failures.push(format!(
                "{}: gnomond max |offset| {:.1} µs is {max_ratio:.2}× chronyd's {:.1} µs (gate {})",
                gate.scenario,
                g.max_abs_offset_s * 1e6,
                c.max_abs_offset_s * 1e6,
                gate.max_ratio
            ));
        }
        if let Some(min_ratio) = gate.min_poll_ratio {
            let poll_ratio = g.mean_poll_s / c.mean_poll_s;
            if poll_ratio < min_ratio {
                failures.push(format!(
                    "{}: gnomond polls every {:.0} s, {poll_ratio:.2}× chronyd's {:.0} s (gate {min_ratio})",
                    gate.scenario, g.mean_poll_s, c.mean_poll_s
                ));
            }
        }
        if g.unsynchronised_seeds > gate.unsynchronised_seeds {
            failures.push(format!(
                "{}: {} gnomond seeds end unsynchronised (gate {})",
                gate.scenario, g.unsynchronised_seeds, gate.unsynchronised_seeds
            ));
        }
        if let (Some(limit_s), Some(worst_s)) = (gate.worst_sync_s, g.max_sync_time_s) {
            if worst_s > limit_s {
                failures.push(format!(
                    "{}: gnomond's worst sync time {worst_s:.0} s (gate {limit_s:.0} s)",
                    gate.scenario
                ));
            }
        }
    }
    let missing: Vec<&str> = scenarios
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| *name != "001-defaults" && !GATES.iter().any(|g| g.scenario == *name))
        .collect();
    assert!(missing.is_empty(), "scenarios without a gate: {missing:?}");

    let (c, g) = both(row("001-defaults"));
    if g.passed_criteria.unwrap_or(0) < DEFAULTS_MIN_PASSES {
        failures.push(format!(
            "001-defaults: gnomond passes chrony's criteria in {:?} of {SEEDS} seeds (gate {DEFAULTS_MIN_PASSES})",
            g.passed_criteria
        ));
    }
    if g.max_sync_time_s.is_none_or(|s| s > DEFAULTS_WORST_SYNC_S) {
        failures.push(format!(
            "001-defaults: gnomond's worst sync time {:?} s (gate {DEFAULTS_WORST_SYNC_S} s)",
            g.max_sync_time_s
        ));
    }
    let (_, g) = both(row("falseticker"));
    if g.falseticker_selected != Some(0) {
        failures.push(format!(
            "falseticker: gnomond's own sources view showed the falseticker selected or \
             combined in {:?} seeds",
            g.falseticker_selected
        ));
    }
    if g.falseticker_by_offset != Some(0) {
        failures.push(format!(
            "falseticker: gnomond came more than 1 ms off after sync (falseticker selected or \
             combined, by the clock) in {:?} seeds",
            g.falseticker_by_offset
        ));
    }
    let falseticker = "192.168.123.3";
    let truechimers = ["192.168.123.1", "192.168.123.2"];
    assert_eq!(
        scenario::find("falseticker").and_then(|s| s.falseticker),
        Some(falseticker.to_string())
    );
    failures.extend(selection_failures(
        &results,
        Daemon::Gnomond,
        falseticker,
        &truechimers,
    ));
    failures.extend(bound_failures(&results, 0.0));
    // The checks see a wrong state in these very readings: a truechimer taken for the
    // falseticker is found selected, and a true offset moved out by the bound is found
    // outside it.
    assert!(
        !selection_failures(&results, Daemon::Gnomond, truechimers[0], &[falseticker]).is_empty(),
        "the selection check passes a truechimer as a falseticker"
    );
    assert_eq!(
        bound_failures(&results, 2.0 * MAX_ERROR_BOUND_S).len(),
        SEEDS as usize * FALSETICKER_TRACKING_READINGS,
        "the bound check misses true offsets outside the bound"
    );

    // The harness itself: chronyd must look as it does in chrony's own tests.
    if c.passed_criteria != Some(SEEDS as usize) {
        failures.push(format!(
            "harness: chronyd passes 001-defaults in {:?} of {SEEDS} seeds (chrony's own test passes)",
            c.passed_criteria
        ));
    }
    // chronyd's own view through chronyc: the harness reads it as chronyd sees it.
    for failure in selection_failures(&results, Daemon::Chronyd, falseticker, &truechimers) {
        failures.push(format!("harness: {failure}"));
    }
    let (c, _) = both(row("test2-10us"));
    if !(10e-6..=20e-6).contains(&c.rms_offset_s) {
        failures.push(format!(
            "harness: chronyd test2-10us RMS {:.1} µs, expected 13.5–14.3 µs",
            c.rms_offset_s * 1e6
        ));
    }
    let (c, _) = both(row("seed-line"));
    if c.max_sync_time_s.is_none_or(|s| s > 8.0) {
        failures.push(format!(
            "harness: chronyd seed-line sync {:?} s, expected 6 s",
            c.max_sync_time_s
        ));
    }

    // Determinism: the same runs again give the same results, bit for bit.
    let again: Vec<Job> = todo
        .iter()
        .copied()
        .filter(|job| {
            job.seed == 1
                && ["test2-10us", "vpc-chain"].contains(&scenarios[job.scenario].name.as_str())
        })
        .collect();
    let repeated = run_jobs(&tools, &scenarios, &again, 2).unwrap_or_else(|e| panic!("{e}"));
    for rerun in &repeated {
        let first = results
            .iter()
            .find(|r| {
                r.scenario == rerun.scenario && r.daemon == rerun.daemon && r.seed == rerun.seed
            })
            .expect("first run");
        if first != rerun {
            failures.push(format!(
                "not deterministic: {} {} seed {}: {first:?} then {rerun:?}",
                rerun.scenario,
                rerun.daemon.name(),
                rerun.seed
            ));
        }
    }
    assert!(repeated.iter().any(|r| r.daemon == Daemon::Gnomond));

    assert!(
        failures.is_empty(),
        "clknetsim regression gates failed:\n  {}\n\n{table}",
        failures.join("\n  ")
    );
}
