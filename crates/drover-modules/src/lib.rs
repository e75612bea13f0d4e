//! drover's task modules.
//!
//! A module turns a task's (already templated) arguments into a [`Prepared`] step:
//!
//! - [`Prepared::Local`]: answered on the controller without touching the node;
//! - [`Prepared::Remote`]: an [`Action`] in three phases, **probe → plan → apply**:
//!   1. [`Action::probe`] — a read-only POSIX shell script (one round trip), or none;
//!   2. [`Action::plan`] — a pure function of the probe's output: satisfied, a change (with its
//!      diff), or unpredictable (a command whose effect cannot be known without running it);
//!   3. [`Action::apply`] — the scripts that make the change, then [`Action::finish`] reads
//!      their output into Ansible's result fields.
//!
//! The engine, not the module, owns check mode: check = probe + plan, then report. So a no-op
//! task costs one round trip, and `-C` predicts exactly what a real run would change.
//! Modules never do I/O themselves: they build [`Request`]s and parse [`Output`]s, which makes
//! every module testable as data (canned probe output → expected plan and scripts).
//!
//! Modules that change the engine's own state (`set_fact`, `include_vars`, `meta`, `debug`,
//! `fail`, `assert`, `pause`, `include_tasks`, …) are the executor's: see [`Runner::Engine`] in the one table of modules, [`MODULES`].

mod builtin;
pub mod diff;
mod drive;
pub mod files;
pub mod params;
pub mod payload;
mod registry;
mod result;
#[cfg(test)]
mod testutil;

use std::any::Any;
use std::path::{Path, PathBuf};

pub use drive::{DriveError, Driven, Transport, drive};
pub use drover_connection::{Become, Output, Request};
pub use registry::{
    FreeForm, LookAhead, MODULES, ModuleSpec, PrepareFn, Runner, canonical_name, lookup, prepare,
};
pub use result::{ModuleError, ModuleResult};

use crate::diff::FileDiff;

/// What a module may ask of the controller while preparing a task.
pub trait Controller: Send + Sync {
    /// Finds a file for `copy`/`script`/`unarchive` `src:` (role `files/`, then the playbook
    /// directory), returning its path.
    fn find_file(&self, name: &str) -> Result<PathBuf, String>;
    /// Finds a template for `template` `src:` (role `templates/`, then the playbook directory).
    fn find_template(&self, name: &str) -> Result<PathBuf, String>;
    /// Renders the template file at `path` (found for `src:`, written to `dest:`) with the
    /// task's variables and the ones Ansible's template module adds (`ansible_managed`,
    /// `template_path`, `template_destpath`, ...).
    fn render_template(&self, path: &Path, src: &str, dest: &str) -> Result<String, String>;
}

/// Per-task facts a module may use when preparing.
pub struct TaskContext<'a> {
    /// The inventory host name (for messages).
    pub host: &'a str,
    /// The controller hooks.
    pub controller: &'a dyn Controller,
    /// Whether `--diff` is on (probes then also read old contents of small files).
    pub diff: bool,
    /// Whether the task runs with `become` (`fetch` then reads as Ansible's slurp does).
    pub escalated: bool,
}

/// The outcome of preparing a task.
pub enum Prepared {
    /// Answered on the controller.
    Local(ModuleResult),
    /// Runs on the node.
    Remote(Box<dyn Action>),
}

/// A module's remote work, in probe → plan → apply phases.
pub trait Action: Send + Sync {
    /// The read-only script that finds the node's current state, if the module needs one.
    fn probe(&self) -> Option<Request>;
    /// Decides from the probe output (pure: no I/O).
    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError>;
    /// The scripts that carry out a plan with [`Outcome::Change`] or [`Outcome::Unpredictable`],
    /// run in order (the engine stops at the first that exits non-zero when `finish` says so).
    fn apply(&self, plan: &Plan) -> Vec<Request>;
    /// Reads the apply scripts' outputs into the task result.
    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError>;
    /// In check mode, a read-only request that confirms an [`Outcome::Change`] prediction which
    /// depends on something outside the node (`get_url`: the HEAD request Ansible's check mode
    /// sends, which fails when the URL does). `None` (the default): the plan's result is
    /// reported as is.
    fn check_request(&self, _plan: &Plan) -> Option<Request> {
        None
    }
    /// The check-mode result from [`Action::check_request`]'s output.
    fn check_result(&self, plan: &Plan, _output: &Output) -> Result<ModuleResult, ModuleError> {
        Ok(plan.result.clone())
    }
}

/// What a plan decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The node is already as asked; nothing to do.
    Satisfied,
    /// A change is needed (and is reported as `changed` in check mode).
    Change,
    /// The effect cannot be known without running (`command` without `creates`/`removes`);
    /// check mode reports the task as skipped, like Ansible.
    Unpredictable,
}

/// A module's decision, with the result to report and a private state for `apply`.
pub struct Plan {
    /// Satisfied, change or unpredictable.
    pub outcome: Outcome,
    /// The result reported when nothing is applied (satisfied, or check mode).
    pub result: ModuleResult,
    /// File diffs for `--diff`.
    pub diffs: Vec<FileDiff>,
    /// Module-private data carried from `plan` to `apply`/`finish`.
    pub state: Box<dyn Any + Send + Sync>,
}

impl Plan {
    /// A plan that needs nothing done.
    pub fn satisfied(result: ModuleResult) -> Plan {
        Plan {
            outcome: Outcome::Satisfied,
            result,
            diffs: Vec::new(),
            state: Box::new(()),
        }
    }

    /// A plan with a change to apply; `result` is what check mode reports (`changed` is set).
    pub fn change(mut result: ModuleResult, state: impl Any + Send + Sync) -> Plan {
        result.changed = true;
        Plan {
            outcome: Outcome::Change,
            result,
            diffs: Vec::new(),
            state: Box::new(state),
        }
    }

    /// A plan whose effect is only known by running it.
    pub fn unpredictable(state: impl Any + Send + Sync) -> Plan {
        Plan {
            outcome: Outcome::Unpredictable,
            result: ModuleResult::default(),
            diffs: Vec::new(),
            state: Box::new(state),
        }
    }

    /// Adds a diff.
    #[must_use]
    pub fn with_diff(mut self, diff: FileDiff) -> Plan {
        self.diffs.push(diff);
        self
    }

    /// The private state, downcast to the module's type.
    pub fn state<T: 'static>(&self) -> Result<&T, ModuleError> {
        self.state
            .downcast_ref::<T>()
            .ok_or_else(|| ModuleError::internal("plan state has an unexpected type"))
    }
}
