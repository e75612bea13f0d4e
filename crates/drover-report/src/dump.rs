//! What Ansible's default callback does to a result before printing it after `=>`
//! (`CallbackBase._dump_results`, `_run_is_verbose`, `_handle_warnings`, `_handle_exception`).

use serde_json::{Map, Value};

use drover_python::json::{DumpOptions, dumps};

/// Whether the result is printed after `=>` for an ok/changed/skipped line: `-v` or more, or
/// the result asks for it (`_ansible_verbose_always`, as `debug` does), unless it opts out
/// (`_ansible_verbose_override`).
pub fn run_is_verbose(result: &Value, verbosity: u8) -> bool {
    let always = result.get("_ansible_verbose_always") == Some(&Value::Bool(true));
    let override_ = result.get("_ansible_verbose_override") == Some(&Value::Bool(true));
    (verbosity > 0 || always) && !override_
}

/// The result as Ansible prints it after `=>`: `failed` and `skipped` removed (Ansible hands
/// callbacks a `clean_copy` without them, so the register form may be passed here), internal `_ansible_*` keys removed at every
/// depth, `invocation` and `diff` removed below `-vvv`, `exception` always removed; keys sorted;
/// indented by 4 at `-vvv` or when the result is `_ansible_verbose_always`.
pub fn dump_result(result: &Value, verbosity: u8) -> String {
    let indent = if result.get("_ansible_verbose_always").is_some_and(truthy) || verbosity > 2 {
        Some(4)
    } else {
        None
    };
    let mut abridged = strip_internal_keys(result);
    if let Value::Object(map) = &mut abridged {
        // `TaskResult.clean_copy`: the status is in the line already.
        map.shift_remove("failed");
        map.shift_remove("skipped");
        if verbosity < 3 {
            map.shift_remove("invocation");
            map.shift_remove("diff");
        }
        map.shift_remove("exception");
    }
    dumps(&abridged, &DumpOptions::ansible(indent))
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A copy without `_ansible_*` keys, recursively (`ansible.vars.clean.strip_internal_keys`).
pub fn strip_internal_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with("_ansible_"))
                .map(|(k, v)| (k.clone(), strip_internal_keys(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_internal_keys).collect()),
        other => other.clone(),
    }
}

/// Removes and returns the result's `warnings` (non-empty list), as `_handle_warnings` does.
pub fn take_warnings(result: &mut Value) -> Vec<String> {
    let Value::Object(map) = result else {
        return Vec::new();
    };
    match map.get("warnings") {
        Some(Value::Array(items)) if !items.is_empty() => {}
        _ => return Vec::new(),
    }
    match map.shift_remove("warnings") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|w| match w {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The line Ansible prints for a result carrying a Python `exception` (below `-vvv`: its last
/// line; at `-vvv`: the whole traceback, which is then removed from the result).
pub fn exception_message(result: &mut Value, verbosity: u8) -> Option<String> {
    let text = match result.get("exception")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if verbosity < 3 {
        let last = text.trim().rsplit('\n').next().unwrap_or_default();
        Some(format!(
            "An exception occurred during task execution. To see the full traceback, use -vvv. The error was: {last}"
        ))
    } else {
        if let Value::Object(map) = result {
            map.shift_remove("exception");
        }
        Some(format!("The full traceback is:\n{text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_internal_invocation_diff_exception() {
        let r = json!({"msg": "x", "_ansible_no_log": false, "invocation": {"module_args": {}},
                       "diff": {"before": "a"}, "exception": "Traceback",
                       "nested": [{"_ansible_item_label": "i", "k": 1}], "changed": true});
        assert_eq!(
            dump_result(&r, 1),
            r#"{"changed": true, "msg": "x", "nested": [{"k": 1}]}"#
        );
        let failed = json!({"failed": true, "skipped": false, "msg": "m", "changed": false});
        assert_eq!(dump_result(&failed, 0), r#"{"changed": false, "msg": "m"}"#);
        let vvv = dump_result(&r, 3);
        assert!(vvv.contains("\"invocation\": {"), "{vvv}");
        assert!(vvv.contains("\"diff\": {"), "{vvv}");
        assert!(!vvv.contains("exception"), "{vvv}");
    }

    #[test]
    fn verbose_always_indents_and_override_hides() {
        let r = json!({"msg": "hi", "_ansible_verbose_always": true});
        assert!(run_is_verbose(&r, 0));
        assert_eq!(dump_result(&r, 0), "{\n    \"msg\": \"hi\"\n}");
        let quiet = json!({"_ansible_verbose_override": true});
        assert!(!run_is_verbose(&quiet, 2));
        assert!(run_is_verbose(&json!({}), 1));
        assert!(!run_is_verbose(&json!({}), 0));
    }

    #[test]
    fn warnings_are_taken_out() {
        let mut r = json!({"warnings": ["careful", "twice"], "changed": false});
        assert_eq!(take_warnings(&mut r), vec!["careful", "twice"]);
        assert_eq!(r, json!({"changed": false}));
        let mut empty = json!({"warnings": []});
        assert!(take_warnings(&mut empty).is_empty());
        assert_eq!(empty, json!({"warnings": []}));
    }

    #[test]
    fn exception_last_line_below_vvv() {
        let mut r = json!({"exception": "Traceback:\n  File x\nValueError: bad\n"});
        assert_eq!(
            exception_message(&mut r, 0).unwrap(),
            "An exception occurred during task execution. To see the full traceback, use -vvv. The error was: ValueError: bad"
        );
        assert!(r.get("exception").is_some());
        let full = exception_message(&mut r, 3).unwrap();
        assert!(full.starts_with("The full traceback is:\nTraceback:"));
        assert!(r.get("exception").is_none());
    }
}
