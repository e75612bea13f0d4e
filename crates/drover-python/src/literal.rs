//! Python's `ast.literal_eval`: numbers, strings (prefixes, escapes, implicit concatenation),
//! bytes, `True`/`False`/`None`, lists, tuples, sets and dicts, a sign on a number, comments and
//! line continuations. The result is a [`Literal`], a Python value; [`Literal::to_json`] turns it
//! into JSON data the way the caller's Ansible code path sees it ([`JsonView`]).

use serde_json::{Map, Number, Value};

use crate::float_repr;

/// A value `ast.literal_eval` returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` (drover holds those that fit 128 bits; larger ones fail to parse).
    Int(i128),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` literal, its bytes as characters `\0`..`\u{ff}` (ASCII source text, `\x`
    /// and octal escapes).
    Bytes(String),
    /// A `list`.
    List(Vec<Literal>),
    /// A `tuple`.
    Tuple(Vec<Literal>),
    /// A `set`, without duplicates (first occurrence kept, as Python does).
    Set(Vec<Literal>),
    /// A `dict` in insertion order, keys unique under Python's `==` (first key kept, last
    /// value wins).
    Dict(Vec<(Literal, Literal)>),
}

/// Which Python call reads the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `ast.literal_eval(text)`: leading spaces and tabs are stripped first.
    Python,
    /// Ansible's templating (`ansible_eval_concat`):
    /// `ast.literal_eval(Json2Python().visit(ast.parse(text, mode='eval')))` — JSON's `true`,
    /// `false` and `null` are read as Python constants, and leading indentation is an error.
    AnsibleTemplate,
}

/// How a [`Literal`] becomes JSON data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonView {
    /// As `json.dumps` writes it (after Ansible's `to_text` of bytes): tuples and sets become
    /// arrays, bytes strings, ints beyond 64 bits floats, and non-string keys json.dumps' key
    /// text (`true`, `null`, `1.5`). What `ansible-inventory --list` prints for INI values.
    Dumps,
    /// Plain data only, for values that stay live Python objects (templating): sets, bytes and
    /// ints beyond 64 bits have no JSON form (`None`); non-string keys become their `str()`
    /// (`True`, `None`, `1.5`).
    Data,
}

/// `ast.literal_eval(text)`, or `None` where Python raises. See [`literal_eval_with`].
pub fn literal_eval(text: &str) -> Option<Literal> {
    literal_eval_with(text, Dialect::Python)
}

/// `ast.literal_eval` as `dialect` calls it: `None` where Python raises (syntax errors, names,
/// operators, calls other than `set()`, unhashable keys, nesting beyond Python's 200 brackets)
/// and where drover cannot hold the value (complex numbers, `\N{...}` escapes, ints beyond
/// 128 bits).
pub fn literal_eval_with(text: &str, dialect: Dialect) -> Option<Literal> {
    let text = match dialect {
        Dialect::Python => text.trim_start_matches([' ', '\t']),
        Dialect::AnsibleTemplate => text,
    };
    if text.starts_with([' ', '\t', '\x0c']) {
        return None; // "unexpected indent"
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        json_names: dialect == Dialect::AnsibleTemplate,
    };
    let value = parser.expr_list(true)?;
    (parser.pos == parser.tokens.len()).then_some(value)
}

impl Literal {
    /// The value as JSON data, seen as `view` describes; `None` where it has no such form.
    pub fn to_json(&self, view: JsonView) -> Option<Value> {
        Some(match self {
            Literal::None => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => int_json(*i, view)?,
            Literal::Float(f) => Value::Number(Number::from_f64(*f)?),
            Literal::Str(s) => Value::String(s.clone()),
            Literal::Bytes(s) => match view {
                JsonView::Dumps => Value::String(s.clone()),
                JsonView::Data => return None,
            },
            Literal::Set(_) if view == JsonView::Data => return None,
            Literal::List(items) | Literal::Tuple(items) | Literal::Set(items) => Value::Array(
                items
                    .iter()
                    .map(|v| v.to_json(view))
                    .collect::<Option<_>>()?,
            ),
            Literal::Dict(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    map.insert(k.key_text(view)?, v.to_json(view)?);
                }
                Value::Object(map)
            }
        })
    }

    /// A dict key as text: `json.dumps`' key conversion or Python's `str()`.
    fn key_text(&self, view: JsonView) -> Option<String> {
        Some(match (self, view) {
            (Literal::Str(s), _) => s.clone(),
            (Literal::None, JsonView::Dumps) => "null".into(),
            (Literal::None, JsonView::Data) => "None".into(),
            (Literal::Bool(b), JsonView::Dumps) => b.to_string(),
            (Literal::Bool(true), JsonView::Data) => "True".into(),
            (Literal::Bool(false), JsonView::Data) => "False".into(),
            (Literal::Int(i), _) => i.to_string(),
            (Literal::Float(f), _) => float_repr(*f),
            _ => return None, // json.dumps refuses tuple and bytes keys
        })
    }

    /// Python's `==` between two hashable values (`1 == 1.0 == True`).
    fn py_eq(&self, other: &Literal) -> bool {
        match (self.as_number(), other.as_number()) {
            (Some(a), Some(b)) => return a == b,
            (Some(_), None) | (None, Some(_)) => return false,
            (None, None) => {}
        }
        match (self, other) {
            (Literal::Tuple(a), Literal::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y))
            }
            _ => self == other,
        }
    }

    /// Numbers (bools included) for comparison: integers exactly, floats when integral.
    fn as_number(&self) -> Option<NumKey> {
        match self {
            Literal::Bool(b) => Some(NumKey::Int(i128::from(*b))),
            Literal::Int(i) => Some(NumKey::Int(*i)),
            Literal::Float(f) if f.fract() == 0.0 && f.abs() < 1e38 => {
                Some(NumKey::Int(*f as i128))
            }
            Literal::Float(f) => Some(NumKey::Float(*f)),
            _ => None,
        }
    }

    /// Whether Python can hash the value (be a dict key or set element).
    fn is_hashable(&self) -> bool {
        match self {
            Literal::List(_) | Literal::Dict(_) | Literal::Set(_) => false,
            Literal::Tuple(items) => items.iter().all(Literal::is_hashable),
            _ => true,
        }
    }
}

#[derive(PartialEq)]
enum NumKey {
    Int(i128),
    Float(f64),
}

fn int_json(v: i128, view: JsonView) -> Option<Value> {
    if let Ok(i) = i64::try_from(v) {
        Some(Value::from(i))
    } else if view == JsonView::Data {
        None
    } else if let Ok(u) = u64::try_from(v) {
        Some(Value::from(u))
    } else {
        Number::from_f64(v as f64).map(Value::Number)
    }
}

/// Python's limit on nested brackets ("too many nested parentheses").
const MAX_NESTING: usize = 200;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    /// A string literal; `true` for bytes.
    Str(String, bool),
    Name(String),
    Punct(char),
}

fn tokenize(text: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' || c == '\x0c' {
            i += 1;
        } else if c == '\\' && matches!(chars.get(i + 1), Some('\n' | '\r')) {
            // explicit line joining; at the very end it is "unexpected EOF"
            i += 2;
            if c == '\r' && chars.get(i) == Some(&'\n') {
                i += 1;
            }
            if chars[i..].iter().all(|c| c.is_whitespace()) {
                return None;
            }
        } else if c == '\n' || c == '\r' {
            // Outside brackets a newline ends the expression: only blank and comment lines may
            // follow (blank lines before it are skipped).
            if depth == 0 && !out.is_empty() {
                let rest: String = chars[i..].iter().collect();
                if rest.split(['\n', '\r']).any(|l| {
                    let t = l.trim_start_matches([' ', '\t', '\x0c']);
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
                let (raw, bytes) = match word.to_ascii_lowercase().as_str() {
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
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return None;
                    }
                }
                ')' | ']' | '}' => depth = depth.checked_sub(1)?,
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

/// A Python number literal at the start of `s`: the token and its length.
fn number(s: &[char]) -> Option<(Tok, usize)> {
    // digits with single underscores between them
    let digits_run = |s: &[char], mut i: usize, ok: &dyn Fn(char) -> bool| -> Option<usize> {
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
    let mut i = 0;
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
        if !s.get(j).is_some_and(char::is_ascii_digit) {
            return None;
        }
        i = digits_run(s, j, &|c| c.is_ascii_digit())?;
        is_float = true;
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
        return Some((Tok::Float(text.parse().ok()?), i));
    }
    // Decimal integers may not have leading zeros (except all zeros).
    if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
        return None;
    }
    Some((Tok::Int(text.parse().ok()?), i))
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
            return None; // "bytes can only contain ASCII literal characters"
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
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let n = *s.get(i + 1)?;
        i += 2;
        if raw {
            out.push('\\');
            out.push(n);
            continue;
        }
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
            'N' if !bytes => return None, // named escapes need Unicode's name table
            other => {
                // unknown escapes keep the backslash
                out.push('\\');
                out.push(other);
            }
        }
    }
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
    json_names: bool,
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
    fn expr_list(&mut self, top: bool) -> Option<Literal> {
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
        Some(Literal::Tuple(items))
    }

    fn expr(&mut self) -> Option<Literal> {
        let tok = self.peek()?.clone();
        self.pos += 1;
        match tok {
            Tok::Punct(sign @ ('+' | '-')) => {
                let value = self.signed_operand()?;
                self.no_binop()?;
                Some(match (value, sign) {
                    (Literal::Int(i), '-') => Literal::Int(-i),
                    (Literal::Float(f), '-') => Literal::Float(-f),
                    (value, _) => value,
                })
            }
            Tok::Int(v) => {
                self.no_binop()?;
                Some(Literal::Int(v))
            }
            Tok::Float(f) => {
                self.no_binop()?;
                Some(Literal::Float(f))
            }
            Tok::Str(mut s, bytes) => {
                // adjacent literals concatenate; bytes and str may not mix
                while let Some(Tok::Str(more, more_bytes)) = self.peek() {
                    if *more_bytes != bytes {
                        return None;
                    }
                    s.push_str(more);
                    self.pos += 1;
                }
                Some(if bytes {
                    Literal::Bytes(s)
                } else {
                    Literal::Str(s)
                })
            }
            Tok::Name(n) => match n.as_str() {
                "True" => Some(Literal::Bool(true)),
                "False" => Some(Literal::Bool(false)),
                "None" => Some(Literal::None),
                "true" if self.json_names => Some(Literal::Bool(true)),
                "false" if self.json_names => Some(Literal::Bool(false)),
                "null" if self.json_names => Some(Literal::None),
                "set" if self.eat('(') => self.eat(')').then(|| Literal::Set(Vec::new())),
                _ => None,
            },
            Tok::Punct('(') => {
                if self.eat(')') {
                    return Some(Literal::Tuple(Vec::new()));
                }
                let inner = self.expr_list(false)?;
                // `(1,)` is already a one-element tuple; `(1)` is just 1.
                self.eat(')').then_some(inner)
            }
            Tok::Punct('[') => Some(Literal::List(self.items(']')?)),
            Tok::Punct('{') => self.dict_or_set(),
            _ => None,
        }
    }

    /// What follows a unary sign: an int or float, possibly in parentheses (`-(1)`), but not
    /// another sign, a bool or anything else.
    fn signed_operand(&mut self) -> Option<Literal> {
        let mut parens = 0;
        while self.eat('(') {
            parens += 1;
        }
        let value = match self.peek()? {
            Tok::Int(v) => Literal::Int(*v),
            Tok::Float(f) => Literal::Float(*f),
            _ => return None,
        };
        self.pos += 1;
        for _ in 0..parens {
            if !self.eat(')') {
                return None;
            }
        }
        Some(value)
    }

    /// After `{`: a dict, or a set (elements must be hashable).
    fn dict_or_set(&mut self) -> Option<Literal> {
        if self.eat('}') {
            return Some(Literal::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if !self.eat(':') {
            let mut items = vec![first];
            if self.eat(',') {
                items.extend(self.items('}')?);
            } else if !self.eat('}') {
                return None;
            }
            let mut unique: Vec<Literal> = Vec::new();
            for v in items {
                if !v.is_hashable() {
                    return None;
                }
                if !unique.iter().any(|u| u.py_eq(&v)) {
                    unique.push(v);
                }
            }
            return Some(Literal::Set(unique));
        }
        let mut pairs: Vec<(Literal, Literal)> = Vec::new();
        let mut key = first;
        loop {
            let value = self.expr()?;
            if !key.is_hashable() {
                return None;
            }
            match pairs.iter_mut().find(|(k, _)| k.py_eq(&key)) {
                Some((_, v)) => *v = value,
                None => pairs.push((key, value)),
            }
            if !self.eat(',') || self.peek() == Some(&Tok::Punct('}')) {
                return self.eat('}').then_some(Literal::Dict(pairs));
            }
            key = self.expr()?;
            if !self.eat(':') {
                return None;
            }
        }
    }

    /// Comma-separated items up to `close` (trailing comma allowed).
    fn items(&mut self, close: char) -> Option<Vec<Literal>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Ansible's INI `_parse_value`: the literal as json.dumps sees it, else the text.
    fn ini_value(text: &str) -> Value {
        literal_eval(text)
            .and_then(|v| v.to_json(JsonView::Dumps))
            .unwrap_or_else(|| Value::String(text.to_string()))
    }

    fn template(text: &str) -> Option<Value> {
        literal_eval_with(text, Dialect::AnsibleTemplate)?.to_json(JsonView::Data)
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
    fn python_edge_cases() {
        // each checked against Python 3.11's ast.literal_eval
        assert_eq!(ini_value("-(1)"), json!(-1));
        assert_eq!(ini_value("- (1)"), json!(-1));
        assert_eq!(ini_value("-(-1)"), json!("-(-1)"));
        assert_eq!(ini_value("--1"), json!("--1"));
        assert_eq!(ini_value("\n1"), json!(1));
        assert_eq!(ini_value("1\n"), json!(1));
        assert_eq!(ini_value("1\n2"), json!("1\n2"));
        assert_eq!(ini_value("[1,\\\n2]"), json!([1, 2]));
        assert_eq!(ini_value("1 \\\n"), json!("1 \\\n"));
        assert_eq!(ini_value("(\n1\n)"), json!(1));
        assert_eq!(ini_value("[1]#c"), json!([1]));
        assert_eq!(ini_value("{1: 2, True: 3, 1.0: 4}"), json!({"1": 4}));
        assert_eq!(ini_value("{True, 1}"), json!([true]));
        assert_eq!(
            ini_value("{True: 1, None: 2, 1.5: 3}"),
            json!({"true": 1, "null": 2, "1.5": 3})
        );
        assert_eq!(ini_value("{[1]: 2}"), json!("{[1]: 2}"));
        assert_eq!(ini_value("{(1, [2]): 3}"), json!("{(1, [2]): 3}"));
        assert_eq!(ini_value("[1 -1]"), json!("[1 -1]"));
        assert_eq!(ini_value("\"a\" b\"c\""), json!("\"a\" b\"c\""));
        assert_eq!(ini_value("r'a\\b'"), json!("a\\b"));
        assert_eq!(ini_value("-0x10"), json!(-16));
        assert_eq!(ini_value("set()"), json!([]));
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(literal_eval(&nested(200)).is_some());
        assert!(literal_eval(&nested(201)).is_none());
        assert!(literal_eval(&"[".repeat(100_000)).is_none());
    }

    #[test]
    fn template_dialect_reads_json_names_and_keeps_python_objects_out() {
        assert_eq!(
            template("[1, 'a', True, None]"),
            Some(json!([1, "a", true, null]))
        );
        assert_eq!(
            template("{'a': {'b': [1.5, -2]}, 3: 'x'}"),
            Some(json!({"a": {"b": [1.5, -2]}, "3": "x"}))
        );
        assert_eq!(template("True"), Some(json!(true)));
        assert_eq!(template("('a', 1)"), Some(json!(["a", 1])));
        assert_eq!(template("'it\\'s'"), Some(json!("it's")));
        assert_eq!(template("\"a\\nb\""), Some(json!("a\nb")));
        assert_eq!(template("'a' 'b'"), Some(json!("ab")));
        assert_eq!(template("[1,]"), Some(json!([1])));
        assert_eq!(template("0x10"), Some(json!(16)));
        assert_eq!(
            template(r#"{"a": [true, null, false]}"#),
            Some(json!({"a": [true, null, false]}))
        );
        assert_eq!(
            template("{True: 1, None: 2, 1.5: 3, 1e20: 4}"),
            Some(json!({"True": 1, "None": 2, "1.5": 3, "1e+20": 4}))
        );
        // Python reads these, but they are sets, bytes or big ints: no plain data form
        assert_eq!(template("{1, 2}"), None);
        assert_eq!(template("[b'x']"), None);
        assert_eq!(template("[18446744073709551615]"), None);
        assert_eq!(template(" [1]"), None);
        assert_eq!(literal_eval("true"), None);
    }

    #[test]
    fn refuses_what_literal_eval_refuses() {
        for text in [
            "[1, 2",
            "{x",
            "08",
            "[foo]",
            "[1] x",
            "1j",
            "'\\N{BULLET}'",
            "(1",
            "]",
        ] {
            assert_eq!(literal_eval(text), None, "{text}");
        }
        assert_eq!(template(&"[".repeat(500)), None);
    }
}
