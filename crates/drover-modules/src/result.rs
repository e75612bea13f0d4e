//! Task results with Ansible's field names, so `register` + `when` work as users expect.

use serde_json::{Map, Value};

use crate::diff::FileDiff;

/// The result of a task on one host (what `register:` stores).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleResult {
    /// Something changed (or would change, in check mode).
    pub changed: bool,
    /// The task failed on this host.
    pub failed: bool,
    /// The task was skipped (e.g. `command` in check mode).
    pub skipped: bool,
    /// A human message.
    pub msg: Option<String>,
    /// Exit status of the command, when the module ran one the user cares about.
    pub rc: Option<i32>,
    /// Its stdout (also exposed as `stdout_lines`).
    pub stdout: Option<String>,
    /// Its stderr (also exposed as `stderr_lines`).
    pub stderr: Option<String>,
    /// File diffs for `--diff`.
    pub diffs: Vec<FileDiff>,
    /// Module-specific fields (`stat`, `content`, `dest`, `checksum`, `path`, `state`, …).
    pub extra: Map<String, Value>,
}

impl ModuleResult {
    /// An unchanged, successful result.
    pub fn ok() -> ModuleResult {
        ModuleResult::default()
    }

    /// A failed result with a message.
    pub fn failed(msg: impl Into<String>) -> ModuleResult {
        ModuleResult {
            failed: true,
            msg: Some(msg.into()),
            ..ModuleResult::default()
        }
    }

    /// Sets `msg`.
    #[must_use]
    pub fn with_msg(mut self, msg: impl Into<String>) -> ModuleResult {
        self.msg = Some(msg.into());
        self
    }

    /// Adds a module-specific field.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ModuleResult {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// The registered value, as Ansible builds it: `changed`, `failed`, plus `rc`, `stdout`,
    /// `stdout_lines`, `stderr`, `stderr_lines`, `msg`, `skipped` when present, and the
    /// module-specific fields.
    pub fn to_registered(&self) -> Value {
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(self.changed));
        m.insert("failed".into(), Value::Bool(self.failed));
        if self.skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.insert("msg".into(), Value::String(msg.clone()));
        }
        if let Some(rc) = self.rc {
            m.insert("rc".into(), Value::from(rc));
        }
        for (key, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if let Some(text) = text {
                m.insert(key.into(), Value::String(text.clone()));
                let lines = text.lines().map(|l| Value::String(l.to_string())).collect();
                m.insert(format!("{key}_lines"), Value::Array(lines));
            }
        }
        if !self.diffs.is_empty() {
            let diffs: Vec<Value> = self.diffs.iter().map(FileDiff::to_json).collect();
            m.insert("diff".into(), Value::Array(diffs));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// Why a module could not do its job (bad parameters, an unexpected probe answer). Reported as a
/// failed task for the host, with this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModuleError {
    /// The task's parameters are wrong; the message says which and what is expected.
    #[error("{0}")]
    Params(String),
    /// The node answered something the module cannot use.
    #[error("{0}")]
    Node(String),
    /// A bug in drover.
    #[error("internal error in drover (please report): {0}")]
    Internal(String),
}

impl ModuleError {
    /// A parameter error.
    pub fn params(msg: impl Into<String>) -> ModuleError {
        ModuleError::Params(msg.into())
    }

    /// A node-side error.
    pub fn node(msg: impl Into<String>) -> ModuleError {
        ModuleError::Node(msg.into())
    }

    /// An internal error.
    pub fn internal(msg: impl Into<String>) -> ModuleError {
        ModuleError::Internal(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registered_value_has_ansible_fields() {
        let r = ModuleResult {
            changed: true,
            rc: Some(0),
            stdout: Some("a\nb\n".into()),
            stderr: Some(String::new()),
            ..ModuleResult::default()
        }
        .with("cmd", "echo");
        assert_eq!(
            r.to_registered(),
            json!({"changed": true, "failed": false, "rc": 0, "stdout": "a\nb\n",
                   "stdout_lines": ["a", "b"], "stderr": "", "stderr_lines": [], "cmd": "echo"})
        );
    }
}
