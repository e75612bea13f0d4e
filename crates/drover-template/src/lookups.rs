//! `lookup()`, `query()`/`q()`: the `file`, `template`, `env` and `vars` lookup plugins, and
//! drover's own `drover_var_origin`.
//!
//! Files are found relative to the search paths the caller gave in [`crate::Vars`]: for each
//! directory `d`, `d/files/<name>` (`d/templates/<name>` for templates) then `d/<name>`, like
//! Ansible's `find_file_in_search_path`. Unknown lookup plugins are errors naming them.
//!
//! `lookup('drover_var_origin', 'pg_role')` is where the inventory writes the current host's
//! (`inventory_hostname`'s) variable `pg_role`: `path:line:col` of the value in an inventory or
//! YAML vars file (e.g. `/pigsty/inventory/sandbox.yml:58:43`), or just the path of a JSON
//! vars file; the empty string when that is unknown (not an inventory variable of the host,
//! no `inventory_hostname`, no [`crate::HostVarsSource`]), so a role can write
//! `{{ lookup('drover_var_origin', 'pg_role') or 'the inventory' }}`. It reports the
//! inventory's definition even when play vars, facts or `-e` override the value. Several terms
//! give one place each (joined with `,` by `lookup`, a list from `query`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use crate::context::{LazyVars, SELF_KEY};
use crate::environment::op_error;
use crate::filters::to_text;
use crate::value::{eval_concat, to_engine};

const SUPPORTED: &str = "file, template, env, vars, drover_var_origin";

pub fn register(env: &mut Environment<'static>) {
    env.add_function(
        "lookup",
        |state: &State, name: &str, terms: Rest<Value>, kwargs: Kwargs| {
            let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
            run(state, name, &terms, &kwargs, wantlist)
        },
    );
    env.add_function(
        "query",
        |state: &State, name: &str, terms: Rest<Value>, kwargs: Kwargs| {
            run(state, name, &terms, &kwargs, true)
        },
    );
    env.add_function(
        "q",
        |state: &State, name: &str, terms: Rest<Value>, kwargs: Kwargs| {
            run(state, name, &terms, &kwargs, true)
        },
    );
}

fn root(state: &State) -> Result<Arc<LazyVars>, Error> {
    state
        .lookup(SELF_KEY)
        .and_then(|v| v.downcast_object::<LazyVars>())
        .ok_or_else(|| op_error("lookups are not available in this context"))
}

fn run(
    state: &State,
    name: &str,
    terms: &[Value],
    kwargs: &Kwargs,
    wantlist: bool,
) -> Result<Value, Error> {
    // terms may be given as one list
    let mut flat = Vec::new();
    for t in terms {
        if t.kind() == minijinja::value::ValueKind::Seq {
            flat.extend(t.try_iter()?);
        } else {
            flat.push(t.clone());
        }
    }
    let results: Vec<Value> = match name {
        "file" => {
            let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            let vars = root(state)?;
            let mut out = Vec::new();
            for term in &flat {
                let path = find(&vars.shared().search_paths, "files", &to_text(term))?;
                let mut text = read(&path)?;
                if rstrip {
                    text = text.trim_end().to_string();
                }
                if lstrip {
                    text = text.trim_start().to_string();
                }
                out.push(Value::from(text));
            }
            out
        }
        "template" => {
            let vars = root(state)?;
            let mut out = Vec::new();
            for term in &flat {
                let path = find(&vars.shared().search_paths, "templates", &to_text(term))?;
                let text = read(&path)?;
                let rendered = vars.render_text(&path.display().to_string(), &text)?;
                out.push(to_engine(&eval_concat(rendered)));
            }
            out
        }
        "env" => {
            let default = kwargs.get::<Option<String>>("default")?.unwrap_or_default();
            flat.iter()
                .map(|t| Value::from(std::env::var(to_text(t)).unwrap_or_else(|_| default.clone())))
                .collect()
        }
        "vars" => {
            let default = kwargs.get::<Option<Value>>("default")?;
            let mut out = Vec::new();
            for t in &flat {
                let key = to_text(t);
                match state.lookup(&key).filter(|v| !v.is_undefined()) {
                    Some(v) => out.push(v),
                    None => match &default {
                        Some(d) => out.push(d.clone()),
                        None => {
                            return Err(Error::new(
                                ErrorKind::UndefinedError,
                                format!("No variable found with this name: {key}"),
                            ));
                        }
                    },
                }
            }
            out
        }
        "drover_var_origin" => var_origins(state, &flat)?,
        other => {
            return Err(op_error(format!(
                "lookup plugin `{other}` is not supported by drover (supported: {SUPPORTED})"
            )));
        }
    };
    kwargs.assert_all_used()?;
    if wantlist {
        return Ok(Value::from(results));
    }
    if results.iter().all(|v| v.as_str().is_some()) {
        let joined: Vec<String> = results.iter().map(to_text).collect();
        return Ok(Value::from(joined.join(",")));
    }
    if results.len() == 1 {
        return Ok(results.into_iter().next().unwrap_or_default());
    }
    Ok(Value::from(
        results.iter().map(to_text).collect::<Vec<_>>().join(","),
    ))
}

