//! One task: its module and arguments, its own keywords and what it inherited, parsed once at
//! load time with every value keeping its span.

use std::sync::Arc;

use drover_diag::{Diagnostic, Span};
use drover_yaml::{Node, NodeValue};
use indexmap::IndexMap;
use serde_json::Value;

use crate::error::{LoadResult, expected, refuse_vault, refused, unknown_key};
use crate::keywords;
use crate::kv::parse_kv;
use crate::modules::{self, Resolved};
use crate::role::RoleInstance;
use crate::scope::{Inherit, Keywords, Spanned, VarsBlock};

/// A task (or handler) ready for the executor.
#[derive(Clone, Debug)]
pub struct Task {
    /// The whole task mapping.
    pub span: Span,
    /// `name:` as written (may contain a template).
    pub name: Option<Spanned<String>>,
    /// The module key as written (`command`, `ansible.builtin.command`).
    pub action: String,
    /// The module's short name (`command`).
    pub module: &'static str,
    /// The module key's span.
    pub action_span: Span,
    /// Module arguments (`args:` merged under the module's own), untemplated; free-form text
    /// is split into `k=v` options and `_raw_params`.
    pub args: IndexMap<String, Spanned<Value>>,
    /// Effective keywords (own over inherited): `become`, `become_user`, `ignore_errors`,
    /// `ignore_unreachable`, `any_errors_fatal`, `no_log`, `check_mode`, `diff`, `run_once`,
    /// `throttle`, `delegate_to`, and `environment` (accumulated).
    pub keywords: Keywords,
    /// Conditions, inherited ones first; all must hold.
    pub when: Vec<Spanned<Value>>,
    /// The task's own tags.
    pub own_tags: Vec<String>,
    /// Own plus inherited tags (play, roles, blocks, imports); may contain templates.
    pub tags: Vec<String>,
    /// The subset of `tags` used as written, never templated (play and `roles:` entry tags),
    /// as Ansible does.
    pub literal_tags: Vec<String>,
    /// `loop`/`with_items`/`with_dict`.
    pub loop_spec: Option<LoopSpec>,
    /// `register:`.
    pub register: Option<Spanned<String>>,
    /// `notify:` handler names or `listen` topics.
    pub notify: Vec<Spanned<String>>,
    /// `listen:` topics (handlers only).
    pub listen: Vec<String>,
    /// `changed_when:` conditions.
    pub changed_when: Vec<Spanned<Value>>,
    /// `failed_when:` conditions.
    pub failed_when: Vec<Spanned<Value>>,
    /// `until:` condition.
    pub until: Option<Spanned<Value>>,
    /// `retries:`.
    pub retries: Option<Spanned<Value>>,
    /// `delay:`.
    pub delay: Option<Spanned<Value>>,
    /// `vars:` of enclosing blocks/imports, outermost first.
    pub scope_vars: Vec<Arc<VarsBlock>>,
    /// The task's own `vars:`.
    pub vars: Option<Arc<VarsBlock>>,
    /// The role the task belongs to.
    pub role: Option<Arc<RoleInstance>>,
    /// For `include_tasks`/`include_role`: the scope the included tasks inherit (the
    /// include's enclosing play/role/blocks, not the include's own keywords), and the
    /// directory its file name resolves against. Set by the loader.
    pub include_context: Option<Arc<IncludeContext>>,
}

/// What a dynamic include needs to load its tasks at run time.
#[derive(Clone, Debug)]
pub struct IncludeContext {
    /// The include's enclosing scope.
    pub scope: Inherit,
    /// Directory of the file holding the include.
    pub dir: std::path::PathBuf,
}

/// How a task loops.
#[derive(Clone, Debug)]
pub struct LoopSpec {
    /// `loop`, `with_items` or `with_dict`.
    pub kind: &'static str,
    /// The list (or dict for `with_dict`) expression.
    pub items: Spanned<Value>,
    /// `loop_control:`.
    pub control: LoopControl,
}

/// `loop_control:` settings.
#[derive(Clone, Debug, Default)]
pub struct LoopControl {
    /// `loop_var` (default `item`).
    pub loop_var: Option<Spanned<Value>>,
    /// `label`.
    pub label: Option<Spanned<Value>>,
    /// `index_var`.
    pub index_var: Option<Spanned<Value>>,
    /// `pause` (seconds between items).
    pub pause: Option<Spanned<Value>>,
    /// `extended`.
    pub extended: Option<Spanned<Value>>,
}

