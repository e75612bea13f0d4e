//! One task on one host: loop items, `when`, argument templating, the module (an engine
//! module here, a node module through the modules crate's one driver), `until`/`retries`,
//! `changed_when`/`failed_when`, `no_log`.
//!
//! Every step returns `Result<_, TaskError>`: a failure is typed and keeps its span until the
//! event is made, where it becomes Ansible's result map and the event's `error` field.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drover_connection::{Become, Output, Request};
use drover_diag::Span;
use drover_events::{Diff, HostResult, Status, TaskFailure};
use drover_modules::{DriveError, ModuleResult, Prepared, TaskContext, Transport};
use drover_playbook::{Spanned, Task};
use drover_template::{Condition, Vars};
use serde_json::{Map, Value, json};

use crate::builtin::{self, Effect, EngineModule};
use crate::controller::TaskController;
use crate::env::TaskEnv;
use crate::facts;
use crate::lookahead::batchable;
use crate::outcome::{ItemRun, TaskError, censor, clean_copy, strip_internal};
use crate::transport::Target;

pub use crate::outcome::value_text;

/// The outcome of a task on one host (all loop items together).
pub struct HostRun {
    /// The result event (the loop summary for a looped task).
    pub event: HostResult,
    /// Per-item events of a loop (already emitted).
    pub looped: bool,
    /// Variables, facts or meta actions to apply to the host.
    pub effects: Vec<Effect>,
    /// Gathered facts (`setup`/`gather_facts`).
    pub facts: Option<Map<String, Value>>,
    /// The value to store under `register`.
    pub registered: Value,
    /// For `include_tasks`/`include_role`: what each (non-skipped, non-failed) item includes.
    pub includes: Vec<IncludeItem>,
    /// The handlers (names or `listen` topics) a changed task notifies, templated.
    pub notify: Vec<String>,
}

/// One thing a dynamic include brings in on one host (one per loop item).
#[derive(Clone, Debug, PartialEq)]
pub struct IncludeItem {
    /// The include's arguments, templated for the host (`file`, `name`, `apply`, ...).
    pub args: Map<String, Value>,
    /// Loop variables of the item (`item`/`loop_var`, `ansible_loop_var`, `index_var`):
    /// include params of the included tasks, and part of the include's identity.
    pub loop_vars: Map<String, Value>,
    /// The item's label, for `included: ... => (item=label)`.
    pub label: Option<String>,
}

/// True for the dynamic include actions.
pub fn is_include(module: &str) -> bool {
    EngineModule::of(module) == Some(EngineModule::Include)
}

/// Everything a task needs on one host.
pub struct HostTask<'a> {
    /// The run, as far as a task sees it.
    pub env: &'a dyn TaskEnv,
    /// The task.
    pub task: &'a Task,
    /// The host.
    pub host: &'a str,
    /// The host's variables for this task.
    pub vars: Map<String, Value>,
    /// Role `files/`, `templates/` and `vars/` search paths.
    pub file_dirs: Vec<std::path::PathBuf>,
    /// Template search path.
    pub template_dirs: Vec<std::path::PathBuf>,
    /// Vars file search path.
    pub vars_dirs: Vec<std::path::PathBuf>,
    /// The tasks after this one, for the look-ahead ([`crate::lookahead`]).
    pub upcoming: Option<&'a dyn Upcoming>,
    /// Templated for the look-ahead: warnings are not reported (the task reports them when it
    /// runs), and what would warn ends the batch instead.
    pub quiet: AtomicBool,
    /// The loop item running now (its index).
    pub item: AtomicUsize,
}

/// The tasks that run after the current one on a host, as far as the play can tell now.
pub(crate) trait Upcoming: Sync {
    /// The `i`-th task after the current one, as `host` would run it with its variables as
    /// they are now; `None` past the last one.
    fn task_at<'s>(&'s self, i: usize, host: &'s str) -> Option<Ahead<'s>>;
}

/// A task ahead, for the look-ahead.
pub(crate) enum Ahead<'s> {
    /// It would run (or be skipped by its `when`).
    Task(Box<HostTask<'s>>),
    /// It is skipped on the host without a result (its role already ran there).
    Skipped,
}

/// A loop's settings after templating.
struct LoopControl {
    loop_var: String,
    label: Option<Value>,
    index_var: Option<String>,
}

