//! The one table of modules: every name a task may use, who runs it, and how its free-form
//! text is read. The playbook loader accepts exactly these names, the executor dispatches
//! exactly these, and `ansible.builtin.X`/`ansible.legacy.X` are the same as `X`.

use serde_json::{Map, Value};

use crate::builtin::{files, system};
use crate::{ModuleError, Prepared, TaskContext};

/// Prepares a node module's task from its templated arguments.
pub type PrepareFn = fn(&Map<String, Value>, &TaskContext<'_>) -> Result<Prepared, ModuleError>;

/// Who carries out a module.
#[derive(Clone, Copy)]
pub enum Runner {
    /// This crate, through an [`crate::Action`] on the node (or an answer on the controller).
    Node(PrepareFn),
    /// The executor itself, because the module reads or changes its state or control flow
    /// (`debug`, `set_fact`, `meta`, `include_tasks`, `setup`, ...).
    Engine,
    /// The playbook loader, before anything runs (`import_tasks`, `import_role`,
    /// `import_playbook`).
    Loader,
}

/// What a module makes of free-form text (`- shell: echo hi`, `- include_vars: x.yml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeForm {
    /// Only `k=v` words.
    No,
    /// Words that are not `k=v` are `_raw_params`.
    Words,
    /// A command line: `k=v` words stay in `_raw_params` too, except the command options.
    CommandLine,
}

/// Whether the executor may take a task's probe ahead of time, in one round trip with the
/// probes of the tasks before it ([`crate::Transport::probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookAhead {
    /// The probe reads only the node's own state (files, packages, units, users): it may be
    /// taken early, and the tasks after it may be looked at too.
    Probe,
    /// As `Probe`, but the task usually runs a command (`command`, `shell`, ...): its probe
    /// (`creates`/`removes`) is the last of a batch.
    Last,
    /// The probe reads what changes by itself or lives elsewhere (ports, URLs): never early,
    /// and a batch stops before it. Engine modules that change no node pass through.
    Never,
}

/// One module.
#[derive(Clone, Copy)]
pub struct ModuleSpec {
    /// The short name.
    pub name: &'static str,
    /// Who runs it.
    pub runner: Runner,
    /// How it reads free-form text.
    pub free_form: FreeForm,
    /// Whether its probe may be taken ahead (for engine modules: whether a batch may look past
    /// it, `Probe`, or stops there, `Never`).
    pub look_ahead: LookAhead,
}

const fn node(name: &'static str, prepare: PrepareFn) -> ModuleSpec {
    ModuleSpec {
        name,
        runner: Runner::Node(prepare),
        free_form: FreeForm::No,
        look_ahead: LookAhead::Probe,
    }
}

/// A node module whose probe is never taken ahead.
const fn live(name: &'static str, prepare: PrepareFn) -> ModuleSpec {
    ModuleSpec {
        look_ahead: LookAhead::Never,
        ..node(name, prepare)
    }
}

const fn command(name: &'static str, prepare: PrepareFn) -> ModuleSpec {
    ModuleSpec {
        name,
        runner: Runner::Node(prepare),
        free_form: FreeForm::CommandLine,
        look_ahead: LookAhead::Last,
    }
}

/// An engine module that changes neither a node nor the control flow (a batch looks past it).
const fn engine(name: &'static str, free_form: FreeForm) -> ModuleSpec {
    ModuleSpec {
        name,
        runner: Runner::Engine,
        free_form,
        look_ahead: LookAhead::Probe,
    }
}

/// An engine module a batch stops at (it gathers, includes or changes the control flow).
const fn engine_stop(name: &'static str, free_form: FreeForm) -> ModuleSpec {
    ModuleSpec {
        look_ahead: LookAhead::Never,
        ..engine(name, free_form)
    }
}

const fn loader(name: &'static str) -> ModuleSpec {
    ModuleSpec {
        name,
        runner: Runner::Loader,
        free_form: FreeForm::Words,
        look_ahead: LookAhead::Never,
    }
}

