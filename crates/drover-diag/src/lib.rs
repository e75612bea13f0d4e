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

    /// Reads a file from disk into a source. Every file drover parses (playbooks, inventories,
    /// vars files) is read here, so a file that is not UTF-8 is reported with the line and column
    /// of its first bad byte.
    pub fn read(path: &Path) -> Result<Arc<Source>, ReadError> {
        let bytes = std::fs::read(path).map_err(ReadError::Io)?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source::new(path, text)),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let byte = bytes[offset];
                // The valid prefix is the same in the lossy text, so the offset's line and
                // column are the bad byte's; the quoted line shows it as U+FFFD.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Err(ReadError::NotUtf8 {
                    at: Span::new(
                        Source::new(path, text),
                        offset,
                        offset + '\u{fffd}'.len_utf8(),
                    ),
                    byte,
                })
            }
        }
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

/// Why [`Source::read`] could not read a file.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The first bad byte (in a source holding the text with bad bytes replaced).
        at: Span,
        /// Its value.
        byte: u8,
    },
}

impl ReadError {
    /// The error for a person, after `message` (such as ``cannot read `site.yml` ``): the I/O
    /// error, or where the file stops being UTF-8 (`file:line:col`, the line quoted).
    pub fn diagnostic(self, message: impl fmt::Display) -> Diagnostic {
        match self {
            ReadError::Io(e) => Diagnostic::error(format!("{message}: {e}"))
                .with_help("check that the file exists and is readable"),
            ReadError::NotUtf8 { at, byte } => {
                let (line, col) = at.line_col();
                Diagnostic::error(format!(
                    "{message}: it is not UTF-8 text (byte 0x{byte:02X} at line {line}, column {col})"
                ))
                .with_span(at)
                .with_label("not UTF-8")
                .with_help("Ansible reads playbooks, inventories and vars files as UTF-8; convert the file, e.g. `iconv -f latin1 -t utf-8`")
            }
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotUtf8 { at, byte } => {
                write!(f, "not UTF-8 text (byte 0x{byte:02X} at {})", at.location())
            }
        }
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
        writeln!(f, "{word}: {}", shorten(&self.message))?;
        if let Some(span) = &self.span {
            let (line, col) = span.line_col();
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            writeln!(f, "{pad}--> {}", span.location())?;
            writeln!(f, "{pad} |")?;
            let text = span.source.line(line);
            let (end_line, end_col) = span.source.line_col(span.end);
            let len = text.chars().count();
            let width = if end_line == line && end_col > col {
                end_col - col
            } else {
                len.saturating_sub(col - 1).max(1)
            };
            let window = Window::around(len, col - 1, width);
            let shown: String = text.chars().skip(window.start).take(window.len).collect();
            writeln!(
                f,
                "{line} | {}{shown}{}",
                window.before(),
                window.after(len)
            )?;
            let lead: String = text
                .chars()
                .skip(window.start)
                .take(col - 1 - window.start)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = width
                .min((window.start + window.len).saturating_sub(col - 1))
                .max(1);
            write!(
                f,
                "{pad} | {}{lead}{}",
                " ".repeat(window.before().len()),
                "^".repeat(width)
            )?;
            match &self.label {
                Some(label) => writeln!(f, " {label}")?,
                None => writeln!(f)?,
            }
        }
        for context in &self.context {
            writeln!(f, "  = {}", shorten(context))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {}", shorten(help))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Characters of a quoted line shown at most; a longer line (minified JSON, a long value) is
/// cut to a window around the column, with `...` where text is left out.
const MAX_QUOTED: usize = 120;
/// Characters kept before the column in a cut line.
const BEFORE_COLUMN: usize = 40;
const ELLIPSIS: &str = "...";

/// Characters of a message shown at most: one that quotes a long user value (a 1 MB argument
/// string) keeps its start and end.
const MAX_MESSAGE: usize = 600;

/// The message, or its first and last characters around a `[... N characters left out ...]`.
fn shorten(message: &str) -> std::borrow::Cow<'_, str> {
    let len = message.chars().count();
    if len <= MAX_MESSAGE {
        return message.into();
    }
    let (head, tail) = (MAX_MESSAGE * 2 / 3, MAX_MESSAGE / 6);
    let start: String = message.chars().take(head).collect();
    let end: String = message.chars().skip(len - tail).collect();
    format!(
        "{start}[... {} characters left out ...]{end}",
        len - head - tail
    )
    .into()
}

/// The characters of a line to quote: `len` of them from `start`.
struct Window {
    start: usize,
    len: usize,
}

impl Window {
    /// The part of a line of `len` characters to quote for a caret at character `at` (0-based)
    /// that is `width` wide.
    fn around(len: usize, at: usize, width: usize) -> Window {
        if len <= MAX_QUOTED {
            return Window { start: 0, len };
        }
        let start = at
            .saturating_sub(BEFORE_COLUMN)
            .min(len.saturating_sub(MAX_QUOTED));
        // Show the whole caret when it fits, else what fits of it.
        let shown = MAX_QUOTED.max((at - start + width).min(MAX_QUOTED));
        Window {
            start,
            len: shown.min(len - start),
        }
    }

    fn before(&self) -> &'static str {
        if self.start > 0 { ELLIPSIS } else { "" }
    }

    fn after(&self, len: usize) -> &'static str {
        if self.start + self.len < len {
            ELLIPSIS
        } else {
            ""
        }
    }
}

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
    fn a_file_that_is_not_utf8_is_an_error_at_its_first_bad_byte() {
        let dir = std::env::temp_dir().join(format!("drover-diag-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pb.yml");
        std::fs::write(
            &path,
            b"- hosts: all\n  vars:\n    caf\xc3\xa9: \"d\xe9j\xe0\"\n",
        )
        .unwrap();
        let err = Source::read(&path).unwrap_err();
        let d = err.diagnostic(format!("cannot read `{}`", path.display()));
        std::fs::remove_dir_all(&dir).unwrap();
        let at = format!("{}:3:13", path.display());
        assert_eq!(d.location().as_deref(), Some(at.as_str()));
        assert!(d.message.contains("byte 0xE9"), "{}", d.message);
        let text = d.to_string();
        assert!(
            text.contains("3 |     café: \"d\u{fffd}j\u{fffd}\""),
            "{text}"
        );
        assert!(text.contains("\n  |             ^ not UTF-8\n"), "{text}");
    }

    #[test]
    fn a_long_line_is_quoted_around_the_column() {
        let long = format!("key: {}", "x".repeat(1_000_000));
        // a point in the middle, at the end, and a span over the whole value
        let middle = 500_000;
        let src = Source::new("big.yml", format!("{long}\n"));
        let point = Diagnostic::error("bad").with_span(Span::point(src.clone(), middle));
        let text = point.to_string();
        assert!(text.len() < 2_000, "{} bytes", text.len());
        assert!(text.contains("--> big.yml:1:500001"), "{text}");
        let quoted = text.lines().nth(3).unwrap();
        let caret = text.lines().nth(4).unwrap();
        assert!(
            quoted.starts_with("1 | ...xxx") && quoted.ends_with("xxx..."),
            "{quoted}"
        );
        // the caret is under the 41st quoted character: the column's
        let caret_at = caret.find('^').unwrap();
        assert_eq!(caret_at, "1 | ...".len() + 40, "{text}");
        // (a point underlines the rest of its line: up to the window's end here)
        assert!(caret[caret_at..].bytes().all(|b| b == b'^'), "{caret}");
        assert_eq!(caret.len(), quoted.len() - ELLIPSIS.len(), "{text}");

        let end = Diagnostic::error("bad").with_span(Span::point(src.clone(), long.len()));
        let text = end.to_string();
        assert!(text.len() < 2_000, "{} bytes", text.len());
        let quoted = text.lines().nth(3).unwrap();
        assert!(
            quoted.starts_with("1 | ...x") && quoted.ends_with('x'),
            "{quoted}"
        );
        let caret = text.lines().nth(4).unwrap();
        assert_eq!(caret.find('^').unwrap(), quoted.len(), "{text}");

        let whole = Diagnostic::error("bad")
            .with_span(Span::new(src.clone(), 5, long.len()))
            .with_label("this value");
        let text = whole.to_string();
        assert!(text.len() < 2_000, "{} bytes", text.len());
        let caret = text.lines().nth(4).unwrap();
        assert!(
            caret.starts_with("  |      ^^^^") && caret.ends_with("^ this value"),
            "{caret}"
        );
        assert!(
            caret.len() <= quoted.len() + " this value".len() + 1,
            "{text}"
        );
    }

    #[test]
    fn a_long_message_is_shortened() {
        let value = "v".repeat(1_000_000);
        let d = Diagnostic::error(format!("cannot split `{value}` here"));
        let text = d.to_string();
        assert!(text.len() < 1_000, "{} bytes", text.len());
        assert!(text.starts_with("error: cannot split `vvv"), "{text}");
        assert!(text.ends_with("vvv` here\n"), "{text}");
        let left_out = 1_000_000 + "cannot split `` here".len() - 400 - 100;
        assert!(
            text.contains(&format!("[... {left_out} characters left out ...]")),
            "{text}"
        );
        let short = Diagnostic::error("x".repeat(MAX_MESSAGE)).to_string();
        assert_eq!(short, format!("error: {}\n", "x".repeat(MAX_MESSAGE)));
    }

    #[test]
    fn a_short_line_is_quoted_whole() {
        let line = "y".repeat(MAX_QUOTED);
        let src = Source::new("a.yml", line.clone());
        let text = Diagnostic::error("bad")
            .with_span(Span::point(src, MAX_QUOTED - 1))
            .to_string();
        assert!(text.contains(&format!("1 | {line}\n")), "{text}");
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
