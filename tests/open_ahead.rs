#![allow(clippy::unwrap_used)]
//! A play without fact gathering starts opening its hosts' ssh connections at its start, so a
//! host that skips the first tasks is connected by the time it has work. These tests put a
//! fake `ssh` first in PATH that records each attempt (with a timestamp) and fails like an
//! unreachable host: nothing goes over the network.

use std::path::Path;
use std::process::{Command, Output};

/// A fake `ssh`: appends `<time> <its arguments>` to `ssh.log`, then fails.
const FAKE_SSH: &str = "#!/bin/sh\n\
printf '%s %s\\n' \"$(date +%s.%N)\" \"$*\" >> \"$DROVER_TEST_SSH_LOG\"\n\
echo 'ssh: connect to host 127.0.0.1 port 9: Connection refused' >&2\n\
exit 255\n";

const INVENTORY: &str = "all:
  hosts:
    local-host: {ansible_connection: local}
    remote-a: {ansible_host: 127.0.0.1, ansible_port: 9, ansible_user: a}
    remote-b: {ansible_host: 127.0.0.1, ansible_port: 9, ansible_user: b}
";

/// Runs the playbook; returns drover's output and the ssh attempts (time, arguments).
fn run(dir: &Path, playbook: &str, extra: &[&str]) -> (Output, Vec<(f64, String)>) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ssh = bin.join("ssh");
    std::fs::write(&ssh, FAKE_SSH).unwrap();
    std::fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("inventory.yml"), INVENTORY).unwrap();
    std::fs::write(dir.join("play.yml"), playbook).unwrap();
    let log = dir.join("ssh.log");
    let _ = std::fs::remove_file(&log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["play", "-i", "inventory.yml", "play.yml"])
        .args(extra)
        .current_dir(dir)
        .env_remove("DROVER_INVENTORY")
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .env("DROVER_TEST_SSH_LOG", &log)
        .output()
        .unwrap();
    let attempts = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (time, dest) = l.split_once(' ').unwrap();
            (time.parse().unwrap(), dest.to_string())
        })
        .collect();
    (out, attempts)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// remote-b has nothing to do while the first task runs on the controller for a second; its
/// connection is attempted during that second, not after it. remote-a, which has no task at
/// all, is attempted too but not reported: an unreachable host is reported by the first task
/// that needs it, as before.
#[test]
fn a_host_that_skips_the_first_task_is_connected_during_it() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = "- hosts: all
  gather_facts: false
  tasks:
    - name: one second on the controller
      shell: sleep 1; date +%s.%N > first-task-done
      when: inventory_hostname == 'local-host'
    - name: then remote-b
      command: 'true'
      when: inventory_hostname == 'remote-b'
";
    let (out, attempts) = run(dir.path(), playbook, &[]);
    let text = stdout(&out);
    let done: f64 = std::fs::read_to_string(dir.path().join("first-task-done"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let b = attempts
        .iter()
        .find(|(_, dest)| dest.contains("-l b "))
        .unwrap_or_else(|| panic!("no attempt for remote-b: {attempts:?}\n{text}"));
    assert!(
        b.0 < done,
        "remote-b was attempted at {}, after the first task ended at {done}",
        b.0
    );
    assert!(
        attempts.iter().any(|(_, d)| d.contains("-l a ")),
        "{attempts:?}"
    );
    assert!(
        text.contains("fatal: [remote-b]: UNREACHABLE!"),
        "remote-b is reported by its task\n{text}"
    );
    assert!(
        text.contains(
            "remote-a                   : ok=0    changed=0    unreachable=0    failed=0    skipped=2"
        ),
        "remote-a had no task that needed it\n{text}"
    );
    assert!(
        text.contains(
            "remote-b                   : ok=0    changed=0    unreachable=1    failed=0    skipped=1"
        ),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(4), "{text}");
}

/// Nothing is opened ahead for a play that runs locally, or for a play that `--tags` leaves
/// without tasks.
#[test]
fn local_plays_and_plays_without_selected_tasks_open_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = "- hosts: all
  gather_facts: false
  connection: local
  tasks:
    - command: 'true'
      tags: here
- hosts: remote-a,remote-b
  gather_facts: false
  tasks:
    - command: 'true'
      tags: there
";
    let (out, attempts) = run(dir.path(), playbook, &["--tags", "here"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(attempts.is_empty(), "{attempts:?}\n{text}");
    // the same playbook with the remote play's task selected does connect
    let (out, attempts) = run(dir.path(), playbook, &["--tags", "there"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert_eq!(attempts.len(), 2, "{attempts:?}");
}
