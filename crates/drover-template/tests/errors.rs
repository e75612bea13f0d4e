//! Error messages: they name the variable, point into the template file or YAML scalar, and
//! say what to do.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use std::sync::Arc;

use drover_diag::{Source, Span};
use drover_template::{Condition, Templar, Vars};
use serde_json::{Map, Value, json};

fn vars(v: Value) -> Vars {
    match v {
        Value::Object(m) => Vars::new(m),
        _ => Vars::new(Map::new()),
    }
}

#[test]
fn undefined_in_template_file_names_variable_file_and_line() {
    let t = Templar::default();
    let text = "{\n  \"datacenter\": \"{{ dcs_name }}\",\n  \"node_name\": \"{{ pg_clusterr }}-{{ pg_seq }}\"\n}\n";
    let err = t
        .render_template_file(
            "roles/consul/templates/consul.json.j2",
            text,
            &vars(json!({"dcs_name": "pigsty", "pg_cluster": "pg-test", "pg_seq": 1})),
        )
        .unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert_eq!(err.message, "`pg_clusterr` is undefined");
    assert!(
        shown.contains("roles/consul/templates/consul.json.j2:3:"),
        "{shown}"
    );
    assert!(
        shown.contains("\"node_name\": \"{{ pg_clusterr }}-{{ pg_seq }}\""),
        "{shown}"
    );
    assert!(shown.contains("did you mean `pg_cluster`"), "{shown}");
}

#[test]
fn undefined_inline_points_into_the_yaml_scalar() {
    let t = Templar::default();
    let yaml = "- name: render\n  debug:\n    msg: \"{{ pg_cluster }}-{{ pg_seqq }}\"\n";
    let source = Source::new("roles/x/tasks/main.yml", yaml);
    let start = yaml.find("\"{{").unwrap();
    let end = yaml.rfind('"').unwrap() + 1;
    let span = Span::new(Arc::clone(&source), start, end);
    let err = t
        .template_value(
            &json!("{{ pg_cluster }}-{{ pg_seqq }}"),
            &vars(json!({"pg_cluster": "pg-test", "pg_seq": 1})),
            Some(&span),
        )
        .unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert_eq!(err.message, "`pg_seqq` is undefined");
    let at = err.span.as_ref().unwrap();
    assert_eq!(at.text(), "pg_seqq");
    assert!(shown.contains("roles/x/tasks/main.yml:3:"), "{shown}");
}

#[test]
fn nested_variable_failures_explain_the_chain() {
    let t = Templar::default();
    let v = vars(json!({"pg_instance": "{{ pg_cluster }}-{{ pg_seq }}", "pg_seq": 1}));
    let err = t
        .render_template_file("t.j2", "ins={{ pg_instance }}\n", &v)
        .unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert_eq!(err.message, "`pg_instance` is undefined");
    assert!(shown.contains("`pg_cluster` is undefined"), "{shown}");
    // ... and like Ansible the variable counts as undefined for `default` and `is defined`.
    let out = t
        .render_template_file(
            "t.j2",
            "{{ pg_instance | default('none') }} {{ pg_instance is defined }}",
            &v,
        )
        .unwrap();
    assert_eq!(out.value, "none False");
}

#[test]
fn recursive_loops_are_reported() {
    let t = Templar::default();
    let v = vars(json!({"a": "{{ b }}", "b": "{{ a }}"}));
    let err = t.template_value(&json!("{{ a }}"), &v, None).unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert!(
        err.message
            .contains("recursive loop detected in template string"),
        "{shown}"
    );
    assert!(shown.contains("while templating variable `a`"), "{shown}");
}

#[test]
fn unknown_filters_tests_and_lookups_are_named() {
    let t = Templar::default();
    let v = vars(json!({"x": [1]}));
    let err = t
        .template_value(&json!("{{ x | to_nice_jsn }}"), &v, None)
        .unwrap_err();
    println!("{err}");
    assert_eq!(err.message, "unknown filter `to_nice_jsn`");
    assert!(
        err.help
            .as_deref()
            .unwrap_or("")
            .starts_with("did you mean `to_nice_json`")
    );
    let err = t
        .template_value(&json!("{{ x is succeded }}"), &v, None)
        .unwrap_err();
    assert_eq!(err.message, "unknown test `succeded`");
    // a filter or test named by map/select/selectattr is the one reported, not the caller
    let err = t
        .template_value(&json!("{{ x | map('extrakt', x) | list }}"), &v, None)
        .unwrap_err();
    assert_eq!(err.message, "unknown filter `extrakt`");
    assert!(
        err.help
            .as_deref()
            .unwrap_or("")
            .starts_with("did you mean `extract`")
    );
    let err = t
        .template_value(&json!("{{ x | select('od') | list }}"), &v, None)
        .unwrap_err();
    assert_eq!(err.message, "unknown test `od`");
    let err = t
        .template_value(&json!("{{ lookup('pipe', 'date') }}"), &v, None)
        .unwrap_err();
    assert!(
        err.message
            .contains("lookup plugin `pipe` is not supported by drover"),
        "{err}"
    );
}

#[test]
fn syntax_errors_point_at_the_line() {
    let t = Templar::default();
    let err = t
        .render_template_file(
            "p.yml.j2",
            "a: 1\n{% if x %}\nb: 2\n",
            &vars(json!({"x": true})),
        )
        .unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert!(err.message.starts_with("template syntax error"), "{shown}");
    assert!(shown.contains("p.yml.j2:"), "{shown}");
}

