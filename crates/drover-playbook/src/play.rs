//! Playbooks and plays: the top-level list, `import_playbook`, play keywords, and the play's
//! task sections in Ansible's order (pre_tasks, roles, tasks, post_tasks) plus handlers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_diag::{Diagnostic, Span};
use drover_yaml::{Node, NodeValue};

use crate::block::{Item, dir_of};
use crate::error::{LoadResult, expected, refuse_vault, refused, unknown_key};
use crate::keywords;
use crate::loader::{LoadOptions, Loader, find_file};
use crate::role::RoleInstance;
use crate::scope::{Inherit, Keywords, Spanned, VarsBlock};
use crate::task::{Task, apply_scoped_keywords, parse_tags, parse_vars};

/// A loaded playbook: its plays, imported playbooks flattened in order.
#[derive(Clone, Debug)]
pub struct Playbook {
    /// The playbook path as given (printed by the listings).
    pub path: PathBuf,
    /// `playbook_dir`: the directory of the playbook.
    pub dir: PathBuf,
    /// The plays.
    pub plays: Vec<Play>,
    /// Non-fatal findings.
    pub warnings: Vec<Diagnostic>,
}

/// One play.
#[derive(Clone, Debug)]
pub struct Play {
    /// The play mapping.
    pub span: Span,
    /// The play's name; Ansible's default is the host patterns joined with `,`.
    pub name: String,
    /// Host patterns (`hosts:` as a list; a string is one pattern).
    pub hosts: Vec<String>,
    /// `hosts:` span.
    pub hosts_span: Span,
    /// Play tags (including those of an `import_playbook`).
    pub tags: Vec<String>,
    /// Play keywords that tasks inherit (`become`, `ignore_errors`, `environment`, ...).
    pub keywords: Keywords,
    /// `gather_facts` (Ansible's default is true).
    pub gather_facts: Option<Spanned<serde_json::Value>>,
    /// `serial`.
    pub serial: Option<Spanned<serde_json::Value>>,
    /// `max_fail_percentage`.
    pub max_fail_percentage: Option<Spanned<serde_json::Value>>,
    /// `connection` (`ssh` or `local`).
    pub connection: Option<Spanned<serde_json::Value>>,
    /// `vars:` (plus the `vars:` of an `import_playbook`).
    pub vars: Vec<Arc<VarsBlock>>,
    /// `vars_files:` entries (a name, or a list of alternatives), untemplated, relative to
    /// the playbook's directory.
    pub vars_files: Vec<Spanned<serde_json::Value>>,
    /// The play's public roles: `roles:` entries and `import_role`s (not meta dependencies),
    /// whose defaults and `vars/` every task of the play sees.
    pub roles: Vec<Arc<RoleInstance>>,
    /// `pre_tasks:`.
    pub pre_tasks: Vec<Item>,
    /// The `roles:` tasks (each role's dependencies first).
    pub role_tasks: Vec<Item>,
    /// `tasks:`.
    pub tasks: Vec<Item>,
    /// `post_tasks:`.
    pub post_tasks: Vec<Item>,
    /// Role handlers, then `handlers:`.
    pub handlers: Vec<Task>,
    /// The directory relative paths of this play resolve against.
    pub basedir: PathBuf,
}

