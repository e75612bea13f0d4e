//! Ansible's value-templating rules that sit around the Jinja engine: `ansible_eval_concat`
//! (turning a rendered string back into data), backslash escaping inside `{{ }}`, trailing
//! newline preservation, and conversions between `serde_json::Value` and minijinja values.

use minijinja::Value as JValue;
use minijinja::value::Serde;
use serde_json::Value;

use drover_python::{Dialect, JsonView, literal_eval_with};
use drover_yaml::unsafe_text::{contains_unsafe, strip_unsafe};

/// Ansible's `ansible_eval_concat` applied to a rendered string: results that start with `{` or
/// `[`, or that are exactly `True`/`False`, go through `ast.literal_eval`; if that fails, or for
/// any other text (numbers included), the string is kept.
pub fn eval_concat(rendered: String) -> Value {
    if (rendered.starts_with('{')
        || rendered.starts_with('[')
        || rendered == "True"
        || rendered == "False")
        && let Some(value) = literal_eval_with(&rendered, Dialect::AnsibleTemplate)
            .and_then(|literal| literal.to_json(JsonView::Data))
    {
        return value;
    }
    Value::String(rendered)
}

/// Converts variable data into an engine value. Unsafe strings (`{"__ansible_unsafe": text}`,
/// see [`drover_yaml::unsafe_text`]) become their plain text: templates see the string itself.
pub fn to_engine(value: &Value) -> JValue {
    if contains_unsafe(value) {
        return JValue::from(Serde(&strip_unsafe(value.clone())));
    }
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

/// Python's `str(value)`: strings as they are, everything else as Python's `repr` would show it
/// (`True`, `None`, `1e+20`, `[1, 'a']`, `('k', 1)`), which is also how Jinja2 renders values.
pub fn python_str(value: &JValue) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => python_repr(value, 0),
    }
}

/// Python's `repr` of an engine value. minijinja already renders strings, lists and dicts like
/// Python; floats differ (`1e20` vs `1e+20`), so containers holding floats are rendered here.
fn python_repr(value: &JValue, depth: usize) -> String {
    use minijinja::value::ValueKind;
    if depth > 200 || !contains_float(value, 0) {
        return value.to_string();
    }
    match value.kind() {
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) => drover_python::float_repr(f),
            Err(_) => value.to_string(),
        },
        ValueKind::Seq => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| python_item_repr(&v, depth)).collect())
                .unwrap_or_default();
            if value.is_tuple() {
                if items.len() == 1 {
                    format!("({},)", items[0])
                } else {
                    format!("({})", items.join(", "))
                }
            } else {
                format!("[{}]", items.join(", "))
            }
        }
        ValueKind::Map => {
            let mut parts = Vec::new();
            if let Ok(keys) = value.try_iter() {
                for key in keys {
                    let item = value.get_item(&key).unwrap_or_default();
                    parts.push(format!(
                        "{}: {}",
                        python_item_repr(&key, depth),
                        python_item_repr(&item, depth)
                    ));
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        _ => value.to_string(),
    }
}

/// `repr` of an item inside a container (strings quoted the way minijinja/Python quote them).
fn python_item_repr(value: &JValue, depth: usize) -> String {
    if value.as_str().is_some() {
        let wrapped = JValue::from(vec![value.clone()]).to_string();
        return wrapped[1..wrapped.len() - 1].to_string();
    }
    python_repr(value, depth + 1)
}

fn contains_float(value: &JValue, depth: usize) -> bool {
    use minijinja::value::ValueKind;
    if depth > 200 {
        return false;
    }
    match value.kind() {
        ValueKind::Number => !value.is_integer(),
        ValueKind::Seq => value
            .try_iter()
            .is_ok_and(|mut it| it.any(|v| contains_float(&v, depth + 1))),
        ValueKind::Map => value.try_iter().is_ok_and(|mut keys| {
            keys.any(|k| {
                contains_float(&k, depth + 1)
                    || contains_float(&value.get_item(&k).unwrap_or_default(), depth + 1)
            })
        }),
        _ => false,
    }
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

/// Most chain operators (`|`, `.`, `[`, `(`) one `{{ }}`/`{% %}` block may hold. minijinja nests
/// its syntax tree one level per filter or attribute, and thousands of levels overflow a thread's
/// stack; real templates stay far below this.
pub const MAX_CHAIN_OPERATORS: usize = 400;

/// Refuses templates whose expressions are chained deeply enough to exhaust the stack.
pub fn check_complexity(source: &str) -> Result<(), minijinja::Error> {
    let mut i = 0;
    while let Some(open) = source[i..].find(['{']).map(|p| p + i) {
        let rest = &source[open..];
        let close = if rest.starts_with("{{") {
            "}}"
        } else if rest.starts_with("{%") {
            "%}"
        } else {
            i = open + 1;
            continue;
        };
        let mut j = open + 2;
        let mut operators = 0usize;
        while j < source.len() {
            let tail = &source[j..];
            if tail.starts_with(close) {
                j += 2;
                break;
            }
            let c = tail.chars().next().unwrap_or(' ');
            if c == '\'' || c == '"' {
                j = string_end(source, j).unwrap_or(source.len());
                continue;
            }
            if matches!(c, '|' | '.' | '[' | '(') {
                operators += 1;
                if operators > MAX_CHAIN_OPERATORS {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!(
                            "expression too complex: more than {MAX_CHAIN_OPERATORS} filters, attribute or index accesses in one block; split it with `{{% set %}}`"
                        ),
                    ));
                }
            }
            j += c.len_utf8();
        }
        i = j.max(open + 1);
    }
    Ok(())
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
