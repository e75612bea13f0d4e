//! Task lists: blocks (`block`/`rescue`/`always`), plain tasks, and static `import_tasks`
//! expansion. Dynamic includes stay tasks for the executor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_diag::{Diagnostic, Span};
use drover_yaml::Node;

use crate::error::{LoadResult, expected, refuse_vault, refused, unknown_key};
use crate::keywords;
use crate::loader::{Loader, find_file};
use crate::scope::{Inherit, Spanned, VarsBlock};
use crate::task::{
    Task, apply_scoped_keywords, parse_conditions, parse_tags, parse_task, parse_vars,
};

/// An entry of a task list.
#[derive(Clone, Debug)]
pub enum Item {
    /// A task (including dynamic `include_tasks`/`include_role` and `meta`).
    Task(Box<Task>),
    /// A block.
    Block(Box<Block>),
    /// The end of one run of a role (Ansible's implicit `meta: role_complete`): from here the
    /// role counts as run on the hosts that reached it (see [`crate::RoleRuns`]). Never listed,
    /// never filtered out by tags.
    RoleComplete(Arc<crate::role::RoleInstance>),
}

/// A `block:` with its `rescue:` and `always:` sections.
#[derive(Clone, Debug)]
pub struct Block {
    /// The block mapping.
    pub span: Span,
    /// `name:`.
    pub name: Option<String>,
    /// The block's own tags (its tasks carry them too).
    pub own_tags: Vec<String>,
    /// The block's own conditions (its tasks carry them too).
    pub own_when: Vec<Spanned<serde_json::Value>>,
    /// The block's own `vars:`.
    pub vars: Option<Arc<VarsBlock>>,
    /// The `block:` tasks.
    pub block: Vec<Item>,
    /// The `rescue:` tasks.
    pub rescue: Vec<Item>,
    /// The `always:` tasks.
    pub always: Vec<Item>,
}

impl Item {
    /// Calls `f` for every task, depth first, in `block`, `rescue`, `always` order.
    pub fn for_each_task<'a>(&'a self, f: &mut dyn FnMut(&'a Task)) {
        match self {
            Item::Task(t) => f(t),
            Item::RoleComplete(_) => {}
            Item::Block(b) => {
                for i in b.block.iter().chain(&b.rescue).chain(&b.always) {
                    i.for_each_task(f);
                }
            }
        }
    }
}

impl Loader {
    /// Parses a task list (`tasks:`, a task file, a block section).
    pub fn parse_items(
        &mut self,
        node: &Node,
        inherit: &Inherit,
        dir: &Path,
        what: &str,
    ) -> LoadResult<Vec<Item>> {
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(entries) = node.as_seq() else {
            return Err(
                expected(node, "a list of tasks", what).with_help("start each task with `- `")
            );
        };
        let mut items = Vec::new();
        for entry in entries {
            items.extend(self.parse_item(entry, inherit, dir)?);
        }
        Ok(items)
    }

    fn parse_item(&mut self, node: &Node, inherit: &Inherit, dir: &Path) -> LoadResult<Vec<Item>> {
        if let Some(map) = node.as_map()
            && map.get("block").is_some()
        {
            return Ok(vec![Item::Block(Box::new(
                self.parse_block(node, inherit, dir)?,
            ))]);
        }
        let task = parse_task(node, inherit)?;
        if matches!(task.module, "import_tasks" | "import_role")
            && let Some(spec) = &task.loop_spec
        {
            let dynamic = if task.module == "import_tasks" {
                "include_tasks"
            } else {
                "include_role"
            };
            return Err(Diagnostic::error(format!(
                "you cannot use loops on `{}` statements",
                task.module
            ))
            .with_span(spec.items.span.clone())
            .with_help(format!("use `{dynamic}` instead, which runs once per item")));
        }
        match task.module {
            "import_tasks" => self.import_tasks(node, task, inherit, dir),
            "import_role" => self.import_role(node, task, inherit),
            "include_tasks" | "include_role" => {
                check_include_args(&task)?;
                let mut task = task;
                task.include_context = Some(Arc::new(crate::task::IncludeContext {
                    scope: inherit.clone(),
                    dir: dir.to_path_buf(),
                }));
                Ok(vec![Item::Task(Box::new(task))])
            }
            _ => Ok(vec![Item::Task(Box::new(task))]),
        }
    }

