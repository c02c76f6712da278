//! `gnomon`, the operator's tool: measure NTP servers and, as the project grows,
//! inspect the local gnomond, check fleets and diagnose hosts.
//!
//! This file owns the command line (clap) and exit codes; each command lives in its
//! own module.

mod address;
mod measure;
mod query;
mod sample;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gnomon",
    version,
    about = "The operator's tool for NTP time on one host or a fleet",
    after_help = "Exit status: 0 success; 1 the command ran and found a problem (see each \
                  command's --help); 2 usage error; 3 internal or environment error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure NTP servers once (like `chronyd -Q`, `ntpdate -q`); never changes the clock.
    Query(query::QueryArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Query(args) => query::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gnomon: {message}");
            2
        }
    };
    std::process::exit(code);
}
