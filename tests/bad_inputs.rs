#![allow(clippy::unwrap_used)]
//! The bad-input corpus (tests/bad-inputs/, one directory per case, see its README): each case
//! runs with drover, which must exit with the case's code and print its error excerpt; when
//! ansible-core is installed (always in CI) the same command runs with ansible-playbook 2.18 /
//! ansible-inventory, which must exit with the same code (or the case's documented
//! `ansible_exit`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// One `case.yml`.
struct Case {
    name: String,
    dir: PathBuf,
    /// `play` or `inventory`.
    command: String,
    args: Vec<String>,
    exit: i32,
    error: String,
    /// Ansible's code when it differs from drover's on purpose (with `why`).
    ansible_exit: Option<i32>,
    unchanged: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs")
}

fn load_cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let file = dir.join("case.yml");
            let doc = drover_yaml::load_file(&file)
                .and_then(|l| l.single())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .unwrap_or_else(|| panic!("{} is empty", file.display()))
                .to_json();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let field = |key: &str| doc.get(key).unwrap_or(&Value::Null).clone();
            let text = |key: &str| {
                field(key)
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: `{key}` must be a string"))
                    .to_string()
            };
            let code = |key: &str| field(key).as_i64().map(|c| i32::try_from(c).unwrap());
            let list = |key: &str| -> Vec<String> {
                field(key)
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default()
            };
            let ansible_exit = code("ansible_exit");
            assert!(
                ansible_exit.is_none() || field("why").is_string(),
                "{name}: `ansible_exit` needs a `why`"
            );
            let command = text("command");
            assert!(
                ["play", "inventory"].contains(&command.as_str()),
                "{name}: command is `play` or `inventory`"
            );
            Case {
                command,
                args: list("args"),
                exit: code("exit").unwrap_or_else(|| panic!("{name}: `exit` is required")),
                error: text("error"),
                ansible_exit,
                unchanged: list("unchanged"),
                name,
                dir,
            }
        })
        .collect()
}

/// Copies a case directory into a fresh temp dir (runs may write files).
fn scratch_copy(from: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir(&target).unwrap();
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(from, dir.path());
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

/// Runs `program` (drover or Ansible) for the case in a copy of its directory; returns the
/// output and the problems with the files that had to stay unchanged.
fn run_case(case: &Case, mut command: Command) -> (Output, Vec<String>) {
    let work = scratch_copy(&case.dir);
    let out = command
        .args(&case.args)
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("DROVER_INVENTORY")
        .output()
        .unwrap();
    let changed = case
        .unchanged
        .iter()
        .filter(|f| std::fs::read(work.path().join(f)).ok() != std::fs::read(case.dir.join(f)).ok())
        .map(|f| format!("`{f}` was changed"))
        .collect();
    (out, changed)
}

#[test]
fn bad_inputs_fail_like_ansible() {
    let cases = load_cases();
    assert!(!cases.is_empty(), "no cases in {}", corpus_dir().display());
    let ansible = common::require_ansible("bad_inputs: the Ansible half");
    let mut problems = Vec::new();
    for case in &cases {
        let mut drover = Command::new(env!("CARGO_BIN_EXE_drover"));
        drover.arg(&case.command);
        let (out, mut bad) = run_case(case, drover);
        let output = text(&out);
        if out.status.code() != Some(case.exit) {
            bad.push(format!(
                "drover exited {:?}, expected {}",
                out.status.code(),
                case.exit
            ));
        }
        if !output.contains(&case.error) {
            bad.push(format!("drover's output lacks `{}`", case.error));
        }
        if let Some(bin) = &ansible {
            let program = match case.command.as_str() {
                "play" => "ansible-playbook",
                _ => "ansible-inventory",
            };
            let mut cmd = Command::new(bin.join(program));
            // the venv's python runs the modules (the case's inventories are local)
            let python = bin.join("python");
            if python.exists() {
                cmd.env("ANSIBLE_PYTHON_INTERPRETER", python);
            }
            cmd.env("ANSIBLE_LOCALHOST_WARNING", "false");
            let (aout, abad) = run_case(case, cmd);
            let want = case.ansible_exit.unwrap_or(case.exit);
            if aout.status.code() != Some(want) {
                bad.push(format!(
                    "{program} exited {:?}, expected {want}:\n{}",
                    aout.status.code(),
                    text(&aout)
                ));
            }
            bad.extend(abad.into_iter().map(|p| format!("{program}: {p}")));
        }
        if !bad.is_empty() {
            problems.push(format!(
                "{}:\n  {}\n--- drover's output ---\n{output}",
                case.name,
                bad.join("\n  ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} cases:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}
