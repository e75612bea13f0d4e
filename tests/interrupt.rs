#![allow(clippy::unwrap_used)]
//! Ctrl-C during `drover play`: no new task starts, the run ends with ansible-playbook's
//! " [ERROR]: User interrupted execution" and exit code 99, promptly. SIGTERM (`timeout`,
//! `systemctl stop`, a cancelled CI job) and SIGHUP (a closed terminal) stop it the same way.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `drover play` on `playbook` (written into `dir`) against localhost, with `args`.
fn start(dir: &Path, playbook: &str, args: &[&str]) -> Child {
    let path = dir.join("site.yml");
    std::fs::write(&path, playbook).unwrap();
    let inventory = dir.join("hosts");
    std::fs::write(&inventory, "localhost ansible_connection=local\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(&path)
        .arg("-i")
        .arg(&inventory)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `signal` (`INT`, `TERM`, …) to `child`.
fn send(signal: &str, child: &Child) {
    let kill = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success(), "kill -{signal} failed");
}

#[test]
fn sigint_sigterm_and_sighup_stop_the_run_with_exit_code_99() {
    for signal in ["INT", "TERM", "HUP"] {
        stops_on(signal);
    }
}

fn stops_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let child = start(
        dir.path(),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: before\n      debug: msg=before\n    - name: wait\n      pause:\n        seconds: 30\n    - name: never reached\n      debug: msg=after\n",
        &[],
    );
    std::thread::sleep(Duration::from_secs(1));
    let sent = Instant::now();
    send(signal, &child);
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(99),
        "SIG{signal}: stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} to stop after SIG{signal}"
    );
    assert!(stdout.contains("TASK [wait]"), "stdout:\n{stdout}");
    assert!(
        !stdout.contains("never reached"),
        "a task started after Ctrl-C:\n{stdout}"
    );
    assert!(!stdout.contains("PLAY RECAP"), "stdout:\n{stdout}");
    assert!(
        stderr.contains(" [ERROR]: User interrupted execution"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn sigint_lets_a_running_command_finish_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("finished");
    let child = start(
        dir.path(),
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: slow\n      shell: sleep 2 && touch {}\n    - name: never reached\n      debug: msg=after\n",
            marker.display()
        ),
        &[],
    );
    std::thread::sleep(Duration::from_millis(700));
    send("INT", &child);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(99), "stdout:\n{stdout}");
    assert!(marker.exists(), "the running command was cut short");
    assert!(!stdout.contains("never reached"), "stdout:\n{stdout}");
}

/// With `--output json` an interrupted run ends with the recap event, which says it was
/// interrupted and what had run (the task before the interrupt counts as ok).
#[test]
fn json_output_ends_with_an_interrupted_recap() {
    let dir = tempfile::tempdir().unwrap();
    let child = start(
        dir.path(),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: before\n      debug: msg=before\n    - name: wait\n      pause:\n        seconds: 30\n",
        &["--output", "json"],
    );
    std::thread::sleep(Duration::from_secs(1));
    send("INT", &child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(99));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(last["event"], "recap", "{stdout}");
    assert_eq!(last["interrupted"], true, "{stdout}");
    let hosts = last["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{last}");
    assert_eq!(hosts[0]["ok"], 1, "{last}");
}
