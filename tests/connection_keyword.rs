#![allow(clippy::unwrap_used)]
//! The play keyword `connection: local` runs the play's tasks on the controller, as in Ansible
//! (Pigsty's identity plays use it); a host's own `ansible_connection` still wins over it.
//! The hosts point at a closed port on 127.0.0.1, so an SSH attempt fails as unreachable.

use std::process::{Command, Output};

const INVENTORY: &str = "all:
  hosts:
    plain: {ansible_host: 127.0.0.1, ansible_port: 9}
    pinned: {ansible_host: 127.0.0.1, ansible_port: 9, ansible_connection: ssh}
";

const PLAYBOOK: &str = "- hosts: all
  gather_facts: true
  connection: local
  tasks:
    - name: where am I
      command: cat /proc/sys/kernel/hostname
      register: where
    - name: same machine as the controller
      assert:
        that: where.stdout == lookup('file', '/proc/sys/kernel/hostname')
";

fn run(dir: &std::path::Path) -> Output {
    std::fs::write(dir.join("inventory.yml"), INVENTORY).unwrap();
    std::fs::write(dir.join("play.yml"), PLAYBOOK).unwrap();
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["play", "-i", "inventory.yml", "play.yml"])
        .current_dir(dir)
        .env_remove("DROVER_INVENTORY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn play_connection_local_runs_on_the_controller_unless_the_host_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "plain                      : ok=3    changed=1    unreachable=0    failed=0"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "pinned                     : ok=0    changed=0    unreachable=1    failed=0"
        ),
        "{stdout}"
    );
    // exit code 4: a host was unreachable (ansible-playbook's)
    assert_eq!(out.status.code(), Some(4), "{stdout}");
}
