//! Ansible's Jinja tests (`is match`, `is version`, `is failed`, ...). `defined`, `undefined`,
//! `none`, `string`, `number`, `mapping`, `sequence`, `in` ... are minijinja built-ins with Jinja2's
//! semantics.

use std::cmp::Ordering;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::environment::{is_map, op_error};
use crate::filters::{compile_regex, to_text};

/// Every test registered here.
pub const NAMES: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "match",
    "search",
    "regex",
    "version",
    "version_compare",
    "success",
    "succeeded",
    "failed",
    "failure",
    "changed",
    "change",
    "skipped",
    "skip",
    "reachable",
    "unreachable",
    "finished",
    "truthy",
    "falsy",
    "any",
    "all",
    "subset",
    "superset",
    "contains",
    "abs",
    "exists",
    "file",
    "is_file",
    "directory",
    "is_dir",
    "link",
    "is_link",
    "nan",
];

pub fn register(env: &mut Environment<'static>) {
    env.add_test("match", |v: &Value, p: &str, kw: Kwargs| {
        regex_test(v, p, kw, true)
    });
    env.add_test("search", |v: &Value, p: &str, kw: Kwargs| {
        regex_test(v, p, kw, false)
    });
    env.add_test("regex", regex_kw);
    env.add_test("version", version);
    env.add_test("version_compare", version);
    env.add_test("success", |v: &Value| Ok::<_, Error>(!flag(v, "failed")?));
    env.add_test("succeeded", |v: &Value| Ok::<_, Error>(!flag(v, "failed")?));
    env.add_test("failed", |v: &Value| flag(v, "failed"));
    env.add_test("failure", |v: &Value| flag(v, "failed"));
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", |v: &Value| flag(v, "skipped"));
    env.add_test("skip", |v: &Value| flag(v, "skipped"));
    env.add_test("unreachable", |v: &Value| flag(v, "unreachable"));
    env.add_test("reachable", |v: &Value| {
        Ok::<_, Error>(!flag(v, "unreachable")?)
    });
    env.add_test("finished", finished);
    env.add_test("truthy", |v: &Value| v.is_true());
    env.add_test("falsy", |v: &Value| !v.is_true());
    env.add_test("any", |v: &Value| -> Result<bool, Error> {
        Ok(v.try_iter()?.any(|x| x.is_true()))
    });
    env.add_test("all", |v: &Value| -> Result<bool, Error> {
        Ok(v.try_iter()?.all(|x| x.is_true()))
    });
    env.add_test("subset", |a: &Value, b: &Value| -> Result<bool, Error> {
        let b: Vec<Value> = b.try_iter()?.collect();
        Ok(a.try_iter()?.all(|x| b.contains(&x)))
    });
    env.add_test("superset", |a: &Value, b: &Value| -> Result<bool, Error> {
        let a: Vec<Value> = a.try_iter()?.collect();
        Ok(b.try_iter()?.all(|x| a.contains(&x)))
    });
    env.add_test(
        "contains",
        |seq: &Value, item: &Value| -> Result<bool, Error> {
            Ok(seq.try_iter()?.any(|x| &x == item))
        },
    );
    env.add_test("abs", |p: &str| std::path::Path::new(p).is_absolute());
    env.add_test("exists", |p: &str| std::path::Path::new(p).exists());
    env.add_test("file", |p: &str| std::path::Path::new(p).is_file());
    env.add_test("is_file", |p: &str| std::path::Path::new(p).is_file());
    env.add_test("directory", |p: &str| std::path::Path::new(p).is_dir());
    env.add_test("is_dir", |p: &str| std::path::Path::new(p).is_dir());
    env.add_test("link", |p: &str| std::path::Path::new(p).is_symlink());
    env.add_test("is_link", |p: &str| std::path::Path::new(p).is_symlink());
    env.add_test("nan", |v: &Value| {
        f64::try_from(v.clone()).map(f64::is_nan).unwrap_or(false)
    });
}

