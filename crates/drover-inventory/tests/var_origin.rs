//! `Inventory::var_origin` on the repository's sandbox inventory (the place a role's warning
//! names, e.g. "pg_role at inventory/sandbox.yml:58:43 says primary").
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use drover_inventory::Inventory;

#[test]
fn sandbox_pg_role_is_the_value_in_the_host_entry() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../inventory/sandbox.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    // `10.10.10.11: {pg_seq: 1, pg_role: primary}`: the line and column of `primary`
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("10.10.10.11: {") && l.contains("pg_role: "))
        .unwrap();
    let col = line.find("pg_role: ").unwrap() + "pg_role: ".len() + 1;
    let inv = Inventory::load(&[path]).unwrap().inventory;
    let origin = inv.var_origin("10.10.10.11", "pg_role").unwrap();
    let expected = format!("/inventory/sandbox.yml:{}:{col}", index + 1);
    assert!(origin.ends_with(&expected), "{origin} vs {expected}");
    assert!(origin.starts_with('/'), "{origin}");
}
