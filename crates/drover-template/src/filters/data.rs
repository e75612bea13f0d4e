//! Data filters: JSON/YAML serialisation with Python's exact output, parsing, `combine`,
//! `dict2items`, `items2dict`.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, Value};
use serde_json::{Map, Value as Json};

use super::to_text;
use crate::environment::{is_map, op_error};
use crate::pyyaml::{YamlOptions, yaml_dump};
use crate::value::{from_engine, to_engine};
use drover_python::json::{DumpOptions, dumps};

pub fn register(env: &mut Environment<'static>) {
    // Ansible's STRING_TYPE_FILTERS: their results are "native text" that value templating keeps
    // as a string (see `context::native_text`); the safe-string flag carries that mark.
    env.add_filter("to_json", |v: &Value, kw: Kwargs| {
        to_json(v, kw).map(Value::from_safe_string)
    });
    env.add_filter("to_nice_json", |v: &Value, i: Option<usize>, kw: Kwargs| {
        to_nice_json(v, i, kw).map(Value::from_safe_string)
    });
    env.add_filter("to_yaml", |v: &Value, kw: Kwargs| {
        to_yaml(v, kw, false).map(Value::from_safe_string)
    });
    env.add_filter("to_nice_yaml", |v: &Value, kw: Kwargs| {
        to_yaml(v, kw, true).map(Value::from_safe_string)
    });
    env.add_filter("tojson", tojson);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
}

fn data(value: &Value, filter: &str) -> Result<Json, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            minijinja::ErrorKind::UndefinedError,
            format!("`{filter}` got an undefined value"),
        ));
    }
    from_engine(value)
}

/// `to_json(indent=None, sort_keys=False, ensure_ascii=True, separators=None)`: Python's
/// `json.dumps`.
fn to_json(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    let separators = kwargs.get::<Option<Vec<String>>>("separators")?;
    kwargs.assert_all_used()?;
    let json = data(value, "to_json")?;
    let seps = match &separators {
        Some(s) if s.len() == 2 => Some((s[0].as_str(), s[1].as_str())),
        Some(_) => return Err(op_error("`to_json` separators must be a pair")),
        None => None,
    };
    let options = DumpOptions {
        indent,
        sort_keys,
        separators: seps,
        ensure_ascii,
    };
    Ok(dumps(&json, &options))
}

/// Jinja2's `tojson(indent=None)`: sorted keys, `<>&'` escaped for HTML. A plain string (not a
/// STRING_TYPE_FILTER), so value templating turns it back into data as Ansible does.
fn tojson(value: &Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<usize>>("indent")?,
    };
    kwargs.assert_all_used()?;
    let json = data(value, "tojson")?;
    let options = DumpOptions {
        indent,
        sort_keys: true,
        ..DumpOptions::default()
    };
    Ok(dumps(&json, &options)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027"))
}

