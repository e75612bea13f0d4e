//! Modules the executor runs itself, because they read or change its own state: `debug`,
//! `set_fact`, `fail`, `assert`, `meta`, `include_vars`, `pause`. (`setup`/`gather_facts` are in
//! [`crate::facts`]; dynamic includes in [`crate::play`].)

use std::path::{Path, PathBuf};
use std::time::Duration;

use drover_events::Status;
use drover_template::{Condition, Templar, Vars};
use serde_json::{Map, Value, json};

/// What an engine module asks the executor to do besides reporting a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Set these host variables (`set_fact`).
    SetFacts(Map<String, Value>),
    /// Add these `include_vars` variables.
    IncludeVars(Map<String, Value>),
    /// A `meta` action.
    Meta(Meta),
}

/// `meta:` actions drover supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// Run notified handlers now.
    FlushHandlers,
    /// End the play for this host.
    EndHost,
    /// End the play for every host.
    EndPlay,
    /// Do nothing.
    Noop,
    /// Forget this host's facts.
    ClearFacts,
    /// Clear failed state of hosts.
    ClearHostErrors,
}

/// An engine module's result.
pub struct EngineResult {
    /// What became of the task.
    pub status: Status,
    /// The registered value (`changed`, `failed`, `msg`, …).
    pub result: Map<String, Value>,
    /// What to do with it.
    pub effect: Effect,
}

fn done(status: Status, result: Map<String, Value>) -> Result<EngineResult, String> {
    Ok(EngineResult {
        status,
        result,
        effect: Effect::None,
    })
}

fn base(changed: bool, failed: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("changed".into(), Value::Bool(changed));
    m.insert("failed".into(), Value::Bool(failed));
    m
}

/// The modules the executor runs itself (the [`drover_modules::Runner::Engine`] rows of the
/// module table), so that dispatch is a `match` the compiler checks for exhaustiveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineModule {
    /// `assert`.
    Assert,
    /// `debug`.
    Debug,
    /// `fail`.
    Fail,
    /// `setup` and `gather_facts`.
    Facts,
    /// `include_tasks` and `include_role` (loaded by the play once every host answered).
    Include,
    /// `include_vars`.
    IncludeVars,
    /// `meta`.
    Meta,
    /// `pause`.
    Pause,
    /// `set_fact`.
    SetFact,
}

impl EngineModule {
    /// The engine module of a task's (short) module name.
    pub fn of(module: &str) -> Option<EngineModule> {
        Some(match module {
            "assert" => EngineModule::Assert,
            "debug" => EngineModule::Debug,
            "fail" => EngineModule::Fail,
            "setup" | "gather_facts" => EngineModule::Facts,
            "include_tasks" | "include_role" => EngineModule::Include,
            "include_vars" => EngineModule::IncludeVars,
            "meta" => EngineModule::Meta,
            "pause" => EngineModule::Pause,
            "set_fact" => EngineModule::SetFact,
            _ => return None,
        })
    }
}

/// The raw (untemplated) arguments for modules whose arguments are expressions, not templates.
pub fn takes_raw_args(module: &str) -> bool {
    matches!(module, "assert" | "debug")
}

/// Runs an engine module that works on the controller alone (every [`EngineModule`] but
/// `Facts` and `Include`, which the task pipeline handles). `args` are templated, except for
/// `assert.that` and `debug.var` ([`takes_raw_args`]), which are evaluated here.
pub async fn run(
    module: EngineModule,
    args: &Map<String, Value>,
    templar: &Templar,
    vars: &Vars,
    verbosity: u8,
    search_dirs: &[PathBuf],
) -> Result<EngineResult, String> {
    match module {
        EngineModule::Debug => debug(args, templar, vars, verbosity),
        EngineModule::SetFact => {
            let facts = set_fact_names(args, templar, vars)?;
            if facts.is_empty() {
                return Err("module `set_fact`: no key/value pairs provided".into());
            }
            let mut result = base(false, false);
            result.insert("ansible_facts".into(), Value::Object(facts.clone()));
            Ok(EngineResult {
                status: Status::Ok,
                result,
                effect: Effect::SetFacts(facts),
            })
        }
        EngineModule::Fail => {
            let msg = args
                .get("msg")
                .map_or("Failed as requested from task".into(), text);
            let mut result = base(false, true);
            result.insert("msg".into(), Value::String(msg));
            done(Status::Failed, result)
        }
        EngineModule::Assert => assert(args, templar, vars),
        EngineModule::Meta => meta(args),
        EngineModule::IncludeVars => include_vars(args, search_dirs),
        EngineModule::Pause => pause(args).await,
        EngineModule::Facts | EngineModule::Include => Err(format!(
            "internal error in drover (please report): {module:?} is run by the task pipeline"
        )),
    }
}

