//! drover-python against Python itself (ansible-core's interpreter): `ast.literal_eval` in both
//! dialects, `repr(float)`, `json.dumps` with its keyword arguments and `shlex.split`, on a
//! corpus of tricky inputs. Needs ansible-core (`DROVER_ANSIBLE_BIN_DIR` or
//! /work/ansible-venv/bin); fails when CI=true and it is missing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use drover_python::json::{DumpOptions, dumps};
use drover_python::{Dialect, Literal, float_repr, literal_eval_with, shlex_split};
use serde_json::{Value, json};

const LITERALS: &[&str] = &[
    "1",
    "-1",
    "+1",
    "- 1",
    "-(1)",
    "-((2.5))",
    "-(-1)",
    "--1",
    "-True",
    "1.5",
    ".5",
    "5.",
    "1e3",
    "1E-3",
    "1.e5",
    "1_000",
    "1_000.000_1",
    "1__0",
    "1_",
    "0x1F",
    "0o17",
    "0b101",
    "0x",
    "0_0",
    "0755",
    "00",
    "08",
    "1e",
    "0e0",
    "1e999",
    "1j",
    "1+2j",
    "1 + 2",
    "[1 -1]",
    "170141183460469231731687303715884105727",
    "-9223372036854775808",
    "18446744073709551616",
    "True",
    "False",
    "None",
    "true",
    "null",
    "yes",
    "nan",
    "'a'",
    "\"a\"",
    "'a' 'b'",
    "'a' \\\n 'b'",
    "'''t\nu'''",
    "r'\\n'",
    "R\"\\x41\"",
    "b'x'",
    "rb'\\x'",
    "b'\\xff'",
    "'a' b'c'",
    "u'x'",
    "U'x'",
    "f'x'",
    "'\\x41\\u00e9\\101\\U0001F600'",
    "'\\q'",
    "'\\0'",
    "'\\777'",
    "'it\\'s'",
    "'tab\\there'",
    "'a\nb'",
    "'unterminated",
    "[]",
    "[1,]",
    "[,]",
    "[1, [2, 'x']]",
    "()",
    "(1,)",
    "(1)",
    "((1, 2), [3])",
    "1, 2",
    "1,",
    "None,",
    "{}",
    "{'a': 1,}",
    "{1: 2, True: 3, 1.0: 4}",
    "{True: 1, None: 2, 1.5: 3, (1, 'a'): 4}",
    "{[1]: 2}",
    "{(1, [2]): 3}",
    "{'a': 1, 'a': 2}",
    "{1, 2, 2}",
    "{True, 1}",
    "{(1, 2), 'x'}",
    "{[1]}",
    "set()",
    "set([1])",
    "{a:1}",
    "[foo]",
    "'a' + 'b'",
    "[1] * 2",
    "True False",
    "1 # c",
    "[1]#c",
    "# only",
    "",
    "  1",
    "\t[1]",
    "\n1",
    "1\n",
    "1\n2",
    "1\r\n",
    "(\n1\n)",
    "[1,\\\n2]",
    "1 \\\n",
    "{\"a\": [true, null, false]}",
    "[true]",
    "-true",
    "10.10.10.10",
    "1.2.3",
    "é",
    "'é'",
];

const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    0.1,
    0.3,
    1.0 / 3.0,
    2.5e-5,
    1e-4,
    9.999e-5,
    123456789.125,
    1e15,
    1e16,
    9007199254740993.0,
    1e22,
    1.7976931348623157e308,
    5e-324,
    -1.5e300,
    12345678901234567890.0,
];

fn python() -> Option<PathBuf> {
    let dirs = [
        std::env::var_os("DROVER_ANSIBLE_BIN_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/ansible-venv/bin")),
    ];
    let found = dirs
        .into_iter()
        .flatten()
        .map(|d| d.join("python"))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python_compat: ansible-core's python not found (set DROVER_ANSIBLE_BIN_DIR); required when CI=true"
        );
        eprintln!("\n!!!!!!!! SKIPPED python_compat: ansible-core's python not found !!!!!!!!\n");
    }
    found
}

/// The Python oracle's tagged encoding of a value (see tests/support/python_oracle.py).
fn enc(v: &Literal) -> Value {
    let all = |items: &[Literal]| Value::Array(items.iter().map(enc).collect());
    match v {
        Literal::None => json!(["None"]),
        Literal::Bool(b) => json!(["Bool", b]),
        Literal::Int(i) => json!(["Int", i.to_string()]),
        Literal::Float(f) => json!(["Float", float_repr(*f)]),
        Literal::Str(s) => json!(["Str", s]),
        Literal::Bytes(s) => json!(["Bytes", s]),
        Literal::List(items) => json!(["List", all(items)]),
        Literal::Tuple(items) => json!(["Tuple", all(items)]),
        Literal::Set(items) => {
            let mut items: Vec<Value> = items.iter().map(enc).collect();
            items.sort_by_key(python_json_text);
            json!(["Set", items])
        }
        Literal::Dict(pairs) => json!([
            "Dict",
            pairs
                .iter()
                .map(|(k, v)| json!([enc(k), enc(v)]))
                .collect::<Vec<_>>()
        ]),
    }
}

