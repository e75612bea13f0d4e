//! Inventory sources, tried as Ansible's default plugins do: a `a,b,` host list, a directory
//! of inventory files (sorted, ignoring hidden files, `group_vars`, `host_vars` and `.ini`,
//! `.cfg`, `.retry`, … extensions), a YAML file (`.yml`, `.yaml`, `.json` or no extension; an
//! extensionless file that is not a YAML mapping is read as INI) or an INI file.

use std::path::{Component, Path, PathBuf};

use drover_diag::{Diagnostic, Source};
use serde_json::Value;

use crate::data::{Data, SourceInfo};
use crate::ranges::parse_address;

const IGNORED_EXTS: [&str; 13] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg",
    ".retry",
];
const YAML_EXTS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Where a source's `group_vars/` and `host_vars/` are looked for (none for host lists).
pub fn vars_base(source: &str) -> Option<PathBuf> {
    if is_host_list(source) {
        return None;
    }
    let path = absolute(Path::new(source));
    if path.is_dir() {
        Some(path)
    } else {
        path.parent().map(Path::to_path_buf)
    }
}

fn is_host_list(source: &str) -> bool {
    source.contains(',') && !Path::new(source).exists()
}

/// `os.path.abspath`: absolute and lexically normalised, symlinks kept.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Parses one `-i` source into `data`.
pub fn load_source(
    data: &mut Data,
    source: &str,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    if is_host_list(source) {
        load_host_list(data, source);
        return Ok(());
    }
    let path = absolute(Path::new(source));
    if !path.exists() {
        return Err(Diagnostic::error(format!(
            "inventory source `{source}` does not exist"
        ))
        .with_help("pass an inventory file or directory with -i, or a comma-separated host list such as `-i host1,host2,`"));
    }
    load_path(data, &path, warnings)
}

fn load_host_list(data: &mut Data, list: &str) {
    let info = SourceInfo {
        file: Value::String(list.to_string()),
        // Ansible's `to_text(basedir("a,b"))` of a non-path is the string "None".
        dir: Value::String("None".into()),
    };
    for h in list.split(',') {
        let h = drover_python::text::strip(h);
        if h.is_empty() {
            continue;
        }
        // Ranges are not expanded in host lists (allow_ranges=False).
        let (host, port) = match parse_address(h) {
            Some((host, port)) if !host.contains('[') => (host, port),
            _ => (h.to_string(), None),
        };
        data.add_host(&host, Some(crate::data::UNGROUPED), port, None, &info);
    }
}

fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || IGNORED_EXTS.iter().any(|e| name.ends_with(e))
}

fn load_path(
    data: &mut Data,
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| {
            Diagnostic::error(format!(
                "cannot read inventory directory `{}`: {e}",
                path.display()
            ))
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names.into_iter().filter(|n| !ignored(n)) {
            load_path(data, &path.join(name), warnings)?;
        }
        return Ok(());
    }
    let info = SourceInfo {
        file: Value::String(path.display().to_string()),
        dir: path
            .parent()
            .map_or(Value::Null, |p| Value::String(p.display().to_string())),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = python_ext(&name);
    if ext == ".toml" {
        return Err(Diagnostic::error(format!(
            "TOML inventories are not supported: `{}`",
            path.display()
        ))
        .with_help("convert it to YAML with `ansible-inventory -i FILE --list -y`"));
    }
    let src = Source::read(path)
        .map_err(|e| e.diagnostic(format_args!("cannot read inventory `{}`", path.display())))?;
    let yaml_ext = YAML_EXTS.contains(&ext);
    if !(yaml_ext || ext.is_empty()) {
        return crate::ini_source::parse(data, &src, &info);
    }
    let yaml_err = match drover_yaml::load_str(&src).and_then(|l| {
        let w = l.warnings.clone();
        l.single().map(|doc| (doc, w))
    }) {
        Ok((None, _)) => return Ok(()), // empty: Ansible's INI fallback parses it as nothing
        Ok((Some(doc), w)) if doc.as_map().is_some() => {
            warnings.extend(w);
            return crate::yaml_source::parse(data, &doc, &info);
        }
        Ok((Some(doc), _)) => crate::yaml_source::parse(data, &doc, &info)
            .err()
            .unwrap_or_else(|| Diagnostic::error("not a YAML inventory")),
        Err(e) => e,
    };
    // Not a YAML mapping: Ansible tries the INI plugin next.
    let mut attempt = data.clone();
    match crate::ini_source::parse(&mut attempt, &src, &info) {
        Ok(()) => {
            *data = attempt;
            Ok(())
        }
        Err(ini_err) if yaml_ext => {
            Err(yaml_err.with_context(format!("also not an INI inventory: {}", ini_err.message)))
        }
        Err(ini_err) => {
            Err(ini_err.with_context(format!("also not a YAML inventory: {}", yaml_err.message)))
        }
    }
}

/// Python's `os.path.splitext(name)[1]`.
fn python_ext(name: &str) -> &str {
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(i) => &trimmed[i..],
        None => "",
    }
}
