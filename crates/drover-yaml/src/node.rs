//! The loaded YAML tree: every node keeps the span it came from.

use drover_diag::Span;
use serde_json::Value;

/// A YAML node with its location.
#[derive(Clone, Debug)]
pub struct Node {
    /// Where the node is in its file (the whole node, from its first to its last character).
    pub span: Span,
    /// The constructed value, as PyYAML's SafeLoader would build it.
    pub value: NodeValue,
    /// A local tag such as `!unsafe`, kept for consumers (core `!!` tags are already applied).
    pub tag: Option<String>,
}

/// A constructed YAML value.
#[derive(Clone, Debug)]
pub enum NodeValue {
    /// `~`, `null`, `Null`, `NULL` or nothing.
    Null,
    /// YAML 1.1 booleans: `yes/no/on/off/true/false` in lower, title or upper case.
    Bool(bool),
    /// Integers, including `0755` (octal), `0x1f`, `0b101`, `1_000` and `1:30` (sexagesimal).
    /// Python's are unbounded; drover carries 128 bits (beyond 64 as a marked number, see
    /// [`drover_python::number`]).
    Int(i128),
    /// Floats; PyYAML needs a dot (`1e3` is a string) and a signed exponent.
    Float(f64),
    /// Strings (and timestamps, kept as their ISO form as Ansible's JSON output does).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, merge keys applied, duplicate keys resolved (last wins).
    Map(Mapping),
}

/// An ordered mapping with unique keys.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    /// Key/value pairs in order of first appearance.
    pub entries: Vec<(Node, Node)>,
}

impl Mapping {
    /// The value for a string key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(&k.value, NodeValue::Str(s) if s == key))
            .map(|(_, v)| v)
    }

    /// The key node and value for a string key.
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(&k.value, NodeValue::Str(s) if s == key))
            .map(|(k, v)| (k, v))
    }

    /// Iterates over the entries.
    pub fn iter(&self) -> impl Iterator<Item = &(Node, Node)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Node {
    /// The string, if this is a string node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is a mapping node.
    pub fn as_map(&self) -> Option<&Mapping> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence node.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is a boolean node.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            NodeValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// True for a null node.
    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// The value for `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// True when the node carries Ansible's `!unsafe` tag (its text is never templated).
    pub fn is_unsafe(&self) -> bool {
        self.tag.as_deref() == Some("!unsafe")
    }

    /// What kind of value this is, in the words Ansible users see ("a mapping", "a string").
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a float",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// The value as JSON (what `ansible-inventory --list` would print for it).
    ///
    /// Mapping keys become strings the way Python's `json.dumps` converts them (`1` → `"1"`,
    /// `True` → `"true"`, `None` → `"null"`). Infinite and NaN floats and integers beyond 64
    /// bits, which JSON cannot hold, become marked numbers ([`drover_python::number`]). Strings of an `!unsafe` node (all those
    /// inside it, for a list or mapping) become `{"__ansible_unsafe": text}`, as Ansible writes
    /// them in JSON: see [`crate::unsafe_text`].
    pub fn to_json(&self) -> Value {
        if self.is_unsafe() {
            return crate::unsafe_text::wrap_unsafe(self.to_plain_json());
        }
        self.to_plain_json()
    }

    fn to_plain_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => drover_python::number::int_value(*i),
            NodeValue::Float(f) => float_to_json(*f),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map.iter() {
                    out.insert(k.key_string(), v.to_json());
                }
                Value::Object(out)
            }
        }
    }

    /// The key as Python's `json.dumps` would write it.
    pub fn key_string(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Null => "null".to_string(),
            NodeValue::Bool(true) => "true".to_string(),
            NodeValue::Bool(false) => "false".to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => python_float_repr(*f),
            // Unhashable keys are rejected while loading; keep a readable fallback anyway.
            NodeValue::Seq(_) | NodeValue::Map(_) => self.to_json().to_string(),
        }
    }
}

fn float_to_json(f: f64) -> Value {
    drover_python::number::float_value(f)
}

/// Python's `repr(float)`: `1.0`, `0.5`, `1e+20`, `inf`, `nan` (the one implementation lives in
/// drover-python).
pub use drover_python::float_repr as python_float_repr;

#[cfg(test)]
mod tests {
    use super::python_float_repr;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(python_float_repr(1.0), "1.0");
        assert_eq!(python_float_repr(0.5), "0.5");
        assert_eq!(python_float_repr(1e20), "1e+20");
        assert_eq!(python_float_repr(1.5e-5), "1.5e-05");
        assert_eq!(python_float_repr(f64::INFINITY), "inf");
    }
}