impl HostTask<'_> {
    fn vars_with(&self, extra: &Map<String, Value>) -> Vars {
        let mut map = self.vars.clone();
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
        self.env.vars(map)
    }

    /// A value the task cannot use, at `span` (else at the task).
    fn invalid(&self, message: impl Into<String>, span: Option<&Span>) -> TaskError {
        TaskError::Invalid {
            message: message.into(),
            span: span.unwrap_or(&self.task.span).clone(),
        }
    }

    /// Evaluates a list of conditions (`when`, `changed_when`, `failed_when`, `until`): the
    /// first false one, as written (`false_condition` keeps a literal boolean a boolean).
    fn conditions(
        &self,
        conds: &[Spanned<Value>],
        vars: &Vars,
    ) -> Result<Option<Value>, TaskError> {
        for cond in conds {
            let parsed = Condition::from_json(&cond.value).map_err(|e| {
                TaskError::Template(drover_diag::Diagnostic::error(e).with_span(cond.span.clone()))
            })?;
            let outcome = self
                .env
                .templar()
                .evaluate_when(&parsed, vars, Some(&cond.span))
                .map_err(TaskError::Template)?;
            self.warn(&outcome.warnings);
            if !outcome.value {
                return Ok(Some(cond.value.clone()));
            }
        }
        Ok(None)
    }

    fn template(
        &self,
        value: &Value,
        vars: &Vars,
        span: Option<&Span>,
    ) -> Result<Value, TaskError> {
        let outcome = self
            .env
            .templar()
            .template_value(value, vars, span)
            .map_err(|d| TaskError::Template(d.or_span(span.unwrap_or(&self.task.span))))?;
        self.warn(&outcome.warnings);
        Ok(outcome.value)
    }

    /// Reports templating warnings (unless templated for the look-ahead).
    fn warn(&self, warnings: &[drover_diag::Diagnostic]) {
        if !self.quiet.load(Ordering::Relaxed) {
            self.env.warn(warnings);
        }
    }

    fn keyword(&self, name: &str, vars: &Vars) -> Result<Option<Value>, TaskError> {
        match self.task.keywords.get(name) {
            None => Ok(None),
            Some(v) => self.template(&v.value, vars, Some(&v.span)).map(Some),
        }
    }

    /// A boolean keyword (`no_log`, `become`, `check_mode`, ...) after templating, through
    /// Ansible's `boolean()`: a value that is not a boolean is an error, as in Ansible.
    fn keyword_bool(&self, name: &str, vars: &Vars) -> Result<Option<bool>, TaskError> {
        let Some(v) = self.keyword(name, vars)? else {
            return Ok(None);
        };
        drover_python::boolean(&v).map(Some).ok_or_else(|| {
            self.invalid(
                format!(
                    "the field '{name}' has an invalid value ({}), and could not be converted to bool; use true or false (yes/no, on/off, 1/0)",
                    value_text(&v)
                ),
                self.task.keywords.get(name).map(|k| &k.span),
            )
        })
    }

    /// `no_log` for these variables. A value that cannot be evaluated hides the output (never
    /// the other way round: this keyword guards secrets).
    fn no_log(&self, vars: &Vars) -> bool {
        self.keyword_bool("no_log", vars)
            .map_or(true, |v| v.unwrap_or(false))
    }

    /// Runs the task on the host.
    pub async fn run(self) -> HostRun {
        let mut run = self.run_inner().await;
        if run.event.status == Status::Changed && !self.task.notify.is_empty() {
            let vars = self.env.vars(self.vars.clone());
            run.notify = self
                .task
                .notify
                .iter()
                .map(|n| {
                    self.template(&Value::String(n.value.clone()), &vars, Some(&n.span))
                        .map_or_else(|_| n.value.clone(), |v| value_text(&v))
                })
                .collect();
        }
        run
    }

    async fn run_inner(&self) -> HostRun {
        let started = Instant::now();
        let base_vars = self.env.vars(self.vars.clone());
        // `no_log` may depend on the loop item (`no_log: "{{ item.secret }}"`): it is evaluated
        // again per item below.
        let task_no_log = self.keyword_bool("no_log", &base_vars);
        let no_log = task_no_log.as_ref().map_or(true, |v| v.unwrap_or(false));
        let items = match self.loop_items(&base_vars) {
            Ok(items) => items,
            Err(e) => return self.finish(ItemRun::failed(e), started, no_log),
        };
        let Some(items) = items else {
            if let Err(e) = task_no_log {
                return self.finish(ItemRun::failed(e), started, true);
            }
            let mut one = self.run_item(&Map::new(), &base_vars, no_log).await;
            let included = include_item(&mut one, Map::new(), None);
            let mut run = self.finish(one, started, no_log);
            run.includes.extend(included);
            return run;
        };
        self.run_loop(items, &base_vars, task_no_log.ok().flatten(), started)
            .await
    }

    /// A loop: one event per item, then the summary result.
    async fn run_loop(
        &self,
        items: Vec<Value>,
        base_vars: &Vars,
        task_no_log: Option<bool>,
        started: Instant,
    ) -> HostRun {
        let include = is_include(self.task.module);
        let control = self.loop_control(base_vars);
        let mut results = Vec::new();
        let mut includes = Vec::new();
        let mut effects = Vec::new();
        let mut trips = 0;
        let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
        let mut any_no_log = false;
        for (index, item) in items.iter().enumerate() {
            if self.env.stop_requested() {
                break;
            }
            let mut extra = Map::new();
            extra.insert(control.loop_var.clone(), item.clone());
            if let Some(iv) = &control.index_var {
                extra.insert(iv.clone(), json!(index));
            }
            let item_vars = self.vars_with(&extra);
            let no_log = self.no_log(&item_vars);
            any_no_log |= no_log;
            self.item.store(index, Ordering::Relaxed);
            let item_started = Instant::now();
            let mut one = self.run_item(&extra, &item_vars, no_log).await;
            trips += one.round_trips;
            let label = match &control.label {
                Some(expr) => self
                    .template(expr, &item_vars, None)
                    .map_or_else(|e| e.message(), |v| value_text(&v)),
                None => value_text(item),
            };
            if include {
                let mut loop_vars = Map::new();
                loop_vars.insert(control.loop_var.clone(), item.clone());
                loop_vars.insert(
                    "ansible_loop_var".into(),
                    Value::String(control.loop_var.clone()),
                );
                if let Some(iv) = &control.index_var {
                    loop_vars.insert(iv.clone(), json!(index));
                    loop_vars.insert("ansible_index_var".into(), Value::String(iv.clone()));
                }
                includes.extend(include_item(&mut one, loop_vars, Some(label.clone())));
            }
            one.result.insert(control.loop_var.clone(), item.clone());
            one.result.insert(
                "ansible_loop_var".into(),
                Value::String(control.loop_var.clone()),
            );
            any_changed |= one.status == Status::Changed;
            any_failed |= one.status == Status::Failed;
            all_skipped &= one.status == Status::Skipped;
            let event = HostResult {
                host: self.host.to_string(),
                delegated_to: self.delegated_to(),
                status: one.status,
                item: Some(if no_log {
                    "(censored due to no_log)".into()
                } else {
                    label
                }),
                result: self.shown(&one.result, no_log),
                ignored: false,
                diffs: if no_log { Vec::new() } else { one.diffs },
                duration: item_started.elapsed(),
                round_trips: one.round_trips,
                error: failure(one.error.as_ref(), no_log),
            };
            // Ansible's default callback prints nothing for an include's ok items.
            if !(include && matches!(event.status, Status::Ok | Status::Changed)) {
                self.env.emit(drover_events::Event::HostResult(event));
            }
            effects.extend(one.effects);
            results.push(strip_internal(&one.result));
        }
        let mut summary = Map::new();
        summary.insert("changed".into(), Value::Bool(any_changed));
        summary.insert("failed".into(), Value::Bool(any_failed));
        let msg = if any_failed {
            "One or more items failed"
        } else {
            "All items completed"
        };
        summary.insert("msg".into(), Value::String(msg.into()));
        if all_skipped {
            summary.insert("skipped".into(), Value::Bool(true));
        }
        summary.insert("results".into(), Value::Array(results));
        let status = if any_failed {
            Status::Failed
        } else if all_skipped {
            Status::Skipped
        } else if any_changed {
            Status::Changed
        } else {
            Status::Ok
        };
        let summary = ItemRun {
            effects,
            round_trips: trips,
            ..ItemRun::new(status, summary)
        };
        let no_log = task_no_log.unwrap_or(false) || any_no_log;
        let mut run = self.finish(summary, started, no_log);
        run.looped = true;
        run.includes = includes;
        run
    }

    /// What callbacks see of a result.
    fn shown(&self, result: &Map<String, Value>, no_log: bool) -> Value {
        if no_log {
            censor(result)
        } else {
            clean_copy(result, self.task.module)
        }
    }

    /// The task's final event and effects from its (single or summarised) outcome.
    fn finish(&self, one: ItemRun, started: Instant, no_log: bool) -> HostRun {
        HostRun {
            event: HostResult {
                host: self.host.to_string(),
                delegated_to: self.delegated_to(),
                status: one.status,
                item: None,
                result: self.shown(&one.result, no_log),
                ignored: false,
                diffs: if no_log { Vec::new() } else { one.diffs },
                duration: started.elapsed(),
                round_trips: one.round_trips,
                error: failure(one.error.as_ref(), no_log),
            },
            looped: false,
            registered: strip_internal(&one.result),
            effects: one.effects,
            facts: one.facts,
            includes: Vec::new(),
            notify: Vec::new(),
        }
    }

    /// The loop's items, or `None` for a task without a loop.
    fn loop_items(&self, vars: &Vars) -> Result<Option<Vec<Value>>, TaskError> {
        let Some(spec) = &self.task.loop_spec else {
            return Ok(None);
        };
        let span = Some(&spec.items.span);
        let value = self.template(&spec.items.value, vars, span)?;
        let items = match (spec.kind, value) {
            ("with_dict", Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect(),
            ("with_dict", _) => {
                return Err(self.invalid("with_dict expects a dict", span));
            }
            ("with_items", Value::Array(items)) => items
                .into_iter()
                .flat_map(|i| match i {
                    Value::Array(inner) => inner,
                    other => vec![other],
                })
                .collect(),
            ("with_items", other) => vec![other],
            (_, Value::Array(items)) => items,
            (_, other) => {
                return Err(self.invalid(
                    format!(
                        "Invalid data passed to 'loop', it requires a list, got this instead: {}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.",
                        drover_template::python_text(&other)
                    ),
                    span,
                ));
            }
        };
        Ok(Some(items))
    }

    fn loop_control(&self, vars: &Vars) -> LoopControl {
        let Some(spec) = &self.task.loop_spec else {
            return LoopControl {
                loop_var: "item".into(),
                label: None,
                index_var: None,
            };
        };
        let control = &spec.control;
        let text = |v: &Option<Spanned<Value>>| {
            v.as_ref()
                .and_then(|s| self.template(&s.value, vars, Some(&s.span)).ok())
                .map(|v| value_text(&v))
        };
        LoopControl {
            loop_var: text(&control.loop_var).unwrap_or_else(|| "item".into()),
            label: control.label.as_ref().map(|l| l.value.clone()),
            index_var: text(&control.index_var),
        }
    }

    /// One item (or the single run of a task without loop).
    async fn run_item(&self, extra: &Map<String, Value>, vars: &Vars, no_log: bool) -> ItemRun {
        match self.conditions(&self.task.when, vars) {
            Ok(None) => {}
            Ok(Some(cond)) => {
                let mut result = Map::new();
                result.insert("changed".into(), Value::Bool(false));
                result.insert("false_condition".into(), cond);
                result.insert(
                    "skip_reason".into(),
                    Value::String("Conditional result was False".into()),
                );
                // as Ansible registers it: `r is skipped` reads this
                result.insert("skipped".into(), Value::Bool(true));
                return ItemRun::new(Status::Skipped, result);
            }
            Err(e) => return ItemRun::failed(e),
        }
        let retries = match self.until_retries(vars) {
            Ok(r) => r,
            Err(e) => return ItemRun::failed(e),
        };
        let mut round_trips = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut one = self.run_module(vars).await;
            round_trips += one.round_trips;
            one.round_trips = round_trips;
            // A task that failed before its module answered is not post-processed (as in
            // Ansible: `changed_when`/`failed_when`/`until` see module results only).
            if one.error.is_some() {
                return one;
            }
            if let Err(e) = self.post_process(&mut one, extra) {
                one.fail(e);
                return one;
            }
            let Some((until, retries, delay)) = &retries else {
                return one;
            };
            let mut with_result = extra.clone();
            with_result.insert(self.register_name(), Value::Object(one.result.clone()));
            let done =
                match self.conditions(std::slice::from_ref(until), &self.vars_with(&with_result)) {
                    Ok(false_condition) => false_condition.is_none(),
                    Err(e) => {
                        one.fail(e);
                        return one;
                    }
                };
            one.result.insert("attempts".into(), json!(attempt));
            if done {
                return one;
            }
            if attempt > *retries {
                one.status = Status::Failed;
                one.result.insert("failed".into(), Value::Bool(true));
                one.result.insert(
                    "msg".into(),
                    Value::String(format!(
                        "Retries exhausted ({retries} retries); the `until` condition was never met"
                    )),
                );
                return one;
            }
            // Ansible runs `retries + 1` attempts and announces `(retries + 1) - attempts` left.
            self.env.emit(drover_events::Event::Retry {
                host: self.host.to_string(),
                task: self.task.display_name(),
                retries_left: (*retries + 1).saturating_sub(attempt),
                result: self.shown(&one.result, no_log),
            });
            // a retry waits for something to change by itself: nothing taken before it holds
            self.env.look_ahead().changing();
            tokio::select! {
                () = tokio::time::sleep(*delay) => {}
                () = self.env.until_stopped() => return one,
            }
        }
    }

    fn register_name(&self) -> String {
        self.task
            .register
            .as_ref()
            .map_or_else(|| "result".into(), |r| r.value.clone())
    }

    /// `until` with its `retries` (default 3) and `delay` (default 5 s), templated: a value
    /// that is not a whole number is an error (it was silently the default).
    fn until_retries(
        &self,
        vars: &Vars,
    ) -> Result<Option<(Spanned<Value>, u32, Duration)>, TaskError> {
        let Some(until) = self.task.until.clone() else {
            return Ok(None);
        };
        let number =
            |v: &Option<Spanned<Value>>, name: &str, default: u32| -> Result<u32, TaskError> {
                let Some(s) = v else {
                    return Ok(default);
                };
                let value = self.template(&s.value, vars, Some(&s.span))?;
                value_text(&value).trim().parse::<u32>().map_err(|_| {
                    self.invalid(
                    format!(
                        "the field '{name}' has an invalid value ({}): it must be a whole number",
                        value_text(&value)
                    ),
                    Some(&s.span),
                )
                })
            };
        let retries = number(&self.task.retries, "retries", 3)?;
        let delay = number(&self.task.delay, "delay", 5)?;
        Ok(Some((
            until,
            retries,
            Duration::from_secs(u64::from(delay)),
        )))
    }

    /// `changed_when` / `failed_when`, evaluated with the result bound to the register name.
    fn post_process(&self, one: &mut ItemRun, extra: &Map<String, Value>) -> Result<(), TaskError> {
        if one.status == Status::Unreachable || one.status == Status::Skipped {
            return Ok(());
        }
        if self.task.changed_when.is_empty() && self.task.failed_when.is_empty() {
            return Ok(());
        }
        let mut with_result = extra.clone();
        with_result.insert(self.register_name(), Value::Object(one.result.clone()));
        let vars = self.vars_with(&with_result);
        // As Ansible: `failed_when` keeps the result's own `changed` (a failed command that
        // `failed_when` forgives still changed something).
        let mut changed = one.result.get("changed") == Some(&Value::Bool(true));
        if !self.task.changed_when.is_empty() {
            changed = self.conditions(&self.task.changed_when, &vars)?.is_none();
            one.result.insert("changed".into(), Value::Bool(changed));
            if one.status != Status::Failed {
                one.status = if changed { Status::Changed } else { Status::Ok };
            }
        }
        if !self.task.failed_when.is_empty() {
            let failed = self.conditions(&self.task.failed_when, &vars)?.is_none();
            one.result
                .insert("failed_when_result".into(), Value::Bool(failed));
            one.result.insert("failed".into(), Value::Bool(failed));
            one.status = if failed {
                Status::Failed
            } else if changed {
                Status::Changed
            } else {
                Status::Ok
            };
        }
        Ok(())
    }

    /// The task's arguments, templated (except the expressions of `assert`/`debug`), without
    /// the ones that are `omit`.
    fn args(&self, vars: &Vars) -> Result<Map<String, Value>, TaskError> {
        let raw = builtin::takes_raw_args(self.task.module);
        let mut args = Map::new();
        for (key, value) in &self.task.args {
            let templated = if raw && (key == "that" || key == "var") {
                value.value.clone()
            } else {
                self.template(&value.value, vars, Some(&value.span))?
            };
            if !self.env.templar().is_omit(&templated) {
                args.insert(key.clone(), templated);
            }
        }
        Ok(args)
    }

    /// Templating the arguments and running the module once.
    async fn run_module(&self, vars: &Vars) -> ItemRun {
        match self.try_module(vars).await {
            Ok(run) => run,
            Err((e, round_trips)) => ItemRun {
                round_trips,
                ..ItemRun::failed(e)
            },
        }
    }

    async fn try_module(&self, vars: &Vars) -> Result<ItemRun, (TaskError, u32)> {
        let run = self.try_module_once(vars).await;
        // what a batch stops at (a wait, a pause, live state, facts, an include) also ends what
        // was taken before it: time has passed, or someone may have acted meanwhile
        if drover_modules::lookup(self.task.module)
            .is_some_and(|m| m.look_ahead == drover_modules::LookAhead::Never)
        {
            self.env.look_ahead().changing();
        }
        run
    }

    async fn try_module_once(&self, vars: &Vars) -> Result<ItemRun, (TaskError, u32)> {
        let args = self.args(vars).map_err(|e| (e, 0))?;
        let Some(engine) = EngineModule::of(self.task.module) else {
            return self.run_node_module(&args, vars).await;
        };
        match engine {
            EngineModule::Facts => self.gather(vars).await,
            EngineModule::Include => {
                // Controller-side: the executor loads what it includes once every host has
                // answered (grouping hosts that include the same thing, as Ansible does).
                let mut result = Map::new();
                result.insert("changed".into(), Value::Bool(false));
                result.insert("include_args".into(), Value::Object(args.clone()));
                Ok(ItemRun {
                    include_args: Some(args),
                    ..ItemRun::new(Status::Ok, result)
                })
            }
            _ => self
                .run_engine_module(engine, &args, vars)
                .await
                .map_err(|e| (e, 0)),
        }
    }

    async fn run_engine_module(
        &self,
        module: EngineModule,
        args: &Map<String, Value>,
        vars: &Vars,
    ) -> Result<ItemRun, TaskError> {
        if module == EngineModule::Pause
            && let Some(message) = builtin::pause_message(args)
        {
            self.env.emit(drover_events::Event::Display { message });
        }
        let outcome = tokio::select! {
            outcome = builtin::run(
                module,
                args,
                self.env.templar(),
                vars,
                self.env.options().verbosity,
                &self.vars_dirs,
            ) => outcome,
            // Controller-side waits (`pause`) end at once on Ctrl-C.
            () = self.env.until_stopped() => return Err(TaskError::Interrupted),
        };
        let r = outcome.map_err(|message| TaskError::Engine {
            message,
            span: self.task.span.clone(),
        })?;
        let mut run = ItemRun::new(r.status, r.result);
        if r.status != Status::Failed {
            run.effects.push(r.effect);
        }
        Ok(run)
    }

    fn escalation(&self, vars: &Vars) -> Result<Become, TaskError> {
        let enabled = match self.keyword_bool("become", vars)? {
            Some(b) => b,
            None => vars
                .get("ansible_become")
                .and_then(drover_python::boolean)
                .unwrap_or(false),
        };
        let user = match self.keyword("become_user", vars)? {
            Some(v) => Some(value_text(&v)),
            None => vars.get("ansible_become_user").map(value_text),
        };
        Ok(Become {
            enabled,
            user: user.filter(|u| u != "root"),
        })
    }

    /// The shell prefix exporting the task's `environment` (play, block and task layers, in
    /// that order). As Ansible's `_post_validate_environment`: each layer is a mapping or a list
    /// of them (or templates rendering one); anything else is skipped with a warning.
    fn environment(&self, vars: &Vars) -> Result<String, TaskError> {
        let mut env = Map::new();
        for layer in &self.task.keywords.environment {
            let span = Some(&layer.span);
            let items = match &layer.value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for item in &items {
                match self.template(item, vars, span)? {
                    Value::Object(map) => env.extend(map),
                    _ if self.quiet.load(Ordering::Relaxed) => {
                        return Err(self.invalid("an environment value that warns", span));
                    }
                    _ => self.env.emit(drover_events::Event::Warning {
                        message: format!(
                            "could not parse environment value, skipping: {}",
                            drover_template::python_text(&Value::Array(items.clone()))
                        ),
                    }),
                }
            }
        }
        let mut prefix = String::new();
        for (k, v) in env {
            if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.is_empty() {
                return Err(self.invalid(
                    format!("`{k}` is not a valid environment variable name"),
                    self.task.keywords.environment.last().map(|l| &l.span),
                ));
            }
            prefix.push_str(&format!(
                "{k}={}; export {k}\n",
                drover_connection::shell::quote(&value_text(&v))
            ));
        }
        Ok(prefix)
    }

    /// Where the task runs when delegated (`delegate_to`, templated with the host's vars), for
    /// the `[host -> delegate]` label.
    fn delegated_to(&self) -> Option<String> {
        let vars = self.env.vars(self.vars.clone());
        self.keyword("delegate_to", &vars)
            .ok()
            .flatten()
            .map(|v| value_text(&v))
    }

    /// The host to connect to (the delegate, if any) and how.
    fn target(&self, vars: &Vars) -> Result<(String, Target), TaskError> {
        // the play's (or block's) `connection:` keyword; ansible_connection wins over it
        let connection = self.task.keywords.get("connection").map(|k| &k.value);
        let (to, host_vars) = match self.keyword("delegate_to", vars)? {
            None => (self.host.to_string(), self.vars.clone()),
            Some(v) => {
                let to = value_text(&v);
                let delegated = self.env.delegate_vars(&to);
                (to, delegated)
            }
        };
        let span = self
            .task
            .keywords
            .get("delegate_to")
            .or(self.task.keywords.get("connection"))
            .map(|k| &k.span);
        self.env
            .target(&to, &host_vars, connection)
            .map(|t| (to, t))
            .map_err(|message| self.invalid(message, span))
    }

    /// `setup`/`gather_facts` as a task.
    async fn gather(&self, vars: &Vars) -> Result<ItemRun, (TaskError, u32)> {
        let mut node = Node::new(self, vars);
        let out = node
            .send(facts::script())
            .await
            .map_err(|e| (e, node.trips))?;
        let found = facts::from_output(&out).map_err(|message| {
            let error = TaskError::Engine {
                message,
                span: self.task.span.clone(),
            };
            (error, node.trips)
        })?;
        Ok(ItemRun {
            round_trips: node.trips,
            ..facts::gathered(found)
        })
    }

    /// The controller hooks a node module prepares with (file and template search, templating).
    fn controller(&self, vars: &Vars) -> TaskController {
        TaskController {
            file_dirs: self.file_dirs.clone(),
            template_dirs: self.template_dirs.clone(),
            templar: self.env.templar().clone(),
            vars: vars.clone(),
        }
    }

    /// Whether diffs are wanted: the task's (block's, play's) `diff:`, else `--diff`.
    fn diff(&self, vars: &Vars) -> Result<bool, TaskError> {
        Ok(self
            .keyword_bool("diff", vars)?
            .unwrap_or(self.env.options().diff))
    }

    /// A node module: prepared here, then probe → plan → apply by the modules crate's driver.
    async fn run_node_module(
        &self,
        args: &Map<String, Value>,
        vars: &Vars,
    ) -> Result<ItemRun, (TaskError, u32)> {
        let module_error = |error| TaskError::Module {
            error,
            span: self.task.span.clone(),
        };
        let controller = self.controller(vars);
        let diff = self.diff(vars).map_err(|e| (e, 0))?;
        let check = self
            .keyword_bool("check_mode", vars)
            .map_err(|e| (e, 0))?
            .unwrap_or(self.env.options().check);
        let escalation = self.escalation(vars).map_err(|e| (e, 0))?;
        let ctx = TaskContext {
            host: self.host,
            controller: &controller,
            diff,
            escalated: escalation.enabled,
        };
        let action = match drover_modules::prepare(self.task.module, args, &ctx) {
            Ok(Prepared::Local(result)) => return Ok(module_run(&result, Vec::new(), 0)),
            Ok(Prepared::Remote(action)) => action,
            Err(e) => return Err((module_error(e), 0)),
        };
        let mut node = Node::new(self, vars);
        node.escalation = Some(escalation);
        match drover_modules::drive(action.as_ref(), check, &mut node).await {
            Ok(driven) => {
                if driven.outcome != drover_modules::Outcome::Satisfied && !check {
                    // a module may change things without a request of its own (`fetch` writes
                    // on the controller in `finish`)
                    self.env.look_ahead().changing();
                }
                // Shown when `--diff` or the task's (block's, play's) `diff:` says so.
                let diffs = driven
                    .diffs
                    .iter()
                    .filter(|_| diff)
                    .map(|d| Diff {
                        unified: d.unified(),
                    })
                    .filter(|d| !d.unified.is_empty())
                    .collect();
                Ok(module_run(&driven.result, diffs, node.trips))
            }
            Err(DriveError::Module(e)) => Err((module_error(e), node.trips)),
            Err(DriveError::Transport(e)) => Err((e, node.trips)),
        }
    }
}

