//! Lazy variables: the context object templates see.
//!
//! Ansible templates a variable's value when a template reads it (`AnsibleJ2Vars`), recursively,
//! so `pg_instance: "{{ pg_cluster }}-{{ pg_seq }}"` works wherever `pg_instance` is used.
//! [`LazyVars`] does the same over a `serde_json::Map` of merged variables: values without `{{ }}`
//! are converted as they are, the others are templated on first access (and cached for the rest of
//! the call). A variable whose templating hits an undefined variable is itself undefined (as in
//! Ansible, so `is defined` and `default()` still work) and the reason is kept as a hint for the
//! error message. Loops (`a: "{{ b }}"`, `b: "{{ a }}"`) are errors.
//!
//! `hostvars` is a lazy map over a caller-provided [`HostVarsSource`]; `hostvars[h].x` is templated
//! in host `h`'s own variables.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use drover_diag::Diagnostic;
use drover_yaml::unsafe_text::{as_unsafe, strip_unsafe};
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, Error, ErrorKind, Value as JValue};
use serde_json::{Map, Value};

use crate::error::describe;
use crate::is_template;
use crate::value::{
    check_complexity, count_trailing_newlines, escape_backslashes, eval_concat, to_engine,
};

/// Where `hostvars` reads other hosts' variables from. The inventory implements it.
pub trait HostVarsSource: Send + Sync {
    /// Every host of the inventory (the keys of `hostvars`).
    fn host_names(&self) -> Vec<String>;
    /// The merged variables of `host` (inventory, group/host vars, facts), or `None` when the host
    /// is unknown. Values may contain `{{ }}`; they are templated in that host's context.
    fn host_vars(&self, host: &str) -> Option<Map<String, Value>>;
    /// Where the inventory writes `host`'s variable `var`, as `path:line:col` of the value
    /// (or just the path when only the file is known); `None` when it is not an inventory-level
    /// variable of `host` or the place is unknown. This is the inventory's definition even when
    /// a higher-precedence source (play vars, facts, `-e`) overrides the value. Read by the
    /// `drover_var_origin` lookup; the default knows no places.
    fn var_origin(&self, host: &str, var: &str) -> Option<String> {
        let _ = (host, var);
        None
    }
}

/// Variable maps stacked lowest-precedence first (for example host vars, then loop variables);
/// a lookup takes the topmost map holding the name. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Layers(Vec<Arc<Map<String, Value>>>);

impl Layers {
    /// One map.
    pub fn single(map: Arc<Map<String, Value>>) -> Layers {
        Layers(vec![map])
    }

    /// Adds a map above the others.
    pub fn push(&mut self, map: Arc<Map<String, Value>>) {
        self.0.push(map);
    }

    /// The value of `key` from the topmost map that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find_map(|m| m.get(key))
    }

    /// The map, when there is exactly one.
    pub fn only(&self) -> Option<&Map<String, Value>> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// All maps merged, upper layers winning.
    pub fn merged(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for m in &self.0 {
            for (k, v) in m.iter() {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// Whether any map has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|m| m.contains_key(key))
    }

    /// Every name, each once, in first-seen order from the bottom map up.
    pub fn keys(&self) -> Vec<&str> {
        if self.0.len() == 1 {
            return self.0[0].keys().map(String::as_str).collect();
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for m in &self.0 {
            for k in m.keys() {
                if seen.insert(k.as_str()) {
                    out.push(k.as_str());
                }
            }
        }
        out
    }
}

/// How many variables may be templated inside one another (a → b → c ...) before giving up.
const MAX_NESTING: usize = 48;

/// Name under which the root context hands itself to filters and lookups.
pub const SELF_KEY: &str = "__drover_vars__";

/// State shared by every context of one top-level call.
pub struct Shared {
    pub env: Arc<Environment<'static>>,
    hostvars: Option<Arc<dyn HostVarsSource>>,
    pub search_paths: Vec<PathBuf>,
    pub omit: String,
    resolving: Mutex<Vec<String>>,
    undefined_hints: Mutex<Vec<(String, String)>>,
    warnings: Mutex<Vec<Diagnostic>>,
    host_contexts: Mutex<HashMap<String, JValue>>,
    root_vars: Mutex<Layers>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        env: Arc<Environment<'static>>,
        hostvars: Option<Arc<dyn HostVarsSource>>,
        search_paths: Vec<PathBuf>,
        omit: String,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            env,
            hostvars,
            search_paths,
            omit,
            resolving: Mutex::new(Vec::new()),
            undefined_hints: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            host_contexts: Mutex::new(HashMap::new()),
            root_vars: Mutex::new(Layers::default()),
        })
    }

    /// Records a warning to hand back with the result.
    pub fn warn(&self, warning: Diagnostic) {
        lock(&self.warnings).push(warning);
    }

    /// Takes the warnings recorded so far.
    pub fn take_warnings(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *lock(&self.warnings))
    }

    /// Where the inventory writes `host`'s variable `var` ([`HostVarsSource::var_origin`]);
    /// `None` without a hostvars source.
    pub fn var_origin(&self, host: &str, var: &str) -> Option<String> {
        self.hostvars.as_ref()?.var_origin(host, var)
    }

    /// Whether `name` is a variable of the current host (set, even if its value fails).
    pub fn is_set(&self, name: &str) -> bool {
        lock(&self.root_vars).contains_key(name)
    }

    /// Why variable `name` is undefined although it is set, if it is.
    pub fn undefined_hint(&self, name: &str) -> Option<String> {
        lock(&self.undefined_hints)
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.clone())
    }

    fn host_context(self: &Arc<Self>, host: &str) -> Option<JValue> {
        if let Some(v) = lock(&self.host_contexts).get(host) {
            return Some(v.clone());
        }
        let source = self.hostvars.as_ref()?;
        let vars = source.host_vars(host)?;
        let ctx = Arc::new(LazyVars {
            shared: self.clone(),
            scope: host.to_string(),
            vars: Layers::single(Arc::new(vars)),
            cache: Mutex::new(HashMap::new()),
        });
        let value = JValue::from_dyn_object(ctx);
        lock(&self.host_contexts).insert(host.to_string(), value.clone());
        Some(value)
    }
}

