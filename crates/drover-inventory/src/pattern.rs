//! Host patterns, resolved as Ansible's `InventoryManager.get_hosts` does: `all`, globs,
//! `~regex`, group and host names, `a:b` / `a,b` unions, `&` intersections, `!` exclusions,
//! `group[0]` / `group[1:3]` subscripts, and the implicit localhost.

use std::collections::HashSet;
use std::sync::LazyLock;

use drover_diag::Diagnostic;
use regex::Regex;

use crate::data::Data;
use crate::ranges::parse_address;

/// Names Ansible treats as the local machine (`C.LOCALHOST`).
pub const LOCALHOST_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// A host chosen by a pattern: an inventory host or the implicit localhost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Chosen {
    /// An inventory host.
    Host(usize),
    /// The implicit localhost, under the name the pattern used.
    ImplicitLocalhost(String),
}

/// Ansible's `split_host_pattern`: commas split; without commas, a single address (IPv6,
/// ranges) stays whole, else colons and whitespace split.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        #[allow(clippy::expect_used)]
        static COLON_SPLIT: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("split regex compiles")
        });
        COLON_SPLIT
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .iter()
        .map(|p| drover_python::text::strip(p).to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Ansible's `order_patterns`: plain patterns, then `&` ones, then `!` ones; `all` when only
/// `&`/`!` patterns are given.
fn order_patterns(patterns: &[String]) -> Vec<String> {
    let mut regular = Vec::new();
    let mut and = Vec::new();
    let mut not = Vec::new();
    for p in patterns.iter().filter(|p| !p.is_empty()) {
        match p.as_bytes()[0] {
            b'!' => not.push(p.clone()),
            b'&' => and.push(p.clone()),
            _ => regular.push(p.clone()),
        }
    }
    if regular.is_empty() {
        regular.push("all".to_string());
    }
    regular.into_iter().chain(and).chain(not).collect()
}

/// Python's `fnmatch.translate`, as a pattern for the `regex` crate (anchored, `.` matches
/// newlines).
pub fn fnmatch_to_regex(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::from(r"\A(?s:");
    let mut i = 0;
    let n = chars.len();
    while i < n {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while i < n && chars[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < n && chars[j] == '!' {
                    j += 1;
                }
                if j < n && chars[j] == ']' {
                    j += 1;
                }
                while j < n && chars[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push_str(r"\[");
                    continue;
                }
                let stuff: Vec<char> = chars[i..j].to_vec();
                i = j + 1;
                out.push_str(&char_class(&stuff));
            }
            other => push_literal(&mut out, other),
        }
    }
    out.push_str(r")\z");
    out
}

fn push_literal(out: &mut String, c: char) {
    out.push_str(&format!(r"\x{{{:X}}}", c as u32));
}

/// A glob bracket expression (without the brackets) as a regex class.
fn char_class(stuff: &[char]) -> String {
    let (negated, body) = match stuff.first() {
        Some('!') => (true, &stuff[1..]),
        _ => (false, stuff),
    };
    if stuff == ['!'] {
        // Python: `[!]` translates to `.`.
        return ".".into();
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut k = 0;
    while k < body.len() {
        let lo = body[k];
        if k + 2 < body.len() && body[k + 1] == '-' {
            let hi = body[k + 2];
            if lo <= hi {
                ranges.push((lo, hi));
            }
            k += 3;
        } else {
            ranges.push((lo, lo));
            k += 1;
        }
    }
    if ranges.is_empty() {
        // An empty class never matches (`[!]`-like negations of nothing match any char).
        return if negated {
            ".".into()
        } else {
            r"[^\x00-\x{10FFFF}]".into()
        };
    }
    let mut out = String::from(if negated { "[^" } else { "[" });
    for (lo, hi) in ranges {
        out.push_str(&format!(r"\x{{{:X}}}", lo as u32));
        if hi != lo {
            out.push_str(&format!(r"-\x{{{:X}}}", hi as u32));
        }
    }
    out.push(']');
    out
}

enum Matcher {
    Glob(Regex),
    Re(fancy_regex::Regex),
}

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, Diagnostic> {
        let invalid = |e: String| {
            Diagnostic::error(format!("invalid host pattern `{pattern}`: {e}"))
                .with_help("`~` patterns are regular expressions; other patterns are shell globs (`*`, `?`, `[abc]`)")
        };
        match pattern.strip_prefix('~') {
            Some(re) => fancy_regex::Regex::new(&format!(r"\A(?:{re})"))
                .map(Matcher::Re)
                .map_err(|e| invalid(e.to_string())),
            None => Regex::new(&fnmatch_to_regex(pattern))
                .map(Matcher::Glob)
                .map_err(|e| invalid(e.to_string())),
        }
    }

    fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Glob(r) => r.is_match(text),
            Matcher::Re(r) => r.is_match(text).unwrap_or(false),
        }
    }
}

