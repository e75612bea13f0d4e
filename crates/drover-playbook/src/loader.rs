//! Reading files: the YAML cache, path search for imports and roles, and the hook that
//! templates file names (`import_tasks: "{{ x }}.yml"`, `vars_files`, role names).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_diag::{Diagnostic, Span};
use drover_yaml::Node;
use serde_json::{Map, Value};

use crate::error::LoadResult;

/// Renders the templates that must be resolved while loading (import paths, `vars_files`
/// names, role names, play `hosts`). The CLI plugs in drover-template; [`ExtraVarsTemplater`]
/// is a minimal stand-in that substitutes plain variables.
pub trait LoadTemplater: Send + Sync {
    /// Renders `text` with `vars`; the error is a one-line reason.
    fn render(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String>;

    /// Renders `text` to data (a templated tag may yield a list, which Ansible flattens).
    fn render_value(&self, text: &str, vars: &Map<String, Value>) -> Result<Value, String> {
        self.render(text, vars).map(Value::String)
    }
}

/// A rendered value as text where a name is needed (a task name, an import path): strings as
/// they are, `True`/`False`/`None` as Python prints them, other data as JSON.
pub fn rendered_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// drover's Ansible-compatible templating engine, for names, tags and `vars_files`.
impl LoadTemplater for drover_template::Templar {
    fn render(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        self.render_value(text, vars).map(rendered_text)
    }

    fn render_value(&self, text: &str, vars: &Map<String, Value>) -> Result<Value, String> {
        let vars = drover_template::Vars::new(vars.clone());
        self.template_value(&Value::String(text.to_string()), &vars, None)
            .map(|outcome| outcome.value)
            .map_err(|d| d.message.clone())
    }
}

/// Substitutes `{{ name }}` (a bare variable name) from the given variables and refuses any
/// other expression, so nothing is silently mis-rendered.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtraVarsTemplater;

impl LoadTemplater for ExtraVarsTemplater {
    fn render(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in `{text}`"))?;
            let name = after[..end].trim();
            let value = vars
                .get(name)
                .ok_or_else(|| format!("`{name}` is undefined (in `{text}`)"))?;
            match value {
                Value::String(s) => out.push_str(s),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
                _ => return Err(format!("`{name}` is not a string (in `{text}`)")),
            }
            rest = &after[end + 2..];
        }
        if rest.contains("{%") {
            return Err(format!("cannot render `{text}` while loading"));
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// How to load playbooks.
#[derive(Clone)]
pub struct LoadOptions {
    /// Extra role directories (from `DROVER_ROLES_PATH`, colon-separated), searched after the
    /// playbook's `roles/`.
    pub roles_path: Vec<PathBuf>,
    /// Extra vars (`-e`), available when templating names at load time.
    pub extra_vars: Map<String, Value>,
    /// The templating hook (drover-template's `Templar` by default).
    pub templater: Arc<dyn LoadTemplater>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            roles_path: Vec::new(),
            extra_vars: Map::new(),
            templater: Arc::new(drover_template::Templar::default()),
        }
    }
}

impl LoadOptions {
    /// Options with `roles_path` taken from `DROVER_ROLES_PATH`.
    pub fn from_env() -> LoadOptions {
        LoadOptions {
            roles_path: roles_path_from_env(std::env::var("DROVER_ROLES_PATH").ok().as_deref()),
            ..LoadOptions::default()
        }
    }
}

/// Splits a colon-separated roles path, dropping empty entries.
pub fn roles_path_from_env(value: Option<&str>) -> Vec<PathBuf> {
    value
        .unwrap_or("")
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Loads playbooks, roles and task files; caches parsed YAML.
pub struct Loader {
    /// Options.
    pub options: LoadOptions,
    /// Warnings found while loading (duplicate keys, ...).
    pub warnings: Vec<Diagnostic>,
    cache: HashMap<PathBuf, Option<Arc<Node>>>,
    /// The directory of the top playbook (`playbook_dir`).
    pub playbook_dir: PathBuf,
    /// Role instances compiled for the current play (drained by the play).
    pub(crate) compiled_roles: Vec<Arc<crate::role::RoleInstance>>,
    /// The current play's `vars:` (merged), available when templating names at load time.
    pub(crate) play_vars: Map<String, Value>,
    /// Role handlers to load at the end of the current play.
    pub(crate) role_handlers: Vec<(
        Arc<crate::role::RoleInstance>,
        Option<String>,
        crate::scope::Inherit,
    )>,
}

impl Loader {
    /// A loader for playbooks under `playbook_dir`.
    pub fn new(options: LoadOptions, playbook_dir: PathBuf) -> Loader {
        Loader {
            options,
            warnings: Vec::new(),
            cache: HashMap::new(),
            playbook_dir,
            compiled_roles: Vec::new(),
            play_vars: Map::new(),
            role_handlers: Vec::new(),
        }
    }

    /// Loads a YAML file once (`None` for an empty file).
    pub fn yaml(&mut self, path: &Path) -> LoadResult<Option<Arc<Node>>> {
        if let Some(hit) = self.cache.get(path) {
            return Ok(hit.clone());
        }
        let loaded = drover_yaml::load_file(path)?;
        self.warnings.extend(loaded.warnings.iter().cloned());
        let node = loaded.single()?.map(Arc::new);
        self.cache.insert(path.to_path_buf(), node.clone());
        Ok(node)
    }

    /// Renders a name given at `span` with the play vars, `vars` and the extra vars (highest),
    /// or explains why not.
    pub fn render(&self, text: &str, vars: &Map<String, Value>, span: &Span) -> LoadResult<String> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_string());
        }
        let mut all = self.play_vars.clone();
        for (k, v) in vars {
            all.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.options.extra_vars {
            all.insert(k.clone(), v.clone());
        }
        self.options.templater.render(text, &all).map_err(|why| {
            Diagnostic::error(format!("cannot template `{text}` while loading: {why}"))
                .with_span(span.clone())
                .with_help(
                    "names resolved at load time may only use extra vars (`-e`) and play vars",
                )
        })
    }
}

