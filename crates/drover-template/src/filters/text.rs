//! Text filters: regular expressions (Python `re` semantics via fancy-regex, including `\1`
//! backreferences in replacements), base64, hashes and shell quoting.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fancy_regex::{Captures, Regex, RegexBuilder};
use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};

use super::to_text;
use crate::environment::op_error;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("b64encode", |v: &Value| {
        STANDARD.encode(to_text(v).as_bytes())
    });
    env.add_filter("b64decode", b64decode);
    env.add_filter("hash", |v: &Value, kind: Option<&str>| {
        hash(&to_text(v), kind.unwrap_or("sha1"))
    });
    env.add_filter("md5", |v: &Value| hash(&to_text(v), "md5"));
    env.add_filter("sha1", |v: &Value| hash(&to_text(v), "sha1"));
    env.add_filter("checksum", |v: &Value| hash(&to_text(v), "sha1"));
    env.add_filter("indent", indent);
    env.add_filter("wordcount", |v: &Value| {
        to_text(v)
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .count()
    });
    // With auto-escaping off, `safe` is the identity and `escape` HTML-escapes; both give plain
    // strings (in Ansible they are str subclasses that value templating still converts).
    env.add_filter("safe", |v: &Value| to_text(v));
    env.add_filter("escape", |v: &Value| html_escape(&to_text(v)));
    env.add_filter("e", |v: &Value| html_escape(&to_text(v)));
    env.add_filter("urlencode", urlencode);
    env.add_filter("quote", |v: &Value| {
        if v.is_none() {
            shell_quote("")
        } else {
            shell_quote(&to_text(v))
        }
    });
}

/// Compiles a Python-style pattern with `re.I`/`re.M` flags.
pub fn compile_regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    let pattern = pattern.replace("(?P<", "(?<").replace("(?P=", "\\k<");
    let pattern = fix_named_backrefs(&pattern);
    RegexBuilder::new(&pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| op_error(format!("invalid regular expression `{pattern}`: {e}")))
}

/// `(?P=name)` became `\k<name)`; close it as `\k<name>`.
fn fix_named_backrefs(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find("\\k<") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        if let Some(close) = rest.find(')') {
            let name = &rest[..close];
            if !name.contains('>') {
                out.push_str(name);
                out.push('>');
                rest = &rest[close + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false),
        kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false),
    ))
}

/// Ansible's `regex_replace(pattern, replacement, ignorecase, multiline, count, mandatory_count)`.
fn regex_replace(
    value: &Value,
    pattern: Option<&str>,
    replacement: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let pattern = match pattern {
        Some(p) => p.to_string(),
        None => kwargs
            .get::<Option<&str>>("pattern")?
            .unwrap_or("")
            .to_string(),
    };
    let replacement = match replacement {
        Some(r) => r.to_string(),
        None => kwargs
            .get::<Option<&str>>("replacement")?
            .unwrap_or("")
            .to_string(),
    };
    let (ignorecase, multiline) = flags(&kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory_count = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let text = to_text(value);
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    let template = parse_replacement(&replacement)?;
    let mut out = String::new();
    let mut last = 0;
    let mut subs = 0;
    for caps in re.captures_iter(text.as_str()) {
        let caps = caps.map_err(|e| op_error(format!("regex `{pattern}` failed: {e}")))?;
        let Some(whole) = caps.get(0) else { continue };
        if count > 0 && subs == count {
            break;
        }
        out.push_str(&text[last..whole.start()]);
        expand(&template, &caps, &mut out)?;
        last = whole.end();
        subs += 1;
    }
    out.push_str(&text[last..]);
    if mandatory_count > 0 && mandatory_count != subs {
        return Err(op_error(format!(
            "'{pattern}' should match {mandatory_count} times, but matches {subs} times in '{text}'"
        )));
    }
    Ok(Value::from(out))
}

enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

/// Parses a Python `re.sub` replacement: `\1`, `\g<1>`, `\g<name>`, `\n`-style escapes.
fn parse_replacement(repl: &str) -> Result<Vec<Piece>, Error> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            text.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            return Err(op_error("bad escape (end of pattern) in replacement"));
        };
        i += 2;
        match e {
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err(op_error("missing < in \\g group reference"));
                }
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == '>')
                    .ok_or_else(|| op_error("missing > in \\g group reference"))?;
                let name: String = chars[i + 1..i + close].iter().collect();
                i += close + 1;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                match name.parse::<usize>() {
                    Ok(n) => pieces.push(Piece::Group(n)),
                    Err(_) => pieces.push(Piece::Named(name)),
                }
            }
            '0'..='9' => {
                let mut digits = e.to_string();
                if let Some(d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    i += 1;
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Group(digits.parse().unwrap_or(0)));
            }
            'n' => text.push('\n'),
            't' => text.push('\t'),
            'r' => text.push('\r'),
            'f' => text.push('\x0c'),
            'v' => text.push('\x0b'),
            'a' => text.push('\x07'),
            'b' => text.push('\x08'),
            '\\' => text.push('\\'),
            c if c.is_ascii_alphabetic() => {
                return Err(op_error(format!("bad escape \\{c} in replacement")));
            }
            c => {
                text.push('\\');
                text.push(c);
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn expand(template: &[Piece], caps: &Captures<'_, str>, out: &mut String) -> Result<(), Error> {
    for piece in template {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Group(n) => {
                if *n >= caps.len() {
                    return Err(op_error(format!("invalid group reference {n}")));
                }
                if let Some(m) = caps.get(*n) {
                    out.push_str(m.as_str());
                }
            }
            Piece::Named(name) => match caps.name(name) {
                Some(m) => out.push_str(m.as_str()),
                None => return Err(op_error(format!("unknown group name '{name}'"))),
            },
        }
    }
    Ok(())
}