/// Ansible's `PATTERN_WITH_SUBSCRIPT`: `expr[3]`, `expr[-1]`, `expr[1:3]`, `expr[2:]`.
fn split_subscript(pattern: &str) -> (String, Option<(i64, Option<i64>)>, bool) {
    if pattern.starts_with('~') {
        return (pattern.to_string(), None, false);
    }
    #[allow(clippy::expect_used)]
    static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?s)^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
            .expect("subscript regex compiles")
    });
    let Some(c) = SUBSCRIPT.captures(pattern) else {
        return (pattern.to_string(), None, false);
    };
    let base = c.get(1).map_or("", |m| m.as_str()).to_string();
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    if c.get(2).is_some() {
        return (base, num(2).map(|i| (i, None)), false);
    }
    let start = num(3).unwrap_or(0);
    let end = match c.get(5).map(|m| m.as_str()) {
        None | Some("") => -1,
        Some(_) => num(5).unwrap_or(-1),
    };
    let dash = c.get(4).map(|m| m.as_str()) == Some("-");
    (base, Some((start, Some(end))), dash)
}

/// Resolves patterns against one inventory; collects warnings.
pub struct Resolver<'a> {
    data: &'a Data,
    /// Warnings such as "Could not match supplied host pattern, ignoring: x".
    pub warnings: Vec<Diagnostic>,
}

