//! Checks that need a whole play: every literal `notify` names a handler (or a `listen`
//! topic), `meta` actions are known, and boolean keywords hold booleans (or templates).

use drover_diag::{Diagnostic, did_you_mean};
use serde_json::Value;

use crate::error::LoadResult;
use crate::play::Play;
use crate::task::{Task, parse_bool_text};

/// `meta` actions drover implements.
pub const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "noop",
    "end_play",
    "end_host",
    "end_batch",
    "clear_facts",
    "clear_host_errors",
    "reset_connection",
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
            return Err(
                Diagnostic::error(format!("no handler is named `{}`", notify.value))
                    .with_span(notify.span.clone())
                    .with_label("notified here")
                    .with_help(help),
            );
        }
    }
    Ok(())
}

fn check_task(task: &Task) -> LoadResult<()> {
    for key in BOOL_KEYWORDS {
        if let Some(v) = task.keywords.get(key) {
            let ok = match &v.value {
                Value::Bool(_) => true,
                Value::String(s) => s.contains("{{") || parse_bool_text(s).is_some(),
                Value::Number(n) => n.as_i64().is_some_and(|i| i == 0 || i == 1),
                _ => false,
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
            let d = if what == "refresh_inventory" {
                Diagnostic::error("`meta: refresh_inventory` is not supported by drover")
                    .with_help("drover does not change the inventory while running")
            } else {
                Diagnostic::error(format!("unknown meta action `{what}`")).with_help(help)
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
