#![allow(clippy::unwrap_used)]
//! A run that uses a sandbox's connection file reaches hosts at loopback addresses only: the
//! committed Pigsty inventory (10.10.10.x) combined with the connection file of another sandbox
//! (10.10.11.x, as `drover sandbox --name bench` writes it) stops before any node is touched,
//! instead of connecting to 10.10.10.x for real; a templated address outside loopback fails
//! its host when it is connected.
//!
//! Safety net for the test itself: every host without a sandbox mapping also gets
//! `-o ProxyCommand=false`, so even a broken guard would start `false` instead of sending
//! anything to a non-loopback address; the sandbox's own nodes point at the closed port 9.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drover_sandbox::inventory::{NodeEndpoint, connection_inventory};

/// A connection file for sandbox `guardtest` with nodes 10.10.11.10-13 on 127.0.0.1:9, and
/// the safety net file.
fn connection_files(dir: &Path) -> (PathBuf, PathBuf) {
    let nodes: Vec<NodeEndpoint<'_>> = ["meta", "node-1", "node-2", "node-3"]
        .iter()
        .enumerate()
        .map(|(i, hostname)| NodeEndpoint {
            hostname,
            address: format!("10.10.11.{}", 10 + i),
            port: 9,
        })
        .collect();
    let text = connection_inventory(
        "guardtest",
        &nodes,
        Path::new("/nonexistent/key"),
        Path::new("/nonexistent/known_hosts"),
        Path::new("/nonexistent/cache"),
    );
    assert!(text.contains("drover_sandbox: guardtest"), "{text}");
    let connection = file(dir, "connection.yml", &text);
    let safety = file(
        dir,
        "safety.yml",
        "all:\n  vars:\n    ansible_ssh_common_args: '-o ProxyCommand=false'\n",
    );
    (connection, safety)
}

/// `drover play -i INVENTORY… [EXTRA…] PLAYBOOK`.
fn play(inventories: &[&Path], extra: &[&str], playbook: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drover"));
    cmd.arg("play");
    for inventory in inventories {
        cmd.arg("-i").arg(inventory);
    }
    cmd.args(extra)
        .arg(playbook)
        .env_remove("DROVER_INVENTORY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Writes `text` to `dir/name`.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A playbook that pings `hosts`.
fn ping_book(dir: &Path, hosts: &str) -> PathBuf {
    file(
        dir,
        &format!("ping-{}.yml", hosts.replace(',', "_")),
        &format!("- hosts: {hosts}\n  gather_facts: false\n  tasks:\n    - ping:\n"),
    )
}

#[test]
fn another_inventory_with_a_sandbox_connection_file_is_refused_before_any_node_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (connection, safety) = connection_files(dir.path());
    let pigsty = Path::new("inventory/sandbox.yml");
    let infra = Path::new("playbooks/infra.yml");
    let out = play(&[pigsty, &connection, &safety], &[], infra);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{stdout}");
    for host in ["10.10.10.10", "10.10.10.11", "10.10.10.12", "10.10.10.13"] {
        assert!(
            stderr.contains(&format!(
                "host `{host}` would be reached at {host}, outside drover sandbox `guardtest`"
            )),
            "{stderr}"
        );
    }
    // each error points at the host's line in the committed inventory
    let text = std::fs::read_to_string(pigsty).unwrap();
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("10.10.10.10:"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("inventory/sandbox.yml:{line}:")),
        "{stderr}"
    );
    assert!(
        stderr.contains("-i .sandbox/guardtest/inventory.yml -i .sandbox/guardtest/connection.yml"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "4 hosts of this run would be reached outside the sandbox; no node was touched"
        ),
        "{stderr}"
    );
    assert!(!stdout.contains("PLAY ["), "{stdout}");

    // hosts the run does not select are not refused: `-l` to a sandbox node goes ahead (and
    // finds it unreachable on the closed port)
    let out = play(
        &[pigsty, &connection, &safety],
        &["-l", "10.10.11.10"],
        infra,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(!stderr.contains("outside drover sandbox"), "{stderr}");

    // the connection file with its own nodes only: the guard lets the run go (the nodes are
    // on a closed loopback port here, so they are unreachable, which is exit code 4)
    let own = file(
        dir.path(),
        "own.yml",
        "all:\n  hosts:\n    10.10.11.10:\n    10.10.11.11:\n",
    );
    let out = play(
        &[&own, &connection, &safety],
        &[],
        &ping_book(dir.path(), "all"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("UNREACHABLE"), "{stdout}");

    // an ssh option that would redirect a sandbox node's connection fails that host
    let redirected = file(
        dir.path(),
        "redirected.yml",
        "all:\n  hosts:\n    10.10.11.10:\n      ansible_ssh_common_args: '-o ProxyCommand=false'\n    10.10.11.11:\n      ansible_ssh_common_args: '-J vagrant@127.0.0.1,10.0.0.1'\n",
    );
    let out = play(
        &[&connection, &redirected, &safety],
        &[],
        &ping_book(dir.path(), "10.10.11.10,10.10.11.11"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("host `10.10.11.10`: ssh option `ProxyCommand=false` would take the connection outside drover sandbox `guardtest`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "host `10.10.11.11` would be reached at 10.0.0.1, outside drover sandbox `guardtest`"
        ),
        "{stdout}"
    );
}

#[test]
fn a_templated_address_outside_loopback_fails_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let (connection, safety) = connection_files(dir.path());
    let inventory = file(
        dir.path(),
        "templated.yml",
        "all:\n  hosts:\n    far:\n      ansible_host: '{{ real_address }}'\n      real_address: 10.10.10.99\n",
    );
    let out = play(
        &[&inventory, &connection, &safety],
        &[],
        &ping_book(dir.path(), "far"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "host `far` would be reached at 10.10.10.99, outside drover sandbox `guardtest`"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("failed=1"), "{stdout}");
}
