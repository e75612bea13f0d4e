//! Jinja2 templating configured like Ansible 2.18 (jinja2_native off), for drover.
//!
//! One [`Templar`] owns a minijinja environment set up like Ansible's: `trim_blocks`, trailing
//! newlines kept the way the `template` module keeps them, undefined variables are errors naming
//! the variable, no auto-escaping, Python-style rendering, `dict.items()` and string methods, and
//! Ansible's filters, tests and lookups.
//!
//! Three entry points cover what a play needs:
//! - [`Templar::render_template_file`]: the `template` module (text in, text out).
//! - [`Templar::template_value`]: Ansible's templating of variable and argument *values*: every
//!   string in a list/dict tree is rendered and turned back into data by `ansible_eval_concat`.
//! - [`Templar::evaluate_when`]: `when:` conditions.
//!
//! Undefined values are Ansible's: strict (printing, truth tests, iteration, arithmetic, filter
//! arguments fail) but chainable for attribute and item access, so `svc.haproxy.maxconn |
//! default(3000)` is `3000` with `svc.haproxy` missing (a patched minijinja, `vendor/README.md`).
//!
//! Variables are lazy, as in Ansible: a variable whose value contains `{{ }}` is templated when it
//! is used, recursively, with loops reported as errors. `hostvars` comes from a caller-provided
//! [`HostVarsSource`] and is templated in each host's own context.
//!
//! Errors are [`drover_diag::Diagnostic`]s pointing into the YAML scalar or template file.
//!
//! # `!unsafe`
//!
//! Strings loaded with `!unsafe` arrive as `{"__ansible_unsafe": text}` (Ansible's own JSON form
//! of `AnsibleUnsafeText`, made by `drover_yaml::Node::to_json`; see
//! [`drover_yaml::unsafe_text`]). The templar never templates them, directly or through another
//! variable, and hands them to templates, filters and results as the plain string, so they
//! print and compare as their text. The mark lives only in the data given to the templar:
//! results of [`Templar::template_value`] are plain (Ansible's "the result of a template that
//! read an unsafe value is unsafe" is not carried into stored results such as `set_fact`).
//!
//! # Compatibility
//!
//! Checked byte for byte against ansible-core 2.18 (`tests/ansible_compat_*.rs`,
//! `tests/pyyaml_compat.rs`; recorded results in `tests/fixtures/` keep the checks meaningful
//! offline). Where drover differs, it fails with an error naming the construct instead of
//! guessing:
//!
//! - Python `%` string formatting, `{% include %}`/`{% import %}`/`{% extends %}`, globals such as
//!   `now()`, and mutating methods (`list.append`, `dict.update`) are refused.
//! - Lookups: `file`, `template`, `env`, `vars` only, plus drover's `drover_var_origin` (where
//!   the inventory writes a variable of the current host, `""` when unknown; see
//!   [`HostVarsSource::var_origin`]). `ipaddr`: a documented subset of queries.
//!   `version` tests: the default (loose) comparison only. `hash`: md5/sha1/sha2 family.
//!   Any other filter, test, lookup or query is an "unknown ..." error naming it.
//!
//! Known *silent* differences, kept deliberately small:
//!
//! - `union`, `intersect`, `difference`, `symmetric_difference` return items in first-seen
//!   order; Ansible returns Python `set` order (hash order, random per run for strings). Sort the
//!   result where order matters.
//! - `json_query` runs on the Rust `jmespath` crate; result key order is restored from the input
//!   and from multi-select hashes, but objects built by JMESPath functions (`merge()`) come back
//!   with sorted keys.
//! - `from_yaml` yields strings for YAML timestamps (Ansible yields `datetime.date` objects).
//! - A loop filter (`{% for x in xs if cond %}`) is evaluated over the whole list before the
//!   first iteration (minijinja); Jinja2 evaluates it item by item, so a condition that reads a
//!   `namespace` the loop body changes sees the changes in Ansible only. Filter the list with
//!   `select`/`unique` first instead.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod context;
mod environment;
mod error;
mod filters;
mod lookups;
mod pyyaml;
mod tests;
mod value;
mod when;

use std::path::PathBuf;
use std::sync::Arc;

use drover_diag::{Diagnostic, Source, Span};
use drover_yaml::unsafe_text::strip_unsafe;
use serde_json::{Map, Value};

