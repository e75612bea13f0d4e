//! Compatibility tests: drover's `lineinfile` and `blockinfile` against Ansible's own modules
//! (ansible-core 2.18, run in one Python process) on the same files, comparing the resulting
//! bytes, `changed` and `msg`.
//!
//! Needs ansible-core: `DROVER_ANSIBLE_BIN_DIR` (default `/work/ansible-venv/bin`, or the one
//! `scripts/test` installs under `target/ansible-venv/bin`). With `CI=true` a missing ansible-core
//! fails the test; elsewhere the test says loudly that it was skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::common::testkit::{action, run};

fn ansible_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        std::env::var_os("DROVER_ANSIBLE_BIN_DIR").map(PathBuf::from),
        Some(root.join("target/ansible-venv/bin")),
        Some(PathBuf::from("/work/ansible-venv/bin")),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.join("python"))
    .find(|p| p.exists())
}

const DRIVER: &str = r#"
import contextlib, io, json, sys
from ansible.module_utils import basic
from ansible.modules import blockinfile, file, lineinfile, stat
cases = json.load(open(sys.argv[1]))
results = []
for case in cases:
    module = {'lineinfile': lineinfile, 'blockinfile': blockinfile, 'file': file, 'stat': stat}[case['module']]
    args = dict(case['args'])
    args['_ansible_remote_tmp'] = sys.argv[2]
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    except Exception as e:  # the file module raises AnsibleModuleError(results=...)
        if getattr(e, 'results', None) is None:
            raise
        results.append(dict(e.results, failed=True))
        continue
    results.append(json.loads(out.getvalue()))
print(json.dumps(results))
"#;

/// (module, args without `path`, the file's content before — `None` for a missing file).
fn cases() -> Vec<(&'static str, Value, Option<&'static str>)> {
    let conf = "# comment\nport=1\nbind=0.0.0.0\nport=2\n[section]\nkey=value\n";
    let block = "a\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nz\n";
    vec![
        ("lineinfile", json!({"line": "new=1"}), Some(conf)),
        ("lineinfile", json!({"line": "bind=0.0.0.0"}), Some(conf)),
        (
            "lineinfile",
            json!({"regexp": "^port=", "line": "port=9"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"regexp": "^port=", "line": "port=9", "firstmatch": true}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"regexp": "^nope=", "line": "nope=1", "insertafter": "^\\[section\\]"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "insertafter": "^port=", "firstmatch": true}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "insertafter": "^port="}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "insertbefore": "^port="}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "insertbefore": "^port=", "firstmatch": true}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "key=value", "insertbefore": "^\\[section\\]"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "insertbefore": "BOF"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "insertafter": "^key="}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"regexp": "^(bind)=(.*)$", "line": "\\1 = \\2 # was \\g<2>", "backrefs": true}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"regexp": "^missing=(.*)$", "line": "m=\\1", "backrefs": true}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"search_string": "0.0.0.0", "line": "bind=127.0.0.1"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "last"}),
            Some("no newline at end"),
        ),
        (
            "lineinfile",
            json!({"line": "no newline at end"}),
            Some("no newline at end"),
        ),
        (
            "lineinfile",
            json!({"regexp": "^b", "line": "B"}),
            Some("a\r\nb\r\nc\r\n"),
        ),
        ("lineinfile", json!({"line": "first", "create": true}), None),
        (
            "lineinfile",
            json!({"line": "first", "create": true, "mode": "0600"}),
            None,
        ),
        (
            "lineinfile",
            json!({"line": "first", "create": true, "mode": "0644"}),
            None,
        ),
        (
            "lineinfile",
            json!({"line": "x=1", "mode": "0600"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "key=value", "mode": "0600"}),
            Some(conf),
        ),
        (
            "blockinfile",
            json!({"block": "x", "create": true, "mode": "0640"}),
            None,
        ),
        (
            "lineinfile",
            json!({"regexp": "^port=", "state": "absent"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"search_string": "=", "state": "absent"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "key=value", "state": "absent"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"line": "absent", "state": "absent"}),
            Some(conf),
        ),
        (
            "lineinfile",
            json!({"regexp": "(?i)^PORT\\s*=\\s*(?P<n>\\d+)", "line": "port=3"}),
            Some(conf),
        ),
        ("blockinfile", json!({"block": "x\ny"}), Some("a\nz\n")),
        ("blockinfile", json!({"block": "new"}), Some(block)),
        ("blockinfile", json!({"block": "old"}), Some(block)),
        ("blockinfile", json!({"state": "absent"}), Some(block)),
        ("blockinfile", json!({"block": ""}), Some(block)),
        (
            "blockinfile",
            json!({"block": "x", "insertbefore": "BOF"}),
            Some("a\nz\n"),
        ),
        (
            "blockinfile",
            json!({"block": "x", "insertafter": "^a"}),
            Some("a\nb\na2\nz\n"),
        ),
        (
            "blockinfile",
            json!({"block": "x", "insertbefore": "^z"}),
            Some("a\nz\nz\n"),
        ),
        (
            "blockinfile",
            json!({"block": "x", "insertafter": "^nomatch"}),
            Some("a\nz\n"),
        ),
        (
            "blockinfile",
            json!({"block": "x", "prepend_newline": true, "append_newline": true, "insertafter": "^a"}),
            Some("a\nz\n"),
        ),
        (
            "blockinfile",
            json!({"block": "x", "prepend_newline": true, "append_newline": true}),
            Some("a\n\n"),
        ),
        (
            "blockinfile",
            json!({"block": "x", "marker": "<!-- {mark} -->", "marker_begin": "B", "marker_end": "E"}),
            Some("a"),
        ),
        (
            "blockinfile",
            json!({"block": "x\n"}),
            Some("# END ANSIBLE MANAGED BLOCK\nmid\n# BEGIN ANSIBLE MANAGED BLOCK\n"),
        ),
        ("blockinfile", json!({"block": "x", "create": true}), None),
        ("blockinfile", json!({"block": "", "create": true}), None),
        ("blockinfile", json!({"block": "x"}), Some("a\r\nb\rc")),
    ]
}

