//! `blockinfile`: insert, update or remove a block of lines between marker lines, with
//! Ansible's exact algorithm run on the controller on the probed text (symlinks followed);
//! the file is written only when the text differs.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::common::{
    Current, EditTarget, PyRegex, attrs, check_validate, node_path, refuse, resolved_probe,
};
use crate::files::WriteOptions;
use crate::params::{Bool, Mode, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    state: Option<String>,
    marker: Option<String>,
    #[serde(alias = "content")]
    block: Option<String>,
    insertafter: Option<String>,
    insertbefore: Option<String>,
    create: Option<Bool>,
    backup: Option<Bool>,
    validate: Option<String>,
    unsafe_writes: Option<Bool>,
    marker_begin: Option<String>,
    marker_end: Option<String>,
    append_newline: Option<Bool>,
    prepend_newline: Option<Bool>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<Mode>,
}

/// Where a new block goes.
enum Insert {
    After(PyRegex),
    Before(PyRegex),
    Eof,
    Bof,
}

pub(crate) struct BlockInFile {
    target: EditTarget,
    present: bool,
    block: String,
    marker_begin_line: String,
    marker_end_line: String,
    insert: Insert,
    create: bool,
    append_newline: bool,
    prepend_newline: bool,
}

/// Prepares a `blockinfile` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    const M: &str = "blockinfile";
    refuse(M, args, &[])?;
    let p: Params = parse(M, args)?;
    node_path(M, "path", &p.path)?;
    if p.insertafter.is_some() && p.insertbefore.is_some() {
        return Err(ModuleError::params(format!(
            "module `{M}`: parameters are mutually exclusive: insertbefore|insertafter"
        )));
    }
    check_validate(M, &p.validate)?;
    let present = match p.state.as_deref().unwrap_or("present") {
        "present" => true,
        "absent" => false,
        other => {
            return Err(ModuleError::params(format!(
                "module `{M}`: value of state must be one of: absent, present, got: {other}"
            )));
        }
    };
    let pattern = |param: &str, r: &str| -> Result<PyRegex, ModuleError> {
        if has_multiline_flag(r) {
            return Err(ModuleError::params(format!(
                "module `{M}`: `{param}` with the MULTILINE flag (`(?m)`) searches the whole file; drover does not implement that"
            )));
        }
        PyRegex::new(M, param, r)
    };
    let insert = match (p.insertafter.as_deref(), p.insertbefore.as_deref()) {
        (Some("EOF") | None, None) => Insert::Eof,
        (Some(r), None) => Insert::After(pattern("insertafter", r)?),
        (None, Some("BOF")) => Insert::Bof,
        (None, Some(r)) => Insert::Before(pattern("insertbefore", r)?),
        (Some(_), Some(_)) => Insert::Eof,
    };
    let marker = p
        .marker
        .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
    let begin = p.marker_begin.unwrap_or_else(|| "BEGIN".into());
    let end = p.marker_end.unwrap_or_else(|| "END".into());
    if begin.contains('\\') || end.contains('\\') {
        return Err(ModuleError::params(format!(
            "module `{M}`: `marker_begin`/`marker_end` with a backslash are not implemented in drover (Python's re.sub would interpret it)"
        )));
    }
    Ok(Prepared::Remote(Box::new(BlockInFile {
        target: EditTarget {
            module: M,
            path: p.path,
            options: WriteOptions {
                attrs: attrs(p.owner, p.group, p.mode),
                backup: p.backup.is_some_and(|b| b.0),
                validate: p.validate,
            },
            diff: ctx.diff,
            backup_key: "backup_file",
            unsafe_writes: p.unsafe_writes.is_some_and(|b| b.0),
        },
        present,
        block: p.block.unwrap_or_default(),
        marker_begin_line: format!("{}\n", marker.replace("{mark}", &begin)),
        marker_end_line: format!("{}\n", marker.replace("{mark}", &end)),
        insert,
        create: p.create.is_some_and(|b| b.0),
        append_newline: p.append_newline.is_some_and(|b| b.0),
        prepend_newline: p.prepend_newline.is_some_and(|b| b.0),
    })))
}

/// Whether an inline flag group turns on `re.MULTILINE` (`(?m)`, `(?im)`, …).
fn has_multiline_flag(pattern: &str) -> bool {
    let mut rest = pattern;
    while let Some(at) = rest.find("(?") {
        let flags: String = rest[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if flags.contains('m') {
            return true;
        }
        rest = &rest[at + 2..];
    }
    false
}

/// Python's `bytes.splitlines(True)`: splits after `\n`, `\r\n` and `\r`.
fn splitlines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(text[start..=i].to_string());
                start = i + 1;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 1
                } else {
                    i
                };
                out.push(text[start..=end].to_string());
                i = end;
                start = end + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(text[start..].to_string());
    }
    out
}

