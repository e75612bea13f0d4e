//! Ansible's `!unsafe` (`AnsibleUnsafeText`) carried in `serde_json` data.
//!
//! A `serde_json::Value` has no room for a tag, so a string loaded with `!unsafe` (or found
//! inside a list or mapping tagged `!unsafe`, as Ansible's `wrap_var` marks every string in it)
//! is stored as the one-key object `{"__ansible_unsafe": "<text>"}`: the form Ansible itself
//! writes for unsafe text in JSON (`ansible-inventory --list` prints exactly this). It is
//! produced only by [`crate::Node::to_json`] (and [`wrap_unsafe`]), and read by the templar,
//! which never templates it and turns it back into the plain string before any template sees
//! it or any result leaves the templar: the value prints and compares as its text.
//!
//! Code that reads variables *without* templating them (`Vars::get`, `Vars::map`) sees the
//! marked form; use [`strip_unsafe`] there.

use serde_json::Value;

/// The key of the one-key object holding an unsafe string.
pub const UNSAFE_KEY: &str = "__ansible_unsafe";

/// An unsafe string.
pub fn unsafe_string(text: impl Into<String>) -> Value {
    let mut map = serde_json::Map::with_capacity(1);
    map.insert(UNSAFE_KEY.to_string(), Value::String(text.into()));
    Value::Object(map)
}

/// The text of an unsafe string, when `value` is one.
pub fn as_unsafe(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get(UNSAFE_KEY)?.as_str(),
        _ => None,
    }
}

/// Ansible's `wrap_var`: every string in the tree becomes unsafe (keys stay as they are).
pub fn wrap_unsafe(value: Value) -> Value {
    match value {
        Value::String(s) => unsafe_string(s),
        Value::Array(items) => Value::Array(items.into_iter().map(wrap_unsafe).collect()),
        Value::Object(map) if as_unsafe_map(&map) => Value::Object(map),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, wrap_unsafe(v))).collect())
        }
        other => other,
    }
}

fn as_unsafe_map(map: &serde_json::Map<String, Value>) -> bool {
    map.len() == 1 && map.get(UNSAFE_KEY).is_some_and(Value::is_string)
}

/// Whether any unsafe string is in the tree.
pub fn contains_unsafe(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(contains_unsafe),
        Value::Object(map) => as_unsafe_map(map) || map.values().any(contains_unsafe),
        _ => false,
    }
}

/// The plain data: every unsafe string replaced by its text.
pub fn strip_unsafe(value: Value) -> Value {
    if !contains_unsafe(&value) {
        return value;
    }
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(strip_unsafe).collect()),
        Value::Object(mut map) if as_unsafe_map(&map) => {
            map.remove(UNSAFE_KEY).unwrap_or(Value::Null)
        }
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, strip_unsafe(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wraps_every_string_and_strips_back() {
        let data = json!({"a": ["{{ x }}", 1, {"b": "c"}], "n": null});
        let wrapped = wrap_unsafe(data.clone());
        assert_eq!(
            wrapped,
            json!({"a": [{"__ansible_unsafe": "{{ x }}"}, 1, {"b": {"__ansible_unsafe": "c"}}], "n": null})
        );
        assert!(contains_unsafe(&wrapped));
        assert!(!contains_unsafe(&data));
        assert_eq!(wrap_unsafe(wrapped.clone()), wrapped);
        assert_eq!(strip_unsafe(wrapped), data);
        assert_eq!(as_unsafe(&unsafe_string("t")), Some("t"));
        assert_eq!(as_unsafe(&json!({"__ansible_unsafe": 1})), None);
    }
}
