//! File diffs for `--diff`, shaped like Ansible's (`before`, `after`, headers) and printed as a
//! unified diff.

use serde_json::{Map, Value};

/// One file's change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileDiff {
    /// Header of the old side (usually the path).
    pub before_header: String,
    /// Header of the new side.
    pub after_header: String,
    /// Old text (empty for a new file).
    pub before: String,
    /// New text (empty for a removed file).
    pub after: String,
}

impl FileDiff {
    /// A content diff of `path`.
    pub fn content(path: &str, before: &str, after: &str) -> FileDiff {
        FileDiff {
            before_header: path.to_string(),
            after_header: path.to_string(),
            before: before.to_string(),
            after: after.to_string(),
        }
    }

    /// A diff of a state line, e.g. `state: absent` → `state: directory`.
    pub fn state(path: &str, before: &str, after: &str) -> FileDiff {
        FileDiff::content(path, &format!("{before}\n"), &format!("{after}\n"))
    }

    /// The unified diff text (3 lines of context), empty when both sides are equal.
    pub fn unified(&self) -> String {
        if self.before == self.after {
            return String::new();
        }
        // Ansible's `_get_diff`: `before: <header>` when there is a header, else `before`.
        let label = |side: &str, header: &str| {
            if header.is_empty() {
                side.to_string()
            } else {
                format!("{side}: {header}")
            }
        };
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(
                &label("before", &self.before_header),
                &label("after", &self.after_header),
            )
            .to_string()
    }

    /// Ansible's diff dict.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "before_header".into(),
            Value::String(self.before_header.clone()),
        );
        m.insert(
            "after_header".into(),
            Value::String(self.after_header.clone()),
        );
        m.insert("before".into(), Value::String(self.before.clone()));
        m.insert("after".into(), Value::String(self.after.clone()));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_of_a_changed_line() {
        let d = FileDiff::content("/etc/x.conf", "a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            d.unified(),
            "--- before: /etc/x.conf\n+++ after: /etc/x.conf\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(FileDiff::content("/x", "same", "same").unified(), "");
    }
}
