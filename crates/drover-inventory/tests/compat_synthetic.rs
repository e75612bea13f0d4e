//! A synthetic inventory exercising what Pigsty's does not: a directory source mixing an
//! extensionless INI file and a YAML file, a second `-i` source, host ranges (numeric, padded,
//! stride, alphabetic), ports, `group_vars/`/`host_vars/` files and directories beside both
//! sources and beside the playbook, `ansible_group_priority`, group depth, hash replacement,
//! implicit localhost, and a table of host patterns and limits — all compared with
//! ansible-core 2.18 (`ansible-inventory` and the InventoryManager/VariableManager API).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use drover_inventory::{Inventory, to_python_json};
use support::*;

fn sources() -> Vec<PathBuf> {
    let base = fixtures().join("synthetic");
    vec![base.join("inventory"), base.join("second/extra.ini")]
}

fn playbook_dir() -> PathBuf {
    fixtures().join("synthetic/playbook")
}

fn selections() -> Vec<(String, Option<String>)> {
    let limit_file = format!("@{}", fixtures().join("synthetic/limit.txt").display());
    [
        ("all", None),
        ("*", None),
        ("web", None),
        ("web:db", None),
        ("web,db", None),
        ("web:&mixed", None),
        ("app:!db", None),
        ("web:!web1:&app", None),
        ("!web", None),
        ("&cache", None),
        ("~web[12]", None),
        ("~(?!web).*1$", None),
        ("db0?", None),
        ("cache-*.example.com", None),
        ("web[0]", None),
        ("web[1:2]", None),
        ("web[-1]", None),
        ("web[3:]", None),
        ("app[0:0]", None),
        ("web[1-2]", None),
        ("web[9]", None),
        ("nosuch", None),
        ("nosuch:web1", None),
        ("localhost", None),
        ("127.0.0.1", None),
        ("::1", None),
        ("ungrouped", None),
        ("fe80::1", None),
        ("deep", None),
        ("web1 db01", None),
        ("all:!ungrouped", None),
        ("*[0]", None),
        ("web*[1:]", None),
        ("~^db", None),
        ("DB01", None),
        ("web1:web1:web", None),
        ("!nosuch", None),
        ("ungr*", None),
        ("localhost:web", None),
        ("cache-?.example.com:&~.*b.*", None),
        ("10.0.0.*", None),
        ("app:&mixed:!db", None),
        ("all", Some("web")),
        ("app", Some("!db01,!web2")),
        ("all", Some(limit_file.as_str())),
        ("web", Some("db")),
        ("all", Some("nosuch")),
    ]
    .into_iter()
    .map(|(p, l)| (p.to_string(), l.map(str::to_string)))
    .collect()
}

fn load() -> Inventory {
    let loaded = Inventory::load(&sources()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let mut inv = loaded.inventory;
    let w = inv.set_playbook_dir(Some(&playbook_dir())).unwrap();
    assert!(w.is_empty(), "{w:?}");
    inv
}

#[test]
fn synthetic_inventory_equals_committed_ansible_output() {
    let view = drover_view(&load(), &selections());
    let mut expected = expected("synthetic.json");
    expected["selections_input"] = serde_json::json!(selections());
    assert_same_view(&view, &expected, "synthetic");
}

#[test]
fn synthetic_inventory_equals_live_ansible() {
    let Some(bin) = require_ansible("synthetic_inventory_equals_live_ansible") else {
        return;
    };
    let live = ansible_view(&bin, &sources(), Some(&playbook_dir()), &selections());
    let view = drover_view(&load(), &selections());
    assert_same_view(&view, &live, "synthetic");
    assert_eq!(
        to_python_json(&view["list"]),
        live["list_text"].as_str().unwrap(),
        "--list text"
    );
    check_or_update_expected("synthetic.json", &committed_form(live));

    // The CLI paths too: `--graph GROUP` and `--host HOST` (text and values).
    let mut args: Vec<String> = Vec::new();
    for s in sources() {
        args.extend(["-i".to_string(), s.display().to_string()]);
    }
    args.extend([
        "--playbook-dir".to_string(),
        playbook_dir().display().to_string(),
    ]);
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        ansible_inventory(&bin, &a)
    };
    let inv = load();
    assert_eq!(
        inv.graph("app").unwrap(),
        run(&["--graph", "app"]).trim_end()
    );
    for host in ["web1", "db05", "shared", "localhost"] {
        let theirs = run(&["--host", host]);
        let ours = inv.host_json(host).unwrap();
        assert_eq!(to_python_json(&ours), theirs.trim_end(), "--host {host}");
    }
}

#[test]
fn precedence_layers_show_in_level() {
    // `level` is set at every layer; each host shows the highest one that applies to it.
    let inv = load();
    let level = |h: &str| inv.host_vars(h).unwrap()["level"].clone();
    assert_eq!(level("web1"), "inv-hv-web1"); // inventory host_vars
    assert_eq!(level("web2"), "play-hv-web2"); // playbook host_vars beat everything
    assert_eq!(level("web3"), "second-gv-web"); // later source's group_vars/web
    assert_eq!(level("db01"), "inv-hv-db01"); // extensionless host_vars file
    assert_eq!(level("db03"), "play-gv-db"); // playbook group_vars beat inventory ones
    assert_eq!(level("db05"), "db05-host"); // inventory host var beats group_vars
    assert_eq!(level("lonely"), "play-gv-all");
    assert_eq!(inv.host_vars("shared").unwrap()["who"], "alpha"); // priority 20 beats name order
    // hash_behaviour=replace: group_vars/web/b.yml's `d` replaces the whole all-level dict.
    assert_eq!(
        inv.host_vars("web3").unwrap()["d"],
        serde_json::json!({"a": 10})
    );
}
