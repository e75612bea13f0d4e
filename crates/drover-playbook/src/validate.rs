//! Checks that need a whole play: every literal `notify` names a handler (or a `listen`
//! topic), `meta` actions are known, and boolean keywords hold booleans (or templates).

use drover_diag::{Diagnostic, did_you_mean};
use serde_json::Value;

use crate::error::LoadResult;
use crate::play::Play;
use crate::task::Task;

/// `meta` actions drover implements: the one list the loader accepts and the executor
/// dispatches (a unit test in drover-executor checks that each one runs).
pub const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "noop",
    "end_play",
    "end_host",
    "clear_facts",
    "clear_host_errors",
    "reset_connection",
];

/// Ansible `meta` actions drover refuses at load time, with why.
const META_REFUSED: &[(&str, &str)] = &[
    (
        "refresh_inventory",
        "drover does not change the inventory while running",
    ),
    (
        "end_batch",
        "drover does not run `meta: end_batch`; use `meta: end_play` (the same without `serial`)",
    ),
    (
        "end_role",
        "drover does not run `meta: end_role`; skip the rest of the role with `when:`",
    ),
];

/// Keywords whose literal value must be a boolean.
const BOOL_KEYWORDS: &[&str] = &[
    "become",
    "ignore_errors",
    "ignore_unreachable",
    "any_errors_fatal",
    "no_log",
    "check_mode",
    "diff",
    "run_once",
];

/// True when a handler answers `notify: name` (Ansible: the handler's name, `role : name`,
/// or one of its `listen` topics).
pub fn handler_matches(handler: &Task, name: &str) -> bool {
    handler.name.as_ref().is_some_and(|n| n.value == name)
        || (handler.name.is_some() && handler.display_name() == name)
        || handler.listen.iter().any(|l| l == name)
}

/// Validates a loaded play.
pub fn validate_play(play: &Play) -> LoadResult<()> {
    let mut has_include_role = false;
    let mut tasks: Vec<&Task> = Vec::new();
    for (_, items) in play.sections() {
        for item in items {
            item.for_each_task(&mut |t| {
                has_include_role |= t.module == "include_role";
                tasks.push(t);
            });
        }
    }
    check_play_keywords(play)?;
    for task in tasks.iter().copied().chain(&play.handlers) {
        check_task(task)?;
    }
    if has_include_role {
        // Handlers of dynamically included roles are only known at run time.
        return Ok(());
    }
    for task in tasks.iter().copied().chain(&play.handlers) {
        for notify in &task.notify {
            if notify.value.contains("{{")
                || play
                    .handlers
                    .iter()
                    .any(|h| handler_matches(h, &notify.value))
            {
                continue;
            }
            let names: Vec<String> = play
                .handlers
                .iter()
                .flat_map(|h| {
                    h.name
                        .iter()
                        .map(|n| n.value.clone())
                        .chain(h.listen.iter().cloned())
                })
                .collect();
            let help = match did_you_mean(&notify.value, names.iter().map(String::as_str)) {
                Some(hint) => hint,
                None => {
                    "add a handler with this name (or `listen:` topic) to the play or its roles"
                        .to_string()
                }
            };
            // ansible-playbook: "The requested handler ... was not found", exit 1, when a
            // changed task notifies it; drover refuses it before the run, with that exit code
            return Err(
                Diagnostic::error(format!("no handler is named `{}`", notify.value))
                    .with_span(notify.span.clone())
                    .with_label("notified here")
                    .with_help(help)
                    .with_exit_code(1),
            );
        }
    }
    Ok(())
}

/// A keyword value as the user wrote it (strings without JSON quotes).
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A keyword value that is a template is checked when it is rendered, at run time.
fn templated(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains("{{"))
}

/// `serial: 2`, `"30%"`, or a list of those.
fn serial_size_ok(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_u64().is_some(),
        Value::String(s) => {
            let t = s.trim();
            match t.strip_suffix('%') {
                Some(pct) => pct.trim().parse::<f64>().is_ok_and(|p| p >= 0.0),
                None => t.parse::<u64>().is_ok(),
            }
        }
        _ => false,
    }
}

