//! JSON text exactly as Python's `json.dumps` writes it, which is what Ansible prints (after
//! `=>`, in `ansible-inventory --list`, from the `to_json`/`to_nice_json` filters).
//!
//! Differences from `serde_json`: optional key sorting, `", "` / `": "` separators, newline +
//! indent per element when indented, Python's float `repr` (`1e-05`, `1e+16`, `1.0`), and
//! `\uXXXX` escapes of every non-ASCII character unless `ensure_ascii` is off.

use serde_json::{Number, Value};

use crate::float_repr;

/// The keyword arguments of `json.dumps` that change its text. `Default` is Python's default
/// (`indent=None, sort_keys=False, separators=None, ensure_ascii=True`).
#[derive(Clone, Copy, Debug)]
pub struct DumpOptions<'a> {
    /// `indent`: `None` for one line, `Some(n)` for a newline and `n` spaces per level.
    pub indent: Option<usize>,
    /// `sort_keys`.
    pub sort_keys: bool,
    /// `separators` as `(item_separator, key_separator)`; `None` is `(", ", ": ")`, or
    /// `(",", ": ")` when indented.
    pub separators: Option<(&'a str, &'a str)>,
    /// `ensure_ascii`.
    pub ensure_ascii: bool,
}

impl Default for DumpOptions<'_> {
    fn default() -> Self {
        DumpOptions {
            indent: None,
            sort_keys: false,
            separators: None,
            ensure_ascii: true,
        }
    }
}

impl DumpOptions<'_> {
    /// `sort_keys=True, ensure_ascii=False` with the given `indent`: how Ansible prints results
    /// and inventories.
    pub fn ansible(indent: Option<usize>) -> Self {
        DumpOptions {
            indent,
            sort_keys: true,
            separators: None,
            ensure_ascii: false,
        }
    }
}

/// Python's `json.dumps(value, **options)`.
pub fn dumps(value: &Value, options: &DumpOptions<'_>) -> String {
    let (item_sep, key_sep) = options.separators.unwrap_or(if options.indent.is_some() {
        (",", ": ")
    } else {
        (", ", ": ")
    });
    let writer = Writer {
        indent: options.indent,
        sort_keys: options.sort_keys,
        item_sep,
        key_sep,
        ascii: options.ensure_ascii,
    };
    let mut out = String::new();
    writer.value(&mut out, value, 0);
    out
}

/// A JSON number as Python writes it: integers as they are, floats by [`float_repr`] (with
/// JSON's `NaN`/`Infinity` spellings for non-finite values).
pub fn number(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => float(f),
        _ => n.to_string(),
    }
}

fn float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(f)
    }
}

struct Writer<'a> {
    indent: Option<usize>,
    sort_keys: bool,
    item_sep: &'a str,
    key_sep: &'a str,
    ascii: bool,
}

impl Writer<'_> {
    fn value(&self, out: &mut String, value: &Value, level: usize) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&number(n)),
            Value::String(s) => write_string(out, s, self.ascii),
            Value::Array(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.before_element(out, i, level + 1);
                    self.value(out, item, level + 1);
                }
                self.newline(out, level);
                out.push(']');
            }
            Value::Object(map) => {
                if let Some(repr) = crate::number::as_number_marker(value) {
                    out.push_str(crate::number::json_text(repr));
                    return;
                }
                if map.is_empty() {
                    out.push_str("{}");
                    return;
                }
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    self.before_element(out, i, level + 1);
                    write_string(out, key, self.ascii);
                    out.push_str(self.key_sep);
                    self.value(out, item, level + 1);
                }
                self.newline(out, level);
                out.push('}');
            }
        }
    }

    /// What goes before the `index`-th element of a container at `level`.
    fn before_element(&self, out: &mut String, index: usize, level: usize) {
        if index > 0 {
            out.push_str(self.item_sep);
        }
        self.newline(out, level);
    }

    fn newline(&self, out: &mut String, level: usize) {
        if let Some(width) = self.indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * level));
        }
    }
}

/// A JSON string as Python writes it; with `ascii`, every character outside printable ASCII is
/// a `\uXXXX` escape (surrogate pairs beyond the BMP).
pub fn write_string(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && !(' '..='~').contains(&c) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ansible(value: &Value, indent: Option<usize>) -> String {
        dumps(value, &DumpOptions::ansible(indent))
    }

    #[test]
    fn one_line_sorted_with_python_separators() {
        let v = json!({"msg": "boom", "changed": false, "list": [1, "a"], "empty": {}, "e2": []});
        assert_eq!(
            ansible(&v, None),
            r#"{"changed": false, "e2": [], "empty": {}, "list": [1, "a"], "msg": "boom"}"#
        );
    }

    #[test]
    fn indented_like_python() {
        let v = json!({"b": [1, 2], "a": {"x": null}, "c": []});
        assert_eq!(
            ansible(&v, Some(4)),
            "{\n    \"a\": {\n        \"x\": null\n    },\n    \"b\": [\n        1,\n        2\n    ],\n    \"c\": []\n}"
        );
        let v = json!({"b": [1, 2.5, 1e20], "a": {}, "c": "x\"\u{1}é", "d": []});
        assert_eq!(
            ansible(&v, Some(4)),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2.5,\n        1e+20\n    ],\n    \"c\": \"x\\\"\\u0001é\",\n    \"d\": []\n}"
        );
    }

    #[test]
    fn strings_escape_like_ensure_ascii_false() {
        let v = json!("q\"b\\n\n\t\u{1}\u{7f}ü✓");
        assert_eq!(ansible(&v, None), "\"q\\\"b\\\\n\\n\\t\\u0001\u{7f}ü✓\"");
    }

    #[test]
    fn all_keyword_arguments_like_python() {
        let v = json!({"b": [1, 2.5, "é"], "a": {"x": null, "y": true}});
        assert_eq!(
            dumps(&v, &DumpOptions::default()),
            r#"{"b": [1, 2.5, "\u00e9"], "a": {"x": null, "y": true}}"#
        );
        let opts = DumpOptions {
            indent: Some(4),
            sort_keys: true,
            separators: Some((",", ": ")),
            ensure_ascii: true,
        };
        assert_eq!(
            dumps(&v, &opts),
            "{\n    \"a\": {\n        \"x\": null,\n        \"y\": true\n    },\n    \"b\": [\n        1,\n        2.5,\n        \"\\u00e9\"\n    ]\n}"
        );
        let compact = DumpOptions {
            separators: Some((",", ":")),
            ..DumpOptions::default()
        };
        assert_eq!(
            dumps(&json!({"a": [1, "𝄞"]}), &compact),
            r#"{"a":[1,"\ud834\udd1e"]}"#
        );
        let indented = DumpOptions {
            indent: Some(4),
            sort_keys: true,
            ..DumpOptions::default()
        };
        assert_eq!(dumps(&json!({"a": []}), &indented), "{\n    \"a\": []\n}");
    }

    #[test]
    fn numbers_like_python() {
        assert_eq!(
            ansible(&json!([1, -2, 1.0, 1e-5, u64::MAX]), None),
            "[1, -2, 1.0, 1e-05, 18446744073709551615]"
        );
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::NEG_INFINITY), "-Infinity");
    }
}