/// `set_fact`'s variables: names templated (as Ansible's), each checked with Ansible's rule
/// for variable names at run time (so `ignore_errors` and `rescue` apply, as in Ansible).
fn set_fact_names(
    args: &Map<String, Value>,
    templar: &Templar,
    vars: &Vars,
) -> Result<Map<String, Value>, String> {
    let mut facts = Map::new();
    for (key, value) in args {
        if key == "cacheable" {
            continue;
        }
        let name = if key.contains("{{") || key.contains("{%") {
            let rendered = templar
                .template_value(&Value::String(key.clone()), vars, None)
                .map_err(|d| d.message.clone())?;
            text(&rendered.value)
        } else {
            key.clone()
        };
        if !drover_playbook::task::is_identifier(&name) {
            return Err(format!(
                "The variable name '{name}' is not valid. Variables must start with a letter or underscore character, and contain only letters, numbers and underscores."
            ));
        }
        facts.insert(name, value.clone());
    }
    Ok(facts)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn debug(
    args: &Map<String, Value>,
    templar: &Templar,
    vars: &Vars,
    verbosity: u8,
) -> Result<EngineResult, String> {
    for key in args.keys() {
        if !matches!(key.as_str(), "msg" | "var" | "verbosity") {
            return Err(format!(
                "module `debug`: unknown parameter `{key}` (use `msg`, `var` or `verbosity`)"
            ));
        }
    }
    let needed = args.get("verbosity").and_then(Value::as_u64).unwrap_or(0);
    if u64::from(verbosity) < needed {
        let mut r = base(false, false);
        r.insert(
            "skipped_reason".into(),
            json!("Verbosity threshold not met."),
        );
        r.insert("skipped".into(), json!(true));
        return done(Status::Skipped, r);
    }
    let mut result = base(false, false);
    result.insert("_ansible_verbose_always".into(), Value::Bool(true));
    if let Some(var) = args.get("var") {
        if args.contains_key("msg") {
            return Err("module `debug`: `msg` and `var` are mutually exclusive".into());
        }
        let name = text(var);
        let expr = if name.contains("{{") {
            name.clone()
        } else {
            format!("{{{{ {name} }}}}")
        };
        let value = match templar.template_value(&Value::String(expr), vars, None) {
            Ok(o) => o.value,
            Err(_) => Value::String("VARIABLE IS NOT DEFINED!".into()),
        };
        result.insert(name, value);
        return done(Status::Ok, result);
    }
    // `msg` was templated with the other arguments; templating it again would evaluate text
    // that only looks like a template (a `{% raw %}` result, an `!unsafe` value).
    let msg = args
        .get("msg")
        .cloned()
        .unwrap_or_else(|| Value::String("Hello world!".into()));
    result.insert("msg".into(), msg);
    done(Status::Ok, result)
}

fn assert(
    args: &Map<String, Value>,
    templar: &Templar,
    vars: &Vars,
) -> Result<EngineResult, String> {
    for key in args.keys() {
        if !matches!(
            key.as_str(),
            "that" | "msg" | "fail_msg" | "success_msg" | "quiet"
        ) {
            return Err(format!("module `assert`: unknown parameter `{key}`"));
        }
    }
    let that = args
        .get("that")
        .ok_or("module `assert`: `that` is required")?;
    // Like `debug`, Ansible always prints assert results (`_ansible_verbose_always`), unless
    // `quiet` (read with Ansible's non-strict `boolean`: anything unknown is false).
    let quiet = match args.get("quiet") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => drover_playbook::task::parse_bool_text(text(v).trim()).unwrap_or(false),
    };
    let verbose = |mut r: Map<String, Value>| {
        if !quiet {
            r.insert("_ansible_verbose_always".into(), Value::Bool(true));
        }
        r
    };
    let conditions: Vec<String> = match that {
        Value::Array(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    };
    let render = |v: Option<&Value>| -> Result<Option<Value>, String> {
        match v {
            None => Ok(None),
            Some(v) => templar
                .template_value(v, vars, None)
                .map(|o| Some(o.value))
                .map_err(|d| d.message.clone()),
        }
    };
    for condition in &conditions {
        let holds = templar
            .evaluate_when(&[Condition::Expr(condition.clone())], vars, None)
            .map_err(|d| d.message.clone())?
            .value;
        if !holds {
            let mut r = base(false, true);
            let msg = render(args.get("fail_msg").or(args.get("msg")))?
                .unwrap_or_else(|| Value::String("Assertion failed".into()));
            r.insert("assertion".into(), Value::String(condition.clone()));
            r.insert("evaluated_to".into(), Value::Bool(false));
            r.insert("msg".into(), msg);
            return done(Status::Failed, verbose(r));
        }
    }
    let mut r = base(false, false);
    let msg = render(args.get("success_msg"))?
        .unwrap_or_else(|| Value::String("All assertions passed".into()));
    r.insert("msg".into(), msg);
    done(Status::Ok, verbose(r))
}

/// What a `meta` action does (every name of `drover_playbook::validate::META_ACTIONS`).
fn meta_action(name: &str) -> Option<Meta> {
    Some(match name {
        "flush_handlers" => Meta::FlushHandlers,
        "end_host" => Meta::EndHost,
        "end_play" => Meta::EndPlay,
        "noop" | "reset_connection" => Meta::Noop,
        "clear_facts" => Meta::ClearFacts,
        "clear_host_errors" => Meta::ClearHostErrors,
        _ => return None,
    })
}

fn meta(args: &Map<String, Value>) -> Result<EngineResult, String> {
    let action = args
        .get("_raw_params")
        .or_else(|| args.get("free_form"))
        .map(text)
        .unwrap_or_default();
    let Some(meta) = meta_action(action.trim()) else {
        return Err(format!(
            "`meta: {}` is not supported by drover (supported: {})",
            action.trim(),
            drover_playbook::validate::META_ACTIONS.join(", ")
        ));
    };
    Ok(EngineResult {
        status: Status::Ok,
        result: base(false, false),
        effect: Effect::Meta(meta),
    })
}

fn include_vars(
    args: &Map<String, Value>,
    search_dirs: &[PathBuf],
) -> Result<EngineResult, String> {
    for key in args.keys() {
        if !matches!(key.as_str(), "file" | "_raw_params" | "name") {
            return Err(format!(
                "module `include_vars`: parameter `{key}` is not supported by drover (use `file` and `name`)"
            ));
        }
    }
    let file = args
        .get("file")
        .or_else(|| args.get("_raw_params"))
        .map(text)
        .ok_or("module `include_vars`: give a file name")?;
    let path = find_vars_file(&file, search_dirs)?;
    let loaded = drover_yaml::load_file(&path).map_err(|d| d.to_string())?;
    let data = loaded
        .single()
        .map_err(|d| d.to_string())?
        .map(|n| n.to_json());
    let vars = match data {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(format!(
                "`{}` must contain a mapping of variables",
                path.display()
            ));
        }
    };
    let vars = match args.get("name") {
        Some(name) => Map::from_iter([(text(name), Value::Object(vars))]),
        None => vars,
    };
    let mut result = base(false, false);
    result.insert(
        "ansible_included_var_files".into(),
        json!([path.display().to_string()]),
    );
    result.insert("ansible_facts".into(), Value::Object(vars.clone()));
    Ok(EngineResult {
        status: Status::Ok,
        result,
        effect: Effect::IncludeVars(vars),
    })
}

