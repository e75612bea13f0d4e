//! Where the inventory comes from when `-i` is not given.
//!
//! Order: `-i` (repeatable), then `$DROVER_INVENTORY` (comma-separated, like
//! `ANSIBLE_INVENTORY`), then an `inventory/` directory beside the first playbook, then one in
//! the playbook's parent directory (so `./playbooks/infra.yml` finds `./inventory/`), then
//! `./inventory/` in the current directory.

use std::path::{Path, PathBuf};

use drover_diag::Diagnostic;

/// The directory of a playbook file (`.` for a bare file name).
pub fn playbook_dir(playbook: &Path) -> PathBuf {
    match playbook.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Resolves the inventory sources for a run (`playbook_dir`: the first playbook's directory).
pub fn resolve(
    explicit: &[PathBuf],
    playbook_dir: Option<&Path>,
) -> Result<Vec<PathBuf>, Diagnostic> {
    if !explicit.is_empty() {
        return Ok(explicit.to_vec());
    }
    if let Ok(env) = std::env::var("DROVER_INVENTORY") {
        let paths: Vec<PathBuf> = env
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        if !paths.is_empty() {
            return Ok(paths);
        }
    }
    let mut candidates = Vec::new();
    if let Some(dir) = playbook_dir {
        candidates.push(dir.join("inventory"));
        candidates.push(dir.join("..").join("inventory"));
    }
    candidates.push(PathBuf::from("inventory"));
    for candidate in &candidates {
        if candidate.exists() {
            return Ok(vec![normalize(candidate)]);
        }
    }
    let tried: Vec<String> = candidates
        .iter()
        .map(|c| format!("`{}`", c.display()))
        .collect();
    Err(Diagnostic::error("no inventory given and none found")
        .with_context(format!("looked for {}", tried.join(", ")))
        .with_help("pass `-i INVENTORY`, set `DROVER_INVENTORY`, or create `inventory/` beside your playbooks"))
}

/// `playbooks/../inventory` → `inventory` for nicer messages (purely lexical).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.file_name().is_some_and(|n| n != "..") => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_inventory_wins() {
        let got = resolve(&[PathBuf::from("a"), PathBuf::from("b")], None).unwrap();
        assert_eq!(got, [PathBuf::from("a"), PathBuf::from("b")]);
    }

    #[test]
    fn finds_inventory_beside_or_above_the_playbook() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("playbooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("inventory")).unwrap();
        let pb_dir = dir.path().join("playbooks");
        // DROVER_INVENTORY would take precedence; this test relies on it being unset
        if std::env::var_os("DROVER_INVENTORY").is_none() {
            let got = resolve(&[], Some(&pb_dir)).unwrap();
            assert_eq!(got, [dir.path().join("inventory")]);
        }
    }

    #[test]
    fn normalize_removes_dot_dot() {
        assert_eq!(
            normalize(Path::new("playbooks/../inventory")),
            PathBuf::from("inventory")
        );
        assert_eq!(
            normalize(Path::new("./playbooks/../inventory")),
            PathBuf::from("inventory")
        );
    }
}
