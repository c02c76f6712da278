//! The `gnomon-sim` command: run one scenario and print its report, or run the
//! accuracy benchmark and regenerate docs/accuracy.md.
//!
//! Owns argument parsing and file output only; simulation and reporting live in the
//! library. It must not read the real clock into any simulated value.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use gnomon_sim::bench;
use gnomon_sim::report::Report;
use gnomon_sim::scenario::Scenario;
use gnomon_sim::simulation::Simulation;

#[derive(Parser)]
#[command(
    name = "gnomon-sim",
    about = "Deterministic simulator for gnomon's engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario (a file, or a name in sims/) and print its report.
    Run {
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        json: bool,
        /// Where scenario names are looked up.
        #[arg(long, default_value = "sims")]
        sims: PathBuf,
        /// Also write the sampled truth and every update's estimate error as CSV.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Run the required scenarios over several seeds and write docs/accuracy.md.
    Bench {
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        #[arg(long, default_value = "sims")]
        sims: PathBuf,
        #[arg(long, default_value = "docs/accuracy.md")]
        out: PathBuf,
    },
}

fn resolve(scenario: &str, sims: &Path) -> PathBuf {
    let direct = PathBuf::from(scenario);
    if direct.is_file() {
        direct
    } else {
        sims.join(format!("{scenario}.toml"))
    }
}

/// The git revision of gnomon-core this binary was run from, for the benchmark's
/// provenance line (best effort: "unknown revision" outside a git checkout).
fn core_revision() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["log", "-1", "--format=%h", "--", "crates/core"]) else {
        return "unknown revision".to_string();
    };
    let dirty = git(&["status", "--porcelain", "--", "crates/core"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("gnomon-core as of commit {commit} plus uncommitted changes")
    } else {
        format!("gnomon-core as of commit {commit}")
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            scenario,
            seed,
            json,
            sims,
            trace,
        } => {
            let scenario = match Scenario::load(&resolve(&scenario, &sims)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("gnomon-sim: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut sim = Simulation::new(scenario, seed);
            sim.run();
            let report = Report::from_simulation(&mut sim);
            if let Some(path) = trace {
                if let Err(e) = std::fs::write(&path, gnomon_sim::trace::to_csv(&sim)) {
                    eprintln!("gnomon-sim: cannot write {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::SUCCESS
        }
        Command::Bench { seeds, sims, out } => {
            let (runs, markdown) = match bench::run_all(&sims, seeds, &core_revision()) {
                Ok(result) => result,
                Err(e) => {
                    eprintln!("gnomon-sim: {e}");
                    return ExitCode::from(2);
                }
            };
            for run in &runs {
                eprintln!(
                    "{:<20} mean |offset| {:>9.1} µs  RMS {:>9.1} µs  to 100 µs {:>8.0} s",
                    run.name,
                    run.mean_abs_us(),
                    run.rms_us(),
                    run.worst_time_to_100us_s()
                );
            }
            let previous = std::fs::read_to_string(&out).unwrap_or_default();
            let markdown = keep_clknetsim_section(&previous, &markdown);
            if let Err(e) = std::fs::write(&out, markdown) {
                eprintln!("gnomon-sim: cannot write {}: {e}", out.display());
                return ExitCode::from(1);
            }
            eprintln!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
    }
}

/// docs/accuracy.md's headline section belongs to gnomon-clknetsim (the real daemons
/// under clknetsim, `gnomon-clknetsim docs`): carry it over from the file being
/// replaced, right after the title, so regenerating one report keeps the other.
fn keep_clknetsim_section(previous: &str, markdown: &str) -> String {
    const BEGIN: &str = "<!-- clknetsim:begin";
    const END: &str = "<!-- clknetsim:end -->";
    let (Some(begin), Some(end)) = (previous.find(BEGIN), previous.find(END)) else {
        return markdown.to_string();
    };
    if end < begin {
        return markdown.to_string();
    }
    let block = &previous[begin..end + END.len()];
    let title_end = markdown.find('\n').map_or(markdown.len(), |at| at + 1);
    format!(
        "{}\n{block}\n{}",
        &markdown[..title_end],
        &markdown[title_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::keep_clknetsim_section;

    #[test]
    fn the_clknetsim_section_survives_a_bench_rewrite() {
        let previous = "# gnomon accuracy\n\n<!-- clknetsim:begin x -->\nheadline\n<!-- clknetsim:end -->\n\nold sim tables\n";
        let fresh = "# gnomon accuracy\n\nnew sim tables\n";
        assert_eq!(
            keep_clknetsim_section(previous, fresh),
            "# gnomon accuracy\n\n<!-- clknetsim:begin x -->\nheadline\n<!-- clknetsim:end -->\n\nnew sim tables\n"
        );
        assert_eq!(keep_clknetsim_section("# old\n", fresh), fresh);
    }
}
