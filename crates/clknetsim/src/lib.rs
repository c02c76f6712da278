//! # gnomon-clknetsim: chronyd and the real gnomond side by side under clknetsim
//!
//! clknetsim is chrony's clock and network simulator (an LD_PRELOAD library that
//! intercepts glibc's clock, socket and wait calls and runs simulated time while the
//! program waits; chrony's test suite and its comparison of NTP implementations use
//! it). Its source is not part of this repository: the harness copies it from
//! `$CLKNETSIM_SRC`, else `<workspace>/../shared/clknetsim`, into `target/clknetsim/`
//! and builds it there with `make` (gcc, g++, make) the first time.
//!
//! For each scenario (`scenario.rs`) and seed the harness runs the same network twice,
//! once with chronyd (4.x, `/usr/sbin/chronyd` or `$CHRONYD`) and once with gnomond
//! (`cargo build --release -p gnomon-daemon` for the command line, the dev build for
//! the CI test, or `$GNOMOND`) on the nodes under test,
//! both without `-x`: each disciplines its simulated clock. The reference servers
//! are chronyd as in chrony's tests. `run.rs` starts every process behind
//! `unshare --net` and `setpriv` without CAP_SYS_TIME, so nothing can touch this
//! machine's clock or network; `observe.rs` adds observer nodes that read the daemon's
//! own views mid-run over clknetsim's Unix subnet (`gnomon sources`/`tracking --json`
//! against gnomond's control socket `/clknetsim/unix/N:1`, `chronyc -n sources` against
//! chronyd's); `analysis.rs` reads clknetsim's statistics and logs and the readings;
//! `report.rs` prints the table; `docs.rs` and `plot.rs` regenerate the clknetsim
//! section of docs/accuracy.md and its pictures.
//!
//! Rerun:
//!
//! ```text
//! cargo run --release -p gnomon-clknetsim -- run --seeds 3          # the table
//! cargo run --release -p gnomon-clknetsim -- run --scenario test2-10us --seed 1 --json
//! cargo run --release -p gnomon-clknetsim -- docs                   # docs/accuracy.md, 20 seeds
//! ```
//!
//! Runs are deterministic given the seed (clknetsim's `CLKNETSIM_RANDOM_SEED` seeds
//! the network and every node), which crates/clknetsim/tests/side_by_side.rs checks.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod docs;
pub mod observe;
pub mod plot;
pub mod report;
pub mod run;
pub mod scenario;
pub mod tools;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub use analysis::RunResult;
pub use run::RunSpec;
pub use scenario::{Daemon, Scenario};
pub use tools::Tools;

/// One run to do: which scenario (index), daemon, seed and length.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub scenario: usize,
    pub daemon: Daemon,
    pub seed: u32,
    pub limit_s: f64,
    pub keep_trace: bool,
}

/// Every scenario × both daemons × the seeds.
pub fn jobs(scenarios: &[Scenario], seeds: &[u32], quick: bool, limit_s: Option<f64>) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        for &seed in seeds {
            for daemon in Daemon::BOTH {
                let limit_s = limit_s.unwrap_or(if quick {
                    scenario.quick_limit_s
                } else {
                    scenario.limit_s
                });
                jobs.push(Job {
                    scenario: index,
                    daemon,
                    seed,
                    limit_s,
                    keep_trace: false,
                });
            }
        }
    }
    jobs
}

/// Run the jobs on `parallel` threads; results in job order. The first error is
/// returned after the running jobs finish.
pub fn run_jobs(
    tools: &Tools,
    scenarios: &[Scenario],
    jobs: &[Job],
    parallel: usize,
) -> Result<Vec<RunResult>, String> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunResult, String>>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(index) else { break };
                let spec = RunSpec {
                    scenario: &scenarios[job.scenario],
                    daemon: job.daemon,
                    seed: job.seed,
                    limit_s: job.limit_s,
                    keep_trace: job.keep_trace,
                };
                let outcome = run::run(tools, &spec);
                let failed = outcome.is_err();
                results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(outcome);
                if failed {
                    // Stop handing out work; the others finish their runs.
                    next.store(jobs.len(), Ordering::Relaxed);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(jobs.len());
    for result in results {
        match result {
            Some(Ok(result)) => out.push(result),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if out.len() != jobs.len() {
        return Err("some runs were not done".into());
    }
    Ok(out)
}
