//! Turning minijinja errors into diagnostics that point into the user's files.

use drover_diag::{Diagnostic, Source, Span, did_you_mean};
use minijinja::{Error, ErrorKind};

use crate::context::{Layers, Shared, find_nested};
use crate::environment::{filter_names, test_names};

/// One-line description of an error (lower case, user values in backticks).
pub fn describe(error: &Error, text: &str, shared: &Shared) -> String {
    if let Some(nested) = find_nested(error) {
        return nested.message.clone();
    }
    let expr = failing_text(error, text);
    let detail = error.detail().unwrap_or_default();
    match error.kind() {
        ErrorKind::UndefinedError => match expr {
            // a chain through an undefined value: name the first missing part (`svc.haproxy` of
            // `svc.haproxy.maxconn`, or `nope` of `nope.a.b`)
            Some(_) if chain(error, text).is_some() => {
                let c = chain(error, text).unwrap_or_default();
                let base = c.missing.split(['.', '[']).next().unwrap_or_default();
                if shared.is_set(base) {
                    format!(
                        "`{}` is undefined, so `{}` cannot be read",
                        c.missing, c.full
                    )
                } else {
                    format!("`{}` is undefined", undefined_name(base, shared))
                }
            }
            Some(e) if filter_input(error, text, e).is_some() => {
                let input = filter_input(error, text, e).unwrap_or_default();
                format!("`{input}` is undefined (passed to filter `{}`)", e.trim())
            }
            Some(e) if !e.trim().is_empty() => {
                format!("`{}` is undefined", undefined_name(e, shared))
            }
            _ if !detail.is_empty() => format!("undefined value: {detail}"),
            _ => "a variable is undefined".to_string(),
        },
        ErrorKind::UnknownFilter => format!("unknown filter `{}`", name_in(detail, expr)),
        ErrorKind::UnknownTest => format!("unknown test `{}`", name_in(detail, expr)),
        ErrorKind::UnknownFunction => format!("unknown function `{}`", name_in(detail, expr)),
        ErrorKind::SyntaxError => format!("template syntax error: {detail}"),
        ErrorKind::UnknownMethod => format!("unknown method: {detail}"),
        _ if !detail.is_empty() => detail.to_string(),
        kind => kind.to_string(),
    }
}

/// Jinja keywords and names that are never user variables.
const NOT_VARIABLES: &[&str] = &[
    "if",
    "elif",
    "else",
    "endif",
    "for",
    "endfor",
    "in",
    "is",
    "not",
    "and",
    "or",
    "set",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "lookup",
    "query",
    "q",
    "range",
    "dict",
    "namespace",
    "loop",
    "hostvars",
    "omit",
    "vars",
    "recursive",
];

/// The name an undefined error is about: the first variable in the failing expression that is
/// not set (skipping attributes, filters, tests, keywords and string literals); if every variable
/// is set, the failing expression itself (a missing key or attribute).
pub fn undefined_name(expr: &str, shared: &Shared) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut prev_sig: Option<char> = None;
    let mut prev_word = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            prev_sig = Some(c);
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let is_attr = matches!(prev_sig, Some('.') | Some('|'));
            let is_test = prev_word == "is" || (prev_word == "not" && is_after_is(&chars[..start]));
            if !is_attr
                && !is_test
                && !NOT_VARIABLES.contains(&word.as_str())
                && !shared.is_set(&word)
            {
                return word;
            }
            prev_word = word;
            prev_sig = Some('a');
            continue;
        }
        if !c.is_whitespace() {
            prev_sig = Some(c);
            prev_word.clear();
        }
        i += 1;
    }
    let trimmed = expr.trim();
    trimmed
        .strip_prefix("if ")
        .or_else(|| trimmed.strip_prefix("elif "))
        .unwrap_or(trimmed)
        .trim()
        .to_string()
}

fn is_after_is(before: &[char]) -> bool {
    let text: String = before.iter().collect();
    text.trim_end()
        .trim_end_matches("not")
        .trim_end()
        .ends_with("is")
}

/// An attribute chain read through an undefined value (`d.zz.yy` with no `d.zz`).
#[derive(Default)]
struct Chain {
    /// The undefined part, `d.zz`.
    missing: String,
    /// The whole chain, `d.zz.yy`.
    full: String,
}

/// minijinja reports `.zz.yy` for `d.zz.yy` when `d.zz` is undefined; rebuild the chain from the
/// text before the range.
fn chain(error: &Error, text: &str) -> Option<Chain> {
    let range = error.range()?;
    let tail = text.get(range.clone())?.trim();
    if !(tail.starts_with('.') || tail.starts_with('[')) {
        return None;
    }
    let before = text.get(..range.start)?;
    let prefix = &before[chain_start(before).unwrap_or(before.len())..];
    let seg_end = tail[1..].find(['.', '[']).map_or(tail.len(), |i| i + 1);
    Some(Chain {
        missing: format!("{prefix}{}", &tail[..seg_end]),
        full: format!("{prefix}{tail}"),
    })
}

