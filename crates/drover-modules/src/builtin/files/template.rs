//! `template`: render a controller template (`src`, found in the role's `templates/` or the
//! playbook directory) with the task's variables, then put it at `dest` exactly like `copy`
//! (SHA-256 compared first, atomic write, `backup`, `force`, `validate`, owner/group/mode).
//!
//! Rendering happens on the controller with Ansible's defaults (`trim_blocks: true`,
//! `lstrip_blocks: false`, `{{ }}`/`{% %}`/`{# #}`, `\n`, UTF-8); other values of those
//! parameters are refused by name, as are `follow: true` and the SELinux/attribute arguments.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::common::{attrs, check_validate_words, node_path, refuse};
use super::copy::Copy;
use crate::files::WriteOptions;
use crate::params::{Bool, Mode, parse};
use crate::{ModuleError, Prepared, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    src: String,
    dest: String,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<Mode>,
    backup: Option<Bool>,
    force: Option<Bool>,
    validate: Option<String>,
    unsafe_writes: Option<Bool>,
    follow: Option<Bool>,
    newline_sequence: Option<String>,
    trim_blocks: Option<Bool>,
    lstrip_blocks: Option<Bool>,
    variable_start_string: Option<String>,
    variable_end_string: Option<String>,
    block_start_string: Option<String>,
    block_end_string: Option<String>,
    comment_start_string: Option<String>,
    comment_end_string: Option<String>,
    output_encoding: Option<String>,
}

/// Prepares a `template` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    refuse("template", args, &[])?;
    let p: Params = parse("template", args)?;
    node_path("template", "dest", &p.dest)?;
    only_default("newline_sequence", &p.newline_sequence, &["\n", "\\n"])?;
    only_default("variable_start_string", &p.variable_start_string, &["{{"])?;
    only_default("variable_end_string", &p.variable_end_string, &["}}"])?;
    only_default("block_start_string", &p.block_start_string, &["{%"])?;
    only_default("block_end_string", &p.block_end_string, &["%}"])?;
    only_default("comment_start_string", &p.comment_start_string, &["{#"])?;
    only_default("comment_end_string", &p.comment_end_string, &["#}"])?;
    let encoding = p.output_encoding.as_deref().map(str::to_lowercase);
    only_default("output_encoding", &encoding, &["utf-8", "utf8", ""])?;
    if p.trim_blocks.is_some_and(|b| !b.0) {
        return Err(not_default("trim_blocks", "false"));
    }
    if p.lstrip_blocks.is_some_and(|b| b.0) {
        return Err(not_default("lstrip_blocks", "true"));
    }
    if p.follow.is_some_and(|b| b.0) {
        return Err(not_default("follow", "true"));
    }
    // a `validate` without `%s` fails only when the file would be written (see Copy)
    check_validate_words("template", &p.validate)?;
    let path = ctx
        .controller
        .find_template(&p.src)
        .map_err(ModuleError::params)?;
    let rendered = ctx
        .controller
        .render_template(&path, &p.src, &p.dest)
        .map_err(ModuleError::params)?;
    // Ansible writes the rendered text to a temp file named like the source and copies it, so
    // a `dest` ending in `/` (or an existing directory) gets the source's base name (`.j2`
    // included).
    let base = p
        .src
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(&p.src)
        .to_string();
    let (dest, into_dir_name) = if p.dest.ends_with('/') {
        (format!("{}{base}", p.dest), None)
    } else {
        (p.dest, Some(base))
    };
    Ok(Prepared::Remote(Box::new(Copy::new(
        dest,
        into_dir_name,
        crate::payload::Payload::bytes(rendered.into_bytes()),
        WriteOptions {
            attrs: attrs(p.owner, p.group, p.mode),
            backup: p.backup.is_some_and(|b| b.0),
            validate: p.validate,
        },
        p.force.is_none_or(|b| b.0),
        ctx.diff,
        p.unsafe_writes.is_some_and(|b| b.0),
    ))))
}

fn only_default(name: &str, value: &Option<String>, defaults: &[&str]) -> Result<(), ModuleError> {
    match value {
        Some(v) if !defaults.contains(&v.as_str()) => Err(not_default(name, &format!("{v:?}"))),
        _ => Ok(()),
    }
}