/// `drover_var_origin`: where the inventory writes each named variable of the current host,
/// `""` when unknown.
fn var_origins(state: &State, terms: &[Value]) -> Result<Vec<Value>, Error> {
    let vars = root(state)?;
    let host = state
        .lookup("inventory_hostname")
        .and_then(|v| v.as_str().map(String::from));
    Ok(terms
        .iter()
        .map(|term| {
            let origin = host
                .as_deref()
                .and_then(|h| vars.shared().var_origin(h, &to_text(term)));
            Value::from(origin.unwrap_or_default())
        })
        .collect())
}

fn find(search_paths: &[PathBuf], subdir: &str, name: &str) -> Result<PathBuf, Error> {
    let direct = Path::new(name);
    if direct.is_absolute() {
        return if direct.is_file() {
            Ok(direct.to_path_buf())
        } else {
            Err(op_error(format!("could not locate file in lookup: {name}")))
        };
    }
    let mut tried = Vec::new();
    for dir in search_paths {
        for candidate in [dir.join(subdir).join(name), dir.join(name)] {
            if candidate.is_file() {
                return Ok(candidate);
            }
            tried.push(candidate.display().to_string());
        }
    }
    Err(op_error(format!(
        "could not locate file in lookup: {name} (searched: {})",
        if tried.is_empty() {
            "no search paths given".to_string()
        } else {
            tried.join(", ")
        }
    )))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| op_error(format!("cannot read `{}`: {e}", path.display())))
}

#[cfg(test)]
mod unit {
    use crate::{Templar, Vars};
    use serde_json::{Value, json};

    fn eval_in(dir: &std::path::Path, expr: &str) -> Result<Value, String> {
        let t = Templar::default();
        let Value::Object(map) = json!({"who": "pg-test", "n": 3}) else {
            unreachable!()
        };
        let vars = Vars::new(map).with_search_paths(vec![dir.to_path_buf()]);
        t.template_value(&Value::String(expr.into()), &vars, None)
            .map(|o| o.value)
            .map_err(|d| d.to_string())
    }

    #[test]
    fn file_template_env_lookups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("files/motd"), "hello\n\n").unwrap();
        std::fs::write(dir.path().join("templates/t.j2"), "cls={{ who }}\n").unwrap();
        assert_eq!(
            eval_in(dir.path(), "{{ lookup('file', 'motd') }}"),
            Ok(json!("hello"))
        );
        assert_eq!(
            eval_in(dir.path(), "{{ lookup('template', 't.j2') }}"),
            Ok(json!("cls=pg-test\n"))
        );
        assert_eq!(
            eval_in(dir.path(), "{{ query('file', 'motd') }}"),
            Ok(json!(["hello"]))
        );
        unsafe_free_env_check(dir.path());
        let err = eval_in(dir.path(), "{{ lookup('file', 'missing') }}").unwrap_err();
        assert!(
            err.contains("could not locate file in lookup: missing"),
            "{err}"
        );
        let err = eval_in(dir.path(), "{{ lookup('redis', 'k') }}").unwrap_err();
        assert!(
            err.contains("lookup plugin `redis` is not supported"),
            "{err}"
        );
    }

    fn unsafe_free_env_check(dir: &std::path::Path) {
        // PATH is always set in test environments.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(eval_in(dir, "{{ lookup('env', 'PATH') }}"), Ok(json!(path)));
        assert_eq!(
            eval_in(dir, "{{ lookup('env', 'DROVER_SURELY_UNSET_VAR') }}"),
            Ok(json!(""))
        );
    }
}