/// When the failing text is a filter applied to an undefined value (`x.a | string`), the chain
/// the filter was given (`x.a`).
fn filter_input<'a>(error: &Error, text: &'a str, failing: &str) -> Option<&'a str> {
    if !filter_names().contains(&failing.trim()) {
        return None;
    }
    let before = text.get(..error.range()?.start)?.trim_end();
    let before = before.strip_suffix('|')?.trim_end();
    Some(&before[chain_start(before)?..])
}

/// Where the attribute/item chain (`svc.haproxy['x']`) that ends `before` starts, if it does.
fn chain_start(before: &str) -> Option<usize> {
    let is_chain_char =
        |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '\'' | '"');
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_chain_char(*c))
        .last()
        .map(|(i, _)| i)
}

/// The source text the error range covers, if any.
fn failing_text<'a>(error: &Error, text: &'a str) -> Option<&'a str> {
    let range = error.range()?;
    text.get(range)
}

/// The first identifier of an expression (`foo` in `foo.bar[0]`).
fn base_name(expr: &str) -> String {
    expr.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The filter/test/function name an "unknown ..." error is about.
fn name_in(detail: &str, expr: Option<&str>) -> String {
    // minijinja's details read like "filter foo is unknown"
    let words: Vec<&str> = detail.split_whitespace().collect();
    if words.len() >= 2 && words.last() == Some(&"unknown") {
        return words[words.len() - 3.min(words.len())..words.len() - 2]
            .last()
            .map(|w| w.to_string())
            .unwrap_or_default();
    }
    if let Some(e) = expr {
        let e = e.trim().trim_start_matches('|').trim();
        let name: String = e
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // `map('extract', ...)`, `select('nope')`: the unknown one is the argument
        if let Some(inner) = named_argument(&name, &e[name.len()..]) {
            return inner;
        }
        if !name.is_empty() {
            return name;
        }
    }
    detail.to_string()
}

/// The filter or test named by the first argument of `map`, `select`, `reject` and the like
/// (`map('extract', hostvars)` → `extract`).
fn named_argument(caller: &str, rest: &str) -> Option<String> {
    if !matches!(
        caller,
        "map" | "select" | "reject" | "selectattr" | "rejectattr"
    ) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('(')?.trim_start();
    let args: Vec<&str> = rest.splitn(3, ',').collect();
    // selectattr('attr', 'test'): the test is the second argument
    let arg = if caller.ends_with("attr") {
        args.get(1)?
    } else {
        args.first()?
    };
    let arg = arg.trim().trim_end_matches(')').trim();
    let quote = arg.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let name = arg.strip_prefix(quote)?.strip_suffix(quote)?;
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then(|| name.to_string())
}

/// Help line: how to fix it.
fn help(error: &Error, text: &str, shared: &Shared, vars: &Layers) -> Option<String> {
    let expr = failing_text(error, text);
    let detail = error.detail().unwrap_or_default();
    match error.kind() {
        ErrorKind::UndefinedError => {
            if let Some(c) = chain(error, text) {
                return Some(format!(
                    "`{}` is missing, so the whole chain is undefined; give it a default (`{} | default(...)`) or guard it with `{} is defined`",
                    c.missing, c.full, c.full
                ));
            }
            let base = expr
                .map(|e| base_name(&undefined_name(e, shared)))
                .unwrap_or_default();
            if let Some(hint) = shared.undefined_hint(&base) {
                return Some(hint);
            }
            let chained = expr.is_some_and(|e| {
                e.contains(&format!("{base}.")) || e.contains(&format!("{base}["))
            });
            if chained && !base.is_empty() && !vars.contains_key(&base) {
                return Some(format!(
                    "define `{base}`, or give the expression a default (`| default(...)`) or guard it with `is defined` (a chain through an undefined value is undefined)"
                ));
            }
            if !base.is_empty() && vars.contains_key(&base) {
                return Some(format!(
                    "`{base}` is defined but has no such key or attribute; guard with `is defined` or `| default(...)`"
                ));
            }
            let suggestion = did_you_mean(&base, vars.keys());
            Some(match suggestion {
                Some(s) => s,
                None => format!(
                    "define `{base}` (inventory, group_vars/host_vars, play or role vars), or guard it with `is defined` or `| default(...)`"
                ),
            })
        }
        ErrorKind::UnknownFilter => {
            let name = name_in(detail, expr);
            did_you_mean(&name, filter_names()).or_else(|| {
                Some(
                    "drover implements Ansible's core filters plus json_query and ipaddr basics"
                        .into(),
                )
            })
        }
        ErrorKind::UnknownTest => {
            let name = name_in(detail, expr);
            did_you_mean(&name, test_names())
        }
        ErrorKind::SyntaxError => Some("check the Jinja2 syntax around this point".into()),
        ErrorKind::InvalidOperation if detail.contains("% operator") => Some(
            "drover does not support Python's `%` string formatting; use `'{}-{}'.format(a, b)` or the `format` filter".into(),
        ),
        ErrorKind::TemplateNotFound => Some(
            "drover does not load other templates from a template (`{% include %}`, `{% import %}`, `{% extends %}`); inline that file or use `lookup('template', ...)`".into(),
        ),
        _ => None,
    }
}

fn context_notes(error: &Error) -> Vec<String> {
    find_nested(error)
        .map(|n| n.chain.clone())
        .unwrap_or_default()
}

/// A diagnostic for an error while rendering a template file.
pub fn file_error(
    error: &Error,
    source: &std::sync::Arc<Source>,
    shared: &Shared,
    vars: &Layers,
) -> Diagnostic {
    let own_name = source.path().display().to_string();
    if let Some(inner) = foreign_source(error, &own_name) {
        return file_error(error, &inner, shared, vars)
            .with_context(format!("while rendering `{own_name}`"));
    }
    let text = source.text();
    let message = describe(error, text, shared);
    let span = match (error.range(), error.line()) {
        (Some(range), _) if range.end <= text.len() => {
            let whole = Span::new(source.clone(), range.start, range.end);
            match undefined_focus(error, text, shared) {
                Some(name) => narrow_word(&whole, &name),
                None => whole,
            }
        }
        (_, Some(line)) => {
            let start = source.offset_of(line, 1);
            let end = start + source.line(line).len();
            Span::new(source.clone(), start, end)
        }
        _ => Span::point(source.clone(), 0),
    };
    let mut diag = Diagnostic::error(message).with_span(span);
    for note in context_notes(error) {
        diag = diag.with_context(note);
    }
    if let Some(h) = help(error, text, shared, vars) {
        diag = diag.with_help(h);
    }
    diag
}

/// A diagnostic for an error while templating an inline value (a YAML scalar). `text` is the
/// template text as rendered; `span` is the scalar in the YAML file.
pub fn inline_error(
    error: &Error,
    text: &str,
    span: Option<&Span>,
    shared: &Shared,
    vars: &Layers,
) -> Diagnostic {
    if let Some(inner) =
        foreign_source(error, "<expression>").filter(|s| s.path().display().to_string() != "<when>")
    {
        let diag = file_error(error, &inner, shared, vars);
        return match span {
            Some(s) => diag.with_context(format!("used at {}", s.location())),
            None => diag.with_context(format!("used in `{}`", text.replace('\n', "\\n"))),
        };
    }
    let message = describe(error, text, shared);
    let mut diag = Diagnostic::error(message);
    if let Some(span) = span {
        let mut at = narrow(span, failing_text(error, text));
        if let Some(name) = undefined_focus(error, text, shared) {
            at = narrow_word(&at, &name);
        }
        diag = diag.with_span(at);
    } else {
        diag = diag.with_context(format!("in `{}`", text.replace('\n', "\\n")));
    }
    for note in context_notes(error) {
        diag = diag.with_context(note);
    }
    if let Some(h) = help(error, text, shared, vars) {
        diag = diag.with_help(h);
    }
    diag
}

/// When the error happened in another template (a `lookup('template', ...)`), that template's
/// source, so the diagnostic quotes the right file.
fn foreign_source(error: &Error, own_name: &str) -> Option<std::sync::Arc<Source>> {
    let name = error.name()?;
    if name == own_name {
        return None;
    }
    Some(Source::new(name, error.template_source()?))
}

/// For an undefined-variable error, the variable name to point at.
fn undefined_focus(error: &Error, text: &str, shared: &Shared) -> Option<String> {
    if error.kind() != ErrorKind::UndefinedError || find_nested(error).is_some() {
        return None;
    }
    let name = undefined_name(failing_text(error, text)?, shared);
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
}

/// Narrows `span` to the first whole-word occurrence of `word` inside it.
fn narrow_word(span: &Span, word: &str) -> Span {
    let text = span.text();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for (at, _) in text.match_indices(word) {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            return span.sub(at, at + word.len());
        }
    }
    span.clone()
}

/// Points at the failing expression inside the scalar when it appears there verbatim (exactly
/// once); otherwise at the whole scalar.
pub fn narrow(span: &Span, failing: Option<&str>) -> Span {
    let Some(failing) = failing.filter(|f| !f.trim().is_empty()) else {
        return span.clone();
    };
    let scalar = span.text();
    let mut found = scalar.match_indices(failing);
    match (found.next(), found.next()) {
        (Some((at, _)), None) => span.sub(at, at + failing.len()),
        _ => span.clone(),
    }
}
