//! `to_yaml`, `to_nice_yaml`, `to_json` and `to_nice_json` compared with the Python functions
//! Ansible calls (libyaml's CSafeDumper, `json.dumps`) on a few thousand generated strings and
//! structures: quoting styles, folding at 80 columns, escapes, unicode, nesting.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::ansible_bin_dir;
use drover_template::{Templar, Vars};
use serde_json::{Map, Value, json};

const ALPHABET: &[&str] = &[
    "a",
    "b",
    "z",
    "Q",
    "0",
    "1",
    "7",
    " ",
    " ",
    "  ",
    "\n",
    "\n\n",
    ":",
    ": ",
    "#",
    " #",
    "-",
    "- ",
    "'",
    "\"",
    "\\",
    "é",
    "中",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "?",
    "!",
    "&",
    "*",
    "%",
    "@",
    "`",
    "|",
    ">",
    "~",
    ".",
    "...",
    "---",
    "yes",
    "No",
    "null",
    "1.5",
    "0x1F",
    "08",
    "1:30",
    "2021-04-19",
    "\u{2028}",
    "\u{7}",
    "\u{85}",
    "\u{a0}",
    "\u{feff}",
    "😀",
    "=",
    "<<",
    "true",
    "e5",
    "+1",
];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn string(&mut self, max_parts: usize) -> String {
        let n = self.below(max_parts + 1);
        let s: String = (0..n)
            .map(|_| ALPHABET[self.below(ALPHABET.len())])
            .collect();
        // data with Jinja markers would be templated (by Ansible too); keep the data literal
        if s.contains("{{") || s.contains("{%") || s.contains("{#") {
            s.replace('{', "(")
        } else {
            s
        }
    }
    fn value(&mut self, depth: usize) -> Value {
        match if depth > 2 {
            self.below(4)
        } else {
            self.below(7)
        } {
            0 | 1 => Value::String(self.string(30)),
            2 => json!(self.next() as i64 - (1 << 30)),
            3 => [
                json!(null),
                json!(true),
                json!(false),
                json!(1.5),
                json!(1e20),
                json!(-0.25),
            ][self.below(6)]
            .clone(),
            4 | 5 => Value::Array((0..self.below(6)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(6) {
                    m.insert(self.string(6), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

const PYTHON: &str = r#"
import json, sys, yaml
cases = json.load(sys.stdin)
out = []
for c in cases:
    out.append([
        yaml.dump(c, Dumper=yaml.CSafeDumper, allow_unicode=True, default_flow_style=None),
        yaml.dump(c, Dumper=yaml.CSafeDumper, allow_unicode=True, default_flow_style=False, indent=4),
        json.dumps(c),
        json.dumps(c, indent=4, sort_keys=True, separators=(',', ': ')),
    ])
json.dump(out, sys.stdout)
"#;

#[test]
fn serialisers_match_python_on_generated_data() {
    let Some(bin) = ansible_bin_dir() else { return };
    let mut rng = Lcg(0x5eed);
    let mut cases: Vec<Value> = (0..1500).map(|_| Value::String(rng.string(40))).collect();
    cases.extend((0..1500).map(|_| rng.value(0)));

    let mut child = Command::new(bin.join("python3"))
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 next to ansible-playbook");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Vec<[String; 4]> = serde_json::from_slice(&output.stdout).unwrap();

    let templar = Templar::default();
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let mut m = Map::new();
        m.insert("c".into(), case.clone());
        let vars = Vars::new(m);
        for (filter, want) in ["to_yaml", "to_nice_yaml", "to_json", "to_nice_json"]
            .iter()
            .zip(want)
        {
            let got = templar
                .template_value(&json!(format!("{{{{ c | {filter} }}}}")), &vars, None)
                .map(|o| o.value);
            if got.as_ref().ok() != Some(&Value::String(want.clone())) {
                failures.push(format!(
                    "{filter} of {case}:\n  python: {want:?}\n  drover: {got:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