/// `to_nice_json(indent=4, sort_keys=True)` with `(',', ': ')` separators.
fn to_nice_json(value: &Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let indent = match indent {
        Some(i) => i,
        None => kwargs.get::<Option<usize>>("indent")?.unwrap_or(4),
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let json = data(value, "to_nice_json")?;
    let options = DumpOptions {
        indent: Some(indent),
        sort_keys,
        separators: Some((",", ": ")),
        ensure_ascii,
    };
    Ok(dumps(&json, &options))
}

/// `to_yaml` (flow style for collections of scalars) and `to_nice_yaml(indent=4)` (block style).
fn to_yaml(value: &Value, kwargs: Kwargs, nice: bool) -> Result<String, Error> {
    let mut options = YamlOptions {
        indent: if nice { 4 } else { 2 },
        default_flow_style: if nice { Some(false) } else { None },
        ..YamlOptions::default()
    };
    if let Some(i) = kwargs.get::<Option<usize>>("indent")? {
        options.indent = i;
    }
    if let Some(w) = kwargs.get::<Option<usize>>("width")? {
        options.width = w;
    }
    if !nice && let Some(f) = kwargs.get::<Option<Value>>("default_flow_style")? {
        options.default_flow_style = if f.is_none() { None } else { Some(f.is_true()) };
    }
    if let Some(s) = kwargs.get::<Option<bool>>("sort_keys")? {
        options.sort_keys = s;
    }
    if let Some(s) = kwargs.get::<Option<bool>>("explicit_start")? {
        options.explicit_start = s;
    }
    if let Some(s) = kwargs.get::<Option<bool>>("explicit_end")? {
        options.explicit_end = s;
    }
    kwargs.assert_all_used().map_err(|e| {
        op_error(format!(
            "{}: drover's to_yaml/to_nice_yaml support indent, width, default_flow_style, sort_keys, explicit_start and explicit_end",
            e.detail().unwrap_or("unsupported argument")
        ))
    })?;
    let json = data(value, if nice { "to_nice_yaml" } else { "to_yaml" })?;
    Ok(yaml_dump(&json, &options))
}

fn from_json(value: &Value) -> Result<Value, Error> {
    let text = to_text(value);
    let json: Json = serde_json::from_str(&text)
        .map_err(|e| op_error(format!("from_json: invalid JSON: {e}")))?;
    Ok(to_engine(&json))
}

fn from_yaml(value: &Value) -> Result<Value, Error> {
    if value.kind() != ValueKind::String {
        return Ok(value.clone());
    }
    let text = to_text(value);
    let node = drover_yaml::load_text("<from_yaml>", &text)
        .and_then(|loaded| loaded.single())
        .map_err(|d| op_error(format!("from_yaml: {}", d.message)))?;
    Ok(to_engine(&node.map(|n| n.to_json()).unwrap_or(Json::Null)))
}

/// Ansible's `combine(*dicts, recursive=False, list_merge='replace')`.
fn combine(value: &Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kwargs
        .get::<Option<&str>>("list_merge")?
        .unwrap_or("replace")
        .to_string();
    kwargs.assert_all_used().map_err(|_| {
        op_error("'recursive' and 'list_merge' are the only valid keyword arguments")
    })?;
    if !matches!(
        list_merge.as_str(),
        "replace" | "keep" | "append" | "prepend" | "append_rp" | "prepend_rp"
    ) {
        return Err(op_error(
            "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'",
        ));
    }
    // flatten one level: `[d1, d2] | combine` works too
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(others.iter()) {
        if term.kind() == ValueKind::Seq {
            for item in term.try_iter()? {
                dicts.push(data(&item, "combine")?);
            }
        } else {
            dicts.push(data(term, "combine")?);
        }
    }
    for d in &dicts {
        if !d.is_object() {
            return Err(op_error(format!(
                "failed to combine variables, expected dicts but got a '{}'",
                json_type(d)
            )));
        }
    }
    let mut iter = dicts.into_iter().rev();
    let Some(mut result) = iter.next() else {
        return Ok(to_engine(&Json::Object(Map::new())));
    };
    for d in iter {
        result = merge_hash(d, result, recursive, &list_merge);
    }
    Ok(to_engine(&result))
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

/// Ansible's `merge_hash(x, y)`: `y` wins; key order is `x`'s, new keys appended.
pub fn merge_hash(x: Json, y: Json, recursive: bool, list_merge: &str) -> Json {
    let (Json::Object(x), Json::Object(y)) = (x, y) else {
        return Json::Null;
    };
    if x.is_empty() || x == y {
        return Json::Object(y);
    }
    if y.is_empty() {
        return Json::Object(x);
    }
    let mut x = x;
    for (key, y_value) in y {
        let Some(x_value) = x.get(&key).cloned() else {
            x.insert(key, y_value);
            continue;
        };
        let merged = match (x_value, y_value) {
            (xv @ Json::Object(_), yv @ Json::Object(_)) => {
                if recursive {
                    merge_hash(xv, yv, recursive, list_merge)
                } else {
                    yv
                }
            }
            (Json::Array(xv), Json::Array(yv)) => Json::Array(match list_merge {
                "append" => xv.into_iter().chain(yv).collect(),
                "prepend" => yv.into_iter().chain(xv).collect(),
                "append_rp" => {
                    let mut out: Vec<Json> = xv.into_iter().filter(|z| !yv.contains(z)).collect();
                    out.extend(yv);
                    out
                }
                "prepend_rp" => {
                    let rest: Vec<Json> = xv.into_iter().filter(|z| !yv.contains(z)).collect();
                    yv.into_iter().chain(rest).collect()
                }
                "keep" => xv,
                _ => yv,
            }),
            (_, yv) => yv,
        };
        x.insert(key, merged);
    }
    Json::Object(x)
}

fn dict2items(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name = kwargs
        .get::<Option<&str>>("key_name")?
        .unwrap_or("key")
        .to_string();
    let value_name = kwargs
        .get::<Option<&str>>("value_name")?
        .unwrap_or("value")
        .to_string();
    kwargs.assert_all_used()?;
    if !is_map(value) {
        return Err(op_error(format!(
            "dict2items requires a dictionary, got {} instead.",
            value.kind()
        )));
    }
    let Json::Object(map) = data(value, "dict2items")? else {
        return Err(op_error("dict2items requires a dictionary"));
    };
    let items: Vec<Json> = map
        .into_iter()
        .map(|(k, v)| {
            let mut m = Map::new();
            m.insert(key_name.clone(), Json::String(k));
            m.insert(value_name.clone(), v);
            Json::Object(m)
        })
        .collect();
    Ok(to_engine(&Json::Array(items)))
}

fn items2dict(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name = kwargs
        .get::<Option<&str>>("key_name")?
        .unwrap_or("key")
        .to_string();
    let value_name = kwargs
        .get::<Option<&str>>("value_name")?
        .unwrap_or("value")
        .to_string();
    kwargs.assert_all_used()?;
    let Json::Array(items) = data(value, "items2dict")? else {
        return Err(op_error(format!(
            "items2dict requires a list, got {} instead.",
            value.kind()
        )));
    };
    let mut out = Map::new();
    for item in items {
        let (Some(k), Some(v)) = (item.get(&key_name), item.get(&value_name)) else {
            return Err(op_error(format!(
                "items2dict requires each dictionary in the list to contain the keys '{key_name}' and '{value_name}'"
            )));
        };
        let key = match k {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.insert(key, v.clone());
    }
    Ok(to_engine(&Json::Object(out)))
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::{eval, render};
    use serde_json::json;

    #[test]
    fn json_output_is_pythons() {
        let vars = json!({"d": {"b": 1, "a": [1, "x", null, true, 1.5]}});
        assert_eq!(
            render("{{ d | to_json }}", vars.clone()),
            Ok(r#"{"b": 1, "a": [1, "x", null, true, 1.5]}"#.to_string())
        );
        assert_eq!(
            render("{{ d | to_nice_json }}", vars),
            Ok("{\n    \"a\": [\n        1,\n        \"x\",\n        null,\n        true,\n        1.5\n    ],\n    \"b\": 1\n}".to_string())
        );
    }

    #[test]
    fn combine_recursive_and_lists() {
        let vars =
            json!({"a": {"x": {"p": 1, "q": 2}, "l": [1]}, "b": {"x": {"q": 3}, "l": [2], "n": 0}});
        assert_eq!(
            eval("a | combine(b)", vars.clone()),
            Ok(json!({"x": {"q": 3}, "l": [2], "n": 0}))
        );
        assert_eq!(
            eval("a | combine(b, recursive=true)", vars.clone()),
            Ok(json!({"x": {"p": 1, "q": 3}, "l": [2], "n": 0}))
        );
        assert_eq!(
            eval("a | combine(b, list_merge='append')", vars.clone()),
            Ok(json!({"x": {"q": 3}, "l": [1, 2], "n": 0}))
        );
        assert_eq!(
            eval("[a, b] | combine", vars.clone()),
            Ok(json!({"x": {"q": 3}, "l": [2], "n": 0}))
        );
        assert!(
            eval("a | combine(1)", vars)
                .unwrap_err()
                .contains("expected dicts")
        );
    }

    #[test]
    fn dict2items_round_trip() {
        let vars = json!({"d": {"meta-1": "10.10.10.10"}});
        assert_eq!(
            eval("d | dict2items", vars.clone()),
            Ok(json!([{"key": "meta-1", "value": "10.10.10.10"}]))
        );
        assert_eq!(
            eval("d | dict2items | items2dict", vars.clone()),
            Ok(json!({"meta-1": "10.10.10.10"}))
        );
        assert_eq!(
            eval("d | dict2items(key_name='n', value_name='ip')", vars),
            Ok(json!([{"n": "meta-1", "ip": "10.10.10.10"}]))
        );
    }

    #[test]
    fn from_json_and_yaml() {
        assert_eq!(
            eval("'{\"a\": [1]}' | from_json", json!({})),
            Ok(json!({"a": [1]}))
        );
        assert_eq!(
            eval("y | from_yaml", json!({"y": "a: yes\nb: 0755"})),
            Ok(json!({"a": true, "b": 493}))
        );
    }
}
