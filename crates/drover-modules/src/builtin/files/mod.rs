//! File modules: `copy` (and, as they land, `template`, `file`, `lineinfile`, `blockinfile`,
//! `stat`, `slurp`, `fetch`).

pub mod copy;

use serde_json::{Map, Value};

use crate::{ModuleError, Prepared, TaskContext};

/// The modules of this group.
pub const MODULES: &[&str] = &["copy"];

/// Prepares `module` if it belongs to this group.
pub fn dispatch(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Option<Result<Prepared, ModuleError>> {
    match module {
        "copy" => Some(copy::prepare(args, ctx)),
        _ => None,
    }
}
