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

#[test]
fn merge_keys_follow_pyyaml_precedence() {
    let text = "\
base: &base {x: 1, y: 1}
other: &other {x: 2, z: 2}
m1:
  <<: *base
  y: 9
m2:
  <<: [*base, *other]
  w: 0
";
    let v = json_of(text);
    assert_eq!(v["m1"], json!({"x": 1, "y": 9}));
    // earlier maps in the list win; merged keys come before the node's own keys
    assert_eq!(v["m2"], json!({"x": 1, "z": 2, "y": 1, "w": 0}));
    let keys: Vec<&String> = v["m2"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["x", "z", "y", "w"]);
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
fn merge_override_is_not_a_duplicate() {
    let loaded = load_text("m.yml", "a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n").unwrap();
    assert!(loaded.warnings.is_empty());
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
