//! A play with the linear strategy: host selection and `serial` batches, fact gathering,
//! sections with handler flushes, blocks with `rescue`/`always`, and the failure rules
//! (`any_errors_fatal`, `max_fail_percentage`, `run_once`, unreachable hosts).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::Target;
use drover_diag::Diagnostic;
use drover_events::{Event, HostResult, Status};
use drover_playbook::validate::handler_matches;
use drover_playbook::vars::{HostLayers, RunInfo, combine, load_vars_files, magic_vars, task_vars};
use drover_playbook::{Play, Playbook, RoleInstance, RoleRuns, SelectedItem, Task, select_tasks};
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::builtin::{Effect, Meta};
use crate::outcome::{ItemRun, TaskError};
use crate::task::{Ahead, HostRun, HostTask, IncludeItem, Upcoming, is_include, value_text};
use crate::{Executor, facts};

/// What one play needs while it runs.
pub(crate) struct PlayCtx<'a> {
    pub(crate) playbook: &'a Playbook,
    pub(crate) play: &'a Play,
    pub(crate) run: RunInfo,
    pub(crate) vars_files: HashMap<String, Map<String, Value>>,
    /// `meta: end_play`, `any_errors_fatal` or `max_fail_percentage` ended the play.
    pub(crate) ended: AtomicBool,
    /// Hosts in the current block that has a `rescue:` (their failures count as rescued).
    pub(crate) rescuable: Vec<String>,
    /// Include params of the dynamic include(s) the current tasks come from (the include's
    /// `vars:` and loop variables), outer includes first.
    pub(crate) include_params: Map<String, Value>,
    /// What the play learnt while running (shared by nested blocks and includes).
    pub(crate) dynamic: Arc<PlayDynamic>,
    /// The tasks run as handlers (brought in by an include in a handler).
    pub(crate) in_handler: bool,
    /// The files of the dynamic includes the current tasks come from, outermost first.
    pub(crate) include_chain: Vec<String>,
    /// In an `always:` section: the failure clock when it started (hosts that failed before
    /// still run it).
    pub(crate) always_since: Option<u64>,
}

/// Play state that grows while the play runs.
#[derive(Default)]
pub(crate) struct PlayDynamic {
    /// Which role runs completed on which hosts ("a role runs once per play").
    pub(crate) role_runs: Mutex<RoleRuns>,
    /// Handlers of roles brought in by `include_role`, after the play's own handlers.
    pub(crate) handlers: Mutex<Vec<Arc<Task>>>,
    /// Roles included with `public: true`: their defaults and vars are visible play-wide.
    pub(crate) public_roles: Mutex<Vec<Arc<RoleInstance>>>,
    /// An error that ends the run (a notification no handler answers, as in Ansible).
    pub(crate) fatal: Mutex<Option<Diagnostic>>,
}

impl PlayCtx<'_> {
    /// A copy for a nested block or include (shares the play's dynamic state).
    pub(crate) fn nested(&self) -> PlayCtx<'_> {
        PlayCtx {
            playbook: self.playbook,
            play: self.play,
            run: self.run.clone(),
            vars_files: self.vars_files.clone(),
            ended: AtomicBool::new(self.ended.load(Ordering::Relaxed)),
            rescuable: self.rescuable.clone(),
            include_params: self.include_params.clone(),
            dynamic: self.dynamic.clone(),
            in_handler: self.in_handler,
            include_chain: self.include_chain.clone(),
            always_since: self.always_since,
        }
    }
}

/// How many tasks ahead the look-ahead may look at.
const TASKS_AHEAD: usize = 128;

