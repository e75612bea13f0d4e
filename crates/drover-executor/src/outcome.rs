//! What a task did on one host, typed: [`TaskError`] for why it could not run, [`ItemRun`]
//! for one item's outcome. Ansible's result map is made from these only where Ansible needs
//! one: at `register` and at the event boundary ([`ItemRun::result`], [`TaskError::to_result`]).

use drover_diag::{Diagnostic, Span};
use drover_events::{Diff, Status, TaskFailure};
use drover_modules::ModuleError;
use serde_json::{Map, Value};

use crate::builtin::Effect;

/// Why a task failed on a host without (or before) a module result of its own.
#[derive(Clone, Debug)]
pub enum TaskError {
    /// A template, condition or keyword value could not be evaluated; the diagnostic carries
    /// the span of the expression.
    Template(Diagnostic),
    /// A value the task cannot use: a loop over a string, a keyword that is not a boolean, an
    /// `environment` that is not a mapping, a `delegate_to` transport drover lacks, ….
    Invalid {
        /// What is wrong (Ansible's `msg`).
        message: String,
        /// Where: the keyword's value, else the task.
        span: Span,
    },
    /// The module refused its arguments or could not read the node's answer.
    Module {
        /// The module's error.
        error: ModuleError,
        /// The task.
        span: Span,
    },
    /// An engine module (`debug`, `assert`, `include_vars`, `pause`, …) could not run.
    Engine {
        /// What went wrong.
        message: String,
        /// The task.
        span: Span,
    },
    /// What a dynamic include names could not be loaded (a missing file, a file with errors,
    /// an include cycle).
    Include {
        /// Why, with the span inside the included file when there is one.
        diagnostic: Diagnostic,
        /// The include task.
        span: Span,
    },
    /// The host could not be reached.
    Unreachable {
        /// ssh's reason.
        reason: String,
    },
    /// The connection worked but the command could not run (sudo wants a password, a
    /// timeout, a process killed by a signal).
    Connection {
        /// The connection's error.
        error: drover_connection::Error,
        /// The task.
        span: Span,
    },
    /// Ctrl-C stopped the task.
    Interrupted,
}

impl TaskError {
    /// An error from the connection layer: unreachable hosts are their own outcome.
    pub fn connection(error: drover_connection::Error, span: &Span) -> TaskError {
        match error {
            drover_connection::Error::Unreachable { reason, .. } => {
                TaskError::Unreachable { reason }
            }
            error => TaskError::Connection {
                error,
                span: span.clone(),
            },
        }
    }

    /// The message Ansible's result carries as `msg`.
    pub fn message(&self) -> String {
        match self {
            TaskError::Template(d) | TaskError::Include { diagnostic: d, .. } => {
                d.to_string().trim_end().to_string()
            }
            TaskError::Invalid { message, .. } | TaskError::Engine { message, .. } => {
                message.clone()
            }
            TaskError::Module { error, .. } => error.to_string(),
            TaskError::Unreachable { reason } => {
                format!("Failed to connect to the host via ssh: {reason}")
            }
            TaskError::Connection { error, .. } => error.to_string(),
            TaskError::Interrupted => "interrupted".into(),
        }
    }

    /// Where in the playbook the error is, when known.
    pub fn span(&self) -> Option<&Span> {
        match self {
            TaskError::Template(d) => d.span.as_ref(),
            TaskError::Include { diagnostic, span } => diagnostic.span.as_ref().or(Some(span)),
            TaskError::Invalid { span, .. }
            | TaskError::Module { span, .. }
            | TaskError::Engine { span, .. }
            | TaskError::Connection { span, .. } => Some(span),
            TaskError::Unreachable { .. } | TaskError::Interrupted => None,
        }
    }

    /// A short name of the kind, for `--output json`.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskError::Template(_) => "template",
            TaskError::Invalid { .. } => "invalid",
            TaskError::Module { .. } => "module",
            TaskError::Engine { .. } => "engine",
            TaskError::Include { .. } => "include",
            TaskError::Unreachable { .. } => "unreachable",
            TaskError::Connection { .. } => "connection",
            TaskError::Interrupted => "interrupted",
        }
    }

    /// The status the error gives the task on the host.
    pub fn status(&self) -> Status {
        match self {
            TaskError::Unreachable { .. } => Status::Unreachable,
            _ => Status::Failed,
        }
    }

    /// The result Ansible registers for it.
    pub fn to_result(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            TaskError::Unreachable { .. } => {
                m.insert("changed".into(), Value::Bool(false));
                m.insert("msg".into(), Value::String(self.message()));
                m.insert("unreachable".into(), Value::Bool(true));
            }
            _ => {
                m.insert("failed".into(), Value::Bool(true));
                m.insert("changed".into(), Value::Bool(false));
                m.insert("msg".into(), Value::String(self.message()));
            }
        }
        m
    }

    /// The event's structured form: kind, message and `file:line:col`.
    pub fn to_failure(&self) -> TaskFailure {
        TaskFailure {
            kind: self.kind().to_string(),
            message: self.message(),
            location: self.span().map(Span::location),
        }
    }
}