    fn parse_block(&mut self, node: &Node, inherit: &Inherit, dir: &Path) -> LoadResult<Block> {
        refuse_vault(node)?;
        let Some(map) = node.as_map() else {
            return Err(expected(node, "a mapping", "a block"));
        };
        for (k, _) in map.iter() {
            let key = k.key_string();
            if keywords::is_block_keyword(&key) {
                continue;
            }
            if let Some(why) = keywords::refused(&key) {
                return Err(refused(k, "block keyword", why));
            }
            let help = if crate::modules::resolve(&key) != crate::modules::Resolved::Unknown {
                "a block cannot run a module itself; move the module into a task under `block:`"
            } else {
                "fix the spelling, or remove the key"
            };
            return Err(unknown_key(
                k,
                "block keyword",
                &keywords::block_keywords(),
                help,
            ));
        }
        let mut inner = inherit.clone();
        let own_tags = match map.get("tags") {
            Some(t) => parse_tags(t)?,
            None => Vec::new(),
        };
        inner.tags.extend(own_tags.iter().cloned());
        let own_when = match map.get("when") {
            Some(w) => parse_conditions(w)?,
            None => Vec::new(),
        };
        inner.when.extend(own_when.iter().cloned());
        apply_scoped_keywords(map, &mut inner.keywords);
        let vars = match map.get("vars") {
            Some(v) => parse_vars(v, "`vars`")?,
            None => None,
        };
        if let Some(v) = &vars {
            inner.vars.push(v.clone());
        }
        let name = map.get("name").and_then(Node::as_str).map(str::to_string);
        let mut section = |key: &str| -> LoadResult<Vec<Item>> {
            match map.get(key) {
                Some(n) => self.parse_items(n, &inner, dir, &format!("`{key}`")),
                None => Ok(Vec::new()),
            }
        };
        Ok(Block {
            span: node.span.clone(),
            name,
            own_tags,
            own_when,
            vars,
            block: section("block")?,
            rescue: section("rescue")?,
            always: section("always")?,
        })
    }

    /// Expands `import_tasks`: the imported tasks inherit the import's tags, conditions,
    /// keywords and vars.
    fn import_tasks(
        &mut self,
        node: &Node,
        task: Task,
        inherit: &Inherit,
        dir: &Path,
    ) -> LoadResult<Vec<Item>> {
        if let Some(apply) = task.args.get("apply") {
            return Err(Diagnostic::error("`apply` is not valid for `import_tasks`")
                .with_span(apply.span.clone())
                .with_help(
                    "imported tasks already inherit the import's keywords; remove `apply`",
                ));
        }
        check_include_args(&task)?;
        let (file, span) = include_file(&task)?;
        let file = self.render(&file, &serde_json::Map::new(), &span)?;
        let mut dirs = vec![dir.to_path_buf()];
        if let Some(role) = &inherit.role {
            dirs.push(role.layer.path.join("tasks"));
        }
        dirs.push(self.playbook_dir.clone());
        let Some(path) = find_file(&file, &dirs) else {
            return Err(
                Diagnostic::error(format!("cannot find the task file `{file}`"))
                    .with_span(span)
                    .with_help(format!(
                        "looked in: {}",
                        dirs.iter()
                            .map(|d| shown_dir(d))
                            .fold(Vec::new(), |mut shown, d| {
                                if !shown.contains(&d) {
                                    shown.push(d);
                                }
                                shown
                            })
                            .join(", ")
                    ))
                    // ansible-playbook: "Unable to retrieve file contents", exit 1
                    .with_exit_code(1),
            );
        };
        if inherit.chain.contains(&path) {
            return Err(Diagnostic::error(format!(
                "`{}` imports itself (import loop)",
                path.display()
            ))
            .with_span(node.span.clone())
            .with_help("remove the recursive import_tasks"));
        }
        let mut inner = inherit.clone();
        inner.chain.push(path.clone());
        inner.tags = task.tags.clone();
        inner.when = task.when.clone();
        inner.keywords = task.keywords.clone();
        if let Some(v) = &task.vars {
            inner.vars.push(v.clone());
        }
        let Some(doc) = self.yaml(&path)? else {
            return Ok(Vec::new());
        };
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.parse_items(&doc, &inner, &parent, "a task file")
    }
}

/// `file:` or the free-form name of an `import_tasks`/`include_tasks`.
pub fn include_file(task: &Task) -> LoadResult<(String, Span)> {
    for key in ["file", "_raw_params"] {
        if let Some(v) = task.args.get(key) {
            return match v.value.as_str() {
                Some(s) => Ok((s.to_string(), v.span.clone())),
                None => Err(Diagnostic::error(format!("`{key}` must be a file name"))
                    .with_span(v.span.clone())),
            };
        }
    }
    Err(
        Diagnostic::error(format!("`{}` needs a file name", task.action))
            .with_span(task.action_span.clone())
            .with_help(format!("write `{}: path/to/tasks.yml`", task.action)),
    )
}

/// Rejects unknown arguments of `import_tasks`/`include_tasks`/`import_role`/`include_role`.
pub fn check_include_args(task: &Task) -> LoadResult<()> {
    let allowed = match task.module {
        "import_tasks" | "include_tasks" => keywords::TASKS_INCLUDE_ARGS,
        _ => keywords::ROLE_INCLUDE_ARGS,
    };
    for (key, value) in &task.args {
        if !allowed.contains(&key.as_str()) {
            let mut d = Diagnostic::error(format!("`{}` has no argument `{key}`", task.action))
                .with_span(value.span.clone());
            let candidates: Vec<&str> = allowed
                .iter()
                .copied()
                .filter(|a| *a != "_raw_params")
                .collect();
            d = d.with_help(
                match drover_diag::did_you_mean(key, candidates.iter().copied()) {
                    Some(h) => h,
                    None => format!("valid arguments: {}", candidates.join(", ")),
                },
            );
            return Err(d);
        }
    }
    Ok(())
}

/// A directory for a message: `.` for the current one (the parent of a bare file name is
/// empty).
pub fn shown_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        ".".to_string()
    } else {
        dir.display().to_string()
    }
}

/// The directory holding `path` (empty for a bare file name).
pub fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}
