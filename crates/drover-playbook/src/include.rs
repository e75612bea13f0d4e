//! Dynamic includes (`include_tasks`, `include_role`), loaded by the executor when the include
//! runs on a host, with Ansible 2.18's inheritance: the included tasks inherit the include's
//! enclosing scope (play, role, blocks) and its `vars`, but not the include's own tags,
//! conditions or keywords — those apply to the include task only, unless given in `apply:`.

use std::path::Path;
use std::sync::Arc;

use drover_diag::Diagnostic;
use serde_json::{Map, Value};

use crate::block::Item;
use crate::error::LoadResult;
use crate::keywords;
use crate::loader::{LoadOptions, Loader, find_file};
use crate::play::Playbook;
use crate::role::{FromFiles, RoleInstance, RoleRef};
use crate::scope::{Inherit, Spanned};
use crate::task::Task;

/// What a dynamic include brought in.
#[derive(Clone, Debug, Default)]
pub struct Included {
    /// The included tasks (for `include_role`: the role's dependencies, then its tasks).
    pub items: Vec<Item>,
    /// Handlers of an included role.
    pub handlers: Vec<Task>,
    /// The included role.
    pub roles: Vec<Arc<RoleInstance>>,
}

/// Loads what `task` (an `include_tasks` or `include_role`) includes. `args` are the task's
/// arguments templated for the host (`file`, `name`, `tasks_from`, `apply`, ...).
pub fn expand_include(
    playbook: &Playbook,
    task: &Task,
    args: &Map<String, Value>,
    options: LoadOptions,
) -> LoadResult<Included> {
    let Some(ctx) = &task.include_context else {
        return Err(
            Diagnostic::error(format!("`{}` is not a dynamic include", task.action))
                .with_span(task.span.clone()),
        );
    };
    let mut scope = ctx.scope.clone();
    if let Some(apply) = args.get("apply") {
        apply_keywords(&mut scope, apply, task)?;
    }
    if let Some(v) = &task.vars {
        scope.vars.push(v.clone());
    }
    let mut loader = Loader::new(options, playbook.dir.clone());
    let string_arg = |key: &str| -> LoadResult<Option<String>> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Diagnostic::error(format!(
                "`{key}` must be a string, got `{other}`"
            ))
            .with_span(task.span.clone())),
        }
    };
    if task.module == "include_tasks" {
        let Some(file) = string_arg("file")?.or(string_arg("_raw_params")?) else {
            return Err(Diagnostic::error("`include_tasks` needs a file name")
                .with_span(task.action_span.clone()));
        };
        let mut dirs = vec![ctx.dir.clone()];
        if let Some(role) = &scope.role {
            dirs.push(role.layer.path.join("tasks"));
        }
        dirs.push(playbook.dir.clone());
        let Some(path) = find_file(&file, &dirs) else {
            return Err(
                Diagnostic::error(format!("cannot find the task file `{file}`"))
                    .with_span(task.span.clone())
                    .with_help(format!(
                        "looked in: {}",
                        dirs.iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
            );
        };
        let Some(doc) = loader.yaml(&path)? else {
            return Ok(Included::default());
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let items = loader.parse_items(&doc, &scope, &dir, "a task file")?;
        return Ok(Included {
            items,
            ..Included::default()
        });
    }
    let Some(name) = string_arg("name")? else {
        return Err(
            Diagnostic::error("`include_role` needs `name`").with_span(task.action_span.clone())
        );
    };
    let role = RoleRef {
        name,
        name_span: task.span.clone(),
        span: task.span.clone(),
        tags: Vec::new(),
        when: Vec::new(),
        vars: task
            .vars
            .as_ref()
            .map(|v| v.vars.clone())
            .unwrap_or_default(),
        params: Map::new(),
        map: None,
        allow_duplicates: Some(crate::role::allow_duplicates_arg(
            args.get("allow_duplicates"),
            &task.span,
        )?),
    };
    let from = FromFiles {
        tasks: string_arg("tasks_from")?,
        vars: string_arg("vars_from")?,
        defaults: string_arg("defaults_from")?,
        handlers: string_arg("handlers_from")?,
    };
    let (instance, items) = loader.compile_role(role, &scope, &[], from, &playbook.dir)?;
    let handlers = loader.compile_role_handlers()?;
    Ok(Included {
        items,
        handlers,
        roles: vec![instance],
    })
}

/// Applies `apply:` (block keywords) to the included tasks' scope.
fn apply_keywords(scope: &mut Inherit, apply: &Value, task: &Task) -> LoadResult<()> {
    let span = task
        .args
        .get("apply")
        .map_or(task.span.clone(), |a| a.span.clone());
    let Value::Object(map) = apply else {
        return Err(
            Diagnostic::error("`apply` must be a mapping of block keywords").with_span(span),
        );
    };
    for (key, value) in map {
        let spanned = Spanned {
            value: value.clone(),
            span: span.clone(),
        };
        match key.as_str() {
            "tags" => match value {
                Value::String(s) => scope.tags.extend(crate::tags::split_tag_string(s)),
                Value::Array(items) => scope.tags.extend(items.iter().map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })),
                _ => return Err(Diagnostic::error("`apply.tags` must be a list").with_span(span)),
            },
            "when" => match value {
                Value::Array(items) => scope.when.extend(items.iter().map(|i| Spanned {
                    value: i.clone(),
                    span: span.clone(),
                })),
                _ => scope.when.push(spanned),
            },
            "environment" => scope.keywords.environment.push(spanned),
            "vars" => {
                let Value::Object(vars) = value else {
                    return Err(Diagnostic::error("`apply.vars` must be a mapping").with_span(span));
                };
                scope.vars.push(Arc::new(crate::scope::VarsBlock {
                    span: span.clone(),
                    vars: vars.clone(),
                }));
            }
            "name" => {}
            k if keywords::is_block_keyword(k) && !matches!(k, "block" | "rescue" | "always") => {
                scope.keywords.set(k, spanned);
            }
            _ => {
                let mut d = Diagnostic::error(format!("`{key}` is not valid in `apply`"))
                    .with_span(span.clone());
                if let Some(hint) = drover_diag::did_you_mean(key, keywords::block_keywords()) {
                    d = d.with_help(hint);
                }
                return Err(d);
            }
        }
    }
    Ok(())
}