impl Play {
    /// The task sections in run order, with Ansible's section names.
    pub fn sections(&self) -> [(&'static str, &[Item]); 4] {
        [
            ("pre_tasks", &self.pre_tasks),
            ("roles", &self.role_tasks),
            ("tasks", &self.tasks),
            ("post_tasks", &self.post_tasks),
        ]
    }
}

/// Loads a playbook file with its imports, roles and task files.
pub fn load_playbook(path: &Path, options: LoadOptions) -> LoadResult<Playbook> {
    let dir = dir_of(path);
    let mut loader = Loader::new(options, dir.clone());
    let mut plays = Vec::new();
    loader.load_plays(path, &Inherit::default(), &[], &mut plays, &mut Vec::new())?;
    Ok(Playbook {
        path: path.to_path_buf(),
        dir,
        plays,
        warnings: loader.warnings,
    })
}

impl Loader {
    fn load_plays(
        &mut self,
        path: &Path,
        inherit: &Inherit,
        vars: &[Arc<VarsBlock>],
        plays: &mut Vec<Play>,
        chain: &mut Vec<PathBuf>,
    ) -> LoadResult<()> {
        let Some(doc) = self.yaml(path)? else {
            return Err(
                Diagnostic::error(format!("playbook `{}` is empty", path.display()))
                    .with_help("a playbook is a list of plays"),
            );
        };
        let Some(entries) = doc.as_seq() else {
            return Err(expected(&doc, "a list of plays", "a playbook")
                .with_help("start each play with `- hosts: ...`"));
        };
        // ansible-playbook: "A playbook must contain at least one play", exit 4 (an imported
        // playbook too)
        if entries.is_empty() {
            return Err(
                Diagnostic::error(format!("playbook `{}` has no plays", path.display()))
                    .with_span(doc.span.clone())
                    .with_help("a playbook is a list of plays; start each with `- hosts: ...`"),
            );
        }
        chain.push(path.to_path_buf());
        let basedir = dir_of(path);
        for entry in entries {
            refuse_vault(entry)?;
            let Some(map) = entry.as_map() else {
                return Err(expected(entry, "a mapping", "a play"));
            };
            let import = map.iter().find(|(k, _)| {
                matches!(
                    k.key_string().as_str(),
                    "import_playbook"
                        | "ansible.builtin.import_playbook"
                        | "ansible.legacy.import_playbook"
                )
            });
            if let Some((key, value)) = import {
                self.import_playbook(map, key, value, inherit, vars, plays, chain, &basedir)?;
            } else {
                let play = self.parse_play(entry, map, inherit, vars, &basedir)?;
                crate::validate::validate_play(&play)?;
                plays.push(play);
            }
        }
        chain.pop();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn import_playbook(
        &mut self,
        map: &drover_yaml::Mapping,
        key: &Node,
        value: &Node,
        inherit: &Inherit,
        vars: &[Arc<VarsBlock>],
        plays: &mut Vec<Play>,
        chain: &mut Vec<PathBuf>,
        basedir: &Path,
    ) -> LoadResult<()> {
        let mut inner = inherit.clone();
        let mut inner_vars = vars.to_vec();
        for (k, v) in map.iter() {
            match k.key_string().as_str() {
                "import_playbook"
                | "ansible.builtin.import_playbook"
                | "ansible.legacy.import_playbook"
                | "name" => {}
                "tags" => {
                    let tags = parse_tags(v)?;
                    inner.literal_tags.extend(tags.iter().cloned());
                    inner.tags.extend(tags);
                }
                "when" => inner.when.extend(crate::task::parse_conditions(v)?),
                "vars" => inner_vars.extend(parse_vars(v, "`vars`")?),
                _ => {
                    return Err(unknown_key(
                        k,
                        "import_playbook keyword",
                        &["name", "tags", "when", "vars"],
                        "`import_playbook` accepts name, tags, when and vars",
                    ));
                }
            }
        }
        let Some(name) = value.as_str() else {
            return Err(expected(value, "a file name", "`import_playbook`"));
        };
        let name = self.render(name, &serde_json::Map::new(), &value.span)?;
        let Some(path) = find_file(&name, &[basedir.to_path_buf()]) else {
            return Err(
                Diagnostic::error(format!("cannot find the playbook `{name}`"))
                    .with_span(value.span.clone())
                    .with_help(format!(
                        "the path is relative to `{}`",
                        crate::block::shown_dir(basedir)
                    ))
                    // ansible-playbook: "Unable to retrieve file contents", exit 1
                    .with_exit_code(1),
            );
        };
        if chain.contains(&path) {
            return Err(
                Diagnostic::error(format!("`{}` imports itself", path.display()))
                    .with_span(key.span.clone())
                    .with_help("remove the recursive import_playbook"),
            );
        }
        self.load_plays(&path, &inner, &inner_vars, plays, chain)
    }

    fn parse_play(
        &mut self,
        node: &Node,
        map: &drover_yaml::Mapping,
        inherit: &Inherit,
        import_vars: &[Arc<VarsBlock>],
        basedir: &Path,
    ) -> LoadResult<Play> {
        for (k, _) in map.iter() {
            let key = k.key_string();
            if keywords::PLAY.contains(&key.as_str()) {
                continue;
            }
            if let Some(why) = keywords::refused(&key) {
                return Err(refused(k, "play keyword", why));
            }
            let help = if keywords::is_task_keyword(&key, false)
                || crate::modules::resolve(&key) != crate::modules::Resolved::Unknown
            {
                "this is a task keyword or module; put it in a task under `tasks:`"
            } else {
                "fix the spelling, or remove the key"
            };
            return Err(unknown_key(k, "play keyword", keywords::PLAY, help));
        }
        let mut vars: Vec<Arc<VarsBlock>> = import_vars.to_vec();
        if let Some(v) = map.get("vars") {
            vars.extend(parse_vars(v, "the play `vars`")?);
        }
        self.play_vars = serde_json::Map::new();
        for block in &vars {
            crate::vars::combine(&mut self.play_vars, &block.vars);
        }
        let Some(hosts_node) = map.get("hosts") else {
            return Err(Diagnostic::error("play has no `hosts`")
                .with_span(node.span.clone())
                .with_help("add `hosts: all` (or a group/pattern) to the play"));
        };
        let mut hosts = Vec::new();
        let empty = serde_json::Map::new();
        match &hosts_node.value {
            NodeValue::Str(s) => hosts.push(self.render(s, &empty, &hosts_node.span)?),
            NodeValue::Seq(items) => {
                for item in items {
                    match item.as_str() {
                        Some(s) => hosts.push(self.render(s, &empty, &item.span)?),
                        None => {
                            return Err(expected(
                                item,
                                "a host pattern (string)",
                                "each `hosts` entry",
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(expected(
                    hosts_node,
                    "a host pattern or a list of patterns",
                    "`hosts`",
                ));
            }
        }
        if hosts.is_empty() || hosts.iter().any(String::is_empty) {
            return Err(Diagnostic::error("`hosts` is empty")
                .with_span(hosts_node.span.clone())
                .with_help("name the hosts or groups the play runs on, e.g. `hosts: all`"));
        }
        if let Some(strategy) = map.get("strategy")
            && strategy.as_str() != Some("linear")
        {
            // ansible-playbook: "Invalid play strategy specified", exit 1
            return Err(
                Diagnostic::error("only `strategy: linear` is supported by drover")
                    .with_span(strategy.span.clone())
                    .with_help("remove `strategy` (linear is the default)")
                    .with_exit_code(1),
            );
        }
        let name = match map.get("name") {
            Some(n) => match &n.value {
                // Ansible templates the play name with the play vars and extra vars
                // (`post_validate`); a name that cannot be rendered yet is shown as written.
                NodeValue::Str(s) => self
                    .render(s, &empty, &n.span)
                    .unwrap_or_else(|_| s.clone()),
                NodeValue::Null => hosts.join(","),
                _ => return Err(expected(n, "a string", "the play `name`")),
            },
            None => hosts.join(","),
        };
        let mut scope = inherit.clone();
        let own_tags = match map.get("tags") {
            Some(t) => parse_tags(t)?,
            None => Vec::new(),
        };
        scope.literal_tags.extend(own_tags.iter().cloned());
        scope.tags.extend(own_tags);
        apply_scoped_keywords(map, &mut scope.keywords);
        scope.chain = Vec::new();
        let vars_files = match map.get("vars_files") {
            None => Vec::new(),
            Some(v) => match &v.value {
                NodeValue::Null => Vec::new(),
                NodeValue::Str(_) => vec![Spanned::from_node(v)],
                NodeValue::Seq(items) => items.iter().map(Spanned::from_node).collect(),
                _ => return Err(expected(v, "a list of file names", "`vars_files`")),
            },
        };
        let section = |loader: &mut Loader, key: &str, scope: &Inherit| -> LoadResult<Vec<Item>> {
            match map.get(key) {
                Some(n) => loader.parse_items(n, scope, basedir, &format!("`{key}`")),
                None => Ok(Vec::new()),
            }
        };
        self.compiled_roles.clear();
        self.role_handlers.clear();
        let pre_tasks = section(self, "pre_tasks", &scope)?;
        let role_tasks = match map.get("roles") {
            Some(r) => self.compile_roles(r, &scope, basedir)?,
            None => Vec::new(),
        };
        let tasks = section(self, "tasks", &scope)?;
        let post_tasks = section(self, "post_tasks", &scope)?;
        let mut handlers = self.compile_role_handlers()?;
        if let Some(h) = map.get("handlers") {
            let mut hscope = scope.clone();
            hscope.handler = true;
            let items = self.parse_items(h, &hscope, basedir, "`handlers`")?;
            for item in &items {
                item.for_each_task(&mut |t| handlers.push(t.clone()));
            }
        }
        let kw = |k: &str| map.get(k).map(Spanned::from_node);
        Ok(Play {
            span: node.span.clone(),
            name,
            hosts,
            hosts_span: hosts_node.span.clone(),
            tags: scope.tags.clone(),
            keywords: scope.keywords.clone(),
            gather_facts: kw("gather_facts"),
            serial: kw("serial"),
            max_fail_percentage: kw("max_fail_percentage"),
            connection: kw("connection"),
            vars,
            vars_files,
            roles: std::mem::take(&mut self.compiled_roles),
            pre_tasks,
            role_tasks,
            tasks,
            post_tasks,
            handlers,
            basedir: basedir.to_path_buf(),
        })
    }
}
