//! Module names and dispatch. One alphabetised table; `ansible.builtin.X` is the same as `X`.

use serde_json::{Map, Value};

use crate::builtin;
use crate::{ModuleError, Prepared, TaskContext};

/// Modules drover runs through an [`crate::Action`] (or answers locally) in this crate.
pub fn remote_modules() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = builtin::files::MODULES
        .iter()
        .chain(builtin::system::MODULES)
        .copied()
        .collect();
    all.sort_unstable();
    all
}

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
    let name = canonical_name(module);
    builtin::files::dispatch(name, args, ctx)
        .or_else(|| builtin::system::dispatch(name, args, ctx))
        .unwrap_or_else(|| {
            Err(ModuleError::params(format!(
                "module `{name}` is not implemented in drover yet"
            )))
        })
}
