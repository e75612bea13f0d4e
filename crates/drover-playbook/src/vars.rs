//! Variable scoping: the layers Ansible merges for a host and task, in ansible-core 2.18's
//! order (`VariableManager.get_vars`), lowest first:
//!
//! 1. role defaults of the play's roles, then of the task's role (and its dependency chain)
//! 2. inventory (group and host vars, merged by drover-inventory)
//! 3. facts (`ansible_facts` from `setup`/`gather_facts`)
//! 4. play `vars`, then `vars_files`
//! 5. `vars/` of the play's roles (exported play-wide), then the task's role vars (its
//!    dependency chain, its dependencies' exports, its own `vars/`, the `roles:` entry `vars:`)
//! 6. block vars (outer blocks and imports first), then task vars
//! 7. `include_vars`
//! 8. `set_fact` and `register`
//! 9. role params (`- {role: x, param: 1}`, dependency chain first)
//! 10. include params (the `vars:` of a dynamic `include_tasks`/`include_role`)
//! 11. extra vars (`-e`)
//! 12. magic variables (`playbook_dir`, `role_path`, `ansible_play_hosts`, ...)
//!
//! Merging replaces whole values (`hash_behaviour = replace`, Ansible's default).

use serde_json::{Map, Value};

use crate::play::Play;
use crate::role::RoleInstance;
use crate::task::Task;

/// Merges `over` into `base` the way Ansible's default `hash_behaviour=replace` does: a key
/// in `over` replaces the whole value in `base`.
pub fn combine(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
}

/// The play's `vars:` blocks merged (untemplated), as used to template tags for listings.
pub fn play_vars(play: &Play) -> Map<String, Value> {
    let mut out = Map::new();
    for block in &play.vars {
        combine(&mut out, &block.vars);
    }
    out
}

/// The per-host layers the playbook does not know (filled by the inventory and executor).
#[derive(Clone, Copy, Debug)]
pub struct HostLayers<'a> {
    /// The host's merged inventory variables.
    pub inventory: &'a Map<String, Value>,
    /// Gathered facts (`ansible_facts` and the injected `ansible_*` names).
    pub facts: &'a Map<String, Value>,
    /// Loaded `vars_files` of the play for this host (see [`load_vars_files`]).
    pub vars_files: &'a Map<String, Value>,
    /// Variables loaded by `include_vars` on this host.
    pub include_vars: &'a Map<String, Value>,
    /// `set_fact` and `register` results on this host.
    pub set_facts: &'a Map<String, Value>,
    /// Include params of the dynamic include the task came from.
    pub include_params: &'a Map<String, Value>,
    /// Extra vars (`-e`).
    pub extra_vars: &'a Map<String, Value>,
    /// Magic variables (see [`magic_vars`]).
    pub magic: &'a Map<String, Value>,
}

/// A role's defaults as Ansible's `Role.get_default_vars(dep_chain)` builds them.
fn role_defaults(role: &RoleInstance, with_chain: bool) -> Map<String, Value> {
    let mut out = role.deps_defaults.clone();
    if with_chain {
        for parent in &role.dep_chain {
            combine(&mut out, &parent.defaults);
        }
    }
    combine(&mut out, &role.layer.defaults);
    out
}

/// A role's vars as `Role.get_vars(dep_chain, include_params=False)` builds them.
fn role_vars(role: &RoleInstance, exports_only: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if !exports_only {
        for parent in &role.dep_chain {
            combine(&mut out, &parent.entry_vars);
            combine(&mut out, &parent.role_vars);
        }
    }
    combine(&mut out, &role.deps_vars);
    combine(&mut out, &role.layer.role_vars);
    if !exports_only {
        combine(&mut out, &role.layer.entry_vars);
    }
    out
}

/// Role params with the dependency chain's params first.
fn role_params(role: &RoleInstance) -> Map<String, Value> {
    let mut out = Map::new();
    for parent in &role.dep_chain {
        combine(&mut out, &parent.params);
    }
    combine(&mut out, &role.layer.params);
    out
}

