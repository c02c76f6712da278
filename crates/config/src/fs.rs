//! File access for configuration reading: the [`ConfigFs`] trait, its `std::fs`
//! implementation, and the small glob used by `include`, `confdir` and `sourcedir`.
//!
//! Choice: configuration is read with `std::fs` behind this trait (DESIGN rule 3's
//! libc-only rule is for the main loop, sockets, clocks and devices, not for reading
//! configuration before the loop starts). Tests use real temporary directories or an
//! in-memory implementation of the trait. This module must not parse configuration
//! and must not write anything.

use gnomon_sys::regular_file::{read_capped, CONFIG_FILE_MAX_BYTES};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Read-only file system operations the configuration loader needs.
pub trait ConfigFs {
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The names of the entries of a directory (any order).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// True if the path exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The real file system, through `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

impl ConfigFs for StdFs {
    /// Regular files only, opened without blocking and at most
    /// [`CONFIG_FILE_MAX_BYTES`]: a FIFO, a device or a huge file is an error naming
    /// what was refused, never a wait or a memory exhaustion.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        read_capped(path, CONFIG_FILE_MAX_BYTES)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// True if the string has glob wildcards (`*`, `?`, `[`).
pub fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Expand a glob pattern like glob(3): wildcards in any path component, hidden names
/// only matched by a pattern starting with `.`, results sorted. A pattern without
/// wildcards is returned as is, existing or not (GLOB_NOMAGIC, as chrony uses).
pub fn expand_glob(fs: &dyn ConfigFs, pattern: &str) -> Vec<PathBuf> {
    if !has_wildcards(pattern) {
        return vec![PathBuf::from(pattern)];
    }
    let path = Path::new(pattern);
    let mut found: Vec<PathBuf> = vec![PathBuf::new()];
    for component in path.components() {
        let part = match component {
            Component::Normal(part) => part.to_string_lossy().into_owned(),
            other => {
                for base in &mut found {
                    base.push(other.as_os_str());
                }
                continue;
            }
        };
        let mut next = Vec::new();
        for base in &found {
            if has_wildcards(&part) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(names) = fs.list_dir(dir) else {
                    continue;
                };
                for name in names {
                    let name = name.to_string_lossy().into_owned();
                    let hidden_ok = !name.starts_with('.') || part.starts_with('.');
                    if hidden_ok && wildcard_match(&part, &name) {
                        next.push(base.join(&name));
                    }
                }
            } else {
                let candidate = base.join(&part);
                if fs.exists(&candidate) {
                    next.push(candidate);
                }
            }
        }
        found = next;
    }
    found.sort();
    found
}

/// Files named `*SUFFIX` in the directories, as chrony's confdir/sourcedir: sorted by
/// file name; when several directories hold the same name, the first directory in
/// the list wins. Missing directories are skipped.
pub fn files_in_dirs(fs: &dyn ConfigFs, dirs: &[PathBuf], suffix: &str) -> Vec<PathBuf> {
    let mut chosen: Vec<(String, PathBuf)> = Vec::new();
    for dir in dirs {
        let Ok(names) = fs.list_dir(dir) else {
            continue;
        };
        for name in names {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(suffix) {
                continue;
            }
            if !chosen.iter().any(|(taken, _)| *taken == name) {
                chosen.push((name.clone(), dir.join(&name)));
            }
        }
    }
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    chosen.into_iter().map(|(_, path)| path).collect()
}

/// fnmatch(3)-style match of one name against one pattern component:
/// `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`, `\x`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_from(&pattern, &name)
}

fn match_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| match_from(&pattern[1..], &name[skip..])),
        Some('?') => !name.is_empty() && match_from(&pattern[1..], &name[1..]),
        Some('[') => match (bracket(&pattern[1..], name.first().copied()), name.first()) {
            (Some((true, used)), Some(_)) => match_from(&pattern[1 + used..], &name[1..]),
            (Some((false, _)), _) | (Some(_), None) => false,
            (None, Some('[')) => match_from(&pattern[1..], &name[1..]),
            (None, _) => false,
        },
        Some('\\') if pattern.len() > 1 => {
            name.first() == Some(&pattern[1]) && match_from(&pattern[2..], &name[1..])
        }
        Some(c) => name.first() == Some(c) && match_from(&pattern[1..], &name[1..]),
    }
}

/// Match one character against a bracket expression (after its `[`). Returns
/// whether it matched and how many pattern characters the expression used
/// (including the closing `]`), or None if the bracket is not closed.
fn bracket(pattern: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let negate = matches!(pattern.first(), Some('!') | Some('^'));
    let mut i = usize::from(negate);
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        let p = pattern[i];
        if p == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < pattern.len() && pattern[i + 1] == '-' && pattern[i + 2] != ']' {
            if let Some(c) = c {
                matched |= p <= c && c <= pattern[i + 2];
            }
            i += 3;
        } else {
            matched |= c == Some(p);
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "a.conf"));
        assert!(!wildcard_match("*.conf", "a.conf~"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("[a-c]x", "bx"));
        assert!(!wildcard_match("[!a-c]x", "bx"));
        assert!(wildcard_match("[]]", "]"));
        assert!(wildcard_match("\\*", "*"));
        assert!(!wildcard_match("\\*", "a"));
    }

    #[test]
    fn literal_patterns_are_returned_as_is() {
        assert_eq!(
            expand_glob(&StdFs, "/nonexistent/x.conf"),
            vec![PathBuf::from("/nonexistent/x.conf")]
        );
        assert!(expand_glob(&StdFs, "/nonexistent/*.conf").is_empty());
    }
}
