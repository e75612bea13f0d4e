//! Source files, spans and user-facing diagnostics.
//!
//! Every file drover reads (inventory, playbook, role file, template) becomes a [`Source`]. Parsers
//! attach a [`Span`] (a byte range into a source) to everything they produce, so any later error
//! can point at the YAML or template that caused it. Line and column are derived from the span on
//! demand, never stored.
//!
//! A [`Diagnostic`] renders like `just`'s errors: a lower-case message, the location, the offending
//! line quoted with a caret under the span, then context notes (host, task) and a hint on what to
//! do.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file's text, with its display name and an index of line starts.
pub struct Source {
    path: PathBuf,
    text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// Wraps text read from `path` (the path is only used for display).
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Source> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(Source {
            path: path.into(),
            text,
            line_starts,
        })
    }

    /// Reads a file from disk into a source.
    pub fn read(path: &Path) -> std::io::Result<Arc<Source>> {
        let text = std::fs::read_to_string(path)?;
        Ok(Source::new(path, text))
    }

    /// The path this source was read from (or a pseudo-path such as `<extra vars>`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The full text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset, clamped into the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.clamp(offset);
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// Byte offset of a 1-based line and character column (clamped to the text).
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let line_text = self.line_text_at(start);
        let within: usize = line_text
            .chars()
            .take(col.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        start + within
    }

    /// The text of the 1-based line `line`, without its line break.
    pub fn line(&self, line: usize) -> &str {
        match self.line_starts.get(line.saturating_sub(1)) {
            Some(&start) => self.line_text_at(start),
            None => "",
        }
    }

    fn line_text_at(&self, start: usize) -> &str {
        let rest = &self.text[start..];
        let end = rest.find('\n').unwrap_or(rest.len());
        rest[..end].trim_end_matches('\r')
    }

    fn clamp(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({})", self.path.display())
    }
}

/// A byte range in a [`Source`]. Cheap to clone.
#[derive(Clone)]
pub struct Span {
    /// The file the range belongs to.
    pub source: Arc<Source>,
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive); equal to `start` for a point.
    pub end: usize,
}

impl Span {
    /// A span over `start..end` of `source`.
    pub fn new(source: Arc<Source>, start: usize, end: usize) -> Span {
        let end = end.max(start);
        Span { source, start, end }
    }

    /// A zero-width span at `offset`.
    pub fn point(source: Arc<Source>, offset: usize) -> Span {
        Span::new(source, offset, offset)
    }

    /// 1-based line and column of the start.
    pub fn line_col(&self) -> (usize, usize) {
        self.source.line_col(self.start)
    }

    /// `path:line:column` of the start, as editors and terminals understand it.
    pub fn location(&self) -> String {
        let (line, col) = self.line_col();
        format!("{}:{}:{}", self.source.path().display(), line, col)
    }

    /// The text the span covers.
    pub fn text(&self) -> &str {
        let start = self.source.clamp(self.start);
        let end = self.source.clamp(self.end);
        &self.source.text()[start..end]
    }

    /// A sub-span `start..end` relative to this span's start (used for expressions inside a
    /// YAML scalar; clamped to this span).
    pub fn sub(&self, start: usize, end: usize) -> Span {
        let s = (self.start + start).min(self.end);
        let e = (self.start + end).min(self.end).max(s);
        Span::new(self.source.clone(), s, e)
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location())
    }
}

impl PartialEq for Span {
    fn eq(&self, other: &Span) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
            && self.start == other.start
            && self.end == other.end
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Stops the run (or the task, for a host).
    Error,
    /// Printed, the run goes on.
    Warning,
}

/// An error or warning for a person: message, optional location, context and a hint.
///
/// The body is boxed so `Result<T, Diagnostic>` stays one pointer wide; fields are read through
/// `Deref` (`diag.message`) and set with the builder methods or `DerefMut`.
#[derive(Clone, Debug)]
pub struct Diagnostic(Box<DiagnosticBody>);

/// The fields of a [`Diagnostic`].
#[derive(Clone, Debug)]
pub struct DiagnosticBody {
    /// Error or warning.
    pub severity: Severity,
    /// Lower-case, one line; user values in backticks.
    pub message: String,
    /// Where in the user's files the problem is, when known.
    pub span: Option<Span>,
    /// Label printed after the caret (e.g. "unknown keyword").
    pub label: Option<String>,
    /// Context lines such as `host: node-1` or `task: consul : install`.
    pub context: Vec<String>,
    /// What the user can do about it.
    pub help: Option<String>,
    /// The exit code this error ends the command with, when it is not the command's default
    /// for its kind of error: ansible-playbook's code for the same input (e.g. a missing role
    /// is 1 although other load errors are 4).
    pub exit_code: Option<u8>,
}