/// Look-ahead ([`crate::lookahead`]): the probes of what comes after the running probe.
impl HostTask<'_> {
    /// Pushes onto `out` (up to `budget`) the probes of this task's loop items after the
    /// running one, then of the tasks ahead, as each would send them now, in run order. Stops
    /// where a task cannot be foreseen (see [`HostTask::probes_from`]). `escalation` is the
    /// running probe's `become`: the whole batch runs under it.
    fn speculate(&self, escalation: &Become, budget: usize, out: &mut Vec<Request>) {
        if self.task.loop_spec.is_some() {
            let next = self.item.load(Ordering::Relaxed) + 1;
            let more = {
                self.quiet.store(true, Ordering::Relaxed);
                let more = self.probes_from(next, escalation, budget, out);
                self.quiet.store(false, Ordering::Relaxed);
                more
            };
            if !more {
                return;
            }
        }
        let Some(upcoming) = self.upcoming else {
            return;
        };
        for i in 0.. {
            if out.len() >= budget {
                return;
            }
            match upcoming.task_at(i, self.host) {
                None => return,
                Some(Ahead::Skipped) => {}
                Some(Ahead::Task(task)) => {
                    if !task.probes_from(0, escalation, budget, out) {
                        return;
                    }
                }
            }
        }
    }

    /// The probes of this task's items from `from` on (the task itself without a loop), as
    /// [`HostTask::speculate`] takes them. `false` when a batch must stop here: a module that
    /// runs commands or reads live state, an include or `meta`, `delegate_to`, another `become`, a
    /// loop, condition or argument that cannot be templated yet, the budget reached.
    fn probes_from(
        &self,
        from: usize,
        escalation: &Become,
        budget: usize,
        out: &mut Vec<Request>,
    ) -> bool {
        use drover_modules::{LookAhead, Runner};
        let Some(spec) = drover_modules::lookup(self.task.module) else {
            return false;
        };
        if spec.look_ahead == LookAhead::Never
            || self.task.keywords.get("delegate_to").is_some()
            || self.task.keywords.get("run_once").is_some()
        {
            return false;
        }
        if !matches!(spec.runner, Runner::Node(_)) {
            // an engine module that changes no node and no control flow
            return true;
        }
        let base = self.env.vars(self.vars.clone());
        let items = match self.loop_items(&base) {
            Ok(None) => vec![None],
            Ok(Some(items)) => items.into_iter().map(Some).collect(),
            Err(_) => return false,
        };
        let control = self.loop_control(&base);
        for (index, item) in items.into_iter().enumerate().skip(from) {
            let looped;
            let vars = match item {
                None => &base,
                Some(item) => {
                    let mut extra = Map::new();
                    extra.insert(control.loop_var.clone(), item);
                    if let Some(iv) = &control.index_var {
                        extra.insert(iv.clone(), json!(index));
                    }
                    looped = self.vars_with(&extra);
                    &looped
                }
            };
            match self.probe_of(vars, escalation) {
                Foreseen::Probe(request) => {
                    let size: usize = out.iter().map(|r| r.script.len()).sum();
                    if size + request.script.len() > crate::lookahead::MAX_BATCH_BYTES {
                        return false;
                    }
                    out.push(request);
                }
                Foreseen::Nothing => {}
                Foreseen::Unknown => return false,
            }
            if out.len() >= budget {
                return false;
            }
        }
        spec.look_ahead == LookAhead::Probe
    }

    /// The probe one item would send now, if the batch (run as `escalation`) can carry it.
    fn probe_of(&self, vars: &Vars, escalation: &Become) -> Foreseen {
        let Ok(when) = self.conditions(&self.task.when, vars) else {
            return Foreseen::Unknown;
        };
        if when.is_some() {
            return Foreseen::Nothing; // skipped now; if it runs after all, it probes then
        }
        let prepared = (|| {
            let args = self.args(vars).ok()?;
            // (another connection's task is not stopped for: its probe is kept under the
            // connection that took it, where that task never looks, so it is only wasted)
            let task_escalation = self.escalation(vars).ok()?;
            if task_escalation != *escalation {
                return None;
            }
            let env = self.environment(vars).ok()?;
            let controller = self.controller(vars);
            let ctx = TaskContext {
                host: self.host,
                controller: &controller,
                diff: self.diff(vars).ok()?,
                escalated: escalation.enabled,
            };
            let prepared = drover_modules::prepare(self.task.module, &args, &ctx).ok()?;
            Some((prepared, env))
        })();
        let Some((prepared, env)) = prepared else {
            return Foreseen::Unknown;
        };
        let Prepared::Remote(action) = prepared else {
            return Foreseen::Nothing;
        };
        let Some(probe) = action.probe() else {
            return Foreseen::Nothing;
        };
        let mut request = probe.with_become(escalation.clone());
        if !env.is_empty() {
            request.script = format!("{env}{}", request.script);
        }
        if batchable(&request) {
            Foreseen::Probe(request)
        } else {
            Foreseen::Unknown
        }
    }
}

