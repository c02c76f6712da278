//! `gnomon-clknetsim`: `run` prints the side-by-side table of chronyd and gnomond
//! under clknetsim; `docs` regenerates the clknetsim section of docs/accuracy.md and
//! its pictures. See the library's documentation for what is run and how.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gnomon_clknetsim::{docs, jobs, report, run_jobs, scenario, tools, Daemon, Job};

#[derive(Parser)]
#[command(
    name = "gnomon-clknetsim",
    about = "chronyd and gnomond side by side under clknetsim"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios for both daemons and print the table.
    Run {
        /// Scenario to run (repeatable; default all). `list` prints the names.
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Seeds 1..=N.
        #[arg(long, default_value_t = 3)]
        seeds: u32,
        /// Only this seed (repeatable; overrides --seeds).
        #[arg(long = "seed")]
        only_seeds: Vec<u32>,
        /// Simulated length of every run in seconds (default: each scenario's).
        #[arg(long)]
        limit: Option<f64>,
        /// The CI lengths instead of the full ones.
        #[arg(long)]
        quick: bool,
        /// Simulations at a time.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Print every run and the summaries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Regenerate docs/accuracy.md's clknetsim section and docs/clknetsim/*.svg.
    Docs {
        #[arg(long, default_value_t = 20)]
        seeds: u32,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
}

fn select(names: &[String]) -> Result<Vec<scenario::Scenario>, String> {
    if names.is_empty() {
        return Ok(scenario::all());
    }
    names
        .iter()
        .map(|name| {
            scenario::find(name).ok_or_else(|| {
                let known: Vec<String> = scenario::all().into_iter().map(|s| s.name).collect();
                format!("unknown scenario {name:?}; known: {}", known.join(", "))
            })
        })
        .collect()
}

fn commit() -> String {
    std::process::Command::new("git")
        .current_dir(tools::workspace_root())
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gnomon-clknetsim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<(), String> {
    match Cli::parse().command {
        Command::Run {
            scenarios,
            seeds,
            only_seeds,
            limit,
            quick,
            jobs: parallel,
            json,
        } => {
            if scenarios.iter().any(|s| s == "list") {
                for s in scenario::all() {
                    println!("{:<14} {}", s.name, s.summary);
                }
                return Ok(());
            }
            let scenarios = select(&scenarios)?;
            let tools = tools::prepare(tools::Profile::Release).map_err(|e| e.to_string())?;
            let seeds: Vec<u32> = if only_seeds.is_empty() {
                (1..=seeds).collect()
            } else {
                only_seeds
            };
            let todo = jobs(&scenarios, &seeds, quick, limit);
            let results = run_jobs(&tools, &scenarios, &todo, parallel)?;
            let rows = report::rows(&scenarios, &results);
            if json {
                let value = serde_json::json!({ "runs": results, "rows": rows });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report::text_table(&rows));
            }
            Ok(())
        }
        Command::Docs {
            seeds,
            jobs: parallel,
        } => {
            let scenarios = scenario::all();
            let tools = tools::prepare(tools::Profile::Release).map_err(|e| e.to_string())?;
            let todo = jobs(&scenarios, &(1..=seeds).collect::<Vec<_>>(), false, None);
            eprintln!("{} runs on {parallel} threads", todo.len());
            let results = run_jobs(&tools, &scenarios, &todo, parallel)?;
            let traced: Vec<Job> = docs::families(&scenarios)
                .iter()
                .filter_map(|family| scenarios.iter().position(|s| &s.family == family))
                .flat_map(|index| {
                    Daemon::BOTH.map(|daemon| Job {
                        scenario: index,
                        daemon,
                        seed: 1,
                        limit_s: scenarios[index].limit_s,
                        keep_trace: true,
                    })
                })
                .collect();
            let traces = run_jobs(&tools, &scenarios, &traced, parallel)?;
            let root = tools::workspace_root();
            docs::pictures(&root.join("docs").join("clknetsim"), &scenarios, &traces)?;
            let path = root.join("docs").join("accuracy.md");
            let doc =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let section = docs::section(&scenarios, &results, seeds, &commit());
            std::fs::write(&path, docs::splice(&doc, &section))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            print!(
                "{}",
                report::text_table(&report::rows(&scenarios, &results))
            );
            eprintln!("wrote {} and docs/clknetsim/*.svg", path.display());
            Ok(())
        }
    }
}
