//! Conversion and control filters: `default`/`d`, `bool`, `int`, `float`, `string`, `round`,
//! `ternary`, `mandatory`.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};

use super::to_text;
use crate::environment::op_error;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("bool", to_bool);
    env.add_filter("int", int);
    env.add_filter("float", float);
    env.add_filter("string", string);
    env.add_filter("round", round);
    env.add_filter("ternary", ternary);
    env.add_filter("mandatory", mandatory);
}

/// Jinja2's `default(value, default_value='', boolean=False)`.
fn default(
    value: &Value,
    other: Option<Value>,
    boolean: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let other = match other {
        Some(o) => o,
        None => kwargs
            .get::<Option<Value>>("default_value")?
            .unwrap_or_else(|| Value::from("")),
    };
    let boolean = match boolean {
        Some(b) => Some(b),
        None => kwargs.get::<Option<Value>>("boolean")?,
    };
    kwargs.assert_all_used()?;
    let lax = match boolean {
        Some(lax) => {
            if lax.is_undefined() {
                return Err(Error::new(
                    minijinja::ErrorKind::UndefinedError,
                    "`default` boolean argument is undefined",
                ));
            }
            lax.is_true()
        }
        None => false,
    };
    if value.is_undefined() || (lax && !value.is_true()) {
        Ok(other)
    } else {
        Ok(value.clone())
    }
}

/// Ansible's `bool`: `None` and booleans pass through; `yes`/`on`/`1`/`true` (any case) and the
/// number 1 are true; everything else is false.
fn to_bool(value: &Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            "`bool` got an undefined value",
        ));
    }
    Ok(match value.kind() {
        ValueKind::None | ValueKind::Bool => value.clone(),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default().to_lowercase();
            Value::from(matches!(s.as_str(), "yes" | "on" | "1" | "true"))
        }
        ValueKind::Number => Value::from(value.as_i64() == Some(1) || f64_of(value) == Some(1.0)),
        _ => Value::from(false),
    })
}

fn f64_of(value: &Value) -> Option<f64> {
    f64::try_from(value.clone()).ok()
}

/// Python's `int(str, base)` on a string: surrounding whitespace, a sign, underscores between
/// digits and (for bases 2/8/16) a matching prefix are accepted.
fn python_int(s: &str, base: u32) -> Option<i64> {
    let s = s.trim();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = rest.to_ascii_lowercase();
    let prefix = match base {
        2 => Some("0b"),
        8 => Some("0o"),
        16 => Some("0x"),
        _ => None,
    };
    let mut digits = lower.as_str();
    if let Some(p) = prefix
        && let Some(stripped) = digits.strip_prefix(p)
    {
        digits = stripped.strip_prefix('_').unwrap_or(stripped);
    }
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !(2..=36).contains(&base)
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n = i64::from_str_radix(&clean, base).ok()?;
    Some(if negative { -n } else { n })
}

/// Python's `float(str)`.
pub fn python_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower
            .parse::<f64>()
            .ok()
            .or(Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else if unsigned == "nan" {
                f64::NAN
            } else {
                f64::INFINITY
            }));
    }
    if t.is_empty() || t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    if !clean
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    clean.parse().ok()
}

/// Jinja2's `int(value, default=0, base=10)`: strings parse with Python's `int(s, base)`, then
/// as a float (`"42.23"` → 42); anything unparsable gives the default.
fn int(
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base = match base {
        Some(b) => b,
        None => kwargs.get::<Option<u32>>("base")?.unwrap_or(10),
    };
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            "`int` got an undefined value",
        ));
    }
    match value.kind() {
        ValueKind::Bool => Ok(Value::from(i64::from(value.is_true()))),
        ValueKind::Number => {
            if value.is_integer() {
                return Ok(value.clone());
            }
            match f64_of(value) {
                Some(f) if f.is_finite() => Ok(Value::from(f.trunc() as i64)),
                Some(_) => Err(op_error("cannot convert float infinity or NaN to integer")),
                None => Ok(value.clone()),
            }
        }
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            if let Some(i) = python_int(s, base) {
                return Ok(Value::from(i));
            }
            match python_float(s) {
                Some(f) if f.is_finite() => Ok(Value::from(f.trunc() as i64)),
                Some(_) => Err(op_error("cannot convert float infinity or NaN to integer")),
                None => Ok(default),
            }
        }
        _ => Ok(default),
    }
}

/// Jinja2's `float(value, default=0.0)`.
fn float(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0.0)),
    };
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            "`float` got an undefined value",
        ));
    }
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64_of(value).map(Value::from).unwrap_or(default),
        ValueKind::String => python_float(value.as_str().unwrap_or_default())
            .map(Value::from)
            .unwrap_or(default),
        _ => default,
    })
}

/// Python's `str(value)`.
fn string(value: &Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            "`string` got an undefined value",
        ));
    }
    // a STRING_TYPE_FILTER in Ansible: the result stays a string in value templating
    Ok(Value::from_safe_string(to_text(value)))
}

