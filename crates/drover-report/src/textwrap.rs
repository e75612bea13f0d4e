//! Python's `textwrap.wrap(text, width)` with its defaults, which Ansible uses for warnings:
//! ASCII whitespace becomes spaces (runs are kept inside a line, dropped at line ends), words
//! split after hyphens between letters (`wordsep_re`), too-long words are cut (preferably after a
//! hyphen). Lengths are in code points, as Python's `len`.

/// Python's `textwrap._whitespace`: the only characters it treats as whitespace.
fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// `\w` in Python's `re` (Unicode): alphanumerics and underscore.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `[^\d\W]`: a word character that is not a digit.
fn is_letter(c: char) -> bool {
    is_word(c) && !c.is_numeric()
}

/// `[\w!"'&.,?]`: what may precede an em-dash.
fn is_word_punct(c: char) -> bool {
    is_word(c) || matches!(c, '!' | '"' | '\'' | '&' | '.' | ',' | '?')
}

/// Splits into chunks like `TextWrapper.wordsep_re` (break_on_hyphens=True).
fn chunks(text: &[char]) -> Vec<Vec<char>> {
    let at = |i: usize| text.get(i).copied();
    let letter_at = |i: Option<usize>| i.and_then(at).is_some_and(is_letter);
    // `(?<=wp) -{2,} (?=\w)` starting at `i`: the end of the dash run, if it matches.
    let em_dash = |i: usize| -> Option<usize> {
        if i == 0 || !is_word_punct(text[i - 1]) {
            return None;
        }
        let mut j = i;
        while at(j) == Some('-') {
            j += 1;
        }
        (j - i >= 2 && at(j).is_some_and(is_word)).then_some(j)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if is_ws(text[i]) {
            let start = i;
            while i < text.len() && is_ws(text[i]) {
                i += 1;
            }
            out.push(text[start..i].to_vec());
            continue;
        }
        if let Some(end) = em_dash(i) {
            out.push(text[i..end].to_vec());
            i = end;
            continue;
        }
        // A word piece: at least one non-space, then the first position `j` where it may end.
        let start = i;
        let mut j = i + 1;
        let end = loop {
            if j >= text.len() || is_ws(text[j]) {
                break j;
            }
            if text[j] == '-' {
                let behind = (letter_at(j.checked_sub(2)) && letter_at(j.checked_sub(1)))
                    || (letter_at(j.checked_sub(3))
                        && j.checked_sub(2).and_then(at) == Some('-')
                        && letter_at(j.checked_sub(1)));
                let ahead = letter_at(Some(j + 1))
                    && (letter_at(Some(j + 2))
                        || (at(j + 2) == Some('-') && letter_at(Some(j + 3))));
                if behind && ahead {
                    break j + 1;
                }
            }
            if is_word_punct(text[j - 1]) && em_dash(j).is_some() {
                break j;
            }
            j += 1;
        };
        out.push(text[start..end].to_vec());
        i = end;
    }
    out
}

/// `str.expandtabs()`: tabs to spaces up to the next multiple of 8; `\n` and `\r` restart the count.
fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// `textwrap.wrap(text, width)`.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let text: Vec<char> = expand_tabs(text)
        .chars()
        .map(|c| if is_ws(c) { ' ' } else { c })
        .collect();
    let is_blank = |chunk: &[char]| chunk.iter().all(|c| *c == ' ');
    // Python keeps the chunks reversed and pops from the end; a front index does the same.
    let mut chunks: std::collections::VecDeque<Vec<char>> = chunks(&text).into();
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut line: Vec<Vec<char>> = Vec::new();
        let mut len = 0;
        if !lines.is_empty() && chunks.front().is_some_and(|c| is_blank(c)) {
            chunks.pop_front();
        }
        while let Some(chunk) = chunks.front() {
            if len + chunk.len() <= width {
                len += chunk.len();
                line.extend(chunks.pop_front());
            } else {
                break;
            }
        }
        if chunks.front().is_some_and(|c| c.len() > width) {
            // `_handle_long_word` with break_long_words and break_on_hyphens.
            let space_left = if width < 1 { 1 } else { width - len };
            if let Some(chunk) = chunks.front_mut() {
                let mut end = space_left;
                if chunk.len() > space_left {
                    let hyphen = chunk[..space_left].iter().rposition(|c| *c == '-');
                    if let Some(h) =
                        hyphen.filter(|h| *h > 0 && chunk[..*h].iter().any(|c| *c != '-'))
                    {
                        end = h + 1;
                    }
                }
                let rest = chunk.split_off(end.min(chunk.len()));
                line.push(std::mem::replace(chunk, rest));
            }
        }
        if line.last().is_some_and(|c| is_blank(c)) {
            line.pop();
        }
        if !line.is_empty() {
            lines.push(line.concat().into_iter().collect());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_cases() {
        assert_eq!(wrap("[WARNING]: a b  c", 79), vec!["[WARNING]: a b  c"]);
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 10), Vec::<String>::new());
        assert_eq!(
            wrap("see no-log-values here", 12),
            vec!["see no-log-", "values here"]
        );
    }
}

#[cfg(test)]
mod python_parity {
    use super::wrap;
    use serde_json::Value;

    /// Every case of tests/fixtures/textwrap.json (made by textwrap_cases.py with Python 3.11's
    /// `textwrap.wrap`) wraps identically.
    #[test]
    fn same_lines_as_python_textwrap() {
        let cases: Value =
            serde_json::from_str(include_str!("../tests/fixtures/textwrap.json")).unwrap();
        let cases = cases.as_array().unwrap();
        assert!(cases.len() > 400);
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let width = case["width"].as_u64().unwrap() as usize;
            let want: Vec<String> = serde_json::from_value(case["lines"].clone()).unwrap();
            assert_eq!(wrap(text, width), want, "text {text:?} width {width}");
        }
    }
}