/// A template failure together with the template text that failed (for error spans).
pub struct Failure {
    pub error: Error,
    pub text: String,
}

/// The lazily templated variables of one host.
pub struct LazyVars {
    shared: Arc<Shared>,
    /// Empty for the current host, the host name for a `hostvars` entry.
    scope: String,
    vars: Layers,
    cache: Mutex<HashMap<String, JValue>>,
}

impl fmt::Debug for LazyVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<variables of {}>",
            if self.scope.is_empty() {
                "this host"
            } else {
                &self.scope
            }
        )
    }
}

impl LazyVars {
    /// The context of the current host.
    pub fn root(shared: Arc<Shared>, vars: Layers) -> Arc<LazyVars> {
        *lock(&shared.root_vars) = vars.clone();
        Arc::new(LazyVars {
            shared,
            scope: String::new(),
            vars,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The shared state of this call.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Ansible's `Templar.template` over a value tree (convert_data on).
    /// Unsafe strings (`!unsafe`) are returned as they are, still marked.
    pub fn template_value(self: &Arc<Self>, value: &Value) -> Result<Value, Failure> {
        if as_unsafe(value).is_some() {
            return Ok(value.clone());
        }
        match value {
            Value::String(s) => self.template_string(s),
            Value::Array(items) => items.iter().map(|v| self.template_value(v)).collect(),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.template_value(v)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn template_string(self: &Arc<Self>, s: &str) -> Result<Value, Failure> {
        if !is_template(s) {
            return Ok(Value::String(s.to_string()));
        }
        // Ansible's SINGLE_VAR shortcut: "{{ name }}" naming a number, bool or null keeps its type.
        if let Some(name) = single_var(s) {
            match self.vars.get(name) {
                Some(raw @ (Value::Bool(_) | Value::Number(_))) => return Ok(raw.clone()),
                Some(Value::Null) => return Ok(Value::Null),
                // a number JSON cannot hold (an infinity, an integer beyond 64 bits) is one too
                Some(raw) if drover_python::number::as_number_marker(raw).is_some() => {
                    return Ok(raw.clone());
                }
                _ => {}
            }
        }
        let escaped = escape_backslashes(s);
        if let Some(text) = self.native_text(&escaped) {
            let mut out = text;
            pad_newlines(&mut out, count_trailing_newlines(s));
            return Ok(Value::String(out));
        }
        let rendered = self.render(&escaped).map_err(|error| Failure {
            error,
            text: escaped.clone(),
        })?;
        let mut result = eval_concat(rendered);
        if let Value::String(out) = &mut result {
            pad_newlines(out, count_trailing_newlines(s));
        }
        Ok(result)
    }

    /// Ansible keeps the result of a STRING_TYPE_FILTER (`to_json`, `to_yaml`, `string`, ...) as a
    /// string when it is the template's only output node (`NativeJinjaText` in
    /// `ansible_eval_concat`). For a template that is exactly one `{{ expr }}` whose value carries
    /// that mark, this returns the text; everything else goes through the normal render.
    fn native_text(self: &Arc<Self>, template: &str) -> Option<String> {
        let expr = single_expression(template)?;
        check_complexity(template).ok()?;
        let compiled = self.shared.env.compile_expression(expr).ok()?;
        let value = compiled.eval(JValue::from_dyn_object(self.clone())).ok()?;
        (value.is_safe() && value.as_str().is_some())
            .then(|| value.as_str().unwrap_or_default().to_string())
    }

    /// Renders `text` as a template file (no conversion, no escaping, trailing newlines kept).
    pub fn render_text(self: &Arc<Self>, name: &str, text: &str) -> Result<String, Error> {
        check_complexity(text)?;
        refuse_override_header(text)?;
        let mut out =
            self.shared
                .env
                .render_named_str(name, text, JValue::from_dyn_object(self.clone()))?;
        pad_newlines(&mut out, count_trailing_newlines(text));
        Ok(out)
    }

    fn render(self: &Arc<Self>, text: &str) -> Result<String, Error> {
        check_complexity(text)?;
        refuse_override_header(text)?;
        self.shared.env.render_named_str(
            "<expression>",
            text,
            JValue::from_dyn_object(self.clone()),
        )
    }

    /// Evaluates a bare expression (for `when:`), returning the engine value.
    pub fn eval_expression(self: &Arc<Self>, expr: &str) -> Result<JValue, Error> {
        check_complexity(&format!("{{{{ {expr} }}}}"))?;
        let compiled = self.shared.env.compile_expression(expr)?;
        compiled.eval(JValue::from_dyn_object(self.clone()))
    }

    fn resolve(self: &Arc<Self>, key: &str, raw: &Value) -> Option<JValue> {
        let id = format!("{}\u{0}{key}", self.scope);
        {
            let mut resolving = lock(&self.shared.resolving);
            if resolving.len() >= MAX_NESTING {
                return Some(JValue::from(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "variables nest more than {MAX_NESTING} levels deep (`{key}` = `{}`)",
                        compact(raw)
                    ),
                )));
            }
            if resolving.contains(&id) {
                return Some(JValue::from(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "recursive loop detected in template string: {}",
                        compact(raw)
                    ),
                )));
            }
            resolving.push(id.clone());
        }
        let result = self.template_value(raw);
        lock(&self.shared.resolving).retain(|r| r != &id);
        match result {
            Ok(v) => {
                let value = to_engine(&v);
                lock(&self.cache).insert(key.to_string(), value.clone());
                Some(value)
            }
            Err(failure) if failure.error.kind() == ErrorKind::UndefinedError => {
                let hint = format!(
                    "`{key}` is set to `{}`, and templating it failed: {}",
                    compact(raw),
                    describe(&failure.error, &failure.text, &self.shared)
                );
                lock(&self.shared.undefined_hints).push((key.to_string(), hint));
                // cached too: a failing variable is not templated again (a chain of them would
                // otherwise cost exponential time through the native-text probe)
                lock(&self.cache).insert(key.to_string(), JValue::UNDEFINED);
                None
            }
            Err(failure) => {
                let value = JValue::from(nested_error(key, raw, &failure, &self.shared));
                lock(&self.cache).insert(key.to_string(), value.clone());
                Some(value)
            }
        }
    }
}

impl Object for LazyVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let key = key.as_str()?;
        if key == SELF_KEY {
            return Some(JValue::from_dyn_object(self.clone()));
        }
        if let Some(v) = lock(&self.cache).get(key) {
            return Some(v.clone());
        }
        match self.vars.get(key) {
            Some(raw) if !has_template(raw) => {
                let value = to_engine(raw);
                lock(&self.cache).insert(key.to_string(), value.clone());
                Some(value)
            }
            Some(raw) => self.resolve(key, raw),
            None => match key {
                "hostvars" if self.shared.hostvars.is_some() => {
                    Some(JValue::from_object(HostVars {
                        shared: self.shared.clone(),
                    }))
                }
                "omit" => Some(JValue::from(self.shared.omit.clone())),
                // Ansible's `vars` is the raw dict: values are not templated
                "vars" => Some(JValue::from_object(RawVars {
                    vars: self.vars.clone(),
                })),
                _ => None,
            },
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<JValue> = self.vars.keys().into_iter().map(JValue::from).collect();
        Enumerator::Values(keys)
    }
}

