//! Ansible's `boolean()` (`ansible.module_utils.parsing.convert_bool.boolean`, strict): the one
//! conversion of a keyword, connection variable or module argument to a boolean. (The Jinja
//! `bool` filter is another, lenient function, in drover-template.)

use serde_json::Value;

/// Strings (lower-cased and stripped) that are true.
const TRUE_WORDS: [&str; 6] = ["y", "yes", "on", "1", "true", "t"];
/// Strings (lower-cased and stripped) that are false.
const FALSE_WORDS: [&str; 6] = ["n", "no", "off", "0", "false", "f"];

/// `boolean(value, strict=True)`: `true`/`false`, the words above in any case with surrounding
/// whitespace, and the numbers 1 and 0 (also `1.0`/`0.0`, equal in Python); `None` for
/// anything else (Ansible raises there). `""` and `"1.0"` are not booleans.
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => {
            let f = n.as_f64()?;
            if f == 1.0 {
                Some(true)
            } else if f == 0.0 {
                Some(false)
            } else {
                None
            }
        }
        Value::String(s) => {
            let word = crate::text::strip(s).to_lowercase();
            if TRUE_WORDS.contains(&word.as_str()) {
                Some(true)
            } else if FALSE_WORDS.contains(&word.as_str()) {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::boolean;
    use serde_json::json;

    #[test]
    fn ansibles_sets_exactly() {
        let cases = [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("yes"), Some(true)),
            (json!(" YES "), Some(true)),
            (json!("On"), Some(true)),
            (json!("t"), Some(true)),
            (json!("Y"), Some(true)),
            (json!("1"), Some(true)),
            (json!(1), Some(true)),
            (json!(1.0), Some(true)),
            (json!("off"), Some(false)),
            (json!("F"), Some(false)),
            (json!("0"), Some(false)),
            (json!(0), Some(false)),
            (json!(0.0), Some(false)),
            (json!(""), None),
            (json!("1.0"), None),
            (json!("maybe"), None),
            (json!(2), None),
            (json!(null), None),
            (json!([true]), None),
        ];
        for (value, want) in cases {
            assert_eq!(boolean(&value), want, "{value}");
        }
    }
}
