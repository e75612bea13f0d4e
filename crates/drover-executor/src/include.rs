//! Dynamic includes (`include_tasks`, `include_role`) once every host has answered the include
//! task: hosts that include the same file with the same arguments and loop variables share one
//! `included:` line and one run of the included tasks (Ansible's `IncludedFile`), included
//! files run one after the other in the order they were first seen, and each counts as `ok`
//! for its hosts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use drover_diag::Diagnostic;
use drover_events::{Event, HostResult, Status};
use drover_playbook::loader::find_file;
use drover_playbook::select::select_items;
use drover_playbook::vars::combine;
use drover_playbook::{Included, Task, expand_include};
use serde_json::{Map, Value};

use crate::Executor;
use crate::outcome::TaskError;
use crate::play::{PlayCtx, lock};
use crate::task::{IncludeItem, value_text};

/// How deep dynamic includes may nest. Ansible has no limit (its includes do not recurse in
/// Python); a self-including file with no `when:` that ends it never stops there. drover's run
/// recurses, so it stops here with an error naming the chain instead of overflowing the stack
/// (a debug build overflows past about 130 levels).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 64;

/// One file (or role) included by some hosts with the same arguments and loop variables.
struct IncludeGroup {
    /// What `included:` shows: the task file's absolute path, or the role's name.
    file: String,
    item: IncludeItem,
    hosts: Vec<String>,
}

