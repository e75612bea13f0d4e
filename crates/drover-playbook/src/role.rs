//! Roles: finding them (`roles/` beside the playbook, `DROVER_ROLES_PATH`, a direct path),
//! reading `defaults/ vars/ meta/ tasks/ handlers/`, meta dependencies, and compiling a role
//! reference (`roles:` entry, dependency, `import_role`) into tasks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_diag::{Diagnostic, Span};
use drover_yaml::{Node, NodeValue};
use serde_json::{Map, Value};

use crate::block::{Item, check_include_args};
use crate::error::{LoadResult, expected, refuse_vault, refused};
use crate::keywords;
use crate::loader::{Loader, main_file};
use crate::scope::{Inherit, Spanned};
use crate::task::{Task, apply_scoped_keywords, parse_conditions, parse_tags, parse_vars};
use crate::vars::combine;

/// What one role contributes to variables, known before its dependencies load.
#[derive(Clone, Debug)]
pub struct RoleLayer {
    /// The role's name as referenced (`common`, or the last path component).
    pub name: String,
    /// The role directory.
    pub path: PathBuf,
    /// `defaults/main.yml` (or `defaults_from`).
    pub defaults: Map<String, Value>,
    /// `vars/main.yml` (or `vars_from`).
    pub role_vars: Map<String, Value>,
    /// Role parameters: the extra keys of the `roles:` entry (`- {role: x, port: 1}`).
    pub params: Map<String, Value>,
    /// `vars:` of the `roles:` entry.
    pub entry_vars: Map<String, Value>,
}

/// One use of a role in a play.
#[derive(Clone, Debug)]
pub struct RoleInstance {
    /// The role's own data.
    pub layer: Arc<RoleLayer>,
    /// The roles that pulled this one in as a meta dependency, outermost first.
    pub dep_chain: Vec<Arc<RoleLayer>>,
    /// Defaults of all dependencies, merged (they rank below this role's defaults).
    pub deps_defaults: Map<String, Value>,
    /// `vars/` of all dependencies, merged (exported to this role).
    pub deps_vars: Map<String, Value>,
    /// Whether the role may run again with the same identity: `allow_duplicates` from
    /// `meta/main.yml`, or for `import_role`/`include_role` their own `allow_duplicates`
    /// argument (default true), which overrides the metadata as in Ansible.
    pub allow_duplicates: bool,
    /// Identity: the same key means the same role run, which Ansible runs once per play
    /// (unless `allow_duplicates`). Built from name, path, params, tags, when, vars and
    /// `*_from` files, as Ansible's role hash.
    pub key: String,
    /// Where the role is referenced.
    pub span: Span,
}

impl RoleInstance {
    /// The role's name.
    pub fn name(&self) -> &str {
        &self.layer.name
    }
}

/// A parsed role reference (`roles:` entry, meta dependency, `import_role` arguments).
pub(crate) struct RoleRef {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) span: Span,
    pub(crate) tags: Vec<String>,
    pub(crate) when: Vec<Spanned<Value>>,
    pub(crate) vars: Map<String, Value>,
    pub(crate) params: Map<String, Value>,
    pub(crate) map: Option<drover_yaml::Mapping>,
    /// `allow_duplicates` given to `import_role`/`include_role`.
    pub(crate) allow_duplicates: Option<bool>,
}

/// Which role files to read (`tasks_from` etc.; `main` by default).
#[derive(Clone, Debug, Default)]
pub struct FromFiles {
    /// `tasks_from`.
    pub tasks: Option<String>,
    /// `vars_from`.
    pub vars: Option<String>,
    /// `defaults_from`.
    pub defaults: Option<String>,
    /// `handlers_from`.
    pub handlers: Option<String>,
}

