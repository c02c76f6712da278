//! Reading `sourcedir` directories: the `*.sources` files that DHCP hooks and other
//! tools write, at start and again on a "reload sources" request.
//!
//! Owns chrony's rules for these files: only `server`, `pool` and `peer` lines, every
//! line terminated by a newline, bad lines ignored (gnomon warns). It must not resolve
//! names, and it reads only through [`ConfigFs`].

use std::path::{Path, PathBuf};

use super::directives;
use super::error::{Location, Warning};
use super::fs::{files_in_dirs, ConfigFs};
use super::line;
use super::model::{SourceConfig, SourceKind};
use super::source::{parse_source, SourceOutcome};
use super::values::LineCtx;

/// The sources of every `*.sources` file in `source_dirs` (each inner list is one
/// `sourcedir` line: files sorted by name, first directory wins), in order, marked
/// `from_sourcedir`, with the warnings for lines that were ignored.
pub fn load_source_dirs(
    fs: &dyn ConfigFs,
    source_dirs: &[Vec<PathBuf>],
) -> (Vec<SourceConfig>, Vec<Warning>) {
    let mut loader = Loader::default();
    for dirs in source_dirs {
        for file in files_in_dirs(fs, dirs, ".sources") {
            loader.load_file(fs, &file);
        }
    }
    (loader.sources, loader.warnings)
}

#[derive(Default)]
struct Loader {
    sources: Vec<SourceConfig>,
    warnings: Vec<Warning>,
}

impl Loader {
    fn file_warning(&mut self, file: &str, line: usize, message: String) {
        self.warnings.push(Warning {
            file: file.to_string(),
            line,
            directive: "sourcedir".into(),
            message,
        });
    }

    fn load_file(&mut self, fs: &dyn ConfigFs, file: &Path) {
        let origin = file.display().to_string();
        let bytes = match fs.read(file) {
            Ok(bytes) => bytes,
            Err(err) => {
                self.file_warning(
                    &origin,
                    0,
                    format!("cannot read sources file: {err}; skipped"),
                );
                return;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text.split('\n').collect();
        // Like chrony, sources files need every line terminated by a newline.
        if let Some(last) = lines.pop() {
            if !last.trim_matches(line::is_blank).is_empty() {
                let message = "last line has no newline; ignored as chrony does".to_string();
                self.file_warning(&origin, lines.len() + 1, message);
            }
        }
        for (index, raw) in lines.iter().enumerate() {
            self.load_line(raw, &origin, index + 1);
        }
    }

    fn load_line(&mut self, raw: &str, origin: &str, line_number: usize) {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let location = Location {
            origin: origin.to_string(),
            line_number,
        };
        let words = line::words(raw);
        let Some((first, args)) = words.split_first() else {
            return;
        };
        let directive = first.to_ascii_lowercase();
        let ctx = LineCtx {
            location: &location,
            raw,
            directive: &directive,
        };
        let kind = match directive.as_str() {
            "server" => SourceKind::Server,
            "pool" => SourceKind::Pool,
            "peer" => {
                self.warnings
                    .push(ctx.warning(directives::skip_reason("peer")));
                return;
            }
            _ => {
                self.warnings.push(ctx.warning(
                    "only server, pool and peer lines are allowed in sources files; ignored",
                ));
                return;
            }
        };
        if line::is_too_long(raw) {
            self.warnings.push(ctx.warning("line too long; ignored"));
            return;
        }
        match parse_source(&ctx, kind, args, &mut self.warnings) {
            Ok(SourceOutcome::Keep(mut source)) => {
                source.from_sourcedir = true;
                self.sources.push(source);
            }
            Ok(SourceOutcome::Skip(warning)) => self.warnings.push(warning),
            Err(err) => self.warnings.push(ctx.warning(format!("{err}; ignored"))),
        }
    }
}
