//! chrony's line syntax: what a comment is, how words are split, how long a line may be.
//!
//! Owns the lexical rules only (no directive knowledge, no IO). chrony has no
//! continuation lines and no trailing comments: a comment is a line whose first
//! non-blank character is one of `! ; # %`; every other line is one directive whose
//! words are separated by blanks. gnomon follows exactly that.

/// chrony reads lines into a 2048-byte buffer and rejects lines that fill it
/// (the newline included), so a line may hold at most 2046 characters.
pub const MAX_LINE_CHARS: usize = 2046;

/// Characters that start a comment line (after optional blanks).
pub const COMMENT_STARTS: [char; 4] = ['!', ';', '#', '%'];

/// C `isspace` in the C locale, which chrony uses to split words.
pub fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// The words of a directive line, or an empty list for a blank or comment line.
pub fn words(line: &str) -> Vec<&str> {
    let trimmed = line.trim_start_matches(is_blank);
    if trimmed.starts_with(COMMENT_STARTS) {
        return Vec::new();
    }
    trimmed.split(is_blank).filter(|w| !w.is_empty()).collect()
}

/// The line as shown in error messages: trimmed, and shortened if very long.
pub fn for_display(line: &str) -> String {
    const SHOWN_CHARS: usize = 160;
    let trimmed = line.trim_matches(is_blank);
    if trimmed.chars().count() <= SHOWN_CHARS {
        trimmed.to_string()
    } else {
        let head: String = trimmed.chars().take(SHOWN_CHARS).collect();
        format!("{head}…")
    }
}

/// True if the line (without its newline) is longer than chrony accepts.
pub fn is_too_long(line: &str) -> bool {
    line.chars().count() > MAX_LINE_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_start_a_line_only() {
        for comment in ["# x", "  ! x", "\t; x", "%x", ""] {
            assert!(words(comment).is_empty(), "{comment:?}");
        }
        assert_eq!(words("server a # b"), ["server", "a", "#", "b"]);
    }

    #[test]
    fn blanks_separate_words() {
        assert_eq!(
            words(" server\t a.b  iburst\r\n"),
            ["server", "a.b", "iburst"]
        );
        assert_eq!(words("rtcsync\u{0b}"), ["rtcsync"]);
    }

    #[test]
    fn long_lines_are_measured_in_characters() {
        assert!(!is_too_long(&"x".repeat(MAX_LINE_CHARS)));
        assert!(is_too_long(&"x".repeat(MAX_LINE_CHARS + 1)));
        assert!(for_display(&"y".repeat(500)).ends_with('…'));
    }
}
