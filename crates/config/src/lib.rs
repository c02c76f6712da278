//! gnomon-config, gnomond's configuration: chrony.conf syntax parsed into a typed
//! [`Config`], and gnomond's command line ([`command_line`]). gnomond and `gnomon
//! doctor` (which checks the config a host's daemon would read) share it.
//!
//! This crate owns reading configuration text (files, `include`, `confdir`,
//! `sourcedir`, trailing command-line lines), turning it into [`Config`] with chrony's
//! defaults, reporting errors (`FILE:LINE: problem in: LINE — expected WHAT`) and
//! warnings (known chrony directives gnomon skips), and rendering the effective
//! configuration for `gnomond -p`. It must not resolve host names, open sockets or
//! touch the clock: names stay strings for the daemon to resolve later.
//!
//! File reads go through the [`ConfigFs`] trait; [`StdFs`] uses `std::fs` (allowed
//! here: DESIGN rule 3's libc-only rule covers the main loop and devices, and the
//! configuration is read before the loop starts). Tests use temporary directories.
//!
//! Layout, one concern per file: `line` (lexical rules), `directives` (which chrony
//! directives exist and which gnomon supports), `values` (typed argument parsers),
//! `source` (server/pool), `access` (allow/deny), `apply` (the other directives),
//! `parser` (files, includes, dispatch), `sourcedir` (sources files), `fs` (file access and glob), `model` (the
//! types and defaults), `render` (the effective configuration), `error`;
//! `command_line` (gnomond's options, the clap definition only).

#![forbid(unsafe_code)]

mod access;
mod apply;
pub mod command_line;
pub mod directives;
mod error;
mod fs;
mod line;
mod model;
mod parser;
mod render;
mod source;
mod sourcedir;
mod values;

use std::path::Path;

pub use error::{ConfigError, LineError, Location, Problem, Warning, COMMAND_LINE_ORIGIN};
pub use fs::{ConfigFs, StdFs};
pub use line::MAX_LINE_CHARS;
pub use model::{
    AccessRule, AddressFamily, ClockBoundConfig, Config, LocalReference, LogSelection, MakeStep,
    MaxChange, RateLimit, SourceConfig, SourceKind, Subnet, DEFAULT_CLOCKBOUND_MAX_DRIFT_PPM,
    DEFAULT_COMMAND_PORT, DEFAULT_COMMAND_SOCKET, DEFAULT_CONFIG_PATH, DEFAULT_NTS_KE_PORT,
    DEFAULT_PID_FILE, NTP_PORT,
};
pub use parser::{ConfigParser, ParsedConfig, MAX_DIRS_PER_LINE, MAX_INCLUDE_DEPTH};
pub use render::{render_effective, source_line};
pub use sourcedir::load_source_dirs;

impl Config {
    /// Parse configuration text named `origin` (includes are read with [`StdFs`]).
    pub fn parse_str(text: &str, origin: &str) -> Result<ParsedConfig, ConfigError> {
        let mut parser = ConfigParser::new(&StdFs);
        parser.parse_text(text, origin)?;
        Ok(parser.finish())
    }

    /// Read `path`, then `extra_lines` (trailing command-line arguments, one line each,
    /// origin [`COMMAND_LINE_ORIGIN`]).
    pub fn load(path: &Path, extra_lines: &[String]) -> Result<ParsedConfig, ConfigError> {
        Config::load_with(&StdFs, path, extra_lines)
    }

    /// [`Config::load`] through a given file system.
    pub fn load_with(
        fs: &dyn ConfigFs,
        path: &Path,
        extra_lines: &[String],
    ) -> Result<ParsedConfig, ConfigError> {
        let mut parser = ConfigParser::new(fs);
        parser.parse_file(path)?;
        parser.parse_lines(extra_lines, COMMAND_LINE_ORIGIN)?;
        Ok(parser.finish())
    }

    /// The effective configuration as text (see [`render_effective`]).
    pub fn effective_text(&self) -> String {
        render_effective(self)
    }
}