fn regex_test(value: &Value, pattern: &str, kwargs: Kwargs, anchored: bool) -> Result<bool, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "regex test on an undefined value",
        ));
    }
    let pattern = if anchored {
        format!(r"\A(?:{pattern})")
    } else {
        pattern.to_string()
    };
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    re.is_match(to_text(value).as_str())
        .map_err(|e| op_error(format!("regex `{pattern}` failed: {e}")))
}

fn regex_kw(value: &Value, pattern: &str, kwargs: Kwargs) -> Result<bool, Error> {
    let match_type = kwargs
        .get::<Option<&str>>("match_type")?
        .unwrap_or("search")
        .to_string();
    let anchored = match match_type.as_str() {
        "search" => false,
        "match" => true,
        other => {
            return Err(op_error(format!(
                "`regex` test match_type `{other}` is not supported by drover (use search or match)"
            )));
        }
    };
    regex_test(value, pattern, kwargs, anchored)
}

/// `result is failed` and friends: `result.get(key, False)`, and the result must be a dict.
fn flag(result: &Value, key: &str) -> Result<bool, Error> {
    if !is_map(result) {
        return Err(op_error(format!(
            "the '{key}' test expects a dictionary (a registered task result), got {}",
            result.kind()
        )));
    }
    Ok(result.get_attr(key).map(|v| v.is_true()).unwrap_or(false))
}

