//! `script`: run a controller file on the node, with Ansible 2.18's `script` action semantics.
//!
//! The file (found like `copy`'s `src`: role `files/`, then the playbook directory) is sent on
//! stdin into a temp file on the node, made executable and run with its shebang — or with
//! `executable` — and the given arguments (`_raw_params` split like Python's `shlex.split`),
//! in `chdir` when given (must be absolute), then removed.
//!
//! - `creates`/`removes` are checked first (one probe): when they say no, the task is SKIPPED
//!   ("X exists, matching creates option"), as Ansible's action does.
//! - Check mode: with `creates`/`removes` it reports changed; without, skipped ("Check mode is
//!   not supported for this task.").
//! - Always `changed` when run; a non-zero rc fails with "non-zero return code".
//!
//! Not implemented (refused by name): `decrypt` (vault-encrypted scripts).

use drover_connection::shell::{join, quote};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::command::shlex_split;
use super::util::{self, line_value};
use crate::params::parse;
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(rename = "_raw_params")]
    raw_params: Option<String>,
    cmd: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
    chdir: Option<String>,
    executable: Option<String>,
}

struct Script {
    content: Vec<u8>,
    args: Vec<String>,
    executable: Option<String>,
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
}

/// Prepares a `script` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    util::refuse("script", args, &["decrypt"])?;
    let p: Params = parse("script", args)?;
    let text = p.cmd.or(p.raw_params).unwrap_or_default();
    let words = shlex_split(text.trim()).ok_or_else(|| {
        ModuleError::params(format!(
            "module `script`: cannot split `{text}` (unbalanced quotes)"
        ))
    })?;
    let Some((source, rest)) = words.split_first() else {
        return Err(ModuleError::params(
            "module `script`: one of the following is required: _raw_params, cmd",
        ));
    };
    if let Some(dir) = &p.chdir
        && !dir.starts_with('/')
    {
        return Err(ModuleError::params(format!(
            "chdir {dir} must be an absolute path for a Unix-aware remote node"
        )));
    }
    let path = ctx
        .controller
        .find_file(source)
        .map_err(ModuleError::params)?;
    let content = std::fs::read(&path).map_err(|e| {
        ModuleError::params(format!(
            "module `script`: cannot read `{}`: {e}",
            path.display()
        ))
    })?;
    util::remote(Script {
        content,
        args: rest.to_vec(),
        executable: p.executable,
        chdir: p.chdir,
        creates: p.creates,
        removes: p.removes,
    })
}

impl Action for Script {
    fn probe(&self) -> Option<Request> {
        if self.creates.is_none() && self.removes.is_none() {
            return None;
        }
        let mut s = String::new();
        for (key, path) in [("creates", &self.creates), ("removes", &self.removes)] {
            if let Some(path) = path {
                s.push_str(&format!(
                    "if [ -e {p} ] || [ -L {p} ]; then echo {key}=1; else echo {key}=0; fi\n",
                    p = quote(path)
                ));
            }
        }
        Some(Request::new(s))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let Some(probe) = probe else {
            let mut plan = Plan::unpredictable(());
            plan.result = ModuleResult::ok().with_msg("Check mode is not supported for this task.");
            plan.result.skipped = true;
            return Ok(plan);
        };
        let text = probe.stdout_text();
        let skip = |msg: String| {
            let mut r = ModuleResult::ok().with_msg(msg);
            r.skipped = true;
            Ok(Plan::satisfied(r))
        };
        if let Some(c) = &self.creates
            && line_value(&text, "creates") == Some("1")
        {
            return skip(format!("{c} exists, matching creates option"));
        }
        if let Some(r) = &self.removes
            && line_value(&text, "removes") == Some("0")
        {
            return skip(format!("{r} does not exist, matching removes option"));
        }
        Ok(Plan::change(ModuleResult::ok(), ()))
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        let mut s = format!(
            "t=$(mktemp \"${{TMPDIR:-/tmp}}/drover-script.XXXXXXXX\") || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\n{}chmod u+x -- \"$t\"\n",
            crate::files::receive(self.content.len() as u64)
        );
        if let Some(dir) = &self.chdir {
            s.push_str(&format!("cd -- {} || exit 1\n", quote(dir)));
        }
        let args = if self.args.is_empty() {
            String::new()
        } else {
            format!(" {}", join(&self.args))
        };
        match &self.executable {
            Some(exe) => s.push_str(&format!("{} \"$t\"{args} </dev/null\n", quote(exe))),
            None => s.push_str(&format!("\"$t\"{args} </dev/null\n")),
        }
        vec![Request::new(s).with_stdin(self.content.clone())]
    }