impl Loader {
    /// Compiles a play's `roles:` list (each role's dependencies first, then its tasks).
    pub fn compile_roles(
        &mut self,
        node: &Node,
        inherit: &Inherit,
        basedir: &Path,
    ) -> LoadResult<Vec<Item>> {
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(entries) = node.as_seq() else {
            return Err(expected(node, "a list of roles", "`roles`"));
        };
        let mut items = Vec::new();
        for entry in entries {
            let role = parse_role_ref(entry, self, &Map::new())?;
            items.extend(
                self.compile_role(role, inherit, &[], FromFiles::default(), basedir)?
                    .1,
            );
        }
        Ok(items)
    }

    /// Expands `import_role`: the role's dependencies and tasks, inheriting the import's
    /// tags, conditions, keywords and vars.
    pub fn import_role(
        &mut self,
        node: &Node,
        task: Task,
        inherit: &Inherit,
    ) -> LoadResult<Vec<Item>> {
        check_include_args(&task)?;
        if let Some(apply) = task.args.get("apply") {
            return Err(Diagnostic::error("`apply` is not valid for `import_role`")
                .with_span(apply.span.clone())
                .with_help(
                    "imported roles already inherit the import's keywords; remove `apply`",
                ));
        }
        let get = |k: &str| -> LoadResult<Option<String>> {
            match task.args.get(k) {
                None => Ok(None),
                Some(v) => match &v.value {
                    Value::String(s) => Ok(Some(s.clone())),
                    _ => Err(Diagnostic::error(format!("`{k}` must be a string"))
                        .with_span(v.span.clone())),
                },
            }
        };
        let Some(name) = get("name")? else {
            return Err(Diagnostic::error("`import_role` needs `name`")
                .with_span(task.action_span.clone())
                .with_help("write `import_role: {name: myrole}`"));
        };
        let name_span = task
            .args
            .get("name")
            .map_or(task.span.clone(), |v| v.span.clone());
        let from = FromFiles {
            tasks: get("tasks_from")?,
            vars: get("vars_from")?,
            defaults: get("defaults_from")?,
            handlers: get("handlers_from")?,
        };
        let mut inner = inherit.clone();
        inner.tags = task.tags.clone();
        inner.when = task.when.clone();
        inner.keywords = task.keywords.clone();
        if let Some(v) = &task.vars {
            inner.vars.push(v.clone());
        }
        let role = RoleRef {
            name: self.render(&name, &Map::new(), &name_span)?,
            name_span,
            span: node.span.clone(),
            tags: Vec::new(),
            when: Vec::new(),
            // Ansible: `ri.vars |= self.vars` (the import's vars become the role's vars).
            vars: task
                .vars
                .as_ref()
                .map(|v| v.vars.clone())
                .unwrap_or_default(),
            params: Map::new(),
            map: None,
            allow_duplicates: Some(allow_duplicates_arg(
                task.args.get("allow_duplicates").map(|v| &v.value),
                &task.span,
            )?),
        };
        let chain: Vec<Arc<RoleLayer>> = Vec::new();
        let basedir = self.playbook_dir.clone();
        Ok(self.compile_role(role, &inner, &chain, from, &basedir)?.1)
    }