fn require_ansible() -> Option<PathBuf> {
    match ansible_python() {
        Some(p) => Some(p),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("ansible-core is required for this compatibility test in CI; run scripts/test")
        }
        None => {
            eprintln!("SKIPPED: ansible-core not found (set DROVER_ANSIBLE_BIN_DIR)");
            None
        }
    }
}

/// Runs Ansible's modules on `cases` (`{"module", "args"}`) in one Python process.
fn run_ansible(python: &Path, dir: &Path, cases: &[Value]) -> Vec<Value> {
    let tmp = dir.join("ansible-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let cases_file = dir.join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(cases).unwrap()).unwrap();
    let output = Command::new(python)
        .arg("-c")
        .arg(DRIVER)
        .arg(&cases_file)
        .arg(&tmp)
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn lineinfile_and_blockinfile_match_ansible() {
    let Some(python) = require_ansible() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let mut ansible_cases = Vec::new();
    for (i, (module, args, before)) in cases.iter().enumerate() {
        for side in ["ansible", "drover", "ansible-check", "drover-check"] {
            let sub = dir.path().join(side);
            std::fs::create_dir_all(&sub).unwrap();
            if let Some(text) = before {
                std::fs::write(sub.join(i.to_string()), text).unwrap();
            }
        }
        let mut args = args.clone();
        args["path"] = json!(dir.path().join("ansible").join(i.to_string()));
        ansible_cases.push(json!({"module": module, "args": args}));
    }
    for (i, (module, args, _)) in cases.iter().enumerate() {
        let mut args = args.clone();
        args["path"] = json!(dir.path().join("ansible-check").join(i.to_string()));
        args["_ansible_check_mode"] = json!(true);
        args["_ansible_diff"] = json!(true);
        ansible_cases.push(json!({"module": module, "args": args}));
    }
    let ansible = run_ansible(&python, dir.path(), &ansible_cases);
    for (i, (module, args, _)) in cases.iter().enumerate() {
        let want = &ansible[i];
        let mut args = args.clone();
        let path = dir.path().join("drover").join(i.to_string());
        args["path"] = json!(path);
        let got = run(action(module, args.clone(), false).as_ref(), false)
            .await
            .unwrap()
            .result;
        let ansible_path = dir.path().join("ansible").join(i.to_string());
        assert_eq!(
            std::fs::read_to_string(&path).ok(),
            std::fs::read_to_string(&ansible_path).ok(),
            "case {i} {module} {args}: file bytes differ (ansible: {want})"
        );
        assert_eq!(
            json!(got.changed),
            want["changed"],
            "case {i} {module} {args}: changed (ansible: {want})"
        );
        let want_msg = want["msg"].as_str().unwrap_or("");
        assert_eq!(
            got.msg.as_deref().unwrap_or(""),
            want_msg,
            "case {i} {module} {args}: msg"
        );

        // check mode with --diff: same prediction, same diff text, nothing written
        let want = &ansible[cases.len() + i];
        let path = dir.path().join("drover-check").join(i.to_string());
        args["path"] = json!(path);
        let check = run(action(module, args.clone(), true).as_ref(), true)
            .await
            .unwrap();
        assert_eq!(
            json!(check.result.changed),
            want["changed"],
            "check case {i} {module} {args}: changed (ansible: {want})"
        );
        assert_eq!(
            check.result.msg.as_deref().unwrap_or(""),
            want["msg"].as_str().unwrap_or(""),
            "check case {i} {module} {args}: msg"
        );
        let ansible_path = dir.path().join("ansible-check").join(i.to_string());
        assert_eq!(
            std::fs::read_to_string(&path).ok(),
            std::fs::read_to_string(&ansible_path).ok(),
            "check case {i} {module} {args}: check mode wrote"
        );
        let want_diff = match &want["diff"] {
            Value::Array(list) => list[0].clone(),
            other => other.clone(),
        };
        if check.result.changed && want_diff["before"] != want_diff["after"] {
            let got = &check.plan_diffs[0];
            assert_eq!(
                (json!(got.before), json!(got.after)),
                (want_diff["before"].clone(), want_diff["after"].clone()),
                "check case {i} {module} {args}: diff"
            );
        }
    }
}

/// Every path under `root`: (relative path, kind, mode, link target), sorted.
fn tree(root: &Path) -> Vec<(String, String, u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (kind, target) = if meta.file_type().is_symlink() {
                (
                    "link",
                    std::fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                )
            } else if meta.is_dir() {
                stack.push(path.clone());
                ("directory", String::new())
            } else {
                ("file", String::new())
            };
            out.push((
                rel,
                kind.to_string(),
                meta.permissions().mode() & 0o7777,
                target,
            ));
        }
    }
    out.sort();
    out
}

