//! One task on one host: loop items, `when`, argument templating, the module's
//! probe → plan → apply, `until`/`retries`, `changed_when`/`failed_when`, `no_log`.

use std::time::{Duration, Instant};

use drover_connection::{Become, Request};
use drover_diag::{Diagnostic, Span};
use drover_events::{Diff, HostResult, Status};
use drover_modules::{Outcome, Prepared, TaskContext};
use drover_playbook::Task;
use drover_template::{Condition, Vars};
use serde_json::{Map, Value, json};

use crate::builtin::{self, Effect};
use crate::connect::Target;
use crate::controller::TaskController;
use crate::{Executor, facts};

/// Ansible's text for censored results.
pub const NO_LOG_TEXT: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

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
    matches!(module, "include_tasks" | "include_role")
}

/// Everything a task needs on one host.
pub struct HostTask<'a> {
    /// The run.
    pub exec: &'a Executor,
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
}

/// A failure of the task (not of the module): bad template, unknown module, ….
fn task_error(result: &mut Map<String, Value>, msg: String) {
    result.insert("failed".into(), Value::Bool(true));
    result.insert("changed".into(), Value::Bool(false));
    result.insert("msg".into(), Value::String(msg));
}

impl HostTask<'_> {
    fn vars_with(&self, extra: &Map<String, Value>) -> Vars {
        let mut map = self.vars.clone();
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
        self.exec.vars(map)
    }

    fn diag_text(d: &Diagnostic) -> String {
        d.to_string().trim_end().to_string()
    }

    /// Evaluates a list of conditions (`when`, `changed_when`, `failed_when`, `until`).
    fn conditions(
        &self,
        conds: &[drover_playbook::Spanned<Value>],
        vars: &Vars,
    ) -> Result<(bool, Option<Value>), String> {
        for cond in conds {
            let parsed = Condition::from_json(&cond.value)
                .map_err(|e| Self::diag_text(&Diagnostic::error(e).with_span(cond.span.clone())))?;
            let outcome = self
                .exec
                .templar
                .evaluate_when(&parsed, vars, Some(&cond.span))
                .map_err(|d| Self::diag_text(&d))?;
            self.exec.warn(&outcome.warnings);
            if !outcome.value {
                // As written: `false_condition` keeps a literal boolean a boolean.
                return Ok((false, Some(cond.value.clone())));
            }
        }
        Ok((true, None))
    }

    fn template(&self, value: &Value, vars: &Vars, span: Option<&Span>) -> Result<Value, String> {
        let outcome = self
            .exec
            .templar
            .template_value(value, vars, span)
            .map_err(|d| Self::diag_text(&d))?;
        self.exec.warn(&outcome.warnings);
        Ok(outcome.value)
    }

    fn keyword(&self, name: &str, vars: &Vars) -> Result<Option<Value>, String> {
        match self.task.keywords.get(name) {
            None => Ok(None),
            Some(v) => self.template(&v.value, vars, Some(&v.span)).map(Some),
        }
    }

    /// A boolean keyword (`no_log`, `become`, `run_once`, ...) after templating, through
    /// Ansible's `boolean()`: a value that is not a boolean is an error, as in Ansible (it was
    /// taken as false).
    fn keyword_bool(&self, name: &str, vars: &Vars) -> Result<Option<bool>, String> {
        match self.keyword(name, vars)? {
            None => Ok(None),
            Some(v) => drover_python::boolean(&v).map(Some).ok_or_else(|| {
                format!(
                    "the field '{name}' has an invalid value ({}), and could not be converted to bool; use true or false (yes/no, on/off, 1/0)",
                    value_text(&v)
                )
            }),
        }
    }

    /// Runs the task on the host.
    pub async fn run(self) -> HostRun {
        let mut run = self.run_inner().await;
        if run.event.status == Status::Changed && !self.task.notify.is_empty() {
            let vars = self.exec.vars(self.vars.clone());
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
        let base_vars = self.exec.vars(self.vars.clone());
        // `no_log` may depend on the loop item (`no_log: "{{ item.secret }}"`): it is evaluated
        // again per item below. A value that cannot be evaluated hides the output (never the
        // other way round: this keyword guards secrets).
        let task_no_log = self.keyword_bool("no_log", &base_vars);
        let no_log = match &task_no_log {
            Ok(v) => v.unwrap_or(false),
            Err(_) => true,
        };
        let items = match self.loop_items(&base_vars) {
            Ok(items) => items,
            Err(msg) => {
                let mut one = ItemRun {
                    status: Status::Failed,
                    ..ItemRun::default()
                };
                task_error(&mut one.result, msg);
                return self.finish_single(one, started, no_log);
            }
        };
        let include = is_include(self.task.module);
        let Some(items) = items else {
            if let Err(msg) = task_no_log {
                let mut one = ItemRun {
                    status: Status::Failed,
                    ..ItemRun::default()
                };
                task_error(&mut one.result, msg);
                return self.finish_single(one, started, true);
            }
            let one = self.run_item(&Map::new(), &base_vars, no_log).await;
            let included = include_item(&one, Map::new(), None);
            let mut run = self.finish_single(one, started, no_log);
            run.includes.extend(included);
            return run;
        };
        // A loop: one event per item, then a summary.
        let (loop_var, label_expr, index_var) = self.loop_control(&base_vars);
        let mut results = Vec::new();
        let mut includes = Vec::new();
        let mut effects = Vec::new();
        let mut trips = 0;
        let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
        let mut any_no_log = false;
        for (index, item) in items.iter().enumerate() {
            if self.exec.stop_requested() {
                break;
            }
            let mut extra = Map::new();
            extra.insert(loop_var.clone(), item.clone());
            if let Some(iv) = &index_var {
                extra.insert(iv.clone(), json!(index));
            }
            let item_vars = self.vars_with(&extra);
            let no_log = match self.keyword_bool("no_log", &item_vars) {
                Ok(v) => v.unwrap_or(false),
                Err(_) => true,
            };
            any_no_log |= no_log;
            let item_started = Instant::now();
            let one = self.run_item(&extra, &item_vars, no_log).await;
            trips += one.round_trips;
            let label = match &label_expr {
                Some(expr) => self
                    .template(expr, &item_vars, None)
                    .map(|v| value_text(&v))
                    .unwrap_or_else(|e| e),
                None => value_text(item),
            };
            if include {
                let mut loop_vars = Map::new();
                loop_vars.insert(loop_var.clone(), item.clone());
                loop_vars.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
                if let Some(iv) = &index_var {
                    loop_vars.insert(iv.clone(), json!(index));
                    loop_vars.insert("ansible_index_var".into(), Value::String(iv.clone()));
                }
                includes.extend(include_item(&one, loop_vars, Some(label.clone())));
            }
            let mut result = one.result;
            result.insert(loop_var.clone(), item.clone());
            result.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
            any_changed |= one.status == Status::Changed;
            any_failed |= one.status == Status::Failed;
            all_skipped &= one.status == Status::Skipped;
            let shown = if no_log {
                censor(&result)
            } else {
                clean_copy(&result, self.task.module)
            };
            let event = HostResult {
                host: self.host.to_string(),
                delegated_to: self.delegated_to(),
                status: one.status,
                item: Some(if no_log {
                    "(censored due to no_log)".into()
                } else {
                    label
                }),
                result: shown,
                ignored: false,
                diffs: if no_log { Vec::new() } else { one.diffs },
                duration: item_started.elapsed(),
                round_trips: one.round_trips,
            };
            // Ansible's default callback prints nothing for an include's ok items.
            if !(include && matches!(event.status, Status::Ok | Status::Changed)) {
                self.exec.emit(drover_events::Event::HostResult(event));
            }
            effects.extend(one.effects);
            results.push(strip_internal(&result));
        }
        let mut summary = Map::new();
        summary.insert("changed".into(), Value::Bool(any_changed));
        summary.insert("failed".into(), Value::Bool(any_failed));
        summary.insert(
            "msg".into(),
            Value::String(if any_failed {
                "One or more items failed".into()
            } else {
                "All items completed".into()
            }),
        );
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
            status,
            result: summary,
            effects,
            round_trips: trips,
            ..ItemRun::default()
        };
        let summary_no_log = match task_no_log {
            Ok(v) => v.unwrap_or(false) || any_no_log,
            Err(_) => true,
        };
        let mut run = self.finish_single(summary, started, summary_no_log);
        run.looped = true;
        run.includes = includes;
        run
    }

    /// The task's final event and effects from its (single or summarised) result.
    fn finish_single(&self, one: ItemRun, started: Instant, no_log: bool) -> HostRun {
        let registered = strip_internal(&one.result);
        let shown = if no_log {
            censor(&one.result)
        } else {
            clean_copy(&one.result, self.task.module)
        };
        HostRun {
            event: HostResult {
                host: self.host.to_string(),
                delegated_to: self.delegated_to(),
                status: one.status,
                item: None,
                result: shown,
                ignored: false,
                diffs: if no_log { Vec::new() } else { one.diffs },
                duration: started.elapsed(),
                round_trips: one.round_trips,
            },
            looped: false,
            effects: one.effects,
            facts: one.facts,
            registered,
            includes: Vec::new(),
            notify: Vec::new(),
        }
    }

    /// The loop's items, or `None` for a task without a loop.
    fn loop_items(&self, vars: &Vars) -> Result<Option<Vec<Value>>, String> {
        let Some(spec) = &self.task.loop_spec else {
            return Ok(None);
        };
        let value = self.template(&spec.items.value, vars, Some(&spec.items.span))?;
        let items = match (spec.kind, value) {
            ("with_dict", Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect(),
            ("with_dict", other) => {
                return Err(format!(
                    "`with_dict` expects a dict, got {}",
                    kind_of(&other)
                ));
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
            (_, Value::String(s)) => {
                return Err(format!(
                    "invalid data passed to 'loop', it requires a list, got this instead: {s}. Hint: if you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup."
                ));
            }
            (_, other) => {
                return Err(format!(
                    "invalid data passed to 'loop', it requires a list, got this instead: {other}"
                ));
            }
        };
        Ok(Some(items))
    }

    fn loop_control(&self, vars: &Vars) -> (String, Option<Value>, Option<String>) {
        let Some(spec) = &self.task.loop_spec else {
            return ("item".into(), None, None);
        };
        let control = &spec.control;
        let text = |v: &Option<drover_playbook::Spanned<Value>>| {
            v.as_ref()
                .and_then(|s| self.template(&s.value, vars, Some(&s.span)).ok())
                .map(|v| value_text(&v))
        };
        let loop_var = text(&control.loop_var).unwrap_or_else(|| "item".into());
        let label = control.label.as_ref().map(|l| l.value.clone());
        (loop_var, label, text(&control.index_var))
    }

    /// One item (or the single run of a task without loop).
    async fn run_item(&self, extra: &Map<String, Value>, vars: &Vars, no_log: bool) -> ItemRun {
        let mut run = ItemRun::default();
        // when
        match self.conditions(&self.task.when, vars) {
            Ok((true, _)) => {}
            Ok((false, cond)) => {
                run.status = Status::Skipped;
                run.result.insert("changed".into(), Value::Bool(false));
                if let Some(cond) = cond {
                    run.result.insert("false_condition".into(), cond);
                }
                run.result.insert(
                    "skip_reason".into(),
                    Value::String("Conditional result was False".into()),
                );
                // as Ansible registers it: `r is skipped` reads this
                run.result.insert("skipped".into(), Value::Bool(true));
                return run;
            }
            Err(msg) => {
                task_error(&mut run.result, msg);
                run.status = Status::Failed;
                return run;
            }
        }
        let retries = self.until_retries(vars);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut one = self.run_module(vars).await;
            run.round_trips += one.round_trips;
            if let Err(msg) = self.post_process(&mut one, extra) {
                task_error(&mut one.result, msg);
                one.status = Status::Failed;
            }
            let Some((until, retries, delay)) = &retries else {
                return merge(run, one);
            };
            if one.status == Status::Unreachable {
                return merge(run, one);
            }
            let mut with_result = extra.clone();
            with_result.insert(self.register_name(), Value::Object(one.result.clone()));
            let done =
                match self.conditions(std::slice::from_ref(until), &self.vars_with(&with_result)) {
                    Ok((ok, _)) => ok,
                    Err(msg) => {
                        task_error(&mut one.result, msg);
                        one.status = Status::Failed;
                        return merge(run, one);
                    }
                };
            one.result.insert("attempts".into(), json!(attempt));
            if done {
                if one.status == Status::Failed
                    && one.result.get("failed") == Some(&Value::Bool(true))
                {
                    // until passed; Ansible still reports the module's own failure
                }
                return merge(run, one);
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
                return merge(run, one);
            }
            // Ansible runs `retries + 1` attempts and announces `(retries + 1) - attempts` left.
            let shown = if no_log {
                censor(&one.result)
            } else {
                clean_copy(&one.result, self.task.module)
            };
            self.exec.emit(drover_events::Event::Retry {
                host: self.host.to_string(),
                task: self.task.display_name(),
                retries_left: (*retries + 1).saturating_sub(attempt),
                result: shown,
            });
            tokio::select! {
                () = tokio::time::sleep(*delay) => {}
                () = self.exec.until_stopped() => return merge(run, one),
            }
        }
    }

    fn register_name(&self) -> String {
        self.task
            .register
            .as_ref()
            .map_or_else(|| "result".into(), |r| r.value.clone())
    }

    fn until_retries(
        &self,
        vars: &Vars,
    ) -> Option<(drover_playbook::Spanned<Value>, u32, Duration)> {
        let until = self.task.until.clone()?;
        let number = |v: &Option<drover_playbook::Spanned<Value>>, default: u64| {
            v.as_ref()
                .and_then(|s| self.template(&s.value, vars, Some(&s.span)).ok())
                .and_then(|v| value_text(&v).trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let retries = u32::try_from(number(&self.task.retries, 3)).unwrap_or(3);
        let delay = Duration::from_secs(number(&self.task.delay, 5));
        Some((until, retries, delay))
    }

    /// `changed_when` / `failed_when`, evaluated with the result bound to the register name.
    fn post_process(&self, one: &mut ItemRun, extra: &Map<String, Value>) -> Result<(), String> {
        if one.status == Status::Unreachable || one.status == Status::Skipped {
            return Ok(());
        }
        if self.task.changed_when.is_empty() && self.task.failed_when.is_empty() {
            return Ok(());
        }
        let mut with_result = extra.clone();
        with_result.insert(self.register_name(), Value::Object(one.result.clone()));
        let vars = self.vars_with(&with_result);
        if !self.task.changed_when.is_empty() {
            let (changed, _) = self.conditions(&self.task.changed_when, &vars)?;
            one.result.insert("changed".into(), Value::Bool(changed));
            if one.status != Status::Failed {
                one.status = if changed { Status::Changed } else { Status::Ok };
            }
        }
        if !self.task.failed_when.is_empty() {
            let (failed, _) = self.conditions(&self.task.failed_when, &vars)?;
            one.result
                .insert("failed_when_result".into(), Value::Bool(failed));
            one.result.insert("failed".into(), Value::Bool(failed));
            let changed = one.result.get("changed") == Some(&Value::Bool(true));
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

    /// Templating the arguments and running the module once.
    async fn run_module(&self, vars: &Vars) -> ItemRun {
        let mut run = ItemRun::default();
        let module = self.task.module;
        let raw = builtin::takes_raw_args(module);
        let mut args = Map::new();
        for (key, value) in &self.task.args {
            let templated = if raw && (key == "that" || key == "var") {
                Ok(value.value.clone())
            } else {
                self.template(&value.value, vars, Some(&value.span))
            };
            match templated {
                Ok(v) if self.exec.templar.is_omit(&v) => {}
                Ok(v) => {
                    args.insert(key.clone(), v);
                }
                Err(msg) => {
                    task_error(&mut run.result, msg);
                    run.status = Status::Failed;
                    return run;
                }
            }
        }
        match module {
            "setup" | "gather_facts" => return self.gather(vars).await,
            "include_tasks" | "include_role" => {
                // Controller-side: the executor loads what it includes once every host has
                // answered (grouping hosts that include the same thing, as Ansible does).
                run.result.insert("changed".into(), Value::Bool(false));
                run.result
                    .insert("include_args".into(), Value::Object(args));
                run.status = Status::Ok;
                return run;
            }
            _ => {}
        }
        if drover_modules::ENGINE_MODULES.contains(&module) {
            if module == "pause"
                && let Some(message) = builtin::pause_message(&args)
            {
                self.exec.emit(drover_events::Event::Display { message });
            }
            let outcome = tokio::select! {
                outcome = builtin::run(
                    module,
                    &args,
                    &self.exec.templar,
                    vars,
                    self.exec.options.verbosity,
                    &self.vars_dirs,
                ) => outcome,
                // Controller-side waits (`pause`) end at once on Ctrl-C.
                () = self.exec.until_stopped() => Err("interrupted".to_string()),
            };
            match outcome {
                Ok(r) => {
                    run.status = status_of(&r.result);
                    run.result = r.result;
                    if run.status != Status::Failed {
                        run.effects.push(r.effect);
                    }
                }
                Err(msg) => {
                    task_error(&mut run.result, msg);
                    run.status = Status::Failed;
                }
            }
            return run;
        }
        self.run_remote(module, &args, vars).await
    }

    fn escalation(&self, vars: &Vars) -> Result<Become, String> {
        let enabled = match self.keyword_bool("become", vars)? {
            Some(b) => b,
            None => vars
                .get("ansible_become")
                .and_then(drover_modules::params::to_bool)
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

    fn environment(&self, vars: &Vars) -> Result<String, String> {
        let mut prefix = String::new();
        for env in &self.task.keywords.environment {
            let value = self.template(&env.value, vars, Some(&env.span))?;
            let Value::Object(map) = value else {
                return Err("`environment` must be a mapping of variable names to values".into());
            };
            for (k, v) in map {
                if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.is_empty() {
                    return Err(format!("`{k}` is not a valid environment variable name"));
                }
                prefix.push_str(&format!(
                    "{k}={}; export {k}\n",
                    drover_connection::shell::quote(&value_text(&v))
                ));
            }
        }
        Ok(prefix)
    }

    fn check_mode(&self, vars: &Vars) -> Result<bool, String> {
        Ok(self
            .keyword_bool("check_mode", vars)?
            .unwrap_or(self.exec.options.check))
    }

    /// Where the task runs when delegated (`delegate_to`, templated with the host's vars), for
    /// the `[host -> delegate]` label.
    fn delegated_to(&self) -> Option<String> {
        let vars = self.exec.vars(self.vars.clone());
        self.keyword("delegate_to", &vars)
            .ok()
            .flatten()
            .map(|v| value_text(&v))
    }

    async fn target(&self, vars: &Vars) -> Result<(String, Target), String> {
        // the play's (or block's) `connection:` keyword; ansible_connection wins over it
        let connection = self.task.keywords.get("connection").map(|k| &k.value);
        match self.keyword("delegate_to", vars)? {
            None => self
                .exec
                .target_with_keyword(self.host, &self.vars, connection)
                .map(|t| (self.host.to_string(), t)),
            Some(v) => {
                let to = value_text(&v);
                let delegated_vars = self.exec.delegate_vars(&to);
                self.exec
                    .target_with_keyword(&to, &delegated_vars, connection)
                    .map(|t| (to, t))
            }
        }
    }

    async fn gather(&self, vars: &Vars) -> ItemRun {
        let mut run = ItemRun::default();
        let request = match self.prepare_request(facts::script(), vars) {
            Ok(r) => r,
            Err(msg) => {
                task_error(&mut run.result, msg);
                run.status = Status::Failed;
                return run;
            }
        };
        match self.send(&request, vars, &mut run).await {
            Some(out) if out.status == 0 => {
                let gathered = facts::parse(&out.stdout_text());
                run.result.insert("changed".into(), Value::Bool(false));
                run.result
                    .insert("ansible_facts".into(), Value::Object(gathered.clone()));
                run.facts = Some(gathered);
                run.status = Status::Ok;
            }
            Some(out) => {
                task_error(
                    &mut run.result,
                    format!("gathering facts failed: {}", out.stderr_text().trim()),
                );
                run.status = Status::Failed;
            }
            None => {}
        }
        run
    }

    fn prepare_request(&self, mut request: Request, vars: &Vars) -> Result<Request, String> {
        request.escalation = self.escalation(vars)?;
        let env = self.environment(vars)?;
        if !env.is_empty() {
            request.script = format!("{env}{}", request.script);
        }
        Ok(request)
    }

    /// Sends one request; on connection failure fills `run` as unreachable/failed and returns None.
    async fn send(
        &self,
        request: &Request,
        vars: &Vars,
        run: &mut ItemRun,
    ) -> Option<drover_connection::Output> {
        let (to, target) = match self.target(vars).await {
            Ok(t) => t,
            Err(msg) => {
                task_error(&mut run.result, msg);
                run.status = Status::Failed;
                return None;
            }
        };
        let conn = match self.exec.pool.get(&to, &target).await {
            Ok(c) => c,
            Err(e) => {
                run.mark_connection_error(&e);
                return None;
            }
        };
        run.round_trips += 1;
        match conn.run(request).await {
            Ok(out) => Some(out),
            Err(e) => {
                run.mark_connection_error(&e);
                None
            }
        }
    }

    async fn run_remote(&self, module: &str, args: &Map<String, Value>, vars: &Vars) -> ItemRun {
        let mut run = ItemRun::default();
        let controller = TaskController {
            file_dirs: self.file_dirs.clone(),
            template_dirs: self.template_dirs.clone(),
            templar: self.exec.templar.clone(),
            vars: vars.clone(),
        };
        let diff = self
            .keyword_bool("diff", vars)
            .ok()
            .flatten()
            .unwrap_or(self.exec.options.diff);
        let ctx = TaskContext {
            host: self.host,
            controller: &controller,
            diff,
        };
        let action = match drover_modules::prepare(module, args, &ctx) {
            Ok(Prepared::Local(result)) => {
                let v = result.to_registered();
                run.status = status_of(v.as_object().unwrap_or(&Map::new()));
                run.result = v.as_object().cloned().unwrap_or_default();
                return run;
            }
            Ok(Prepared::Remote(action)) => action,
            Err(e) => {
                task_error(&mut run.result, e.to_string());
                run.status = Status::Failed;
                return run;
            }
        };
        let check = match self.check_mode(vars) {
            Ok(c) => c,
            Err(msg) => {
                task_error(&mut run.result, msg);
                run.status = Status::Failed;
                return run;
            }
        };
        let probe = match action.probe() {
            None => None,
            Some(request) => {
                let request = match self.prepare_request(request, vars) {
                    Ok(r) => r,
                    Err(msg) => {
                        task_error(&mut run.result, msg);
                        run.status = Status::Failed;
                        return run;
                    }
                };
                match self.send(&request, vars, &mut run).await {
                    Some(out) => Some(out),
                    None => return run,
                }
            }
        };
        let plan = match action.plan(probe.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                task_error(&mut run.result, e.to_string());
                run.status = Status::Failed;
                return run;
            }
        };
        let diffs: Vec<Diff> = plan
            .diffs
            .iter()
            .map(|d| Diff {
                unified: d.unified(),
            })
            .filter(|d| !d.unified.is_empty())
            .collect();
        let finished = match (plan.outcome, check) {
            (Outcome::Satisfied, _) => plan.result.clone(),
            (Outcome::Unpredictable, true) => plan.result.clone(),
            (Outcome::Change, true) => match action.check_request(&plan) {
                None => plan.result.clone(),
                Some(request) => {
                    // A read-only confirmation (get_url's HEAD request), as Ansible's check
                    // mode sends.
                    let request = match self.prepare_request(request, vars) {
                        Ok(r) => r,
                        Err(msg) => {
                            task_error(&mut run.result, msg);
                            run.status = Status::Failed;
                            return run;
                        }
                    };
                    let Some(out) = self.send(&request, vars, &mut run).await else {
                        return run;
                    };
                    match action.check_result(&plan, &out) {
                        Ok(r) => r,
                        Err(e) => {
                            task_error(&mut run.result, e.to_string());
                            run.status = Status::Failed;
                            return run;
                        }
                    }
                }
            },
            (Outcome::Change | Outcome::Unpredictable, false) => {
                let mut outputs = Vec::new();
                for request in action.apply(&plan) {
                    let request = match self.prepare_request(request, vars) {
                        Ok(r) => r,
                        Err(msg) => {
                            task_error(&mut run.result, msg);
                            run.status = Status::Failed;
                            return run;
                        }
                    };
                    match self.send(&request, vars, &mut run).await {
                        Some(out) => {
                            let failed = out.status != 0;
                            outputs.push(out);
                            if failed {
                                break;
                            }
                        }
                        None => return run,
                    }
                }
                match action.finish(&plan, &outputs) {
                    Ok(r) => r,
                    Err(e) => {
                        task_error(&mut run.result, e.to_string());
                        run.status = Status::Failed;
                        return run;
                    }
                }
            }
        };
        let registered = finished.to_registered();
        run.result = registered.as_object().cloned().unwrap_or_default();
        run.status = status_of(&run.result);
        run.diffs = diffs;
        run
    }
}

/// What an include item brings in, unless it was skipped or failed.
fn include_item(
    one: &ItemRun,
    loop_vars: Map<String, Value>,
    label: Option<String>,
) -> Option<IncludeItem> {
    if one.status != Status::Ok {
        return None;
    }
    let args = one.result.get("include_args")?.as_object()?.clone();
    Some(IncludeItem {
        args,
        loop_vars,
        label,
    })
}

/// One item's (or a task's) result before events are made.
#[derive(Default)]
struct ItemRun {
    status: Status,
    result: Map<String, Value>,
    diffs: Vec<Diff>,
    effects: Vec<Effect>,
    facts: Option<Map<String, Value>>,
    round_trips: u32,
}

impl ItemRun {
    fn mark_connection_error(&mut self, e: &drover_connection::Error) {
        match e {
            drover_connection::Error::Unreachable { reason, .. } => {
                self.status = Status::Unreachable;
                self.result.insert("changed".into(), Value::Bool(false));
                self.result.insert(
                    "msg".into(),
                    Value::String(format!("Failed to connect to the host via ssh: {reason}")),
                );
                self.result.insert("unreachable".into(), Value::Bool(true));
            }
            other => {
                task_error(&mut self.result, other.to_string());
                self.status = Status::Failed;
            }
        }
    }
}

fn merge(mut acc: ItemRun, one: ItemRun) -> ItemRun {
    acc.status = one.status;
    acc.result = one.result;
    acc.diffs = one.diffs;
    acc.effects = one.effects;
    acc.facts = one.facts;
    acc
}

/// The status a registered result stands for.
fn status_of(result: &Map<String, Value>) -> Status {
    let flag = |k: &str| result.get(k) == Some(&Value::Bool(true));
    if flag("failed") {
        Status::Failed
    } else if flag("skipped") {
        Status::Skipped
    } else if flag("changed") {
        Status::Changed
    } else {
        Status::Ok
    }
}

/// What `no_log` leaves of a result (Ansible's `TaskResult.clean_copy`): the censored note
/// plus `attempts`, `changed` and `retries`.
pub fn censor(result: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("censored".into(), Value::String(NO_LOG_TEXT.into()));
    for key in ["attempts", "changed", "retries"] {
        if let Some(v) = result.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    Value::Object(m)
}

/// The result callbacks see (`TaskResult.clean_copy`): without `failed`/`skipped` (the event's
/// status says it); `_ansible_verbose_always` is kept for the reporter, other internal keys
/// dropped. `debug` results are trimmed as the default callback's `_clean_results` does: with
/// `msg`, only `msg`/`exception`/`warnings`/`deprecations` stay; with `var`, the status keys go.
pub fn clean_copy(result: &Map<String, Value>, module: &str) -> Value {
    let debug = module == "debug";
    let has_msg = result.contains_key("msg");
    let mut m = Map::new();
    for (k, v) in result {
        let internal = k.starts_with('_');
        let dropped = matches!(k.as_str(), "failed" | "skipped")
            || (internal && k != "_ansible_verbose_always")
            || (debug
                && has_msg
                && !internal
                && !matches!(
                    k.as_str(),
                    "msg" | "exception" | "warnings" | "deprecations"
                ))
            || (debug
                && !has_msg
                && matches!(k.as_str(), "changed" | "invocation" | "skip_reason"));
        if !dropped {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// The registered value: the result without internal `_ansible_*` keys.
pub fn strip_internal(result: &Map<String, Value>) -> Value {
    Value::Object(
        result
            .iter()
            .filter(|(k, _)| !k.starts_with("_ansible_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// A value as Ansible prints it in labels and messages.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dict",
    }
}
