//! Free-form argument parsing compared with ansible-core's own `parse_kv` (run once through
//! the venv's Python over a corpus of tricky inputs, with and without `check_raw`).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use drover_playbook::kv::parse_kv;

const CORPUS: &[&str] = &[
    "a=b c=d",
    "path=/x state=directory mode=0755",
    "msg='hello world'",
    "msg=\"hello world\" other='x y'",
    "echo hi",
    "echo a=b chdir=/tmp creates=/x",
    "cmd=ls  two  spaces",
    "msg={{ a | default('x y') }} z=1",
    "msg=\"{{ a }}\" b={{ b }}",
    "a\\=b c=d",
    "msg=a\\nb",
    "msg='it''s'",
    "x='a\"b' y=\"c'd\"",
    "line1\nline2 k=v",
    "a=1 \\\n b=2",
    "key= value",
    "=leading",
    "k=v=w",
    "{% if x %}y{% endif %} k=v",
    "{# comment #} a=1",
    "src=/etc/x dest=\"/tmp/a b\" backup=yes",
    "echo \"quoted arg\" 'single' plain",
    "name=nginx state=present update_cache=yes",
    "msg=unicode-é k=\\u00e9",
    "executable=/bin/bash echo $HOME",
    "warn=no stdin=abc echo",
    "free form with = sign",
    "a=b\tc=d",
    "   leading spaces a=1",
    "trailing=1   ",
];

#[test]
fn parse_kv_matches_ansible() {
    let Some(bin) = common::ansible_bin_dir() else {
        return;
    };
    let script = r#"
import json, sys
from ansible.parsing.splitter import parse_kv
out = []
for s in json.load(sys.stdin):
    row = []
    for raw in (False, True):
        try:
            row.append(parse_kv(s, check_raw=raw))
        except Exception as e:
            row.append({"__error__": type(e).__name__})
    out.append(row)
print(json.dumps(out))
"#;
    let mut child = Command::new(bin.join("python"))
        .args(["-c", script])
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(CORPUS).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let expected: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
    let mut failures = Vec::new();
    for (input, want) in CORPUS.iter().zip(expected) {
        for (raw, want) in [false, true].into_iter().zip(want) {
            let got = match parse_kv(input, raw) {
                Ok(map) => serde_json::Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect(),
                ),
                Err(_) => serde_json::json!({"__error__": "AnsibleParserError"}),
            };
            if got != want {
                failures.push(format!(
                    "{input:?} check_raw={raw}\n  ansible: {want}\n  drover:  {got}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
