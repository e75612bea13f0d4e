//! The events a run emits. The executor produces them and never prints; reporters (human,
//! JSON lines) turn them into output. Values under `no_log` are censored by the executor before
//! they become events, so no reporter can leak them.
//!
//! The JSON form of every event (`serde_json::to_string(&event)`) is what `--output json`
//! prints, one per line: a stable, documented interface for CI systems and dashboards
//! (`{"event": "host_result", ...}`).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// What became of a task on one host (or one loop item).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ran, nothing changed.
    #[default]
    Ok,
    /// Ran and changed something (or would, in check mode).
    Changed,
    /// Not run (`when` false, check mode for commands, `meta` skips).
    Skipped,
    /// Failed.
    Failed,
    /// The host could not be reached.
    Unreachable,
}

/// One file diff for `--diff` (unified text already made).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    /// The unified diff text.
    pub unified: String,
}

/// A task's result on one host, or for one loop item on one host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostResult {
    /// Inventory host name.
    pub host: String,
    /// Where the task ran when delegated (`delegate_to`).
    pub delegated_to: Option<String>,
    /// Outcome.
    pub status: Status,
    /// The loop item's label (`loop_control.label` or the item), for per-item lines.
    pub item: Option<String>,
    /// The result as `register` stores it (censored under `no_log`).
    pub result: Value,
    /// A failure was ignored (`ignore_errors`/`ignore_unreachable`).
    pub ignored: bool,
    /// Diffs to show with `--diff` (empty under `no_log`).
    pub diffs: Vec<Diff>,
    /// Wall time of the task on this host.
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// SSH round trips the task cost on this host.
    pub round_trips: u32,
    /// Why drover failed the task, when the failure is not the module's own result (a
    /// template, an argument, a connection): with the task's `file:line:col`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
}

/// A task failure drover diagnosed (beyond Ansible's `msg`: where it is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskFailure {
    /// `template`, `invalid`, `module`, `engine`, `connection`, `unreachable`, `interrupted`.
    pub kind: String,
    /// The message (as in the result's `msg`).
    pub message: String,
    /// `path:line:col` of the expression, keyword or task, when known.
    pub location: Option<String>,
}

/// Per-host totals for the PLAY RECAP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostStats {
    /// Host name.
    pub host: String,
    /// Tasks ok (including changed, as Ansible counts).
    pub ok: u32,
    /// Tasks changed.
    pub changed: u32,
    /// Unreachable.
    pub unreachable: u32,
    /// Failed.
    pub failed: u32,
    /// Skipped.
    pub skipped: u32,
    /// Rescued by a `rescue:` section.
    pub rescued: u32,
    /// Failures ignored.
    pub ignored: u32,
}

/// Something that happened during a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A playbook file starts.
    PlaybookStart {
        /// The playbook path.
        path: String,
        /// `--check` is on.
        check: bool,
    },
    /// A play starts (`PLAY [name]`).
    PlayStart {
        /// The play's name.
        name: String,
        /// The hosts it targets.
        hosts: Vec<String>,
    },
    /// A task starts (`TASK [role : name]`, or `RUNNING HANDLER [...]`).
    TaskStart {
        /// The display name: `role : name`, or the module name when unnamed.
        name: String,
        /// The module (short name, e.g. `debug`), for reporters that treat some specially.
        action: String,
        /// `path:line` of the task.
        location: String,
        /// A handler.
        handler: bool,
        /// Hosts the task runs on.
        hosts: usize,
    },
    /// A task finished on a host (or for one loop item).
    HostResult(HostResult),
    /// A looped task finished on a host: the summary line after the per-item lines.
    LoopDone(HostResult),
    /// A task finished on every host.
    TaskDone {
        /// Wall time of the task.
        #[serde(with = "duration_ms")]
        duration: Duration,
    },
    /// No hosts left in the play (`max_fail_percentage` exceeded).
    NoHostsRemaining,
    /// The play's host pattern matched no host.
    NoHostsMatched,
    /// An `until` condition was not met and the task is retried.
    Retry {
        /// The host.
        host: String,
        /// The task's display name.
        task: String,
        /// Retries left after this one.
        retries_left: u32,
        /// The attempt's result (censored under `no_log`).
        result: Value,
    },
    /// A dynamic include brought in a file for some hosts.
    Included {
        /// The included file.
        file: String,
        /// The hosts it runs on.
        hosts: Vec<String>,
        /// The loop item's label, for a looped include.
        item: Option<String>,
    },
    /// A line a module shows the user while it runs (`pause`: "Pausing for 5 seconds").
    Display {
        /// The text, without a trailing newline.
        message: String,
    },
    /// A warning to show the user.
    Warning {
        /// The rendered warning.
        message: String,
    },
    /// The run is over.
    Recap {
        /// One line per host, in inventory order.
        hosts: Vec<HostStats>,
        /// Total wall time.
        #[serde(with = "duration_ms")]
        duration: Duration,
        /// The run was interrupted (Ctrl-C).
        interrupted: bool,
    },
}

/// Receives events. Implemented by the reporters; the executor holds a `&dyn Sink`.
pub trait Sink: Send + Sync {
    /// Handles one event.
    fn emit(&self, event: &Event);
}

mod duration_ms {
    use serde::Serializer;
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_lines_are_tagged_and_stable() {
        let e = Event::HostResult(HostResult {
            host: "10.10.10.11".into(),
            delegated_to: None,
            status: Status::Changed,
            item: None,
            result: json!({"changed": true}),
            ignored: false,
            diffs: vec![],
            duration: Duration::from_micros(1500),
            round_trips: 2,
            error: None,
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"event": "host_result", "host": "10.10.10.11", "delegated_to": null,
                   "status": "changed", "item": null, "result": {"changed": true},
                   "ignored": false, "diffs": [], "duration": 1.5, "round_trips": 2})
        );
    }
}