/// The first existing file among `dirs` joined with `name` (absolute names are taken as is),
/// canonicalized so import loops are detected whatever the spelling of the path.
pub fn find_file(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let p = Path::new(name);
    let found = if p.is_absolute() {
        p.is_file().then(|| p.to_path_buf())
    } else {
        dirs.iter().map(|d| d.join(p)).find(|c| c.is_file())
    };
    found.map(|f| std::fs::canonicalize(&f).unwrap_or(f))
}

/// The variable files of a `vars/main/`-style directory: every `.yml`, `.yaml`, `.json` or
/// extension-less file below it, in sorted path order (Ansible's `_get_dir_vars_files`).
pub fn dir_vars_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            out.extend(dir_vars_files(&path));
        } else {
            let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
            if matches!(ext.as_deref(), None | Some("yml" | "yaml" | "json")) {
                out.push(path);
            }
        }
    }
    out
}

/// `dir/main.yml`, `dir/main.yaml` or `dir/main` (the first that exists), or with `from`
/// instead of `main`.
pub fn main_file(dir: &Path, from: &str) -> Option<PathBuf> {
    [
        format!("{from}.yml"),
        format!("{from}.yaml"),
        from.to_string(),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
    .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_templater_substitutes_plain_variables_only() {
        let mut vars = Map::new();
        vars.insert("x".into(), Value::String("a".into()));
        vars.insert("n".into(), Value::from(3));
        let t = ExtraVarsTemplater;
        assert_eq!(
            t.render("tasks/{{ x }}-{{n}}.yml", &vars).unwrap(),
            "tasks/a-3.yml"
        );
        assert!(t.render("{{ y }}", &vars).is_err());
        assert!(t.render("{{ x | upper }}", &vars).is_err());
        assert_eq!(
            roles_path_from_env(Some("/a::/b")),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }
}
