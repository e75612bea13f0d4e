//! `lineinfile`: ensure a line is present (or absent) in a text file, with Ansible's exact
//! algorithm run on the controller: the probe reads the whole file (symlinks followed, up to
//! [`crate::files::MAX_DIFF_BYTES`]), the plan computes the new text, and the file is written
//! (atomically, with `backup`/`validate`) only when the text differs. Regular expressions use
//! Python `re` semantics where the Rust engine can give them; other patterns are refused.

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
    #[serde(alias = "regex")]
    regexp: Option<String>,
    search_string: Option<String>,
    #[serde(alias = "value")]
    line: Option<String>,
    insertafter: Option<String>,
    insertbefore: Option<String>,
    backrefs: Option<Bool>,
    create: Option<Bool>,
    backup: Option<Bool>,
    firstmatch: Option<Bool>,
    validate: Option<String>,
    unsafe_writes: Option<Bool>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<Mode>,
}

/// Where to insert when nothing matches.
#[derive(Debug)]
enum Insert {
    After(PyRegex),
    Before(PyRegex),
    Eof,
    Bof,
}

enum Edit {
    Present {
        line: String,
        regexp: Option<PyRegex>,
        search_string: Option<String>,
        insert: Insert,
        create: bool,
        backrefs: bool,
        firstmatch: bool,
    },
    Absent {
        line: Option<String>,
        regexp: Option<PyRegex>,
        search_string: Option<String>,
    },
}

impl std::fmt::Debug for PyRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyRegex")
    }
}

pub(crate) struct LineInFile {
    target: EditTarget,
    edit: Edit,
    warnings: Vec<String>,
}

/// Prepares a `lineinfile` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    const M: &str = "lineinfile";
    refuse(M, args, &[])?;
    let p: Params = parse(M, args)?;
    node_path(M, "path", &p.path)?;
    let err = |msg: &str| Err(ModuleError::params(format!("module `{M}`: {msg}")));
    for (a, b, x, y) in [
        (
            "insertbefore",
            "insertafter",
            p.insertbefore.is_some(),
            p.insertafter.is_some(),
        ),
        (
            "regexp",
            "search_string",
            p.regexp.is_some(),
            p.search_string.is_some(),
        ),
        (
            "backrefs",
            "search_string",
            p.backrefs.is_some(),
            p.search_string.is_some(),
        ),
    ] {
        if x && y {
            return err(&format!("parameters are mutually exclusive: {a}|{b}"));
        }
    }
    check_validate(M, &p.validate)?;
    let mut warnings = Vec::new();
    if p.regexp.as_deref() == Some("") {
        warnings.push("The regular expression is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending. If this is desired, use '^' to match every line in the file and avoid this warning.".to_string());
    } else if p.search_string.as_deref() == Some("") {
        warnings.push("The search string is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending.".to_string());
    }
    let regexp = p
        .regexp
        .as_deref()
        .map(|r| PyRegex::new(M, "regexp", r))
        .transpose()?;
    let state = p.state.as_deref().unwrap_or("present");
    let backrefs = p.backrefs.is_some_and(|b| b.0);
    let edit = match state {
        "present" => {
            if backrefs && regexp.is_none() {
                return err("regexp is required with backrefs=true");
            }
            let Some(line) = p.line else {
                return err("line is required with state=present");
            };
            let insert = match (p.insertafter.as_deref(), p.insertbefore.as_deref()) {
                (Some("EOF") | None, None) => Insert::Eof,
                (Some("BOF"), None) => Insert::Bof,
                (Some(r), None) => Insert::After(PyRegex::new(M, "insertafter", r)?),
                (None, Some("BOF")) => Insert::Bof,
                (None, Some(r)) => Insert::Before(PyRegex::new(M, "insertbefore", r)?),
                (Some(_), Some(_)) => return err("parameters are mutually exclusive"),
            };
            Edit::Present {
                line,
                regexp,
                search_string: p.search_string,
                insert,
                create: p.create.is_some_and(|b| b.0),
                backrefs,
                firstmatch: p.firstmatch.is_some_and(|b| b.0),
            }
        }
        "absent" => {
            if p.line.is_none() && regexp.is_none() && p.search_string.is_none() {
                return err("one of line, search_string, or regexp is required with state=absent");
            }
            Edit::Absent {
                line: p.line,
                regexp,
                search_string: p.search_string,
            }
        }
        other => {
            return err(&format!(
                "value of state must be one of: absent, present, got: {other}"
            ));
        }
    };
    Ok(Prepared::Remote(Box::new(LineInFile {
        target: EditTarget {
            module: M,
            path: p.path,
            options: WriteOptions {
                attrs: attrs(p.owner, p.group, p.mode),
                backup: p.backup.is_some_and(|b| b.0),
                validate: p.validate,
            },
            diff: ctx.diff,
            backup_key: "backup",
            unsafe_writes: p.unsafe_writes.is_some_and(|b| b.0),
        },
        edit,
        warnings,
    })))
}

