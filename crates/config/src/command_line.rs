//! gnomond's command line: chronyd's options where they exist, plus gnomon's.
//!
//! Owns the clap definition only (the binary, gnomon-daemon's src/bin/gnomond.rs, acts
//! on it), so that `gnomon generate-docs` renders gnomond's man page and completions
//! from the same definition without depending on the daemon. It must not act on the
//! options.

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "gnomond",
    version,
    about = "The gnomon NTP daemon: reads chrony.conf syntax, disciplines the clock, serves time",
    after_help = "Trailing arguments are configuration lines, read after the file (as chronyd does).\n\n\
Exit status: 0 stopped cleanly (SIGTERM/SIGINT) or -q/-Q measured; 1 configuration error; \
2 usage error; 3 runtime failure (no measurement for -q/-Q, maxchange exceeded, IO error)."
)]
pub struct Args {
    /// Configuration file (chrony.conf syntax). Default /etc/gnomon/gnomon.conf,
    /// which is not read when directives are given on the command line (as chronyd).
    #[arg(short = 'f', value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Do not change the system clock: discipline a virtual clock over it instead
    /// (measure, report and serve; the machine's clock is left alone).
    #[arg(short = 'x')]
    pub no_clock_control: bool,
    /// Measure once, step the clock by the offset, and exit (like chronyd -q).
    #[arg(short = 'q', conflicts_with = "print_offset")]
    pub set_once: bool,
    /// Measure once, print the offset, change nothing, and exit (like chronyd -Q).
    #[arg(short = 'Q')]
    pub print_offset: bool,
    /// With -q/-Q: give up after this many seconds.
    #[arg(short = 't', value_name = "SECONDS", default_value_t = 30)]
    pub one_shot_timeout_s: u64,
    /// Print the effective configuration and exit; touches no network.
    #[arg(short = 'p')]
    pub print_config: bool,
    /// Resolve names to IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// Resolve names to IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6_only: bool,
    /// Stay in the foreground (gnomond never forks; accepted for chronyd compatibility).
    #[arg(short = 'n')]
    pub foreground: bool,
    /// Foreground with log messages on stderr (accepted for chronyd compatibility).
    #[arg(short = 'd')]
    pub debug: bool,
    /// Log level: 0 info (default), 1 warnings, 2 errors, -1 debug.
    #[arg(
        short = 'L',
        value_name = "LEVEL",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub log_level: i8,
    /// Lab and tests: with -x, start the virtual clock this many seconds off the system clock.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0.0,
        requires = "no_clock_control",
        allow_hyphen_values = true
    )]
    pub virtual_offset: f64,
    /// Lab and tests: with -x, make the virtual clock run this many ppm fast.
    #[arg(
        long,
        value_name = "PPM",
        default_value_t = 0.0,
        requires = "no_clock_control",
        allow_hyphen_values = true
    )]
    pub virtual_frequency: f64,
    /// Drop root to this user after opening sockets, keeping CAP_SYS_TIME
    /// (overrides the `user` directive).
    #[arg(short = 'u', value_name = "USER")]
    pub user: Option<String>,
    /// Answer for NAME with these addresses instead of asking DNS (like curl --resolve;
    /// for testing pools and split-horizon set-ups). Repeatable.
    #[arg(long, value_name = "NAME=ADDR[,ADDR...]", value_parser = parse_resolve)]
    pub resolve: Vec<(String, Vec<std::net::IpAddr>)>,
    /// Configuration lines read after the file.
    #[arg(value_name = "DIRECTIVE")]
    pub extra_lines: Vec<String>,
}

/// Parse `--resolve NAME=ADDR[,ADDR...]`.
pub fn parse_resolve(text: &str) -> Result<(String, Vec<std::net::IpAddr>), String> {
    let (name, list) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=ADDR[,ADDR...]"))?;
    let addresses = list
        .split(',')
        .map(|address| {
            address
                .trim()
                .parse()
                .map_err(|_| format!("{address:?} is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_owned(), addresses))
}
