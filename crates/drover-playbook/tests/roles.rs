//! Role loading: search path (`roles/` beside the playbook, `DROVER_ROLES_PATH`, a direct
//! path), `main.yml`/`main.yaml`, `*_from` files, meta dependencies and role identity.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use drover_playbook::loader::roles_path_from_env;
use drover_playbook::{Item, LoadOptions, Task, load_playbook};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn tasks(items: &[Item]) -> Vec<&Task> {
    let mut out = Vec::new();
    for i in items {
        i.for_each_task(&mut |t| out.push(t));
    }
    out
}

#[test]
fn roles_are_found_beside_the_playbook_in_roles_path_and_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = tmp.path().join("shared-roles");
    write(
        tmp.path(),
        &[
            (
                "pb/site.yml",
                "- hosts: all\n  roles:\n    - local\n    - shared\n    - ../elsewhere/direct\n",
            ),
            (
                "pb/roles/local/tasks/main.yaml",
                "- name: local task\n  ping:\n",
            ),
            (
                "shared-roles/shared/tasks/main.yml",
                "- name: shared task\n  ping:\n",
            ),
            (
                "elsewhere/direct/tasks/main.yml",
                "- name: direct task\n  ping:\n",
            ),
        ],
    );
    let options = LoadOptions {
        roles_path: roles_path_from_env(Some(&format!("/nonexistent:{}", extra.display()))),
        ..LoadOptions::default()
    };
    let pb = load_playbook(&tmp.path().join("pb/site.yml"), options).unwrap();
    let names: Vec<String> = tasks(&pb.plays[0].role_tasks)
        .iter()
        .map(|t| t.display_name())
        .collect();
    assert_eq!(
        names,
        [
            "local : local task",
            "shared : shared task",
            "direct : direct task"
        ]
    );
    let err = load_playbook(&tmp.path().join("pb/site.yml"), LoadOptions::default()).unwrap_err();
    assert!(err.message.contains("role `shared` not found"), "{err}");
}

#[test]
fn role_identity_follows_params_and_allow_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "site.yml",
                "- hosts: all\n  roles:\n    - { role: a, x: 1 }\n    - { role: a, x: 1 }\n    - { role: a, x: 2 }\n    - dup\n",
            ),
            (
                "roles/a/tasks/main.yml",
                "- name: a task\n  debug: msg={{ x }}\n",
            ),
            ("roles/a/defaults/main.yml", "x: 0\nd: 1\n"),
            (
                "roles/dup/meta/main.yml",
                "allow_duplicates: true\ndependencies:\n  - { role: a, x: 1 }\n",
            ),
            ("roles/dup/tasks/main.yml", "- name: dup task\n  ping:\n"),
        ],
    );
    let pb = load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap();
    let all = tasks(&pb.plays[0].role_tasks);
    let keys: Vec<&str> = all
        .iter()
        .map(|t| t.role.as_ref().unwrap().key.as_str())
        .collect();
    assert_eq!(all.len(), 5);
    assert_eq!(
        keys[0], keys[1],
        "same role and params: one identity (runs once)"
    );
    assert_ne!(keys[1], keys[2], "different params: runs again");
    assert_eq!(
        keys[0], keys[3],
        "the dependency with the same params is the same role"
    );
    assert!(all[4].role.as_ref().unwrap().allow_duplicates);
    assert!(!all[0].role.as_ref().unwrap().allow_duplicates);
    let dep = all[3].role.as_ref().unwrap();
    assert_eq!(dep.dep_chain.len(), 1);
    assert_eq!(dep.dep_chain[0].name, "dup");
    assert_eq!(
        pb.plays[0].roles.len(),
        4,
        "public roles: the roles: entries, not dependencies"
    );
}

#[test]
fn from_files_select_role_files() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "site.yml",
                "- hosts: all\n  tasks:\n    - import_role: {name: r, tasks_from: other, vars_from: v2, defaults_from: d2}\n",
            ),
            ("roles/r/tasks/main.yml", "- name: main\n  ping:\n"),
            ("roles/r/tasks/other.yml", "- name: other\n  ping:\n"),
            ("roles/r/vars/v2.yml", "rv: 2\n"),
            ("roles/r/vars/main/10-a.yml", "mv: a\nmw: a\n"),
            ("roles/r/vars/main/20-b.yaml", "mw: b\n"),
            ("roles/r/defaults/d2.yaml", "dv: 2\n"),
        ],
    );
    let pb = load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap();
    let all = tasks(&pb.plays[0].tasks);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].display_name(), "r : other");
    let role = all[0].role.as_ref().unwrap();
    assert_eq!(role.layer.role_vars["rv"], 2);
    assert_eq!(role.layer.defaults["dv"], 2);
    assert!(
        role.allow_duplicates,
        "import_role's allow_duplicates defaults to true"
    );
}

#[test]
fn vars_main_may_be_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("site.yml", "- hosts: all\n  roles: [r]\n"),
            ("roles/r/tasks/main.yml", "- name: main\n  ping:\n"),
            ("roles/r/vars/main/10-a.yml", "mv: a\nmw: a\n"),
            ("roles/r/vars/main/sub/20-b.yaml", "mw: b\n"),
            ("roles/r/vars/main/.hidden.yml", "mv: hidden\n"),
        ],
    );
    let pb = load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap();
    let role = &pb.plays[0].roles[0];
    assert_eq!(role.layer.role_vars["mv"], "a");
    assert_eq!(role.layer.role_vars["mw"], "b");
}

#[test]
fn import_loops_are_found_whatever_the_path_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "site.yml",
                "- hosts: all\n  tasks:\n    - import_tasks: t/a.yml\n",
            ),
            ("t/a.yml", "- import_tasks: ../t/./a.yml\n"),
        ],
    );
    let err = load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap_err();
    assert!(err.message.contains("imports itself"), "{err}");
}
