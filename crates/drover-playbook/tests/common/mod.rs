//! Shared helpers for the compatibility tests: finding ansible-core.

use std::path::PathBuf;

/// The directory holding `ansible-playbook`, or `None` (after printing a loud SKIPPED line)
/// when it is missing outside CI. Panics when missing and `CI=true`.
pub fn ansible_bin_dir() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("DROVER_ANSIBLE_BIN_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/ansible-venv/bin")),
        Some(repo.join("target/ansible-venv/bin")),
    ];
    for dir in candidates.into_iter().flatten() {
        if dir.join("ansible-playbook").is_file() {
            return Some(dir);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("ansible-core not found (set DROVER_ANSIBLE_BIN_DIR); required when CI=true");
    }
    eprintln!(
        "\n==============================================\nSKIPPED: ansible-core not found\n==============================================\n"
    );
    None
}

/// The fixture directory.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
