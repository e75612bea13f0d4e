//! Property tests: no input makes the pattern resolver, the INI reader, range expansion or
//! the literal reader panic; they answer or return an error.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::LazyLock;

use drover_inventory::{
    Inventory, expand_host_pattern, literal_eval, shlex_split, split_host_pattern,
};
use proptest::prelude::*;

static INV: LazyLock<Inventory> = LazyLock::new(|| {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/synthetic");
    Inventory::load(&[base.join("inventory"), base.join("second/extra.ini")])
        .unwrap()
        .inventory
});

fn pattern_text() -> impl Strategy<Value = String> {
    // Pattern-ish alphabet (so the interesting paths run) plus arbitrary text.
    prop_oneof![
        proptest::string::string_regex(r"[a-z0-9!&~:,*?\[\]\-\.\(\)\^\$\\ |+{}@]{0,24}").unwrap(),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn patterns_never_panic(p in pattern_text()) {
        let _ = split_host_pattern(&p);
        if let Ok(sel) = INV.select(&p) {
            for h in &sel.hosts {
                prop_assert!(INV.has_host(h) || drover_inventory::LOCALHOST_NAMES.contains(&h.as_str()));
            }
        }
        let mut inv = INV.clone();
        if !p.starts_with('@') && !p.contains(",@") && inv.set_limit(Some(&p)).is_ok() {
            let _ = inv.select("all");
        }
    }

    #[test]
    fn ini_inventories_never_panic(text in prop_oneof![
        proptest::string::string_regex(r"(\[[a-z:]{0,12}\]\n|[a-z0-9\[\]:=' \x22#;\-]{0,30}\n){0,8}").unwrap(),
        any::<String>(),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.ini");
        std::fs::write(&path, &text).unwrap();
        if let Ok(loaded) = Inventory::load(&[path]) {
            let inv = loaded.inventory;
            let _ = inv.list_json();
            for h in inv.hosts() {
                let _ = inv.host_vars(h);
            }
        }
    }

    #[test]
    fn ranges_and_literals_never_panic(s in any::<String>(), r in r"[a-z]{0,3}\[[0-9a-z:\-]{0,8}\][a-z\[\]0-9:]{0,6}") {
        let _ = expand_host_pattern(&s);
        let _ = expand_host_pattern(&r);
        let _ = literal_eval(&s);
        let _ = shlex_split(&s);
    }
}
