//! `when:` conditions, evaluated as ansible-core 2.18 does (`playbook/conditional.py`).
//!
//! - A list holds when every item holds; `null`/`""` items are true; YAML booleans are taken as they
//!   are.
//! - A string containing `{{ }}`/`{% %}` is first templated as a value, with Ansible's warning; a
//!   boolean result is the answer, an empty string is false, anything else is then evaluated as an
//!   expression.
//! - The expression's truth is Jinja's truthiness of its value, so a bare variable holding the
//!   string `"off"` is **true** (non-empty string) and one holding `""` is false; Ansible 2.18 prints
//!   a deprecation warning for non-boolean results, and so do we.

use std::sync::Arc;

use drover_diag::{Diagnostic, Span};
use minijinja::value::ValueKind;
use serde_json::Value;

use crate::Outcome;
use crate::context::{Layers, LazyVars, Shared};
use crate::error::{describe, inline_error};
use crate::filters::to_text;
use crate::is_template;

/// One item of a `when:` list.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// A YAML boolean (`when: false`).
    Bool(bool),
    /// An expression (`when: pg_role == 'primary'`). An empty string is true, as in Ansible.
    Expr(String),
}

impl Condition {
    /// Reads a `when:` value as written in YAML: a string, a boolean, a number, `null` or a list of
    /// those. Anything else is an error message.
    pub fn from_json(value: &Value) -> Result<Vec<Condition>, String> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(Condition::from_json(item)?);
                }
                Ok(out)
            }
            Value::Bool(b) => Ok(vec![Condition::Bool(*b)]),
            Value::Null => Ok(vec![Condition::Expr(String::new())]),
            Value::String(s) => Ok(vec![Condition::Expr(s.clone())]),
            Value::Number(n) => Ok(vec![Condition::Expr(n.to_string())]),
            Value::Object(_) => Err(
                "a `when:` condition must be a string, a boolean or a list of them, not a mapping"
                    .into(),
            ),
        }
    }
}

pub fn evaluate(
    root: &Arc<LazyVars>,
    conditions: &[Condition],
    span: Option<&Span>,
    shared: &Arc<Shared>,
    vars: &Layers,
) -> Result<Outcome<bool>, Diagnostic> {
    for condition in conditions {
        let holds = match condition {
            Condition::Bool(b) => *b,
            Condition::Expr(e) if e.is_empty() => true,
            Condition::Expr(e) => check(root, e, span, shared, vars)?,
        };
        if !holds {
            return Ok(Outcome {
                value: false,
                warnings: shared.take_warnings(),
            });
        }
    }
    Ok(Outcome {
        value: true,
        warnings: shared.take_warnings(),
    })
}

fn check(
    root: &Arc<LazyVars>,
    original: &str,
    span: Option<&Span>,
    shared: &Arc<Shared>,
    vars: &Layers,
) -> Result<bool, Diagnostic> {
    let fail = |mut d: Diagnostic| {
        d.message = format!("conditional check `{original}` failed: {}", d.message);
        match span {
            Some(s) => d.or_span(s),
            None => d,
        }
    };
    let mut conditional = original.to_string();
    if is_template(original) {
        let mut warning = Diagnostic::warning(format!(
            "conditional statements should not include jinja2 templating delimiters such as {{{{ }}}} or {{% %}}. Found: {original}"
        ));
        if let Some(s) = span {
            warning = warning.with_span(s.clone());
        }
        shared.warn(warning);
        let templated = root
            .template_value(&Value::String(original.to_string()))
            .map_err(|f| fail(inline_error(&f.error, &f.text, span, shared, vars)))?;
        match templated {
            Value::Bool(b) => return Ok(b),
            Value::String(s) if s.is_empty() => return Ok(false),
            Value::String(s) => conditional = s,
            other => conditional = to_text(&crate::value::to_engine(&other)),
        }
    }
    match root.eval_expression(&conditional) {
        Ok(value) if !value.is_undefined() => {
            let result = value.is_true();
            if value.kind() != ValueKind::Bool {
                let mut warning = Diagnostic::warning(format!(
                    "conditional result of `{original}` was of type '{}', not a boolean; it was interpreted as {}. Ansible 2.19 refuses this",
                    python_type(&value),
                    if result { "True" } else { "False" }
                ));
                if let Some(s) = span {
                    warning = warning.with_span(s.clone());
                }
                shared.warn(warning);
            }
            Ok(result)
        }
        _ => {
            // Re-run as Ansible's wrapper template to get a precise error (and its location).
            let text = format!("{{% if {conditional} %}}True{{% else %}}False{{% endif %}}");
            match root.render_text("<when>", &text) {
                Err(error) => Err(fail(inline_error(&error, &text, span, shared, vars))),
                Ok(_) => {
                    let message = format!("`{}` is undefined", conditional.trim());
                    let _ = describe;
                    Err(fail(Diagnostic::error(message).with_help(
                        "define the variable or guard it with `is defined`",
                    )))
                }
            }
        }
    }
}

fn python_type(value: &minijinja::Value) -> &'static str {
    match value.kind() {
        ValueKind::String => "str",
        ValueKind::Number => {
            if value.is_integer() {
                "int"
            } else {
                "float"
            }
        }
        ValueKind::Map => "dict",
        ValueKind::Seq => "list",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::Condition;
    use crate::{Templar, Vars};
    use serde_json::{Value, json};

    fn when(conds: Value, vars: Value) -> Result<bool, String> {
        let t = Templar::default();
        let Value::Object(map) = vars else {
            panic!("vars")
        };
        let conditions = Condition::from_json(&conds)?;
        t.evaluate_when(&conditions, &Vars::new(map), None)
            .map(|o| o.value)
            .map_err(|d| d.to_string())
    }

    #[test]
    fn strings_and_booleans() {
        assert_eq!(when(json!("a == 1"), json!({"a": 1})), Ok(true));
        assert_eq!(when(json!(false), json!({})), Ok(false));
        assert_eq!(
            when(json!(["a == 1", "b"]), json!({"a": 1, "b": false})),
            Ok(false)
        );
        assert_eq!(when(json!(null), json!({})), Ok(true));
    }

    #[test]
    fn bare_strings_use_jinja_truthiness_like_ansible_218() {
        // Ansible 2.18: `when: s` with s = "off" is true (non-empty string), with a deprecation.
        assert_eq!(when(json!("s"), json!({"s": "off"})), Ok(true));
        assert_eq!(when(json!("s"), json!({"s": "no"})), Ok(true));
        assert_eq!(when(json!("s"), json!({"s": ""})), Ok(false));
        assert_eq!(when(json!("t"), json!({"t": "{{ false }}"})), Ok(false));
    }

    #[test]
    fn templated_condition_warns_and_evaluates() {
        let t = Templar::default();
        let Value::Object(map) = json!({"x": "a == 1", "a": 1}) else {
            panic!()
        };
        let out = t
            .evaluate_when(&[Condition::Expr("{{ x }}".into())], &Vars::new(map), None)
            .unwrap();
        assert!(out.value);
        assert!(
            out.warnings[0]
                .message
                .contains("should not include jinja2")
        );
    }

    #[test]
    fn undefined_names_the_variable() {
        let err = when(json!("pg_role == 'primary'"), json!({})).unwrap_err();
        assert!(err.contains("`pg_role` is undefined"), "{err}");
        let err = when(json!("pg_role"), json!({})).unwrap_err();
        assert!(err.contains("`pg_role` is undefined"), "{err}");
    }
}
