//! `!unsafe` values are never templated, also when reached through other variables, and print
//! and compare as their text (ansible-core 2.18, measured with ansible-playbook).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use drover_template::{HostVarsSource, Templar, Vars};
use serde_json::{Map, Value, json};

/// Variables loaded from YAML, as the playbook and inventory loaders load them.
fn yaml_vars(text: &str) -> Map<String, Value> {
    let doc = drover_yaml::load_text("vars.yml", text)
        .unwrap()
        .single()
        .unwrap()
        .unwrap()
        .to_json();
    match doc {
        Value::Object(m) => m,
        _ => panic!("not a mapping"),
    }
}

const VARS: &str = r#"
z: ZZ
y: !unsafe "{{ z }}"
x: "{{ y }}"
w: "a-{{ y }}-b"
l: !unsafe ["{{ z }}", 1]
d:
  k: !unsafe "{{ z }}"
  j: "{{ z }}"
obj: !unsafe "{'a': 1}"
"#;

fn render(expr: &str) -> Value {
    let vars = Vars::new(yaml_vars(VARS));
    Templar::default()
        .template_value(&json!(expr), &vars, None)
        .unwrap()
        .value
}

#[test]
fn unsafe_strings_are_not_templated() {
    assert_eq!(render("{{ y }}"), json!("{{ z }}"));
    assert_eq!(render("{{ x }}"), json!("{{ z }}"));
    assert_eq!(render("{{ w }}"), json!("a-{{ z }}-b"));
    assert_eq!(render("{{ l }}"), json!(["{{ z }}", 1]));
    assert_eq!(render("{{ d }}"), json!({"k": "{{ z }}", "j": "ZZ"}));
    assert_eq!(render("{{ d.k }}-{{ d.j }}"), json!("{{ z }}-ZZ"));
    assert_eq!(render("{{ vars.y }}"), json!("{{ z }}"));
    // filters see the text
    assert_eq!(render("{{ y | upper }}"), json!("{{ Z }}"));
    // a result that looks like a dict is data, as with any other template result
    assert_eq!(render("{{ obj }}"), json!({"a": 1}));
}

#[test]
fn unsafe_strings_print_and_compare_as_their_text() {
    assert_eq!(
        render("{{ y == '{{ z }}' }} {{ y | length }} {{ y is string }}"),
        json!("True 7 True")
    );
    assert_eq!(render("{{ l[0] ~ '!' }}"), json!("{{ z }}!"));
    assert_eq!(render("{{ l | to_json }}"), json!("[\"{{ z }}\", 1]"));
}

#[test]
fn an_unsafe_argument_is_its_text() {
    let args = yaml_vars("content: !unsafe '{{ z }}'\nother: '{{ z }}'\n");
    let vars = Vars::new(yaml_vars(VARS));
    let out = Templar::default()
        .template_value(&Value::Object(args), &vars, None)
        .unwrap()
        .value;
    assert_eq!(out, json!({"content": "{{ z }}", "other": "ZZ"}));
}

#[test]
fn template_files_see_the_text() {
    let vars = Vars::new(yaml_vars(VARS));
    let out = Templar::default()
        .render_template_file(
            "t.j2",
            "{{ y }} {{ x }} {% for i in l %}{{ i }}{% endfor %}\n",
            &vars,
        )
        .unwrap()
        .value;
    assert_eq!(out, "{{ z }} {{ z }} {{ z }}1\n");
}

struct Hosts;

impl HostVarsSource for Hosts {
    fn host_names(&self) -> Vec<String> {
        vec!["h1".into()]
    }
    fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        (host == "h1").then(|| yaml_vars("z: ZZ\nhv: !unsafe '{{ z }}-h'\nhx: '{{ hv }}'\n"))
    }
}

#[test]
fn hostvars_keep_unsafe_strings() {
    let vars = Vars::new(Map::new()).with_hostvars(Arc::new(Hosts));
    let out = Templar::default()
        .template_value(
            &json!("{{ hostvars.h1.hv }} {{ hostvars['h1'].hx }}"),
            &vars,
            None,
        )
        .unwrap()
        .value;
    assert_eq!(out, json!("{{ z }}-h {{ z }}-h"));
}
