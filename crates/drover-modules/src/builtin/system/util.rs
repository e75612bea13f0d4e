//! Small helpers shared by the system modules: refusing Ansible parameters drover does not
//! implement, reading `key=value` probe lines, and picking apply outputs.

use serde_json::{Map, Value};

use crate::{Action, ModuleError, ModuleResult, Output, Prepared};

/// Fails when `args` holds one of `names` (Ansible parameters drover does not implement), naming
/// it, so a playbook never silently loses a setting.
pub(crate) fn refuse(
    module: &str,
    args: &Map<String, Value>,
    names: &[&str],
) -> Result<(), ModuleError> {
    match names.iter().find(|n| args.contains_key(**n)) {
        Some(name) => Err(ModuleError::params(format!(
            "module `{module}`: parameter `{name}` is not implemented in drover"
        ))),
        None => Ok(()),
    }
}

/// Renames Ansible's parameter aliases to their canonical names (`pkg` → `name`), failing when
/// both are given.
pub(crate) fn canonical_args(
    module: &str,
    args: &Map<String, Value>,
    aliases: &[(&str, &str)],
) -> Result<Map<String, Value>, ModuleError> {
    let mut out = args.clone();
    for (alias, canonical) in aliases {
        if let Some(v) = out.remove(*alias) {
            if out.contains_key(*canonical) {
                return Err(ModuleError::params(format!(
                    "module `{module}`: `{alias}` is an alias of `{canonical}`; give only one"
                )));
            }
            out.insert((*canonical).to_string(), v);
        }
    }
    Ok(out)
}

/// The value of the first `key=value` line of `text`.
pub(crate) fn line_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The first apply output, or an internal error.
pub(crate) fn first_output<'a>(
    module: &str,
    outputs: &'a [Output],
) -> Result<&'a Output, ModuleError> {
    outputs
        .first()
        .ok_or_else(|| ModuleError::internal(format!("{module} produced no output")))
}

/// Wraps an action.
pub(crate) fn remote(action: impl Action + 'static) -> Result<Prepared, ModuleError> {
    Ok(Prepared::Remote(Box::new(action)))
}

/// Output text without trailing newlines (how Ansible reports command output in messages).
pub(crate) fn trimmed(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

/// Shell lines printing what Ansible's `add_path_info` adds to a result whose `path`/`dest`
/// exists (`uid`, `gid`, `owner`, `group`, `mode`, `state`, `size`), for the path in `var`
/// (a quoted shell word such as `"$d"`).
pub(crate) fn path_info_script(var: &str) -> String {
    format!(
        "if [ -e {var} ] || [ -L {var} ]; then stat -c 'pathinfo=%u:%g:%a:%h:%s:%F:%U:%G' -- {var}; fi\n"
    )
}

/// Adds the fields printed by [`path_info_script`] to `result` (as Ansible's `add_path_info`).
pub(crate) fn add_path_info(result: &mut ModuleResult, text: &str) {
    let Some(line) = line_value(text, "pathinfo") else {
        return;
    };
    let f: Vec<&str> = line.splitn(8, ':').collect();
    if f.len() < 8 {
        return;
    }
    let num = |s: &str| s.parse::<i64>().map(Value::from).unwrap_or(Value::Null);
    let mode = u32::from_str_radix(f[2], 8).unwrap_or(0);
    let state = match f[5] {
        "symbolic link" => "link",
        "directory" => "directory",
        _ if f[3] != "1" => "hard",
        _ => "file",
    };
    for (k, v) in [
        ("uid", num(f[0])),
        ("gid", num(f[1])),
        ("owner", Value::String(f[6].to_string())),
        ("group", Value::String(f[7].to_string())),
        ("mode", Value::String(format!("0{mode:03o}"))),
        ("state", Value::String(state.to_string())),
        ("size", num(f[4])),
    ] {
        result.extra.insert(k.to_string(), v);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Test helpers: build actions from JSON args, canned outputs, a controller with files.
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use crate::{Action, Controller, Output, Prepared, TaskContext};

    /// A controller whose `find_file` looks in one directory.
    pub(crate) struct Files(pub PathBuf);

    impl Controller for Files {
        fn find_file(&self, name: &str) -> Result<PathBuf, String> {
            let p = self.0.join(name);
            if p.exists() {
                Ok(p)
            } else {
                Err(format!("could not find `{name}`"))
            }
        }
        fn find_template(&self, name: &str) -> Result<PathBuf, String> {
            Err(format!("could not find `{name}`"))
        }
        fn render_template(&self, _: &Path, _: &str, _: &str) -> Result<String, String> {
            Err("no templates".into())
        }
    }

    /// Prepares `module` with `args` (files looked up in `/nonexistent`).
    pub(crate) fn prepare(module: &str, args: Value) -> Result<Prepared, crate::ModuleError> {
        prepare_with(module, args, &Files(PathBuf::from("/nonexistent")))
    }

    /// Prepares `module` with `args` and a controller.
    pub(crate) fn prepare_with(
        module: &str,
        args: Value,
        controller: &dyn Controller,
    ) -> Result<Prepared, crate::ModuleError> {
        let ctx = TaskContext {
            host: "node1",
            controller,
            diff: false,
            escalated: false,
        };
        crate::prepare(module, args.as_object().expect("object args"), &ctx)
    }

    /// The remote action of `module` with `args`.
    pub(crate) fn action(module: &str, args: Value) -> Box<dyn Action> {
        match prepare(module, args) {
            Ok(Prepared::Remote(a)) => a,
            Ok(Prepared::Local(_)) => panic!("expected a remote action"),
            Err(e) => panic!("prepare failed: {e}"),
        }
    }

    /// The error message preparing `module` with `args` gives.
    pub(crate) fn error(module: &str, args: Value) -> String {
        match prepare(module, args) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// A canned output.
    pub(crate) fn out(status: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    /// Runs a request in a real local shell.
    pub(crate) async fn run_local(request: &crate::Request) -> Output {
        drover_connection::LocalConnection::new("localhost")
            .run(request)
            .await
            .expect("local run")
    }
}
