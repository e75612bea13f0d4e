//! INI value reading (`ast.literal_eval`) and host-line splitting (`shlex.split`) compared
//! with ansible-core's own functions on a corpus of tricky inputs.
#![allow(clippy::unwrap_used)]

mod support;

use drover_inventory::{literal_eval, shlex_split};
use serde_json::{Value, json};

const CORPUS: &[&str] = &[
    "1",
    "-1",
    "+1",
    "1.5",
    "-1.5",
    "1e3",
    "1E-3",
    ".5",
    "5.",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "0755",
    "00",
    "0_0",
    "1__0",
    "1_",
    "True",
    "False",
    "None",
    "true",
    "yes",
    "'a'",
    "\"a\"",
    "'a' 'b'",
    "'''t'''",
    "r'\\n'",
    "b'x'",
    "u'x'",
    "f'x'",
    "[1, 2]",
    "[1, [2, 'x']]",
    "[]",
    "()",
    "(1,)",
    "(1)",
    "1, 2",
    "1,",
    "{'a': 1}",
    "{}",
    "{1: 2}",
    "{'a': [1, {'b': None}]}",
    "{a:1}",
    "1 + 2",
    "1 - 2",
    "-True",
    "--1",
    "- 1",
    "1 # c",
    "hello # c",
    "hello world",
    "10.10.10.10",
    "1.2.3",
    "'unterminated",
    "\"esc\\\"aped\"",
    "'\\x41\\u00e9\\101'",
    "'\\q'",
    "nan",
    "inf",
    "-inf",
    "set()",
    "[1,]",
    "[,]",
    "{'a': 1,}",
    "  1",
    "\t2",
    "1\t",
    "é",
    "'é'",
    "$HOME",
    "/usr/bin/python3",
    "a=b",
    "{'k': (1, 2)}",
    "0.1",
    "1.0",
    "3.14159",
    "1e16",
    "1e-5",
    "0e0",
    "1_0.5",
    "0x",
    "'a' + 'b'",
    "[1] * 2",
    "(1, 2)",
    "((1, 2), [3])",
    "{'a': 1, 'a': 2}",
    "'tab\\there'",
    "\"quote's\"",
    "'#not comment'",
    "x # y # z",
    "-0",
    "-0.0",
    "0b",
    "1e",
    "1.e5",
    "1_000.000_1",
    "True False",
    "None,",
    "[None, True]",
    "host x=1 y='a b' # c",
    "h a#b",
    "h x=\"a\\\"b\\c\"",
    "h x=a\\ b",
    "h x=''",
    "h x=\"a",
    "h x\\",
    "a 'b c' \"d e\"",
    "'' \"\"",
    "# only comment",
    "a\\#b c",
    "-(1)",
    "-(-1)",
    "{1: 'a', True: 'b', 1.0: 'c'}",
    "{True, 1}",
    "{True: 1, None: 2, 1.5: 3}",
    "r'a\\b'",
];

#[test]
fn ini_values_and_shlex_equal_ansible() {
    let Some(bin) = support::require_ansible("ini_values_and_shlex_equal_ansible") else {
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    let theirs = support::python_script(&bin, "ini_values.py", cwd.path(), &json!(CORPUS));
    let theirs = theirs.as_array().unwrap();
    let mut failures = Vec::new();
    for (input, t) in CORPUS.iter().zip(theirs) {
        let ours = literal_eval(input).unwrap_or_else(|| Value::String((*input).to_string()));
        if ours != t["value"] {
            failures.push(format!(
                "value of {input:?}: drover={ours} ansible={}",
                t["value"]
            ));
        }
        match (shlex_split(input), t.get("shlex")) {
            (Ok(a), Some(b)) => {
                if json!(a) != *b {
                    failures.push(format!("shlex of {input:?}: drover={a:?} ansible={b}"));
                }
            }
            (Err(_), None) => {}
            (a, b) => failures.push(format!("shlex of {input:?}: drover={a:?} ansible={b:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
