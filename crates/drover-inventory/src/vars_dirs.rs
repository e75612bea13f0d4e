//! `group_vars/` and `host_vars/` beside an inventory source or a playbook (Ansible's
//! `host_group_vars` vars plugin): for an entity `name`, the first of `name`, `name.yml`,
//! `name.yaml`, `name.json` that exists; a directory is read recursively, files in sorted
//! order, and merged (later files replace earlier keys). Each variable keeps where it is
//! written: its value's position in a YAML file, or the file alone for JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use drover_diag::{Diagnostic, did_you_mean};
use drover_yaml::Node;
use serde_json::{Map, Value};

use crate::origin::{Origin, Origins};

const EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

/// The variables of one group or host from its files, merged, and where each is written.
#[derive(Debug, Clone, Default)]
pub struct FileVars {
    /// The merged variables.
    pub vars: Map<String, Value>,
    /// Where each variable's winning value is written.
    pub origins: Origins,
}

impl FileVars {
    /// Adds `other` over these variables (its keys win, with their origins).
    fn extend(&mut self, other: FileVars) {
        self.vars.extend(other.vars);
        self.origins.extend(other.origins);
    }

    /// Every variable of `vars` written somewhere in the file `path`.
    fn whole_file(vars: Map<String, Value>, path: &Path) -> FileVars {
        let origins = vars
            .keys()
            .map(|k| (k.clone(), Origin::File(path.to_path_buf())))
            .collect();
        FileVars { vars, origins }
    }
}

/// The variables one directory's `group_vars/` and `host_vars/` give each group and host.
#[derive(Debug, Clone, Default)]
pub struct VarsDir {
    /// The directory holding `group_vars/` and `host_vars/`.
    pub dir: PathBuf,
    /// Merged variables per group name (only groups with files).
    pub group_vars: HashMap<String, FileVars>,
    /// Merged variables per host name (only hosts with files).
    pub host_vars: HashMap<String, FileVars>,
}

impl VarsDir {
    /// Reads the files for the given groups and hosts. With `warn_unknown`, files naming no
    /// known group or host are reported as warnings (Ansible ignores them silently; beside an
    /// inventory they are usually typos).
    pub fn load(
        dir: &Path,
        groups: &[&str],
        hosts: &[&str],
        warn_unknown: bool,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<VarsDir, Diagnostic> {
        let group_vars = load_kind(dir, "group_vars", groups, warn_unknown, warnings)?;
        let host_vars = load_kind(dir, "host_vars", hosts, warn_unknown, warnings)?;
        Ok(VarsDir {
            dir: dir.to_path_buf(),
            group_vars,
            host_vars,
        })
    }
}

fn load_kind(
    dir: &Path,
    subdir: &str,
    names: &[&str],
    warn_unknown: bool,
    warnings: &mut Vec<Diagnostic>,
) -> Result<HashMap<String, FileVars>, Diagnostic> {
    let base = dir.join(subdir);
    let mut out = HashMap::new();
    if !base.exists() {
        return Ok(out);
    }
    if !base.is_dir() {
        warnings.push(Diagnostic::warning(format!(
            "found {subdir} that is not a directory, skipping: {}",
            base.display()
        )));
        return Ok(out);
    }
    for name in names {
        // Ansible skips "chroot"-style names such as /path/to/chroot.
        if name.starts_with('/') || name.is_empty() {
            continue;
        }
        let files = find_vars_files(&base, name);
        let mut merged = FileVars::default();
        for file in files {
            merged.extend(load_vars_file(&file, warnings)?);
        }
        if !merged.vars.is_empty() {
            out.insert((*name).to_string(), merged);
        }
    }
    if warn_unknown {
        warn_unmatched(&base, subdir, names, warnings);
    }
    Ok(out)
}

/// Ansible's `DataLoader.find_vars_files`.
fn find_vars_files(base: &Path, name: &str) -> Vec<PathBuf> {
    let plain = base.join(name);
    let candidates = std::iter::once(plain.clone()).chain(
        EXTENSIONS
            .iter()
            .map(|ext| PathBuf::from(format!("{}{ext}", plain.display()))),
    );
    for path in candidates {
        if path.exists() {
            if path.is_dir() {
                let mut found = Vec::new();
                dir_vars_files(&path, &mut found);
                return found;
            }
            return vec![path];
        }
    }
    Vec::new()
}

/// Python's `os.path.splitext(name)[1]` (a leading dot does not start an extension).
fn extension(name: &str) -> &str {
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(i) => &trimmed[i..],
        None => "",
    }
}

fn dir_vars_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = extension(&name);
        let full = dir.join(&name);
        if full.is_dir() && ext.is_empty() {
            dir_vars_files(&full, found);
        } else if full.is_file() && (ext.is_empty() || EXTENSIONS.contains(&ext)) {
            found.push(full);
        }
    }
}