pub use context::HostVarsSource;
pub use when::Condition;

use context::{Layers, LazyVars, Shared};

/// Options for a [`Templar`].
#[derive(Clone, Debug, Default)]
pub struct TemplarOptions {
    /// The value of `omit`. `None` generates Ansible's form, `__omit_place_holder__<sha1>`, from
    /// the process id and time.
    pub omit_placeholder: Option<String>,
}

/// The variables a template sees, plus where lookups find files.
#[derive(Clone)]
pub struct Vars {
    layers: Layers,
    /// The layers merged, computed on first use of [`Vars::map`] when there are overlays.
    merged: Arc<std::sync::OnceLock<Map<String, Value>>>,
    hostvars: Option<Arc<dyn HostVarsSource>>,
    search_paths: Vec<PathBuf>,
}

impl Vars {
    /// Variables already merged with Ansible's precedence (values may still contain `{{ }}`).
    pub fn new(map: Map<String, Value>) -> Vars {
        Vars {
            layers: Layers::single(Arc::new(map)),
            merged: Arc::default(),
            hostvars: None,
            search_paths: Vec::new(),
        }
    }

    /// Shares an already wrapped map.
    pub fn from_arc(map: Arc<Map<String, Value>>) -> Vars {
        Vars {
            layers: Layers::single(map),
            merged: Arc::default(),
            hostvars: None,
            search_paths: Vec::new(),
        }
    }

    /// Makes `hostvars` available, read lazily from `source`.
    #[must_use]
    pub fn with_hostvars(mut self, source: Arc<dyn HostVarsSource>) -> Vars {
        self.hostvars = Some(source);
        self
    }

    /// Directories where `lookup('file')` and `lookup('template')` look, in order (for example the
    /// role directory, then the playbook directory). For a directory `d`, a file lookup tries
    /// `d/files/<name>` then `d/<name>`; a template lookup tries `d/templates/<name>` then
    /// `d/<name>`. Absolute names are used as they are.
    #[must_use]
    pub fn with_search_paths(mut self, paths: Vec<PathBuf>) -> Vars {
        self.search_paths = paths;
        self
    }

    /// Adds variables above the others without copying them (loop `item`, task `vars:`,
    /// registered results); a name set here hides the same name below.
    #[must_use]
    pub fn with_overlay(mut self, map: Map<String, Value>) -> Vars {
        self.layers.push(Arc::new(map));
        self.merged = Arc::default();
        self
    }

    /// All variables as one map (overlays applied; untemplated). With no overlay this is the
    /// map given to [`Vars::new`]; otherwise it is merged once and kept.
    pub fn map(&self) -> &Map<String, Value> {
        if let Some(single) = self.layers.only() {
            return single;
        }
        self.merged.get_or_init(|| self.layers.merged())
    }

    /// The value of a variable as given (untemplated), from the topmost layer holding it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.layers.get(name)
    }
}

/// A result plus the warnings produced on the way (Ansible prints them and goes on).
#[derive(Clone, Debug)]
pub struct Outcome<T> {
    /// The result.
    pub value: T,
    /// Warnings, for example for `{{ }}` inside a `when:`.
    pub warnings: Vec<Diagnostic>,
}

/// Ansible's templar: renders template files, variable values and conditions. Cheap to clone
/// (the environment is shared).
#[derive(Clone)]
pub struct Templar {
    env: Arc<minijinja::Environment<'static>>,
    omit: String,
}

impl Templar {
    /// Builds the environment with every filter, test and lookup.
    pub fn new(options: TemplarOptions) -> Templar {
        let omit = options.omit_placeholder.unwrap_or_else(generate_omit);
        Templar {
            env: Arc::new(environment::build()),
            omit,
        }
    }

    /// The placeholder `{{ omit }}` renders to; a module argument equal to it must be dropped.
    pub fn omit_placeholder(&self) -> &str {
        &self.omit
    }

    /// Whether `value` is (or, for a string, equals) the `omit` placeholder.
    pub fn is_omit(&self, value: &Value) -> bool {
        value.as_str() == Some(self.omit.as_str())
    }

    fn shared(&self, vars: &Vars) -> Arc<Shared> {
        Shared::new(
            self.env.clone(),
            vars.hostvars.clone(),
            vars.search_paths.clone(),
            self.omit.clone(),
        )
    }

