//! A parser for Python literals, the subset `ast.literal_eval` accepts that can become JSON.
//!
//! Ansible's value templating (`ansible_eval_concat`) runs `ast.literal_eval` over results that
//! start with `{` or `[` or equal `True`/`False` (after mapping the JSON names `true`, `false` and
//! `null` to Python constants), and keeps the string when that fails. Rendered
//! values are Python reprs (`{'a': 1}`, `[True, None]`), so this parser turns them back into data.
//! Anything it cannot represent (sets, complex numbers, integers beyond 64 bits, non-finite floats)
//! is a parse failure, which keeps the string — the caller decides what that means.

use serde_json::{Map, Number, Value};

/// Parses `text` as a Python literal. `None` when `ast.literal_eval` would fail or when the
/// result has no JSON form.
pub fn literal_eval(text: &str) -> Option<Value> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    let value = parser.expr()?;
    parser.skip_ws();
    (parser.pos == parser.chars.len()).then_some(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 200;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0c' {
                self.pos += 1;
            } else if c == '\\' && self.chars.get(self.pos + 1) == Some(&'\n') {
                self.pos += 2;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let value = self.atom();
        self.depth -= 1;
        value
    }

    fn atom(&mut self) -> Option<Value> {
        self.skip_ws();
        match self.peek()? {
            '[' => {
                self.pos += 1;
                Some(Value::Array(self.items(']')?))
            }
            '(' => {
                self.pos += 1;
                self.skip_ws();
                if self.eat(')') {
                    return Some(Value::Array(Vec::new()));
                }
                let first = self.expr()?;
                self.skip_ws();
                if self.eat(')') {
                    // parenthesised expression, not a tuple
                    return Some(first);
                }
                if !self.eat(',') {
                    return None;
                }
                let mut items = vec![first];
                items.extend(self.items(')')?);
                Some(Value::Array(items))
            }
            '{' => {
                self.pos += 1;
                self.dict()
            }
            '\'' | '"' => self.strings(),
            '-' | '+' => {
                let negative = self.peek() == Some('-');
                self.pos += 1;
                let value = self.expr()?;
                match value {
                    Value::Number(n) if negative => negate(&n),
                    Value::Number(n) => Some(Value::Number(n)),
                    _ => None,
                }
            }
            c if c.is_ascii_digit() || c == '.' => self.number(),
            c if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    // Ansible's Json2Python pass maps JSON names before literal_eval
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" => Some(Value::Null),
                    // string prefixes
                    "u" | "U" | "r" | "R" | "b" | "B" | "rb" | "br" | "Rb" | "bR" | "RB" | "BR"
                    | "rB" | "Br" => {
                        if matches!(self.peek(), Some('\'' | '"')) {
                            if word.eq_ignore_ascii_case("u") {
                                self.strings()
                            } else {
                                // raw and byte strings are rare in rendered values; refuse
                                None
                            }
                        } else {
                            None
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated expressions up to `close` (trailing comma allowed).
    fn items(&mut self, close: char) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            self.skip_ws();
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        let mut map = Map::new();
        self.skip_ws();
        if self.eat('}') {
            return Some(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.eat('}') {
                return Some(Value::Object(map));
            }
            let key = self.expr()?;
            self.skip_ws();
            if !self.eat(':') {
                // a set literal: no JSON form
                return None;
            }
            let value = self.expr()?;
            let key = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(true) => "True".into(),
                Value::Bool(false) => "False".into(),
                Value::Null => "None".into(),
                // lists are unhashable in Python; tuples as keys have no JSON form
                _ => return None,
            };
            map.insert(key, value);
            self.skip_ws();
            if self.eat('}') {
                return Some(Value::Object(map));
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        loop {
            out.push_str(&self.string()?);
            let save = self.pos;
            self.skip_ws();
            if matches!(self.peek(), Some('\'' | '"')) {
                continue;
            }
            self.pos = save;
            return Some(Value::String(out));
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.chars.get(self.pos + 1) == Some(&quote)
            && self.chars.get(self.pos + 2) == Some(&quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            if c == quote {
                if !triple {
                    self.pos += 1;
                    return Some(out);
                }
                if self.chars.get(self.pos + 1) == Some(&quote)
                    && self.chars.get(self.pos + 2) == Some(&quote)
                {
                    self.pos += 3;
                    return Some(out);
                }
                out.push(c);
                self.pos += 1;
                continue;
            }
            if c == '\n' && !triple {
                return None;
            }
            self.pos += 1;
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.pos += 1;
            match e {
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
                    let mut code = e.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                code = code * 8 + d;
                                self.pos += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(code)?);
                }
                'x' => out.push(self.hex_escape(2)?),
                'u' => out.push(self.hex_escape(4)?),
                'U' => out.push(self.hex_escape(8)?),
                other => {
                    // unknown escapes keep the backslash
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    fn hex_escape(&mut self, digits: usize) -> Option<char> {
        let mut code = 0u32;
        for _ in 0..digits {
            let d = self.peek()?.to_digit(16)?;
            code = code.checked_mul(16)?.checked_add(d)?;
            self.pos += 1;
        }
        char::from_u32(code)
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            // exponent sign
            if matches!(self.peek(), Some('e' | 'E'))
                && matches!(self.chars.get(self.pos + 1), Some('+' | '-'))
                && !self.chars[start..self.pos]
                    .iter()
                    .any(|c| *c == 'x' || *c == 'X')
            {
                self.pos += 2;
                continue;
            }
            self.pos += 1;
        }
        let raw: String = self.chars[start..self.pos].iter().collect();
        parse_number(&raw)
    }
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return Some(Value::Number(i.checked_neg()?.into()));
    }
    if let Some(u) = n.as_u64() {
        let i = i64::try_from(u).ok()?;
        return Some(Value::Number((-i).into()));
    }
    let f = n.as_f64()?;
    Number::from_f64(-f).map(Value::Number)
}

/// Parses a Python numeric literal (no sign).
fn parse_number(raw: &str) -> Option<Value> {
    if raw.is_empty() || raw.starts_with('_') || raw.ends_with('_') || raw.contains("__") {
        return None;
    }
    let clean: String = raw.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            if digits.is_empty() {
                return None;
            }
            return i64::from_str_radix(digits, radix)
                .ok()
                .map(|i| Value::Number(i.into()));
        }
    }
    if lower.ends_with('j') {
        return None; // complex
    }
    let is_float = lower.contains('.') || lower.contains('e');
    if !is_float {
        if !lower.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // Python 3 rejects leading zeros in non-zero decimal integers ("08")
        if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0') {
            return None;
        }
        return lower.parse::<i64>().ok().map(|i| Value::Number(i.into()));
    }
    if !lower
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == '+' || c == '-')
    {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_python_reprs() {
        assert_eq!(
            literal_eval("[1, 'a', True, None]"),
            Some(json!([1, "a", true, null]))
        );
        assert_eq!(
            literal_eval("{'a': {'b': [1.5, -2]}, 3: 'x'}"),
            Some(json!({"a": {"b": [1.5, -2]}, "3": "x"}))
        );
        assert_eq!(literal_eval("True"), Some(json!(true)));
        assert_eq!(literal_eval("('a', 1)"), Some(json!(["a", 1])));
        assert_eq!(literal_eval("'it\\'s'"), Some(json!("it's")));
        assert_eq!(literal_eval("\"a\\nb\""), Some(json!("a\nb")));
        assert_eq!(literal_eval("'a' 'b'"), Some(json!("ab")));
        assert_eq!(literal_eval("[1,]"), Some(json!([1])));
        assert_eq!(literal_eval("0x10"), Some(json!(16)));
        assert_eq!(
            literal_eval(r#"{"a": [true, null, false]}"#),
            Some(json!({"a": [true, null, false]}))
        );
    }

    #[test]
    fn refuses_what_literal_eval_refuses() {
        assert_eq!(literal_eval("[1, 2"), None);
        assert_eq!(literal_eval("{x"), None);
        assert_eq!(literal_eval("08"), None);
        assert_eq!(literal_eval("[foo]"), None);
        assert_eq!(literal_eval("{1, 2}"), None);
        assert_eq!(literal_eval("[1] x"), None);
        assert_eq!(literal_eval(&"[".repeat(500)), None);
    }
}