/// `file` steps run in order on two identical trees: same `changed`, same failure messages,
/// same resulting tree (types, modes, link targets).
#[tokio::test]
async fn file_matches_ansible() {
    let Some(python) = require_ansible() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let steps = vec![
        json!({"path": "{base}/a/b/c", "state": "directory", "mode": "0750"}),
        json!({"path": "{base}/a/b/c", "state": "directory", "mode": "0750"}),
        json!({"path": "{base}/a", "state": "directory", "mode": "0700", "recurse": true}),
        json!({"path": "{base}/a", "state": "directory", "mode": "0700", "recurse": true}),
        json!({"path": "{base}/a/f", "state": "file"}),
        json!({"path": "{base}/a/f", "state": "touch", "mode": "0600", "modification_time": "preserve", "access_time": "preserve"}),
        json!({"path": "{base}/a/f", "state": "touch", "mode": "0600", "modification_time": "preserve", "access_time": "preserve"}),
        json!({"path": "{base}/a/f", "mode": "0644"}),
        json!({"path": "{base}/a/f", "state": "directory"}),
        json!({"path": "{base}/l", "state": "link", "src": "a/f"}),
        json!({"path": "{base}/l", "state": "link", "src": "a/f"}),
        json!({"path": "{base}/l", "state": "link", "src": "a/missing"}),
        json!({"path": "{base}/l", "state": "link", "src": "a/missing", "force": true}),
        json!({"path": "{base}/l", "state": "link", "src": "a/b"}),
        json!({"path": "{base}/l2", "state": "link", "src": "{base}/a"}),
        json!({"path": "{base}/l2", "state": "directory", "mode": "0755"}),
        json!({"path": "{base}/a/f", "state": "link", "src": "/etc"}),
        json!({"path": "{base}/a/b", "state": "link", "src": "/etc", "force": true}),
        json!({"path": "{base}/a/b/c", "state": "absent"}),
        json!({"path": "{base}/a/b", "state": "link", "src": "/etc", "force": true}),
        json!({"path": "{base}/a", "state": "absent"}),
        json!({"path": "{base}/a", "state": "absent"}),
        json!({"path": "{base}/l", "state": "absent"}),
    ];
    let with_base = |step: &Value, side: &str| -> Value {
        let base = dir.path().join(side);
        serde_json::from_str(&step.to_string().replace("{base}", base.to_str().unwrap())).unwrap()
    };
    for side in ["ansible", "drover7"] {
        std::fs::create_dir_all(dir.path().join(side)).unwrap();
    }
    // each step first in check mode, then for real
    let mut ansible_cases = Vec::new();
    for step in &steps {
        let mut check = with_base(step, "ansible");
        check["_ansible_check_mode"] = json!(true);
        ansible_cases.push(json!({"module": "file", "args": check}));
        ansible_cases.push(json!({"module": "file", "args": with_base(step, "ansible")}));
    }
    let ansible = run_ansible(&python, dir.path(), &ansible_cases);
    for (i, step) in steps.iter().enumerate() {
        let args = with_base(step, "drover7");
        let want = &ansible[2 * i];
        let check = match run(action("file", args.clone(), false).as_ref(), true).await {
            Ok(run) => run.result,
            Err(e) => panic!("check step {i} {step}: {e}"),
        };
        assert_eq!(
            (check.changed, check.failed),
            (
                want["changed"].as_bool().unwrap_or(false),
                want["failed"].as_bool().unwrap_or(false)
            ),
            "check step {i} {step} (ansible: {want})"
        );
        let want = &ansible[2 * i + 1];
        let got = match run(action("file", args.clone(), false).as_ref(), false).await {
            Ok(run) => run.result,
            Err(e) => panic!("step {i} {step}: {e}"),
        };
        assert_eq!(
            json!(got.failed),
            json!(want["failed"].as_bool().unwrap_or(false)),
            "step {i} {step}: failed (ansible: {want})"
        );
        if got.failed {
            let msg = got
                .msg
                .clone()
                .unwrap_or_default()
                .replace("/drover7/", "/ansible/");
            assert_eq!(json!(msg), want["msg"], "step {i} {step}: msg");
        } else {
            assert_eq!(
                json!(got.changed),
                want["changed"],
                "step {i} {step}: changed (ansible: {want})"
            );
            let got = got.to_registered();
            for key in [
                "path", "dest", "src", "uid", "gid", "owner", "group", "mode", "state", "size",
            ] {
                let got = json!(
                    got.get(key)
                        .map(|v| v.to_string().replace("drover7", "ansible"))
                );
                let want = json!(want.get(key).map(|v| v.to_string()));
                assert_eq!(got, want, "step {i} {step}: `{key}`");
            }
        }
    }
    assert_eq!(
        tree(&dir.path().join("drover7")),
        tree(&dir.path().join("ansible"))
            .into_iter()
            .map(|(p, k, m, t)| (p, k, m, t.replace("/ansible", "/drover7")))
            .collect::<Vec<_>>()
    );
}

