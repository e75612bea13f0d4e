//! The Python functions Ansible's INI inventory parser leans on, as drover-inventory's public
//! API: `ast.literal_eval` of values (as `ansible-inventory` prints them) and
//! `shlex.split(line, comments=True)` of host lines. The implementations live in drover-python.

use drover_python::JsonView;
use serde_json::Value;

/// `ast.literal_eval(text)` as `json.dumps` then prints the value (tuples and sets as lists,
/// bytes as text, keys as json.dumps writes them). `None` when Python would raise or the value
/// has no JSON form.
pub fn literal_eval(text: &str) -> Option<Value> {
    drover_python::literal_eval(text)?.to_json(JsonView::Dumps)
}

/// Ansible's INI `_parse_value`: the literal when `text` is a Python literal, else the text.
pub(crate) fn ini_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// `shlex.split(line, comments=True)` (POSIX mode), as Ansible's INI parser splits host lines.
/// Errors carry Python's messages.
pub fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    drover_python::shlex_split(line, true).map_err(|e| e.to_string())
}