/// `vars`: every variable, untemplated (as Ansible's `vars` magic variable).
#[derive(Debug)]
struct RawVars {
    vars: Layers,
}

impl Object for RawVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        self.vars.get(key.as_str()?).map(to_engine)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.vars.keys().into_iter().map(JValue::from).collect())
    }
}

/// `hostvars`: host name → that host's lazy variables.
#[derive(Debug)]
struct HostVars {
    shared: Arc<Shared>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<templating state>")
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        self.shared.host_context(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names = self
            .shared
            .hostvars
            .as_ref()
            .map(|s| s.host_names())
            .unwrap_or_default();
        Enumerator::Values(names.into_iter().map(JValue::from).collect())
    }
}

/// The error a nested variable failure becomes, keeping the chain of variables.
#[derive(Debug, Clone)]
pub struct NestedError {
    /// What went wrong, innermost.
    pub message: String,
    /// `while templating ...` notes, innermost first.
    pub chain: Vec<String>,
}

impl fmt::Display for NestedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NestedError {}

/// Finds a [`NestedError`] in an error's source chain.
pub fn find_nested(error: &Error) -> Option<&NestedError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(s) = source {
        if let Some(n) = s.downcast_ref::<NestedError>() {
            return Some(n);
        }
        if let Some(inner) = s.downcast_ref::<Error>() {
            source = std::error::Error::source(inner);
        } else {
            source = s.source();
        }
    }
    None
}