fn not_default(name: &str, value: &str) -> ModuleError {
    ModuleError::params(format!(
        "module `template`: `{name}: {value}` is not implemented in drover (only Ansible's default is)"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::common::testkit::{out, prepare_in, run};
    use crate::files::sha256_hex;
    use crate::{Action, Outcome, Prepared};
    use serde_json::{Value, json};
    use std::path::Path;

    fn template(args: Value, diff: bool, dir: &Path) -> Box<dyn Action> {
        match prepare_in("template", args, diff, dir).unwrap() {
            Prepared::Remote(a) => a,
            Prepared::Local(_) => panic!("remote expected"),
        }
    }

    #[test]
    fn renders_and_compares_hashes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.conf.j2"), "name={{ name }}\n").unwrap();
        let a = template(
            json!({"src": "app.conf.j2", "dest": "/etc/app/", "mode": "0640"}),
            true,
            dir.path(),
        );
        let sha = sha256_hex(b"name=drover\n");
        let plan = a
            .plan(Some(&out(&format!(
                "state=file\nmode=640\nowner=root\ngroup=root\nsize=12\nsha256={sha}\n"
            ))))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(plan.result.extra["dest"], json!("/etc/app/app.conf.j2"));
        let plan = a
            .plan(Some(&out(
                "state=file\nmode=640\nowner=root\ngroup=root\nsize=9\nsha256=00\n--drover-content--\nname=old\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(
            plan.diffs[0]
                .unified()
                .contains("-name=old\n+name=drover\n")
        );
        let apply = a.apply(&plan);
        assert_eq!(apply[0].stdin_bytes(), Some(b"name=drover\n".as_slice()));
    }

    #[test]
    fn refuses_non_default_rendering_options() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.j2"), "x").unwrap();
        for (key, value) in [
            ("newline_sequence", json!("\r\n")),
            ("trim_blocks", json!(false)),
            ("lstrip_blocks", json!(true)),
            ("output_encoding", json!("latin-1")),
            ("variable_start_string", json!("[[")),
            ("follow", json!(true)),
            ("seuser", json!("system_u")),
        ] {
            let mut args = json!({"src": "t.j2", "dest": "/x"});
            args[key] = value;
            let e = prepare_in("template", args, false, dir.path())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(&format!("`{key}")), "{key}: {e}");
        }
        // defaults written out are fine
        let args = json!({"src": "t.j2", "dest": "/x", "trim_blocks": true, "newline_sequence": "\n", "output_encoding": "utf-8"});
        assert!(prepare_in("template", args, false, dir.path()).is_ok());
        let e = prepare_in(
            "template",
            json!({"src": "nope.j2", "dest": "/x"}),
            false,
            dir.path(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("could not find `nope.j2`"), "{e}");
    }

    #[tokio::test]
    async fn real_run_then_idempotent_and_check_predicts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.j2"), "hello {{ name }}\n").unwrap();
        let dest = dir.path().join("out.conf");
        let args = json!({"src": "t.j2", "dest": dest.to_str().unwrap(), "mode": "0600"});
        let a = template(args.clone(), true, dir.path());
        let check = run(a.as_ref(), true).await.unwrap();
        assert_eq!(check.outcome, Outcome::Change);
        assert!(!dest.exists());
        let first = run(a.as_ref(), false).await.unwrap();
        assert!(
            first.result.changed && !first.result.failed,
            "{:?}",
            first.result
        );
        assert_eq!(first.result, check.result);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello drover\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let second = run(template(args, true, dir.path()).as_ref(), false)
            .await
            .unwrap();
        assert_eq!(second.outcome, Outcome::Satisfied);
        assert_eq!(second.round_trips, 1);

        // an existing directory as `dest` receives the file under the source's name
        let into = dir.path().join("etc");
        std::fs::create_dir(&into).unwrap();
        let args = json!({"src": "t.j2", "dest": into.to_str().unwrap()});
        let first = run(template(args.clone(), false, dir.path()).as_ref(), false)
            .await
            .unwrap();
        assert!(
            first.result.changed && !first.result.failed,
            "{:?}",
            first.result
        );
        assert_eq!(
            std::fs::read_to_string(into.join("t.j2")).unwrap(),
            "hello drover\n"
        );
        assert_eq!(
            first.result.extra["dest"],
            json!(into.join("t.j2").to_str().unwrap())
        );
        let second = run(template(args, false, dir.path()).as_ref(), false)
            .await
            .unwrap();
        assert_eq!(second.outcome, Outcome::Satisfied);
    }

    #[tokio::test]
    async fn validate_without_percent_s_fails_only_when_writing() {
        // ansible-playbook 2.18: the template module fails with "validate must contain %s"
        // when it would write (the file untouched), and is ok when the file is already right
        use super::super::common::testkit::run;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.j2"), "new\n").unwrap();
        let dest = dir.path().join("f");
        std::fs::write(&dest, "old\n").unwrap();
        let args = json!({"src": "t.j2", "dest": dest.to_str().unwrap(), "validate": "true"});
        let a = template(args, false, dir.path());
        let r = run(a.as_ref(), false).await.unwrap();
        assert!(r.result.failed, "{:?}", r.result);
        assert_eq!(
            r.result.msg.as_deref(),
            Some("validate must contain %s: true")
        );
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
        std::fs::write(&dest, "new\n").unwrap();
        let same = run(a.as_ref(), false).await.unwrap();
        assert!(
            !same.result.failed && !same.result.changed,
            "{:?}",
            same.result
        );
    }
}