/// Every module drover knows, alphabetised.
pub const MODULES: &[ModuleSpec] = &[
    node("apt", |a, _| system::apt::prepare(a)),
    engine("assert", FreeForm::No),
    node("blockinfile", files::blockinfile::prepare),
    command("command", |a, _| system::command::prepare_command(a)),
    node("copy", files::copy::prepare),
    engine("debug", FreeForm::No),
    node("dnf", |a, _| system::dnf::prepare("dnf", a)),
    engine("fail", FreeForm::No),
    node("fetch", files::fetch::prepare),
    node("file", files::file::prepare),
    engine_stop("gather_facts", FreeForm::No),
    live("get_url", |a, _| system::get_url::prepare(a)),
    node("group", |a, _| system::group::prepare(a)),
    loader("import_playbook"),
    loader("import_role"),
    loader("import_tasks"),
    engine_stop("include_role", FreeForm::Words),
    engine_stop("include_tasks", FreeForm::Words),
    engine("include_vars", FreeForm::Words),
    node("lineinfile", files::lineinfile::prepare),
    engine_stop("meta", FreeForm::Words),
    node("package", |a, _| system::package::prepare(a)),
    engine_stop("pause", FreeForm::No),
    node("ping", |a, _| system::ping::prepare(a)),
    command("raw", |a, _| system::command::prepare_raw(a)),
    command("script", system::script::prepare),
    node("service", |a, _| system::systemd::prepare_service(a)),
    engine("set_fact", FreeForm::Words),
    engine_stop("setup", FreeForm::No),
    command("shell", |a, _| system::command::prepare_shell(a)),
    node("slurp", files::slurp::prepare),
    node("stat", files::stat::prepare),
    node("systemd", |a, _| system::systemd::prepare_systemd(a)),
    node("systemd_service", |a, _| {
        system::systemd::prepare_systemd(a)
    }),
    node("template", files::template::prepare),
    node("unarchive", system::unarchive::prepare),
    live("uri", |a, _| system::uri::prepare(a)),
    node("user", |a, _| system::user::prepare(a)),
    live("wait_for", |a, _| system::wait_for::prepare(a)),
    node("yum", |a, _| system::dnf::prepare("yum", a)),
];

/// The short name of a module (`ansible.builtin.copy` → `copy`; `ansible.legacy.X` too).
pub fn canonical_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// The module a task names (short or `ansible.builtin.`/`ansible.legacy.` name).
pub fn lookup(name: &str) -> Option<&'static ModuleSpec> {
    let short = canonical_name(name);
    MODULES
        .binary_search_by(|m| m.name.cmp(short))
        .ok()
        .map(|i| &MODULES[i])
}

/// Prepares a task for the node module `module` with its templated arguments.
pub fn prepare(
    module: &str,
    args: &Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Result<Prepared, ModuleError> {
    match lookup(module).map(|m| m.runner) {
        Some(Runner::Node(prepare)) => prepare(args, ctx),
        Some(Runner::Engine | Runner::Loader) => Err(ModuleError::internal(format!(
            "module `{module}` is run by the engine, not on the node"
        ))),
        None => Err(ModuleError::params(format!(
            "module `{module}` is not implemented in drover"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_without_duplicates() {
        for pair in MODULES.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "keep MODULES alphabetised: `{}` before `{}`",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn names_resolve_with_and_without_their_collection() {
        assert_eq!(lookup("copy").map(|m| m.name), Some("copy"));
        assert_eq!(lookup("ansible.builtin.copy").map(|m| m.name), Some("copy"));
        assert_eq!(
            lookup("ansible.legacy.shell").map(|m| m.name),
            Some("shell")
        );
        assert!(lookup("cpoy").is_none());
        assert!(lookup("community.general.copy").is_none());
    }

    /// Every node module of the table prepares (errors about missing arguments are fine: what
    /// matters is that the name reaches its module).
    #[test]
    fn every_node_module_dispatches() {
        struct NoFiles;
        impl crate::Controller for NoFiles {
            fn find_file(&self, name: &str) -> Result<std::path::PathBuf, String> {
                Err(format!("no file {name}"))
            }
            fn find_template(&self, name: &str) -> Result<std::path::PathBuf, String> {
                Err(format!("no template {name}"))
            }
            fn render_template(
                &self,
                _: &std::path::Path,
                _: &str,
                _: &str,
            ) -> Result<String, String> {
                Err("no templates".into())
            }
        }
        let ctx = TaskContext {
            host: "h",
            controller: &NoFiles,
            diff: false,
            escalated: false,
        };
        for m in MODULES {
            let result = prepare(m.name, &Map::new(), &ctx);
            match m.runner {
                Runner::Node(_) => {
                    if let Err(e) = result {
                        assert!(
                            !e.to_string().contains("not implemented")
                                && !matches!(e, ModuleError::Internal(_)),
                            "`{}` does not dispatch: {e}",
                            m.name
                        );
                    }
                }
                Runner::Engine | Runner::Loader => {
                    assert!(
                        matches!(result, Err(ModuleError::Internal(_))),
                        "{}",
                        m.name
                    );
                }
            }
        }
        assert!(
            prepare("nope", &Map::new(), &ctx)
                .err()
                .is_some_and(|e| e.to_string().contains("not implemented"))
        );
    }
}
