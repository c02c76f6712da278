//! Value parsers for directive arguments, each failing with a [`ConfigError`] that
//! names the value, the line and what was expected.
//!
//! Owns number/port/address syntax and ranges. It must not know directives' meaning
//! beyond the names it is given, and does no IO.

use std::net::IpAddr;

use super::error::{ConfigError, LineError, Location, Problem, Warning};
use super::line;

/// The line being parsed, for building errors and warnings.
pub struct LineCtx<'a> {
    /// Where the line is.
    pub location: &'a Location,
    /// The raw line.
    pub raw: &'a str,
    /// The directive, lower-case.
    pub directive: &'a str,
}

impl LineCtx<'_> {
    /// An error about this line.
    pub fn error(&self, problem: Problem, expected: impl Into<String>) -> ConfigError {
        ConfigError::Line(Box::new(LineError {
            location: self.location.clone(),
            line: line::for_display(self.raw),
            problem,
            expected: expected.into(),
        }))
    }

    /// `invalid WHAT value "VALUE"`.
    pub fn invalid(&self, what: &str, value: &str, expected: impl Into<String>) -> ConfigError {
        self.error(
            Problem::InvalidValue {
                what: what.to_string(),
                value: value.to_string(),
            },
            expected,
        )
    }

    /// `missing WHAT`.
    pub fn missing(&self, what: &str, expected: impl Into<String>) -> ConfigError {
        self.error(
            Problem::MissingValue {
                what: what.to_string(),
            },
            expected,
        )
    }

    /// A warning about this line.
    pub fn warning(&self, message: impl Into<String>) -> Warning {
        Warning {
            file: self.location.origin.clone(),
            line: self.location.line_number,
            directive: self.directive.to_string(),
            message: message.into(),
        }
    }

    /// Exactly `N` arguments are expected; `expected` says what they are.
    pub fn exactly<'w>(
        &self,
        args: &[&'w str],
        what: &[&str],
        expected: &str,
    ) -> Result<Vec<&'w str>, ConfigError> {
        if args.len() < what.len() {
            return Err(self.missing(what[args.len()], expected));
        }
        if let Some(extra) = args.get(what.len()) {
            return Err(self.error(Problem::UnexpectedArgument(extra.to_string()), expected));
        }
        Ok(args.to_vec())
    }

    /// No argument is expected.
    pub fn none(&self, args: &[&str]) -> Result<(), ConfigError> {
        match args.first() {
            None => Ok(()),
            Some(extra) => Err(self.error(
                Problem::UnexpectedArgument(extra.to_string()),
                format!("`{}` with no argument", self.directive),
            )),
        }
    }

    /// An integer from `min` to `max`.
    pub fn int(&self, what: &str, value: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
        match value.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(self.invalid(what, value, format!("an integer from {min} to {max}"))),
        }
    }

    /// A finite number from `min` to `max` (either bound may be infinite).
    pub fn number(&self, what: &str, value: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
        let expected = match (min.is_finite(), max.is_finite()) {
            (true, true) => format!("a number from {min} to {max}"),
            (true, false) => format!("a number of at least {min}"),
            (false, true) => format!("a number of at most {max}"),
            (false, false) => "a number".to_string(),
        };
        match value.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => Ok(v),
            _ => Err(self.invalid(what, value, expected)),
        }
    }

    /// A UDP/TCP port, 0..=65535.
    pub fn port(&self, what: &str, value: &str) -> Result<u16, ConfigError> {
        Ok(self.int(what, value, 0, 65535)? as u16)
    }

    /// An IPv4 or IPv6 address (no name, no prefix).
    pub fn ip(&self, what: &str, value: &str) -> Result<IpAddr, ConfigError> {
        value
            .parse::<IpAddr>()
            .map_err(|_| self.invalid(what, value, "an IPv4 or IPv6 address"))
    }

    /// The value following option `option` at `args[index]`.
    pub fn option_value<'w>(
        &self,
        option: &str,
        args: &[&'w str],
        index: usize,
        expected: &str,
    ) -> Result<&'w str, ConfigError> {
        args.get(index)
            .copied()
            .ok_or_else(|| self.missing(&format!("{option} value"), expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ctx<T>(f: impl FnOnce(&LineCtx) -> T) -> T {
        let location = Location {
            origin: "t.conf".into(),
            line_number: 3,
        };
        let ctx = LineCtx {
            location: &location,
            raw: "x y",
            directive: "x",
        };
        f(&ctx)
    }

    #[test]
    fn numbers_are_strict_and_ranged() {
        with_ctx(|ctx| {
            assert_eq!(ctx.int("n", "-7", -7, 24).unwrap(), -7);
            assert!(ctx.int("n", "25", -7, 24).is_err());
            assert!(ctx.int("n", "4x", -7, 24).is_err());
            assert_eq!(ctx.number("f", "1e-3", 0.0, 1.0).unwrap(), 1e-3);
            assert!(ctx
                .number("f", "nan", f64::NEG_INFINITY, f64::INFINITY)
                .is_err());
            assert!(ctx
                .number("f", "inf", f64::NEG_INFINITY, f64::INFINITY)
                .is_err());
            assert!(ctx.port("port", "65536").is_err());
        });
    }

    #[test]
    fn error_text_names_file_line_value_and_expectation() {
        let text = with_ctx(|ctx| ctx.int("minpoll", "x", -7, 24).unwrap_err().to_string());
        assert_eq!(
            text,
            "t.conf:3: invalid minpoll value \"x\" in: x y — expected an integer from -7 to 24"
        );
    }
}