impl Task {
    /// What Ansible prints for the task: `role : name`, `name`, or the module as written.
    pub fn display_name(&self) -> String {
        if self.name.is_none()
            && self.module == "include_role"
            && let Some(role) = self.arg_str("name")
        {
            // Ansible's IncludeRole.get_name.
            return format!("{} : {role}", self.action);
        }
        match (&self.name, &self.role) {
            (Some(n), Some(r)) => format!("{} : {}", r.name(), n.value),
            (Some(n), None) => n.value.clone(),
            (None, Some(r)) => format!("{} : {}", r.name(), self.action),
            (None, None) => self.action.clone(),
        }
    }

    /// The name column of `--list-tasks`: the name (with role prefix) or the bare module.
    pub fn listing_name(&self) -> String {
        if self.name.is_some() {
            self.display_name()
        } else {
            self.action.clone()
        }
    }

    /// The task's string argument (e.g. `file` of `include_tasks`, either form).
    pub fn arg_str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(|v| v.value.as_str())
    }
}

/// Ansible's `boolean()` on a keyword written as text.
pub fn parse_bool_text(s: &str) -> Option<bool> {
    drover_python::boolean(&serde_json::Value::String(s.to_string()))
}

/// Reads a `tags:` value (a string split on commas, a list of strings/ints, or an int).
pub fn parse_tags(node: &Node) -> LoadResult<Vec<String>> {
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Str(s) => Ok(crate::tags::split_tag_string(s)),
        NodeValue::Int(i) => Ok(vec![i.to_string()]),
        NodeValue::Seq(items) => items
            .iter()
            .map(|item| match &item.value {
                NodeValue::Str(s) => Ok(s.clone()),
                NodeValue::Int(i) => Ok(i.to_string()),
                _ => Err(expected(item, "a string", "each tag")),
            })
            .collect(),
        _ => Err(expected(node, "a list of strings", "`tags`")
            .with_help("write `tags: [a, b]` or `tags: a`")),
    }
}

/// Reads a condition list (`when`, `changed_when`, `failed_when`): a string, bool or list.
pub fn parse_conditions(node: &Node) -> LoadResult<Vec<Spanned<Value>>> {
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => items.iter().map(parse_condition).collect(),
        _ => Ok(vec![parse_condition(node)?]),
    }
}

fn parse_condition(node: &Node) -> LoadResult<Spanned<Value>> {
    match &node.value {
        NodeValue::Str(_) | NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_) => {
            Ok(Spanned::from_node(node))
        }
        _ => Err(expected(
            node,
            "a Jinja2 expression (string) or boolean",
            "a condition",
        )),
    }
}

/// Reads a string or list of strings (`notify`, `listen`).
pub fn parse_string_list(node: &Node, what: &str) -> LoadResult<Vec<Spanned<String>>> {
    let one = |n: &Node| match &n.value {
        NodeValue::Str(s) => Ok(Spanned {
            value: s.clone(),
            span: n.span.clone(),
        }),
        _ => Err(expected(n, "a string", what)),
    };
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(node)?]),
    }
}

/// Reads a `vars:` mapping.
pub fn parse_vars(node: &Node, what: &str) -> LoadResult<Option<Arc<VarsBlock>>> {
    match &node.value {
        NodeValue::Null => Ok(None),
        NodeValue::Map(map) => {
            let mut vars = serde_json::Map::new();
            for (k, v) in map.iter() {
                let name = k.key_string();
                check_var_name(&name, k)?;
                vars.insert(name, v.to_json());
            }
            Ok(Some(Arc::new(VarsBlock {
                span: node.span.clone(),
                vars,
            })))
        }
        _ => Err(expected(
            node,
            "a mapping of variable names to values",
            what,
        )),
    }
}

/// Python's keywords (`keyword.kwlist`): not variable names for Ansible.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Ansible's rule for variable names (`ansible.utils.vars.isidentifier`): an ASCII Python
/// identifier that is not a Python keyword.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PYTHON_KEYWORDS.contains(&name)
}

/// The help for a name that is not [`is_identifier`].
pub const VAR_NAME_HELP: &str = "variable names must be ASCII letters, digits and underscores, not starting with a digit, and not a Python keyword such as `class`";

/// Ansible's rule for variable names: see [`is_identifier`].
pub fn check_var_name(name: &str, node: &Node) -> LoadResult<()> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(Diagnostic::error(format!("invalid variable name `{name}`"))
            .with_span(node.span.clone())
            .with_help(VAR_NAME_HELP))
    }
}

