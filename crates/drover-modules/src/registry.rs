//! Module names and dispatch. One alphabetised table; `ansible.builtin.X` is the same as `X`.

use serde_json::{Map, Value};

use crate::builtin;
use crate::{ModuleError, Prepared, TaskContext};

/// Modules drover runs through an [`crate::Action`] (or answers locally) in this crate.
pub const REMOTE_MODULES: &[&str] = &["command", "copy", "raw", "shell"];

/// Modules the executor implements itself because they change its state or control flow.
pub const ENGINE_MODULES: &[&str] = &[
    "add_host_refused",
    "assert",
    "debug",
    "fail",
    "gather_facts",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "pause",
    "set_fact",
];

/// The short name of a module (`ansible.builtin.copy` → `copy`; `ansible.legacy.X` too).
pub fn canonical_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// Prepares a task for `module` with its templated arguments.
pub fn prepare(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Result<Prepared, ModuleError> {
    match canonical_name(module) {
        "command" => builtin::command::prepare_command(args),
        "copy" => builtin::copy::prepare(args, ctx),
        "raw" => builtin::command::prepare_raw(args),
        "shell" => builtin::command::prepare_shell(args),
        other => Err(ModuleError::params(format!(
            "module `{other}` is not implemented in drover yet"
        ))),
    }
}