    /// Renders a template file the way Ansible's `template` module does: no conversion of the
    /// result, no backslash escaping, and the template's trailing newlines preserved. `name` is the
    /// path shown in errors.
    pub fn render_template_file(
        &self,
        name: &str,
        text: &str,
        vars: &Vars,
    ) -> Result<Outcome<String>, Diagnostic> {
        let shared = self.shared(vars);
        let root = LazyVars::root(shared.clone(), vars.layers.clone());
        let result = root.render_text(name, text);
        let warnings = shared.take_warnings();
        match result {
            Ok(value) => Ok(Outcome { value, warnings }),
            Err(err) => {
                let source = Source::new(name, text);
                Err(error::file_error(&err, &source, &shared, &vars.layers))
            }
        }
    }

    /// Templates a variable or argument value with Ansible's value semantics: strings are rendered
    /// (with backslash escaping inside `{{ }}` and trailing newlines kept) and converted back by
    /// `ansible_eval_concat`; lists and dicts are templated item by item; other values pass through.
    /// `span` is the YAML scalar the value came from, for errors.
    pub fn template_value(
        &self,
        value: &Value,
        vars: &Vars,
        span: Option<&Span>,
    ) -> Result<Outcome<Value>, Diagnostic> {
        let shared = self.shared(vars);
        let root = LazyVars::root(shared.clone(), vars.layers.clone());
        let result = root.template_value(value);
        let warnings = shared.take_warnings();
        match result {
            Ok(value) => Ok(Outcome {
                value: strip_unsafe(value),
                warnings,
            }),
            Err(failure) => Err(error::inline_error(
                &failure.error,
                &failure.text,
                span,
                &shared,
                &vars.layers,
            )),
        }
    }

    /// Evaluates a `when:` list the way Ansible 2.18 does (all must hold). See [`Condition`].
    pub fn evaluate_when(
        &self,
        conditions: &[Condition],
        vars: &Vars,
        span: Option<&Span>,
    ) -> Result<Outcome<bool>, Diagnostic> {
        let shared = self.shared(vars);
        let root = LazyVars::root(shared.clone(), vars.layers.clone());
        when::evaluate(&root, conditions, span, &shared, &vars.layers)
    }
}

impl Default for Templar {
    fn default() -> Templar {
        Templar::new(TemplarOptions::default())
    }
}

/// Whether a string contains a Jinja2 start marker (`{{`, `{%` or `{#`) — Ansible's
/// `is_possibly_template`, the test deciding whether a value is templated at all.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The variables Ansible's `template` module adds while rendering `src` (Ansible's
/// `generate_ansible_template_vars`): `template_host`, `template_path`, `template_fullpath`,
/// `template_destpath`, `template_uid` and `ansible_managed` (the default "Ansible managed").
/// `template_mtime` and `template_run_date` (Python datetimes) are not provided, so a template
/// using them fails with an error naming them. Add the result as an overlay with
/// [`Vars::with_overlay`].
pub fn template_module_vars(
    src: &str,
    fullpath: &std::path::Path,
    dest: &str,
) -> Map<String, Value> {
    let mut vars = Map::new();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    vars.insert("template_host".into(), Value::String(host));
    vars.insert("template_path".into(), Value::String(src.to_string()));
    vars.insert(
        "template_fullpath".into(),
        Value::String(fullpath.display().to_string()),
    );
    vars.insert(
        "template_destpath".into(),
        if dest.is_empty() {
            Value::Null
        } else {
            Value::String(dest.to_string())
        },
    );
    if let Some(uid) = file_owner(fullpath) {
        vars.insert("template_uid".into(), Value::String(uid));
    }
    vars.insert(
        "ansible_managed".into(),
        Value::String("Ansible managed".into()),
    );
    vars
}

/// The owner's user name of a file (its uid when /etc/passwd has no entry).
fn file_owner(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(path).ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| uid.to_string()))
}

fn generate_omit() -> String {
    use sha1::{Digest, Sha1};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = Sha1::new();
    hasher.update(format!("{}-{nanos}", std::process::id()).as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("__omit_place_holder__{hex}")
}

/// A value as Python's `str()` prints it (`[1, 'a']`, `{'k': True}`), for messages that quote
/// values as Ansible does.
pub fn python_text(value: &serde_json::Value) -> String {
    value::python_str(&value::to_engine(value))
}
