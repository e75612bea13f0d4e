//! System modules: commands (`command`, `shell`, `raw`, `script`), packages (`package`, `apt`,
//! `dnf`/`yum`), services (`service`, `systemd`/`systemd_service`), accounts (`user`, `group`),
//! network (`wait_for`, `get_url`, `uri`), archives (`unarchive`) and `ping`.

pub mod apt;
pub mod command;
mod curl;
pub mod dnf;
pub mod get_url;
pub mod group;
pub mod package;
pub mod ping;
pub mod script;
pub mod systemd;
pub mod unarchive;
pub mod uri;
pub mod user;
mod util;
pub mod wait_for;

use serde_json::{Map, Value};

use crate::{ModuleError, Prepared, TaskContext};

/// The modules of this group.
pub const MODULES: &[&str] = &[
    "apt",
    "command",
    "dnf",
    "get_url",
    "group",
    "package",
    "ping",
    "raw",
    "script",
    "service",
    "shell",
    "systemd",
    "systemd_service",
    "unarchive",
    "uri",
    "user",
    "wait_for",
    "yum",
];

/// Prepares `module` if it belongs to this group.
pub fn dispatch(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Option<Result<Prepared, ModuleError>> {
    match module {
        "apt" => Some(apt::prepare(args)),
        "command" => Some(command::prepare_command(args)),
        "dnf" => Some(dnf::prepare("dnf", args)),
        "yum" => Some(dnf::prepare("yum", args)),
        "package" => Some(package::prepare(args)),
        "get_url" => Some(get_url::prepare(args)),
        "group" => Some(group::prepare(args)),
        "ping" => Some(ping::prepare(args)),
        "script" => Some(script::prepare(args, ctx)),
        "service" => Some(systemd::prepare_service(args)),
        "systemd" | "systemd_service" => Some(systemd::prepare_systemd(args)),
        "raw" => Some(command::prepare_raw(args)),
        "shell" => Some(command::prepare_shell(args)),
        "unarchive" => Some(unarchive::prepare(args, ctx)),
        "uri" => Some(uri::prepare(args)),
        "user" => Some(user::prepare(args)),
        "wait_for" => Some(wait_for::prepare(args)),
        _ => None,
    }
}