/// Sets the scoped keywords found in `map` (`become`, `ignore_errors`, ...) on `keywords`.
pub fn apply_scoped_keywords(map: &drover_yaml::Mapping, keywords: &mut Keywords) {
    for (k, v) in map.iter() {
        let key = k.key_string();
        match key.as_str() {
            "environment" => keywords.environment.push(Spanned::from_node(v)),
            "become" | "become_user" | "ignore_errors" | "ignore_unreachable"
            | "any_errors_fatal" | "no_log" | "check_mode" | "diff" | "run_once" | "throttle"
            | "delegate_to" | "connection" => keywords.set(&key, Spanned::from_node(v)),
            _ => {}
        }
    }
}

/// Parses a task mapping (not a block). Imports are expanded by the caller.
pub fn parse_task(node: &Node, inherit: &Inherit) -> LoadResult<Task> {
    refuse_vault(node)?;
    let Some(map) = node.as_map() else {
        return Err(expected(node, "a mapping", "a task")
            .with_help("each task is a mapping such as `- name: ...` / `  command: ...`"));
    };
    let handler = inherit.handler;
    let mut action: Option<(&Node, &Node, &'static str)> = None;
    let mut loop_spec: Option<(&'static str, &Node)> = None;
    for (k, v) in map.iter() {
        let key = k.key_string();
        if keywords::is_task_keyword(&key, handler) {
            if let Some(kind) = ["loop", "with_items", "with_dict"]
                .into_iter()
                .find(|l| *l == key)
            {
                if let Some((prev, _)) = loop_spec {
                    return Err(Diagnostic::error(format!(
                        "a task can have only one loop, found `{prev}` and `{key}`"
                    ))
                    .with_span(k.span.clone())
                    .with_help("keep one of `loop`, `with_items` or `with_dict`"));
                }
                loop_spec = Some((kind, v));
            }
            continue;
        }
        if let Some(lookup) = key.strip_prefix("with_") {
            return Err(refused(
                k,
                &format!("the `{lookup}` lookup"),
                "drover implements `loop`, `with_items` and `with_dict`; rewrite it as `loop:` over a list",
            ));
        }
        if key == "block" || key == "rescue" || key == "always" {
            return Err(
                Diagnostic::error(format!("`{key}` is only valid in a block"))
                    .with_span(k.span.clone()),
            );
        }
        match modules::resolve(&key) {
            Resolved::Known(module) => {
                if module == "import_playbook" {
                    return Err(
                        Diagnostic::error("`import_playbook` is only valid at play level")
                            .with_span(k.span.clone())
                            .with_help(
                                "move it to the top level of the playbook, next to the plays",
                            ),
                    );
                }
                if let Some((prev, _, _)) = action {
                    return Err(Diagnostic::error(format!(
                        "conflicting action statements: `{}` and `{key}`",
                        prev.key_string()
                    ))
                    .with_span(k.span.clone())
                    .with_help("a task runs exactly one module; split it into two tasks"));
                }
                action = Some((k, v, module));
            }
            Resolved::Refused(why) => return Err(refused(k, "module", why)),
            Resolved::Collection => {
                return Err(refused(
                    k,
                    "only `ansible.builtin` modules are implemented",
                    "use one of drover's modules (see `drover modules`), or `command`/`shell`",
                ));
            }
            Resolved::Unknown => {
                if key == "listen" {
                    return Err(Diagnostic::error("`listen` is only valid on handlers")
                        .with_span(k.span.clone())
                        .with_help("move the task under `handlers:`, or use `notify:` to trigger a handler"));
                }
                if let Some(why) = keywords::refused(&key) {
                    return Err(refused(k, "task keyword", why));
                }
                let mut candidates = keywords::task_keywords(handler);
                candidates.extend(modules::known());
                return Err(unknown_key(
                    k,
                    "task keyword or module",
                    &candidates,
                    "fix the spelling, or remove the key",
                ));
            }
        }
    }
    let Some((action_key, action_value, module)) = action else {
        return Err(Diagnostic::error("task has no module")
            .with_span(node.span.clone())
            .with_help("add one module key such as `command: ...` or `debug: msg=...`"));
    };
    let args = parse_args(map, action_key, action_value, module)?;
    build_task(node, map, action_key, module, args, loop_spec, inherit)
}

fn build_task(
    node: &Node,
    map: &drover_yaml::Mapping,
    action_key: &Node,
    module: &'static str,
    args: IndexMap<String, Spanned<Value>>,
    loop_spec: Option<(&'static str, &Node)>,
    inherit: &Inherit,
) -> LoadResult<Task> {
    let mut task = Task {
        span: node.span.clone(),
        name: None,
        action: action_key.key_string(),
        module,
        action_span: action_key.span.clone(),
        args,
        keywords: inherit.keywords.clone(),
        when: inherit.when.clone(),
        own_tags: Vec::new(),
        tags: inherit.tags.clone(),
        literal_tags: inherit.literal_tags.clone(),
        loop_spec: None,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: Vec::new(),
        failed_when: Vec::new(),
        until: None,
        retries: None,
        delay: None,
        scope_vars: inherit.vars.clone(),
        vars: None,
        role: inherit.role.clone(),
        include_context: None,
    };
    apply_scoped_keywords(map, &mut task.keywords);
    for (k, v) in map.iter() {
        match k.key_string().as_str() {
            "name" => task.name = Some(string_value(v, "`name`")?),
            "when" => task.when.extend(parse_conditions(v)?),
            "tags" => task.own_tags = parse_tags(v)?,
            "register" => {
                let name = string_value(v, "`register`")?;
                // ansible-playbook: "Invalid variable name in 'register' specified", exit 4
                if !is_identifier(&name.value) {
                    return Err(Diagnostic::error(format!(
                        "invalid variable name `{}` in `register`",
                        name.value
                    ))
                    .with_span(name.span)
                    .with_help(VAR_NAME_HELP));
                }
                task.register = Some(name);
            }
            "notify" => task.notify = parse_string_list(v, "`notify`")?,
            "listen" => {
                task.listen = parse_string_list(v, "`listen`")?
                    .into_iter()
                    .map(|s| s.value)
                    .collect()
            }
            "changed_when" => task.changed_when = parse_conditions(v)?,
            "failed_when" => task.failed_when = parse_conditions(v)?,
            "until" => task.until = Some(Spanned::from_node(v)),
            "retries" => task.retries = Some(Spanned::from_node(v)),
            "delay" => task.delay = Some(Spanned::from_node(v)),
            "vars" => task.vars = parse_vars(v, "`vars`")?,
            _ => {}
        }
    }
    task.tags.extend(task.own_tags.iter().cloned());
    if let Some((kind, items)) = loop_spec {
        let control = match map.get("loop_control") {
            Some(lc) => parse_loop_control(lc)?,
            None => LoopControl::default(),
        };
        // A literal that is not a list (`loop: 3`, `with_dict: [1]`) fails the task at run
        // time, as in Ansible (so `ignore_errors` and `rescue` apply); `with_items: 3` runs
        // once with that item.
        task.loop_spec = Some(LoopSpec {
            kind,
            items: Spanned::from_node(items),
            control,
        });
    } else if let Some((k, _)) = map.get_entry("loop_control") {
        return Err(Diagnostic::error("`loop_control` without a loop")
            .with_span(k.span.clone())
            .with_help("add `loop:` or remove `loop_control`"));
    }
    Ok(task)
}

fn string_value(node: &Node, what: &str) -> LoadResult<Spanned<String>> {
    let text = match &node.value {
        NodeValue::Str(s) => s.clone(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => drover_yaml::python_float_repr(*f),
        NodeValue::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        _ => return Err(expected(node, "a string", what)),
    };
    Ok(Spanned {
        value: text,
        span: node.span.clone(),
    })
}

fn parse_loop_control(node: &Node) -> LoadResult<LoopControl> {
    let Some(map) = node.as_map() else {
        return Err(expected(node, "a mapping", "`loop_control`"));
    };
    let mut lc = LoopControl::default();
    for (k, v) in map.iter() {
        let value = Some(Spanned::from_node(v));
        match k.key_string().as_str() {
            "loop_var" => lc.loop_var = value,
            "label" => lc.label = value,
            "index_var" => lc.index_var = value,
            "pause" => lc.pause = value,
            "extended" => lc.extended = value,
            "extended_allitems" | "break_when" => {
                return Err(refused(
                    k,
                    "loop_control option",
                    "remove it; drover implements loop_var, label, index_var, pause and extended",
                ));
            }
            _ => {
                return Err(unknown_key(
                    k,
                    "loop_control option",
                    keywords::LOOP_CONTROL,
                    "valid options are loop_var, label, index_var, pause and extended",
                ));
            }
        }
    }
    Ok(lc)
}

/// Module arguments: `args:` first, then the module's own (string or mapping) on top.
fn parse_args(
    map: &drover_yaml::Mapping,
    action_key: &Node,
    value: &Node,
    module: &'static str,
) -> LoadResult<IndexMap<String, Spanned<Value>>> {
    let mut args = IndexMap::new();
    if let Some(extra) = map.get("args") {
        match &extra.value {
            NodeValue::Map(m) => {
                for (k, v) in m.iter() {
                    args.insert(k.key_string(), Spanned::from_node(v));
                }
            }
            NodeValue::Null => {}
            _ => {
                return Err(expected(extra, "a mapping", "`args`")
                    .with_help("write the module arguments as a mapping under `args:`"));
            }
        }
    }
    match &value.value {
        NodeValue::Null => {}
        NodeValue::Str(text) => {
            let check_raw = modules::command_like(module);
            let parsed = parse_kv(text, check_raw).map_err(|e| {
                Diagnostic::error(e)
                    .with_span(value.span.clone())
                    .with_help("quote the whole value, or write the arguments as a mapping")
            })?;
            for (k, v) in parsed {
                args.insert(
                    k,
                    Spanned {
                        value: Value::String(v),
                        span: value.span.clone(),
                    },
                );
            }
        }
        NodeValue::Map(m) => {
            for (k, v) in m.iter() {
                args.insert(k.key_string(), Spanned::from_node(v));
            }
        }
        _ => {
            return Err(expected(
                value,
                "a string or a mapping",
                &format!("the arguments of `{}`", action_key.key_string()),
            ));
        }
    }
    if args.contains_key("_raw_params") && !modules::raw_params_allowed(module) {
        return Err(Diagnostic::error(format!(
            "this task `{}` has extra params, which is only allowed in the following modules: {}",
            action_key.key_string(),
            modules::raw_params_modules().join(", ")
        ))
        .with_span(value.span.clone())
        .with_help(
            "write every argument as `key=value`, and quote values with spaces (`msg=\"a b\"`)",
        ));
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(yaml: &str) -> LoadResult<Task> {
        let node = drover_yaml::load_text("t.yml", yaml)
            .unwrap()
            .single()
            .unwrap()
            .unwrap();
        parse_task(&node, &Inherit::default())
    }

    #[test]
    fn parses_free_form_and_keywords() {
        let t = task("name: x\nshell: echo hi chdir=/tmp\ntags: a, b\nwhen: y\nbecome: true\n")
            .unwrap();
        assert_eq!(t.module, "shell");
        assert_eq!(t.arg_str("_raw_params"), Some("echo hi"));
        assert_eq!(t.arg_str("chdir"), Some("/tmp"));
        assert_eq!(t.tags, ["a", "b"]);
        assert_eq!(t.when.len(), 1);
        assert_eq!(t.keywords.literal_bool("become"), Some(true));
        let t =
            task("ansible.builtin.file: path=/x state=directory\nargs: {mode: '0755'}\n").unwrap();
        assert_eq!(t.module, "file");
        assert_eq!(t.action, "ansible.builtin.file");
        assert_eq!(t.args.keys().collect::<Vec<_>>(), ["mode", "path", "state"]);
    }

    #[test]
    fn refuses_unknown_and_unsupported_names() {
        let e = task("name: x\ncpoy: src=a dest=b\n").unwrap_err();
        assert!(
            e.message.contains("unknown task keyword or module `cpoy`"),
            "{e}"
        );
        assert!(e.help.as_deref().unwrap_or("").contains("`copy`"), "{e}");
        assert_eq!(e.location().unwrap(), "t.yml:2:1");
        let e = task("debug: msg=x\nwith_fileglob: '*.txt'\n").unwrap_err();
        assert!(
            e.message.contains("`with_fileglob` is not supported"),
            "{e}"
        );
        let e = task("local_action: command echo\n").unwrap_err();
        assert!(e.message.contains("`local_action` is not supported"), "{e}");
        let e = task("community.general.ufw: rule=allow\n").unwrap_err();
        assert!(e.message.contains("ansible.builtin"), "{e}");
        let e = task("debug: msg=a b\n").unwrap_err();
        assert!(e.message.contains("extra params"), "{e}");
        let e = task("command: a\nshell: b\n").unwrap_err();
        assert!(e.message.contains("conflicting action"), "{e}");
        let e = task("name: x\n").unwrap_err();
        assert!(e.message.contains("no module"), "{e}");
        let e = task("debug: msg=x\nasync: 10\n").unwrap_err();
        assert!(e.message.contains("`async` is not supported"), "{e}");
        let e = task("add_host: name=x\n").unwrap_err();
        assert!(e.message.contains("`add_host` is not supported"), "{e}");
    }
}
