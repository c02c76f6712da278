//! The loader: walks files and lines, dispatches directives, follows `include` and
//! `confdir`, and reads `sourcedir` files once the configuration is complete.
//!
//! Owns the order of processing (chrony's: lines in order, included files in place,
//! sourcedir sources after all configured sources), include nesting, and the split
//! between errors (stop) and warnings (line skipped). It must not resolve names or
//! touch the network; all file reads go through [`ConfigFs`].

use std::path::{Path, PathBuf};

use super::access::parse_access;
use super::apply::apply_simple;
use super::directives::{self, Support};
use super::error::{ConfigError, Location, Problem, Warning};
use super::fs::{self, ConfigFs};
use super::line;
use super::model::{Config, SourceKind};
use super::source::{parse_source, SourceOutcome};
use super::sourcedir::load_source_dirs;
use super::values::LineCtx;

/// chrony's limit on include/confdir nesting.
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// chrony's limit on directories in one confdir/sourcedir line.
pub const MAX_DIRS_PER_LINE: usize = 10;

/// A parsed configuration and what was skipped on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedConfig {
    /// The configuration.
    pub config: Config,
    /// Lines (or parts of lines) that were recognised but not applied, in order.
    pub warnings: Vec<Warning>,
}

/// Builds a [`Config`] from files and lines, in the order they are given.
///
/// ```
/// use gnomon_config::{ConfigParser, StdFs, COMMAND_LINE_ORIGIN};
/// let mut parser = ConfigParser::new(&StdFs);
/// parser.parse_text("server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\n", "x.conf")?;
/// parser.parse_lines(["allow 172.31.0.0/16"], COMMAND_LINE_ORIGIN)?;
/// let parsed = parser.finish();
/// assert_eq!(parsed.config.sources.len(), 1);
/// # Ok::<(), gnomon_config::ConfigError>(())
/// ```
pub struct ConfigParser<'fs> {
    fs: &'fs dyn ConfigFs,
    config: Config,
    warnings: Vec<Warning>,
    depth: usize,
    /// Where the last `log` line was, for the "no logdir" warning.
    last_log_line: Option<Location>,
}

impl<'fs> ConfigParser<'fs> {
    /// A parser starting from the defaults, reading files through `fs`.
    pub fn new(fs: &'fs dyn ConfigFs) -> ConfigParser<'fs> {
        ConfigParser {
            fs,
            config: Config::default(),
            warnings: Vec::new(),
            depth: 0,
            last_log_line: None,
        }
    }

    /// Parse a configuration file (the `-f FILE` of gnomond).
    pub fn parse_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let bytes = self.fs.read(path).map_err(|err| ConfigError::Unreadable {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        if let Some(reason) = binary_content(&bytes) {
            return Err(ConfigError::Unreadable {
                path: path.display().to_string(),
                reason,
            });
        }
        self.parse_text(
            &String::from_utf8_lossy(&bytes),
            &path.display().to_string(),
        )
    }

    /// Parse configuration text; `origin` names it in errors and warnings.
    pub fn parse_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        // A UTF-8 byte-order mark (editors on other systems write one) is not text.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.split('\n').enumerate() {
            self.parse_line(raw, origin, index + 1)?;
        }
        Ok(())
    }

