//! File modules: `blockinfile`, `copy`, `fetch`, `file`, `lineinfile`, `slurp`, `stat`,
//! `template`.

pub mod blockinfile;
pub(crate) mod common;
#[cfg(test)]
mod compat;
pub mod copy;
pub mod fetch;
pub mod file;
pub mod lineinfile;
pub mod slurp;
pub mod stat;
pub mod template;

use serde_json::{Map, Value};

use crate::{ModuleError, Prepared, TaskContext};

/// The modules of this group.
pub const MODULES: &[&str] = &[
    "blockinfile",
    "copy",
    "fetch",
    "file",
    "lineinfile",
    "slurp",
    "stat",
    "template",
];

/// Prepares `module` if it belongs to this group.
pub fn dispatch(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Option<Result<Prepared, ModuleError>> {
    Some(match module {
        "blockinfile" => blockinfile::prepare(args, ctx),
        "copy" => copy::prepare(args, ctx),
        "fetch" => fetch::prepare(args, ctx),
        "file" => file::prepare(args, ctx),
        "lineinfile" => lineinfile::prepare(args, ctx),
        "slurp" => slurp::prepare(args, ctx),
        "stat" => stat::prepare(args, ctx),
        "template" => template::prepare(args, ctx),
        _ => return None,
    })
}
