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

#[cfg(test)]
mod tests {
    use super::util::testing::{Files, out, prepare_with};
    use super::*;

    /// Every listed module dispatches, and dispatch knows no unlisted module.
    #[test]
    fn modules_list_matches_dispatch() {
        let files = Files(std::path::PathBuf::from("/nonexistent"));
        let ctx = TaskContext {
            host: "h",
            controller: &files,
            diff: false,
        };
        for name in MODULES {
            assert!(
                dispatch(name, &Map::new(), &ctx).is_some(),
                "`{name}` is listed but not dispatched"
            );
        }
        assert!(dispatch("copy", &Map::new(), &ctx).is_none());
        let mut sorted = MODULES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, MODULES, "keep MODULES alphabetised");
    }

    /// `service` says plainly that it needs systemd.
    #[test]
    fn service_refuses_non_systemd_nodes() {
        let files = Files(std::path::PathBuf::from("/nonexistent"));
        let Ok(Prepared::Remote(a)) = prepare_with(
            "service",
            serde_json::json!({"name": "nginx", "state": "started"}),
            &files,
        ) else {
            panic!("remote expected")
        };
        assert!(
            a.probe()
                .unwrap()
                .script
                .contains("[ -d /run/systemd/system ]")
        );
        let err = a
            .plan(Some(&out(
                0,
                "error=this node does not run systemd; drover's `service` module supports systemd only\n",
                "",
            )))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("supports systemd only"), "{err}");
    }
}
