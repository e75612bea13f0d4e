//! `copy`: put `content` or a controller file (`src`) at `dest` on the node.
//!
//! One probe (stat + SHA-256 of `dest`; a small text file is compared in the shell instead of
//! hashed, see [`files::probe_script_expecting`]); the content is uploaded only when it differs;
//! attributes alone are fixed without an upload. Writes are atomic ([`files::write_script`]),
//! keep the existing owner and mode unless given, support `backup`, `force: no` and `validate`.
//! Not implemented (refused by name): `remote_src`, directory sources, `directory_mode`,
//! `local_follow`, `follow`, `decrypt`, `checksum`, `seuser`/`serole`/…

use crate::payload::Payload;
use drover_connection::shell::quote;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::common::{
    check_validate_words, node_path, unsafe_writes, validate_without_percent_s, write_hint,
};

use crate::diff::FileDiff;
use crate::files::{self, Attrs, FileKind, FileState, WriteOptions};
use crate::params::{Bool, Mode, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    dest: String,
    src: Option<String>,
    content: Option<Value>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<Mode>,
    backup: Option<Bool>,
    force: Option<Bool>,
    validate: Option<String>,
    unsafe_writes: Option<Bool>,
}

/// Refused parameters with the reason shown to the user.
const REFUSED: &[&str] = &[
    "remote_src",
    "directory_mode",
    "local_follow",
    "follow",
    "decrypt",
    "checksum",
    "seuser",
    "serole",
    "setype",
    "selevel",
    "attributes",
];

#[derive(Clone)]
pub(crate) struct Copy {
    dest: String,
    /// The source's base name: when `dest` is an existing directory, the file goes inside it.
    into_dir_name: Option<String>,
    content: Payload,
    options: WriteOptions,
    force: bool,
    diff: bool,
    unsafe_writes: bool,
}

/// Prepares a `copy` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    if let Some(name) = REFUSED.iter().find(|n| args.contains_key(**n)) {
        return Err(ModuleError::params(format!(
            "module `copy`: parameter `{name}` is not implemented in drover"
        )));
    }
    let p: Params = parse("copy", args)?;
    node_path("copy", "dest", &p.dest)?;
    check_validate_words("copy", &p.validate)?;
    let (content, source_name) = match (&p.content, &p.src) {
        (Some(_), Some(_)) => {
            return Err(ModuleError::params(
                "module `copy`: `src` and `content` are mutually exclusive",
            ));
        }
        (Some(content), None) => (Payload::bytes(content_bytes(content)), None),
        (None, Some(src)) => {
            let path = ctx.controller.find_file(src).map_err(ModuleError::params)?;
            if path.is_dir() {
                return Err(ModuleError::params(format!(
                    "module `copy`: `src` `{src}` is a directory; copying directories is not implemented in drover"
                )));
            }
            let bytes = Payload::file(&path).map_err(|e| {
                ModuleError::params(format!(
                    "module `copy`: cannot read `{}`: {e}",
                    path.display()
                ))
            })?;
            (bytes, Some(src.clone()))
        }
        (None, None) => {
            return Err(ModuleError::params(
                "module `copy`: one of `src` or `content` is required",
            ));
        }
    };
    let into_dir_name = match &source_name {
        Some(src) if !p.dest.ends_with('/') => Some(basename(src).to_string()),
        _ => None,
    };
    let dest = if p.dest.ends_with('/') {
        match &source_name {
            Some(src) => format!("{}{}", p.dest, basename(src)),
            None => {
                return Err(ModuleError::params(
                    "module `copy`: with `content`, `dest` must be a file name, not a directory",
                ));
            }
        }
    } else {
        p.dest.clone()
    };
    Ok(Prepared::Remote(Box::new(Copy {
        dest,
        into_dir_name,
        content,
        options: WriteOptions {
            attrs: Attrs {
                owner: p.owner,
                group: p.group,
                mode: p.mode,
            },
            backup: p.backup.is_some_and(|b| b.0),
            validate: p.validate,
        },
        force: p.force.is_none_or(|b| b.0),
        diff: ctx.diff,
        unsafe_writes: p.unsafe_writes.is_some_and(|b| b.0),
    })))
}