/// All variables visible to `task` (or to the play, when `task` is `None`) on one host, in
/// Ansible's precedence order. Values are untemplated; the templating layer resolves them
/// lazily.
pub fn task_vars(play: &Play, task: Option<&Task>, host: &HostLayers<'_>) -> Map<String, Value> {
    let mut all = Map::new();
    for role in &play.roles {
        combine(&mut all, &role_defaults(role, false));
    }
    let role = task.and_then(|t| t.role.as_deref());
    if let Some(role) = role {
        combine(&mut all, &role_defaults(role, true));
    }
    combine(&mut all, host.inventory);
    combine(&mut all, host.facts);
    combine(&mut all, &play_vars(play));
    combine(&mut all, host.vars_files);
    for role in &play.roles {
        combine(&mut all, &role_vars(role, true));
    }
    if let Some(task) = task {
        if let Some(role) = role {
            combine(&mut all, &role_vars(role, false));
        }
        for block in &task.scope_vars {
            combine(&mut all, &block.vars);
        }
        if let Some(v) = &task.vars {
            combine(&mut all, &v.vars);
        }
    }
    combine(&mut all, host.include_vars);
    combine(&mut all, host.set_facts);
    if let Some(role) = role {
        combine(&mut all, &role_params(role));
    }
    if task.is_some() {
        combine(&mut all, host.include_params);
    }
    combine(&mut all, host.extra_vars);
    combine(&mut all, host.magic);
    all
}

/// Removes `.` and resolves `..` components lexically (Python's `os.path.normpath`).
fn normpath(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Run-wide facts the magic variables need.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Hosts of the play (after `-l`), minus failed/unreachable ones.
    pub play_hosts: Vec<String>,
    /// Hosts of the current `serial` batch.
    pub play_batch: Vec<String>,
    /// `--check`.
    pub check_mode: bool,
    /// `--diff`.
    pub diff_mode: bool,
    /// The omit placeholder of the templating layer.
    pub omit: String,
}

/// The magic variables the playbook layer knows: `playbook_dir`, `ansible_play_name`,
/// `role_names`/`ansible_play_role_names`, `ansible_play_hosts(_all)`, `ansible_play_batch`,
/// `play_hosts`, `ansible_check_mode`, `ansible_diff_mode`, `omit`, and for role tasks
/// `role_name`, `role_path`, `ansible_role_name`. (Inventory magic — `groups`, `group_names`,
/// `inventory_hostname`, `hostvars` — comes from the inventory.)
pub fn magic_vars(play: &Play, task: Option<&Task>, run: &RunInfo) -> Map<String, Value> {
    let mut m = Map::new();
    // The directory of the playbook file holding the play (an imported playbook's own
    // directory, as Ansible sets its loader's basedir), absolute and normalized like Python's
    // `os.path.abspath`.
    let dir =
        normpath(&std::path::absolute(&play.basedir).unwrap_or_else(|_| play.basedir.clone()));
    m.insert(
        "playbook_dir".into(),
        Value::String(dir.display().to_string()),
    );
    let names: Vec<Value> = play
        .roles
        .iter()
        .map(|r| Value::String(r.name().to_string()))
        .collect();
    m.insert(
        "ansible_play_role_names".into(),
        Value::Array(names.clone()),
    );
    m.insert("role_names".into(), Value::Array(names));
    m.insert("ansible_play_name".into(), Value::String(play.name.clone()));
    let hosts: Vec<Value> = run.play_hosts.iter().cloned().map(Value::String).collect();
    let batch: Vec<Value> = run.play_batch.iter().cloned().map(Value::String).collect();
    m.insert("ansible_play_hosts_all".into(), Value::Array(hosts.clone()));
    m.insert("ansible_play_hosts".into(), Value::Array(hosts));
    m.insert("ansible_play_batch".into(), Value::Array(batch.clone()));
    m.insert("play_hosts".into(), Value::Array(batch));
    m.insert("ansible_check_mode".into(), Value::Bool(run.check_mode));
    m.insert("ansible_diff_mode".into(), Value::Bool(run.diff_mode));
    m.insert("omit".into(), Value::String(run.omit.clone()));
    if let Some(role) = task.and_then(|t| t.role.as_deref()) {
        m.insert("role_name".into(), Value::String(role.name().to_string()));
        m.insert(
            "ansible_role_name".into(),
            Value::String(role.name().to_string()),
        );
        let path =
            std::path::absolute(&role.layer.path).unwrap_or_else(|_| role.layer.path.clone());
        m.insert(
            "role_path".into(),
            Value::String(path.display().to_string()),
        );
    }
    m
}