/// Python's `bytes.readlines()`: lines split after each `\n`.
fn readlines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(String::from).collect()
}

fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// The outcome of Ansible's `present()`: new lines, message, changed.
fn present(
    mut lines: Vec<String>,
    line: &str,
    regexp: Option<&PyRegex>,
    search_string: Option<&str>,
    insert: &Insert,
    backrefs: bool,
    firstmatch: bool,
) -> Result<(Vec<String>, &'static str, bool), String> {
    let mut index: [i64; 2] = [-1, -1];
    let mut found_match = None;
    let mut matched = false;
    if let Some(re) = regexp {
        for (n, cur) in lines.iter().enumerate() {
            if let Some(m) = re.captures(cur) {
                index[0] = n as i64;
                found_match = Some(m);
                matched = true;
                if firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = search_string {
        for (n, cur) in lines.iter().enumerate() {
            if cur.contains(s) {
                index[0] = n as i64;
                matched = true;
                if firstmatch {
                    break;
                }
            }
        }
    }
    let (bre_ins, insertafter, insertbefore) = match insert {
        Insert::After(r) => (Some(r), true, false),
        Insert::Before(r) => (Some(r), false, true),
        Insert::Eof => (None, true, false),
        Insert::Bof => (None, false, true),
    };
    let insert_eof = matches!(insert, Insert::Eof);
    let insert_bof = matches!(insert, Insert::Bof);
    if !matched {
        for (n, cur) in lines.iter().enumerate() {
            if line == strip_eol(cur) {
                index[0] = n as i64;
            } else if let Some(ins) = bre_ins
                && ins.is_match(cur)
            {
                if insertafter {
                    index[1] = n as i64 + 1;
                    if firstmatch {
                        break;
                    }
                }
                if insertbefore {
                    index[1] = n as i64;
                    if firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let with_sep = |l: &str| format!("{l}\n");
    let ends_with_eol = |l: &String| l.ends_with('\n') || l.ends_with('\r');
    if index[0] != -1 {
        let mut new_line = match (&found_match, backrefs) {
            (Some(m), true) => m.expand(line)?,
            _ => line.to_string(),
        };
        if !new_line.ends_with('\n') {
            new_line.push('\n');
        }
        let i = index[0] as usize;
        if lines[i] != new_line {
            lines[i] = new_line;
            return Ok((lines, "line replaced", true));
        }
        return Ok((lines, "", false));
    }
    if backrefs {
        return Ok((lines, "", false));
    }
    if insert_bof {
        lines.insert(0, with_sep(line));
        return Ok((lines, "line added", true));
    }
    if insert_eof || index[1] == -1 {
        if let Some(last) = lines.last()
            && !ends_with_eol(last)
        {
            lines.push("\n".into());
        }
        lines.push(with_sep(line));
        return Ok((lines, "line added", true));
    }
    let at = index[1] as usize;
    if insertafter {
        if lines.len() == at {
            if strip_eol(&lines[at - 1]) != line {
                lines.push(with_sep(line));
                return Ok((lines, "line added", true));
            }
            return Ok((lines, "", false));
        }
        if line != strip_eol(&lines[at]) {
            lines.insert(at, with_sep(line));
            return Ok((lines, "line added", true));
        }
        return Ok((lines, "", false));
    }
    lines.insert(at, with_sep(line));
    Ok((lines, "line added", true))
}

impl Action for LineInFile {
    fn probe(&self) -> Option<Request> {
        Some(resolved_probe(
            &self.target.path,
            self.target.options.attrs != crate::files::Attrs::default(),
        ))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let path = &self.target.path;
        let current = Current::parse("lineinfile", path, probe)?;
        let mut result = ModuleResult::ok();
        for w in &self.warnings {
            result
                .extra
                .insert("warnings".into(), Value::from(vec![w.clone()]));
        }
        match &self.edit {
            Edit::Present {
                line,
                regexp,
                search_string,
                insert,
                create,
                backrefs,
                firstmatch,
            } => {
                let exists = current.text.is_some();
                if !exists && !create {
                    let mut r =
                        ModuleResult::failed(format!("Destination {path} does not exist !"));
                    r.rc = Some(257);
                    return Ok(Plan::satisfied(r));
                }
                let old = current.text.clone().unwrap_or_default();
                let (lines, msg, changed) = present(
                    readlines(&old),
                    line,
                    regexp.as_ref(),
                    search_string.as_deref(),
                    insert,
                    *backrefs,
                    *firstmatch,
                )
                .map_err(|e| {
                    ModuleError::params(format!(
                        "module `lineinfile`: backrefs expansion of `line`: {e}"
                    ))
                })?;
                result = result.with("backup", "");
                Ok(self
                    .target
                    .plan(&current, changed, lines.concat(), msg, result))
            }
            Edit::Absent {
                line,
                regexp,
                search_string,
            } => {
                let Some(old) = &current.text else {
                    return Ok(Plan::satisfied(result.with_msg("file not present")));
                };
                let mut found = 0usize;
                let kept: Vec<String> = readlines(old)
                    .into_iter()
                    .filter(|cur| {
                        let hit = if let Some(re) = regexp {
                            re.is_match(cur)
                        } else if let Some(s) = search_string {
                            cur.contains(s.as_str())
                        } else {
                            line.as_deref() == Some(strip_eol(cur))
                        };
                        if hit {
                            found += 1;
                        }
                        !hit
                    })
                    .collect();
                let msg = if found > 0 {
                    format!("{found} line(s) removed")
                } else {
                    String::new()
                };
                result = result.with("found", found).with("backup", "");
                Ok(self
                    .target
                    .plan(&current, found > 0, kept.concat(), &msg, result))
            }
        }
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

    /// (args, file before, expected file after or None for unchanged, expected msg)
    fn case(args: Value, before: &str, after: Option<&str>, msg: &str) {
        let a = action("lineinfile", args.clone(), true);
        let plan = a.plan(Some(&probe_of(before))).unwrap();
        assert_eq!(plan.result.msg.as_deref(), Some(msg), "{args}");
        match after {
            None if msg.is_empty() => assert_eq!(plan.outcome, Outcome::Satisfied, "{args}"),
            // attributes only: a change without an upload
            None => assert!(a.apply(&plan)[0].stdin.is_none(), "{args}"),
            Some(after) => {
                assert_eq!(plan.outcome, Outcome::Change, "{args}");
                let apply = a.apply(&plan);
                assert_eq!(
                    String::from_utf8(apply[0].stdin_bytes().unwrap().to_vec()).unwrap(),
                    after,
                    "{args}"
                );
            }
        }
    }

    #[test]
    fn ansible_cases_as_data() {
        let f = "a=1\nb=2\nc=3\n";
        case(
            json!({"path": "/f", "line": "d=4"}),
            f,
            Some("a=1\nb=2\nc=3\nd=4\n"),
            "line added",
        );
        case(json!({"path": "/f", "line": "b=2"}), f, None, "");
        case(
            json!({"path": "/f", "regexp": "^b=", "line": "b=9"}),
            f,
            Some("a=1\nb=9\nc=3\n"),
            "line replaced",
        );
        case(
            json!({"path": "/f", "regexp": "^b=", "line": "b=2"}),
            f,
            None,
            "",
        );
        case(
            json!({"path": "/f", "regexp": "^z=", "line": "z=0", "insertbefore": "BOF"}),
            f,
            Some("z=0\na=1\nb=2\nc=3\n"),
            "line added",
        );
        case(
            json!({"path": "/f", "line": "x", "insertafter": "^a="}),
            f,
            Some("a=1\nx\nb=2\nc=3\n"),
            "line added",
        );
        case(
            json!({"path": "/f", "line": "x", "insertbefore": "^c="}),
            f,
            Some("a=1\nb=2\nx\nc=3\n"),
            "line added",
        );
        // insertafter that matches nothing appends at EOF
        case(
            json!({"path": "/f", "line": "x", "insertafter": "^nope"}),
            f,
            Some("a=1\nb=2\nc=3\nx\n"),
            "line added",
        );
        // a missing final newline is added before the new line
        case(
            json!({"path": "/f", "line": "x"}),
            "a",
            Some("a\nx\n"),
            "line added",
        );
        // search_string
        case(
            json!({"path": "/f", "search_string": "b=", "line": "B=2"}),
            f,
            Some("a=1\nB=2\nc=3\n"),
            "line replaced",
        );
        // last match wins unless firstmatch
        case(
            json!({"path": "/f", "regexp": "=", "line": "L"}),
            f,
            Some("a=1\nb=2\nL\n"),
            "line replaced",
        );
        case(
            json!({"path": "/f", "regexp": "=", "line": "L", "firstmatch": true}),
            f,
            Some("L\nb=2\nc=3\n"),
            "line replaced",
        );
        // backrefs: replace with groups, no match → unchanged
        case(
            json!({"path": "/f", "regexp": "^(b)=(\\d)$", "line": "\\1 is \\2", "backrefs": true}),
            f,
            Some("a=1\nb is 2\nc=3\n"),
            "line replaced",
        );
        case(
            json!({"path": "/f", "regexp": "^q=", "line": "q", "backrefs": true}),
            f,
            None,
            "",
        );
        // absent
        case(
            json!({"path": "/f", "regexp": "^[ab]=", "state": "absent"}),
            f,
            Some("c=3\n"),
            "2 line(s) removed",
        );
        case(
            json!({"path": "/f", "line": "c=3", "state": "absent"}),
            f,
            Some("a=1\nb=2\n"),
            "1 line(s) removed",
        );
        case(
            json!({"path": "/f", "line": "zz", "state": "absent"}),
            f,
            None,
            "",
        );
        // attributes only
        case(
            json!({"path": "/f", "line": "b=2", "mode": "0600"}),
            f,
            None,
            "ownership, perms or SE linux context changed",
        );
    }

    #[test]
    fn attrs_only_change_uses_no_upload() {
        let a = action(
            "lineinfile",
            json!({"path": "/f", "line": "b=2", "mode": "0600"}),
            false,
        );
        let plan = a.plan(Some(&probe_of("b=2\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let apply = a.apply(&plan);
        assert!(apply[0].stdin.is_none());
        assert!(apply[0].script.contains("chmod 0600"));
    }

    #[test]
    fn missing_file_and_bad_params() {
        let a = action("lineinfile", json!({"path": "/f", "line": "x"}), false);
        let plan = a.plan(Some(&out("state=absent\n"))).unwrap();
        assert!(plan.result.failed);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("Destination /f does not exist !")
        );
        let a = action(
            "lineinfile",
            json!({"path": "/f", "line": "x", "state": "absent"}),
            false,
        );
        let plan = a.plan(Some(&out("state=absent\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(plan.result.msg.as_deref(), Some("file not present"));
        let a = action("lineinfile", json!({"path": "/d", "line": "x"}), false);
        let e = a
            .plan(Some(&out("state=directory\nmode=755\n")))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "Path /d is a directory !");
        for (args, want) in [
            (json!({"path": "/f"}), "line is required with state=present"),
            (
                json!({"path": "/f", "state": "absent"}),
                "one of line, search_string, or regexp is required",
            ),
            (
                json!({"path": "/f", "line": "x", "backrefs": true}),
                "regexp is required with backrefs=true",
            ),
            (
                json!({"path": "/f", "line": "x", "regexp": "a", "search_string": "b"}),
                "mutually exclusive: regexp|search_string",
            ),
            (
                json!({"path": "/f", "line": "x", "validate": "true"}),
                "validate must contain %s",
            ),
            (
                json!({"path": "/f", "line": "x", "regexp": "a\\Z"}),
                "`\\Z`",
            ),
            (
                json!({"path": "/f", "line": "x", "selevel": "s0"}),
                "`selevel` is not implemented",
            ),
        ] {
            let e = prepare("lineinfile", args.clone(), false)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(want), "{args}: {e}");
        }
    }

    #[tokio::test]
    async fn real_runs_are_idempotent_and_check_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.conf");
        std::fs::write(&real, "port=1\n# end\n").unwrap();
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let args = json!({"path": link.to_str().unwrap(), "regexp": "^port=", "line": "port=8500", "backup": true});
        let a = action("lineinfile", args.clone(), true);
        let check = run(a.as_ref(), true).await.unwrap();
        assert_eq!(check.outcome, Outcome::Change);
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "port=1\n# end\n");
        let first = run(a.as_ref(), false).await.unwrap();
        assert!(
            first.result.changed && !first.result.failed,
            "{:?}",
            first.result
        );
        assert_eq!(first.result.msg, check.result.msg);
        assert_eq!(first.diffs, check.diffs);
        // the link is followed: the real file changed, the link is still a link
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "port=8500\n# end\n"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let backup = first.result.extra["backup"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "port=1\n# end\n");
        let second = run(action("lineinfile", args, true).as_ref(), false)
            .await
            .unwrap();
        assert_eq!(second.outcome, Outcome::Satisfied);
        assert_eq!(second.round_trips, 1);

        // create in a missing directory
        let new = dir.path().join("sub/dir/new.conf");
        let args =
            json!({"path": new.to_str().unwrap(), "line": "x=1", "create": true, "mode": "0640"});
        let first = run(action("lineinfile", args.clone(), false).as_ref(), false)
            .await
            .unwrap();
        assert!(
            first.result.changed && !first.result.failed,
            "{:?}",
            first.result
        );
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "x=1\n");
        let second = run(action("lineinfile", args, false).as_ref(), false)
            .await
            .unwrap();
        assert_eq!(second.outcome, Outcome::Satisfied);

        // validate failure leaves the file alone
        let args =
            json!({"path": real.to_str().unwrap(), "line": "bad", "validate": "grep -q good %s"});
        let r = run(action("lineinfile", args, false).as_ref(), false)
            .await
            .unwrap();
        assert!(r.result.failed);
        assert!(
            r.result
                .msg
                .as_deref()
                .unwrap()
                .starts_with("failed to validate: rc:1"),
            "{:?}",
            r.result.msg
        );
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "port=8500\n# end\n"
        );
    }
}
