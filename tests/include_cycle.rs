#![allow(clippy::unwrap_used)]
//! `include_tasks` that include each other without end (a file including itself, or
//! a → b → a) stop with an error naming the cycle, exit 2 like a failed task; they used to
//! overflow the stack and abort. Bounded recursion (a `when:` that ends it) still runs.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, files: &[(&str, &str)]) -> Output {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("hosts"), "localhost ansible_connection=local\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(dir.join("site.yml"))
        .arg("-i")
        .arg(dir.join("hosts"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

const SITE: &str =
    "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - include_tasks: a.yml\n";

#[test]
fn include_cycles_are_refused_with_the_chain() {
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[("site.yml", SITE), ("a.yml", "- include_tasks: a.yml\n")],
            "a cycle: a.yml → a.yml → …",
        ),
        (
            &[
                ("site.yml", SITE),
                ("a.yml", "- debug: msg=a\n- include_tasks: b.yml\n"),
                ("b.yml", "- include_tasks: a.yml\n"),
            ],
            "a cycle: a.yml → b.yml → a.yml → …",
        ),
    ];
    for (files, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), files);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(want), "missing `{want}`:\n{stdout}");
        assert!(stdout.contains("more than 64 deep"), "{stdout}");
    }
}

#[test]
fn bounded_recursion_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            ("site.yml", &format!("{SITE}    - debug: var=n\n")),
            (
                "a.yml",
                "- set_fact: n=\"{{ (n | default(0) | int) + 1 }}\"\n- include_tasks: a.yml\n  when: n | int < 30\n",
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("\"n\": \"30\""), "{stdout}");
}
