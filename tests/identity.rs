#![allow(clippy::unwrap_used)]
//! Pigsty identity is checked before any node is touched: a broken inventory stops
//! `./playbooks/infra.yml` and `./playbooks/pgsql.yml` with errors that name the host and point at its inventory line.
//! (The copies of the sandbox inventory point every host at 127.0.0.1:9, so a run that went
//! ahead by mistake would fail as unreachable instead of connecting anywhere.)

use std::path::Path;
use std::process::{Command, Output};

/// The committed sandbox inventory with `from` replaced by `to`, every host sent to a closed
/// loopback port.
fn inventory_with(dir: &Path, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string("inventory/sandbox.yml").unwrap();
    assert!(
        text.contains(from),
        "inventory/sandbox.yml no longer has `{from}`"
    );
    let text = text.replace(from, to).replace(
        "    ansible_user: vagrant\n",
        "    ansible_user: vagrant\n    ansible_host: 127.0.0.1\n    ansible_port: 9\n",
    );
    let path = dir.join("pigsty.yml");
    std::fs::write(&path, text).unwrap();
    path
}

fn play(inventory: &Path, extra: &[&str]) -> Output {
    play_book("playbooks/infra.yml", inventory, extra)
}

fn play_book(playbook: &str, inventory: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg("-i")
        .arg(inventory)
        .arg(playbook)
        .args(extra)
        .env_remove("DROVER_INVENTORY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn two_primaries_stop_the_run_before_any_node_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory_with(
        dir.path(),
        "10.10.10.12: {pg_seq: 2, pg_role: replica}",
        "10.10.10.12: {pg_seq: 2, pg_role: primary}",
    );
    let runs = [
        ("playbooks/infra.yml", &[][..]),
        ("playbooks/infra.yml", &["-C"][..]),
        ("playbooks/infra.yml", &["-t", "register"][..]),
        ("playbooks/pgsql.yml", &[][..]),
        (
            "playbooks/pgsql.yml",
            &["-l", "pg-test", "-t", "pg_hba"][..],
        ),
    ];
    for (playbook, extra) in runs {
        let out = play_book(playbook, &inv, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{playbook} {extra:?}\n{stderr}\n{stdout}"
        );
        assert!(
            stderr.contains("cluster `pg-test` has 2 primaries (10.10.10.11, 10.10.10.12)"),
            "{stderr}"
        );
        let line = line_of(&inv, "10.10.10.12: {pg_seq: 2, pg_role: primary}");
        assert!(
            stderr.contains(&format!("{}:{line}:", inv.display())),
            "no file:line in\n{stderr}"
        );
        assert!(stderr.contains("no node was touched"), "{stderr}");
        assert!(!stdout.contains("PLAY"), "a play started:\n{stdout}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory_with(dir.path(), "pg_cluster: pg-meta", "pg_cluster: pg.meta");
    let text = std::fs::read_to_string(&inv).unwrap();
    let text = text
        .replace(
            "10.10.10.13: {pg_seq: 3, pg_role: replica}",
            "10.10.10.13: {pg_seq: 2, pg_role: standby}",
        )
        .replace(
            "meta-1: 10.10.10.10",
            "meta-1: 10.10.10.10\n      meta-2: 10.10.10.20",
        );
    std::fs::write(&inv, text).unwrap();
    let out = play(&inv, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for want in [
        "host `10.10.10.10`: pg_cluster `pg.meta` is not a valid cluster name",
        "host `10.10.10.13`: pg_role `standby` is not one of primary, replica, offline, delayed",
        "dcs_servers: `meta-2` (10.10.10.20) is not a host of the inventory",
        "dcs_servers has 2 servers",
        "(3 problems); no node was touched",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in\n{stderr}");
    }
}
