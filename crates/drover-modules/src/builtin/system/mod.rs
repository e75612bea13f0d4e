//! System modules: commands (`command`, `shell`, `raw`, `script`), packages (`package`, `apt`,
//! `dnf`/`yum`), services (`service`, `systemd`/`systemd_service`), accounts (`user`, `group`),
//! network (`wait_for`, `get_url`, `uri`), archives (`unarchive`) and `ping`.

pub mod apt;
pub mod command;
mod util;

use serde_json::{Map, Value};

use crate::{ModuleError, Prepared, TaskContext};

/// The modules of this group.
pub const MODULES: &[&str] = &["apt", "command", "raw", "shell"];

/// Prepares `module` if it belongs to this group.
pub fn dispatch(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Option<Result<Prepared, ModuleError>> {
    let _ = ctx;
    match module {
        "apt" => Some(apt::prepare(args)),
        "command" => Some(command::prepare_command(args)),
        "raw" => Some(command::prepare_raw(args)),
        "shell" => Some(command::prepare_shell(args)),
        _ => None,
    }
}
