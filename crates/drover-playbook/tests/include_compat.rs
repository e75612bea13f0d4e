//! Dynamic includes under tag selection, compared with what ansible-playbook 2.18 actually
//! runs (`-c local` against localhost): the include task is selected by its own tags; the
//! included tasks by the include's enclosing scope plus `apply`, never by the include's tags.
//! Roles listed twice run once; `import_role` runs again unless `allow_duplicates: false`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use drover_playbook::select::{SelectedItem, select_items, select_tasks};
use drover_playbook::{
    ExtraVarsTemplater, LoadOptions, Playbook, RoleRuns, TagFilter, expand_include, load_playbook,
};
use serde_json::Map;

const MATRIX: &[(&[&str], &[&str])] = &[
    (&[], &[]),
    (&["inc"], &[]),
    (&["x"], &[]),
    (&["applied"], &[]),
    (&["inc2", "applied"], &[]),
    (&["blk"], &[]),
    (&["ir"], &[]),
    (&["ir", "rt"], &[]),
    (&["ir_applied"], &[]),
    (&["imp"], &[]),
    (&[], &["x"]),
    (&[], &["ir2"]),
    (&["p"], &["inc"]),
    (&["r3"], &[]),
    (&["rt"], &["r3"]),
];

/// Names of the `TASK [...]` headers ansible-playbook prints.
fn ansible_tasks(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("TASK ["))
        .filter_map(|l| l.split_once("] ").map(|(name, _)| name.to_string()))
        .collect()
}

/// What a linear run on localhost would start: includes expanded and roles that already
/// ran skipped, as the executor will.
fn walk(
    playbook: &Playbook,
    items: &[SelectedItem<'_>],
    filter: &TagFilter,
    runs: &mut RoleRuns,
    out: &mut Vec<String>,
) {
    for item in items {
        match item {
            SelectedItem::RoleComplete(role) => runs.complete("localhost", role),
            SelectedItem::Task { task, .. } => {
                if runs.already_ran("localhost", task) {
                    continue;
                }
                out.push(task.display_name());
                if task.include_context.is_some() {
                    let args: Map<String, serde_json::Value> = task
                        .args
                        .iter()
                        .map(|(k, v)| (k.clone(), v.value.clone()))
                        .collect();
                    let included =
                        expand_include(playbook, task, &args, LoadOptions::default()).unwrap();
                    let vars = Map::new();
                    let selected =
                        select_items(&included.items, filter, (&ExtraVarsTemplater, &vars))
                            .unwrap();
                    walk(playbook, &selected, filter, runs, out);
                }
            }
            SelectedItem::Block { block_items, .. } => {
                walk(playbook, block_items, filter, runs, out)
            }
        }
    }
}

#[test]
fn included_tasks_are_selected_like_ansible() {
    let Some(bin) = common::ansible_bin_dir() else {
        return;
    };
    let dir = common::fixture("includes");
    let commands: Vec<Command> = MATRIX
        .iter()
        .map(|(only, skip)| {
            let mut cmd = Command::new(bin.join("ansible-playbook"));
            cmd.args(["-i", "inventory.ini", "site.yml", "-c", "local"]);
            for t in *only {
                cmd.args(["-t", t]);
            }
            for t in *skip {
                cmd.args(["--skip-tags", t]);
            }
            cmd.current_dir(&dir)
                .env("ANSIBLE_NOCOLOR", "1")
                .env("ANSIBLE_STDOUT_CALLBACK", "default");
            cmd
        })
        .collect();
    let outputs = common::run_all(commands, 4);
    let playbook = load_playbook(&dir.join("site.yml"), LoadOptions::default()).unwrap();
    let mut failures = Vec::new();
    for ((only, skip), out) in MATRIX.iter().zip(outputs) {
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "ansible-playbook failed:\n{stdout}");
        let want = ansible_tasks(&stdout);
        if only.is_empty() && skip.is_empty() {
            assert!(
                want.contains(&"r : r task".to_string()),
                "unexpected ansible output:\n{stdout}"
            );
        }
        let filter = TagFilter::new(only, skip);
        let vars = Map::new();
        let mut got = Vec::new();
        let mut runs = RoleRuns::default();
        for (_, items) in
            select_tasks(&playbook.plays[0], &filter, (&ExtraVarsTemplater, &vars)).unwrap()
        {
            walk(&playbook, &items, &filter, &mut runs, &mut got);
        }
        if got != want {
            failures.push(format!(
                "-t {only:?} --skip-tags {skip:?}\n  ansible: {want:?}\n  drover:  {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
