//! Values that flow from plays, roles, blocks and imports down to tasks: keywords, tags,
//! conditions and variable scopes.

use std::path::PathBuf;
use std::sync::Arc;

use drover_diag::Span;
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::role::RoleInstance;

/// A value with the span of the YAML it came from.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl Spanned<Value> {
    /// Converts a YAML node.
    pub fn from_node(node: &drover_yaml::Node) -> Spanned<Value> {
        Spanned {
            value: node.to_json(),
            span: node.span.clone(),
        }
    }
}

/// A `vars:` mapping (or a vars file) with its location.
#[derive(Clone, Debug)]
pub struct VarsBlock {
    /// Where the mapping is.
    pub span: Span,
    /// The variables, in source order (values are not templated yet).
    pub vars: Map<String, Value>,
}

/// Keyword values that inherit from the play down to the task (`become`, `ignore_errors`,
/// `delegate_to`, ...). The innermost setting wins; `environment` accumulates (outermost first).
#[derive(Clone, Debug, Default)]
pub struct Keywords {
    values: IndexMap<String, Spanned<Value>>,
    /// `environment:` mappings from the outermost scope to the task.
    pub environment: Vec<Spanned<Value>>,
}

impl Keywords {
    /// The effective value of a keyword.
    pub fn get(&self, name: &str) -> Option<&Spanned<Value>> {
        self.values.get(name)
    }

    /// Sets a keyword at this scope (overriding an inherited value).
    pub fn set(&mut self, name: &str, value: Spanned<Value>) {
        self.values.insert(name.to_string(), value);
    }

    /// Iterates over the effective keywords.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Spanned<Value>)> {
        self.values.iter()
    }

    /// The effective boolean value of a keyword written as a literal (`None` when unset or
    /// templated).
    pub fn literal_bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(|v| match &v.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => crate::task::parse_bool_text(s),
            _ => None,
        })
    }
}

/// Where a task came from: what it inherits from enclosing plays, roles, blocks and imports.
#[derive(Clone, Debug, Default)]
pub struct Inherit {
    /// Tags of the enclosing scopes.
    pub tags: Vec<String>,
    /// The subset of `tags` that Ansible never templates: play tags (and `import_playbook`
    /// tags) and `roles:` entry tags, which are not on the task's parent chain.
    pub literal_tags: Vec<String>,
    /// Conditions of the enclosing scopes, outermost first.
    pub when: Vec<Spanned<Value>>,
    /// Inherited keywords.
    pub keywords: Keywords,
    /// `vars:` of enclosing blocks and imports, outermost first.
    pub vars: Vec<Arc<VarsBlock>>,
    /// The role the tasks belong to.
    pub role: Option<Arc<RoleInstance>>,
    /// Files being imported, to detect loops.
    pub chain: Vec<PathBuf>,
    /// True while loading handlers.
    pub handler: bool,
}
