//! The public API: omit, hostvars laziness, Send + Sync, template-file newline handling.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use drover_template::{HostVarsSource, Templar, TemplarOptions, Vars, is_template};
use serde_json::{Map, Value, json};

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn templar_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templar>();
    assert_send_sync::<Vars>();
}

#[test]
fn omit_is_a_detectable_placeholder() {
    let t = Templar::new(TemplarOptions::default());
    assert!(t.omit_placeholder().starts_with("__omit_place_holder__"));
    assert_eq!(
        t.omit_placeholder().len(),
        "__omit_place_holder__".len() + 40
    );
    let v = Vars::new(map(json!({"mode": null})));
    let out = t.template_value(&json!({"owner": "{{ nope | default(omit) }}", "mode": "{{ mode | default(omit, true) }}"}), &v, None).unwrap();
    assert!(t.is_omit(&out.value["owner"]));
    assert!(t.is_omit(&out.value["mode"]));
    let fixed = Templar::new(TemplarOptions {
        omit_placeholder: Some("__omit_place_holder__x".into()),
    });
    assert_eq!(
        fixed
            .template_value(&json!("{{ omit }}"), &v, None)
            .unwrap()
            .value,
        json!("__omit_place_holder__x")
    );
}

struct Hosts;

impl HostVarsSource for Hosts {
    fn host_names(&self) -> Vec<String> {
        vec!["10.10.10.11".into(), "10.10.10.12".into()]
    }
    fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let seq = match host {
            "10.10.10.11" => 1,
            "10.10.10.12" => 2,
            _ => return None,
        };
        Some(map(json!({
            "pg_cluster": "pg-test", "pg_seq": seq, "inventory_hostname": host,
            "pg_instance": "{{ pg_cluster }}-{{ pg_seq }}"
        })))
    }
}

#[test]
fn hostvars_are_templated_in_each_hosts_own_context() {
    let t = Templar::default();
    let v =
        Vars::new(map(json!({"pg_seq": 99, "pg_cluster": "other"}))).with_hostvars(Arc::new(Hosts));
    let out = t
        .template_value(&json!("{{ hostvars['10.10.10.12'].pg_instance }} {{ hostvars | length }} {{ hostvars.keys() | list }}"), &v, None)
        .unwrap();
    assert_eq!(
        out.value,
        json!("pg-test-2 2 ['10.10.10.11', '10.10.10.12']")
    );
    let out = t
        .template_value(
            &json!("{{ hostvars.values() | map(attribute='pg_instance') | list }}"),
            &v,
            None,
        )
        .unwrap();
    assert_eq!(out.value, json!(["pg-test-1", "pg-test-2"]));
    let err = t
        .template_value(&json!("{{ hostvars['10.9.9.9'].pg_seq }}"), &v, None)
        .unwrap_err();
    assert!(err.message.contains("undefined"), "{err}");
}

#[test]
fn template_files_keep_trailing_newlines_like_the_template_module() {
    let t = Templar::default();
    let v = Vars::new(map(json!({"x": 1, "items": ["a", "b"]})));
    let render = |src: &str| t.render_template_file("t.j2", src, &v).unwrap().value;
    assert_eq!(render("a={{ x }}\n"), "a=1\n");
    assert_eq!(render("a={{ x }}\n\n"), "a=1\n\n");
    assert_eq!(render("a={{ x }}"), "a=1");
    // trim_blocks: the newline after a block tag is dropped
    assert_eq!(
        render("{% for i in items %}\n- {{ i }}\n{% endfor %}\n"),
        "- a\n- b\n"
    );
    assert_eq!(render("{% if x %}\nyes\n{% endif %}"), "yes\n");
    // no auto-escaping, whatever the extension
    let html = t
        .render_template_file("index.html.j2", "{{ '<a & b>' }}", &v)
        .unwrap()
        .value;
    assert_eq!(html, "<a & b>");
    // None renders empty (Ansible's finalize), Python-style reprs for data
    let v2 = Vars::new(map(json!({"n": null, "l": [1, "a", true, null]})));
    assert_eq!(
        t.render_template_file("t.j2", "[{{ n }}] {{ l }}", &v2)
            .unwrap()
            .value,
        "[] [1, 'a', True, None]"
    );
}

