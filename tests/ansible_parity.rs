#![allow(clippy::unwrap_used)]
//! The same playbooks run with ansible-playbook (ansible-core 2.18) and with drover, on the
//! controller (`ansible_connection=local`): the human output must be identical, byte for byte,
//! on a first run, on a rerun (idempotence: `changed=0`), in check mode and with `--diff`.
//!
//! Each case is a directory under `tests/parity/` holding `site.yml`; the playbook gets an
//! empty `out_dir` variable to write into. Needs ansible-core (`scripts/test` installs it): with
//! `CI=true` a missing ansible-core fails; elsewhere the test says loudly that it was skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{copy_tree, require_ansible, without_times};

struct Case {
    dir: tempfile::TempDir,
    playbook: PathBuf,
    inventory: PathBuf,
}

fn case(name: &str) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(name)
        .join("site.yml");
    let playbook = dir.path().join("site.yml");
    std::fs::copy(src, &playbook).unwrap();
    let inventory = dir.path().join("hosts");
    std::fs::write(&inventory, "localhost ansible_connection=local\n").unwrap();
    Case {
        dir,
        playbook,
        inventory,
    }
}

/// Runs both tools on fresh output directories and returns (ansible stdout, drover stdout).
fn run_both(bin: &Path, case: &Case, extra: &[&str], runs: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let ansible_dir = case.dir.path().join("out-ansible");
    let drover_dir = case.dir.path().join("out-drover");
    for d in [&ansible_dir, &drover_dir] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    for _ in 0..runs {
        let python = bin.join("python");
        let ansible = Command::new(bin.join("ansible-playbook"))
            .arg(&case.playbook)
            .arg("-i")
            .arg(&case.inventory)
            .arg("-e")
            .arg(format!("out_dir={}", drover_dir_for(&ansible_dir)))
            .arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()))
            .args(extra)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .output()
            .unwrap();
        let drover = Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("play")
            .arg(&case.playbook)
            .arg("-i")
            .arg(&case.inventory)
            .arg("-e")
            .arg(format!("out_dir={}", drover_dir_for(&drover_dir)))
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            ansible.status.code(),
            drover.status.code(),
            "exit codes differ\nansible stderr:\n{}\ndrover stderr:\n{}",
            String::from_utf8_lossy(&ansible.stderr),
            String::from_utf8_lossy(&drover.stderr)
        );
        out.push((
            normalize(&ansible.stdout, &ansible_dir),
            normalize(&drover.stdout, &drover_dir),
        ));
    }
    out
}

fn drover_dir_for(dir: &Path) -> String {
    dir.display().to_string()
}

/// Makes the two runs' output directories look the same, and replaces the command modules'
/// wall-clock fields (`start`, `end`, `delta`), which differ on every run.
fn normalize(stdout: &[u8], dir: &Path) -> String {
    without_times(&String::from_utf8_lossy(stdout).replace(&dir.display().to_string(), "<out>"))
}

fn check(name: &str, extra: &[&str], runs: usize) {
    let Some(bin) = require_ansible(name) else {
        return;
    };
    let case = case(name);
    for (i, (ansible, drover)) in run_both(&bin, &case, extra, runs).into_iter().enumerate() {
        if ansible != drover {
            let diff = similar_lines(&ansible, &drover);
            panic!(
                "{name} run {} {extra:?}: output differs from ansible-playbook\n{diff}",
                i + 1
            );
        }
    }
}

fn similar_lines(a: &str, b: &str) -> String {
    let mut out = String::new();
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (
            al.get(i).copied().unwrap_or("<none>"),
            bl.get(i).copied().unwrap_or("<none>"),
        );
        if x != y {
            out.push_str(&format!(
                "line {}:\n  ansible: {x}\n  drover:  {y}\n",
                i + 1
            ));
        }
    }
    out
}

#[test]
fn basics_first_run_and_rerun() {
    check("basics", &[], 2);
}

#[test]
fn basics_check_mode_then_diff() {
    check("basics", &["--check"], 1);
    check("basics", &["--diff"], 2);
}

#[test]
fn failures_rescue_always_loops() {
    check("failures", &[], 1);
}

/// Like [`check`], for a case directory with more than `site.yml` (task files, roles): the whole
/// directory is copied, and the inventory has two local hosts, run with `-f 1` so both tools
/// report hosts in inventory order (this shows how includes group hosts).
fn check_tree(name: &str, extra: &[&str], runs: usize) {
    let Some(bin) = require_ansible(name) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(name);
    copy_tree(&src, dir.path());
    let inventory = dir.path().join("hosts");
    std::fs::write(
        &inventory,
        "h1 ansible_connection=local\nh2 ansible_connection=local\n",
    )
    .unwrap();
    let case = Case {
        playbook: dir.path().join("site.yml"),
        inventory,
        dir,
    };
    let mut args = vec!["-f", "1"];
    args.extend_from_slice(extra);
    for (i, (ansible, drover)) in run_both(&bin, &case, &args, runs).into_iter().enumerate() {
        if ansible != drover {
            let diff = similar_lines(&ansible, &drover);
            panic!(
                "{name} run {} {extra:?}: output differs from ansible-playbook\n{diff}",
                i + 1
            );
        }
    }
}

#[test]
fn includes_tasks_and_roles_first_run_and_rerun() {
    check_tree("includes", &[], 2);
}

#[test]
fn includes_check_mode() {
    check_tree("includes", &["--check"], 1);
}

#[test]
fn roles_dedup_and_handlers_first_run_and_rerun() {
    check_tree("roles_handlers", &[], 2);
}

#[test]
fn include_tags_loops_and_missing_files() {
    check_tree("include_tags", &[], 1);
    check_tree("include_tags", &["-t", "foo"], 1);
    check_tree("include_tags", &["-t", "bar"], 1);
}

#[test]
fn include_role_options_and_includes_in_handlers() {
    check_tree("include_handlers", &[], 1);
}

#[test]
fn includes_with_serial_run_once_loop_labels_and_failures() {
    check_tree("include_serial", &[], 1);
}

#[test]
fn play_level_keywords_reach_every_task() {
    // no_log, check_mode, diff and ignore_errors on a play (drover refused the first three)
    check("play_keywords", &[], 1);
}