#[test]
fn when_errors_name_the_condition_and_variable() {
    let t = Templar::default();
    let yaml = "  when: pg_role == 'primary'\n";
    let source = Source::new("tasks.yml", yaml);
    let start = yaml.find("pg_role").unwrap();
    let span = Span::new(source, start, yaml.len() - 1);
    let err = t
        .evaluate_when(
            &[Condition::Expr("pg_role == 'primary'".into())],
            &vars(json!({})),
            Some(&span),
        )
        .unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert_eq!(
        err.message,
        "conditional check `pg_role == 'primary'` failed: `pg_role` is undefined"
    );
    assert_eq!(err.span.as_ref().unwrap().text(), "pg_role");
}

#[test]
fn attribute_chains_through_undefined_are_undefined_like_ansible() {
    // Ansible's undefined is chainable for attribute and item access and strict for everything
    // else. Each value below is what ansible-playbook 2.18 gives (`debug: msg=...`).
    let t = Templar::default();
    let v = vars(json!({"svc": {"port": 5, "lst": [1], "s": "str", "nul": null}}));
    let ok = |expr: &str| t.template_value(&json!(expr), &v, None).unwrap().value;
    assert_eq!(
        ok("{{ svc.haproxy.maxconn | default(3000) }}"),
        json!("3000")
    );
    assert_eq!(ok("{{ nope.a.b | default(1) }}"), json!("1"));
    assert_eq!(ok("{{ svc.haproxy.x.y | default(2) }}"), json!("2"));
    assert_eq!(
        ok("{{ svc['haproxy']['maxconn'] | default(4) }}"),
        json!("4")
    );
    assert_eq!(ok("{{ nope['a']['b'] | default(5) }}"), json!("5"));
    assert_eq!(ok("{{ svc.port.x | default(6) }}"), json!("6"));
    assert_eq!(ok("{{ svc.lst[5].a | default(10) }}"), json!("10"));
    assert_eq!(ok("{{ svc.nul.x | default(14) }}"), json!("14"));
    assert_eq!(
        ok("{{ svc.haproxy.maxconn | default(3000) + 1 }}"),
        json!("3001")
    );
    assert_eq!(ok("{{ svc.haproxy.maxconn is defined }}"), json!(false));
    assert_eq!(ok("{{ svc.haproxy.maxconn is undefined }}"), json!(true));
    assert_eq!(ok("{{ nope.a.b is defined }}"), json!(false));
    assert_eq!(ok("{{ svc['haproxy']['x'] is defined }}"), json!(false));
    assert_eq!(
        ok("{{ (svc.haproxy.maxconn | default(1)) if svc.haproxy.a is defined else 12 }}"),
        json!("12")
    );
    // Using the undefined value is an error in Ansible too; drover names the first missing part.
    let err = |expr: &str| t.template_value(&json!(expr), &v, None).unwrap_err();
    for expr in [
        "{{ svc.haproxy.maxconn }}",
        "{{ svc.haproxy.maxconn + 1 }}",
        "{{ (svc.haproxy.maxconn or 7) }}",
        "{{ svc.haproxy.maxconn | string }}",
        "{{ svc.haproxy.a.b.c | mandatory }}",
    ] {
        let e = err(expr);
        println!("{expr}: {e}");
        assert!(
            e.message.contains("svc.haproxy") || e.message.contains("Mandatory"),
            "{expr}: {e}"
        );
    }
    let e = err("{{ d.zz.yy }}");
    assert_eq!(e.message, "`d` is undefined");
    let e = err("{{ svc.zz.yy }}");
    assert_eq!(
        e.message,
        "`svc.zz` is undefined, so `svc.zz.yy` cannot be read"
    );
    let e = err("{{ nope.a.b }}");
    assert_eq!(e.message, "`nope` is undefined");
}

#[test]
fn errors_inside_looked_up_templates_quote_that_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/inner.j2"),
        "line one\nport={{ pg_portt }}\n",
    )
    .unwrap();
    let t = Templar::default();
    let v = vars(json!({"pg_port": 5432})).with_search_paths(vec![dir.path().to_path_buf()]);
    let err = t
        .render_template_file(
            "outer.j2",
            "a\nb={{ lookup('template', 'inner.j2') }}\n",
            &v,
        )
        .unwrap_err();
    let shown = err.to_string();
    println!("{shown}");
    assert_eq!(err.message, "`pg_portt` is undefined");
    assert!(shown.contains("inner.j2:2:9"), "{shown}");
    assert!(shown.contains("while rendering `outer.j2`"), "{shown}");
}

#[test]
fn unsupported_jinja_features_are_refused_by_name() {
    let t = Templar::default();
    let v = vars(json!({}));
    // Python `%` formatting (Ansible/Jinja2 accept it; minijinja does not)
    let err = t
        .template_value(&json!("{{ '%s-%s' % ('pg', 1) }}"), &v, None)
        .unwrap_err();
    assert!(
        err.help
            .as_deref()
            .unwrap()
            .contains("`%` string formatting"),
        "{err}"
    );
    // include/import from a template file
    let err = t
        .render_template_file("a.j2", "{% include 'b.j2' %}", &v)
        .unwrap_err();
    assert!(
        err.help.as_deref().unwrap().contains("{% include %}"),
        "{err}"
    );
    // per-template environment overrides
    let err = t
        .render_template_file("a.j2", "#jinja2: trim_blocks: False\nx\n", &v)
        .unwrap_err();
    assert!(err.message.contains("#jinja2:"), "{err}");
    // globals Ansible has but drover does not implement
    let err = t
        .template_value(&json!("{{ now() }}"), &v, None)
        .unwrap_err();
    assert!(err.message.contains("now"), "{err}");
}
