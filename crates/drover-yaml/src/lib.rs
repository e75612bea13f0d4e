//! YAML as Ansible reads it (PyYAML's YAML 1.1 `SafeLoader` plus Ansible's `!unsafe`), with a
//! source span on every node.
//!
//! - `yes/no/on/off/true/false` (lower, Title, UPPER case) are booleans; `y`/`n` are strings.
//! - `0755` is octal (493), `0x1f` hex, `0b11` binary, `1_000` and `1:30` (sexagesimal) ints.
//! - Floats need a dot: `1e3` and `1.0e3` are strings, `1.0e+3` is a float.
//! - `<<:` merge keys as PyYAML 6.0.4 applies them (explicit keys win; in `<<: [*a, *b]`, `a` wins
//!   for one-character keys and `b` for longer ones: see `compose.rs`).
//! - Duplicate keys: the last value wins and a warning is returned, wherever Ansible warns
//!   (also for a key that overrides or repeats a merged one).
//! - Several documents per stream with [`Loaded::documents`]; [`Loaded::single`] refuses more than
//!   one, as Ansible's loader does for playbooks, inventories and vars files.
//! - Tabs between tokens as libyaml (Ansible's C loader) takes them: `key:<TAB>value` loads,
//!   `-<TAB>item` and tab indentation are errors at the tab (see `tabs.rs`).
//! - Timestamps are kept as the text Ansible prints for PyYAML's `datetime` in `debug`, templates
//!   and `to_yaml`: Python's `str()`, `2024-01-02 03:04:05+00:00`. (Ansible's JSON encoder, in
//!   `to_json` and `ansible-inventory --list`, writes `isoformat()`, `2024-01-02T03:04:05+00:00`;
//!   a string cannot be both.) An impossible date (`2024-02-30`) is an error, as in Python.
//! - `!unsafe` strings become `{"__ansible_unsafe": text}` in [`Node::to_json`] (see
//!   [`unsafe_text`]): never templated, plain text again for every template and result.
//!
//! Errors are [`Diagnostic`]s pointing at the offending character.

mod compose;
mod node;
mod resolve;
mod tabs;
pub mod unsafe_text;

use std::path::Path;
use std::sync::Arc;

use drover_diag::{Diagnostic, Source, Span};

pub use node::{Mapping, Node, NodeValue, python_float_repr};

/// The result of loading one YAML stream.
#[derive(Debug)]
pub struct Loaded {
    /// The source the nodes point into.
    pub source: Arc<Source>,
    /// One node per document (an empty stream has none).
    pub documents: Vec<Node>,
    /// Non-fatal findings (duplicate keys); the caller prints them.
    pub warnings: Vec<Diagnostic>,
}

impl Loaded {
    /// The only document, `None` for an empty file (or one holding only `null`), or an error
    /// when the stream has several documents.
    pub fn single(self) -> Result<Option<Node>, Diagnostic> {
        let mut docs = self.documents.into_iter();
        let first = docs.next();
        if let Some(second) = docs.next() {
            return Err(
                Diagnostic::error("expected a single document in the stream")
                    .with_span(Span::point(second.span.source.clone(), second.span.start))
                    .with_label("another document starts here")
                    .with_help("remove the extra `---` document or split the file"),
            );
        }
        Ok(first.filter(|n| !n.is_null()))
    }
}

/// Loads every document from a source.
pub fn load_str(source: &Arc<Source>) -> Result<Loaded, Diagnostic> {
    let prepared = tabs::prepare(source.text());
    let mut composer = compose::Composer::new(source, &prepared.text);
    let documents = match (composer.documents(), prepared.refused) {
        // saphyr-parser points its own tab errors at the start of the scalar; libyaml (and so
        // the refused tab) at the tab.
        (Err(e), Some(tab))
            if e.span.as_ref().is_some_and(|s| s.start < tab.offset)
                && !e.message.contains("tab") =>
        {
            return Err(e);
        }
        (_, Some(tab)) => return Err(tab_error(source, &tab)),
        (result, None) => result?,
    };
    Ok(Loaded {
        source: source.clone(),
        documents,
        warnings: composer.warnings,
    })
}

/// A tab Ansible's loader refuses (see `tabs.rs`), in libyaml's words.
fn tab_error(source: &Arc<Source>, e: &tabs::TabError) -> Diagnostic {
    Diagnostic::error(format!("YAML syntax error: {} (a tab)", e.problem))
        .with_span(Span::new(source.clone(), e.offset, e.offset + 1))
        .with_help(
            "Ansible's YAML loader takes a tab only after `key:`, after a value or inside `[...]`/`{...}`; \
             indent with spaces, and put a space (not a tab) after `-`, `?` and a line-leading `:`",
        )
}

/// Reads and loads a YAML file.
pub fn load_file(path: &Path) -> Result<Loaded, Diagnostic> {
    let source = Source::read(path)
        .map_err(|e| e.diagnostic(format_args!("cannot read `{}`", path.display())))?;
    load_str(&source)
}

/// Loads text given inline (extra vars, tests) under a display name such as `<extra vars>`.
pub fn load_text(name: &str, text: &str) -> Result<Loaded, Diagnostic> {
    load_str(&Source::new(name, text))
}

#[cfg(test)]
mod tests;
