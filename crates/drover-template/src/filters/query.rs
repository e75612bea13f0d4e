//! `json_query` (community.general's JMESPath filter) on the `jmespath` crate.
//!
//! The crate keeps objects in sorted maps, while Python's jmespath keeps insertion order. Result
//! objects are put back in order: an object equal to one in the input gets the input's key order;
//! a multi-select hash (`{a: x, b: y}`) gets the order written in the expression.

use std::collections::HashMap;

use minijinja::{Environment, Error, Value};
use serde_json::{Map, Value as Json};

use crate::environment::op_error;
use crate::value::{from_engine, to_engine};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("json_query", json_query);
}

fn json_query(data: &Value, expr: &str) -> Result<Value, Error> {
    let input = from_engine(data)?;
    let expr = &legacy_literals(expr);
    let compiled = jmespath::compile(expr).map_err(|e| {
        op_error(format!(
            "json_query: invalid JMESPath expression `{expr}`: {e}"
        ))
    })?;
    let result = compiled
        .search(&input)
        .map_err(|e| op_error(format!("json_query `{expr}` failed: {e}")))?;
    let json = serde_json::to_value(&*result)
        .map_err(|e| op_error(format!("json_query result is not data: {e}")))?;
    let mut orders = HashMap::new();
    index_objects(&input, &mut orders, 0);
    let expr_keys = multihash_keys(compiled.as_ast());
    Ok(to_engine(&reorder(json, &orders, &expr_keys, 0)))
}

/// Python's jmespath accepts `` `primary` `` (not valid JSON) as the string "primary" (a deprecated
/// form Ansible users rely on); quote such literals so the Rust parser reads them the same way.
fn legacy_literals(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let mut end = None;
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                i += 2;
                continue;
            }
            if bytes[i] == b'`' {
                end = Some(i);
                break;
            }
            i += 1;
        }
        let Some(end) = end else {
            out.push_str(&rest[open..]);
            return out;
        };
        let literal = &after[..end];
        let unescaped = literal.replace("\\`", "`");
        if serde_json::from_str::<Json>(&unescaped).is_ok() {
            out.push('`');
            out.push_str(literal);
            out.push('`');
        } else {
            let quoted = Json::String(unescaped.trim().to_string())
                .to_string()
                .replace('`', "\\`");
            out.push('`');
            out.push_str(&quoted);
            out.push('`');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Canonical text of a value with sorted keys, to recognise input objects in the result.
fn canonical(value: &Json) -> String {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Json::String((*k).clone()), canonical(&map[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn index_objects(value: &Json, orders: &mut HashMap<String, Vec<String>>, depth: usize) {
    if depth > 200 {
        return;
    }
    match value {
        Json::Object(map) => {
            orders
                .entry(canonical(value))
                .or_insert_with(|| map.keys().cloned().collect());
            for v in map.values() {
                index_objects(v, orders, depth + 1);
            }
        }
        Json::Array(items) => {
            for v in items {
                index_objects(v, orders, depth + 1);
            }
        }
        _ => {}
    }
}

/// Keys of every multi-select hash in the expression, in the order written.
fn multihash_keys(ast: &jmespath::ast::Ast) -> Vec<String> {
    let debug = format!("{ast:?}");
    let mut keys = Vec::new();
    let marker = "KeyValuePair { key: \"";
    let mut rest = debug.as_str();
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        if let Some(end) = rest.find('"') {
            keys.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    keys
}

fn reorder(
    value: Json,
    orders: &HashMap<String, Vec<String>>,
    expr_keys: &[String],
    depth: usize,
) -> Json {
    if depth > 200 {
        return value;
    }
    match value {
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .map(|v| reorder(v, orders, expr_keys, depth + 1))
                .collect(),
        ),
        Json::Object(map) => {
            let order: Vec<String> = match orders.get(&canonical(&Json::Object(map.clone()))) {
                Some(o) => o.clone(),
                None => {
                    let mut keys: Vec<String> = map.keys().cloned().collect();
                    keys.sort_by_key(|k| {
                        expr_keys.iter().position(|e| e == k).unwrap_or(usize::MAX)
                    });
                    keys
                }
            };
            let mut map = map;
            let mut out = Map::new();
            for k in order {
                if let Some(v) = map.remove(&k) {
                    out.insert(k, reorder(v, orders, expr_keys, depth + 1));
                }
            }
            for (k, v) in map {
                out.insert(k, reorder(v, orders, expr_keys, depth + 1));
            }
            Json::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn jmespath_queries_keep_python_order() {
        let vars = json!({"members": [
            {"ip": "10.10.10.11", "pg_seq": 1, "pg_role": "primary"},
            {"ip": "10.10.10.12", "pg_seq": 2, "pg_role": "replica"}
        ]});
        assert_eq!(
            eval(
                "members | json_query('[?pg_role==`primary`].ip')",
                vars.clone()
            ),
            Ok(json!(["10.10.10.11"]))
        );
        assert_eq!(
            eval(
                "members | json_query('[*].{z: ip, a: pg_seq}')",
                vars.clone()
            ),
            Ok(json!([{"z": "10.10.10.11", "a": 1}, {"z": "10.10.10.12", "a": 2}]))
        );
        let out = eval("members | json_query('[0]') | to_json", vars.clone()).unwrap();
        // to_json output stays text (a STRING_TYPE_FILTER); key order is the input's
        assert_eq!(
            out,
            json!(r#"{"ip": "10.10.10.11", "pg_seq": 1, "pg_role": "primary"}"#)
        );
        assert!(
            eval("members | json_query('[?')", vars)
                .unwrap_err()
                .contains("invalid JMESPath")
        );
    }
}
