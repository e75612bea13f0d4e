//! The controller hooks modules use: finding `src:` files and templates (role `files/` /
//! `templates/`, then the playbook directory, like Ansible's search path) and rendering
//! templates with the task's variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_template::{Templar, Vars};

/// Controller hooks for one task on one host.
pub struct TaskController {
    /// Directories searched for `src:` of copy/script/unarchive, in order.
    pub file_dirs: Vec<PathBuf>,
    /// Directories searched for `src:` of template, in order.
    pub template_dirs: Vec<PathBuf>,
    /// The templating engine.
    pub templar: Arc<Templar>,
    /// The task's variables on this host.
    pub vars: Vars,
}

impl TaskController {
    fn find(&self, name: &str, dirs: &[PathBuf], kind: &str) -> Result<PathBuf, String> {
        let path = Path::new(name);
        if path.is_absolute() {
            return if path.exists() {
                Ok(path.to_path_buf())
            } else {
                Err(format!("could not find {kind} `{name}`"))
            };
        }
        for dir in dirs {
            let candidate = dir.join(name);
            if candidate.exists() {
                return Ok(candidate);
            }
        }
        let tried: Vec<String> = dirs
            .iter()
            .map(|d| d.join(name).display().to_string())
            .collect();
        Err(format!(
            "could not find {kind} `{name}`; searched {}",
            tried.join(", ")
        ))
    }
}

impl drover_modules::Controller for TaskController {
    fn find_file(&self, name: &str) -> Result<PathBuf, String> {
        self.find(name, &self.file_dirs, "file")
    }

    fn find_template(&self, name: &str) -> Result<PathBuf, String> {
        self.find(name, &self.template_dirs, "template")
    }

    fn render_template(&self, path: &Path, src: &str, dest: &str) -> Result<String, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read template `{}`: {e}", path.display()))?;
        let mut search = self.template_dirs.clone();
        if let Some(dir) = path.parent() {
            search.insert(0, dir.to_path_buf());
        }
        // ansible_managed, template_path, ... (they were defined but never added)
        let vars = self
            .vars
            .clone()
            .with_overlay(drover_template::template_module_vars(src, path, dest))
            .with_search_paths(search);
        self.templar
            .render_template_file(&path.display().to_string(), &text, &vars)
            .map(|o| o.value)
            .map_err(|d| d.to_string())
    }
}
