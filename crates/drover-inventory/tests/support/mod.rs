//! Shared helpers for the compatibility tests: finding ansible-core, running
//! `ansible-inventory` and the Python oracle, reading and refreshing expected outputs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The crate's test fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// ansible-core's bin dir: `$DROVER_ANSIBLE_BIN_DIR`, `/work/ansible-venv/bin`, or
/// `<repo>/target/ansible-venv/bin`, whichever holds `ansible-inventory`.
pub fn ansible_bin_dir() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("DROVER_ANSIBLE_BIN_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/ansible-venv/bin")),
        Some(repo.join("target/ansible-venv/bin")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("ansible-inventory").is_file())
}

/// The bin dir, or `None` after printing a loud skip notice; panics when `CI=true`.
pub fn require_ansible(test: &str) -> Option<PathBuf> {
    match ansible_bin_dir() {
        Some(d) => Some(d),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{test}: ansible-core not found (set DROVER_ANSIBLE_BIN_DIR); required when CI=true"
            )
        }
        None => {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 SKIPPED: ansible-core not found ({test}); set DROVER_ANSIBLE_BIN_DIR\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

/// Runs `ansible-inventory ARGS` in an empty directory (so no stray group_vars are read)
/// and returns stdout.
pub fn ansible_inventory(bin: &Path, args: &[&str]) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(bin.join("ansible-inventory"))
        .args(args)
        .current_dir(cwd.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_CONFIG", cwd.path().join("none.cfg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ansible-inventory {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs tests/support/oracle.py with ansible-core's Python (see that file for the format).
pub fn oracle(bin: &Path, mut request: Value) -> Value {
    let cwd = tempfile::tempdir().unwrap();
    request["empty_dir"] = Value::String(cwd.path().display().to_string());
    python_script(bin, "oracle.py", cwd.path(), &request)
}

/// Runs tests/support/`script` with ansible-core's Python in `cwd`, `input` as JSON on stdin,
/// and reads its stdout as JSON; panics with its stderr when it fails.
pub fn python_script(bin: &Path, script: &str, cwd: &Path, input: &Value) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script);
    let mut child = Command::new(bin.join("python"))
        .arg(&path)
        .current_dir(cwd)
        .env("ANSIBLE_CONFIG", cwd.join("none.cfg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Reads a committed expected JSON file.
pub fn expected(name: &str) -> Value {
    let path = fixtures().join("expected").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// With `DROVER_UPDATE_EXPECTED=1`, writes `value` as the committed expected file; otherwise
/// checks the committed file still equals what ansible-core computes now.
pub fn check_or_update_expected(name: &str, live: &Value) {
    let path = fixtures().join("expected").join(name);
    if std::env::var("DROVER_UPDATE_EXPECTED").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(live).unwrap() + "\n").unwrap();
        return;
    }
    assert_eq!(
        &expected(name),
        live,
        "{} is stale: regenerate it (see tests/fixtures/expected/README.md)",
        path.display()
    );
}

/// First difference between two JSON values, as a path (for readable failures).
pub fn first_diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_diff(p, q, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{path}.{k}: drover={p:?} ansible={q:?}")),
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some(format!("{path}: drover={a} ansible={b}")),
    }
}

/// Asserts JSON equality with a readable first difference.
pub fn assert_json_eq(drover: &Value, ansible: &Value, what: &str) {
    if let Some(d) = first_diff(drover, ansible, "") {
        panic!("{what}: drover differs from ansible at {d}");
    }
}

/// What drover computes, in the shape of the expected files:
/// `{"list", "graph", "oracle": {"hostvars", "group_names", "short", "groups", "selections"}}`.
pub fn drover_view(
    inv: &drover_inventory::Inventory,
    selections: &[(String, Option<String>)],
) -> Value {
    use serde_json::json;
    let mut hostvars = serde_json::Map::new();
    let mut group_names = serde_json::Map::new();
    let mut short = serde_json::Map::new();
    let mut files = serde_json::Map::new();
    for host in inv.hosts() {
        let mut vars = inv.host_vars(host).unwrap();
        files.insert(
            host.to_string(),
            json!([vars["inventory_file"], vars["inventory_dir"]]),
        );
        vars.retain(|k, _| !drover_inventory::INTERNAL_VARS.contains(&k.as_str()));
        hostvars.insert(host.to_string(), Value::Object(vars));
        let magic = inv.magic_vars(host);
        group_names.insert(host.to_string(), magic["group_names"].clone());
        short.insert(host.to_string(), magic["inventory_hostname_short"].clone());
    }
    let mut results = Vec::new();
    for (pattern, limit) in selections {
        let mut inv = inv.clone();
        let r = inv
            .set_limit(limit.as_deref())
            .and_then(|()| inv.select(pattern));
        results.push(match r {
            Ok(sel) => json!({
                "hosts": sel.hosts,
                "warnings": sel.warnings.iter().map(|w| w.message.clone()).collect::<Vec<_>>(),
            }),
            Err(e) => json!({"error": e.message.clone()}),
        });
    }
    json!({
        "list": inv.list_json().unwrap(),
        "graph": inv.graph("all").unwrap(),
        "oracle": {
            "hostvars": hostvars,
            "group_names": group_names,
            "short": short,
            "files": files,
            "groups": inv.groups_map(),
            "selections": results,
        }
    })
}

/// Compares drover's view with ansible's (live or committed). Errors compare by presence
/// only (messages differ on purpose); warnings compare to Ansible's pattern warnings.
pub fn assert_same_view(drover: &Value, ansible: &Value, what: &str) {
    assert_json_eq(
        &drover["list"],
        &ansible["list"],
        &format!("{what}: --list"),
    );
    assert_eq!(drover["graph"], ansible["graph"], "{what}: --graph");
    for key in ["hostvars", "group_names", "short", "files", "groups"] {
        if ansible["oracle"].get(key).is_none() {
            continue; // committed files keep hostvars once, in `list._meta`
        }
        assert_json_eq(
            &drover["oracle"][key],
            &ansible["oracle"][key],
            &format!("{what}: {key}"),
        );
    }
    let ours = drover["oracle"]["selections"].as_array().unwrap();
    let theirs = ansible["oracle"]["selections"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let case = &ansible["selections_input"][i];
        if t.get("error").is_some() {
            assert!(
                o.get("error").is_some(),
                "{what}: selection {case}: ansible fails ({}) but drover gave {o}",
                t["error"]
            );
            continue;
        }
        assert_eq!(o["hosts"], t["hosts"], "{what}: selection {case}");
        let pattern_warnings: Vec<&Value> = t["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| {
                let w = w.as_str().unwrap_or("");
                w.starts_with("Could not match") || w.starts_with("Use [x:y]")
            })
            .collect();
        let our_warnings: Vec<&Value> = o["warnings"].as_array().unwrap().iter().collect();
        assert_eq!(
            our_warnings, pattern_warnings,
            "{what}: warnings of selection {case}"
        );
    }
}

/// What ansible-core computes for the same sources: `ansible-inventory --list` and `--graph`
/// plus the oracle. Also checks drover's `--list` text is byte-identical to Ansible's.
pub fn ansible_view(
    bin: &Path,
    sources: &[PathBuf],
    playbook_dir: Option<&Path>,
    selections: &[(String, Option<String>)],
) -> Value {
    let mut args: Vec<String> = Vec::new();
    for s in sources {
        args.push("-i".into());
        args.push(s.display().to_string());
    }
    if let Some(p) = playbook_dir {
        args.push("--playbook-dir".into());
        args.push(p.display().to_string());
    }
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        ansible_inventory(bin, &a)
    };
    let list_text = with(&["--list"]);
    let graph = with(&["--graph"]);
    let sel: Vec<Value> = selections
        .iter()
        .map(|(p, l)| serde_json::json!([p, l]))
        .collect();
    let oracle = oracle(
        bin,
        serde_json::json!({
            "sources": sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>(),
            "playbook_dir": playbook_dir.map(|p| p.display().to_string()),
            "selections": sel,
        }),
    );
    serde_json::json!({
        "list": serde_json::from_str::<Value>(&list_text).unwrap(),
        "list_text": list_text.trim_end_matches('\n'),
        "graph": graph.trim_end_matches('\n'),
        "oracle": {
            "hostvars": oracle["hostvars"],
            "group_names": oracle["group_names"],
            "short": oracle["short"],
            "files": oracle["files"],
            "groups": oracle["groups"],
            "selections": oracle["selections"],
        },
        "selections_input": sel,
    })
}

/// The live view as committed: without the text form, the inputs, and the oracle's hostvars
/// (the same values are in `list._meta.hostvars`).
pub fn committed_form(mut v: Value) -> Value {
    let m = v.as_object_mut().unwrap();
    m.remove("list_text");
    m.remove("selections_input");
    let oracle = m["oracle"].as_object_mut().unwrap();
    oracle.remove("hostvars");
    oracle.remove("files"); // absolute paths of this machine
    v
}
