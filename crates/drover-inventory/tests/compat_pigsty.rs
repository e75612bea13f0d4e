//! The real Pigsty inventories load unmodified and `drover`'s view of them equals
//! ansible-core 2.18's: `ansible-inventory --list` (values and exact text), `--graph`, every
//! host's variables, `group_names`, `groups`, and a few pattern selections.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use drover_inventory::{Inventory, to_python_json};
use support::*;

const VERSIONS: [&str; 2] = ["pigsty-v0.9.0", "pigsty-v1.0.0"];

fn selections() -> Vec<(String, Option<String>)> {
    [
        ("all", None),
        ("meta", None),
        ("pg-test", None),
        ("pg-*:!meta", None),
        ("pg-test[0]", None),
        ("pg-test[1:]", None),
        ("10.10.10.1*", None),
        ("all", Some("pg-test[-1]")),
        ("pg-meta:pg-test", Some("!10.10.10.11")),
        ("nosuch:meta", None),
        ("localhost", None),
        ("meta:localhost", None),
    ]
    .into_iter()
    .map(|(p, l)| (p.to_string(), l.map(str::to_string)))
    .collect()
}

fn source(version: &str) -> PathBuf {
    fixtures().join("pigsty").join(format!("{version}.yml"))
}

fn load(version: &str) -> Inventory {
    let loaded = Inventory::load(&[source(version)]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.inventory
}

#[test]
fn pigsty_inventories_equal_committed_ansible_output() {
    for version in VERSIONS {
        let inv = load(version);
        let view = drover_view(&inv, &selections());
        let mut expected = expected(&format!("{version}.json"));
        expected["selections_input"] = serde_json::json!(selections());
        assert_same_view(&view, &expected, version);
    }
}

#[test]
fn host_spans_point_at_the_first_definition() {
    let inv = load("pigsty-v1.0.0");
    let span = inv.host_span("10.10.10.10").unwrap();
    // First appearance: under the `meta` group, before `pg-meta`.
    assert_eq!(span.text(), "10.10.10.10");
    assert!(
        span.source
            .line(span.line_col().0)
            .contains("10.10.10.10: {}")
    );
    let span = inv.host_span("10.10.10.12").unwrap();
    assert!(
        span.location()
            .ends_with(&format!(":{}:9", span.line_col().0))
    );
    assert!(inv.host_span("localhost").is_none());
    assert_eq!(inv.group_names("10.10.10.10"), ["meta", "pg-meta"]);
    let conn = inv.connection("10.10.10.11").unwrap();
    assert_eq!(conn.address, "10.10.10.11");
}

#[test]
fn pigsty_inventories_equal_live_ansible_inventory() {
    let Some(bin) = require_ansible("pigsty_inventories_equal_live_ansible_inventory") else {
        return;
    };
    for version in VERSIONS {
        let live = ansible_view(&bin, &[source(version)], None, &selections());
        let inv = load(version);
        let view = drover_view(&inv, &selections());
        assert_same_view(&view, &live, version);
        assert_eq!(
            to_python_json(&view["list"]),
            live["list_text"].as_str().unwrap(),
            "{version}: --list text"
        );
        check_or_update_expected(&format!("{version}.json"), &committed_form(live));
    }
}