/// Ansible's `regex_search(regex, *groups, ignorecase, multiline)`: the match, the listed groups
/// (`'\\1'`, `'\\g<name>'`), or `None`.
fn regex_search(
    value: &Value,
    regex: &str,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (ignorecase, multiline) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let text = to_text(value);
    let re = compile_regex(regex, ignorecase, multiline)?;
    let mut groups = Vec::new();
    for arg in args.iter() {
        let arg = to_text(arg);
        if let Some(name) = arg.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
            groups.push(match name.parse::<usize>() {
                Ok(n) => Piece::Group(n),
                Err(_) => Piece::Named(name.to_string()),
            });
        } else if let Some(n) = arg.strip_prefix('\\').and_then(|d| d.parse::<usize>().ok()) {
            groups.push(Piece::Group(n));
        } else {
            return Err(op_error("Unknown argument"));
        }
    }
    let caps = re
        .captures(text.as_str())
        .map_err(|e| op_error(format!("regex `{regex}` failed: {e}")))?;
    let Some(caps) = caps else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map(|m| m.as_str()).unwrap_or("")));
    }
    let mut out = Vec::new();
    for g in &groups {
        let m = match g {
            Piece::Group(n) if *n < caps.len() => caps.get(*n),
            Piece::Named(name) => caps.name(name),
            _ => return Err(op_error("no such group")),
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

/// Python's `re.findall`.
fn regex_findall(value: &Value, regex: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let (ignorecase, multiline) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let text = to_text(value);
    let re = compile_regex(regex, ignorecase, multiline)?;
    let mut out = Vec::new();
    for caps in re.captures_iter(text.as_str()) {
        let caps = caps.map_err(|e| op_error(format!("regex `{regex}` failed: {e}")))?;
        let group = |n: usize| Value::from(caps.get(n).map(|m| m.as_str()).unwrap_or(""));
        out.push(match caps.len() {
            1 => group(0),
            2 => group(1),
            n => Value::from((1..n).map(group).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

/// Python's `re.escape`.
fn regex_escape(value: &Value, re_type: Option<&str>) -> Result<Value, Error> {
    match re_type.unwrap_or("python") {
        "python" => {
            let mut out = String::new();
            for c in to_text(value).chars() {
                if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            Ok(Value::from(out))
        }
        "posix_basic" => {
            let mut out = String::new();
            for c in to_text(value).chars() {
                if "].[^$*\\".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            Ok(Value::from(out))
        }
        other => Err(op_error(format!(
            "Regex type ({other}) not yet implemented"
        ))),
    }
}

fn b64decode(value: &Value) -> Result<Value, Error> {
    let cleaned: String = to_text(value)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let bytes = STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| op_error(format!("b64decode: {e}")))?;
    String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| op_error("b64decode: the decoded data is not UTF-8 text"))
}

fn hash(data: &str, kind: &str) -> Result<String, Error> {
    use sha2::Digest;
    let bytes = data.as_bytes();
    let digest: Vec<u8> = match kind {
        "md5" => md5::Md5::digest(bytes).to_vec(),
        "sha1" => sha1::Sha1::digest(bytes).to_vec(),
        "sha224" => sha2::Sha224::digest(bytes).to_vec(),
        "sha256" => sha2::Sha256::digest(bytes).to_vec(),
        "sha384" => sha2::Sha384::digest(bytes).to_vec(),
        "sha512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(op_error(format!(
                "hash type `{other}` is not supported by drover (md5, sha1, sha224, sha256, sha384, sha512)"
            )));
        }
    };
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Jinja2's `indent(width=4, first=False, blank=False)`, quirks included (a trailing newline of
/// the input survives).
fn indent(
    value: &Value,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, Error> {
    let width = match width {
        Some(w) => Some(w),
        None => kwargs.get::<Option<Value>>("width")?,
    };
    let first = match first {
        Some(f) => f,
        None => kwargs.get::<Option<bool>>("first")?.unwrap_or(false),
    };
    let blank = match blank {
        Some(b) => b,
        None => kwargs.get::<Option<bool>>("blank")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let indention = match width {
        None => "    ".to_string(),
        Some(w) if w.as_str().is_some() => to_text(&w),
        Some(w) => " ".repeat(
            w.as_i64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| op_error("`indent` width must be a number or a string"))?
                .min(10_000),
        ),
    };
    let s = format!("{}\n", to_text(value));
    let lines = drover_python::text::splitlines(&s);
    let mut rv = if blank {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut iter = lines.into_iter();
        let mut rv = iter.next().unwrap_or("").to_string();
        let rest: Vec<String> = iter
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{indention}{l}")
                }
            })
            .collect();
        if !rest.is_empty() {
            rv.push('\n');
            rv.push_str(&rest.join("\n"));
        }
        rv
    };
    if first {
        rv = format!("{indention}{rv}");
    }
    Ok(rv)
}

/// markupsafe's escape.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Python's `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Jinja2's `urlencode`: a string (or any non-iterable, as `str()`) is percent-encoded keeping
/// `/` and the unreserved characters (`quote(s, safe="/")`); a mapping, or a list of pairs,
/// becomes a query string `k=v&...` with `+` for spaces and `/` encoded.
fn urlencode(value: &Value) -> Result<String, Error> {
    use minijinja::value::ValueKind;
    let pairs: Vec<(Value, Value)> = match value.kind() {
        ValueKind::Map => value
            .try_iter()?
            .map(|k| {
                let v = value.get_item(&k)?;
                Ok((k, v))
            })
            .collect::<Result<_, Error>>()?,
        ValueKind::Seq | ValueKind::Iterable => value
            .try_iter()?
            .map(|pair| {
                let mut it = pair.try_iter()?;
                match (it.next(), it.next(), it.next()) {
                    (Some(k), Some(v), None) => Ok((k, v)),
                    _ => Err(op_error(
                        "urlencode: a list must hold (key, value) pairs".to_string(),
                    )),
                }
            })
            .collect::<Result<_, Error>>()?,
        _ => return Ok(url_quote(&to_text(value), false)),
    };
    Ok(pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                url_quote(&to_text(k), true),
                url_quote(&to_text(v), true)
            )
        })
        .collect::<Vec<_>>()
        .join("&"))
}