/// What the look-ahead can tell of one item's probe.
enum Foreseen {
    /// The request it would send.
    Probe(Request),
    /// None: skipped by its `when`, answered on the controller, or a module without a probe.
    Nothing,
    /// It cannot be told now (or not carried by this batch): the batch stops.
    Unknown,
}

/// A module's result as an item outcome.
fn module_run(result: &ModuleResult, diffs: Vec<Diff>, round_trips: u32) -> ItemRun {
    let status = if result.failed {
        Status::Failed
    } else if result.skipped {
        Status::Skipped
    } else if result.changed {
        Status::Changed
    } else {
        Status::Ok
    };
    let Value::Object(map) = result.to_registered() else {
        unreachable!("a registered result is a mapping")
    };
    ItemRun {
        diffs,
        round_trips,
        ..ItemRun::new(status, map)
    }
}

/// The task's node, as the modules' driver sees it: each request gets the task's `become`
/// and `environment`, and goes to the host (or its delegate) over the run's pool.
struct Node<'t, 'a> {
    task: &'t HostTask<'a>,
    vars: &'t Vars,
    /// What every request of the task shares, worked out at the first one.
    ready: Option<Ready>,
    /// The task's `become`, when the caller has templated it already.
    escalation: Option<Become>,
    /// Requests that reached a connection.
    trips: u32,
}

