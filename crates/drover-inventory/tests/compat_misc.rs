//! Small inventories for the corners: INI ports, `[ungrouped]`, children declared before
//! their group, alphabetic and stride ranges, typed and empty `:vars`; YAML `hosts: name`
//! shorthand, string `children`/`vars`, top-level groups, hosts directly under `all`, port in
//! a host key, anchors and merge keys, empty groups; an extensionless YAML file; a JSON file;
//! an empty file; a directory source with ignored files and a subdirectory; a host list.
//! Each is compared with `ansible-inventory --list/--graph` and the oracle.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use drover_inventory::{Inventory, to_python_json};
use serde_json::{Map, Value};
use support::*;

fn cases() -> Vec<(&'static str, Vec<PathBuf>)> {
    let m = fixtures().join("misc");
    vec![
        ("edge.ini", vec![m.join("edge.ini")]),
        ("edge.yml", vec![m.join("edge.yml")]),
        ("noext", vec![m.join("noext")]),
        ("inv.json", vec![m.join("inv.json")]),
        ("empty+json", vec![m.join("empty.yml"), m.join("inv.json")]),
        ("dir", vec![m.join("dir")]),
        (
            "hostlist",
            vec![PathBuf::from("web1,web2:2222,[::1]:22,node[1:2],")],
        ),
    ]
}

fn drover(sources: &[PathBuf]) -> Value {
    let inv = Inventory::load(sources).unwrap().inventory;
    drover_view(&inv, &[])
}

#[test]
fn small_inventories_equal_committed_ansible_output() {
    let expected = expected("misc.json");
    for (name, sources) in cases() {
        let mut want = expected[name].clone();
        want["selections_input"] = Value::Array(Vec::new());
        assert_same_view(&drover(&sources), &want, name);
    }
}

#[test]
fn small_inventories_equal_live_ansible() {
    let Some(bin) = require_ansible("small_inventories_equal_live_ansible") else {
        return;
    };
    let mut all = Map::new();
    for (name, sources) in cases() {
        let live = ansible_view(&bin, &sources, None, &[]);
        let ours = drover(&sources);
        assert_same_view(&ours, &live, name);
        assert_eq!(
            to_python_json(&ours["list"]),
            live["list_text"].as_str().unwrap(),
            "{name}: --list text"
        );
        all.insert(name.to_string(), committed_form(live));
    }
    check_or_update_expected("misc.json", &Value::Object(all));
}