    /// Finds a role directory.
    fn find_role(&self, name: &str, span: &Span, near: &Path) -> LoadResult<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if name.contains('/') {
            let p = Path::new(name);
            let cand = if p.is_absolute() {
                p.to_path_buf()
            } else {
                self.playbook_dir.join(p)
            };
            if cand.is_dir() {
                return Ok(std::fs::canonicalize(&cand).unwrap_or(cand));
            }
            dirs.push(cand);
        } else {
            dirs.push(near.join(name));
            dirs.push(self.playbook_dir.join("roles").join(name));
            for d in &self.options.roles_path {
                dirs.push(d.join(name));
            }
            dirs.push(self.playbook_dir.join(name));
            if let Some(found) = dirs.iter().find(|d| {
                d.join("tasks").is_dir()
                    || d.join("meta").is_dir()
                    || d.join("defaults").is_dir()
                    || d.join("handlers").is_dir()
                    || d.join("vars").is_dir()
            }) {
                return Ok(std::fs::canonicalize(found).unwrap_or_else(|_| found.clone()));
            }
        }
        let known: Vec<String> = std::fs::read_dir(self.playbook_dir.join("roles"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        let mut help = format!(
            "looked in: {} (set DROVER_ROLES_PATH to add directories)",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(hint) = drover_diag::did_you_mean(name, known.iter().map(String::as_str)) {
            help = format!("{hint}; {help}");
        } else if !known.is_empty() {
            let mut known = known;
            known.sort();
            help = format!("roles beside the playbook: {}; {help}", known.join(", "));
        }
        // ansible-playbook: "the role ... was not found", exit 1
        Err(Diagnostic::error(format!("role `{name}` not found"))
            .with_span(span.clone())
            .with_help(help)
            .with_exit_code(1))
    }

    fn role_vars_file(
        &mut self,
        dir: &Path,
        from: Option<&str>,
        what: &str,
    ) -> LoadResult<Map<String, Value>> {
        let explicit = from.is_some();
        let as_dir = dir.join(from.unwrap_or("main"));
        if as_dir.is_dir() {
            // `vars/main/` (or `defaults/main/`) as a directory of files, merged in order.
            let mut merged = Map::new();
            for file in crate::loader::dir_vars_files(&as_dir) {
                merged.extend(self.vars_file_map(&file)?);
            }
            return Ok(merged);
        }
        let Some(path) = main_file(dir, from.unwrap_or("main")) else {
            if explicit {
                return Err(Diagnostic::error(format!(
                    "cannot find `{}` in `{}`",
                    from.unwrap_or("main"),
                    dir.display()
                ))
                .with_help(format!("check the `{what}_from` name")));
            }
            return Ok(Map::new());
        };
        self.vars_file_map(&path)
    }

    /// Reads one variables file (a mapping; empty is fine).
    fn vars_file_map(&mut self, path: &Path) -> LoadResult<Map<String, Value>> {
        let Some(doc) = self.yaml(path)? else {
            return Ok(Map::new());
        };
        refuse_vault(&doc)?;
        match parse_vars(&doc, &format!("`{}`", path.display()))? {
            Some(v) => Ok(v.vars.clone()),
            None => Ok(Map::new()),
        }
    }

    /// Compiles one role reference: dependencies (each once per reference), then tasks.
    pub(crate) fn compile_role(
        &mut self,
        role: RoleRef,
        inherit: &Inherit,
        chain: &[Arc<RoleLayer>],
        from: FromFiles,
        near: &Path,
    ) -> LoadResult<(Arc<RoleInstance>, Vec<Item>)> {
        let path = self.find_role(&role.name, &role.name_span, near)?;
        if chain.iter().any(|l| l.path == path) {
            return Err(
                Diagnostic::error(format!("role `{}` depends on itself", role.name))
                    .with_span(role.span.clone())
                    .with_help("remove the circular meta dependency"),
            );
        }
        let defaults =
            self.role_vars_file(&path.join("defaults"), from.defaults.as_deref(), "defaults")?;
        let role_vars = self.role_vars_file(&path.join("vars"), from.vars.as_deref(), "vars")?;
        // A role given by path is named after its last component, as in Ansible.
        let display_name = match role.name.rsplit_once('/') {
            Some((_, last)) if !last.is_empty() => last.to_string(),
            _ => role.name.clone(),
        };
        let layer = Arc::new(RoleLayer {
            name: display_name,
            path: path.clone(),
            defaults,
            role_vars,
            params: role.params.clone(),
            entry_vars: role.vars.clone(),
        });
        let (deps, meta_allow_duplicates) = self.role_meta(&path)?;
        let allow_duplicates = role.allow_duplicates.unwrap_or(meta_allow_duplicates);
        let mut inner = inherit.clone();
        inner.tags.extend(role.tags.iter().cloned());
        inner.literal_tags.extend(role.tags.iter().cloned());
        inner.when.extend(role.when.iter().cloned());
        if let Some(map) = &role.map {
            apply_scoped_keywords(map, &mut inner.keywords);
        }
        let mut dep_chain = chain.to_vec();
        dep_chain.push(layer.clone());
        let roles_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut items = Vec::new();
        let mut deps_defaults = Map::new();
        let mut deps_vars = Map::new();
        for dep in deps {
            let dep_ref = parse_role_ref(&dep, self, &Map::new())?;
            let (inst, dep_items) = self.compile_role(
                dep_ref,
                &inner,
                &dep_chain,
                FromFiles::default(),
                &roles_dir,
            )?;
            combine(&mut deps_defaults, &inst.deps_defaults);
            combine(&mut deps_defaults, &inst.layer.defaults);
            combine(&mut deps_vars, &inst.deps_vars);
            combine(&mut deps_vars, &inst.layer.role_vars);
            items.extend(dep_items);
        }
        let key = serde_json::json!({
            "name": role.name, "path": path.display().to_string(), "params": role.params,
            "tags": role.tags, "when": role.when.iter().map(|w| w.value.clone()).collect::<Vec<_>>(),
            "vars": role.vars, "from": [from.tasks, from.vars, from.defaults, from.handlers],
        })
        .to_string();
        let instance = Arc::new(RoleInstance {
            layer,
            dep_chain: chain.to_vec(),
            deps_defaults,
            deps_vars,
            allow_duplicates,
            key,
            span: role.span.clone(),
        });
        inner.role = Some(instance.clone());
        let tasks_dir = path.join("tasks");
        let tasks_file = main_file(&tasks_dir, from.tasks.as_deref().unwrap_or("main"));
        match (&tasks_file, &from.tasks) {
            (None, Some(t)) => {
                return Err(Diagnostic::error(format!(
                    "role `{}` has no task file `{t}`",
                    role.name
                ))
                .with_span(role.span.clone())
                .with_help(format!(
                    "looked for {t}.yml, {t}.yaml and {t} in {}",
                    tasks_dir.display()
                )));
            }
            (Some(file), _) => {
                inner.chain.push(file.clone());
                if let Some(doc) = self.yaml(file)? {
                    items.extend(self.parse_items(&doc, &inner, &tasks_dir, "a role task file")?);
                }
            }
            (None, None) => {}
        }
        items.push(Item::RoleComplete(instance.clone()));
        if chain.is_empty() {
            // Direct `roles:` entries and `import_role` are the play's public roles.
            self.compiled_roles.push(instance.clone());
        }
        // Handlers inherit the role's scope (its entry's `when`, keywords) like its tasks.
        inner.chain.clear();
        self.role_handlers
            .push((instance.clone(), from.handlers.clone(), inner));
        Ok((instance, items))
    }

    /// Reads `meta/main.yml`: dependencies and `allow_duplicates`.
    fn role_meta(&mut self, path: &Path) -> LoadResult<(Vec<Node>, bool)> {
        let Some(file) = main_file(&path.join("meta"), "main") else {
            return Ok((Vec::new(), false));
        };
        let Some(doc) = self.yaml(&file)? else {
            return Ok((Vec::new(), false));
        };
        let Some(map) = doc.as_map() else {
            return Err(expected(&doc, "a mapping", "role metadata"));
        };
        let mut deps = Vec::new();
        let mut allow = false;
        for (k, v) in map.iter() {
            match k.key_string().as_str() {
                "dependencies" => match &v.value {
                    NodeValue::Seq(items) => deps = items.clone(),
                    NodeValue::Null => {}
                    _ => return Err(expected(v, "a list of roles", "`dependencies`")),
                },
                "allow_duplicates" => allow = v.as_bool().unwrap_or(false),
                // Galaxy metadata and collection search lists do not change what runs
                // (modules outside ansible.builtin are refused where tasks name them).
                "galaxy_info" | "collections" => {}
                "argument_specs" => {
                    return Err(refused(
                        k,
                        "role argument validation",
                        "drover does not validate role arguments from `argument_specs`; remove it or check the values with `assert`",
                    ));
                }
                _ => {
                    return Err(crate::error::unknown_key(
                        k,
                        "role metadata key",
                        &[
                            "dependencies",
                            "allow_duplicates",
                            "galaxy_info",
                            "argument_specs",
                        ],
                        "remove the key",
                    ));
                }
            }
        }
        Ok((deps, allow))
    }

    /// Parses role handlers collected while compiling roles (each role instance once).
    pub fn compile_role_handlers(&mut self) -> LoadResult<Vec<Task>> {
        let pending = std::mem::take(&mut self.role_handlers);
        let mut seen: Vec<String> = Vec::new();
        let mut handlers = Vec::new();
        for (instance, from, inherit) in pending {
            let ident = format!("{}|{:?}", instance.layer.path.display(), from);
            if seen.contains(&ident) {
                continue;
            }
            seen.push(ident);
            let dir = instance.layer.path.join("handlers");
            let Some(file) = main_file(&dir, from.as_deref().unwrap_or("main")) else {
                continue;
            };
            let Some(doc) = self.yaml(&file)? else {
                continue;
            };
            let mut inner = inherit;
            inner.role = Some(instance.clone());
            inner.handler = true;
            let items = self.parse_items(&doc, &inner, &dir, "a handlers file")?;
            for item in &items {
                item.for_each_task(&mut |t| handlers.push(t.clone()));
            }
        }
        Ok(handlers)
    }
}

/// The `allow_duplicates` argument of `import_role`/`include_role` (Ansible's default: true).
pub(crate) fn allow_duplicates_arg(value: Option<&Value>, span: &Span) -> LoadResult<bool> {
    match value {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if crate::task::parse_bool_text(s).is_some() => {
            Ok(crate::task::parse_bool_text(s).unwrap_or(true))
        }
        Some(other) => Err(Diagnostic::error(format!(
            "`allow_duplicates` must be a boolean, found `{other}`"
        ))
        .with_span(span.clone())),
    }
}

/// Parses a `roles:` entry or meta dependency: a name, or a mapping with `role:`/`name:`,
/// keywords, and role parameters (all other keys).
fn parse_role_ref(node: &Node, loader: &Loader, vars: &Map<String, Value>) -> LoadResult<RoleRef> {
    refuse_vault(node)?;
    if let Some(name) = node.as_str() {
        return Ok(RoleRef {
            name: loader.render(name, vars, &node.span)?,
            name_span: node.span.clone(),
            span: node.span.clone(),
            tags: Vec::new(),
            when: Vec::new(),
            vars: Map::new(),
            params: Map::new(),
            map: None,
            allow_duplicates: None,
        });
    }
    let Some(map) = node.as_map() else {
        return Err(expected(
            node,
            "a role name or a mapping with `role:`",
            "a role entry",
        ));
    };
    let name_node = map.get("role").or_else(|| map.get("name")).ok_or_else(|| {
        Diagnostic::error("role entry has no `role:` (or `name:`)")
            .with_span(node.span.clone())
            .with_help("write `- role: myrole` or `- myrole`")
    })?;
    let Some(name) = name_node.as_str() else {
        return Err(expected(name_node, "a string", "the role name"));
    };
    let mut r = RoleRef {
        name: loader.render(name, vars, &name_node.span)?,
        name_span: name_node.span.clone(),
        span: node.span.clone(),
        tags: Vec::new(),
        when: Vec::new(),
        vars: Map::new(),
        params: Map::new(),
        map: Some(map.clone()),
        allow_duplicates: None,
    };
    for (k, v) in map.iter() {
        let key = k.key_string();
        match key.as_str() {
            "role" | "name" => {}
            "tags" => r.tags = parse_tags(v)?,
            "when" => r.when = parse_conditions(v)?,
            "vars" => {
                if let Some(block) = parse_vars(v, "`vars`")? {
                    r.vars = block.vars.clone();
                }
            }
            _ if keywords::ROLE_ENTRY.contains(&key.as_str()) => {}
            _ => {
                if let Some(why) = keywords::refused(&key)
                    && key != "listen"
                    && key != "notify"
                {
                    return Err(refused(k, "role keyword", why));
                }
                r.params.insert(key, v.to_json());
            }
        }
    }
    Ok(r)
}