/// The task's `become`, `environment` prefix and connection (the same for every request of one
/// item: templated and looked up once, not per round trip).
struct Ready {
    escalation: Become,
    env: String,
    conn: std::sync::Arc<Box<dyn drover_connection::Connection>>,
}

impl Ready {
    /// A module's request as it is sent: with the task's `environment` and `become`.
    fn finish(&self, mut request: Request) -> Request {
        request.escalation = self.escalation.clone();
        if !self.env.is_empty() {
            request.script = format!("{}{}", self.env, request.script);
        }
        request
    }

    /// The connection's key in the look-ahead (its place in the run's pool).
    fn conn_key(&self) -> usize {
        std::sync::Arc::as_ptr(&self.conn).cast::<()>() as usize
    }
}

impl<'t, 'a> Node<'t, 'a> {
    fn new(task: &'t HostTask<'a>, vars: &'t Vars) -> Self {
        Node {
            task,
            vars,
            ready: None,
            escalation: None,
            trips: 0,
        }
    }

    async fn prepare(&self) -> Result<Ready, TaskError> {
        let task = self.task;
        let escalation = match &self.escalation {
            Some(escalation) => escalation.clone(),
            None => task.escalation(self.vars)?,
        };
        let env = task.environment(self.vars)?;
        let (to, target) = task.target(self.vars)?;
        let conn = task
            .env
            .connect(&to, target.as_ref())
            .await
            .map_err(|e| TaskError::connection(e, &task.task.span))?;
        Ok(Ready {
            escalation,
            env,
            conn,
        })
    }