impl<'a> Resolver<'a> {
    /// A resolver over `data`.
    pub fn new(data: &'a Data) -> Resolver<'a> {
        Resolver {
            data,
            warnings: Vec::new(),
        }
    }

    fn warn(&mut self, msg: String) {
        if !self.warnings.iter().any(|w| w.message == msg) {
            self.warnings.push(Diagnostic::warning(msg));
        }
    }

    /// Ansible's `_evaluate_patterns` over already split patterns (result deduplicated).
    pub fn evaluate(&mut self, patterns: &[String]) -> Result<Vec<Chosen>, Diagnostic> {
        let mut hosts: Vec<Chosen> = Vec::new();
        for p in order_patterns(patterns) {
            if let Some(h) = self.data.host(&p) {
                hosts.push(Chosen::Host(h));
                continue;
            }
            let that = self.match_one(&p)?;
            if p.starts_with('!') {
                let that: HashSet<Chosen> = that.into_iter().collect();
                hosts.retain(|h| !that.contains(h));
            } else if p.starts_with('&') {
                let that: HashSet<Chosen> = that.into_iter().collect();
                hosts.retain(|h| that.contains(h));
            } else {
                let existing: HashSet<Chosen> = hosts.iter().cloned().collect();
                hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
            }
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        Ok(hosts)
    }

    fn match_one(&mut self, pattern: &str) -> Result<Vec<Chosen>, Diagnostic> {
        let pattern = pattern
            .strip_prefix('&')
            .or_else(|| pattern.strip_prefix('!'))
            .unwrap_or(pattern);
        let (expr, subscript, dash) = split_subscript(pattern);
        if dash {
            self.warn(
                "Use [x:y] inclusive subscripts instead of [x-y] which has been removed".into(),
            );
        }
        let hosts = self.enumerate(&expr)?;
        if hosts.is_empty() {
            return Ok(hosts);
        }
        let Some((start, end)) = subscript else {
            return Ok(hosts);
        };
        let len = hosts.len() as i64;
        let index = |i: i64| if i < 0 { i + len } else { i };
        match end {
            Some(end) if end != 0 => {
                let end = if end == -1 { len - 1 } else { end };
                // Python slice hosts[start:end + 1], clamped.
                let lo = index(start).clamp(0, len);
                let hi = index(end + 1).clamp(0, len);
                Ok(if lo < hi {
                    hosts[lo as usize..hi as usize].to_vec()
                } else {
                    Vec::new()
                })
            }
            _ => {
                let i = index(start);
                if i < 0 || i >= len {
                    return Err(Diagnostic::error(format!(
                        "no hosts matched the subscripted pattern `{pattern}`"
                    ))
                    .with_help(format!("the pattern matches {len} hosts, indexed from 0")));
                }
                Ok(vec![hosts[i as usize].clone()])
            }
        }
    }

    fn enumerate(&mut self, pattern: &str) -> Result<Vec<Chosen>, Diagnostic> {
        let matcher = Matcher::new(pattern)?;
        let mut results = Vec::new();
        let mut matched_group = false;
        for (g, group) in self.data.groups.iter().enumerate() {
            if matcher.is_match(&group.name) {
                matched_group = true;
                results.extend(self.data.group_hosts(g).into_iter().map(Chosen::Host));
            }
        }
        let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if !matched_group || special {
            for (h, host) in self.data.hosts.iter().enumerate() {
                if matcher.is_match(&host.name) {
                    results.push(Chosen::Host(h));
                }
            }
        }
        if results.is_empty() && LOCALHOST_NAMES.contains(&pattern) {
            // Ansible reuses a localhost-like inventory host (`127.0.0.1` for `localhost`).
            results.push(match self.data.localhost() {
                Some(h) => Chosen::Host(h),
                None => Chosen::ImplicitLocalhost(pattern.to_string()),
            });
        }
        if results.is_empty() && !matched_group && pattern != "all" {
            self.warn(format!(
                "Could not match supplied host pattern, ignoring: {pattern}"
            ));
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_ansible() {
        assert_eq!(split_host_pattern("a:b"), ["a", "b"]);
        assert_eq!(split_host_pattern("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(split_host_pattern("a:&b:!c"), ["a", "&b", "!c"]);
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
        assert_eq!(split_host_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_host_pattern("a b"), ["a", "b"]);
        assert_eq!(split_host_pattern("~x[12]:y"), ["~x[12]", "y"]);
        assert_eq!(split_host_pattern("a:b,c"), ["a:b", "c"]);
    }

    #[test]
    fn globs_translate_like_fnmatch() {
        let m = |p: &str, s: &str| Regex::new(&fnmatch_to_regex(p)).unwrap().is_match(s);
        assert!(m("pg-*", "pg-test"));
        assert!(!m("pg-*", "xpg-test"));
        assert!(m("node?", "node1"));
        assert!(m("n[12]", "n2"));
        assert!(!m("n[!12]", "n2"));
        assert!(m("n[a-c]", "nb"));
        assert!(m("n[", "n["));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(!m("n[z-a]", "nz"));
    }

    #[test]
    fn subscripts_parse() {
        assert_eq!(split_subscript("web[0]").1, Some((0, None)));
        assert_eq!(split_subscript("web[-1]").1, Some((-1, None)));
        assert_eq!(split_subscript("web[1:2]").1, Some((1, Some(2))));
        assert_eq!(split_subscript("web[1:]").1, Some((1, Some(-1))));
        assert_eq!(split_subscript("~web[1]").1, None);
    }
}