    fn finish(&self, _plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("script", outputs)?;
        let mut r = ModuleResult {
            changed: true,
            rc: Some(out.status),
            stdout: Some(out.stdout_text()),
            stderr: Some(out.stderr_text()),
            ..ModuleResult::default()
        };
        if out.status != 0 {
            r.failed = true;
            r.msg = Some("non-zero return code".into());
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{Files, out, prepare_with, run_local};
    use crate::{Outcome, Prepared};
    use serde_json::json;

    fn setup() -> (tempfile::TempDir, Files) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hello.sh"),
            "#!/bin/sh\necho \"hello $1|$2\"\npwd\n[ \"$1\" = fail ] && exit 3\nexit 0\n",
        )
        .unwrap();
        let files = Files(dir.path().to_path_buf());
        (dir, files)
    }

    #[tokio::test]
    async fn uploads_and_runs_in_a_real_shell() {
        let (dir, files) = setup();
        let Ok(Prepared::Remote(a)) = prepare_with(
            "script",
            json!({"_raw_params": "hello.sh 'a b' c", "chdir": "/"}),
            &files,
        ) else {
            panic!("remote expected")
        };
        assert!(a.probe().is_none());
        let plan = a.plan(None).unwrap();
        assert_eq!(plan.outcome, Outcome::Unpredictable);
        assert!(plan.result.skipped);
        let reqs = a.apply(&plan);
        let o = run_local(&reqs[0]).await;
        let r = a.finish(&plan, &[o]).unwrap();
        assert!(r.changed && !r.failed, "{:?}", r.stderr);
        assert_eq!(r.stdout.as_deref(), Some("hello a b|c\n/\n"));
        let Ok(Prepared::Remote(a)) = prepare_with(
            "script",
            json!({"cmd": "hello.sh fail", "executable": "sh"}),
            &files,
        ) else {
            panic!("remote expected")
        };
        let o = run_local(&a.apply(&plan)[0]).await;
        let r = a.finish(&plan, &[o]).unwrap();
        assert!(r.failed);
        assert_eq!(r.rc, Some(3));
        assert_eq!(r.msg.as_deref(), Some("non-zero return code"));
        drop(dir);
    }

    #[test]
    fn creates_skips_and_missing_script_fails() {
        let (_dir, files) = setup();
        let Ok(Prepared::Remote(a)) = prepare_with(
            "script",
            json!({"_raw_params": "hello.sh", "creates": "/etc/done"}),
            &files,
        ) else {
            panic!("remote expected")
        };
        let plan = a.plan(Some(&out(0, "creates=1\n", ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert!(plan.result.skipped);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("/etc/done exists, matching creates option")
        );
        let plan = a.plan(Some(&out(0, "creates=0\n", ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let err = match prepare_with("script", json!({"_raw_params": "nope.sh"}), &files) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("error expected"),
        };
        assert!(err.contains("could not find `nope.sh`"), "{err}");
        let err = match prepare_with(
            "script",
            json!({"_raw_params": "hello.sh", "chdir": "rel"}),
            &files,
        ) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("error expected"),
        };
        assert!(err.contains("must be an absolute path"), "{err}");
    }
}