/// Play keywords whose literal value drover cannot use are errors at load time, as
/// ansible-playbook's "the field ... has an invalid value" (never a silent default).
fn check_play_keywords(play: &Play) -> LoadResult<()> {
    let bad = |key: &str, v: &crate::Spanned<Value>, want: &str| {
        Diagnostic::error(format!(
            "the field `{key}` has an invalid value `{}`: {want}",
            display(&v.value)
        ))
        .with_span(v.span.clone())
    };
    if let Some(v) = &play.gather_facts
        && !templated(&v.value)
        && drover_python::boolean(&v.value).is_none()
    {
        return Err(bad("gather_facts", v, "it must be a boolean")
            .with_help("use `true` or `false` (yes/no, on/off, 1/0)"));
    }
    if let Some(v) = &play.max_fail_percentage
        && !templated(&v.value)
    {
        let ok = match &v.value {
            Value::Number(_) => true,
            Value::String(s) => s.trim().parse::<f64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(bad("max_fail_percentage", v, "it must be a number")
                .with_help("a percentage of the batch's hosts, such as `25` or `25.5`"));
        }
    }
    if let Some(v) = &play.serial
        && !templated(&v.value)
    {
        let ok = match &v.value {
            Value::Array(items) => {
                !items.is_empty() && items.iter().all(|i| templated(i) || serial_size_ok(i))
            }
            other => serial_size_ok(other),
        };
        if !ok {
            return Err(bad(
                "serial",
                v,
                "it must be a number, a percentage such as \"30%\", or a list of those",
            )
            .with_help("e.g. `serial: 1`, `serial: \"25%\"` or `serial: [1, 5, \"50%\"]`"));
        }
    }
    Ok(())
}

fn check_task(task: &Task) -> LoadResult<()> {
    if let Some(v) = task.keywords.get("throttle")
        && !templated(&v.value)
    {
        let ok = match &v.value {
            Value::Number(n) => n.as_u64().is_some(),
            Value::String(s) => s.trim().parse::<u64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(Diagnostic::error(format!(
                "the field `throttle` has an invalid value `{}`: it must be a whole number",
                display(&v.value)
            ))
            .with_span(v.span.clone())
            .with_help("the most hosts that run this task at once, such as `throttle: 1`")
            // ansible-playbook: "Failed to convert the throttle value to an integer", exit 1
            .with_exit_code(1));
        }
    }
    for key in BOOL_KEYWORDS {
        if let Some(v) = task.keywords.get(key) {
            let ok = match &v.value {
                Value::Bool(_) => true,
                Value::String(s) if s.contains("{{") => true,
                other => drover_python::boolean(other).is_some(),
            };
            if !ok {
                return Err(Diagnostic::error(format!(
                    "`{key}` must be a boolean, found `{}`",
                    v.value
                ))
                .with_span(v.span.clone())
                .with_help("use `true` or `false` (or a template that renders one)"));
            }
        }
    }
    if task.module == "meta" {
        let action = task.arg_str("_raw_params");
        if !action.is_some_and(|a| META_ACTIONS.contains(&a)) {
            let what = action.unwrap_or("");
            let mut help = format!("valid actions: {}", META_ACTIONS.join(", "));
            if let Some(hint) = did_you_mean(what, META_ACTIONS.iter().copied()) {
                help = format!("{hint} ({help})");
            }
            let d = match META_REFUSED.iter().find(|(name, _)| *name == what) {
                Some((name, why)) => {
                    Diagnostic::error(format!("`meta: {name}` is not supported by drover"))
                        .with_help(*why)
                }
                None => Diagnostic::error(format!("unknown meta action `{what}`")).with_help(help),
            };
            return Err(d.with_span(
                task.args
                    .get("_raw_params")
                    .map_or(task.span.clone(), |a| a.span.clone()),
            ));
        }
    }
    Ok(())
}
