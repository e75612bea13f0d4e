//! Shared helpers for the compatibility tests: finding ansible-core.

use std::path::PathBuf;

/// The directory holding `ansible-playbook`, or `None` (after printing a loud SKIPPED line)
/// when it is missing outside CI. Panics when missing and `CI=true`.
pub fn ansible_bin_dir() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // An explicit DROVER_ANSIBLE_BIN_DIR is the only place looked at.
    let candidates = match std::env::var_os("DROVER_ANSIBLE_BIN_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            PathBuf::from("/work/ansible-venv/bin"),
            repo.join("target/ansible-venv/bin"),
        ],
    };
    for dir in candidates {
        if dir.join("ansible-playbook").is_file() {
            return Some(dir);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("ansible-core not found (set DROVER_ANSIBLE_BIN_DIR); required when CI=true");
    }
    // Written to the real stderr (not `eprintln!`, which the test harness captures) so the
    // skip is visible in every test run.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n==============================================\nSKIPPED: ansible-core not found\n=============================================="
    );
    None
}

/// The fixture directory.
#[allow(dead_code)]
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs the commands with at most `parallel` at a time; outputs in input order.
#[allow(dead_code)]
pub fn run_all(commands: Vec<std::process::Command>, parallel: usize) -> Vec<std::process::Output> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let commands: Vec<Mutex<std::process::Command>> =
        commands.into_iter().map(Mutex::new).collect();
    let results: Vec<Mutex<Option<std::process::Output>>> =
        commands.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= commands.len() {
                        break;
                    }
                    let out = commands[i].lock().unwrap().output().unwrap();
                    *results[i].lock().unwrap() = Some(out);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().unwrap().unwrap())
        .collect()
}