/// Loads the play's `vars_files` for one host: each name is templated with `vars` (the host's
/// variables so far), resolved against the play's directory and must hold a mapping. A list
/// entry names alternatives: the first that exists is used.
pub fn load_vars_files(
    play: &Play,
    templater: &dyn crate::loader::LoadTemplater,
    vars: &Map<String, Value>,
) -> crate::error::LoadResult<Map<String, Value>> {
    use drover_diag::Diagnostic;
    let mut out = Map::new();
    for entry in &play.vars_files {
        let names: Vec<&str> = match &entry.value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => {
                return Err(Diagnostic::error(
                    "a `vars_files` entry must be a file name or a list of names",
                )
                .with_span(entry.span.clone()));
            }
        };
        let mut found = None;
        let mut tried = Vec::new();
        let mut directory = false;
        for name in &names {
            let rendered = if name.contains("{{") {
                match templater.render(name, vars) {
                    Ok(r) => r,
                    Err(why) if names.len() > 1 => {
                        tried.push(format!("{name} ({why})"));
                        continue;
                    }
                    Err(why) => {
                        return Err(Diagnostic::error(format!(
                            "cannot template the vars file name `{name}`: {why}"
                        ))
                        .with_span(entry.span.clone()));
                    }
                }
            } else {
                (*name).to_string()
            };
            let path = play.basedir.join(&rendered);
            if path.is_file() {
                found = Some(path);
                break;
            }
            if path.is_dir() {
                directory = true;
                tried.push(format!("{} (a directory)", path.display()));
                continue;
            }
            tried.push(path.display().to_string());
        }
        let Some(path) = found else {
            // ansible-playbook reads a directory and fails to (exit 4); it skips a missing file
            // without a word, where drover stops (exit 1)
            let code = if directory { 4 } else { 1 };
            return Err(
                Diagnostic::error(format!("vars file not found: {}", tried.join(", ")))
                    .with_span(entry.span.clone())
                    .with_help("paths in `vars_files` are relative to the playbook's directory")
                    .with_exit_code(code),
            );
        };
        let loaded = drover_yaml::load_file(&path)?.single()?;
        if let Some(node) = &loaded {
            crate::error::refuse_vault(node)?;
        }
        match loaded {
            None => {}
            Some(node) => match node.to_json() {
                Value::Object(map) => combine(&mut out, &map),
                _ => {
                    return Err(Diagnostic::error(format!(
                        "`{}` must hold a mapping of variables",
                        path.display()
                    ))
                    .with_span(node.span.clone()));
                }
            },
        }
    }
    Ok(out)
}

/// The play-level variables without a host (what ansible-playbook templates tags with when
/// listing): role defaults, play `vars`, `vars_files`, the roles' exported vars, extra vars.
/// `vars_files` names that need host variables cannot be resolved here and are an error.
pub fn play_level_vars(
    play: &Play,
    extra_vars: &Map<String, Value>,
    templater: &dyn crate::loader::LoadTemplater,
) -> crate::error::LoadResult<Map<String, Value>> {
    let mut so_far = play_vars(play);
    combine(&mut so_far, extra_vars);
    let vars_files = load_vars_files(play, templater, &so_far)?;
    let empty = Map::new();
    let layers = HostLayers {
        inventory: &empty,
        facts: &empty,
        vars_files: &vars_files,
        include_vars: &empty,
        set_facts: &empty,
        include_params: &empty,
        extra_vars,
        magic: &empty,
    };
    Ok(task_vars(play, None, &layers))
}
