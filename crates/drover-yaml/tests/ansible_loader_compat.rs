#![allow(clippy::unwrap_used)]
//! Compares drover's YAML loader with Ansible's own (`AnsibleLoader`, ansible-core 2.18) on the
//! real Pigsty inventories and on a table of tricky YAML 1.1 inputs.
//!
//! Needs ansible-core: `DROVER_ANSIBLE_BIN_DIR` (default `/work/ansible-venv/bin`, or the one
//! `scripts/test` installs under `target/ansible-venv/bin`). With `CI=true` a missing ansible-core
//! fails the test; elsewhere the test says loudly that it was skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ansible_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("DROVER_ANSIBLE_BIN_DIR").map(PathBuf::from),
        Some(root.join("target/ansible-venv/bin")),
        Some(PathBuf::from("/work/ansible-venv/bin")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("python"))
        .find(|p| p.exists())
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

/// What Ansible's loader makes of a file, as JSON (the way ansible-inventory prints values),
/// and how many duplicate-key warnings it printed.
fn ansible_json(python: &Path, file: &Path) -> (serde_json::Value, usize) {
    let script = r#"
import datetime, json, sys
from ansible.parsing.yaml import constructor
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.module_utils.common.json import AnsibleJSONEncoder
warnings = []
constructor.display.warning = lambda msg, *a, **k: warnings.append(msg)
class Encoder(AnsibleJSONEncoder):
    # drover keeps a timestamp as the text Ansible prints for it in debug and templates,
    # str(datetime); AnsibleJSONEncoder writes isoformat() (a `T`), which only to_json and
    # ansible-inventory --list show
    def default(self, o):
        if isinstance(o, datetime.date):
            return str(o)
        return super().default(o)
with open(sys.argv[1]) as f:
    data = AnsibleLoader(f.read(), file_name=sys.argv[1]).get_single_data()
print(json.dumps({"data": data, "warnings": len(warnings)}, cls=Encoder))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "ansible loader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json from ansible");
    let warnings = v["warnings"].as_u64().expect("warning count") as usize;
    (v["data"].take(), warnings)
}

fn drover_json(file: &Path) -> (serde_json::Value, usize) {
    let loaded = drover_yaml::load_file(file).unwrap_or_else(|e| panic!("{e}"));
    let warnings = loaded.warnings.len();
    let value = loaded
        .single()
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|n| n.to_json())
        .unwrap_or(serde_json::Value::Null);
    (value, warnings)
}

fn assert_same(python: &Path, file: &Path) {
    let (theirs, their_warnings) = ansible_json(python, file);
    let (ours, our_warnings) = drover_json(file);
    assert_eq!(
        our_warnings,
        their_warnings,
        "duplicate-key warnings differ on {}",
        file.display()
    );
    assert_eq!(ours, theirs, "loader differs on {}", file.display());
    // key order matters too (Ansible keeps insertion order)
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&theirs).unwrap(),
        "key order differs on {}",
        file.display()
    );
}

#[test]
fn pigsty_inventories_load_like_ansible() {
    let Some(python) = require_ansible() else {
        return;
    };
    // The repository's copies of ../shared/reference/pigsty (byte-identical, with their NOTICE).
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../drover-inventory/tests/fixtures/pigsty");
    for name in ["pigsty-v0.9.0.yml", "pigsty-v1.0.0.yml"] {
        assert_same(&python, &dir.join(name));
    }
}

#[test]
fn tricky_yaml11_inputs_load_like_ansible() {
    let Some(python) = require_ansible() else {
        return;
    };
    let text = r#"
bools: [yes, Yes, YES, no, No, NO, on, On, ON, off, Off, OFF, true, True, TRUE, false, y, n, yEs, Y]
nulls: [~, null, Null, NULL, nULL, ]
ints: [0, -0, 0755, 0o755, 08, 09, 0x1F, 0b101, 1_000, 1:30, -1:30, +12, 00]
floats: [1.5, 1., 1e3, 1.0e3, 1.0e+3, .5, -.5, +1.5, 1_0.5, 6.8523015e+5]
strings: ['0755', "yes", 10.10.10.10, 15s, 1.2.3, v1.8.7, 127.0.0.1:8500, "a\tb", 'it''s']
dates: [2001-12-14, 2001-12-14 21:59:43.10 -5, 2001-12-14t21:59:43Z, 2002-12-14T00:00:00]
anchors:
  base: &base {x: 1, y: 1}
  other: &other {x: 2, z: 2}
  m1: {<<: *base, y: 9}
  m2:
    <<: [*base, *other]
    w: 0
  copy: *base
  long_a: &long_a {xx: 1, yy: 1}
  long_b: &long_b {xx: 2, zz: 2}
  m3:
    <<: [*long_a, *long_b]
    ww: 0
  m4: {<<: [*long_a, *long_a], xx: 5}
  nested: &nested
    <<: *base
    x: 7
    xx: 8
  m5:
    <<: [*nested, {yy: 1, xx: 9}]
  m6: {<<: [{'': 1, "\u00e9": 1, "\u0101": 1}, {'': 2, "\u00e9": 2, "\u0101": 2}]}
blocks:
  literal: |
    line one
      indented
  folded: >-
    folded
    text
  keep: |+
    kept

keys:
  1: int key
  2.5: float key
  null: null key
  true: bool key
dup: 1
dup: 2
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tricky.yml");
    std::fs::write(&file, text).unwrap();
    assert_same(&python, &file);
}
