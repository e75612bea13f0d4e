//! `-e` extra variables, read the way ansible-playbook's `load_extra_vars` reads them:
//! `@file` loads a YAML/JSON file, text starting with `{` or `[` is YAML, anything else is
//! `key=value` pairs (values stay strings, as in Ansible). Later `-e` options replace earlier keys
//! (no deep merge, Ansible's default `hash_behaviour=replace`).

use std::path::Path;

use drover_diag::Diagnostic;
use serde_json::{Map, Value};

use crate::exit;

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
        // ansible-playbook: a file it cannot read is exit 1 ("Unable to retrieve file
        // contents"), one it cannot parse is 4
        let path = Path::new(file);
        let code = if std::fs::read(path).is_ok() {
            exit::PARSE_ERROR
        } else {
            exit::ERROR
        };
        let loaded = drover_yaml::load_file(path).map_err(|d| d.with_exit_code(code))?;
        exit::warn_all(&loaded.warnings);
        let doc = loaded.single().map_err(|d| d.with_exit_code(code))?;
        return Ok(doc.map_or(Value::Null, |n| n.to_json()));
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
        // a syntax error is a parse error (exit 4), as in ansible-playbook
        let parse_error = |d: Diagnostic| d.with_exit_code(exit::PARSE_ERROR);
        let loaded = drover_yaml::load_text("<extra vars>", option).map_err(parse_error)?;
        let doc = loaded.single().map_err(parse_error)?;
        return Ok(doc.map_or(Value::Null, |n| n.to_json()));
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
    fn exit_codes_are_ansible_playbooks() {
        // a syntax error 4, a file that cannot be read 1, the rest (a list, no `@`) the
        // caller's default 5
        let code = |option: &str| load(&[option.to_string()]).unwrap_err().exit_code;
        assert_eq!(code("{bad"), Some(4));
        assert_eq!(code("@/nonexistent/vars.yml"), Some(1));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yml");
        std::fs::write(&f, "a: [\n").unwrap();
        assert_eq!(code(&format!("@{}", f.display())), Some(4));
        assert_eq!(code("[1, 2]"), None);
        assert_eq!(code("./vars.yml"), None);
    }

    #[test]
    fn a_list_is_refused() {
        let err = load(&["[1, 2]".into()]).unwrap_err().to_string();
        assert!(err.contains("could not be made into a dictionary"), "{err}");
    }
}
