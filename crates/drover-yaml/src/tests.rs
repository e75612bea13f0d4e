use super::*;
use serde_json::json;

fn json_of(text: &str) -> serde_json::Value {
    let loaded = load_text("t.yml", text).expect("loads");
    loaded
        .single()
        .expect("single")
        .map(|n| n.to_json())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn yaml11_scalars_in_a_mapping() {
    let v = json_of("a: yes\nb: on\nc: 0755\nd: n\ne: '0755'\nf: 1e3\ng: ~\nh: 10.10.10.10\n");
    assert_eq!(
        v,
        json!({"a": true, "b": true, "c": 493, "d": "n", "e": "0755", "f": "1e3", "g": null, "h": "10.10.10.10"})
    );
}

/// Merge keys as PyYAML 6.0.4 builds them (its C loader, through ansible-core 2.18.19's
/// `AnsibleLoader`): each row's `m` and the number of duplicate-key warnings Ansible printed for
/// the document, checked against that reference on 2026-12-06 (scripts/ansible-reference.txt
/// pins it). 6.0.3 and earlier gave other answers for rows marked "6.0.4:"; see compose.rs.
const MERGE_CASES: &[(&str, &str, &str, usize)] = &[
    (
        "6.0.4: list of merges, one-character keys: the first mapping wins, merged keys in list order",
        "base: &base {x: 1, y: 1}\nother: &other {x: 2, z: 2}\nm:\n  <<: [*base, *other]\n  w: 0\n",
        r#"{"x": 1, "y": 1, "z": 2, "w": 0}"#,
        0,
    ),
    (
        "6.0.4: list of merges, longer keys: the last mapping wins",
        "base: &base {xx: 1, yy: 1}\nother: &other {xx: 2, zz: 2}\nm:\n  <<: [*base, *other]\n  ww: 0\n",
        r#"{"xx": 2, "yy": 1, "zz": 2, "ww": 0}"#,
        1,
    ),
    (
        "6.0.4: list of three, longer keys",
        "a: &a {kk: 1}\nb: &b {kk: 2}\nc: &c {kk: 3}\nm:\n  <<: [*a, *b, *c]\n",
        r#"{"kk": 3}"#,
        2,
    ),
    (
        "the same anchor twice merges once",
        "base: &base {xx: 1, yy: 1}\nm:\n  <<: [*base, *base]\n  ww: 0\n",
        r#"{"xx": 1, "yy": 1, "ww": 0}"#,
        0,
    ),
    (
        "6.0.4: inline mappings in the list",
        "m:\n  <<: [{aa: 1, bb: 1}, {aa: 2, cc: 2}]\n",
        r#"{"aa": 2, "bb": 1, "cc": 2}"#,
        1,
    ),
    (
        "single merge: own keys override, each with a warning",
        "a: &a {x: 1, yy: 1}\nm:\n  <<: *a\n  x: 2\n  yy: 3\n",
        r#"{"x": 2, "yy": 3}"#,
        2,
    ),
    (
        "single merge written after the own keys: merged keys still come first",
        "a: &a {xx: 1, yy: 1}\nm:\n  zz: 0\n  xx: 2\n  <<: *a\n",
        r#"{"xx": 2, "yy": 1, "zz": 0}"#,
        1,
    ),
    (
        "two merge keys in one mapping",
        "a: &a {kk: 1}\nb: &b {kk: 2, jj: 3}\nm:\n  <<: *a\n  <<: *b\n",
        r#"{"kk": 2, "jj": 3}"#,
        1,
    ),
    (
        "6.0.4: nested merge, longer keys",
        "a: &a {kk: 1, ll: 1}\nb: &b\n  <<: *a\n  kk: 2\nm:\n  <<: [*b, {ll: 5, mm: 6}]\n",
        r#"{"kk": 2, "ll": 5, "mm": 6}"#,
        3,
    ),
    (
        "6.0.4: nested merge, one-character key: a's value wins over b's own override",
        "a: &a {k: 1, l: 1}\nb: &b\n  <<: *a\n  k: 2\nm:\n  <<: *b\n",
        r#"{"k": 1, "l": 1}"#,
        1,
    ),
    (
        "6.0.4: a duplicate inside the merged mapping",
        "a: &a {k: 1, k: 2, kk: 1, kk: 2}\nm:\n  <<: *a\n",
        r#"{"k": 1, "kk": 2}"#,
        3,
    ),
    (
        "6.0.4: int 1 and string '1' are one cached string",
        "a: &a {1: a, '1': b}\nm:\n  <<: *a\n",
        r#"{"1": "a"}"#,
        0,
    ),
    (
        "6.0.4: the empty string and latin-1 characters are cached, U+0101 is not",
        "a: &a {'': 1, \u{e9}: 1, \u{101}: 1}\nb: &b {'': 2, \u{e9}: 2, \u{101}: 2}\nm:\n  <<: [*a, *b]\n",
        r#"{"": 1, "\u00e9": 1, "\u0101": 2}"#,
        1,
    ),
    (
        "an alias as the key is one key node",
        "k: &k kk\na: &a {*k : 1}\nb: &b {*k : 2}\nm:\n  <<: [*a, *b]\n",
        r#"{"kk": 1}"#,
        0,
    ),
];

#[test]
fn merge_keys_follow_pyyaml_6_0_4() {
    for (name, text, want, warnings) in MERGE_CASES {
        let loaded = load_text("m.yml", text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            loaded.warnings.len(),
            *warnings,
            "{name}: warnings {:?}",
            loaded.warnings
        );
        let doc = loaded.single().unwrap().unwrap();
        let NodeValue::Map(top) = &doc.value else {
            panic!("{name}: not a mapping")
        };
        let m = top.get("m").unwrap_or_else(|| panic!("{name}: no m"));
        let NodeValue::Map(m_map) = &m.value else {
            panic!("{name}: m is not a mapping")
        };
        let want: serde_json::Value = serde_json::from_str(want).unwrap();
        let want_map = want.as_object().unwrap();
        assert_eq!(m_map.len(), want_map.len(), "{name}: entry count");
        // order and values, as serde_json keeps insertion order
        assert_eq!(
            serde_json::to_string(&m.to_json()).unwrap(),
            serde_json::to_string(&want).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn merge_warnings_point_at_the_merge_key_or_the_override() {
    let loaded = load_text(
        "w.yml",
        "a: &a {xx: 1}\nb: &b {xx: 2}\nm:\n  <<: [*a, *b]\n  xx: 3\n",
    )
    .unwrap();
    let texts: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("merged by `<<`"), "{}", texts[0]);
    assert!(texts[0].contains("w.yml:4:3"), "{}", texts[0]);
    assert!(texts[1].contains("w.yml:5:3"), "{}", texts[1]);
    assert!(
        texts[1].contains("first defined at w.yml:1:8"),
        "{}",
        texts[1]
    );
}

#[test]
fn merge_of_a_scalar_is_an_error() {
    let e = load_text("e.yml", "a: &a 1\nm:\n  <<: *a\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("expected a mapping or list of mappings"),
        "{e}"
    );
    let e = load_text("e.yml", "a: &a 1\nm:\n  <<: [*a]\n").unwrap_err();
    assert!(
        e.to_string().contains("expected a mapping for merging"),
        "{e}"
    );
}

#[test]
fn duplicate_keys_last_wins_with_a_warning() {
    let loaded = load_text("dup.yml", "a: 1\nb: 2\na: 3\n").unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    let w = loaded.warnings[0].to_string();
    assert!(w.contains("duplicate mapping key `a`"), "{w}");
    assert!(w.contains("dup.yml:3:1"), "{w}");
    assert!(w.contains("first defined at dup.yml:1:1"), "{w}");
    let v = loaded.single().unwrap().unwrap().to_json();
    assert_eq!(v, json!({"a": 3, "b": 2}));
    // key order is first appearance, like a Python dict
    assert_eq!(v.as_object().unwrap().keys().next().unwrap(), "a");
}

#[test]
fn python_dict_key_identity() {
    // 1, 1.0 and True are the same key in Python
    let loaded = load_text("k.yml", "1: a\ntrue: b\n").unwrap();
    assert_eq!(
        loaded.warnings.len(),
        1,
        "Ansible warns: `1` and `true` are one key"
    );
    let v = loaded.single().unwrap().unwrap().to_json();
    assert_eq!(v, json!({"1": "b"}));
}

#[test]
fn anchors_aliases_and_multiple_documents() {
    let loaded = load_text("d.yml", "a: &x [1, 2]\nb: *x\n---\nc: 3\n").unwrap();
    assert_eq!(loaded.documents.len(), 2);
    assert_eq!(
        loaded.documents[0].to_json(),
        json!({"a": [1, 2], "b": [1, 2]})
    );
    let err = loaded.single().unwrap_err().to_string();
    assert!(err.contains("expected a single document"), "{err}");
    assert!(
        err.contains("d.yml:3:1") || err.contains("d.yml:4:1"),
        "{err}"
    );
}

#[test]
fn empty_file_is_none() {
    assert!(load_text("e.yml", "").unwrap().single().unwrap().is_none());
    assert!(
        load_text("e.yml", "# just a comment\n")
            .unwrap()
            .single()
            .unwrap()
            .is_none()
    );
}

#[test]
fn spans_point_at_nodes() {
    let loaded = load_text("s.yml", "all:\n  hosts:\n    10.10.10.10: {pg_seq: 1}\n").unwrap();
    let root = loaded.single().unwrap().unwrap();
    let hosts = root.get("all").unwrap().get("hosts").unwrap();
    let (key, value) = &hosts.as_map().unwrap().entries[0];
    assert_eq!(key.span.location(), "s.yml:3:5");
    assert_eq!(key.span.text(), "10.10.10.10");
    let seq = value.get("pg_seq").unwrap();
    assert_eq!(seq.span.location(), "s.yml:3:27");
    assert_eq!(seq.span.text(), "1");
}

#[test]
fn unsafe_tag_is_kept() {
    let root = load_text("u.yml", "a: !unsafe '{{ x }}'\n")
        .unwrap()
        .single()
        .unwrap()
        .unwrap();
    let a = root.get("a").unwrap();
    assert!(a.is_unsafe());
    assert_eq!(a.as_str(), Some("{{ x }}"));
}

#[test]
fn errors_point_at_the_line_with_help() {
    let err = load_text("bad.yml", "a:\n  b: 1\n c: 2\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("error: YAML syntax error"), "{err}");
    assert!(err.contains("bad.yml:3:"), "{err}");
    assert!(err.contains("help:"), "{err}");

    let err = load_text("tpl.yml", "a: {{ x }}\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tpl.yml:1:"), "{err}");
    assert!(err.contains("must be quoted"), "{err}");

    let err = load_text("v.yml", "a: !vault |\n  xyz\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`!vault`"), "{err}");

    let err = load_text("m.yml", "a:\n  <<: 3\n").unwrap_err().to_string();
    assert!(
        err.contains("expected a mapping or list of mappings for merging"),
        "{err}"
    );
    assert!(err.contains("m.yml:2:7"), "{err}");
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let err = load_text("bomb.yml", &text).unwrap_err().to_string();
    assert!(err.contains("too many nodes"), "{err}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = "[".repeat(10_000);
    assert!(load_text("deep.yml", &text).is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = load_text("fuzz.yml", &text).map(|l| l.single());
        }

        #[test]
        fn never_panics_on_yamlish_text(text in "([ \\-:{}\\[\\],&*!<>|#'\"\n]|[a-z0-9]{1,3}){0,80}") {
            let _ = load_text("fuzz.yml", &text).map(|l| l.single());
        }
    }
}

/// What Ansible makes of a document: the JSON of its value, or its error's line and column.
type Loads = Result<&'static str, (usize, usize)>;

/// Tabs between tokens, checked against ansible-core 2.18.19's `AnsibleLoader` (PyYAML 6.0.4 on
/// libyaml 0.2.5): the value it loads, or the line and column of its error.
const TAB_CASES: &[(&str, Loads)] = &[
    ("msg:\thello", Ok(r#"{"msg": "hello"}"#)),
    ("msg:\t hello", Ok(r#"{"msg": "hello"}"#)),
    ("msg: \thello", Ok(r#"{"msg": "hello"}"#)),
    ("- key:\tvalue", Ok(r#"[{"key": "value"}]"#)),
    (
        "- key:\tvalue\n  other:\tx",
        Ok(r#"[{"key": "value", "other": "x"}]"#),
    ),
    ("-\tkey: value", Err((1, 2))),
    ("-\titem", Err((1, 2))),
    ("{a:\tb}", Ok(r#"{"a": "b"}"#)),
    ("{a: \tb}", Ok(r#"{"a": "b"}"#)),
    ("[a,\tb]", Ok(r#"["a", "b"]"#)),
    ("[\ta]", Ok(r#"["a"]"#)),
    ("{\ta: b}", Ok(r#"{"a": "b"}"#)),
    ("a:\t[1,\t2]", Ok(r#"{"a": [1, 2]}"#)),
    ("a:\t{b:\tc}", Ok(r#"{"a": {"b": "c"}}"#)),
    ("a:\n\tb: c", Err((2, 1))),
    ("a:\t\n  b: c", Ok(r#"{"a": {"b": "c"}}"#)),
    ("a:\t# comment\n  b: c", Ok(r#"{"a": {"b": "c"}}"#)),
    ("a:\t&x 1\nb:\t*x", Ok(r#"{"a": 1, "b": 1}"#)),
    ("a:\t!!str 1", Ok(r#"{"a": "1"}"#)),
    ("a:\t|\n  text\n", Ok(r#"{"a": "text\n"}"#)),
    ("a:\t'q'", Ok(r#"{"a": "q"}"#)),
    ("a:\t\"q\"", Ok(r#"{"a": "q"}"#)),
    ("? a\n:\tb", Err((2, 2))),
    ("a\t: b", Ok(r#"{"a": "b"}"#)),
    ("a:\tb\tc", Ok(r#"{"a": "b\tc"}"#)),
    ("a: b\t# c", Ok(r#"{"a": "b"}"#)),
    ("a:\t-1", Ok(r#"{"a": -1}"#)),
    ("a:\t- 1", Err((1, 4))),
    ("- \t- 1", Err((1, 3))),
    ("-\t- 1", Err((1, 2))),
    ("a:\n-\tb", Err((2, 2))),
    ("a:\t\tb", Ok(r#"{"a": "b"}"#)),
    ("a:\t", Ok(r#"{"a": null}"#)),
    ("a:\t\n", Ok(r#"{"a": null}"#)),
    ("\ta: b", Err((1, 1))),
    ("a: 1\n\tb: 2", Err((2, 1))),
    ("key: value\t", Ok(r#"{"key": "value"}"#)),
    ("- a\t", Ok(r#"["a"]"#)),
    ("---\ta: b", Err((1, 6))),
    ("a:\t? b", Err((1, 4))),
    ("a: [b,\tc]\n", Ok(r#"{"a": ["b", "c"]}"#)),
    ("a: {\tb: c}\n", Ok(r#"{"a": {"b": "c"}}"#)),
    ("a:\t:b", Ok(r#"{"a": ":b"}"#)),
    (
        "a:\n  - b:\tc\n  - d:\te",
        Ok(r#"{"a": [{"b": "c"}, {"d": "e"}]}"#),
    ),
    ("a:\t>\n  folded\n", Ok(r#"{"a": "folded\n"}"#)),
    ("a:\t\t\n\tb", Err((2, 1))),
    ("a: b\n  \tc", Ok(r#"{"a": "b c"}"#)),
    ("a\n\tb", Ok(r#""a b""#)),
    ("a: |\t# c\n  x\n", Ok(r#"{"a": "x\n"}"#)),
    ("a: |\n  x\n\ty\n", Err((3, 1))),
    ("a: |\n\tx\n", Err((2, 1))),
    ("a: \"x\n\ty\"", Ok(r#"{"a": "x y"}"#)),
    ("a: 'x\n\ty'", Ok(r#"{"a": "x y"}"#)),
    ("- [a,\n\tb]", Ok(r#"[["a", "b"]]"#)),
    ("a:\t&x\t1", Ok(r#"{"a": 1}"#)),
    ("a: !!str\t1", Ok(r#"{"a": "1"}"#)),
    ("%YAML 1.1\n---\ta", Ok(r#""a""#)),
    ("a: 1 #\tc", Ok(r#"{"a": 1}"#)),
    ("'a':\tb", Ok(r#"{"a": "b"}"#)),
    ("\"a\":\tb", Ok(r#"{"a": "b"}"#)),
    ("? a\n: b\nc:\td", Ok(r#"{"a": "b", "c": "d"}"#)),
    ("a: b\t\n", Ok(r#"{"a": "b"}"#)),
    ("a: b #x\n\t# comment\nc: d", Err((2, 1))),
    ("\t# comment\na: b", Err((1, 1))),
    ("\t\na: b", Err((1, 1))),
    (
        "a:\n  b:\tc\n  d:\t[x,\ty]\n",
        Ok(r#"{"a": {"b": "c", "d": ["x", "y"]}}"#),
    ),
    ("a\t:\tb", Ok(r#"{"a": "b"}"#)),
    ("- a:\tb\n  c:\t- d", Err((2, 6))),
    ("a: >\n  x\n  \ty\n", Ok(r#"{"a": "x\n\ty\n"}"#)),
    ("a: |2\n  \tx\n", Ok(r#"{"a": "\tx\n"}"#)),
    ("- |\n \tx\n", Err((2, 2))),
];

#[test]
fn tabs_between_tokens_as_ansible_loads_them() {
    let mut failures = Vec::new();
    for (input, want) in TAB_CASES {
        let got = load_text("t.yml", input).and_then(Loaded::single);
        let ok = match (&got, want) {
            (Ok(node), Ok(json)) => {
                let want: serde_json::Value = serde_json::from_str(json).expect("table JSON");
                node.as_ref().map(Node::to_json).unwrap_or_default() == want
            }
            (Err(e), Err(at)) => e.span.as_ref().map(|s| s.line_col()) == Some(*at),
            _ => false,
        };
        if !ok {
            failures.push(format!("{input:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_tab_after_a_key_keeps_spans_and_source_text() {
    let loaded = load_text("t.yml", "- name:\tx\n  msg:\t\"{{ a }}\"\n").unwrap();
    let doc = loaded.single().unwrap().unwrap();
    let task = &doc.as_seq().unwrap()[0];
    let msg = task.get("msg").unwrap();
    assert_eq!(msg.as_str(), Some("{{ a }}"));
    assert_eq!(msg.span.line_col(), (2, 8));
    assert_eq!(msg.span.text(), "\"{{ a }}\"");
    // Diagnostics quote the file as it is, tabs included.
    assert_eq!(msg.span.source.line(2), "  msg:\t\"{{ a }}\"");
}

#[test]
fn a_tab_ansible_refuses_is_an_error_at_the_tab() {
    let e = load_text("t.yml", "tasks:\n  -\tping:\n").unwrap_err();
    assert_eq!(e.location().as_deref(), Some("t.yml:2:4"));
    assert!(
        e.message.contains("cannot start any token"),
        "{}",
        e.message
    );
    assert!(e.help.as_deref().unwrap_or("").contains("after `-`"));
}

#[test]
fn a_file_that_is_not_utf8_names_the_line_and_column_of_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pb.yml");
    std::fs::write(
        &path,
        b"- hosts: all\n  tasks:\n    - debug: msg=\"caf\xe9\"\n",
    )
    .unwrap();
    let e = load_file(&path).unwrap_err();
    let want = format!("{}:3:22", path.display());
    assert_eq!(e.location(), Some(want.clone()));
    assert!(e.message.contains("line 3, column 22"), "{}", e.message);
}

#[test]
fn a_syntax_error_on_a_1mb_line_renders_in_a_few_kb() {
    let text = format!("- debug: {{msg: {}, : ]\n", "x".repeat(1_000_000));
    let e = load_text("big.yml", &text).unwrap_err();
    let rendered = e.to_string();
    assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    assert!(rendered.contains("--> big.yml:1:"), "{rendered}");
    assert!(rendered.contains("1 | ...xxx"), "{rendered}");
}

#[test]
fn integers_beyond_64_bits_load_and_beyond_128_are_refused_at_their_place() {
    // Python's ints are unbounded; drover carries 128 bits, beyond 64 as marked numbers
    let v = json_of(
        "big: 123456789012345678901234567890\nneg: -0x1_0000_0000_0000_0000\nu: 18446744073709551615\n",
    );
    assert_eq!(
        v,
        json!({"big": {"__drover_number": "123456789012345678901234567890"},
               "neg": {"__drover_number": "-18446744073709551616"},
               "u": u64::MAX})
    );
    for (text, col) in [
        ("big: 1234567890123456789012345678901234567890\n", 6),
        ("x: [1, -0x1_0000_0000_0000_0000_0000_0000_0000_0000]\n", 8),
    ] {
        let e = load_text("v.yml", text).unwrap_err();
        assert_eq!(e.location(), Some(format!("v.yml:1:{col}")), "{text}");
        assert!(
            e.message.contains("does not fit in 128 bits"),
            "{}",
            e.message
        );
        assert!(e.message.contains("quote it"), "{}", e.message);
    }
    let v = json_of("max: 9223372036854775807\nmin: -9223372036854775808\n");
    assert_eq!(v, json!({"max": i64::MAX, "min": i64::MIN}));
}