impl BlockInFile {
    /// Ansible's algorithm: the new text for `original` (`None` when the file is absent).
    fn edit(&self, original: Option<&str>) -> String {
        let mut lines = original.map(splitlines).unwrap_or_default();
        let blocklines: Vec<String> = if self.present && !self.block.is_empty() {
            let mut block = self.block.clone();
            if !block.ends_with('\n') {
                block.push('\n');
            }
            let mut v = vec![self.marker_begin_line.clone()];
            v.extend(splitlines(&block));
            v.push(self.marker_end_line.clone());
            v
        } else {
            Vec::new()
        };
        let (mut n0, mut n1) = (None, None);
        for (i, line) in lines.iter().enumerate() {
            if *line == self.marker_begin_line {
                n0 = Some(i);
            }
            if *line == self.marker_end_line {
                n1 = Some(i);
            }
        }
        let mut at = match (n0, n1) {
            (Some(a), Some(b)) if a < b => {
                lines.drain(a..=b);
                a
            }
            (Some(a), Some(b)) => {
                lines.drain(b..=a);
                b
            }
            _ => match &self.insert {
                Insert::After(re) | Insert::Before(re) => {
                    let found = lines.iter().rposition(|l| re.is_match(l));
                    match found {
                        None => lines.len(),
                        Some(i) if matches!(self.insert, Insert::After(_)) => i + 1,
                        Some(i) => i,
                    }
                }
                Insert::Bof => 0,
                Insert::Eof => lines.len(),
            },
        };
        if at > 0 && !lines[at - 1].ends_with('\n') {
            lines[at - 1].push('\n');
        }
        if self.prepend_newline && self.present && at != 0 && lines[at - 1] != "\n" {
            lines.insert(at, "\n".into());
            at += 1;
        }
        let count = blocklines.len();
        lines.splice(at..at, blocklines);
        if self.append_newline && self.present {
            let after = at + count;
            if after < lines.len() && lines[after] != "\n" {
                lines.insert(after, "\n".into());
            }
        }
        lines.concat()
    }
}

