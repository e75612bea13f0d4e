//! Python's `shlex.split` (POSIX mode).

use std::fmt;

/// Why `shlex.split` raised `ValueError`; `Display` gives Python's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShlexError {
    /// A quote was opened and never closed.
    NoClosingQuotation,
    /// The text ends with a lone backslash.
    NoEscapedCharacter,
}

impl fmt::Display for ShlexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShlexError::NoClosingQuotation => "No closing quotation",
            ShlexError::NoEscapedCharacter => "No escaped character",
        })
    }
}

impl std::error::Error for ShlexError {}

/// Python's `shlex.split(text, comments=comments)` in POSIX mode: words split at spaces, tabs
/// and line breaks; `'...'` literal, `"..."` with `\\` and `\"` escapes, `\` escaping any
/// character outside quotes; with `comments`, `#` starts a comment that runs to the end of its
/// line. Ansible's `command` module and connection arguments use `comments=False`; the INI
/// inventory reads host lines with `comments=True`.
pub fn shlex_split(text: &str, comments: bool) -> Result<Vec<String>, ShlexError> {
    #[derive(Clone, Copy)]
    enum State {
        Space,
        Word,
        Quote(char),
        Escape(EscapedFrom),
    }
    #[derive(Clone, Copy)]
    enum EscapedFrom {
        Word,
        Quote(char),
    }
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Space;
    let mut chars = text.chars();
    let whitespace = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let finish = |tokens: &mut Vec<String>, token: &mut String, quoted: &mut bool| {
        if !token.is_empty() || *quoted {
            tokens.push(std::mem::take(token));
        }
        *quoted = false;
    };
    loop {
        let next = chars.next();
        match state {
            State::Space | State::Word => match next {
                None => {
                    finish(&mut tokens, &mut token, &mut quoted);
                    return Ok(tokens);
                }
                Some(c) if whitespace(c) => {
                    finish(&mut tokens, &mut token, &mut quoted);
                    state = State::Space;
                }
                Some('#') if comments => {
                    // shlex reads the rest of the line and ends the current word.
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                    finish(&mut tokens, &mut token, &mut quoted);
                    state = State::Space;
                }
                Some(c @ ('\'' | '"')) => state = State::Quote(c),
                Some('\\') => state = State::Escape(EscapedFrom::Word),
                Some(c) => {
                    token.push(c);
                    state = State::Word;
                }
            },
            State::Quote(q) => {
                quoted = true;
                match next {
                    None => return Err(ShlexError::NoClosingQuotation),
                    Some(c) if c == q => state = State::Word,
                    Some('\\') if q == '"' => state = State::Escape(EscapedFrom::Quote(q)),
                    Some(c) => token.push(c),
                }
            }
            State::Escape(from) => {
                let Some(c) = next else {
                    return Err(ShlexError::NoEscapedCharacter);
                };
                if let EscapedFrom::Quote(q) = from
                    && c != '\\'
                    && c != q
                {
                    token.push('\\');
                }
                token.push(c);
                state = match from {
                    EscapedFrom::Word => State::Word,
                    EscapedFrom::Quote(q) => State::Quote(q),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_comments(s: &str) -> Result<Vec<String>, ShlexError> {
        shlex_split(s, true)
    }

    #[test]
    fn shlex_matches_python_posix_mode_with_comments() {
        assert_eq!(with_comments("a b=1 # c").unwrap(), ["a", "b=1"]);
        assert_eq!(
            with_comments(r#"h v="x y" w='q'"#).unwrap(),
            ["h", "v=x y", "w=q"]
        );
        assert_eq!(with_comments(r#"h a#b"#).unwrap(), ["h", "a"]);
        assert_eq!(
            with_comments(r#"h x="a\"b\c""#).unwrap(),
            ["h", r#"x=a"b\c"#]
        );
        assert_eq!(with_comments(r"h x=a\ b").unwrap(), ["h", "x=a b"]);
        assert_eq!(with_comments(r#"h x=''"#).unwrap(), ["h", "x="]);
        assert_eq!(with_comments(r#"''"#).unwrap(), [""]);
        assert_eq!(with_comments("a # c\nb").unwrap(), ["a", "b"]);
        assert_eq!(
            with_comments(r#"h x="a"#),
            Err(ShlexError::NoClosingQuotation)
        );
        assert_eq!(with_comments("h x\\"), Err(ShlexError::NoEscapedCharacter));
        assert_eq!(
            ShlexError::NoClosingQuotation.to_string(),
            "No closing quotation"
        );
    }

    #[test]
    fn without_comments_hash_is_a_word_character() {
        assert_eq!(
            shlex_split("echo a#b # c", false).unwrap(),
            ["echo", "a#b", "#", "c"]
        );
        assert_eq!(
            shlex_split("a 'b c' \"d \\\" e\" f\\ g", false).unwrap(),
            ["a", "b c", "d \" e", "f g"]
        );
        assert_eq!(
            shlex_split(r#"x "\$y" \$z"#, false).unwrap(),
            ["x", r"\$y", "$z"]
        );
        assert!(shlex_split("a 'b", false).is_err());
    }
}
