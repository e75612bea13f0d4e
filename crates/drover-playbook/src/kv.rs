//! Free-form task arguments (`file: path=/x state=directory`), parsed exactly like Ansible's
//! `parse_kv`/`split_args` (ansible/parsing/splitter.py): whitespace splitting that keeps quoted
//! strings and Jinja2 blocks together, `k=v` pairs with the value unquoted, and everything else
//! joined into `_raw_params`.

use indexmap::IndexMap;

/// Options of `command`/`shell` that stay `k=v` options even in free-form text.
const COMMAND_OPTIONS: [&str; 8] = [
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

/// Parses a free-form argument string into options (`_raw_params` holds the non-`k=v` words).
///
/// With `check_raw` (command, shell, raw, script) only the command options above are taken as
/// `k=v`; other `x=y` words stay part of the command line, as in Ansible.
pub fn parse_kv(args: &str, check_raw: bool) -> Result<IndexMap<String, String>, String> {
    let mut options = IndexMap::new();
    let mut raw_params: Vec<String> = Vec::new();
    for orig in split_args(args)? {
        let decoded = decode_escapes(&orig);
        if decoded.contains('=') {
            let Some(pos) = unescaped_equals(&decoded) else {
                raw_params.push(decoded.replace("\\=", "="));
                continue;
            };
            let key = &decoded[..pos];
            let value = &decoded[pos + 1..];
            if check_raw && !COMMAND_OPTIONS.contains(&key) {
                raw_params.push(orig);
            } else {
                options.insert(key.trim().to_string(), unquote(value.trim()).to_string());
            }
        } else {
            raw_params.push(orig);
        }
    }
    if !raw_params.is_empty() {
        options.insert("_raw_params".to_string(), join_args(&raw_params));
    }
    Ok(options)
}

/// The first `=` after position 0 that is not preceded by a backslash (Ansible's search starts
/// at index 1, so a leading `=` is never the separator).
fn unescaped_equals(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (1..bytes.len()).find(|&i| bytes[i] == b'=' && bytes[i - 1] != b'\\')
}

/// Removes one pair of matching outer quotes (Ansible's `unquote`).
pub fn unquote(data: &str) -> &str {
    let b = data.as_bytes();
    let quoted = b.len() > 1
        && b[0] == b[b.len() - 1]
        && (b[0] == b'"' || b[0] == b'\'')
        && b[b.len() - 2] != b'\\';
    if quoted {
        &data[1..data.len() - 1]
    } else {
        data
    }
}

/// Rejoins split arguments, keeping the newlines `split_args` preserved.
pub fn join_args(parts: &[String]) -> String {
    let mut result = String::new();
    for p in parts {
        if result.is_empty() || result.ends_with('\n') {
            result.push_str(p);
        } else {
            result.push(' ');
            result.push_str(p);
        }
    }
    result
}

/// Python's `str.count` for non-overlapping occurrences.
fn count(token: &str, pat: &str) -> i64 {
    token.matches(pat).count() as i64
}

fn jinja_depth(token: &str, depth: i64, open: &str, close: &str) -> i64 {
    let (o, c) = (count(token, open), count(token, close));
    if o != c {
        (depth + o - c).max(0)
    } else {
        depth
    }
}

fn quote_state(token: &str, mut quote: Option<char>) -> Option<char> {
    let mut prev: Option<char> = None;
    for cur in token.chars() {
        if (cur == '"' || cur == '\'') && prev != Some('\\') {
            match quote {
                Some(q) if q == cur => quote = None,
                Some(_) => {}
                None => quote = Some(cur),
            }
        }
        prev = Some(cur);
    }
    quote
}

/// Ansible's `split_args`: splits on spaces and newlines, reassembling words split inside
/// quotes or `{{ }}`/`{% %}`/`{# #}` blocks. Unbalanced quotes or blocks are an error.
pub fn split_args(args: &str) -> Result<Vec<String>, String> {
    let mut params: Vec<String> = Vec::new();
    if args.is_empty() {
        return Ok(params);
    }
    let items: Vec<&str> = args.split('\n').collect();
    let mut quote: Option<char> = None;
    let mut inside_quotes = false;
    let (mut print_depth, mut block_depth, mut comment_depth) = (0i64, 0i64, 0i64);
    for (item_idx, item) in items.iter().enumerate() {
        let mut line_continuation = false;
        for (idx, token) in item.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                if params.is_empty() {
                    params.push(String::new());
                }
                if let Some(last) = params.last_mut() {
                    last.push(' ');
                }
                continue;
            }
            if token == "\\" && !inside_quotes {
                line_continuation = true;
                continue;
            }
            let was_inside_quotes = inside_quotes;
            quote = quote_state(token, quote);
            inside_quotes = quote.is_some();
            let in_jinja = print_depth != 0 || block_depth != 0 || comment_depth != 0;
            let mut appended = false;
            if inside_quotes && !was_inside_quotes && !in_jinja {
                params.push(token.to_string());
                appended = true;
            } else if in_jinja || inside_quotes || was_inside_quotes {
                if params.is_empty() {
                    params.push(String::new());
                }
                if let Some(last) = params.last_mut() {
                    if !(idx == 0 && was_inside_quotes) && idx > 0 {
                        last.push(' ');
                    }
                    last.push_str(token);
                }
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print_depth, "{{", "}}"),
                (&mut block_depth, "{%", "%}"),
                (&mut comment_depth, "{#", "#}"),
            ] {
                let before = *depth;
                *depth = jinja_depth(token, *depth, open, close);
                if *depth != before && !appended {
                    params.push(token.to_string());
                    appended = true;
                }
            }
            let in_jinja = print_depth != 0 || block_depth != 0 || comment_depth != 0;
            if !in_jinja && !inside_quotes && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if items.len() > 1 && item_idx != items.len() - 1 && !line_continuation {
            if params.is_empty() {
                params.push(String::new());
            }
            if let Some(last) = params.last_mut() {
                last.push('\n');
            }
        }
    }
    if print_depth != 0 || block_depth != 0 || comment_depth != 0 || inside_quotes {
        return Err(format!(
            "failed at splitting arguments, either an unbalanced jinja2 block or quotes: {args}"
        ));
    }
    Ok(params)
}