/// The tasks that run after `items` in order when nothing fails (blocks' `block:` then
/// `always:` sections; not `rescue:`), then `after`; at most [`TASKS_AHEAD`].
fn tasks_after<'t>(items: &[SelectedItem<'t>], after: &[&'t Task]) -> Vec<&'t Task> {
    fn walk<'t>(items: &[SelectedItem<'t>], out: &mut Vec<&'t Task>) {
        for item in items {
            if out.len() >= TASKS_AHEAD {
                return;
            }
            match item {
                SelectedItem::Task { task, .. } => out.push(task),
                SelectedItem::RoleComplete(_) => {}
                SelectedItem::Block {
                    block_items,
                    always,
                    ..
                } => {
                    walk(block_items, out);
                    walk(always, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(items, &mut out);
    out.extend(after.iter().take(TASKS_AHEAD.saturating_sub(out.len())));
    out
}

/// The tasks ahead of the running one, as the look-ahead templates them for a host.
struct TasksAhead<'e, 'p> {
    exec: &'e Executor,
    ctx: &'e PlayCtx<'p>,
    tasks: Vec<&'e Task>,
}

impl Upcoming for TasksAhead<'_, '_> {
    fn task_at<'s>(&'s self, i: usize, host: &'s str) -> Option<Ahead<'s>> {
        let task = *self.tasks.get(i)?;
        if lock(&self.ctx.dynamic.role_runs).already_ran(host, task) {
            return Some(Ahead::Skipped);
        }
        let (file_dirs, template_dirs, vars_dirs) = self.exec.search_dirs(self.ctx, task);
        Some(Ahead::Task(Box::new(HostTask {
            env: self.exec,
            task,
            host,
            vars: self.exec.layered_vars(self.ctx, Some(task), host),
            file_dirs,
            template_dirs,
            vars_dirs,
            upcoming: None,
            quiet: true.into(),
            item: 0.into(),
        })))
    }
}

/// Locks a mutex, ignoring poisoning (the data stays consistent: writers never panic midway).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Executor {
    /// Runs one play. `Ok(false)` when the rest of the playbook must not run (a whole batch
    /// failed, or `any_errors_fatal`/`max_fail_percentage` broke the play), as ansible-playbook
    /// does. An error is a problem with the play itself (not with a host).
    pub(crate) async fn run_play(
        &self,
        playbook: &Playbook,
        play: &Play,
    ) -> Result<bool, Diagnostic> {
        let selection = self.inventory.select_patterns(&play.hosts, true)?;
        self.warn(&selection.warnings);
        let hosts: Vec<String> = {
            let states = self.lock();
            selection
                .hosts
                .into_iter()
                .filter(|h| states.get(h).is_none_or(|s| !s.failed() && !s.unreachable))
                .collect()
        };
        if hosts.is_empty() {
            self.emit(Event::PlayStart {
                name: play.name.clone(),
                hosts: hosts.clone(),
            });
            self.emit(Event::NoHostsMatched);
            return Ok(true);
        }
        {
            let mut states = self.lock();
            for h in &hosts {
                let state = states
                    .entry(h.clone())
                    .or_insert_with(|| crate::HostState::new(h));
                state.ended_play = false;
                // Notifications belong to the play's handlers.
                state.notified.clear();
                state.notified_handlers.clear();
            }
        }
        for batch in self.batches(play, &hosts)? {
            if self.stop_requested() {
                return Ok(false);
            }
            let mut ctx = PlayCtx {
                playbook,
                play,
                run: RunInfo {
                    play_hosts: hosts.clone(),
                    play_batch: batch.clone(),
                    check_mode: self.options.check,
                    diff_mode: self.options.diff,
                    omit: self.templar.omit_placeholder().to_string(),
                },
                vars_files: HashMap::new(),
                ended: AtomicBool::new(false),
                rescuable: Vec::new(),
                include_params: Map::new(),
                dynamic: Arc::new(PlayDynamic::default()),
                in_handler: false,
                include_chain: Vec::new(),
                always_since: None,
            };
            for host in &batch {
                let base = self.layered_vars(&ctx, None, host);
                let files = load_vars_files(play, self.load_templater.as_ref(), &base)?;
                ctx.vars_files.insert(host.clone(), files);
            }
            // ansible-playbook announces the play for every `serial` batch, once its vars
            // files have loaded (a bad one stops the run before the banner).
            self.emit(Event::PlayStart {
                name: play.name.clone(),
                hosts: batch.clone(),
            });
            if self.gathers_facts(play) {
                self.gather_facts(&ctx, &batch).await;
            }
            let sections = self.selected_sections(play)?;
            for (i, (name, items)) in sections.iter().enumerate() {
                if ctx.ended.load(Ordering::Relaxed) || self.stop_requested() {
                    break;
                }
                // roles and tasks run without a handler flush between them
                let after = match sections.get(i + 1) {
                    Some((_, next)) if *name == "roles" => tasks_after(next, &[]),
                    _ => Vec::new(),
                };
                self.run_items(&ctx, items, &batch, &after).await;
                // Ansible flushes handlers after pre_tasks, after roles + tasks, after post_tasks.
                if *name != "roles" {
                    self.flush_handlers(&ctx, &batch).await;
                }
            }
            if let Some(diag) = lock(&ctx.dynamic.fatal).take() {
                return Err(diag);
            }
            let broken = ctx.ended.load(Ordering::Relaxed) && self.play_broken(&batch);
            let all_failed = {
                let states = self.lock();
                batch
                    .iter()
                    .all(|h| states.get(h).is_some_and(|s| s.failed() || s.unreachable))
            };
            if broken || all_failed {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The play's sections with the tasks `--tags`/`--skip-tags` select, templated with the
    /// same variables `--list-tasks` uses, so a run selects exactly what the listing shows.
    fn selected_sections<'a>(
        &self,
        play: &'a Play,
    ) -> Result<Vec<(&'static str, Vec<SelectedItem<'a>>)>, Diagnostic> {
        let vars = drover_playbook::vars::play_level_vars(
            play,
            &self.options.extra_vars,
            self.load_templater.as_ref(),
        )?;
        select_tasks(
            play,
            &self.options.filter,
            (self.load_templater.as_ref(), &vars),
        )
    }

    /// The hosts the run will work on, as far as they can be known before it starts: those of
    /// each play that gathers facts or has a selected task (a play the tags leave empty
    /// touches nothing), each with the endpoint its inventory variables give.
    pub(crate) fn foreseen_hosts(&self, playbooks: &[Playbook]) -> Vec<(String, Target)> {
        let mut out: Vec<(String, Target)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for play in playbooks.iter().flat_map(|p| &p.plays) {
            let works = self.gathers_facts(play)
                || self.selected_sections(play).map_or(true, |sections| {
                    sections.iter().any(|(_, items)| !items.is_empty())
                });
            let Ok(selection) = self.inventory.select_patterns(&play.hosts, true) else {
                continue;
            };
            if !works {
                continue;
            }
            let keyword = play.connection.as_ref().map(|c| &c.value);
            for host in selection.hosts {
                if !seen.insert(host.clone()) {
                    continue;
                }
                let vars = self.delegate_vars(&host);
                if let Ok(target) = self.target_with_keyword(&host, &vars, keyword) {
                    out.push((host, target));
                }
            }
        }
        out
    }

    /// The play was broken by `any_errors_fatal`/`max_fail_percentage` (not by `meta: end_play`).
    fn play_broken(&self, batch: &[String]) -> bool {
        let states = self.lock();
        batch
            .iter()
            .any(|h| states.get(h).is_some_and(crate::HostState::failed))
    }

    fn gathers_facts(&self, play: &Play) -> bool {
        play.gather_facts
            .as_ref()
            .is_none_or(|g| drover_modules::params::to_bool(&g.value).unwrap_or(true))
    }

    pub(crate) fn play_level_vars(&self, ctx: &PlayCtx<'_>) -> Map<String, Value> {
        let mut vars = drover_playbook::vars::play_vars(ctx.play);
        for (k, v) in &self.options.extra_vars {
            vars.insert(k.clone(), v.clone());
        }
        vars
    }

    /// `serial:` batches (a number, a percentage, or a list of those); all hosts otherwise.
    fn batches(&self, play: &Play, hosts: &[String]) -> Result<Vec<Vec<String>>, Diagnostic> {
        let Some(serial) = &play.serial else {
            return Ok(vec![hosts.to_vec()]);
        };
        let sizes: Vec<Value> = match &serial.value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut parsed = Vec::new();
        for size in &sizes {
            let text = value_text(size);
            let n = if let Some(pct) = text.trim().strip_suffix('%') {
                let pct: f64 = pct.trim().parse().map_err(|_| bad_serial(serial))?;
                ((hosts.len() as f64) * pct / 100.0).floor().max(1.0) as usize
            } else {
                let n: usize = text.trim().parse().map_err(|_| bad_serial(serial))?;
                if n == 0 { hosts.len() } else { n }
            };
            parsed.push(n);
        }
        let mut out = Vec::new();
        let mut rest = hosts;
        let mut i = 0;
        while !rest.is_empty() {
            let n = parsed[i.min(parsed.len() - 1)].min(rest.len());
            out.push(rest[..n].to_vec());
            rest = &rest[n..];
            i += 1;
        }
        Ok(out)
    }

    /// The hosts still taking part in the current section (see [`HostState::active_in`]).
    pub(crate) fn active(&self, ctx: &PlayCtx<'_>, hosts: &[String]) -> Vec<String> {
        let states = self.lock();
        hosts
            .iter()
            .filter(|h| {
                states
                    .get(*h)
                    .is_some_and(|s| s.active_in(ctx.always_since))
            })
            .cloned()
            .collect()
    }

    /// The variables of `host` for `task` (or the play), in Ansible's precedence.
    fn layered_vars(
        &self,
        ctx: &PlayCtx<'_>,
        task: Option<&Task>,
        host: &str,
    ) -> Map<String, Value> {
        let empty = Map::new();
        let inventory = self.inventory_vars.get(host).cloned().unwrap_or_default();
        let (facts, set_facts, include_vars) = {
            let states = self.lock();
            match states.get(host) {
                Some(s) => (
                    if s.facts.is_empty() {
                        Map::new()
                    } else {
                        facts::as_vars(&s.facts)
                    },
                    s.set_facts.clone(),
                    s.include_vars.clone(),
                ),
                None => (Map::new(), Map::new(), Map::new()),
            }
        };
        let mut magic = magic_vars(ctx.play, task, &ctx.run);
        magic.insert("groups".into(), self.groups.clone());
        let mut inventory = inventory;
        let mut vars_files = std::borrow::Cow::Borrowed(ctx.vars_files.get(host).unwrap_or(&empty));
        let public = lock(&ctx.dynamic.public_roles).clone();
        if !public.is_empty() {
            let vars_files = vars_files.to_mut();
            // `include_role` with `public: true` joins the play's roles: its defaults rank
            // with role defaults (below the inventory), its vars with the play roles' exports
            // (just above `vars_files`).
            let mut defaults = Map::new();
            for role in &public {
                combine(&mut defaults, &role.deps_defaults);
                combine(&mut defaults, &role.layer.defaults);
                combine(vars_files, &role.deps_vars);
                combine(vars_files, &role.layer.role_vars);
            }
            combine(&mut defaults, &inventory);
            inventory = defaults;
        }
        let include_params = if task.is_some() {
            &ctx.include_params
        } else {
            &empty
        };
        let layers = HostLayers {
            inventory: &inventory,
            facts: &facts,
            vars_files: &vars_files,
            include_vars: &include_vars,
            set_facts: &set_facts,
            include_params,
            extra_vars: &self.options.extra_vars,
            magic: &magic,
        };
        task_vars(ctx.play, task, &layers)
    }

    async fn gather_facts(&self, ctx: &PlayCtx<'_>, hosts: &[String]) {
        let started = Instant::now();
        let hosts = self.active(ctx, hosts);
        self.emit(Event::TaskStart {
            name: "Gathering Facts".into(),
            action: "gather_facts".into(),
            location: ctx.play.span.location(),
            handler: false,
            hosts: hosts.len(),
        });
        let forks = Arc::new(Semaphore::new(self.options.forks.max(1)));
        let mut running: FuturesUnordered<_> = hosts
            .iter()
            .map(|host| {
                let forks = forks.clone();
                async move {
                    let _permit = forks.acquire().await;
                    let vars = self.layered_vars(ctx, None, host);
                    let started = Instant::now();
                    let span = &ctx.play.span;
                    let connection = ctx.play.connection.as_ref().map(|c| &c.value);
                    let gathered = async {
                        let target = self.target_with_keyword(host, &vars, connection).map_err(
                            |message| TaskError::Invalid {
                                message,
                                span: span.clone(),
                            },
                        )?;
                        let conn = self
                            .connection(host, target.as_ref())
                            .await
                            .map_err(|e| TaskError::connection(e, span))?;
                        let mut req = facts::script();
                        req.escalation.enabled = vars
                            .get("ansible_become")
                            .and_then(drover_python::boolean)
                            .unwrap_or(false);
                        let out = conn
                            .run(&req)
                            .await
                            .map_err(|e| TaskError::connection(e, span))?;
                        facts::from_output(&out).map_err(|message| TaskError::Engine {
                            message,
                            span: span.clone(),
                        })
                    }
                    .await;
                    let run = gathered.map_or_else(ItemRun::failed, facts::gathered);
                    let event = HostResult {
                        host: host.clone(),
                        delegated_to: None,
                        status: run.status,
                        item: None,
                        result: Value::Object(run.result),
                        ignored: false,
                        diffs: Vec::new(),
                        duration: started.elapsed(),
                        round_trips: 1,
                        error: run.error.as_ref().map(TaskError::to_failure),
                    };
                    let facts_found = run.facts;
                    (event, facts_found)
                }
            })
            .collect();
        while let Some((event, found)) = running.next().await {
            self.emit(Event::HostResult(event.clone()));
            let mut states = self.lock();
            if let Some(state) = states.get_mut(&event.host) {
                if let Some(f) = found {
                    state.facts = f;
                }
                count(state, &event, false, false);
                // A host whose facts cannot be gathered leaves the play, as in Ansible.
                match event.status {
                    Status::Failed => self.fail_host(state),
                    Status::Unreachable => state.unreachable = true,
                    _ => {}
                }
            }
        }
        self.emit(Event::TaskDone {
            duration: started.elapsed(),
        });
    }

    /// Runs selected items for `hosts` (boxed: blocks recurse); `after` are the tasks that
    /// follow them (for the look-ahead).
    pub(crate) fn run_items<'a>(
        &'a self,
        ctx: &'a PlayCtx<'a>,
        items: &'a [SelectedItem<'a>],
        hosts: &'a [String],
        after: &'a [&'a Task],
    ) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            for (k, item) in items.iter().enumerate() {
                let rest = &items[k + 1..];
                if ctx.ended.load(Ordering::Relaxed)
                    || self.stop_requested()
                    || lock(&ctx.dynamic.fatal).is_some()
                    || self.active(ctx, hosts).is_empty()
                {
                    return;
                }
                match item {
                    // Ansible's implicit `meta: role_complete`: from here the role counts as
                    // run on the hosts that reached it.
                    SelectedItem::RoleComplete(role) => {
                        let mut runs = lock(&ctx.dynamic.role_runs);
                        for host in self.active(ctx, hosts) {
                            runs.complete(&host, role);
                        }
                    }
                    SelectedItem::Task { task, .. } => {
                        // A role that already ran on a host is skipped there silently.
                        let active: Vec<String> = {
                            let runs = lock(&ctx.dynamic.role_runs);
                            self.active(ctx, hosts)
                                .into_iter()
                                .filter(|h| !runs.already_ran(h, task))
                                .collect()
                        };
                        let ahead = TasksAhead {
                            exec: self,
                            ctx,
                            tasks: tasks_after(rest, after),
                        };
                        self.run_task(ctx, task, &active, ctx.in_handler, Some(&ahead))
                            .await;
                    }
                    SelectedItem::Block {
                        block_items,
                        rescue,
                        always,
                        ..
                    } => {
                        let entered = self.active(ctx, hosts);
                        let mut nested = ctx.nested();
                        if !rescue.is_empty() {
                            nested.rescuable = entered.clone();
                        }
                        let after_block = {
                            let mut tasks = tasks_after(always, &[]);
                            tasks.extend(tasks_after(rest, after));
                            tasks
                        };
                        self.run_items(&nested, block_items, &entered, &after_block)
                            .await;
                        let failed_in_block: Vec<String> = {
                            let states = self.lock();
                            entered
                                .iter()
                                .filter(|h| {
                                    states.get(*h).is_some_and(|s| s.failed() && !s.unreachable)
                                })
                                .cloned()
                                .collect()
                        };
                        if !rescue.is_empty() && !failed_in_block.is_empty() {
                            // A rescue section handles the failure: the host is no longer failed.
                            self.set_failed(&failed_in_block, false);
                            let rescue_ctx = PlayCtx {
                                rescuable: ctx.rescuable.clone(),
                                ..nested
                            };
                            self.run_items(&rescue_ctx, rescue, &failed_in_block, &after_block)
                                .await;
                            if rescue_ctx.ended.load(Ordering::Relaxed) {
                                ctx.ended.store(true, Ordering::Relaxed);
                            }
                        } else if nested.ended.load(Ordering::Relaxed) {
                            ctx.ended.store(true, Ordering::Relaxed);
                        }
                        if !always.is_empty() {
                            // `always` runs for every host that entered the block, failed or not;
                            // a host that failed stays failed afterwards (its failure predates
                            // the section, so the section still counts it as active).
                            let mut always_ctx = ctx.nested();
                            always_ctx.always_since = Some(self.failure_clock());
                            let after_always = tasks_after(rest, after);
                            self.run_items(&always_ctx, always, &entered, &after_always)
                                .await;
                            if always_ctx.ended.load(Ordering::Relaxed) {
                                ctx.ended.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        })
    }

    /// Marks hosts failed now, or clears their failure (a `rescue:` took it).
    fn set_failed(&self, hosts: &[String], failed: bool) {
        let mut states = self.lock();
        for h in hosts {
            if let Some(s) = states.get_mut(h) {
                if failed {
                    self.fail_host(s);
                } else {
                    s.failure = None;
                }
            }
        }
    }

    fn display_name(&self, ctx: &PlayCtx<'_>, task: &Task) -> String {
        let raw = task.display_name();
        if !raw.contains("{{") {
            return raw;
        }
        let vars = self.vars(self.play_level_vars(ctx));
        match self
            .templar
            .template_value(&Value::String(raw.clone()), &vars, None)
        {
            Ok(o) => value_text(&o.value),
            Err(_) => raw,
        }
    }

    fn search_dirs(
        &self,
        ctx: &PlayCtx<'_>,
        task: &Task,
    ) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
        let base = ctx.play.basedir.clone();
        let mut files = Vec::new();
        let mut templates = Vec::new();
        let mut vars = Vec::new();
        if let Some(role) = &task.role {
            let root = role.layer.path.clone();
            files.extend([root.join("files"), root.clone()]);
            templates.extend([root.join("templates"), root.clone()]);
            vars.extend([root.join("vars"), root.clone()]);
        }
        if let Some(include) = &task.include_context {
            files.push(include.dir.clone());
            templates.push(include.dir.clone());
            vars.push(include.dir.clone());
        }
        files.extend([base.join("files"), base.clone()]);
        templates.extend([base.join("templates"), base.clone()]);
        vars.extend([base.join("vars"), base]);
        (files, templates, vars)
    }

    /// Runs one task on `hosts` (all at once, up to `--forks`), then applies the results.
    /// `ahead`: the tasks after it, for the look-ahead.
    async fn run_task(
        &self,
        ctx: &PlayCtx<'_>,
        task: &Task,
        hosts: &[String],
        handler: bool,
        ahead: Option<&(dyn Upcoming + '_)>,
    ) {
        if hosts.is_empty() {
            return;
        }
        if task.module == "meta" && !handler {
            return self.run_meta(ctx, task, hosts).await;
        }
        let started = Instant::now();
        let run_once = task.keywords.literal_bool("run_once").unwrap_or(false);
        let targets: Vec<String> = task_targets(task, hosts).to_vec();
        self.emit(Event::TaskStart {
            name: self.display_name(ctx, task),
            action: task.module.to_string(),
            location: task.span.location(),
            handler,
            hosts: targets.len(),
        });
        let throttle = task
            .keywords
            .get("throttle")
            .and_then(|t| value_text(&t.value).trim().parse::<usize>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(usize::MAX);
        let limit = Arc::new(Semaphore::new(self.options.forks.max(1).min(throttle)));
        let (file_dirs, template_dirs, vars_dirs) = self.search_dirs(ctx, task);
        let mut running: FuturesUnordered<_> = targets
            .iter()
            .map(|host| {
                let limit = limit.clone();
                let (file_dirs, template_dirs, vars_dirs) =
                    (file_dirs.clone(), template_dirs.clone(), vars_dirs.clone());
                async move {
                    let _permit = limit.acquire().await;
                    let vars = self.layered_vars(ctx, Some(task), host);
                    let run = HostTask {
                        env: self,
                        task,
                        host,
                        vars,
                        file_dirs,
                        template_dirs,
                        vars_dirs,
                        upcoming: ahead,
                        quiet: false.into(),
                        item: 0.into(),
                    }
                    .run()
                    .await;
                    (host.clone(), run)
                }
            })
            .collect();
        let ignore_errors = task.keywords.literal_bool("ignore_errors").unwrap_or(false);
        let ignore_unreachable = task
            .keywords
            .literal_bool("ignore_unreachable")
            .unwrap_or(false);
        let mut any_failed = false;
        let include = is_include(task.module);
        let mut includes: Vec<(String, Vec<IncludeItem>)> = Vec::new();
        while let Some((host, mut run)) = running.next().await {
            if let Some(diag) = self.missing_handler(ctx, task, &run) {
                // Ansible stops the whole run here, before showing the result.
                *lock(&ctx.dynamic.fatal) = Some(diag);
                ctx.ended.store(true, Ordering::Relaxed);
                break;
            }
            run.event.ignored = (run.event.status == Status::Failed && ignore_errors)
                || (run.event.status == Status::Unreachable && ignore_unreachable);
            // An include that worked shows (and counts) only as its `included:` lines.
            let quiet = include && matches!(run.event.status, Status::Ok | Status::Changed);
            if quiet {
                includes.push((host.clone(), std::mem::take(&mut run.includes)));
            } else if run.looped {
                self.emit(Event::LoopDone(run.event.clone()));
            } else {
                self.emit(Event::HostResult(run.event.clone()));
            }
            let failed = run.event.status == Status::Failed && !run.event.ignored;
            any_failed |= failed;
            let apply_to: Vec<String> = if run_once {
                hosts.to_vec()
            } else {
                vec![host.clone()]
            };
            for h in &apply_to {
                self.apply_result(ctx, task, h, &run, h == &host && !quiet, handler);
            }
            if failed && targets.len() < hosts.len() {
                // Ansible treats a failing run-once task as fatal for every host.
                self.set_failed(hosts, true);
            }
        }
        self.emit(Event::TaskDone {
            duration: started.elapsed(),
        });
        if any_failed
            && task
                .keywords
                .literal_bool("any_errors_fatal")
                .unwrap_or(false)
        {
            self.set_failed(hosts, true);
            ctx.ended.store(true, Ordering::Relaxed);
        }
        if let Some(max) = &ctx.play.max_fail_percentage {
            let max: f64 = value_text(&max.value).trim().parse().unwrap_or(100.0);
            let total = ctx.run.play_batch.len().max(1) as f64;
            let failed = {
                let states = self.lock();
                ctx.run
                    .play_batch
                    .iter()
                    .filter(|h| states.get(*h).is_some_and(|s| s.failed() || s.unreachable))
                    .count()
            } as f64;
            if failed / total * 100.0 > max {
                self.set_failed(&ctx.run.play_batch, true);
                ctx.ended.store(true, Ordering::Relaxed);
                // ansible-playbook announces it twice: from the max-fail check and from the
                // all-hosts-failed check that follows.
                self.emit(Event::NoHostsRemaining);
                self.emit(Event::NoHostsRemaining);
            }
        }
        // meta actions that affect the whole play
        let end_play = {
            let states = self.lock();
            hosts.iter().any(|h| {
                states
                    .get(h)
                    .is_some_and(|s| s.ended_play && task.module == "meta" && run_end_play(task))
            })
        };
        if end_play {
            ctx.ended.store(true, Ordering::Relaxed);
        }
        if task.module == "meta" && meta_word(task) == "flush_handlers" {
            self.flush_handlers(ctx, hosts).await;
        }
        if include && !ctx.ended.load(Ordering::Relaxed) {
            includes.sort_by_key(|(h, _)| targets.iter().position(|t| t == h));
            self.run_includes(ctx, task, includes, handler).await;
        }
    }

    /// A `meta` task, shown as Ansible's linear strategy does: a banner per host (one for the
    /// actions that run once for the play), no result line unless skipped, nothing counted.
    async fn run_meta(&self, ctx: &PlayCtx<'_>, task: &Task, hosts: &[String]) {
        let started = Instant::now();
        let word = meta_word(task);
        let per_host = matches!(
            word.as_str(),
            "noop" | "reset_connection" | "end_host" | "flush_handlers"
        );
        let targets: Vec<String> = if per_host {
            hosts.to_vec()
        } else {
            hosts[..1].to_vec()
        };
        let (file_dirs, template_dirs, vars_dirs) = self.search_dirs(ctx, task);
        let mut acted = Vec::new();
        for host in &targets {
            self.emit(Event::TaskStart {
                name: self.display_name(ctx, task),
                action: task.module.to_string(),
                location: task.span.location(),
                handler: false,
                hosts: 1,
            });
            let run = HostTask {
                env: self,
                task,
                host,
                vars: self.layered_vars(ctx, Some(task), host),
                file_dirs: file_dirs.clone(),
                template_dirs: template_dirs.clone(),
                vars_dirs: vars_dirs.clone(),
                upcoming: None,
                quiet: false.into(),
                item: 0.into(),
            }
            .run()
            .await;
            match run.event.status {
                Status::Skipped => self.emit(Event::HostResult(run.event.clone())),
                Status::Failed | Status::Unreachable => {
                    self.emit(Event::HostResult(run.event.clone()));
                    self.apply_result(ctx, task, host, &run, true, false);
                }
                _ => {
                    let apply_to = if per_host {
                        vec![host.clone()]
                    } else {
                        hosts.to_vec()
                    };
                    for h in &apply_to {
                        self.apply_result(ctx, task, h, &run, false, false);
                    }
                    acted.extend(apply_to);
                }
            }
        }
        self.emit(Event::TaskDone {
            duration: started.elapsed(),
        });
        if word == "end_play" && !acted.is_empty() {
            ctx.ended.store(true, Ordering::Relaxed);
        }
        if word == "flush_handlers" && !acted.is_empty() {
            self.flush_handlers(ctx, &acted).await;
        }
    }

    /// Applies one host's result: stats, register, facts, notifications, meta.
    fn apply_result(
        &self,
        ctx: &PlayCtx<'_>,
        task: &Task,
        host: &str,
        run: &HostRun,
        own: bool,
        in_handlers: bool,
    ) {
        let mut states = self.lock();
        let Some(state) = states.get_mut(host) else {
            return;
        };
        if own {
            let rescued = ctx.rescuable.iter().any(|h| h == host);
            count(state, &run.event, rescued, run.looped);
        }
        // Registered results are data from the node, never templates (Ansible's `wrap_var`):
        // `{{ r.stdout }}` of a command that printed `{{ x }}` is that text.
        let registered = drover_yaml::unsafe_text::wrap_unsafe(run.registered.clone());
        if let Some(name) = &task.register {
            state
                .set_facts
                .insert(name.value.clone(), registered.clone());
        }
        if let Some(f) = &run.facts {
            state.facts = f.clone();
        }
        for effect in &run.effects {
            match effect {
                Effect::None => {}
                Effect::SetFacts(m) => state.set_facts.extend(m.clone()),
                Effect::IncludeVars(m) => state.include_vars.extend(m.clone()),
                Effect::Meta(Meta::EndHost | Meta::EndPlay) => state.ended_play = true,
                Effect::Meta(Meta::ClearFacts) => state.facts.clear(),
                Effect::Meta(Meta::ClearHostErrors) => state.failure = None,
                Effect::Meta(Meta::FlushHandlers | Meta::Noop) => {}
            }
        }
        match run.event.status {
            Status::Failed if !run.event.ignored => {
                self.fail_host(state);
                if ctx.rescuable.iter().any(|h| h == host) {
                    state
                        .set_facts
                        .insert("ansible_failed_result".into(), registered.clone());
                    state.set_facts.insert(
                        "ansible_failed_task".into(),
                        json!({"name": task.display_name()}),
                    );
                }
            }
            Status::Unreachable if !run.event.ignored => state.unreachable = true,
            Status::Changed => {
                for notify in &run.notify {
                    if in_handlers {
                        // While handlers run, a notification reaches its handlers at once.
                        let found = self.resolve_notification(ctx, notify);
                        state.notified_handlers.extend(found);
                    } else {
                        state.notified.insert(notify.clone());
                    }
                }
            }
            _ => {}
        }
    }

    /// The error for a notification that no handler answers (Ansible's
    /// `ERROR_ON_MISSING_HANDLER`, on by default).
    fn missing_handler(&self, ctx: &PlayCtx<'_>, task: &Task, run: &HostRun) -> Option<Diagnostic> {
        if run.event.status != Status::Changed {
            return None;
        }
        let missing = run
            .notify
            .iter()
            .find(|n| self.resolve_notification(ctx, n).is_empty())?;
        let span = task
            .notify
            .iter()
            .find(|n| &n.value == missing)
            .or(task.notify.first())
            .map_or_else(|| task.span.clone(), |n| n.span.clone());
        Some(
            Diagnostic::error(format!(
                "The requested handler '{missing}' was not found in either the main handlers list nor in the listening handlers list"
            ))
            .with_span(span)
            .with_help("add a handler with this name (or `listen:` topic) to the play or its roles"),
        )
    }

    /// Runs notified handlers in definition order on the hosts that notified them.
    fn flush_handlers<'a>(
        &'a self,
        ctx: &'a PlayCtx<'a>,
        hosts: &'a [String],
    ) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(self.flush_handlers_inner(ctx, hosts))
    }

    async fn flush_handlers_inner(&self, ctx: &PlayCtx<'_>, hosts: &[String]) {
        if self.stop_requested() || lock(&ctx.dynamic.fatal).is_some() {
            return;
        }
        // Notifications so far reach the handlers loaded by now.
        let pending: Vec<(String, Vec<String>)> = {
            let mut states = self.lock();
            hosts
                .iter()
                .filter_map(|h| {
                    let s = states.get_mut(h)?;
                    Some((
                        h.clone(),
                        std::mem::take(&mut s.notified).into_iter().collect(),
                    ))
                })
                .collect()
        };
        for (host, topics) in pending {
            let found: Vec<usize> = topics
                .iter()
                .flat_map(|t| self.resolve_notification(ctx, t))
                .collect();
            if let Some(s) = self.lock().get_mut(&host) {
                s.notified_handlers.extend(found);
            }
        }
        let mut index = 0;
        while let Some(handler) = self.handler_at(ctx, index) {
            if self.stop_requested() || lock(&ctx.dynamic.fatal).is_some() {
                return;
            }
            let targets: Vec<String> = {
                let mut states = self.lock();
                hosts
                    .iter()
                    .filter(|h| {
                        states.get_mut(*h).is_some_and(|s| {
                            let eligible =
                                !s.unreachable && (self.options.force_handlers || !s.failed());
                            s.notified_handlers.shift_remove(&index) && eligible
                        })
                    })
                    .cloned()
                    .collect()
            };
            if !targets.is_empty() {
                self.run_task(ctx, &handler, &targets, true, None).await;
            }
            index += 1;
        }
    }

    /// The play's handler at `index`: its own handlers, then those of included roles.
    fn handler_at(&self, ctx: &PlayCtx<'_>, index: usize) -> Option<Arc<Task>> {
        let own = ctx.play.handlers.len();
        if index < own {
            return Some(Arc::new(ctx.play.handlers[index].clone()));
        }
        lock(&ctx.dynamic.handlers).get(index - own).cloned()
    }

    /// The handlers a `notify:` entry reaches, as Ansible's `search_handlers_by_notification`:
    /// the last handler loaded with that name (`name`, `role : name`), plus every handler
    /// listening to the topic (one per handler name).
    fn resolve_notification(&self, ctx: &PlayCtx<'_>, topic: &str) -> Vec<usize> {
        let dynamic = lock(&ctx.dynamic.handlers).clone();
        let all: Vec<&Task> = ctx
            .play
            .handlers
            .iter()
            .chain(dynamic.iter().map(AsRef::as_ref))
            .collect();
        resolve_handlers(&all, topic)
    }
}

/// Ansible's `search_handlers_by_notification` over the play's handlers in load order: the
/// last handler whose name (`name` or `role : name`) is `topic`, plus every handler listening
/// to `topic` (the last loaded one per handler name).
fn resolve_handlers(handlers: &[&Task], topic: &str) -> Vec<usize> {
    let listens = |h: &Task| h.listen.iter().any(|l| l == topic);
    let mut found = Vec::new();
    if let Some(i) = handlers
        .iter()
        .rposition(|h| handler_matches(h, topic) && !listens(h))
    {
        found.push(i);
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, h) in handlers.iter().enumerate().rev() {
        if !listens(h) {
            continue;
        }
        if let Some(name) = &h.name {
            if seen.contains(&name.value.as_str()) {
                continue;
            }
            seen.push(&name.value);
        }
        if !found.contains(&i) {
            found.push(i);
        }
    }
    found
}

fn meta_word(task: &Task) -> String {
    task.args
        .get("_raw_params")
        .map(|v| value_text(&v.value).trim().to_string())
        .unwrap_or_default()
}

fn run_end_play(task: &Task) -> bool {
    meta_word(task) == "end_play"
}

fn bad_serial(serial: &drover_playbook::Spanned<Value>) -> Diagnostic {
    Diagnostic::error("`serial` must be a number, a percentage such as \"30%\", or a list of those")
        .with_span(serial.span.clone())
}

/// Counts a result in the recap the way Ansible's strategy does.
fn count(state: &mut crate::HostState, event: &HostResult, rescued: bool, _looped: bool) {
    let s = &mut state.stats;
    match event.status {
        Status::Ok => s.ok += 1,
        Status::Changed => {
            s.ok += 1;
            s.changed += 1;
        }
        Status::Skipped => s.skipped += 1,
        Status::Failed if event.ignored => {
            s.ok += 1;
            s.ignored += 1;
            if event.result.get("changed") == Some(&Value::Bool(true)) {
                s.changed += 1;
            }
        }
        Status::Failed if rescued => s.rescued += 1,
        Status::Failed => s.failed += 1,
        Status::Unreachable if event.ignored => {
            s.ok += 1;
            s.ignored += 1;
        }
        Status::Unreachable => s.unreachable += 1,
    }
}

/// The hosts a task runs on: the first one for `run_once` and for the actions Ansible runs with
/// `BYPASS_HOST_LOOP` (`pause`: once, on the first host, and only that host gets the result —
/// shown, counted in the recap, registered — whereas `run_once` gives it to every host).
fn task_targets<'h>(task: &Task, hosts: &'h [String]) -> &'h [String] {
    let run_once = task.keywords.literal_bool("run_once").unwrap_or(false);
    if (run_once || task.module == "pause") && !hosts.is_empty() {
        &hosts[..1]
    } else {
        hosts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_and_run_once_run_on_the_first_host_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(
            &path,
            "- hosts: all\n  tasks:\n\
             \x20   - {pause: {seconds: 1}}\n\
             \x20   - {ansible.builtin.pause: {seconds: 1}}\n\
             \x20   - {debug: {msg: once}, run_once: true}\n\
             \x20   - {debug: {msg: every host}}\n",
        )
        .unwrap();
        let pb = drover_playbook::load_playbook(&path, Default::default()).unwrap();
        let tasks: Vec<&Task> = pb.plays[0]
            .tasks
            .iter()
            .filter_map(|i| match i {
                drover_playbook::Item::Task(t) => Some(&**t),
                _ => None,
            })
            .collect();
        let hosts = ["a".to_string(), "b".to_string()];
        let targets: Vec<usize> = tasks
            .iter()
            .map(|t| task_targets(t, &hosts).len())
            .collect();
        assert_eq!(targets, [1, 1, 1, 2]);
        assert!(task_targets(tasks[0], &[]).is_empty());
    }

    fn handlers(yaml: &str) -> Vec<Task> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(
            &path,
            format!("- hosts: all\n  tasks: []\n  handlers:\n{yaml}"),
        )
        .unwrap();
        let pb = drover_playbook::load_playbook(&path, Default::default()).unwrap();
        pb.plays[0].handlers.clone()
    }

    #[test]
    fn the_last_handler_with_a_name_wins_and_listeners_all_run() {
        let list = handlers(
            "    - {name: restart, debug: {msg: first}}
    - {name: restart, debug: {msg: second}}
    - {name: a, debug: {msg: a}, listen: topic}
    - {name: b, debug: {msg: b}, listen: [topic, other]}
    - {name: a, debug: {msg: a again}, listen: topic}
",
        );
        let refs: Vec<&Task> = list.iter().collect();
        assert_eq!(resolve_handlers(&refs, "restart"), [1]);
        let mut topic = resolve_handlers(&refs, "topic");
        topic.sort_unstable();
        assert_eq!(topic, [3, 4]);
        assert_eq!(resolve_handlers(&refs, "other"), [3]);
        assert!(resolve_handlers(&refs, "nothing").is_empty());
    }
}
