//! The bits of Python that Ansible's INI inventory parser leans on: `str.splitlines`,
//! `str.strip`, `shlex.split(line, comments=True)` and `ast.literal_eval`.

use serde_json::{Map, Value};

/// Python's `str.isspace` for one character.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.splitlines()`, as byte ranges `(start, end)` of each line without its break.
pub fn splitlines(text: &str) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
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
        );
        if !is_break {
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

/// `shlex.split(line, comments=True)` (POSIX mode). Errors carry Python's messages.
pub fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Space,
        Word,
        Quote(char),
        Escape(EscapedFrom),
    }
    #[derive(Clone, Copy, PartialEq)]
    enum EscapedFrom {
        Word,
        Quote(char),
    }
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Space;
    let mut chars = line.chars();
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
                Some('#') => {
                    // A comment runs to the end of the line (the input is one line).
                    finish(&mut tokens, &mut token, &mut quoted);
                    return Ok(tokens);
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
                    None => return Err("No closing quotation".into()),
                    Some(c) if c == q => state = State::Word,
                    Some('\\') if q == '"' => state = State::Escape(EscapedFrom::Quote(q)),
                    Some(c) => token.push(c),
                }
            }
            State::Escape(from) => {
                let Some(c) = next else {
                    return Err("No escaped character".into());
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

/// Ansible's INI `_parse_value`: `ast.literal_eval(text)` when `text` is a Python literal,
/// else the text itself.
pub fn ini_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// `ast.literal_eval` for the literals JSON can hold: numbers, strings (with prefixes, escapes
/// and implicit concatenation), `True`/`False`/`None`, lists, tuples, sets and dicts, unary
/// signs, comments. `None` when Python would raise (or the value has no JSON form, such as a
/// complex number).
pub fn literal_eval(text: &str) -> Option<Value> {
    let text = text.trim_start_matches([' ', '\t']);
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let v = p.expr_list(true)?;
    if p.pos != p.tokens.len() {
        return None;
    }
    Some(v)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    Str(String, bool),
    Name(String),
    Punct(char),
}

fn tokenize(text: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth = 0i32;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' || c == '\x0c' {
            i += 1;
        } else if c == '\n' || c == '\r' {
            // A newline outside brackets ends the expression; only blank lines may follow.
            if depth == 0 {
                let rest: String = chars[i..].iter().collect();
                if rest.lines().any(|l| {
                    let t = l.trim_start_matches([' ', '\t', '\x0c', '\r']);
                    !t.is_empty() && !t.starts_with('#')
                }) {
                    return None;
                }
                break;
            }
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (tok, n) = number(&chars[i..])?;
            out.push(tok);
            i += n;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if i < chars.len() && (chars[i] == '\'' || chars[i] == '"') {
                let lower = word.to_ascii_lowercase();
                let (raw, bytes) = match lower.as_str() {
                    "r" => (true, false),
                    "u" => (false, false),
                    "b" => (false, true),
                    "rb" | "br" => (true, true),
                    _ => return None, // f-strings and unknown prefixes are not literals
                };
                let (s, n) = string(&chars[i..], raw, bytes)?;
                out.push(Tok::Str(s, bytes));
                i += n;
            } else {
                out.push(Tok::Name(word));
            }
        } else if c == '\'' || c == '"' {
            let (s, n) = string(&chars[i..], false, false)?;
            out.push(Tok::Str(s, false));
            i += n;
        } else if "()[]{},:+-".contains(c) {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
            out.push(Tok::Punct(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// Python number literal at the start of `s`: the token and its length.
fn number(s: &[char]) -> Option<(Tok, usize)> {
    let mut i = 0;
    let digits_run = |s: &[char], mut i: usize, ok: &dyn Fn(char) -> bool| -> Option<usize> {
        // digits with single underscores between them
        let start = i;
        while i < s.len()
            && (ok(s[i]) || (s[i] == '_' && i > start && i + 1 < s.len() && ok(s[i + 1])))
        {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if s[0] == '0' && s.len() > 1 && matches!(s[1], 'x' | 'X' | 'o' | 'O' | 'b' | 'B') {
        let radix = match s[1] {
            'x' | 'X' => 16,
            'o' | 'O' => 8,
            _ => 2,
        };
        let mut j = 2;
        if s.get(j) == Some(&'_') {
            j += 1;
        }
        let end = digits_run(s, j, &|c| c.is_digit(radix))?;
        if s.get(end).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
            return None;
        }
        let text: String = s[j..end].iter().filter(|c| **c != '_').collect();
        let v = i128::from_str_radix(&text, radix).ok()?;
        return Some((Tok::Int(v), end));
    }
    let mut is_float = false;
    if s[0] != '.' {
        i = digits_run(s, 0, &|c| c.is_ascii_digit())?;
    }
    let int_part: String = s[..i].iter().filter(|c| **c != '_').collect();
    if s.get(i) == Some(&'.') {
        is_float = true;
        i += 1;
        if s.get(i).is_some_and(char::is_ascii_digit) {
            i = digits_run(s, i, &|c| c.is_ascii_digit())?;
        }
    }
    if matches!(s.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some('+' | '-')) {
            j += 1;
        }
        if s.get(j).is_some_and(char::is_ascii_digit) {
            i = digits_run(s, j, &|c| c.is_ascii_digit())?;
            is_float = true;
        } else {
            return None;
        }
    }
    if matches!(s.get(i), Some('j' | 'J')) {
        return None; // complex numbers have no JSON form
    }
    if s.get(i)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
    {
        return None;
    }
    let text: String = s[..i].iter().filter(|c| **c != '_').collect();
    if is_float {
        let v: f64 = text.parse().ok()?;
        return Some((Tok::Float(v), i));
    }
    // Decimal integers may not have leading zeros (except all zeros).
    if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
        return None;
    }
    let v: i128 = text.parse().ok()?;
    Some((Tok::Int(v), i))
}

/// A quoted string at the start of `s` (which begins with the quote): its value and length.
fn string(s: &[char], raw: bool, bytes: bool) -> Option<(String, usize)> {
    let q = s[0];
    let triple = s.len() >= 3 && s[1] == q && s[2] == q;
    let mut i = if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let c = *s.get(i)?;
        if bytes && !c.is_ascii() {
            return None;
        }
        if triple {
            if c == q && s.get(i + 1) == Some(&q) && s.get(i + 2) == Some(&q) {
                return Some((out, i + 3));
            }
        } else if c == q {
            return Some((out, i + 1));
        } else if c == '\n' || c == '\r' {
            return None;
        }
        if c == '\\' {
            let n = *s.get(i + 1)?;
            if raw {
                out.push('\\');
                out.push(n);
                i += 2;
                continue;
            }
            i += 2;
            match n {
                '\n' => {}
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '0'..='7' => {
                    let mut v = n.to_digit(8)?;
                    for _ in 0..2 {
                        match s.get(i).and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(v)?);
                }
                'x' | 'u' | 'U' if !(bytes && n != 'x') => {
                    let len = match n {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = s.get(i..i + len)?.iter().collect();
                    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        return None;
                    }
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    i += len;
                }
                'N' => return None, // named escapes: rare; let Python-exactness fall back
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `a` or `a, b, ...` (a tuple) at the top level or inside parentheses.
    fn expr_list(&mut self, top: bool) -> Option<Value> {
        let first = self.expr()?;
        if self.peek() != Some(&Tok::Punct(',')) {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(',') {
            if self.peek().is_none() || (!top && self.peek() == Some(&Tok::Punct(')'))) {
                break;
            }
            items.push(self.expr()?);
        }
        Some(Value::Array(items))
    }

    fn expr(&mut self) -> Option<Value> {
        match self.peek()?.clone() {
            Tok::Punct('+') | Tok::Punct('-') => {
                let neg = self.peek() == Some(&Tok::Punct('-'));
                self.pos += 1;
                // literal_eval allows one sign directly on an int or float (not on a bool).
                let operand = match self.peek()?.clone() {
                    Tok::Int(v) => int_value(v)?,
                    Tok::Float(f) => Value::Number(serde_json::Number::from_f64(f)?),
                    _ => return None,
                };
                self.pos += 1;
                self.no_binop()?;
                negate(operand, neg)
            }
            Tok::Int(v) => {
                self.pos += 1;
                self.no_binop()?;
                int_value(v)
            }
            Tok::Float(f) => {
                self.pos += 1;
                self.no_binop()?;
                serde_json::Number::from_f64(f).map(Value::Number)
            }
            Tok::Str(s, bytes) => {
                self.pos += 1;
                let mut s = s;
                while let Some(Tok::Str(more, more_bytes)) = self.peek().cloned() {
                    if more_bytes != bytes {
                        return None;
                    }
                    s.push_str(&more);
                    self.pos += 1;
                }
                Some(Value::String(s))
            }
            Tok::Name(n) => {
                self.pos += 1;
                let v = match n.as_str() {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    "None" => Value::Null,
                    "set" if self.eat('(') => {
                        return self.eat(')').then(|| Value::Array(Vec::new()));
                    }
                    _ => return None,
                };
                Some(v)
            }
            Tok::Punct('(') => {
                self.pos += 1;
                if self.eat(')') {
                    return Some(Value::Array(Vec::new()));
                }
                let inner = self.expr_list(false)?;
                // `(1,)` is already a one-element tuple (an array); `(1)` is just 1.
                self.eat(')').then_some(inner)
            }
            Tok::Punct('[') => {
                self.pos += 1;
                let items = self.items(']')?;
                Some(Value::Array(items))
            }
            Tok::Punct('{') => {
                self.pos += 1;
                if self.eat('}') {
                    return Some(Value::Object(Map::new()));
                }
                let first = self.expr()?;
                if self.eat(':') {
                    let mut map = Map::new();
                    let v = self.expr()?;
                    map.insert(key_text(&first)?, v);
                    while self.eat(',') {
                        if self.eat('}') {
                            return Some(Value::Object(map));
                        }
                        let k = self.expr()?;
                        if !self.eat(':') {
                            return None;
                        }
                        let v = self.expr()?;
                        map.insert(key_text(&k)?, v);
                    }
                    self.eat('}').then_some(Value::Object(map))
                } else {
                    // A set: elements must be hashable (no lists or dicts).
                    let mut items = vec![first];
                    if self.eat(',') {
                        items.extend(self.items('}')?);
                    } else if !self.eat('}') {
                        return None;
                    }
                    if items.iter().any(|v| v.is_array() || v.is_object()) {
                        return None;
                    }
                    let mut unique: Vec<Value> = Vec::new();
                    for v in items {
                        if !unique.contains(&v) {
                            unique.push(v);
                        }
                    }
                    Some(Value::Array(unique))
                }
            }
            _ => None,
        }
    }

    /// Comma-separated items up to `close` (trailing comma allowed).
    fn items(&mut self, close: char) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            if !self.eat(',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    /// `1 + 2` and friends are not literals (only real + complex is, which JSON cannot hold).
    fn no_binop(&self) -> Option<()> {
        match self.peek() {
            Some(Tok::Punct('+' | '-')) => None,
            _ => Some(()),
        }
    }
}

fn int_value(v: i128) -> Option<Value> {
    if let Ok(i) = i64::try_from(v) {
        Some(Value::from(i))
    } else if let Ok(u) = u64::try_from(v) {
        Some(Value::from(u))
    } else {
        serde_json::Number::from_f64(v as f64).map(Value::Number)
    }
}

fn negate(v: Value, neg: bool) -> Option<Value> {
    let n = match v {
        Value::Number(n) => n,
        _ => return None,
    };
    if !neg {
        return Some(Value::Number(n));
    }
    if let Some(i) = n.as_i64() {
        return int_value(-i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return int_value(-i128::from(u));
    }
    n.as_f64()
        .and_then(|f| serde_json::Number::from_f64(-f))
        .map(Value::Number)
}

/// A dict key as `json.dumps` writes it; lists and dicts are unhashable.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() => drover_yaml::python_float_repr(f),
            _ => n.to_string(),
        }),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shlex_matches_python_posix_mode() {
        assert_eq!(shlex_split("a b=1 # c").unwrap(), ["a", "b=1"]);
        assert_eq!(
            shlex_split(r#"h v="x y" w='q'"#).unwrap(),
            ["h", "v=x y", "w=q"]
        );
        assert_eq!(shlex_split(r#"h a#b"#).unwrap(), ["h", "a"]);
        assert_eq!(shlex_split(r#"h x="a\"b\c""#).unwrap(), ["h", r#"x=a"b\c"#]);
        assert_eq!(shlex_split(r"h x=a\ b").unwrap(), ["h", "x=a b"]);
        assert_eq!(shlex_split(r#"h x=''"#).unwrap(), ["h", "x="]);
        assert_eq!(shlex_split(r#"''"#).unwrap(), [""]);
        assert!(shlex_split(r#"h x="a"#).is_err());
        assert!(shlex_split("h x\\").is_err());
    }

    #[test]
    fn literal_eval_matches_python() {
        assert_eq!(ini_value("1"), json!(1));
        assert_eq!(ini_value("-1"), json!(-1));
        assert_eq!(ini_value("1.5"), json!(1.5));
        assert_eq!(ini_value("1e3"), json!(1000.0));
        assert_eq!(ini_value("0x1f"), json!(31));
        assert_eq!(ini_value("1_000"), json!(1000));
        assert_eq!(ini_value("0755"), json!("0755"));
        assert_eq!(ini_value("00"), json!(0));
        assert_eq!(ini_value("True"), json!(true));
        assert_eq!(ini_value("true"), json!("true"));
        assert_eq!(ini_value("None"), json!(null));
        assert_eq!(ini_value("'a b'"), json!("a b"));
        assert_eq!(ini_value("'a' \"b\""), json!("ab"));
        assert_eq!(ini_value("[1, 'x', [2]]"), json!([1, "x", [2]]));
        assert_eq!(ini_value("(1,)"), json!([1]));
        assert_eq!(ini_value("(1)"), json!(1));
        assert_eq!(ini_value("1, 2"), json!([1, 2]));
        assert_eq!(ini_value("{'a': 1, 2: None}"), json!({"a": 1, "2": null}));
        assert_eq!(ini_value("{a:1}"), json!("{a:1}"));
        assert_eq!(ini_value("1 + 2"), json!("1 + 2"));
        assert_eq!(ini_value("True # comment"), json!(true));
        assert_eq!(ini_value("hello # c"), json!("hello # c"));
        assert_eq!(ini_value("-True"), json!("-True"));
        assert_eq!(ini_value("'\\x41\\n'"), json!("A\n"));
        assert_eq!(ini_value("b'ab'"), json!("ab"));
        assert_eq!(ini_value("f'ab'"), json!("f'ab'"));
        assert_eq!(ini_value("1.2.3"), json!("1.2.3"));
        assert_eq!(ini_value("10.10.10.10"), json!("10.10.10.10"));
        assert_eq!(ini_value(""), json!(""));
    }

    #[test]
    fn splitlines_and_strip_follow_python() {
        let t = "a\r\nb\rc\x0bd\n";
        let lines: Vec<&str> = splitlines(t).iter().map(|(s, e)| &t[*s..*e]).collect();
        assert_eq!(lines, ["a", "b", "c", "d"]);
        assert_eq!(py_strip("\x1c a \t"), "a");
    }
}