/// Python `unicode-escape` decoding of the escape sequences Ansible's `_decode_escapes` finds.
fn decode_escapes(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            let simple = match next {
                '\\' => Some('\\'),
                '\'' => Some('\''),
                '"' => Some('"'),
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                'f' => Some('\x0c'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\x0b'),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                i += 2;
                continue;
            }
            let width = match next {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => 0,
            };
            if width > 0 && i + 2 + width <= chars.len() {
                let hex: String = chars[i + 2..i + 2 + width].iter().collect();
                if hex.chars().all(|c| c.is_ascii_hexdigit())
                    && let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                {
                    out.push(c);
                    i += 2 + width;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str, raw: bool) -> Vec<(String, String)> {
        parse_kv(s, raw).unwrap().into_iter().collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn splits_like_ansible() {
        let cases: &[(&str, &[&str])] = &[
            ("a=b c=d", &["a=b", "c=d"]),
            ("a=\"foo bar\" c=d", &["a=\"foo bar\"", "c=d"]),
            (
                "msg={{ a | default('x y') }} z=1",
                &["msg={{ a | default('x y') }}", "z=1"],
            ),
            ("echo  two", &["echo ", "two"]),
            ("a\nb", &["a\n", "b"]),
            ("x='it''s'", &["x='it''s'"]),
        ];
        for (input, want) in cases {
            assert_eq!(split_args(input).unwrap(), *want, "input {input:?}");
        }
        assert!(split_args("a=\"unterminated").is_err());
        assert!(split_args("{{ a").is_err());
    }

    #[test]
    fn parses_key_values_and_raw_params() {
        assert_eq!(
            kv("path=/x state=directory", false),
            pairs(&[("path", "/x"), ("state", "directory")])
        );
        assert_eq!(
            kv("msg='hello world'", false),
            pairs(&[("msg", "hello world")])
        );
        assert_eq!(
            kv("echo a=b chdir=/tmp", true),
            pairs(&[("chdir", "/tmp"), ("_raw_params", "echo a=b")])
        );
        assert_eq!(kv("echo hi", true), pairs(&[("_raw_params", "echo hi")]));
        assert_eq!(kv("a\\=b", false), pairs(&[("_raw_params", "a=b")]));
        assert_eq!(kv("msg=a\\nb", false), pairs(&[("msg", "a\nb")]));
        assert_eq!(kv("", false), pairs(&[]));
    }
}