    /// What the task's requests share, worked out at the first one.
    async fn take_ready(&mut self) -> Result<Ready, TaskError> {
        match self.ready.take() {
            Some(ready) => Ok(ready),
            None => self.prepare().await,
        }
    }

    /// A request that may change something: the look-ahead forgets what it took before it.
    async fn send_now(&mut self, request: Request) -> Result<Output, TaskError> {
        let ready = self.take_ready().await?;
        let request = ready.finish(request);
        self.trips += 1;
        let ahead = self.task.env.look_ahead();
        ahead.changing();
        let out = ready.conn.run(&request).await;
        ahead.changing();
        self.ready = Some(ready);
        out.map_err(|e| TaskError::connection(e, &self.task.task.span))
    }

    /// A module's read-only probe: answered from the look-ahead when it kept this very
    /// request, else sent with the probes of the tasks ahead in the same round trip.
    async fn probe_now(&mut self, request: Request) -> Result<Output, TaskError> {
        let ready = self.take_ready().await?;
        let request = ready.finish(request);
        let ahead = self.task.env.look_ahead();
        let conn = ready.conn_key();
        let window = match ahead.take(conn, &request) {
            Ok(out) => {
                self.ready = Some(ready);
                return Ok(out);
            }
            Err(window) => window,
        };
        let taken_at = ahead.now();
        let mut more = Vec::new();
        if window > 0 && batchable(&request) {
            self.task.speculate(&ready.escalation, window, &mut more);
        }
        self.trips += 1;
        let out = self.send_batch(&ready, request, more, taken_at).await;
        self.ready = Some(ready);
        out.map_err(|e| TaskError::connection(e, &self.task.task.span))
    }

