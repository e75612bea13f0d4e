//! Variable precedence compared with ansible-playbook 2.18: the fixture defines `vN` at every
//! level 1..N (role defaults, inventory, play vars, vars_files, role vars, block vars, task
//! vars, include_vars, set_fact, role params, extra vars), so the value of `vN` names the
//! level that wins among the first N. Ansible runs it against localhost (`-c local`); drover
//! assembles the same layers with `vars::task_vars` and must print the same values, for a
//! task inside the role, a task of its meta dependency (`d*`: defaults and vars of a role and
//! its dependency competing), and a play task after the role (which sees the role's exported
//! defaults and vars). The same tasks print magic variables (`playbook_dir`, `role_path`,
//! `role_name`, `role_names`, `ansible_play_hosts`, `ansible_check_mode`), which must match too.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use drover_playbook::block::Item;
use drover_playbook::vars::{HostLayers, RunInfo, load_vars_files, magic_vars, task_vars};
use drover_playbook::{ExtraVarsTemplater, LoadOptions, Task, load_playbook};
use serde_json::{Map, Value};

/// The `msg` of each `ok: [localhost] => {...}` result, in order.
fn debug_messages(stdout: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if line == "ok: [localhost] => {" {
            let mut json = String::from("{");
            for l in lines.by_ref() {
                json.push_str(l);
                if l == "}" {
                    break;
                }
            }
            let v: Value = serde_json::from_str(&json).unwrap();
            out.push(v["msg"].clone());
        }
    }
    out
}

fn find_task<'a>(items: &'a [Item], name: &str) -> Option<&'a Task> {
    let mut found = None;
    for item in items {
        item.for_each_task(&mut |t| {
            if found.is_none() && t.name.as_ref().is_some_and(|n| n.value == name) {
                found = Some(t);
            }
        });
    }
    found
}

#[test]
fn task_vars_follow_ansible_precedence() {
    let Some(bin) = common::ansible_bin_dir() else {
        return;
    };
    // Ansible runs in the fixture directory, so its `playbook_dir` is the real path.
    let dir = common::fixture("precedence").canonicalize().unwrap();
    let out = Command::new(bin.join("ansible-playbook"))
        .args([
            "-i",
            "inventory.ini",
            "site.yml",
            "-c",
            "local",
            "-e",
            "v11=extra_vars",
        ])
        .current_dir(&dir)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "ansible-playbook failed:\n{stdout}");
    let expected = debug_messages(&stdout);
    assert_eq!(expected.len(), 3, "{stdout}");

    let playbook = load_playbook(&dir.join("site.yml"), LoadOptions::default()).unwrap();
    let play = &playbook.plays[0];
    let inventory = drover_inventory::Inventory::load(&[dir.join("inventory.ini")])
        .unwrap()
        .inventory;
    let host_vars = inventory.host_vars("localhost").unwrap();
    let mut extra = Map::new();
    extra.insert("v11".into(), Value::String("extra_vars".into()));
    let empty = Map::new();
    let mut so_far = host_vars.clone();
    so_far.extend(extra.clone());
    let vars_files = load_vars_files(play, &ExtraVarsTemplater, &so_far).unwrap();
    // What the executor will have gathered by the debug tasks: include_vars loaded the file,
    // set_fact stored its arguments.
    let include_vars = match drover_yaml::load_file(&dir.join("include_vars.yml"))
        .unwrap()
        .single()
        .unwrap()
        .unwrap()
        .to_json()
    {
        Value::Object(m) => m,
        other => panic!("{other}"),
    };
    let mut set_fact_task = None;
    for item in &play.role_tasks {
        item.for_each_task(&mut |t| {
            if t.module == "set_fact" {
                set_fact_task = Some(t);
            }
        });
    }
    let set_facts: Map<String, Value> = set_fact_task
        .unwrap()
        .args
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let run = RunInfo {
        play_hosts: vec!["localhost".into()],
        play_batch: vec!["localhost".into()],
        ..RunInfo::default()
    };

    let in_dependency = find_task(&play.role_tasks, "in dependency").unwrap();
    let in_role = find_task(&play.role_tasks, "in role").unwrap();
    let in_play = find_task(&play.tasks, "in play").unwrap();
    let cases = [
        (in_dependency, &expected[0]),
        (in_role, &expected[1]),
        (in_play, &expected[2]),
    ];
    for (task, want) in cases {
        let magic = magic_vars(play, Some(task), &run);
        // The dependency's task runs before include_vars and set_fact.
        let before = task.name.as_ref().unwrap().value == "in dependency";
        let layers = HostLayers {
            inventory: &host_vars,
            facts: &empty,
            vars_files: &vars_files,
            include_vars: if before { &empty } else { &include_vars },
            set_facts: if before { &empty } else { &set_facts },
            include_params: &empty,
            extra_vars: &extra,
            magic: &magic,
        };
        let all = task_vars(play, Some(task), &layers);
        let Value::Object(want_map) = want else {
            panic!("{want}")
        };
        let got: Map<String, Value> = want_map
            .keys()
            .map(|k| (k.clone(), all.get(k).cloned().unwrap_or(Value::Null)))
            .collect();
        assert_eq!(&Value::Object(got), want, "task `{}`", task.display_name());
    }
    let magic = magic_vars(play, Some(in_role), &run);
    assert!(magic["role_path"].as_str().unwrap().ends_with("roles/prec"));
    assert_eq!(magic["role_name"], "prec");
    assert_eq!(
        magic["playbook_dir"],
        dir.canonicalize().unwrap().display().to_string()
    );
    assert_eq!(
        magic["ansible_play_hosts"],
        serde_json::json!(["localhost"])
    );
}
