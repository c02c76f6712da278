//! Test helpers for the configuration tests: an in-memory file system and shortcuts.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use gnomon_config::{ConfigError, ConfigFs, ConfigParser, ParsedConfig};

/// Files held in memory; directories exist implicitly as parents of files.
#[derive(Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    pub fn new() -> MemFs {
        MemFs::default()
    }

    pub fn with(mut self, path: &str, text: &str) -> MemFs {
        self.files
            .insert(PathBuf::from(path), text.as_bytes().to_vec());
        self
    }
}

impl ConfigFs for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut names: Vec<OsString> = Vec::new();
        for path in self.files.keys() {
            if let Ok(rest) = path.strip_prefix(dir) {
                if let Some(first) = rest.components().next() {
                    let name = first.as_os_str().to_os_string();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        if names.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.keys().any(|file| file.starts_with(path))
    }
}

/// Parse `text` named `origin` through `fs`.
pub fn parse_with(fs: &MemFs, text: &str, origin: &str) -> Result<ParsedConfig, ConfigError> {
    let mut parser = ConfigParser::new(fs);
    parser.parse_text(text, origin)?;
    Ok(parser.finish())
}

/// Parse `text` as /etc/gnomon/gnomon.conf with an empty file system.
pub fn parse(text: &str) -> Result<ParsedConfig, ConfigError> {
    parse_with(&MemFs::new(), text, "/etc/gnomon/gnomon.conf")
}

/// The error message of a text that must fail.
pub fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(parsed) => panic!("expected an error for {text:?}, got {:?}", parsed.config),
        Err(err) => err.to_string(),
    }
}
