//! A 2,000-host, 200-cluster inventory (Pigsty shape) loads, resolves and lists quickly.
#![allow(clippy::unwrap_used)]

use std::fmt::Write;
use std::time::Instant;

use drover_inventory::Inventory;

#[test]
fn two_thousand_hosts_load_and_list_quickly() {
    let mut text = String::from("all:\n  vars:\n    global: 1\n  children:\n");
    for c in 0..200 {
        writeln!(
            text,
            "    pg-c{c}:\n      vars: {{pg_cluster: pg-c{c}}}\n      hosts:"
        )
        .unwrap();
        for i in 0..10 {
            writeln!(
                text,
                "        10.{}.{}.{i}: {{pg_seq: {i}, pg_role: replica}}",
                c / 250,
                c % 250
            )
            .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yml");
    std::fs::write(&path, text).unwrap();

    let start = Instant::now();
    let inv = Inventory::load(&[path]).unwrap().inventory;
    let loaded = start.elapsed();
    assert_eq!(inv.hosts().len(), 2000);
    let sel = inv.select("pg-c1?:!pg-c10").unwrap();
    assert_eq!(sel.hosts.len(), 90);
    let list = inv.list_json().unwrap();
    assert_eq!(list["_meta"]["hostvars"].as_object().unwrap().len(), 2000);
    assert_eq!(inv.groups_map()["all"].as_array().unwrap().len(), 2000);
    for host in inv.hosts() {
        let magic = inv.host_magic_vars(host);
        assert_eq!(magic["group_names"].as_array().unwrap().len(), 1);
        assert_eq!(inv.host_vars(host).unwrap()["global"], 1);
    }
    let total = start.elapsed();
    eprintln!("2000 hosts: load {loaded:?}, load+select+list+all vars {total:?}");
    assert!(total.as_secs() < 20, "too slow: {total:?}");
}

#[test]
fn inventory_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Inventory>();
}