    /// Parse lines given one per item, like chronyd's trailing command-line
    /// arguments (use [`COMMAND_LINE_ORIGIN`](super::COMMAND_LINE_ORIGIN) as origin;
    /// the line number is the argument's position, from 1). chronyd ignores its
    /// configuration file when such lines are given; gnomond may call this after
    /// [`parse_file`](Self::parse_file) to add them instead.
    pub fn parse_lines<I, S>(&mut self, lines: I, origin: &str) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for (index, raw) in lines.into_iter().enumerate() {
            self.parse_line(raw.as_ref(), origin, index + 1)?;
        }
        Ok(())
    }

    /// Read the `sourcedir` files and return the configuration with its warnings.
    /// Problems in sources files are warnings (chrony ignores bad lines there).
    pub fn finish(mut self) -> ParsedConfig {
        let logs = self.config.logs;
        let any_log = logs.tracking || logs.measurements || logs.statistics;
        if any_log && self.config.log_dir.is_none() {
            if let Some(location) = self.last_log_line.take() {
                self.warnings.push(Warning {
                    file: location.origin,
                    line: location.line_number,
                    directive: "log".into(),
                    message: "no logdir is set, so no log file is written (as chrony)".into(),
                });
            }
        }
        let (sources, warnings) = load_source_dirs(self.fs, &self.config.source_dirs);
        self.config.sources.extend(sources);
        self.warnings.extend(warnings);
        ParsedConfig {
            config: self.config,
            warnings: self.warnings,
        }
    }

    fn parse_line(
        &mut self,
        raw: &str,
        origin: &str,
        line_number: usize,
    ) -> Result<(), ConfigError> {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let location = Location {
            origin: origin.to_string(),
            line_number,
        };
        let words = line::words(raw);
        let directive = words
            .first()
            .map(|word| word.to_ascii_lowercase())
            .unwrap_or_default();
        let ctx = LineCtx {
            location: &location,
            raw,
            directive: &directive,
        };
        // chrony measures the line before it strips comments.
        if line::is_too_long(raw) {
            return Err(ctx.error(
                Problem::LineTooLong {
                    max: line::MAX_LINE_CHARS,
                },
                "a shorter line (chrony's limit)",
            ));
        }
        let Some((first, args)) = words.split_first() else {
            return Ok(());
        };
        match directives::support_of(&directive) {
            None => Err(ctx.error(
                Problem::UnknownDirective(first.to_string()),
                expected_directive(&directive),
            )),
            Some(Support::Unsupported | Support::Obsolete) => {
                self.warnings
                    .push(ctx.warning(directives::skip_reason(&directive)));
                Ok(())
            }
            Some(Support::Supported) => self.apply(&ctx, args),
        }
    }

    fn apply(&mut self, ctx: &LineCtx, args: &[&str]) -> Result<(), ConfigError> {
        match ctx.directive {
            "server" | "pool" => {
                let kind = if ctx.directive == "pool" {
                    SourceKind::Pool
                } else {
                    SourceKind::Server
                };
                match parse_source(ctx, kind, args, &mut self.warnings)? {
                    SourceOutcome::Keep(source) => self.config.sources.push(source),
                    SourceOutcome::Skip(warning) => self.warnings.push(warning),
                }
            }
            "allow" | "deny" => {
                let rule = parse_access(ctx, ctx.directive == "allow", args)?;
                self.config.access_rules.push(rule);
            }
            "include" => self.include(ctx, args)?,
            "log" => {
                apply_simple(ctx, &mut self.config, args, &mut self.warnings)?;
                self.last_log_line = Some(ctx.location.clone());
            }
            "confdir" => {
                let dirs = dir_list(ctx, args, "confdir DIRECTORY...")?;
                for file in fs::files_in_dirs(self.fs, &dirs, ".conf") {
                    self.include_file(ctx, &file)?;
                }
            }
            "sourcedir" => {
                let dirs = dir_list(ctx, args, "sourcedir DIRECTORY...")?;
                self.config.source_dirs.push(dirs);
            }
            _ => {
                let applied = apply_simple(ctx, &mut self.config, args, &mut self.warnings)?;
                debug_assert!(
                    applied,
                    "supported directive {} has no parser",
                    ctx.directive
                );
            }
        }
        Ok(())
    }

    fn include(&mut self, ctx: &LineCtx, args: &[&str]) -> Result<(), ConfigError> {
        let pattern = ctx.exactly(args, &["file or pattern"], "include FILE-OR-GLOB")?[0];
        // Like chrony: a literal path must exist; a pattern may match nothing.
        for file in fs::expand_glob(self.fs, pattern) {
            self.include_file(ctx, &file)?;
        }
        Ok(())
    }

    fn include_file(&mut self, ctx: &LineCtx, file: &Path) -> Result<(), ConfigError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ctx.error(
                Problem::IncludeTooDeep {
                    max: MAX_INCLUDE_DEPTH,
                },
                "no include loop",
            ));
        }
        let bytes = self.fs.read(file).map_err(|err| {
            ctx.error(
                Problem::Unreadable {
                    path: file.display().to_string(),
                    reason: err.to_string(),
                },
                "a readable file",
            )
        })?;
        self.depth += 1;
        let result = self.parse_text(
            &String::from_utf8_lossy(&bytes),
            &file.display().to_string(),
        );
        self.depth -= 1;
        result
    }
}

fn dir_list(ctx: &LineCtx, args: &[&str], usage: &str) -> Result<Vec<PathBuf>, ConfigError> {
    if args.is_empty() {
        return Err(ctx.missing("directory", usage));
    }
    if let Some(extra) = args.get(MAX_DIRS_PER_LINE) {
        return Err(ctx.error(
            Problem::UnexpectedArgument(extra.to_string()),
            format!("at most {MAX_DIRS_PER_LINE} directories"),
        ));
    }
    Ok(args.iter().map(PathBuf::from).collect())
}

/// Why `bytes` are not a configuration text, if they are not: a control character
/// other than tab, CR, LF and form feed (a binary file given to -f, or a corrupted
/// one). The reason names the line and byte, never echoes the content.
fn binary_content(bytes: &[u8]) -> Option<String> {
    let at = bytes.iter().position(|&byte| {
        byte < 0x20 && !matches!(byte, b'\t' | b'\r' | b'\n' | 0x0c) || byte == 0x7f
    })?;
    let line = bytes[..at].iter().filter(|&&byte| byte == b'\n').count() + 1;
    Some(format!(
        "not a text file: control byte 0x{:02x} on line {line} (byte {at}); give -f a \
         chrony.conf-syntax text file",
        bytes[at]
    ))
}

/// The expected-text for an unknown directive, with a suggestion when one is close.
fn expected_directive(written: &str) -> String {
    let all = directives::SUPPORTED
        .iter()
        .chain(directives::UNSUPPORTED)
        .chain(directives::OBSOLETE);
    let closest = all
        .map(|name| (edit_distance(written, name), *name))
        .min()
        .filter(|(distance, _)| *distance <= 2);
    let base = "a chrony.conf directive (server, pool, allow, makestep, ...; see docs/config.md)";
    match closest {
        Some((_, name)) => format!("{base}; did you mean \"{name}\"?"),
        None => base.to_string(),
    }
}

/// Levenshtein distance, for suggestions only.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_directive_has_a_parser() {
        use crate::StdFs;
        for name in directives::SUPPORTED {
            // Any outcome but a missing handler (a debug assertion) or "unknown".
            let mut parser = ConfigParser::new(&StdFs);
            if let Err(err) = parser.parse_text(name, "t") {
                assert!(
                    !matches!(err.problem(), Some(Problem::UnknownDirective(_))),
                    "{name}: {err}"
                );
            }
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("sever", "server"), 1);
        assert!(expected_directive("sever").contains("did you mean \"server\""));
        assert!(!expected_directive("frobnicate").contains("did you mean"));
    }
}