/// Loads one vars file: a YAML/JSON mapping (an empty file gives nothing).
pub fn load_vars_file(path: &Path, warnings: &mut Vec<Diagnostic>) -> Result<FileVars, Diagnostic> {
    if let Ok(text) = std::fs::read_to_string(path)
        && text.starts_with("$ANSIBLE_VAULT")
    {
        return Err(Diagnostic::error(format!(
            "`{}` is encrypted with ansible-vault, which drover does not support",
            path.display()
        ))
        .with_help("decrypt it with `ansible-vault decrypt` or move the secrets to an environment-specific file"));
    }
    // Ansible's DataLoader tries JSON before YAML (so `{"a": 1e3}` holds a float).
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(value) = serde_json::from_str::<Value>(&text)
        && let Value::Object(map) = value
    {
        return Ok(FileVars::whole_file(map, path));
    }
    // ansible-playbook and ansible-inventory: a vars file they cannot parse, or that is not a
    // mapping, is a parse error (exit 4)
    let parse_error = |d: Diagnostic| d.with_exit_code(4);
    let loaded = drover_yaml::load_file(path).map_err(parse_error)?;
    warnings.extend(loaded.warnings.iter().cloned());
    let Some(node) = loaded.single().map_err(parse_error)? else {
        return Ok(FileVars::default());
    };
    crate::yaml_source::reject_vault(&node)?;
    match node.to_json() {
        Value::Object(map) => Ok(yaml_file_vars(map, &node, path)),
        // Ansible's `if new_data:` skips falsy data such as `[]`, `""`, `0`, `false`.
        Value::Array(a) if a.is_empty() => Ok(FileVars::default()),
        Value::String(s) if s.is_empty() => Ok(FileVars::default()),
        Value::Bool(false) => Ok(FileVars::default()),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(FileVars::default()),
        _ => Err(Diagnostic::error(format!(
            "variables file `{}` must hold a mapping of variable names to values, found {}",
            path.display(),
            node.kind_name()
        ))
        .with_span(node.span.clone())
        .with_help("write `name: value` lines at the top level of the file")
        .with_exit_code(4)),
    }
}

/// The variables of a YAML vars file, each at its value's position in `node` (the file's
/// mapping; a later duplicate key wins, as in [`Node::to_json`]), or at the file when the
/// mapping does not list it.
fn yaml_file_vars(vars: Map<String, Value>, node: &Node, path: &Path) -> FileVars {
    let mut out = FileVars::whole_file(vars, path);
    if let Some(map) = node.as_map() {
        for (k, v) in map.iter() {
            out.origins
                .insert(k.key_string(), Origin::Span(v.span.clone()));
        }
    }
    out
}

fn warn_unmatched(base: &Path, subdir: &str, names: &[&str], warnings: &mut Vec<Diagnostic>) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with('~'))
        .collect();
    files.sort();
    for file in files {
        let ext = extension(&file);
        let stem = if EXTENSIONS.contains(&ext) {
            &file[..file.len() - ext.len()]
        } else {
            file.as_str()
        };
        if names.contains(&stem) {
            continue;
        }
        let what = if subdir == "group_vars" {
            "group"
        } else {
            "host"
        };
        let mut d = Diagnostic::warning(format!(
            "{}/{file} matches no {what} in the inventory; its variables are not used",
            base.display()
        ));
        if let Some(hint) = did_you_mean(stem, names.iter().copied()) {
            d = d.with_help(hint);
        }
        warnings.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_files_dirs_and_merges_in_sorted_order() {
        let tmp = tempfile::tempdir().unwrap();
        let gv = tmp.path().join("group_vars");
        std::fs::create_dir_all(gv.join("web/sub")).unwrap();
        std::fs::write(gv.join("all.yml"), "a: 1\n").unwrap();
        std::fs::write(gv.join("all.json"), "{\"a\": 2}").unwrap();
        std::fs::write(gv.join("web/b.yml"), "x: b\ny: b\n").unwrap();
        std::fs::write(gv.join("web/a.yaml"), "x: a\n").unwrap();
        std::fs::write(gv.join("web/sub/c"), "y: c\n").unwrap();
        std::fs::write(gv.join("web/skip.txt"), "x: txt\n").unwrap();
        std::fs::write(gv.join("wbe.yml"), "z: 1\n").unwrap();
        let mut w = Vec::new();
        let v = VarsDir::load(tmp.path(), &["all", "web"], &[], true, &mut w).unwrap();
        assert_eq!(v.group_vars["all"].vars["a"], json!(1));
        assert_eq!(v.group_vars["web"].vars["x"], json!("b"));
        assert_eq!(v.group_vars["web"].vars["y"], json!("c"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].message.contains("wbe.yml"), "{}", w[0].message);
    }

    #[test]
    fn non_mapping_file_is_an_error_with_location() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("host_vars")).unwrap();
        std::fs::write(tmp.path().join("host_vars/h1.yml"), "- a\n- b\n").unwrap();
        let e = VarsDir::load(tmp.path(), &[], &["h1"], true, &mut Vec::new()).unwrap_err();
        assert!(e.location().unwrap().ends_with("h1.yml:1:1"));
    }

    #[test]
    fn json_is_read_before_yaml_and_vault_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("group_vars")).unwrap();
        // YAML 1.1 would read 1e3 as a string; Ansible reads JSON first, so it is a float.
        std::fs::write(tmp.path().join("group_vars/all.json"), "{\"n\": 1e3}").unwrap();
        std::fs::write(
            tmp.path().join("group_vars/web.yml"),
            "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
        )
        .unwrap();
        let v = VarsDir::load(tmp.path(), &["all"], &[], true, &mut Vec::new()).unwrap();
        assert_eq!(v.group_vars["all"].vars["n"], json!(1000.0));
        let e = VarsDir::load(tmp.path(), &["web"], &[], true, &mut Vec::new()).unwrap_err();
        assert!(e.message.contains("vault"), "{}", e.message);
        assert!(e.location().unwrap().ends_with("web.yml:1:9"));
    }
}
