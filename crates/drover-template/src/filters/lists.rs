//! List filters: `union`, `difference`, `intersect`, `symmetric_difference`, `flatten`.
//! (`unique`, `sort`, `map`, `select`, `join`, `min`, `max`, `sum`, `first`, `last`, `length` are
//! minijinja built-ins with Jinja2's semantics, which Ansible uses too.)
//!
//! Ansible computes the set operations with Python `set`s, whose iteration order is the hash order
//! (random between runs for strings). drover returns items in first-seen order, which is one of
//! the orders Ansible may produce for strings; sort the result where order matters.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};

use crate::environment::op_error;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("union", |a: &Value, b: &Value| -> Result<Value, Error> {
        let mut all = items(a)?;
        all.extend(items(b)?);
        Ok(Value::from(unique(all)))
    });
    env.add_filter(
        "intersect",
        |a: &Value, b: &Value| -> Result<Value, Error> {
            let b = items(b)?;
            Ok(Value::from(unique(
                items(a)?.into_iter().filter(|x| b.contains(x)).collect(),
            )))
        },
    );
    env.add_filter(
        "difference",
        |a: &Value, b: &Value| -> Result<Value, Error> {
            let b = items(b)?;
            Ok(Value::from(unique(
                items(a)?.into_iter().filter(|x| !b.contains(x)).collect(),
            )))
        },
    );
    env.add_filter(
        "symmetric_difference",
        |a: &Value, b: &Value| -> Result<Value, Error> {
            let (a, b) = (items(a)?, items(b)?);
            let mut out: Vec<Value> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
            out.extend(b.iter().filter(|x| !a.contains(x)).cloned());
            Ok(Value::from(unique(out)))
        },
    );
    env.add_filter("flatten", flatten);
    env.add_filter("extract", extract);
}

fn items(v: &Value) -> Result<Vec<Value>, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            "set operation on an undefined value",
        ));
    }
    Ok(v.try_iter()?.collect())
}

fn unique(values: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Ansible's `flatten(levels=None, skip_nulls=True)`.
/// Ansible's `extract`: `item | extract(container, morekeys)` is `container[item]`, then indexed
/// by `morekeys` (one key or a list of keys). Missing keys give undefined, as Jinja2's
/// `getitem` does; mostly used as `names | map('extract', hostvars, 'var')`.
fn extract(item: &Value, container: &Value, morekeys: Option<Value>) -> Result<Value, Error> {
    let mut value = container.get_item(item)?;
    let keys: Vec<Value> = match morekeys {
        None => Vec::new(),
        Some(keys) if keys.kind() == ValueKind::Seq => keys.try_iter()?.collect(),
        Some(key) => vec![key],
    };
    for key in keys {
        value = value.get_item(&key)?;
    }
    Ok(value)
}

fn flatten(value: &Value, levels: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get::<Option<Value>>("levels")?,
    };
    let levels = match levels {
        None => None,
        Some(l) if l.is_none() => None,
        Some(l) => Some(
            l.as_i64()
                .ok_or_else(|| op_error("`flatten` levels must be an integer"))?,
        ),
    };
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    if value.kind() != ValueKind::Seq {
        return Err(op_error(format!(
            "`flatten` expects a list, got {}",
            value.kind()
        )));
    }
    let mut out = Vec::new();
    walk(value, levels, skip_nulls, &mut out, 0)?;
    Ok(Value::from(out))
}

fn walk(
    value: &Value,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 500 {
        return Err(op_error("`flatten`: list nested too deeply"));
    }
    for element in value.try_iter()? {
        if skip_nulls && (element.is_none() || matches!(element.as_str(), Some("None" | "null"))) {
            continue;
        }
        if element.kind() == ValueKind::Seq {
            match levels {
                None => walk(&element, None, skip_nulls, out, depth + 1)?,
                Some(l) if l >= 1 => walk(&element, Some(l - 1), skip_nulls, out, depth + 1)?,
                Some(_) => out.push(element),
            }
        } else {
            out.push(element);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn set_operations_keep_first_seen_order() {
        assert_eq!(
            eval("[1, 2, 2] | union([3, 1])", json!({})),
            Ok(json!([1, 2, 3]))
        );
        assert_eq!(
            eval("[1, 2, 3] | intersect([3, 1])", json!({})),
            Ok(json!([1, 3]))
        );
        assert_eq!(
            eval("[1, 2, 3] | difference([2])", json!({})),
            Ok(json!([1, 3]))
        );
        assert_eq!(
            eval("[1, 2] | symmetric_difference([2, 3])", json!({})),
            Ok(json!([1, 3]))
        );
    }

    #[test]
    fn extract_indexes_the_container_then_the_more_keys() {
        assert_eq!(
            eval(
                "['a', 'b'] | map('extract', {'a': 1, 'b': 2}) | list",
                json!({})
            ),
            Ok(json!([1, 2]))
        );
        assert_eq!(
            eval(
                "['x'] | map('extract', {'x': {'y': {'z': 5}}}, ['y', 'z']) | list",
                json!({})
            ),
            Ok(json!([5]))
        );
        assert_eq!(
            eval(
                "'h1' | extract(hv, 'port')",
                json!({"hv": {"h1": {"port": 9100}}})
            ),
            Ok(json!("9100"))
        );
    }

    #[test]
    fn flatten_levels_and_nulls() {
        assert_eq!(
            eval("[1, [2, [3, None]], 'null'] | flatten", json!({})),
            Ok(json!([1, 2, 3]))
        );
        assert_eq!(
            eval("[1, [2, [3]]] | flatten(1)", json!({})),
            Ok(json!([1, 2, [3]]))
        );
        assert_eq!(
            eval("[1, [2, [3]]] | flatten(levels=1)", json!({})),
            Ok(json!([1, 2, [3]]))
        );
    }

    #[test]
    fn builtins_keep_jinja_semantics() {
        assert_eq!(
            eval("['b', 'A', 'a'] | unique", json!({})),
            Ok(json!(["b", "A"]))
        );
        assert_eq!(
            eval("['b', 'A', 'c'] | sort", json!({})),
            Ok(json!(["A", "b", "c"]))
        );
        assert_eq!(
            eval(
                "x | sort(attribute='pg_seq') | map(attribute='n') | list",
                json!({"x": [{"pg_seq": 2, "n": "b"}, {"pg_seq": 1, "n": "a"}]})
            ),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(eval("[3, 1, 2] | max", json!({})), Ok(json!("3")));
        assert_eq!(eval("[1, 2] | sum", json!({})), Ok(json!("3")));
        assert_eq!(eval("['a', 'b'] | join(',')", json!({})), Ok(json!("a,b")));
        assert_eq!(eval("[1, 2] | length", json!({})), Ok(json!("2")));
        assert_eq!(eval("[1, 2] | first", json!({})), Ok(json!("1")));
        assert_eq!(eval("[1, 2] | last", json!({})), Ok(json!("2")));
        assert_eq!(
            eval(
                "x | selectattr('r', 'equalto', 'p') | map(attribute='n') | list",
                json!({"x": [{"r": "p", "n": 1}, {"r": "s", "n": 2}]})
            ),
            Ok(json!([1]))
        );
        assert_eq!(
            eval("['a1', 'b2'] | select('match', 'a') | list", json!({})),
            Ok(json!(["a1"]))
        );
        assert_eq!(
            eval("['a1', 'b2'] | reject('search', '1') | list", json!({})),
            Ok(json!(["b2"]))
        );
        assert_eq!(
            eval("['1', '2'] | map('int') | list", json!({})),
            Ok(json!([1, 2]))
        );
    }
}