/// `stat` on the same paths: every field Ansible reports, equal (times within a microsecond;
/// `atime` is skipped since reading for checksums may move it).
#[tokio::test]
async fn stat_matches_ansible() {
    let Some(python) = require_ansible() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("t");
    std::fs::create_dir_all(base.join("d")).unwrap();
    std::fs::write(base.join("f"), "hello\n").unwrap();
    std::os::unix::fs::symlink(base.join("f"), base.join("l")).unwrap();
    std::os::unix::fs::symlink("nope", base.join("dangling")).unwrap();
    let p = |n: &str| base.join(n).to_str().unwrap().to_string();
    let cases = vec![
        json!({"path": p("f")}),
        json!({"path": p("f"), "checksum_algorithm": "sha256", "get_mime": false}),
        json!({"path": p("d")}),
        json!({"path": p("l")}),
        json!({"path": p("l"), "follow": true}),
        json!({"path": p("dangling")}),
        json!({"path": p("dangling"), "follow": true}),
        json!({"path": p("missing")}),
        json!({"path": "/dev/null"}),
    ];
    let ansible_cases: Vec<Value> = cases
        .iter()
        .map(|a| json!({"module": "stat", "args": a}))
        .collect();
    let ansible = run_ansible(&python, dir.path(), &ansible_cases);
    for (i, args) in cases.iter().enumerate() {
        let want = &ansible[i]["stat"];
        let got = run(action("stat", args.clone(), false).as_ref(), false)
            .await
            .unwrap()
            .result;
        let got = &got.extra["stat"];
        let (want, got) = (want.as_object().unwrap(), got.as_object().unwrap());
        let mut want_keys: Vec<&String> = want.keys().collect();
        let mut got_keys: Vec<&String> = got.keys().collect();
        want_keys.sort();
        got_keys.sort();
        assert_eq!(got_keys, want_keys, "case {i} {args}: fields");
        for (key, value) in want {
            match key.as_str() {
                "atime" => {}
                "mtime" | "ctime" => {
                    let (a, b) = (value.as_f64().unwrap(), got[key].as_f64().unwrap());
                    assert!((a - b).abs() < 1e-6, "case {i} {args}: {key} {a} vs {b}");
                }
                _ => assert_eq!(&got[key], value, "case {i} {args}: {key}"),
            }
        }
    }
}
