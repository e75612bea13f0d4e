//! Ansible's value-templating rules that sit around the Jinja engine: `ansible_eval_concat`
//! (turning a rendered string back into data), backslash escaping inside `{{ }}`, trailing
//! newline preservation, and conversions between `serde_json::Value` and minijinja values.

use minijinja::Value as JValue;
use minijinja::value::Serde;
use serde_json::Value;

use crate::pyliteral::literal_eval;

/// Ansible's `ansible_eval_concat` applied to a rendered string: results that start with `{` or
/// `[`, or that are exactly `True`/`False`, go through `ast.literal_eval`; if that fails, or for
/// any other text (numbers included), the string is kept.
pub fn eval_concat(rendered: String) -> Value {
    if (rendered.starts_with('{')
        || rendered.starts_with('[')
        || rendered == "True"
        || rendered == "False")
        && let Some(value) = literal_eval(&rendered)
    {
        return value;
    }
    Value::String(rendered)
}

/// Converts variable data into an engine value.
pub fn to_engine(value: &Value) -> JValue {
    JValue::from(Serde(value))
}

/// Converts an engine value back into data. Engine-only values (functions, undefined) become
/// `null`; maps keep their order.
pub fn from_engine(value: &JValue) -> Result<Value, minijinja::Error> {
    serde_json::to_value(value).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot convert value to data: {e}"),
        )
    })
}

/// Number of `\n` characters at the end of `text` (Ansible's `_count_newlines_from_end`).
pub fn count_trailing_newlines(text: &str) -> usize {
    text.bytes().rev().take_while(|b| *b == b'\n').count()
}

/// Ansible's `_escape_backslashes`: doubles backslashes inside string literals of `{{ }}`
/// expressions, so `regex_replace('(\d+)', '\1')` written once in YAML reaches Jinja as intended.
/// Text outside `{{ }}` and `{% %}` blocks is left alone.
pub fn escape_backslashes(data: &str) -> String {
    if !data.contains('\\') || !data.contains("{{") {
        return data.to_string();
    }
    let bytes = data.as_bytes();
    let mut out = String::with_capacity(data.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if data[i..].starts_with("{#") {
            let end = data[i + 2..]
                .find("#}")
                .map_or(data.len(), |p| i + 2 + p + 2);
            out.push_str(&data[i..end]);
            i = end;
        } else if data[i..].starts_with("{%") {
            let end = skip_block(data, i + 2, "%}");
            out.push_str(&data[i..end]);
            i = end;
        } else if data[i..].starts_with("{{") {
            out.push_str("{{");
            i += 2;
            while i < bytes.len() && !data[i..].starts_with("}}") {
                let c = bytes[i];
                if c == b'\'' || c == b'"' {
                    match string_end(data, i) {
                        Some(end) => {
                            out.push_str(&data[i..end].replace('\\', "\\\\"));
                            i = end;
                        }
                        None => {
                            out.push_str(&data[i..]);
                            return out;
                        }
                    }
                } else {
                    let ch_len = data[i..].chars().next().map_or(1, char::len_utf8);
                    out.push_str(&data[i..i + ch_len]);
                    i += ch_len;
                }
            }
        } else {
            let ch_len = data[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&data[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

/// End (exclusive) of the string literal starting at `start` (a quote), Jinja's lexer rules.
/// Always a char boundary: the closing quote is ASCII and escapes skip whole characters.
fn string_end(data: &str, start: usize) -> Option<usize> {
    let bytes = data.as_bytes();
    let quote = bytes[start];
    let mut chars = data[start + 1..].char_indices();
    while let Some((offset, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c as u32 == u32::from(quote) {
            return Some(start + 1 + offset + 1);
        }
    }
    None
}

/// End of a `{% %}` block starting after its opener, skipping string literals.
fn skip_block(data: &str, mut i: usize, close: &str) -> usize {
    while i < data.len() {
        let rest = &data[i..];
        if rest.starts_with(close) {
            return i + close.len();
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '\'' || c == '"' {
            match string_end(data, i) {
                Some(end) => i = end,
                None => return data.len(),
            }
        } else {
            i += c.len_utf8();
        }
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eval_concat_follows_ansible() {
        assert_eq!(eval_concat("5".into()), json!("5"));
        assert_eq!(eval_concat("[1, 'a']".into()), json!([1, "a"]));
        assert_eq!(eval_concat("{'a': 1}".into()), json!({"a": 1}));
        assert_eq!(eval_concat("True".into()), json!(true));
        assert_eq!(eval_concat("None".into()), json!("None"));
        assert_eq!(eval_concat(" [1]".into()), json!(" [1]"));
        assert_eq!(eval_concat("[1, 2".into()), json!("[1, 2"));
        assert_eq!(eval_concat("{x".into()), json!("{x"));
    }

    #[test]
    fn escapes_backslashes_only_in_expression_strings() {
        assert_eq!(
            escape_backslashes(r"a\1 {{ x | regex_replace('(\d)', '\1') }} \n"),
            r"a\1 {{ x | regex_replace('(\\d)', '\\1') }} \n"
        );
        assert_eq!(
            escape_backslashes(r"{% set a = '\n' %}"),
            r"{% set a = '\n' %}"
        );
        assert_eq!(escape_backslashes(r#"{{ "it\"s" }}"#), r#"{{ "it\\"s" }}"#);
        assert_eq!(escape_backslashes("{{ 'é\\d' }}"), "{{ 'é\\\\d' }}");
        // a backslash before a multi-byte character, and unterminated literals
        assert_eq!(escape_backslashes("{{ '\\é' }}"), "{{ '\\\\é' }}");
        assert_eq!(
            escape_backslashes("{% '\\é %}{{ \"\\é"),
            "{% '\\é %}{{ \"\\é"
        );
    }

    #[test]
    fn counts_trailing_newlines() {
        assert_eq!(count_trailing_newlines("a\n\n"), 2);
        assert_eq!(count_trailing_newlines("a"), 0);
    }
}