fn changed(result: &Value) -> Result<bool, Error> {
    if !is_map(result) {
        return Err(op_error(
            "the 'changed' test expects a dictionary (a registered task result)",
        ));
    }
    let has_changed = result
        .get_attr("changed")
        .map(|v| !v.is_undefined())
        .unwrap_or(false);
    if has_changed {
        return flag(result, "changed");
    }
    if let Ok(results) = result.get_attr("results")
        && results.kind() == ValueKind::Seq
        && let Ok(first) = results.get_item(&Value::from(0))
        && is_map(&first)
    {
        for r in results.try_iter()? {
            if r.get_attr("changed").map(|v| v.is_true()).unwrap_or(false) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn finished(result: &Value) -> Result<bool, Error> {
    if !is_map(result) {
        return Err(op_error("the 'finished' test expects a dictionary"));
    }
    match result.get_attr("finished") {
        Ok(v) if !v.is_undefined() => {
            Ok(v.as_i64() == Some(1) || v.is_true() && v.kind() == ValueKind::Bool)
        }
        _ => Ok(true),
    }
}

/// `is version(other, operator='eq', strict=None, version_type=None)` with LooseVersion.
fn version(value: &Value, other: &Value, op: Option<&str>, kwargs: Kwargs) -> Result<bool, Error> {
    let op = match op {
        Some(o) => o.to_string(),
        None => kwargs
            .get::<Option<&str>>("operator")?
            .unwrap_or("eq")
            .to_string(),
    };
    let strict = kwargs.get::<Option<bool>>("strict")?;
    let version_type = kwargs
        .get::<Option<&str>>("version_type")?
        .map(str::to_string);
    kwargs.assert_all_used()?;
    if strict == Some(true) || version_type.as_deref().is_some_and(|t| t != "loose") {
        return Err(op_error(format!(
            "version_type `{}` is not supported by drover; only the default (loose) comparison is",
            version_type.unwrap_or_else(|| "strict".into())
        )));
    }
    if !value.is_true() {
        return Err(op_error("Input version value cannot be empty"));
    }
    if !other.is_true() {
        return Err(op_error(
            "Version parameter to compare against cannot be empty",
        ));
    }
    let a = loose_version(&to_text(value));
    let b = loose_version(&to_text(other));
    let op = match op.as_str() {
        "==" | "=" | "eq" => "eq",
        "<" | "lt" => "lt",
        "<=" | "le" => "le",
        ">" | "gt" => "gt",
        ">=" | "ge" => "ge",
        "!=" | "<>" | "ne" => "ne",
        other => {
            return Err(op_error(format!(
                "Invalid operator type ({other}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            )));
        }
    };
    let diff = a.iter().zip(&b).find(|(x, y)| x != y);
    if op == "eq" || op == "ne" {
        return Ok((a == b) == (op == "eq"));
    }
    let ordering = match diff {
        Some((Part::Num(x), Part::Num(y))) => x.cmp(y),
        Some((Part::Text(x), Part::Text(y))) => x.cmp(y),
        Some((x, y)) => {
            return Err(op_error(format!(
                "Version comparison failed: '<' not supported between {} and {}",
                x.describe(),
                y.describe()
            )));
        }
        None => a.len().cmp(&b.len()),
    };
    Ok(match op {
        "lt" => ordering == Ordering::Less,
        "le" => ordering != Ordering::Greater,
        "gt" => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    })
}

#[derive(Debug, PartialEq)]
enum Part {
    Num(u128),
    Text(String),
}

impl Part {
    fn describe(&self) -> String {
        match self {
            Part::Num(n) => format!("int {n}"),
            Part::Text(t) => format!("str '{t}'"),
        }
    }
}

/// distutils' LooseVersion: split on `(\d+|[a-z]+|\.)`, keep the pieces between matches too,
/// drop empties and dots, numbers become integers.
fn loose_version(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut other = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let flush = |other: &mut String, parts: &mut Vec<Part>| {
        if !other.is_empty() {
            parts.push(Part::Text(std::mem::take(other)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            flush(&mut other, &mut parts);
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            parts.push(match digits.parse::<u128>() {
                Ok(n) => Part::Num(n),
                Err(_) => Part::Text(digits),
            });
        } else if c.is_ascii_lowercase() {
            flush(&mut other, &mut parts);
            let start = i;
            while i < chars.len() && chars[i].is_ascii_lowercase() {
                i += 1;
            }
            parts.push(Part::Text(chars[start..i].iter().collect()));
        } else if c == '.' {
            flush(&mut other, &mut parts);
            i += 1;
        } else {
            other.push(c);
            i += 1;
        }
    }
    flush(&mut other, &mut parts);
    parts
}

#[cfg(test)]
mod unit {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn regex_tests() {
        assert_eq!(eval("'abc' is match('b')", json!({})), Ok(json!(false)));
        assert_eq!(eval("'abc' is search('b')", json!({})), Ok(json!(true)));
        assert_eq!(
            eval("'ABC' is match('a', ignorecase=true)", json!({})),
            Ok(json!(true))
        );
    }

    #[test]
    fn version_tests() {
        assert_eq!(
            eval("'1.10' is version('1.9', '>')", json!({})),
            Ok(json!(true))
        );
        assert_eq!(
            eval("'14.2' is version('14', 'ge')", json!({})),
            Ok(json!(true))
        );
        assert_eq!(
            eval("'1.0' is version('1.0.0', '<')", json!({})),
            Ok(json!(true))
        );
        assert_eq!(
            eval("'2.18.1' is version_compare('2.18.1', '==')", json!({})),
            Ok(json!(true))
        );
        assert!(eval("'1.a' is version('1.1', '<')", json!({})).is_err());
    }

    #[test]
    fn result_tests() {
        let r = json!({"r": {"changed": true, "failed": false}, "s": {"skipped": true}});
        assert_eq!(eval("r is changed", r.clone()), Ok(json!(true)));
        assert_eq!(eval("r is success", r.clone()), Ok(json!(true)));
        assert_eq!(eval("r is succeeded", r.clone()), Ok(json!(true)));
        assert_eq!(eval("r is failed", r.clone()), Ok(json!(false)));
        assert_eq!(eval("s is skipped", r.clone()), Ok(json!(true)));
        assert_eq!(eval("s is changed", r.clone()), Ok(json!(false)));
        assert!(
            eval("'x' is failed", r)
                .unwrap_err()
                .contains("expects a dictionary")
        );
    }

    #[test]
    fn defined_and_none() {
        assert_eq!(eval("x is defined", json!({})), Ok(json!(false)));
        assert_eq!(eval("x is undefined", json!({})), Ok(json!(true)));
        assert_eq!(eval("x is none", json!({"x": null})), Ok(json!(true)));
        assert_eq!(
            eval("x is defined", json!({"x": "{{ nope }}"})),
            Ok(json!(false))
        );
    }
}
