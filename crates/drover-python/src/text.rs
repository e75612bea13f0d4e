//! Python's `str` helpers that differ from Rust's: what counts as whitespace and as a line break.

/// Python's `str.isspace` for one character (Unicode whitespace plus the ASCII separators
/// `\x1c`..`\x1f`).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Whether Python's `str.splitlines()` breaks a line at `c` (`\r\n` counts as one break).
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `str.splitlines()`, as byte ranges `(start, end)` of each line without its break.
pub fn splitlines_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !is_line_break(c) {
            continue;
        }
        lines.push((start, i));
        let mut next = i + c.len_utf8();
        if c == '\r'
            && let Some(&(j, '\n')) = iter.peek()
        {
            iter.next();
            next = j + 1;
        }
        start = next;
    }
    if start < text.len() {
        lines.push((start, text.len()));
    }
    lines
}

/// Python's `str.splitlines()`: the lines without their breaks.
pub fn splitlines(text: &str) -> Vec<&str> {
    splitlines_ranges(text)
        .into_iter()
        .map(|(start, end)| &text[start..end])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_and_strip_follow_python() {
        let t = "a\r\nb\rc\x0bd\n";
        assert_eq!(splitlines(t), ["a", "b", "c", "d"]);
        assert_eq!(splitlines("a\n\nb\u{2028}"), ["a", "", "b"]);
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(strip("\x1c a \t"), "a");
        assert!(is_space('\u{3000}') && !is_space('x'));
    }
}