/// Python's `urllib.parse.quote` on UTF-8 (`safe="/"`, or `safe=""` and `+` for spaces in a
/// query string, as Jinja2's `url_quote(for_qs=True)`).
fn url_quote(text: &str, for_qs: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'.' | b'-' | b'~')
            || (!for_qs && b == b'/')
        {
            out.push(char::from(b));
        } else if for_qs && b == b' ' {
            out.push('+');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn regex_replace_with_python_backrefs() {
        // YAML "\\1" is \1 in the string; Ansible's backslash escaping keeps it a backreference.
        assert_eq!(
            eval(
                r"'pg-test-1' | regex_replace('^(.*)-(\d+)$', '\2:\1')",
                json!({})
            ),
            Ok(json!("1:pg-test"))
        );
        assert_eq!(
            eval(r"'a.b.c' | regex_replace('\.', '/', count=1)", json!({})),
            Ok(json!("a/b.c"))
        );
        assert_eq!(
            eval(r"'ab' | regex_replace('(?P<x>a)', '\g<x>\g<x>')", json!({})),
            Ok(json!("aab"))
        );
        assert_eq!(
            eval(
                "'AbA' | regex_replace('a', 'x', ignorecase=true)",
                json!({})
            ),
            Ok(json!("xbx"))
        );
    }

    #[test]
    fn regex_search_and_findall() {
        assert_eq!(
            eval(r"'v14.2' | regex_search('\d+')", json!({})),
            Ok(json!("14"))
        );
        assert_eq!(
            eval(r"'v14.2' | regex_search('(\d+)\.(\d+)', '\2')", json!({})),
            Ok(json!(["2"]))
        );
        // None renders as '' (Ansible's finalize)
        assert_eq!(eval(r"'x' | regex_search('\d')", json!({})), Ok(json!("")));
        assert_eq!(
            eval(r"'x' | regex_search('\d') is none", json!({})),
            Ok(json!(true))
        );
        assert_eq!(
            eval(r"'a1b22' | regex_findall('\d+')", json!({})),
            Ok(json!(["1", "22"]))
        );
    }

    #[test]
    fn encodings_hashes_and_quote() {
        assert_eq!(
            eval("'consul' | b64encode", json!({})),
            Ok(json!("Y29uc3Vs"))
        );
        assert_eq!(
            eval("'Y29uc3Vs' | b64decode", json!({})),
            Ok(json!("consul"))
        );
        assert_eq!(
            eval("'abc' | hash('sha1')", json!({})),
            Ok(json!("a9993e364706816aba3e25717850c26c9cd0d89d"))
        );
        assert_eq!(
            eval("'abc' | hash('md5')", json!({})),
            Ok(json!("900150983cd24fb0d6963f7d28e17f72"))
        );
        assert_eq!(
            eval("\"it's a\" | quote", json!({})),
            Ok(json!("'it'\"'\"'s a'"))
        );
        assert_eq!(eval("'a-b/c' | quote", json!({})), Ok(json!("a-b/c")));
        assert_eq!(eval("'' | quote", json!({})), Ok(json!("''")));
        assert!(
            eval("'a' | hash('whirlpool')", json!({}))
                .unwrap_err()
                .contains("not supported")
        );
    }
}