fn nested_error(key: &str, raw: &Value, failure: &Failure, shared: &Shared) -> Error {
    let note = format!("while templating variable `{key}` = `{}`", compact(raw));
    let nested = match find_nested(&failure.error) {
        Some(n) => {
            let mut n = n.clone();
            n.chain.push(note);
            n
        }
        None => NestedError {
            message: describe(&failure.error, &failure.text, shared),
            chain: vec![note],
        },
    };
    Error::new(failure.error.kind(), nested.message.clone()).with_source(nested)
}

/// Ansible reads a first line `#jinja2: trim_blocks: False, ...` as environment overrides;
/// drover does not, so it refuses instead of rendering the header as text.
fn refuse_override_header(text: &str) -> Result<(), Error> {
    if text.starts_with("#jinja2:") {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "the `#jinja2:` override header is not supported by drover; remove it (drover always renders with trim_blocks and no lstrip_blocks)",
        ));
    }
    Ok(())
}

/// Whether a value tree contains a string that would be templated (unsafe strings never are).
pub fn has_template(value: &Value) -> bool {
    if as_unsafe(value).is_some() {
        return false;
    }
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// `^{{\s*(\w*)\s*}}$`: the variable name when the whole string is one bare variable.
fn single_var(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let name = inner.trim_matches(|c: char| c.is_whitespace());
    (name.chars().all(|c| c.is_alphanumeric() || c == '_') && !name.is_empty()).then_some(name)
}

/// The expression of a template that is exactly one `{{ expr }}` block (whitespace control allowed).
fn single_expression(template: &str) -> Option<&str> {
    let inner = template.strip_prefix("{{")?.strip_suffix("}}")?;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return None,
            b'{' if matches!(bytes.get(i + 1), Some(b'{' | b'%' | b'#')) => return None,
            _ => {}
        }
        i += 1;
    }
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    Some(inner)
}

fn pad_newlines(out: &mut String, wanted: usize) {
    let have = count_trailing_newlines(out);
    if wanted > have {
        out.push_str(&"\n".repeat(wanted - have));
    }
}

/// A short one-line form of a value for messages.
pub fn compact(value: &Value) -> String {
    let value = &strip_unsafe(value.clone());
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let line = text.replace('\n', "\\n");
    if line.chars().count() > 120 {
        let cut: String = line.chars().take(117).collect();
        format!("{cut}...")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::single_var;

    #[test]
    fn single_expression_is_one_block() {
        use super::single_expression;
        assert_eq!(
            single_expression("{{ a | to_json }}"),
            Some(" a | to_json ")
        );
        assert_eq!(single_expression("{{ a }}{{ b }}"), None);
        assert_eq!(single_expression("{{ '}}' }}"), Some(" '}}' "));
        assert_eq!(single_expression(" {{ a }}"), None);
    }

    #[test]
    fn single_var_matches_ansibles_regex() {
        assert_eq!(single_var("{{ port }}"), Some("port"));
        assert_eq!(single_var("{{port}}"), Some("port"));
        assert_eq!(single_var("{{ port + 1 }}"), None);
        assert_eq!(single_var("{{ a.b }}"), None);
    }
}