    /// Sends `first` with the probes in `more` in one request, keeps theirs, returns its own.
    async fn send_batch(
        &self,
        ready: &Ready,
        first: Request,
        more: Vec<Request>,
        taken_at: u64,
    ) -> drover_connection::Result<Output> {
        if more.is_empty() {
            return ready.conn.run(&first).await;
        }
        let scripts: Vec<&str> = std::iter::once(&first)
            .chain(&more)
            .map(|r| r.script.as_str())
            .collect();
        let Some((batch_request, batch)) =
            drover_connection::Batch::new(&scripts, &first.escalation)
        else {
            return ready.conn.run(&first).await;
        };
        let out = ready.conn.run(&batch_request).await?;
        let mut parts = batch.split(&out).into_iter();
        let Some(own) = parts.next().flatten() else {
            // the batch ended before the probe did: send it alone, as without look-ahead
            return ready.conn.run(&first).await;
        };
        let kept = more
            .into_iter()
            .zip(parts)
            .filter_map(|(request, out)| Some((request, out?)))
            .collect();
        self.task
            .env
            .look_ahead()
            .keep(ready.conn_key(), taken_at, kept);
        Ok(own)
    }
}

impl Transport for Node<'_, '_> {
    type Error = TaskError;

    fn send(
        &mut self,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Output, TaskError>> + Send {
        self.send_now(request)
    }

    fn probe(
        &mut self,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Output, TaskError>> + Send {
        self.probe_now(request)
    }
}

/// The event's failure: censored under `no_log` (the location stays).
fn failure(error: Option<&TaskError>, no_log: bool) -> Option<TaskFailure> {
    let mut failure = error?.to_failure();
    if no_log {
        failure.message = crate::outcome::NO_LOG_TEXT.into();
    }
    Some(failure)
}

/// What an include item brings in, unless it was skipped or failed.
fn include_item(
    one: &mut ItemRun,
    loop_vars: Map<String, Value>,
    label: Option<String>,
) -> Option<IncludeItem> {
    if one.status != Status::Ok {
        return None;
    }
    Some(IncludeItem {
        args: one.include_args.take()?,
        loop_vars,
        label,
    })
}