/// Ansible writes non-string `content` as JSON.
fn content_bytes(content: &Value) -> Vec<u8> {
    match content {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

fn basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// What `apply` has to do, and to which path.
enum Work {
    Write(String),
    Attrs(String),
}

/// Marker the probe prints when `dest` is an existing directory (the file goes inside).
const INTO_DIR: &str = "into_dir=1";

impl Action for Copy {
    fn probe(&self) -> Option<Request> {
        let plain = files::probe_script_expecting(&self.dest, self.diff, &self.content);
        match &self.into_dir_name {
            // Ansible's copy module: an existing directory at `dest` (links followed) receives
            // the file under the source's name.
            Some(name) => Some(Request::new(format!(
                "if [ -d {d} ]; then echo {INTO_DIR}; ( {inside} ); else ( {plain} ); fi\n",
                d = quote(&self.dest),
                inside =
                    files::probe_script_expecting(&self.inside(name), self.diff, &self.content)
                        .script,
                plain = plain.script
            ))),
            None => Some(plain),
        }
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let probe = probe.ok_or_else(|| ModuleError::internal("copy needs its probe"))?;
        let state = FileState::parse(&probe.stdout)?;
        if probe.stdout.starts_with(format!("{INTO_DIR}\n").as_bytes())
            && let Some(name) = &self.into_dir_name
        {
            let mut inside = self.clone();
            inside.dest = self.inside(name);
            inside.into_dir_name = None;
            return inside.plan_state(state);
        }
        self.plan_state(state)
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        match plan.state::<Work>() {
            Ok(Work::Attrs(dest)) => vec![files::attrs_script(dest, &self.options.attrs)],
            // nothing is written: `finish` fails the task
            Ok(Work::Write(_)) if validate_without_percent_s(&self.options.validate).is_some() => {
                Vec::new()
            }
            Ok(Work::Write(dest)) => {
                let request = files::write_script(dest, &self.options, &self.content);
                vec![if self.unsafe_writes {
                    unsafe_writes(request)
                } else {
                    request
                }]
            }
            Err(_) => Vec::new(),
        }
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        if let Ok(Work::Write(_)) = plan.state::<Work>()
            && let Some(validate) = validate_without_percent_s(&self.options.validate)
        {
            // Ansible's copy module: {"changed": false, "checksum": ..., "msg": "validate must
            // contain %s: ..."}, before the file is touched
            let mut result = plan.result.clone();
            result.failed = true;
            result.changed = false;
            result.extra.retain(|key, _| key == "checksum");
            result.diffs.clear();
            result.msg = Some(format!("validate must contain %s: {validate}"));
            return Ok(result);
        }
        let out = outputs
            .first()
            .ok_or_else(|| ModuleError::internal("copy produced no output"))?;
        let mut result = plan.result.clone();
        if out.status != 0 {
            let dest = match plan.state::<Work>() {
                Ok(Work::Write(d) | Work::Attrs(d)) => d.as_str(),
                Err(_) => self.dest.as_str(),
            };
            result.failed = true;
            result.changed = false;
            let stderr = out.stderr_text();
            if stderr.contains("validation failed: ") {
                // Ansible's copy: msg "failed to validate" with the command's exit status and
                // output; the destination is untouched.
                result.msg = Some("failed to validate".into());
                // Ansible's failure has only the checksum of what was not written
                result.extra.retain(|key, _| key == "checksum");
                result.diffs.clear();
                result
                    .extra
                    .insert("exit_status".into(), Value::from(out.status));
                result.stdout = Some(out.stdout_text());
                result.stderr = Some(
                    stderr
                        .lines()
                        .filter(|l| !l.starts_with("validation failed: "))
                        .map(|l| format!("{l}\n"))
                        .collect(),
                );
                return Ok(result);
            }
            result.msg = Some(format!(
                "failed to write `{dest}`: {}{}",
                stderr.trim(),
                write_hint(&stderr)
            ));
            return Ok(result);
        }
        for line in out.stdout_text().lines() {
            if let Some(backup) = line.strip_prefix("backup=") {
                result
                    .extra
                    .insert("backup_file".into(), Value::String(backup.to_string()));
            }
        }
        Ok(result)
    }
}

impl Copy {
    /// `dest/name`.
    fn inside(&self, name: &str) -> String {
        format!("{}/{name}", self.dest.trim_end_matches('/'))
    }

    /// The plan for `self.dest` in `state`.
    fn plan_state(&self, state: FileState) -> Result<Plan, ModuleError> {
        let wanted_sha = self.content.sha256();
        let result = self.result(&state);
        match state.kind {
            FileKind::Directory => Err(ModuleError::node(format!(
                "`{}` is a directory; add a trailing `/` to `dest` to copy into it",
                self.dest
            ))),
            FileKind::Other => Err(ModuleError::node(format!(
                "`{}` exists and is not a regular file",
                self.dest
            ))),
            FileKind::Absent => Ok(self.with_content_diff(
                Plan::change(result, Work::Write(self.dest.clone())),
                "",
                true,
            )),
            // `follow: no` (Ansible's default): a link at `dest` is replaced by the file.
            FileKind::Link => {
                let before = format!(
                    "(symlink to {})\n",
                    state.link_target.as_deref().unwrap_or("?")
                );
                Ok(self.with_content_diff(
                    Plan::change(result, Work::Write(self.dest.clone())),
                    &before,
                    false,
                ))
            }
            FileKind::File => {
                if state.sha256.as_deref() != Some(wanted_sha) {
                    if !self.force {
                        return Ok(Plan::satisfied(result));
                    }
                    let before = state.text().unwrap_or_default();
                    return Ok(self.with_content_diff(
                        Plan::change(result, Work::Write(self.dest.clone())),
                        &before,
                        false,
                    ));
                }
                let changes = self.options.attrs.differences(&state);
                if changes.is_empty() {
                    return Ok(Plan::satisfied(result));
                }
                let mut plan = Plan::change(result, Work::Attrs(self.dest.clone()));
                if self.diff {
                    let before: String = changes.iter().map(|c| format!("{c}\n")).collect();
                    plan.diffs.push(FileDiff::content(&self.dest, &before, ""));
                }
                Ok(plan)
            }
        }
    }
}

impl Copy {
    /// A copy of `content` to `dest` (used by `template` for rendered text); when `dest` is an
    /// existing directory, the file goes inside it as `into_dir_name`.
    pub(crate) fn new(
        dest: String,
        into_dir_name: Option<String>,
        content: Payload,
        options: WriteOptions,
        force: bool,
        diff: bool,
        unsafe_writes: bool,
    ) -> Copy {
        Copy {
            dest,
            into_dir_name,
            content,
            options,
            force,
            diff,
            unsafe_writes,
        }
    }

    fn result(&self, state: &FileState) -> ModuleResult {
        let mut r = ModuleResult::ok()
            .with("dest", self.dest.clone())
            .with("checksum", self.content.sha1())
            .with("size", self.content.len())
            .with("state", "file");
        let mode = self.options.attrs.mode.or(state.mode);
        if let Some(mode) = mode {
            r = r.with("mode", mode.to_string());
        }
        if let Some(owner) = self.options.attrs.owner.clone().or(state.owner.clone()) {
            r = r.with("owner", owner);
        }
        if let Some(group) = self.options.attrs.group.clone().or(state.group.clone()) {
            r = r.with("group", group);
        }
        r
    }

    fn with_content_diff(&self, mut plan: Plan, before: &str, was_absent: bool) -> Plan {
        if self.diff {
            let after = match self.content.read_all() {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!("(cannot read the source: {e})\n"),
            };
            let mut d = FileDiff::content(&self.dest, before, &after);
            if was_absent {
                // Ansible gives a new file no before-header: `--- before`.
                d.before_header = String::new();
            }
            plan.diffs.push(d);
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Controller, Outcome};
    use serde_json::json;
    use std::path::{Path, PathBuf};

    struct NoFiles;
    impl Controller for NoFiles {
        fn find_file(&self, name: &str) -> Result<PathBuf, String> {
            Err(format!("could not find `{name}`"))
        }
        fn find_template(&self, name: &str) -> Result<PathBuf, String> {
            Err(format!("could not find `{name}`"))
        }
        fn render_template(&self, _: &Path, _: &str, _: &str) -> Result<String, String> {
            Err("no templates".into())
        }
    }

    fn copy(args: Value, diff: bool) -> Box<dyn Action> {
        let ctx = TaskContext {
            host: "h",
            controller: &NoFiles,
            diff,
            escalated: false,
        };
        match prepare(args.as_object().unwrap(), &ctx).unwrap() {
            Prepared::Remote(a) => a,
            Prepared::Local(_) => panic!("remote expected"),
        }
    }

    fn probe_out(text: String) -> Output {
        Output {
            status: 0,
            stdout: text.into_bytes(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn identical_content_and_attrs_is_satisfied() {
        let a = copy(
            json!({"dest": "/etc/x", "content": "hi\n", "mode": "0644"}),
            false,
        );
        let sha = files::sha256_hex(b"hi\n");
        let plan = a
            .plan(Some(&probe_out(format!(
                "state=file\nmode=644\nowner=root\ngroup=root\nsize=3\nsha256={sha}\n"
            ))))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert!(!plan.result.changed);
    }

    #[test]
    fn different_content_uploads_with_a_diff() {
        let a = copy(json!({"dest": "/etc/x", "content": "new\n"}), true);
        let plan = a
            .plan(Some(&probe_out("state=file\nmode=600\nowner=root\ngroup=root\nsize=4\nsha256=00\n--drover-content--\nold\n".into())))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(plan.diffs[0].unified().contains("-old\n+new\n"));
        let apply = a.apply(&plan);
        assert_eq!(apply[0].stdin_bytes(), Some(b"new\n".as_slice()));
        assert!(apply[0].script.contains("mv -f -- \"$t\" \"$d\""));
    }

    #[test]
    fn only_attributes_differ_no_upload() {
        let a = copy(
            json!({"dest": "/etc/x", "content": "hi\n", "mode": 0o640, "group": "consul"}),
            false,
        );
        let sha = files::sha256_hex(b"hi\n");
        let plan = a
            .plan(Some(&probe_out(format!(
                "state=file\nmode=644\nowner=root\ngroup=root\nsize=3\nsha256={sha}\n"
            ))))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let apply = a.apply(&plan);
        assert!(apply[0].stdin.is_none());
        assert_eq!(
            apply[0].script,
            "set -e\np=/etc/x\nchmod 0640 -- \"$p\"\nchgrp -- consul \"$p\"\n"
        );
    }

    #[test]
    fn a_symlink_at_dest_is_replaced() {
        let a = copy(json!({"dest": "/etc/x", "content": "hi\n"}), false);
        let plan = a
            .plan(Some(&probe_out(
                "state=link\nmode=777\nowner=root\ngroup=root\nsize=4\ntarget=/y\n".into(),
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(a.apply(&plan)[0].stdin.is_some());
    }

    #[test]
    fn force_no_keeps_existing_content() {
        let a = copy(
            json!({"dest": "/etc/x", "content": "hi\n", "force": "no"}),
            false,
        );
        let plan = a
            .plan(Some(&probe_out(
                "state=file\nmode=644\nowner=root\ngroup=root\nsize=1\nsha256=00\n".into(),
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        let ctx = TaskContext {
            host: "h",
            controller: &NoFiles,
            diff: false,
            escalated: false,
        };
        let err = prepare(
            json!({"dest": "/x", "src": "/y", "remote_src": true})
                .as_object()
                .unwrap(),
            &ctx,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("`remote_src` is not implemented"), "{err}");
        let err = prepare(json!({"dest": "/x"}).as_object().unwrap(), &ctx)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("one of `src` or `content` is required"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn validate_without_percent_s_fails_before_writing() {
        // ansible-playbook 2.18: copy with `validate: "true"` fails ("validate must contain
        // %s: true") and leaves the file as it was; it is ok when the file is already right,
        // and changed in check mode
        use super::super::common::testkit::{action, run};
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        std::fs::write(&dest, "old\n").unwrap();
        let args = |content: &str| json!({"dest": dest.to_str().unwrap(), "content": content, "validate": "true"});
        let a = action("copy", args("new\n"), false);
        let r = run(a.as_ref(), false).await.unwrap();
        assert!(r.result.failed, "{:?}", r.result);
        assert!(!r.result.changed);
        assert_eq!(
            r.result.msg.as_deref(),
            Some("validate must contain %s: true")
        );
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
        let check = run(a.as_ref(), true).await.unwrap();
        assert!(check.result.changed && !check.result.failed);
        let same = run(action("copy", args("old\n"), false).as_ref(), false)
            .await
            .unwrap();
        assert!(!same.result.failed && !same.result.changed);
        // a new file is not created either
        let fresh = dir.path().join("new");
        let a = action(
            "copy",
            json!({"dest": fresh.to_str().unwrap(), "content": "x", "validate": "true"}),
            false,
        );
        assert!(run(a.as_ref(), false).await.unwrap().result.failed);
        assert!(!fresh.exists());
    }
}