fn find_vars_file(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let path = Path::new(name);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!("could not find the vars file `{name}`"))
}

/// How long `pause` waits, in seconds (`seconds` plus `minutes`).
fn pause_seconds(args: &Map<String, Value>) -> Result<f64, String> {
    if args.contains_key("prompt") {
        return Err("`pause` with `prompt` needs a person at a terminal; drover runs non-interactively (use `seconds`)".into());
    }
    let number = |k: &str| -> Result<Option<f64>, String> {
        match args.get(k) {
            None => Ok(None),
            Some(v) => text(v)
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("module `pause`: `{k}` must be a number")),
        }
    };
    Ok(number("seconds")?.unwrap_or(0.0) + number("minutes")?.unwrap_or(0.0) * 60.0)
}

/// What `pause` shows before it waits, as Ansible's action plugin does ("Pausing for 5
/// seconds"; whole seconds, as its `%d`); `None` when it does not wait.
pub(crate) fn pause_message(args: &Map<String, Value>) -> Option<String> {
    let seconds = pause_seconds(args).ok()?;
    (seconds > 0.0).then(|| format!("Pausing for {} seconds", seconds.trunc() as u64))
}

async fn pause(args: &Map<String, Value>) -> Result<EngineResult, String> {
    let seconds = pause_seconds(args)?;
    if seconds > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    }
    let mut r = base(false, false);
    r.insert("delta".into(), json!(seconds as u64));
    done(Status::Ok, r)
}

#[cfg(test)]
mod meta_tests {
    use super::EngineModule;
    use drover_modules::{MODULES, Runner};

    /// The module table's engine rows are exactly the modules the executor dispatches.
    #[test]
    fn every_engine_module_of_the_table_dispatches() {
        for m in MODULES {
            let engine = matches!(m.runner, Runner::Engine);
            assert_eq!(
                EngineModule::of(m.name).is_some(),
                engine,
                "`{}`: the table and the executor disagree",
                m.name
            );
        }
    }

    #[test]
    fn every_meta_action_the_loader_accepts_runs() {
        for action in drover_playbook::validate::META_ACTIONS {
            assert!(super::meta_action(action).is_some(), "meta: {action}");
        }
    }
}
