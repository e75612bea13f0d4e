//! System modules: `command`, `shell`, `raw` (and, as they land, `script`, `package`, `apt`,
//! `dnf`/`yum`, `service`/`systemd`, `user`, `group`, `wait_for`, `get_url`, `unarchive`, `uri`,
//! `ping`).

pub mod command;

use serde_json::{Map, Value};

use crate::{ModuleError, Prepared, TaskContext};

/// The modules of this group.
pub const MODULES: &[&str] = &["command", "raw", "shell"];

/// Prepares `module` if it belongs to this group.
pub fn dispatch(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Option<Result<Prepared, ModuleError>> {
    let _ = ctx;
    match module {
        "command" => Some(command::prepare_command(args)),
        "raw" => Some(command::prepare_raw(args)),
        "shell" => Some(command::prepare_shell(args)),
        _ => None,
    }
}
