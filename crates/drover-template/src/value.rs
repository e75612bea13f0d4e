//! Ansible's value-templating rules that sit around the Jinja engine: `ansible_eval_concat`
//! (turning a rendered string back into data), backslash escaping inside `{{ }}`, trailing
//! newline preservation, and conversions between `serde_json::Value` and minijinja values.

use minijinja::Value as JValue;
use minijinja::value::Serde;
use serde_json::Value;

use drover_python::number::{
    Marked as Marked_, as_number_marker, contains_number_marker, float_value, int_value,
    parse_marker,
};
use drover_python::{Dialect, JsonView, literal_eval_with};
use drover_yaml::unsafe_text::contains_unsafe;

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
/// Marked numbers ([`drover_python::number`]) become the engine's float or integer.
pub fn to_engine(value: &Value) -> JValue {
    if contains_unsafe(value) || contains_number_marker(value) {
        return JValue::from(Serde(&Marked(value)));
    }
    JValue::from(Serde(value))
}

/// Data with its marked values (unsafe strings, numbers JSON cannot hold) serialized as what
/// they stand for.
struct Marked<'a>(&'a Value);

impl serde::Serialize for Marked<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        if let Some(text) = drover_yaml::unsafe_text::as_unsafe(self.0) {
            return s.serialize_str(text);
        }
        if let Some(repr) = as_number_marker(self.0) {
            return match parse_marker(repr) {
                Some(Marked_::Float(f)) => s.serialize_f64(f),
                Some(Marked_::Int(i)) => s.serialize_i128(i),
                None => s.serialize_str(repr),
            };
        }
        match self.0 {
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Marked(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &Marked(v))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Converts an engine value back into data. Engine-only values (functions, undefined) become
/// `null`; maps keep their order. Infinite and NaN floats and integers beyond 64 bits become
/// marked numbers ([`drover_python::number`]).
pub fn from_engine(value: &JValue) -> Result<Value, minijinja::Error> {
    if holds_unholdable(value) {
        return marked_data(value);
    }
    plain_data(value)
}

fn plain_data(value: &JValue) -> Result<Value, minijinja::Error> {
    serde_json::to_value(value).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot convert value to data: {e}"),
        )
    })
}

/// A number `serde_json` cannot hold: infinite, NaN, or an integer beyond 64 bits.
fn unholdable_number(value: &JValue) -> bool {
    if !value.is_number() {
        return false;
    }
    if value.is_integer() {
        return i128::try_from(value.clone())
            .is_ok_and(|i| i64::try_from(i).is_err() && u64::try_from(i).is_err());
    }
    f64::try_from(value.clone()).is_ok_and(|f| !f.is_finite())
}

fn holds_unholdable(value: &JValue) -> bool {
    match value.kind() {
        minijinja::value::ValueKind::Number => unholdable_number(value),
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => value
            .try_iter()
            .map(|mut keys| {
                let map = value.kind() == minijinja::value::ValueKind::Map;
                keys.any(|k| {
                    let item = if map {
                        value.get_item(&k).unwrap_or_default()
                    } else {
                        k
                    };
                    holds_unholdable(&item)
                })
            })
            .unwrap_or(false),
        _ => false,
    }
}

fn marked_data(value: &JValue) -> Result<Value, minijinja::Error> {
    match value.kind() {
        minijinja::value::ValueKind::Number if unholdable_number(value) => {
            if value.is_integer() {
                Ok(i128::try_from(value.clone()).map_or(Value::Null, int_value))
            } else {
                Ok(f64::try_from(value.clone()).map_or(Value::Null, float_value))
            }
        }
        minijinja::value::ValueKind::Seq => value
            .try_iter()?
            .map(|item| marked_data(&item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        minijinja::value::ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                let key = key
                    .as_str()
                    .map_or_else(|| key.to_string(), ToString::to_string);
                map.insert(key, marked_data(&item)?);
            }
            Ok(Value::Object(map))
        }
        _ => plain_data(value),
    }
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
