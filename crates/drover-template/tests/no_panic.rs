//! Property tests: no input makes the template engine panic — arbitrary text as a template file,
//! as a variable value, as a `when:` expression, and as data through the filters.

#![allow(clippy::unwrap_used)]

use drover_template::{Condition, Templar, Vars};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{-",
    "-}}",
    " ",
    "\n",
    "'",
    "\"",
    "\\",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "|",
    "~",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "**",
    "==",
    "!=",
    "<",
    ">",
    "and",
    "or",
    "not",
    "is",
    "in",
    "if",
    "else",
    "endif",
    "for",
    "endfor",
    "set",
    "raw",
    "endraw",
    "true",
    "false",
    "none",
    "None",
    "x",
    "d",
    "l",
    "s",
    "n",
    "nope",
    "hostvars",
    "omit",
    "vars",
    "0",
    "1",
    "08",
    "1.5",
    "-1",
    "default",
    "d(",
    "bool",
    "int",
    "float",
    "string",
    "to_json",
    "to_nice_json",
    "to_yaml",
    "to_nice_yaml",
    "from_json",
    "from_yaml",
    "combine",
    "dict2items",
    "items2dict",
    "unique",
    "union",
    "difference",
    "intersect",
    "flatten",
    "extract",
    "sort",
    "map",
    "select",
    "reject",
    "selectattr",
    "join",
    "length",
    "first",
    "last",
    "min",
    "max",
    "sum",
    "round",
    "regex_replace",
    "regex_search",
    "regex_findall",
    "b64encode",
    "b64decode",
    "hash",
    "quote",
    "ternary",
    "mandatory",
    "json_query",
    "basename",
    "dirname",
    "ipaddr",
    "defined",
    "undefined",
    "match",
    "search",
    "version",
    "success",
    "failed",
    "changed",
    "skipped",
    "lookup",
    "query",
    "'file'",
    "'env'",
    "'template'",
    "items()",
    "keys()",
    "split",
    "upper",
    "format",
    "(?P<",
    "\\1",
    "\\g<",
    "`",
    "[?",
    "*",
    "é",
    "\t",
    "\u{2028}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        soup(),
        any::<String>(),
        "[\\[\\]{}(),:'\" a-z0-9.\\\\\n-]{0,60}"
    ]
}

fn vars() -> Vars {
    let Value::Object(m) = json!({
        "x": "{{ d }}", "d": {"a": [1, "x", null]}, "l": [3, 1, 2], "s": "off", "n": null,
        "loop1": "{{ loop2 }}", "loop2": "{{ loop1 }}"
    }) else {
        unreachable!()
    };
    Vars::new(m)
}

proptest! {
    // 400 cases per property; PROPTEST_CASES overrides (e.g. for a long soak)
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn template_files_never_panic(src in text()) {
        let t = Templar::default();
        let _ = t.render_template_file("fuzz.j2", &src, &vars());
    }

    #[test]
    fn values_never_panic(src in text()) {
        let t = Templar::default();
        let _ = t.template_value(&Value::String(src.clone()), &vars(), None);
        let _ = t.template_value(&json!({"k": [src]}), &vars(), None);
    }

    #[test]
    fn when_expressions_never_panic(src in text()) {
        let t = Templar::default();
        let _ = t.evaluate_when(&[Condition::Expr(src)], &vars(), None);
    }

    #[test]
    fn filters_never_panic_on_arbitrary_data(s in any::<String>(), expr in prop::sample::select(&[
        "to_yaml", "to_nice_yaml", "to_json", "to_nice_json", "from_json", "from_yaml", "b64decode",
        "quote", "int", "float", "bool", "ipaddr", "basename", "dirname", "realpath", "regex_escape",
        "json_query('a')", "regex_replace(s, 'x')", "regex_search(s)", "version('1.0')",
    ][..])) {
        let t = Templar::default();
        let mut m = Map::new();
        m.insert("s".into(), Value::String(s));
        let v = Vars::new(m);
        let _ = t.template_value(&json!(format!("{{{{ s | {expr} }}}}")), &v, None);
        let _ = t.template_value(&json!(format!("{{{{ [s, {{'k': s}}] | {expr} }}}}")), &v, None);
        let _ = t.template_value(&json!("{{ s }}"), &v, None);
    }
}

#[test]
fn pathological_templates_fail_cleanly() {
    let t = Templar::default();
    let deep_list = format!("{{{{ {}1{} }}}}", "[".repeat(5000), "]".repeat(5000));
    let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    let deep_blocks = "{% if true %}".repeat(3000);
    let recursive_macro = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}".to_string();
    let long_chain = format!("{{{{ x{} }}}}", " | default(1)".repeat(3000));
    let long_attrs = format!("{{{{ x{} }}}}", ".a".repeat(3000));
    let err = t
        .template_value(&json!(long_attrs), &vars(), None)
        .unwrap_err();
    assert!(err.message.starts_with("expression too complex"), "{err}");
    // a long chain of distinct variables, each templating the next
    let mut chain = Map::new();
    for i in 0..400 {
        chain.insert(format!("v{i}"), json!(format!("{{{{ v{} }}}}", i + 1)));
    }
    let err = t
        .template_value(&json!("{{ v0 }}"), &Vars::new(chain), None)
        .unwrap_err();
    assert!(err.message.contains("nest more than"), "{err}");
    let deep_literal = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    for src in [
        deep_list,
        deep_parens,
        deep_blocks,
        recursive_macro,
        long_chain,
    ] {
        let _ = t.render_template_file("deep.j2", &src, &vars());
        let _ = t.template_value(&Value::String(src.clone()), &vars(), None);
        let _ = t.evaluate_when(&[Condition::Expr(src.clone())], &vars(), None);
    }
    // a huge Python-literal-looking result goes through literal_eval's depth limit
    let mut m = Map::new();
    m.insert("deep".into(), Value::String(deep_literal));
    let _ = t.template_value(&json!("{{ deep }}x"), &Vars::new(m), None);
}