impl Action for BlockInFile {
    fn probe(&self) -> Option<Request> {
        Some(resolved_probe(
            &self.target.path,
            self.target.options.attrs != crate::files::Attrs::default(),
        ))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let path = &self.target.path;
        let current = Current::parse("blockinfile", path, probe)?;
        let original = current.text.as_deref();
        if original.is_none() && !self.create {
            let mut r = ModuleResult::failed(format!("Path {path} does not exist !"));
            r.rc = Some(257);
            return Ok(Plan::satisfied(r));
        }
        if original.is_none() && !self.present {
            return Ok(Plan::satisfied(
                ModuleResult::ok().with_msg(format!("File {path} not present")),
            ));
        }
        let result = self.edit(original);
        let (msg, changed) = match original {
            Some(o) if o == result => ("", false),
            None => ("File created", true),
            Some(_) if !self.present || self.block.is_empty() => ("Block removed", true),
            Some(_) => ("Block inserted", true),
        };
        Ok(self
            .target
            .plan(&current, changed, result, msg, ModuleResult::ok()))
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        self.target.apply(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        self.target.finish(plan, outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testkit::{action, out, prepare, probe_of, run};
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    fn case(args: Value, before: &str, after: Option<&str>, msg: &str) {
        let a = action("blockinfile", args.clone(), false);
        let plan = a.plan(Some(&probe_of(before))).unwrap();
        assert_eq!(plan.result.msg.as_deref(), Some(msg), "{args}");
        match after {
            None if msg.is_empty() => assert_eq!(plan.outcome, Outcome::Satisfied, "{args}"),
            // attributes only: a change without an upload
            None => assert!(a.apply(&plan)[0].stdin.is_none(), "{args}"),
            Some(after) => {
                assert_eq!(plan.outcome, Outcome::Change, "{args}");
                let stdin = a.apply(&plan)[0].stdin_bytes().unwrap().to_vec();
                assert_eq!(String::from_utf8(stdin).unwrap(), after, "{args}");
            }
        }
    }

    const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK\n";
    const E: &str = "# END ANSIBLE MANAGED BLOCK\n";

    #[test]
    fn ansible_cases_as_data() {
        let with_block = format!("a\n{B}x\n{E}z\n");
        case(
            json!({"path": "/f", "block": "x"}),
            "a\nz",
            Some(&format!("a\nz\n{B}x\n{E}")),
            "Block inserted",
        );
        case(json!({"path": "/f", "block": "x"}), &with_block, None, "");
        case(
            json!({"path": "/f", "block": "y\ny2"}),
            &with_block,
            Some(&format!("a\n{B}y\ny2\n{E}z\n")),
            "Block inserted",
        );
        case(
            json!({"path": "/f", "state": "absent"}),
            &with_block,
            Some("a\nz\n"),
            "Block removed",
        );
        case(
            json!({"path": "/f", "block": ""}),
            &with_block,
            Some("a\nz\n"),
            "Block removed",
        );
        case(
            json!({"path": "/f", "block": "x", "insertbefore": "BOF"}),
            "a\n",
            Some(&format!("{B}x\n{E}a\n")),
            "Block inserted",
        );
        case(
            json!({"path": "/f", "block": "x", "insertafter": "^a"}),
            "a\nb\na2\nc\n",
            Some(&format!("a\nb\na2\n{B}x\n{E}c\n")),
            "Block inserted",
        );
        case(
            json!({"path": "/f", "block": "x", "insertbefore": "^b"}),
            "a\nb\nc\n",
            Some(&format!("a\n{B}x\n{E}b\nc\n")),
            "Block inserted",
        );
        case(
            json!({"path": "/f", "block": "x", "marker": "// {mark} consul", "marker_begin": "start", "marker_end": "stop"}),
            "a\n",
            Some("a\n// start consul\nx\n// stop consul\n"),
            "Block inserted",
        );
        case(
            json!({"path": "/f", "block": "x", "insertbefore": "^b", "prepend_newline": true, "append_newline": true}),
            "a\nb\n",
            Some(&format!("a\n\n{B}x\n{E}\nb\n")),
            "Block inserted",
        );
        case(
            json!({"path": "/f", "block": "x", "mode": "0600"}),
            &with_block,
            None,
            "ownership, perms or SE linux context changed",
        );
        assert_eq!(splitlines("a\r\nb\rc\nd"), ["a\r\n", "b\r", "c\n", "d"]);
    }

    #[test]
    fn missing_files() {
        let a = action("blockinfile", json!({"path": "/f", "block": "x"}), false);
        let plan = a.plan(Some(&out("state=absent\n"))).unwrap();
        assert!(plan.result.failed);
        assert_eq!(plan.result.msg.as_deref(), Some("Path /f does not exist !"));
        let a = action(
            "blockinfile",
            json!({"path": "/f", "state": "absent", "create": true}),
            false,
        );
        let plan = a.plan(Some(&out("state=absent\n"))).unwrap();
        assert_eq!(plan.result.msg.as_deref(), Some("File /f not present"));
        let a = action(
            "blockinfile",
            json!({"path": "/f", "block": "x", "create": true}),
            false,
        );
        let plan = a.plan(Some(&out("state=absent\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert_eq!(plan.result.msg.as_deref(), Some("File created"));
        let e = prepare(
            "blockinfile",
            json!({"path": "/f", "insertafter": "(?m)^x$"}),
            false,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("MULTILINE"), "{e}");
    }

    #[tokio::test]
    async fn real_runs_are_idempotent_and_check_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "127.0.0.1 localhost\n").unwrap();
        let args = json!({"path": path.to_str().unwrap(), "block": "10.10.10.10 meta\n10.10.10.11 node1", "backup": true});
        let a = action("blockinfile", args.clone(), true);
        let check = run(a.as_ref(), true).await.unwrap();
        assert_eq!(check.outcome, Outcome::Change);
        let first = run(a.as_ref(), false).await.unwrap();
        assert!(
            first.result.changed && !first.result.failed,
            "{:?}",
            first.result
        );
        assert_eq!(first.diffs, check.diffs);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("127.0.0.1 localhost\n{B}10.10.10.10 meta\n10.10.10.11 node1\n{E}")
        );
        assert!(first.result.extra.contains_key("backup_file"));
        let second = run(action("blockinfile", args, true).as_ref(), false)
            .await
            .unwrap();
        assert_eq!(second.outcome, Outcome::Satisfied);
        assert_eq!(second.round_trips, 1);
        let remove = json!({"path": path.to_str().unwrap(), "state": "absent"});
        let r = run(action("blockinfile", remove, false).as_ref(), false)
            .await
            .unwrap();
        assert_eq!(r.result.msg.as_deref(), Some("Block removed"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "127.0.0.1 localhost\n"
        );
    }
}