/// Jinja2's `round(value, precision=0, method='common')`: Python's `round` (half to even on the
/// exact binary value) for `common`, `math.ceil`/`math.floor` scaled for the others. Integers stay
/// integers with `common`, as in Python.
fn round(
    value: &Value,
    precision: Option<i32>,
    method: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let precision = match precision {
        Some(p) => p,
        None => kwargs.get::<Option<i32>>("precision")?.unwrap_or(0),
    };
    let method = match method {
        Some(m) => m.to_string(),
        None => kwargs
            .get::<Option<&str>>("method")?
            .unwrap_or("common")
            .to_string(),
    };
    kwargs.assert_all_used()?;
    if !matches!(method.as_str(), "common" | "ceil" | "floor") {
        return Err(op_error(format!(
            "`round` method must be common, ceil or floor, not `{method}`"
        )));
    }
    if value.kind() != ValueKind::Number && value.kind() != ValueKind::Bool {
        return Err(op_error(format!(
            "`round` needs a number, got {} `{}`",
            value.kind(),
            to_text(value)
        )));
    }
    if precision.abs() > 300 {
        return Err(op_error("`round` precision is out of range"));
    }
    let is_int = value.is_integer() || value.kind() == ValueKind::Bool;
    let f = f64_of(value).unwrap_or(0.0);
    let scale = 10f64.powi(precision);
    match method.as_str() {
        "common" => {
            if is_int && precision >= 0 {
                return Ok(if value.kind() == ValueKind::Bool {
                    Value::from(i64::from(value.is_true()))
                } else {
                    value.clone()
                });
            }
            let rounded = if precision == 0 {
                f.round_ties_even()
            } else if precision > 0 {
                format!("{:.*}", precision as usize, f).parse().unwrap_or(f)
            } else {
                (f * scale).round_ties_even() / scale
            };
            if is_int {
                Ok(Value::from(rounded as i64))
            } else {
                Ok(Value::from(rounded))
            }
        }
        "ceil" => Ok(Value::from((f * scale).ceil() / scale)),
        _ => Ok(Value::from((f * scale).floor() / scale)),
    }
}

/// Ansible's `ternary(true_val, false_val, none_val=None)`.
fn ternary(
    value: &Value,
    true_val: Value,
    false_val: Value,
    none_val: Option<Value>,
) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            "`ternary` got an undefined value",
        ));
    }
    if value.is_none()
        && let Some(n) = none_val.filter(|n| !n.is_none())
    {
        return Ok(n);
    }
    Ok(if value.is_true() { true_val } else { false_val })
}

/// Ansible's `mandatory(msg=None)`: fails on an undefined value.
fn mandatory(value: &Value, msg: Option<Value>) -> Result<Value, Error> {
    if value.is_undefined() {
        let message = match msg.filter(|m| !m.is_none() && !m.is_undefined()) {
            Some(m) => to_text(&m),
            None => "Mandatory variable not defined.".to_string(),
        };
        return Err(op_error(message));
    }
    Ok(value.clone())
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn bool_is_ansibles_to_bool() {
        assert_eq!(eval("'no'|bool", json!({})), Ok(json!(false)));
        assert_eq!(eval("'Yes'|bool", json!({})), Ok(json!(true)));
        assert_eq!(eval("'on'|bool", json!({})), Ok(json!(true)));
        assert_eq!(eval("1|bool", json!({})), Ok(json!(true)));
        assert_eq!(eval("2|bool", json!({})), Ok(json!(false)));
        assert_eq!(eval("'off'|bool", json!({})), Ok(json!(false)));
    }

    #[test]
    fn default_with_boolean_flag() {
        assert_eq!(eval("x|default('d')", json!({})), Ok(json!("d")));
        assert_eq!(eval("x|d('d')", json!({"x": ""})), Ok(json!("")));
        assert_eq!(
            eval("x|default('d', true)", json!({"x": ""})),
            Ok(json!("d"))
        );
        assert_eq!(
            eval("x|default('d', boolean=true)", json!({"x": 0})),
            Ok(json!("d"))
        );
    }

    #[test]
    fn int_and_float_follow_jinja2() {
        assert_eq!(eval("'08'|int", json!({})), Ok(json!("8")));
        assert_eq!(eval("'42.7'|int", json!({})), Ok(json!("42")));
        assert_eq!(eval("'abc'|int", json!({})), Ok(json!("0")));
        assert_eq!(eval("'abc'|int(5)", json!({})), Ok(json!("5")));
        assert_eq!(eval("'0x1A'|int(base=16)", json!({})), Ok(json!("26")));
        assert_eq!(eval("'1.5'|float", json!({})), Ok(json!("1.5")));
        assert_eq!(eval("'x'|float", json!({})), Ok(json!("0.0")));
    }

    #[test]
    fn round_is_pythons() {
        assert_eq!(eval("2.5|round", json!({})), Ok(json!("2.0")));
        assert_eq!(eval("3.7|round", json!({})), Ok(json!("4.0")));
        assert_eq!(eval("3|round", json!({})), Ok(json!("3")));
        assert_eq!(eval("3.14159|round(2)", json!({})), Ok(json!("3.14")));
        assert_eq!(eval("3.1|round(0, 'ceil')", json!({})), Ok(json!("4.0")));
    }

    #[test]
    fn ternary_and_mandatory() {
        assert_eq!(eval("true|ternary('a', 'b')", json!({})), Ok(json!("a")));
        assert_eq!(
            eval("x|ternary('a', 'b', 'n')", json!({"x": null})),
            Ok(json!("n"))
        );
        assert_eq!(
            eval("x|ternary('a', 'b')", json!({"x": null})),
            Ok(json!("b"))
        );
        let err = eval("nope|mandatory", json!({})).unwrap_err();
        assert!(err.contains("Mandatory variable not defined"), "{err}");
        let err = eval("nope|mandatory('set nope')", json!({})).unwrap_err();
        assert!(err.contains("set nope"), "{err}");
    }
}