impl Executor {
    /// Loads and runs what an include task brought in, per group of hosts.
    pub(crate) async fn run_includes(
        &self,
        ctx: &PlayCtx<'_>,
        task: &Task,
        per_host: Vec<(String, Vec<IncludeItem>)>,
        handler: bool,
    ) {
        let groups = group_includes(per_host, |item| {
            self.include_display_name(ctx, task, &item.args)
        });
        let mut loaded: Vec<(IncludeGroup, Included)> = Vec::new();
        for group in groups {
            if ctx.include_chain.len() >= MAX_INCLUDE_DEPTH {
                let reason_text = too_deep(&ctx.include_chain, &group.file);
                let error = include_error(task, Diagnostic::error(reason_text.clone()));
                self.include_failed(&group.hosts, reason(&reason_text), &error);
                continue;
            }
            if task.module == "include_tasks" && !Path::new(&group.file).is_file() {
                // Ansible's wording, with the include as written.
                let include = group
                    .item
                    .args
                    .get("file")
                    .or_else(|| group.item.args.get("_raw_params"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let why = format!(
                    "Could not find or access '{}' on the Ansible Controller.",
                    group.file
                );
                let mut result = Map::new();
                result.insert("changed".into(), Value::Bool(false));
                result.insert("include".into(), include);
                result.insert("reason".into(), Value::String(why.clone()));
                let error = include_error(task, Diagnostic::error(why));
                self.include_failed(&group.hosts, result, &error);
                continue;
            }
            match expand_include(
                ctx.playbook,
                task,
                &group.item.args,
                self.load_options.clone(),
            ) {
                Ok(included) => {
                    {
                        let mut states = self.lock();
                        for host in &group.hosts {
                            if let Some(state) = states.get_mut(host) {
                                state.stats.ok += 1;
                            }
                        }
                    }
                    self.emit(Event::Included {
                        file: group.file.clone(),
                        hosts: group.hosts.clone(),
                        item: group.item.label.clone(),
                    });
                    loaded.push((group, included));
                }
                Err(diag) => {
                    let result = reason(&diag.to_string());
                    self.include_failed(&group.hosts, result, &include_error(task, diag));
                }
            }
        }
        for (group, included) in &loaded {
            if ctx.ended.load(Ordering::Relaxed) {
                return;
            }
            if task.module == "include_role" {
                self.register_included_role(ctx, group, included);
            }
            let vars = self.play_level_vars(ctx);
            let selected = match select_items(
                &included.items,
                &self.options.filter,
                (self.load_templater.as_ref(), &vars),
            ) {
                Ok(selected) => selected,
                Err(diag) => {
                    let result = reason(&diag.to_string());
                    self.include_failed(&group.hosts, result, &include_error(task, diag));
                    continue;
                }
            };
            let mut nested = ctx.nested();
            nested.in_handler = handler;
            nested.include_chain.push(group.file.clone());
            // The include's `vars:` and loop variables are include params of what it brought in.
            if let Some(vars) = &task.vars {
                combine(&mut nested.include_params, &vars.vars);
            }
            combine(&mut nested.include_params, &group.item.loop_vars);
            let hosts = self.active(ctx, &group.hosts);
            self.run_items(&nested, &selected, &hosts, &[]).await;
            if nested.ended.load(Ordering::Relaxed) {
                ctx.ended.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Handlers of an included role join the play's (once per role and name); with
    /// `public: true` its defaults and vars become visible to the rest of the play.
    fn register_included_role(&self, ctx: &PlayCtx<'_>, group: &IncludeGroup, included: &Included) {
        {
            let mut handlers = lock(&ctx.dynamic.handlers);
            for handler in &included.handlers {
                let known = ctx
                    .play
                    .handlers
                    .iter()
                    .chain(handlers.iter().map(AsRef::as_ref))
                    .any(|h| same_handler(h, handler));
                if !known {
                    handlers.push(Arc::new(handler.clone()));
                }
            }
        }
        let public = group
            .item
            .args
            .get("public")
            .and_then(drover_modules::params::to_bool)
            .unwrap_or(false);
        if public {
            lock(&ctx.dynamic.public_roles).extend(included.roles.iter().cloned());
        }
    }

    /// What `included:` names: the role for `include_role`, else the task file's absolute
    /// path, found as the playbook loader finds it.
    fn include_display_name(
        &self,
        ctx: &PlayCtx<'_>,
        task: &Task,
        args: &Map<String, Value>,
    ) -> String {
        if task.module == "include_role" {
            return args
                .get("name")
                .or_else(|| args.get("role"))
                .map(value_text)
                .unwrap_or_default();
        }
        let file = args
            .get("file")
            .or_else(|| args.get("_raw_params"))
            .map(value_text)
            .unwrap_or_default();
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(include) = &task.include_context {
            dirs.push(include.dir.clone());
            if let Some(role) = &include.scope.role {
                dirs.push(role.layer.path.join("tasks"));
            }
        }
        dirs.push(ctx.playbook.dir.clone());
        // Not found: where Ansible looked last (the role's `tasks/`, else the playbook's dir).
        let fallback = match &task.role {
            Some(role) => role.layer.path.join("tasks").join(&file),
            None => ctx.playbook.dir.join(&file),
        };
        let path = find_file(&file, &dirs).unwrap_or(fallback);
        absolute(&path).display().to_string()
    }

    /// An include that cannot be loaded fails on its hosts.
    fn include_failed(&self, hosts: &[String], result: Map<String, Value>, error: &TaskError) {
        for host in hosts {
            self.emit(Event::HostResult(HostResult {
                host: host.clone(),
                delegated_to: None,
                status: Status::Failed,
                item: None,
                result: Value::Object(result.clone()),
                ignored: false,
                diffs: Vec::new(),
                duration: Duration::ZERO,
                round_trips: 0,
                error: Some(error.to_failure()),
            }));
            let mut states = self.lock();
            if let Some(state) = states.get_mut(host) {
                state.stats.failed += 1;
                self.fail_host(state);
            }
        }
    }
}

/// The typed error of an include that cannot be loaded.
fn include_error(task: &Task, diagnostic: Diagnostic) -> TaskError {
    TaskError::Include {
        diagnostic,
        span: task.span.clone(),
    }
}

/// Groups what each host includes as Ansible's `IncludedFile.process_include_results`: an
/// include joins the first equal group (same file, arguments and loop variables) that does
/// not have the host yet; groups keep the order they were first seen in.
fn group_includes(
    per_host: Vec<(String, Vec<IncludeItem>)>,
    display_name: impl Fn(&IncludeItem) -> String,
) -> Vec<IncludeGroup> {
    let mut groups: Vec<IncludeGroup> = Vec::new();
    for (host, items) in per_host {
        for item in items {
            let file = display_name(&item);
            match groups
                .iter_mut()
                .find(|g| g.file == file && g.item == item && !g.hosts.contains(&host))
            {
                Some(group) => group.hosts.push(host.clone()),
                None => groups.push(IncludeGroup {
                    file,
                    item,
                    hosts: vec![host.clone()],
                }),
            }
        }
    }
    groups
}

/// The result of an include whose file could not be loaded.
fn reason(text: &str) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("reason".into(), Value::String(text.trim_end().to_string()));
    result
}

/// The same handler of the same role (a role included twice brings its handlers once).
fn same_handler(a: &Task, b: &Task) -> bool {
    let role_path = |t: &Task| t.role.as_ref().map(|r| r.layer.path.clone());
    role_path(a) == role_path(b)
        && a.name.as_ref().map(|n| &n.value) == b.name.as_ref().map(|n| &n.value)
        && a.span.location() == b.span.location()
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The error for an include nested [`MAX_INCLUDE_DEPTH`] deep: the cycle when the chain
/// repeats a file (`a.yml → b.yml → a.yml`), else the outermost and innermost includes.
fn too_deep(chain: &[String], next: &str) -> String {
    let short = |f: &String| {
        Path::new(f)
            .file_name()
            .map_or_else(|| f.clone(), |n| n.to_string_lossy().into_owned())
    };
    let cycle = chain.iter().rposition(|f| f == next).map(|at| {
        let mut names: Vec<String> = chain[at..].iter().map(short).collect();
        names.push(short(&next.to_string()));
        names.join(" → ")
    });
    let shown = match cycle {
        Some(cycle) => format!("they include each other in a cycle: {cycle} → …"),
        None => format!(
            "{} → … → {} → {}",
            short(&chain[0]),
            short(&chain[chain.len() - 1]),
            short(&next.to_string())
        ),
    };
    format!(
        "includes nested more than {MAX_INCLUDE_DEPTH} deep, {shown}; end the recursion with a \
         `when:` that becomes false sooner (drover stops at {MAX_INCLUDE_DEPTH} nested includes)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(file: &str, loop_item: Option<&str>) -> IncludeItem {
        let mut args = Map::new();
        args.insert("file".into(), json!(file));
        let mut loop_vars = Map::new();
        if let Some(i) = loop_item {
            loop_vars.insert("item".into(), json!(i));
        }
        IncludeItem {
            args,
            loop_vars,
            label: loop_item.map(String::from),
        }
    }

    fn summary(groups: &[IncludeGroup]) -> Vec<String> {
        groups
            .iter()
            .map(|g| {
                format!(
                    "{}{} for {}",
                    g.file,
                    g.item
                        .label
                        .as_deref()
                        .map(|l| format!("/{l}"))
                        .unwrap_or_default(),
                    g.hosts.join(",")
                )
            })
            .collect()
    }

    fn name(i: &IncludeItem) -> String {
        value_text(&i.args["file"])
    }

    #[test]
    fn hosts_including_the_same_file_share_a_group() {
        let groups = group_includes(
            vec![
                ("h1".into(), vec![item("a.yml", None)]),
                ("h2".into(), vec![item("b.yml", None)]),
                ("h3".into(), vec![item("a.yml", None)]),
            ],
            name,
        );
        assert_eq!(summary(&groups), ["a.yml for h1,h3", "b.yml for h2"]);
    }

    #[test]
    fn loop_items_are_separate_includes_in_item_order() {
        let per_host = ["h1", "h2"]
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    vec![item("t.yml", Some("x")), item("t.yml", Some("y"))],
                )
            })
            .collect();
        let groups = group_includes(per_host, name);
        assert_eq!(summary(&groups), ["t.yml/x for h1,h2", "t.yml/y for h1,h2"]);
    }

    #[test]
    fn a_host_including_the_same_thing_twice_starts_a_new_group() {
        let groups = group_includes(
            vec![
                ("h1".into(), vec![item("t.yml", None), item("t.yml", None)]),
                ("h2".into(), vec![item("t.yml", None)]),
            ],
            name,
        );
        assert_eq!(summary(&groups), ["t.yml for h1,h2", "t.yml for h1"]);
    }

    #[test]
    fn a_cycle_is_named_and_a_long_chain_is_shortened() {
        let chain: Vec<String> = ["/p/site.yml", "/p/a.yml", "/p/b.yml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let msg = super::too_deep(&chain, "/p/a.yml");
        assert!(msg.contains("a cycle: a.yml → b.yml → a.yml → …"), "{msg}");
        assert!(msg.contains("more than 64 deep"), "{msg}");
        let msg = super::too_deep(&chain, "/p/c.yml");
        assert!(msg.contains("site.yml → … → b.yml → c.yml"), "{msg}");
    }
}