impl Diagnostic {
    /// A new error with a message.
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic(Box::new(DiagnosticBody {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: None,
            context: Vec::new(),
            help: None,
            exit_code: None,
        }))
    }

    /// A new warning with a message.
    pub fn warning(message: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::error(message);
        d.severity = Severity::Warning;
        d
    }

    /// Points the diagnostic at a span.
    #[must_use]
    pub fn with_span(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    /// Points the diagnostic at a span if it has none yet.
    #[must_use]
    pub fn or_span(mut self, span: &Span) -> Diagnostic {
        if self.span.is_none() {
            self.span = Some(span.clone());
        }
        self
    }

    /// Adds a label shown after the caret.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds a context line (`host: x`, `task: y`, `while loading z`).
    #[must_use]
    pub fn with_context(mut self, context: impl Into<String>) -> Diagnostic {
        self.context.push(context.into());
        self
    }

    /// Adds (or replaces) the hint on what to do.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Sets the exit code the command ends with for this error (see
    /// [`DiagnosticBody::exit_code`]).
    #[must_use]
    pub fn with_exit_code(mut self, code: u8) -> Diagnostic {
        self.exit_code = Some(code);
        self
    }

    /// `path:line:col` of the span, if any.
    pub fn location(&self) -> Option<String> {
        self.span.as_ref().map(Span::location)
    }
}

impl std::ops::Deref for Diagnostic {
    type Target = DiagnosticBody;
    fn deref(&self) -> &DiagnosticBody {
        &self.0
    }
}

impl std::ops::DerefMut for Diagnostic {
    fn deref_mut(&mut self) -> &mut DiagnosticBody {
        &mut self.0
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{word}: {}", self.message)?;
        if let Some(span) = &self.span {
            let (line, col) = span.line_col();
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            writeln!(f, "{pad}--> {}", span.location())?;
            writeln!(f, "{pad} |")?;
            let text = span.source.line(line);
            writeln!(f, "{line} | {text}")?;
            let (end_line, end_col) = span.source.line_col(span.end);
            let width = if end_line == line && end_col > col {
                end_col - col
            } else {
                text.chars().count().saturating_sub(col - 1).max(1)
            };
            let lead: String = text
                .chars()
                .take(col - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "{pad} | {lead}{}", "^".repeat(width.max(1)))?;
            match &self.label {
                Some(label) => writeln!(f, " {label}")?,
                None => writeln!(f)?,
            }
        }
        for context in &self.context {
            writeln!(f, "  = {context}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// The closest candidates to `name` among `candidates` (Jaro-Winkler ≥ 0.8, best first, at most
/// three), for "did you mean" hints.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (jaro_winkler(name, c), c))
        .filter(|(s, _)| *s >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Formats a "did you mean" hint, or `None` when nothing is close.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let near = nearest(name, candidates);
    if near.is_empty() {
        return None;
    }
    let list: Vec<String> = near.iter().map(|c| format!("`{c}`")).collect();
    Some(format!("did you mean {}?", list.join(" or ")))
}

/// Jaro-Winkler similarity in 0..=1 (small and dependency-free; inputs are short names).
fn jaro_winkler(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut a_match = vec![false; a.len()];
    let mut b_match = vec![false; b.len()];
    let mut matches = 0usize;
    for (i, ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_match[j] && b[j] == *ca {
                a_match[i] = true;
                b_match[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let a_seq = a.iter().zip(&a_match).filter(|(_, m)| **m).map(|(c, _)| c);
    let b_seq = b.iter().zip(&b_match).filter(|(_, m)| **m).map(|(c, _)| c);
    let transpositions = a_seq.zip(b_seq).filter(|(x, y)| x != y).count() / 2;
    let m = matches as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - transpositions as f64) / m) / 3.0;
    let prefix = a.iter().zip(&b).take(4).take_while(|(x, y)| x == y).count() as f64;
    jaro + prefix * 0.1 * (1.0 - jaro)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let src = Source::new("a.yml", "ab\ncdé f\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(3), (2, 1));
        let f = src.text().find('f').unwrap();
        assert_eq!(src.line_col(f), (2, 5));
        assert_eq!(src.offset_of(2, 5), f);
        assert_eq!(src.line(2), "cdé f");
    }

    #[test]
    fn renders_snippet_with_caret_context_and_help() {
        let src = Source::new("site.yml", "- hosts: all\n  taks:\n    - ping:\n");
        let start = src.text().find("taks").unwrap();
        let d = Diagnostic::error("unknown play keyword `taks`")
            .with_span(Span::new(src, start, start + 4))
            .with_label("not a play keyword")
            .with_context("play: all")
            .with_help("did you mean `tasks`?");
        assert_eq!(
            d.to_string(),
            "error: unknown play keyword `taks`\n --> site.yml:2:3\n  |\n2 |   taks:\n  |   ^^^^ not a play keyword\n  = play: all\n  = help: did you mean `tasks`?\n"
        );
    }

    #[test]
    fn nearest_finds_typos() {
        let names = ["tasks", "pre_tasks", "handlers", "hosts"];
        assert_eq!(nearest("taks", names)[0], "tasks");
        assert!(nearest("zzzzzz", names).is_empty());
        assert_eq!(
            did_you_mean("hanlders", names).as_deref(),
            Some("did you mean `handlers`?")
        );
    }
}
