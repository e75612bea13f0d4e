//! `--list-tasks --list-tags` output compared byte for byte with ansible-playbook 2.18 over a
//! fixture with roles (meta dependencies, duplicates, params), imports, includes, blocks and
//! every special tag, for a matrix of `-t`/`--skip-tags` combinations.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use drover_playbook::listing::{ListContext, ListOptions, render};
use drover_playbook::{
    ExtraVarsTemplater, LoadOptions, LoadTemplater, Play, TagFilter, load_playbook,
};

/// (`-t` values, `--skip-tags` values)
const MATRIX: &[(&[&str], &[&str])] = &[
    (&[], &[]),
    (&["a"], &[]),
    (&["a,two"], &[]),
    (&["a", "two"], &[]),
    (&["never"], &[]),
    (&["debug_only"], &[]),
    (&["always"], &[]),
    (&["all"], &[]),
    (&["tagged"], &[]),
    (&["untagged"], &[]),
    (&["web"], &[]),
    (&["db2"], &[]),
    (&["imp"], &[]),
    (&["improle", "inc"], &[]),
    (&["blk"], &["inner"]),
    (&[], &["always"]),
    (&[], &["all"]),
    (&[], &["tagged"]),
    (&[], &["untagged"]),
    (&["a"], &["a"]),
    (&["all"], &["never"]),
    (&["templated", "common"], &["play1"]),
    (&["nested"], &[]),
    (&["other", "applied"], &["two"]),
];

struct Ctx;

impl ListContext for Ctx {
    fn hosts(&self, _play: &Play) -> Result<Vec<String>, drover_diag::Diagnostic> {
        Ok(Vec::new())
    }
    fn templater(
        &self,
        play: &Play,
    ) -> (
        &dyn LoadTemplater,
        serde_json::Map<String, serde_json::Value>,
    ) {
        (&ExtraVarsTemplater, drover_playbook::vars::play_vars(play))
    }
}

fn ansible_args(only: &[&str], skip: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-i".into(),
        "inventory.ini".into(),
        "site.yml".into(),
        "--list-tasks".into(),
        "--list-tags".into(),
    ];
    for t in only {
        args.push("-t".into());
        args.push((*t).into());
    }
    for t in skip {
        args.push("--skip-tags".into());
        args.push((*t).into());
    }
    args
}

#[test]
fn list_tasks_and_tags_match_ansible_playbook() {
    let Some(bin) = common::ansible_bin_dir() else {
        return;
    };
    let dir = common::fixture("tags");
    // Start every ansible-playbook run at once (each takes about a second).
    let children: Vec<_> = MATRIX
        .iter()
        .map(|(only, skip)| {
            Command::new(bin.join("ansible-playbook"))
                .args(ansible_args(only, skip))
                .current_dir(&dir)
                .env("ANSIBLE_NOCOLOR", "1")
                .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut failures = Vec::new();
    for ((only, skip), child) in MATRIX.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ansible-playbook failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = String::from_utf8(out.stdout).unwrap();
        let playbook = load_playbook(&dir.join("site.yml"), LoadOptions::default()).unwrap();
        let mut playbook = playbook;
        playbook.path = "site.yml".into();
        let filter = TagFilter::new(only, skip);
        let options = ListOptions {
            tasks: true,
            tags: true,
            hosts: false,
        };
        let got = render(&playbook, &filter, options, &Ctx).unwrap();
        if got != expected {
            failures.push(format!(
                "-t {only:?} --skip-tags {skip:?}\n--- ansible\n{expected}\n--- drover\n{got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        MATRIX.len(),
        failures.join("\n")
    );
}
