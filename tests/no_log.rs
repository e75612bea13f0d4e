#![allow(clippy::unwrap_used)]
//! Values under `no_log` never reach drover's output: human output at -vvv with --diff, and the
//! JSON event stream, for commands, debug, set_fact, loops, copy with diff and a failing task;
//! `no_log` evaluated per loop item, and a `no_log` that cannot be evaluated hides the output.

use std::process::Command;

const SECRET: &str = "s3cr3t-t0ken-8d1f";

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    token: "s3cr3t-t0ken-8d1f"
  tasks:
    - name: command with a secret
      command: echo {{ token }}
      no_log: true
      changed_when: false
    - name: debug a secret
      debug:
        msg: "token is {{ token }}"
      no_log: true
    - name: set_fact with a secret
      set_fact:
        copied: "{{ token }}"
      no_log: true
    - name: loop over secrets
      debug:
        msg: "{{ item }}"
      loop: ["{{ token }}", "x-{{ token }}"]
      no_log: true
    - name: file with a secret, shown with --diff
      copy:
        dest: "{{ out_dir }}/secret.txt"
        content: "{{ token }}\n"
      no_log: true
    - name: no_log per item, shown with --diff
      copy:
        dest: "{{ out_dir }}/{{ item.name }}.txt"
        content: "{{ item.content }}\n"
      loop:
        - {name: public, content: nothing to hide}
        - {name: private, content: "{{ token }}"}
      loop_control:
        label: "{{ item.name }}"
      no_log: "{{ item.name == 'private' }}"
    - name: no_log that cannot be evaluated hides the output
      debug:
        msg: "token is {{ token }}"
      no_log: "{{ undefined_switch }}"
      ignore_errors: true
    - name: failing task with a secret
      command: sh -c "echo {{ token }}; exit 3"
      no_log: true
      ignore_errors: true
"#;

#[test]
fn no_log_values_appear_nowhere_in_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.yml"), PLAYBOOK).unwrap();
    std::fs::write(
        dir.path().join("hosts"),
        "localhost ansible_connection=local\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    for extra in [&["-vvv", "--diff"][..], &["--output", "json", "--diff"][..]] {
        let _ = std::fs::remove_file(out_dir.join("secret.txt"));
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("play")
            .arg(dir.path().join("site.yml"))
            .arg("-i")
            .arg(dir.path().join("hosts"))
            .arg("-e")
            .arg(format!("out_dir={}", out_dir.display()))
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{extra:?}\n{stdout}\n{stderr}");
        assert!(
            !stdout.contains(SECRET),
            "secret in stdout with {extra:?}:\n{stdout}"
        );
        assert!(
            !stderr.contains(SECRET),
            "secret in stderr with {extra:?}:\n{stderr}"
        );
        assert!(
            stdout.contains("censored"),
            "{extra:?}: expected censored results:\n{stdout}"
        );
        // the item that is not secret is shown (with its diff)
        assert!(
            stdout.contains("nothing to hide"),
            "{extra:?}: the public item's diff is missing:\n{stdout}"
        );
        // the work was still done
        assert_eq!(
            std::fs::read_to_string(out_dir.join("secret.txt")).unwrap(),
            format!("{SECRET}\n")
        );
    }
}
