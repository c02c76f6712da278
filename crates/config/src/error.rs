//! Errors and warnings of configuration parsing.
//!
//! Owns their shape and their wording (`FILE:LINE: problem in: LINE — expected WHAT`).
//! It must not decide what is an error or a warning: the parser does.

use std::fmt;

/// Origin name used for configuration lines given as trailing command-line arguments.
pub const COMMAND_LINE_ORIGIN: &str = "command line";

/// Where a configuration line came from: a file path (or "command line") and a
/// 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file path as given (or [`COMMAND_LINE_ORIGIN`], or a caller's name).
    pub origin: String,
    /// 1-based line number (the argument number for command-line lines).
    pub line_number: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.origin, self.line_number)
    }
}

/// A line gnomon understood but did not (fully) apply: a directive chrony knows and
/// gnomon does not support yet, an option kept but not yet used, a source skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// File path (or "command line") of the line.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The directive, lower-case (`peer`, `keyfile`, ...).
    pub directive: String,
    /// What happened to the line, for the operator.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.directive, self.message
        )
    }
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The first word is not a chrony or gnomon directive.
    #[error("unknown directive \"{0}\"")]
    UnknownDirective(String),
    /// An option word the directive does not have.
    #[error("unknown {directive} option \"{option}\"")]
    UnknownOption {
        /// The directive (lower-case).
        directive: String,
        /// The option word as written.
        option: String,
    },
    /// A value that does not parse or is out of range.
    #[error("invalid {what} value \"{value}\"")]
    InvalidValue {
        /// What the value is for (`minpoll`, `makestep threshold`, ...).
        what: String,
        /// The value as written.
        value: String,
    },
    /// A required argument is absent.
    #[error("missing {what}")]
    MissingValue {
        /// What is missing.
        what: String,
    },
    /// More arguments than the directive takes.
    #[error("unexpected argument \"{0}\"")]
    UnexpectedArgument(String),
    /// The line is longer than chrony's limit.
    #[error("line is longer than {max} characters")]
    LineTooLong {
        /// The limit in characters.
        max: usize,
    },
    /// An included file could not be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The path that failed.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The directive cannot be used together with an earlier one.
    #[error("{directive} cannot be used with {other}")]
    Conflict {
        /// This line's directive.
        directive: String,
        /// The earlier directive it conflicts with.
        other: String,
    },
    /// include/confdir nested too deep (a loop, usually).
    #[error("files are included more than {max} levels deep")]
    IncludeTooDeep {
        /// The nesting limit.
        max: usize,
    },
}

/// One wrong line. Display gives `FILE:LINE: problem in: LINE — expected WHAT`, so the
/// operator sees where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem} in: {line} — expected {expected}")]
pub struct LineError {
    /// Where the line is.
    pub location: Location,
    /// The offending line, as written (trimmed; shortened when very long).
    pub line: String,
    /// What is wrong.
    pub problem: Problem,
    /// What would have been accepted.
    pub expected: String,
}

/// Why a configuration could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A line is wrong.
    #[error(transparent)]
    Line(Box<LineError>),
    /// The top-level configuration file could not be read.
    #[error("{path}: cannot read configuration file: {reason}")]
    Unreadable {
        /// The path given.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

impl ConfigError {
    /// The wrong line (None for an unreadable top-level file).
    pub fn line_error(&self) -> Option<&LineError> {
        match self {
            ConfigError::Line(error) => Some(error),
            ConfigError::Unreadable { .. } => None,
        }
    }

    /// The location of a line error (None for an unreadable top-level file).
    pub fn location(&self) -> Option<&Location> {
        self.line_error().map(|error| &error.location)
    }

    /// The problem of a line error (None for an unreadable top-level file).
    pub fn problem(&self) -> Option<&Problem> {
        self.line_error().map(|error| &error.problem)
    }
}
