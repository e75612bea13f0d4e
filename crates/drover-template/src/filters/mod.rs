//! Ansible's filters, grouped by theme. minijinja's built-ins stay where their semantics already
//! match Jinja2's (`map`, `select`, `join`, `sort`, ...); the rest are registered here.

mod core;
mod data;
mod lists;
mod network;
mod path;
mod query;
mod text;

pub use text::compile_regex;

use minijinja::Environment;
use minijinja::value::Value;

/// Every filter registered by this module.
pub const NAMES: &[&str] = &[
    "default",
    "d",
    "bool",
    "int",
    "float",
    "string",
    "round",
    "ternary",
    "mandatory",
    "to_json",
    "to_nice_json",
    "to_yaml",
    "to_nice_yaml",
    "from_json",
    "from_yaml",
    "combine",
    "dict2items",
    "items2dict",
    "unique",
    "union",
    "difference",
    "intersect",
    "symmetric_difference",
    "flatten",
    "extract",
    "regex_replace",
    "regex_search",
    "regex_findall",
    "regex_escape",
    "b64encode",
    "b64decode",
    "hash",
    "md5",
    "sha1",
    "checksum",
    "quote",
    "urlencode",
    "indent",
    "wordcount",
    "tojson",
    "safe",
    "escape",
    "e",
    "basename",
    "dirname",
    "realpath",
    "expanduser",
    "path_join",
    "splitext",
    "ipaddr",
    "ipv4",
    "json_query",
];

/// Registers every filter of this module on `env`.
pub fn register(env: &mut Environment<'static>) {
    core::register(env);
    data::register(env);
    lists::register(env);
    text::register(env);
    path::register(env);
    network::register(env);
    query::register(env);
}

/// Python's `str()` of a value (`to_text` in Ansible): strings as they are, the rest rendered
/// Python-style (`True`, `None`, `[1, 'a']`).
pub fn to_text(value: &Value) -> String {
    crate::value::python_str(value)
}

#[cfg(test)]
pub(crate) mod testutil {
    use serde_json::Value;

    /// Renders `expr` (an expression) with `vars` through a fresh templar and returns the result
    /// converted like an Ansible variable value.
    pub fn eval(expr: &str, vars: Value) -> Result<Value, String> {
        let templar = crate::Templar::new(crate::TemplarOptions::default());
        let map = match vars {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let vars = crate::Vars::new(map);
        templar
            .template_value(&Value::String(format!("{{{{ {expr} }}}}")), &vars, None)
            .map(|o| o.value)
            .map_err(|d| d.to_string())
    }

    /// Renders `text` as a template file and returns the text.
    pub fn render(text: &str, vars: Value) -> Result<String, String> {
        let templar = crate::Templar::new(crate::TemplarOptions::default());
        let map = match vars {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        templar
            .render_template_file("t.j2", text, &crate::Vars::new(map))
            .map(|o| o.value)
            .map_err(|d| d.to_string())
    }
}
