//! `lookup('drover_var_origin', name)`: where the inventory writes the current host's variable,
//! read from the `HostVarsSource`; `""` when unknown.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use drover_template::{HostVarsSource, Templar, Vars};
use serde_json::{Map, Value, json};

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Two hosts of the sandbox inventory, with the places their `pg_role`/`pg_seq` are written.
struct Sandbox;

impl HostVarsSource for Sandbox {
    fn host_names(&self) -> Vec<String> {
        vec!["10.10.10.11".into(), "10.10.10.12".into()]
    }
    fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let role = match host {
            "10.10.10.11" => "primary",
            "10.10.10.12" => "replica",
            _ => return None,
        };
        Some(map(json!({
            "inventory_hostname": host, "pg_role": role,
            "where": "{{ lookup('drover_var_origin', 'pg_role') }}"
        })))
    }
    fn var_origin(&self, host: &str, var: &str) -> Option<String> {
        let line = match host {
            "10.10.10.11" => 58,
            "10.10.10.12" => 59,
            _ => return None,
        };
        let col = match var {
            "pg_seq" => 31,
            "pg_role" => 43,
            _ => return None,
        };
        Some(format!("inventory/sandbox.yml:{line}:{col}"))
    }
}

/// A source that keeps the trait's default `var_origin`.
struct NoPlaces;

impl HostVarsSource for NoPlaces {
    fn host_names(&self) -> Vec<String> {
        vec!["10.10.10.11".into()]
    }
    fn host_vars(&self, _host: &str) -> Option<Map<String, Value>> {
        Some(Map::new())
    }
}

fn eval(vars: &Vars, expr: &str) -> Value {
    Templar::default()
        .template_value(&json!(expr), vars, None)
        .unwrap()
        .value
}

fn host_11() -> Vars {
    Vars::new(map(
        json!({"inventory_hostname": "10.10.10.11", "pg_role": "primary"}),
    ))
    .with_hostvars(Arc::new(Sandbox))
}

#[test]
fn names_the_current_hosts_variable() {
    let v = host_11();
    assert_eq!(
        eval(&v, "{{ lookup('drover_var_origin', 'pg_role') }}"),
        json!("inventory/sandbox.yml:58:43")
    );
    assert_eq!(
        eval(
            &v,
            "pg_role at {{ lookup('drover_var_origin', 'pg_role') }} says {{ pg_role }}"
        ),
        json!("pg_role at inventory/sandbox.yml:58:43 says primary")
    );
}

#[test]
fn several_terms_give_one_place_each() {
    let v = host_11();
    assert_eq!(
        eval(&v, "{{ query('drover_var_origin', 'pg_seq', 'pg_role') }}"),
        json!(["inventory/sandbox.yml:58:31", "inventory/sandbox.yml:58:43"])
    );
    assert_eq!(
        eval(&v, "{{ lookup('drover_var_origin', ['pg_seq', 'nope']) }}"),
        json!("inventory/sandbox.yml:58:31,")
    );
}

#[test]
fn unknown_places_are_empty_text() {
    let v = host_11();
    assert_eq!(
        eval(&v, "{{ lookup('drover_var_origin', 'nope') }}"),
        json!("")
    );
    assert_eq!(
        eval(
            &v,
            "{{ lookup('drover_var_origin', 'nope') or 'the inventory' }}"
        ),
        json!("the inventory")
    );
    // no inventory_hostname, no hostvars source, a source without places
    let no_host = Vars::new(map(json!({}))).with_hostvars(Arc::new(Sandbox));
    let no_source = Vars::new(map(json!({"inventory_hostname": "10.10.10.11"})));
    let no_places = Vars::new(map(json!({"inventory_hostname": "10.10.10.11"})))
        .with_hostvars(Arc::new(NoPlaces));
    for v in [no_host, no_source, no_places] {
        assert_eq!(
            eval(&v, "{{ lookup('drover_var_origin', 'pg_role') }}"),
            json!("")
        );
    }
}

#[test]
fn a_hostvars_value_names_its_own_hosts_place() {
    let v = host_11();
    assert_eq!(
        eval(&v, "{{ hostvars['10.10.10.12'].where }}"),
        json!("inventory/sandbox.yml:59:43")
    );
}

#[test]
fn unsupported_lookup_errors_list_it() {
    let err = Templar::default()
        .template_value(&json!("{{ lookup('redis', 'k') }}"), &host_11(), None)
        .unwrap_err();
    assert!(
        err.message
            .contains("supported: file, template, env, vars, drover_var_origin"),
        "{err}"
    );
}
