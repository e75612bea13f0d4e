//! Bad inventories give diagnostics naming file:line:col, quoting the line, and saying what to
//! do — never a panic.
#![allow(clippy::unwrap_used)]

use drover_inventory::Inventory;

fn load_err(name: &str, text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let e = Inventory::load(std::slice::from_ref(&path)).unwrap_err();
    let location = e.location().unwrap_or_default();
    let rendered = e.to_string();
    let file = path.display().to_string();
    (location.replace(&file, name), rendered.replace(&file, name))
}

#[test]
fn hosts_as_a_list_points_at_the_list() {
    let (loc, text) = load_err(
        "inv.yml",
        "all:\n  children:\n    web:\n      hosts:\n        - web1\n        - web2\n",
    );
    assert_eq!(loc, "inv.yml:5:9");
    assert!(
        text.contains("`hosts` of group `web` must be a mapping, found a list"),
        "{text}"
    );
    assert!(text.contains("5 |         - web1"), "{text}");
    assert!(
        text.contains("help: list hosts as keys of a mapping"),
        "{text}"
    );
}

#[test]
fn group_that_is_a_string_is_an_error() {
    let (loc, text) = load_err("inv.yml", "all:\n  children:\n    web: web1\n");
    assert_eq!(loc, "inv.yml:3:10");
    assert!(text.contains("group `web` must be a mapping"), "{text}");
}

#[test]
fn host_vars_that_are_not_a_mapping() {
    let (loc, text) = load_err("inv.yml", "web:\n  hosts:\n    web1: 10.0.0.1\n");
    assert_eq!(loc, "inv.yml:3:11");
    assert!(
        text.contains(
            "host `web1` in group `web` must have a mapping of variables, found a string"
        ),
        "{text}"
    );
}

#[test]
fn unknown_group_key_suggests_the_right_one() {
    let (loc, text) = load_err("inv.yml", "web:\n  host:\n    web1: {}\n");
    assert_eq!(loc, "inv.yml:2:3");
    assert!(text.contains("did you mean `hosts`?"), "{text}");
}

#[test]
fn numeric_host_keys_must_be_quoted() {
    let (loc, text) = load_err("inv.yml", "web:\n  hosts:\n    12: {}\n");
    assert_eq!(loc, "inv.yml:3:5");
    assert!(
        text.contains("enclose integers and floats in quotation marks"),
        "{text}"
    );
}

#[test]
fn group_loops_are_refused() {
    let (_, text) = load_err(
        "inv.yml",
        "a:\n  children:\n    b:\n      children:\n        a:\n",
    );
    assert!(text.contains("creates a loop"), "{text}");
}

#[test]
fn bad_group_priority_and_bad_ranges() {
    let (loc, _) = load_err(
        "inv.yml",
        "web:\n  vars:\n    ansible_group_priority: high\n",
    );
    assert_eq!(loc, "inv.yml:3:29");
    let (loc, text) = load_err("inv.yml", "web:\n  hosts:\n    n[01:3]: {}\n");
    assert_eq!(loc, "inv.yml:3:5");
    assert!(text.contains("equal-length"), "{text}");
}

#[test]
fn plugin_configs_and_yaml_syntax_errors() {
    let (_, text) = load_err("inv.yml", "plugin: aws_ec2\n");
    assert!(text.contains("inventory plugin configuration"), "{text}");
    let (loc, _) = load_err("inv.yml", "all:\n  hosts: {a: [}\n");
    assert!(loc.starts_with("inv.yml:2:"), "{loc}");
}

#[test]
fn ini_errors_name_the_line() {
    let (loc, text) = load_err("hosts.ini", "[web]\nweb1 ansible_port\n");
    assert_eq!(loc, "hosts.ini:2:1");
    assert!(
        text.contains("expected `key=value` host variable assignment, got `ansible_port`"),
        "{text}"
    );
    let (loc, _) = load_err("hosts.ini", "[web]\nw1\n\n[db:vars]\nx=1\n");
    assert_eq!(loc, "hosts.ini:4:1");
    let (loc, text) = load_err("hosts", "[web\nw1\n");
    assert_eq!(loc, "hosts:1:1");
    assert!(text.contains("also not a YAML inventory"), "{text}");
}

#[test]
fn missing_sources_and_vars_files() {
    let e = Inventory::load(&["/nonexistent/inventory.yml".into()]).unwrap_err();
    assert!(e.message.contains("does not exist"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.yml"), "web:\n  hosts:\n    w1:\n").unwrap();
    std::fs::create_dir(dir.path().join("group_vars")).unwrap();
    std::fs::write(dir.path().join("group_vars/web.yml"), "just a string\n").unwrap();
    let e = Inventory::load(&[dir.path().join("inv.yml")]).unwrap_err();
    assert!(e.location().unwrap().ends_with("group_vars/web.yml:1:1"));
}

#[test]
fn group_and_host_with_the_same_name_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts");
    std::fs::write(&path, "[web]\nweb\n").unwrap();
    let loaded = Inventory::load(&[path]).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(
        loaded.warnings[0].message,
        "found both group and host with same name: web"
    );
    assert_eq!(loaded.inventory.select("web").unwrap().hosts, ["web"]);
}
