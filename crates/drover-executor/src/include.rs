//! Dynamic includes (`include_tasks`, `include_role`) once every host has answered the include
//! task: hosts that include the same file with the same arguments and loop variables share one
//! `included:` line and one run of the included tasks (Ansible's `IncludedFile`), included
//! files run one after the other in the order they were first seen, and each counts as `ok`
//! for its hosts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use drover_events::{Event, HostResult, Status};
use drover_playbook::loader::find_file;
use drover_playbook::select::select_items;
use drover_playbook::vars::combine;
use drover_playbook::{Included, Task, expand_include};
use serde_json::{Map, Value};

use crate::Executor;
use crate::play::{PlayCtx, lock};
use crate::task::{IncludeItem, value_text};

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
    ) {
        let mut groups: Vec<IncludeGroup> = Vec::new();
        for (host, items) in per_host {
            for item in items {
                let file = self.include_display_name(ctx, task, &item.args);
                // The first equal include that does not have the host yet (a host including
                // the same thing twice, e.g. from a loop, starts a new one).
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
        let mut loaded: Vec<(IncludeGroup, Included)> = Vec::new();
        for group in groups {
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
                Err(diag) => self.include_failed(&group.hosts, &diag.to_string()),
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
                    self.include_failed(&group.hosts, &diag.to_string());
                    continue;
                }
            };
            let mut nested = ctx.nested();
            // The include's `vars:` and loop variables are include params of what it brought in.
            if let Some(vars) = &task.vars {
                combine(&mut nested.include_params, &vars.vars);
            }
            combine(&mut nested.include_params, &group.item.loop_vars);
            let hosts = self.active(&group.hosts);
            self.run_items(&nested, &selected, &hosts).await;
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
        let path = find_file(&file, &dirs).unwrap_or_else(|| ctx.playbook.dir.join(&file));
        absolute(&path).display().to_string()
    }

    /// An include that cannot be loaded fails on its hosts (`reason` as Ansible reports it).
    fn include_failed(&self, hosts: &[String], reason: &str) {
        for host in hosts {
            let mut result = Map::new();
            result.insert("failed".into(), Value::Bool(true));
            result.insert("reason".into(), Value::String(reason.to_string()));
            self.emit(Event::HostResult(HostResult {
                host: host.clone(),
                delegated_to: None,
                status: Status::Failed,
                item: None,
                result: Value::Object(result),
                ignored: false,
                diffs: Vec::new(),
                duration: Duration::ZERO,
                round_trips: 0,
            }));
            let mut states = self.lock();
            if let Some(state) = states.get_mut(host) {
                state.stats.failed += 1;
                state.failed = true;
            }
        }
    }
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
