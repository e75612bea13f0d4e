//! `-e` extra variables, read the way ansible-playbook's `load_extra_vars` reads them:
//! `@file` loads a YAML/JSON file, text starting with `{` or `[` is YAML, anything else is
//! `key=value` pairs (values stay strings, as in Ansible). Later `-e` options replace earlier keys
//! (no deep merge, Ansible's default `hash_behaviour=replace`).

use std::path::Path;

use drover_diag::Diagnostic;
use serde_json::{Map, Value};

/// Merges every `-e` option into one mapping.
pub fn load(options: &[String]) -> Result<Map<String, Value>, Diagnostic> {
    let mut vars = Map::new();
    for option in options {
        if option.is_empty() {
            continue;
        }
        let data = load_one(option)?;
        match data {
            Value::Object(map) => {
                for (k, v) in map {
                    vars.insert(k, v);
                }
            }
            _ => {
                return Err(Diagnostic::error(format!(
                    "invalid extra vars data supplied: `{option}` could not be made into a dictionary"
                ))
                .with_help("use `-e key=value`, `-e @vars.yml` or `-e '{\"key\": \"value\"}'`"));
            }
        }
    }
    Ok(vars)
}

fn load_one(option: &str) -> Result<Value, Diagnostic> {
    if let Some(file) = option.strip_prefix('@') {
        let loaded = drover_yaml::load_file(Path::new(file))?;
        crate::exit::warn_all(&loaded.warnings);
        return Ok(loaded.single()?.map_or(Value::Null, |n| n.to_json()));
    }
    if option.starts_with('/') || option.starts_with('.') {
        return Err(Diagnostic::error(format!(
            "please prepend extra_vars filename `{option}` with `@`"
        ))
        .with_help(format!(
            "write `-e @{option}` to load variables from that file"
        )));
    }
    if option.starts_with('{') || option.starts_with('[') {
        let loaded = drover_yaml::load_text("<extra vars>", option)?;
        return Ok(loaded.single()?.map_or(Value::Null, |n| n.to_json()));
    }
    let pairs = drover_playbook::kv::parse_kv(option, false).map_err(|e| {
        Diagnostic::error(format!("cannot parse extra vars `{option}`: {e}"))
            .with_help("use `key=value key2='value with spaces'`")
    })?;
    Ok(Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_value_pairs_stay_strings_and_later_wins() {
        let vars = load(&["a=1 b='x y'".into(), "a=2".into()]).unwrap();
        assert_eq!(Value::Object(vars), json!({"a": "2", "b": "x y"}));
    }

    #[test]
    fn yaml_and_json_mappings() {
        let vars = load(&["{\"n\": 1, \"on\": yes}".into()]).unwrap();
        assert_eq!(Value::Object(vars), json!({"n": 1, "on": true}));
    }

    #[test]
    fn files_need_an_at_sign() {
        let err = load(&["./vars.yml".into()]).unwrap_err().to_string();
        assert!(err.contains("prepend extra_vars filename"), "{err}");
    }

    #[test]
    fn at_file_loads_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yml");
        std::fs::write(&f, "pg_role: replica\nport: 5432\n").unwrap();
        let vars = load(&[format!("@{}", f.display())]).unwrap();
        assert_eq!(
            Value::Object(vars),
            json!({"pg_role": "replica", "port": 5432})
        );
    }

    #[test]
    fn a_list_is_refused() {
        let err = load(&["[1, 2]".into()]).unwrap_err().to_string();
        assert!(err.contains("could not be made into a dictionary"), "{err}");
    }
}
