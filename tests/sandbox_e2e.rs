#![allow(clippy::unwrap_used)]
//! End to end on the Docker sandbox (4 Debian nodes with sshd and systemd, reached only through
//! their ports on 127.0.0.1): `drover play` with `become`, `copy`, `command` with `creates`, a
//! handler, a block with `rescue` and a loop. A check run on the fresh nodes predicts exactly
//! the changes the real run makes, the rerun changes nothing, and an isolated node is reported
//! UNREACHABLE while the other hosts finish. (The failing command runs in check mode too
//! — `check_mode: false` — as Ansible skips commands in check mode and the rescue would not run.) Needs Docker; with CI=true a missing Docker fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use drover_sandbox::testing::{TestSandbox, require_docker};

mod common;
use common::{Recap, recap};

const PLAYBOOK: &str = r#"- name: end to end
  hosts: all
  gather_facts: false
  become: true
  vars:
    base: /opt/drover-e2e
  tasks:
    - name: a directory
      file:
        path: "{{ base }}"
        state: directory
        mode: "0755"
    - name: a config file
      copy:
        dest: "{{ base }}/app.conf"
        content: "port=8500\n"
        mode: "0644"
      notify: config changed
    - name: a command that runs once
      command: touch {{ base }}/created
      args:
        creates: "{{ base }}/created"
    - name: files from a loop
      copy:
        dest: "{{ base }}/{{ item }}.txt"
        content: "{{ item }}\n"
      loop: [a, b]
    - name: a block that fails and is rescued
      block:
        - name: fails on purpose
          command: /bin/false
          changed_when: false
          check_mode: false
      rescue:
        - name: the rescue writes a marker
          copy:
            dest: "{{ base }}/rescued"
            content: "yes\n"
  handlers:
    - name: config changed
      copy:
        dest: "{{ base }}/handler-ran"
        content: "yes\n"
"#;

fn play(sb: &TestSandbox, playbook: &Path, extra: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(playbook)
        .arg("-i")
        .arg(sb.paths().inventory())
        .arg("-i")
        .arg(sb.paths().connection_inventory())
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out, stdout)
}

fn changed(r: &BTreeMap<String, Recap>) -> BTreeMap<String, u32> {
    r.iter().map(|(h, r)| (h.clone(), r.changed)).collect()
}

#[test]
fn check_predicts_run_rerun_is_idempotent_and_unreachable_is_reported() {
    if !require_docker("sandbox_e2e") {
        return;
    }
    let sb = TestSandbox::up("e2e", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("site.yml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let hosts: Vec<String> = sb
        .nodes()
        .iter()
        .map(|n| n.spec.address.to_string())
        .collect();
    assert_eq!(hosts.len(), 4);

    // Check mode on fresh nodes predicts the changes.
    let (out, stdout) = play(&sb, &playbook, &["-C"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "check run:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let predicted = recap(&stdout);
    assert_eq!(predicted.len(), 4, "check run recap:\n{stdout}");

    // The real run makes exactly those changes.
    let (out, stdout) = play(&sb, &playbook, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "first run:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = recap(&stdout);
    assert_eq!(first.len(), 4, "first run recap:\n{stdout}");
    for (host, r) in &first {
        assert!(
            r.changed > 0,
            "{host} changed nothing on the first run:\n{stdout}"
        );
        assert_eq!(
            (r.failed, r.unreachable, r.rescued),
            (0, 0, 1),
            "{host}:\n{stdout}"
        );
    }
    assert_eq!(
        changed(&predicted),
        changed(&first),
        "check mode mispredicted:\n{stdout}"
    );
    assert!(
        stdout.contains("RUNNING HANDLER [config changed]"),
        "{stdout}"
    );
    let created = sb.ssh(&hosts[1], "cat /opt/drover-e2e/a.txt /opt/drover-e2e/handler-ran; stat -c %U /opt/drover-e2e/created").unwrap();
    assert_eq!(String::from_utf8_lossy(&created.stdout), "a\nyes\nroot\n");

    // The rerun changes nothing, and runs no handler.
    let (out, stdout) = play(&sb, &playbook, &[]);
    assert_eq!(out.status.code(), Some(0), "rerun:\n{stdout}");
    let rerun = recap(&stdout);
    assert_eq!(rerun.len(), 4, "rerun recap:\n{stdout}");
    for (host, r) in &rerun {
        assert_eq!(r.changed, 0, "{host} changed on the rerun:\n{stdout}");
    }
    assert!(!stdout.contains("RUNNING HANDLER"), "{stdout}");

    // An isolated node is UNREACHABLE; the others finish.
    let lost = hosts[3].clone();
    sb.isolate(&lost).unwrap();
    let (out, stdout) = play(&sb, &playbook, &[]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "run with an isolated node:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("fatal: [{lost}]: UNREACHABLE!")),
        "{stdout}"
    );
    let last = recap(&stdout);
    assert_eq!(last[&lost].unreachable, 1, "{stdout}");
    for host in &hosts[..3] {
        let r = last[host];
        assert_eq!(
            (r.unreachable, r.failed, r.changed, r.rescued),
            (0, 0, 0, 1),
            "{host}:\n{stdout}"
        );
        assert_eq!(r.ok, rerun[host].ok, "{host} did not finish:\n{stdout}");
    }
}