/// `json.dumps(v)`, the sort key the oracle uses for set elements.
fn python_json_text(v: &Value) -> String {
    dumps(v, &DumpOptions::default())
}

/// Whether Python's answer is one drover documents it cannot hold (complex numbers, ints beyond
/// 128 bits), where `None` is the expected result.
fn unsupported(theirs: &Value) -> bool {
    let text = theirs.to_string();
    text.contains("Unsupported")
        || theirs[0] == "Int" && theirs[1].as_str().unwrap().parse::<i128>().is_err()
}

#[test]
fn drover_python_equals_python() {
    let Some(python) = python() else { return };
    let dump_cases: Vec<(Value, Value)> = vec![
        (
            json!({"b": [1, 2.5, "é", null], "a": {"y": true, "x": []}}),
            json!({}),
        ),
        (
            json!({"b": [1, 1e20, "é\u{1}\"\\"], "a": {}}),
            json!({"sort_keys": true, "ensure_ascii": false}),
        ),
        (
            json!({"b": [1, {"c": [[]]}], "a": "𝄞"}),
            json!({"indent": 4}),
        ),
        (
            json!({"b": [1, 2], "a": 0.1}),
            json!({"indent": 2, "sort_keys": true, "separators": [",", ":"]}),
        ),
        (json!(["x", {"k": -0.0}]), json!({"indent": 0})),
        (
            json!({"ü": 1, "u": 2, "Z": 3}),
            json!({"sort_keys": true, "separators": [";", "="]}),
        ),
    ];
    let shlex_cases: Vec<(&str, bool)> = [
        "a b=1 # c",
        "h a#b",
        "h x=\"a\\\"b\\c\"",
        "h x=a\\ b",
        "h x=''",
        "''",
        "h x=\"a",
        "h x\\",
        "a 'b c' \"d e\"",
        "echo a#b # c",
        "x \"\\$y\" \\$z",
        "a # c\nb",
        "a\tb\r\nc",
        "a\u{a0}b",
        "'it''s'",
        "\"a'b\" 'a\"b'",
        "a\\\nb",
    ]
    .iter()
    .flat_map(|s| [(*s, true), (*s, false)])
    .collect();
    let request = json!({
        "literals": LITERALS,
        "floats": FLOATS,
        "dumps": dump_cases.iter().map(|(v, o)| json!({"value": v.to_string(), "options": o})).collect::<Vec<_>>(),
        "shlex": shlex_cases,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/python_oracle.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(request.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "oracle failed:\n{stderr}");
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut failures = Vec::new();
    for (key, dialect) in [
        ("python", Dialect::Python),
        ("template", Dialect::AnsibleTemplate),
    ] {
        for (text, theirs) in LITERALS.iter().zip(theirs[key].as_array().unwrap()) {
            let ours = literal_eval_with(text, dialect).map_or(json!(["Error"]), |v| enc(&v));
            let expected_none = unsupported(theirs) && ours == json!(["Error"]);
            if ours != *theirs && !expected_none {
                failures.push(format!(
                    "{key} literal_eval({text:?}): drover={ours} python={theirs}"
                ));
            }
        }
    }
    for (f, theirs) in FLOATS.iter().zip(theirs["floats"].as_array().unwrap()) {
        if float_repr(*f) != *theirs {
            failures.push(format!(
                "repr({f:e}): drover={} python={theirs}",
                float_repr(*f)
            ));
        }
    }
    for ((value, o), theirs) in dump_cases.iter().zip(theirs["dumps"].as_array().unwrap()) {
        let seps = o["separators"]
            .as_array()
            .map(|s| (s[0].as_str().unwrap(), s[1].as_str().unwrap()));
        let options = DumpOptions {
            indent: o["indent"].as_u64().map(|n| n as usize),
            sort_keys: o["sort_keys"].as_bool().unwrap_or(false),
            separators: seps,
            ensure_ascii: o["ensure_ascii"].as_bool().unwrap_or(true),
        };
        let ours = dumps(value, &options);
        if ours != *theirs {
            failures.push(format!(
                "json.dumps({value}, {o}): drover={ours:?} python={theirs}"
            ));
        }
    }
    for ((text, comments), theirs) in shlex_cases.iter().zip(theirs["shlex"].as_array().unwrap()) {
        let ours = shlex_split(text, *comments)
            .ok()
            .map_or(Value::Null, |w| json!(w));
        if ours != *theirs {
            failures.push(format!(
                "shlex.split({text:?}, comments={comments}): drover={ours} python={theirs}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