#[test]
fn is_template_matches_ansibles_is_possibly_template() {
    assert!(is_template("{{ x }}"));
    assert!(is_template("a {% if x %}"));
    assert!(is_template("{# c #}"));
    assert!(!is_template("plain { x }"));
}

#[test]
fn overlays_add_loop_variables_without_copying() {
    let t = Templar::default();
    let base = Vars::new(map(
        json!({"port": 5432, "svc": "{{ item.name }}:{{ port }}", "item": "hidden"}),
    ));
    let v = base
        .clone()
        .with_overlay(map(json!({"item": {"name": "pg"}})));
    assert_eq!(
        t.template_value(&json!("{{ svc }}"), &v, None)
            .unwrap()
            .value,
        json!("pg:5432")
    );
    assert_eq!(v.get("item"), Some(&json!({"name": "pg"})));
    assert_eq!(base.get("item"), Some(&json!("hidden")));
    assert_eq!(v.map().get("item"), Some(&json!({"name": "pg"})));
    assert_eq!(v.map().len(), 3);
    assert_eq!(base.map().get("item"), Some(&json!("hidden")));
    let names = t
        .template_value(&json!("{{ vars.keys() | list | sort }}"), &v, None)
        .unwrap()
        .value;
    assert_eq!(names, json!(["item", "port", "svc"]));
}

#[test]
fn template_module_vars_match_ansibles_names() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("consul.json.j2");
    std::fs::write(&src, "# {{ ansible_managed }} from {{ template_path }}\n").unwrap();
    let extra =
        drover_template::template_module_vars("consul.json.j2", &src, "/etc/consul.d/consul.json");
    let v = Vars::new(map(json!({}))).with_overlay(extra);
    let t = Templar::default();
    let out = t
        .render_template_file(
            "consul.json.j2",
            &std::fs::read_to_string(&src).unwrap(),
            &v,
        )
        .unwrap();
    assert_eq!(out.value, "# Ansible managed from consul.json.j2\n");
    assert_eq!(
        v.get("template_destpath"),
        Some(&json!("/etc/consul.d/consul.json"))
    );
    assert!(v.get("template_uid").is_some());
}

struct ManyHosts(usize);

impl HostVarsSource for ManyHosts {
    fn host_names(&self) -> Vec<String> {
        (0..self.0)
            .map(|i| format!("10.10.{}.{}", i / 250, i % 250))
            .collect()
    }
    fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let last: usize = host.rsplit('.').next()?.parse().ok()?;
        let third: usize = host.split('.').nth(2)?.parse().ok()?;
        let i = third * 250 + last;
        Some(map(json!({
            "pg_cluster": format!("pg-c{}", i / 3), "pg_seq": i % 3 + 1, "pg_role": if i.is_multiple_of(3) { "primary" } else { "replica" },
            "inventory_hostname": host, "pg_instance": "{{ pg_cluster }}-{{ pg_seq }}"
        })))
    }
}

#[test]
fn rendering_a_targets_file_over_a_large_inventory_is_fast() {
    let t = Templar::default();
    let v =
        Vars::new(map(json!({"target_cluster": "pg-c7"}))).with_hostvars(Arc::new(ManyHosts(1000)));
    let tpl = "{% for m in hostvars.values() | selectattr('pg_cluster', 'equalto', target_cluster) | sort(attribute='pg_seq') %}- {{ m.pg_instance }} @ {{ m.inventory_hostname }}\n{% endfor %}";
    let start = std::time::Instant::now();
    let out = t.render_template_file("t.j2", tpl, &v).unwrap().value;
    let elapsed = start.elapsed();
    println!("1000-host hostvars scan: {elapsed:?}");
    assert_eq!(
        out,
        "- pg-c7-1 @ 10.10.0.21\n- pg-c7-2 @ 10.10.0.22\n- pg-c7-3 @ 10.10.0.23\n"
    );
    let start = std::time::Instant::now();
    for _ in 0..1000 {
        t.template_value(&json!("{{ target_cluster }}-{{ 1 + 1 }}"), &v, None)
            .unwrap();
    }
    println!("1000 value templatings: {:?}", start.elapsed());
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
}