/// One item's (or an unlooped task's) outcome before events are made.
#[derive(Default)]
pub struct ItemRun {
    /// What became of it.
    pub status: Status,
    /// The module's result fields (what `register` stores).
    pub result: Map<String, Value>,
    /// `--diff` output.
    pub diffs: Vec<Diff>,
    /// What the engine applies to the host afterwards.
    pub effects: Vec<Effect>,
    /// Gathered facts (`setup`).
    pub facts: Option<Map<String, Value>>,
    /// Requests sent.
    pub round_trips: u32,
    /// Why it failed, when the task (not the module's own result) failed.
    pub error: Option<TaskError>,
    /// What a dynamic include brings in (its templated arguments).
    pub include_args: Option<Map<String, Value>>,
}

impl ItemRun {
    /// A finished item with a status and its result fields.
    pub fn new(status: Status, result: Map<String, Value>) -> ItemRun {
        ItemRun {
            status,
            result,
            ..ItemRun::default()
        }
    }

    /// The outcome of an error.
    pub fn failed(error: TaskError) -> ItemRun {
        ItemRun {
            status: error.status(),
            result: error.to_result(),
            error: Some(error),
            ..ItemRun::default()
        }
    }

    /// Marks the item failed by `error`, keeping what it sent.
    pub fn fail(&mut self, error: TaskError) {
        self.status = error.status();
        self.result = error.to_result();
        self.error = Some(error);
    }
}

/// Ansible's text for censored results.
pub const NO_LOG_TEXT: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

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

#[cfg(test)]
mod tests {
    use super::*;
    use drover_diag::Source;
    use serde_json::json;

    fn span() -> Span {
        Span::point(
            Source::new("site.yml", "- hosts: all\n  tasks:\n    - ping:\n"),
            28,
        )
    }

    /// Each error becomes the result Ansible registers, and names where it is.
    #[test]
    fn errors_become_ansible_results_with_their_location() {
        let cases = [
            (
                TaskError::Module {
                    error: ModuleError::params("`path` is required"),
                    span: span(),
                },
                json!({"failed": true, "changed": false, "msg": "`path` is required"}),
                Status::Failed,
                Some("site.yml:3:7"),
            ),
            (
                TaskError::Unreachable {
                    reason: "no route".into(),
                },
                json!({"changed": false, "msg": "Failed to connect to the host via ssh: no route", "unreachable": true}),
                Status::Unreachable,
                None,
            ),
            (
                TaskError::connection(
                    drover_connection::Error::Unreachable {
                        host: "h".into(),
                        reason: "refused".into(),
                    },
                    &span(),
                ),
                json!({"changed": false, "msg": "Failed to connect to the host via ssh: refused", "unreachable": true}),
                Status::Unreachable,
                None,
            ),
            (
                TaskError::connection(
                    drover_connection::Error::BecomePasswordRequired { host: "h".into() },
                    &span(),
                ),
                json!({"failed": true, "changed": false, "msg": drover_connection::Error::BecomePasswordRequired { host: "h".into() }.to_string()}),
                Status::Failed,
                Some("site.yml:3:7"),
            ),
            (
                TaskError::Invalid {
                    message: "bad".into(),
                    span: span(),
                },
                json!({"failed": true, "changed": false, "msg": "bad"}),
                Status::Failed,
                Some("site.yml:3:7"),
            ),
        ];
        for (error, result, status, location) in cases {
            let run = ItemRun::failed(error.clone());
            assert_eq!(Value::Object(run.result), result, "{error:?}");
            assert_eq!(run.status, status, "{error:?}");
            let failure = error.to_failure();
            assert_eq!(failure.location.as_deref(), location, "{error:?}");
            assert_eq!(failure.message, result["msg"], "{error:?}");
        }
    }

    #[test]
    fn censoring_keeps_only_what_ansible_keeps() {
        let r = json!({"changed": true, "secret": "x", "attempts": 2, "failed": false});
        assert_eq!(
            censor(r.as_object().unwrap()),
            json!({"censored": NO_LOG_TEXT, "attempts": 2, "changed": true})
        );
    }

    #[test]
    fn debug_results_are_trimmed_like_the_default_callback() {
        let r = json!({"changed": false, "failed": false, "msg": "hi", "_ansible_verbose_always": true, "_ansible_no_log": false});
        assert_eq!(
            clean_copy(r.as_object().unwrap(), "debug"),
            json!({"msg": "hi", "_ansible_verbose_always": true})
        );
        let r = json!({"changed": false, "x": 1, "skip_reason": "s"});
        assert_eq!(clean_copy(r.as_object().unwrap(), "debug"), json!({"x": 1}));
        assert_eq!(
            clean_copy(r.as_object().unwrap(), "command"),
            json!({"changed": false, "x": 1, "skip_reason": "s"})
        );
    }
}
