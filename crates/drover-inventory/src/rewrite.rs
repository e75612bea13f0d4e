//! In-place edits of a YAML inventory file: set a variable of a host entry (`pg_role` after a
//! failover) by replacing that scalar's bytes only. Comments, key order, flow (`{pg_seq: 1,
//! pg_role: primary}`) or block style, spacing and quoting stay as the operator wrote them.

use drover_diag::{Diagnostic, Span};
use drover_yaml::{Node, NodeValue};

/// One change to make: `var` of `host` becomes `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostVarEdit {
    /// The inventory host name (as written under `hosts:`).
    pub host: String,
    /// The variable (`pg_role`).
    pub var: String,
    /// The new value, a plain word (`primary`, `replica`, `offline`).
    pub value: String,
}

/// What an edit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The edit.
    pub edit: HostVarEdit,
    /// `path:line:col` of each scalar replaced (a host may be listed in several groups).
    pub locations: Vec<String>,
    /// The value that was there.
    pub old: String,
}

/// Applies `edits` to the YAML inventory `text` (read from `path`). Every edit must find its
/// variable written as a scalar in an entry of its host in this file; otherwise nothing is
/// changed and the error says where the variable is (or is not).
pub fn set_host_vars(
    path: &str,
    text: &str,
    edits: &[HostVarEdit],
) -> Result<(String, Vec<Applied>), Diagnostic> {
    let loaded = drover_yaml::load_text(path, text)?;
    let Some(root) = loaded.single()? else {
        return Err(Diagnostic::error(format!(
            "`{path}` is empty: no host to edit"
        )));
    };
    let mut replacements: Vec<(Span, String)> = Vec::new();
    let mut applied = Vec::new();
    for edit in edits {
        if !is_plain_word(&edit.value) {
            return Err(Diagnostic::error(format!(
                "`{}` is not a value drover writes into an inventory (a plain word is)",
                edit.value
            )));
        }
        let mut found = Vec::new();
        host_entries(&root, &edit.host, &mut found);
        let mut locations = Vec::new();
        let mut old = None;
        for (key, entry) in found {
            let Some(value) = entry.get(&edit.var) else {
                continue;
            };
            let by_hand = || {
                Diagnostic::error(format!(
                    "`{}` of host `{}` is not written as a plain or quoted word in its own host entry (an anchor, an alias, a merge or a collection); edit it by hand",
                    edit.var, edit.host
                ))
                .with_span(value.span.clone())
            };
            // an aliased entry points back at its anchor; an anchored one is shared
            let own = entry.span.start >= key.span.end
                && !text[key.span.end..entry.span.start].contains('&')
                && !entry.span.text().starts_with('&');
            let inside = value.span.start >= entry.span.start && value.span.end <= entry.span.end;
            let Some(extent) = scalar_extent(text, value) else {
                return Err(by_hand());
            };
            if !own || !inside {
                return Err(by_hand());
            }
            let span = Span::new(value.span.source.clone(), value.span.start, extent);
            let written = span.text().to_string();
            locations.push(span.location());
            old.get_or_insert_with(|| unquoted(&written));
            replacements.push((span, requoted(&written, &edit.value)));
        }
        if locations.is_empty() {
            return Err(Diagnostic::error(format!(
                "host `{}` has no `{}` in a host entry of `{path}` (it may come from group vars or another file); set it there by hand",
                edit.host, edit.var
            )));
        }
        applied.push(Applied {
            edit: edit.clone(),
            locations,
            old: old.unwrap_or_default(),
        });
    }
    // From the end, so earlier offsets stay right.
    replacements.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = text.to_string();
    for (span, new) in replacements {
        out.replace_range(span.start..span.end, &new);
    }
    Ok((out, applied))
}

/// Where the scalar `value` ends in `text`: after its closing quote, or after its plain word.
/// `None` when it is not a one-line word or quoted string that reads back as its value (the
/// parser's span of a scalar may run on over spaces and a comment).
fn scalar_extent(text: &str, value: &Node) -> Option<usize> {
    let NodeValue::Str(want) = &value.value else {
        return None;
    };
    let start = value.span.start;
    let rest = text.get(start..)?;
    let (len, read) = match rest.chars().next()? {
        q @ ('\'' | '"') => {
            let close = rest[1..].find(q)? + 1;
            (close + 1, rest[1..close].to_string())
        }
        _ => {
            let len = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | '}' | ']' | '#'))
                .unwrap_or(rest.len());
            (len, rest[..len].to_string())
        }
    };
    (&read == want && is_plain_word(want)).then_some(start + len)
}

/// Every mapping that is the entry of `host` under some `hosts:` (in every group), with its key.
fn host_entries<'a>(node: &'a Node, host: &str, out: &mut Vec<(&'a Node, &'a Node)>) {
    let Some(map) = node.as_map() else {
        return;
    };
    for (key, value) in map.iter() {
        if key.as_str() == Some("hosts")
            && let Some(hosts) = value.as_map()
        {
            for (name, entry) in hosts.iter() {
                if name.key_string() == host && entry.as_map().is_some() {
                    out.push((name, entry));
                }
            }
        } else if key.as_str() != Some("vars") {
            host_entries(value, host, out);
        }
    }
}

fn is_plain_word(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `value` in the quoting the old scalar used.
fn requoted(old: &str, value: &str) -> String {
    match old.chars().next() {
        Some(q @ ('\'' | '"')) => format!("{q}{value}{q}"),
        _ => value.to_string(),
    }
}

fn unquoted(text: &str) -> String {
    text.trim_matches(|c| c == '\'' || c == '"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(host: &str, value: &str) -> HostVarEdit {
        HostVarEdit {
            host: host.into(),
            var: "pg_role".into(),
            value: value.into(),
        }
    }

    /// One row: the inventory, the edits (host, new role), the text afterwards.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    /// Each row: the inventory, the edits, the text afterwards (only the scalars changed).
    #[test]
    fn only_the_scalars_change() {
        let cases: &[Case<'_>] = &[
            // Pigsty's flow mappings, with a comment
            (
                "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.11: {pg_seq: 1, pg_role: primary}  # leader\n        10.10.10.12: {pg_seq: 2, pg_role: replica}\n      vars: {pg_cluster: pg-test}\n",
                &[("10.10.10.11", "replica"), ("10.10.10.12", "primary")],
                "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.11: {pg_seq: 1, pg_role: replica}  # leader\n        10.10.10.12: {pg_seq: 2, pg_role: primary}\n      vars: {pg_cluster: pg-test}\n",
            ),
            // block mappings, odd spacing, quotes kept
            (
                "pg-test:\n  hosts:\n    n1:\n      pg_seq: 1\n      pg_role :    \"primary\"   # was the first\n    n2:\n      pg_role: 'replica'\n      pg_seq: 2\n",
                &[("n1", "replica"), ("n2", "primary")],
                "pg-test:\n  hosts:\n    n1:\n      pg_seq: 1\n      pg_role :    \"replica\"   # was the first\n    n2:\n      pg_role: 'primary'\n      pg_seq: 2\n",
            ),
            // no change needed: identical text
            (
                "g:\n  hosts:\n    a: {pg_role: primary}\n",
                &[("a", "primary")],
                "g:\n  hosts:\n    a: {pg_role: primary}\n",
            ),
            // a flow mapping spread over lines, and a host listed in two groups
            (
                "all:\n  children:\n    c1:\n      hosts:\n        a: {\n          pg_seq: 1,\n          pg_role:   offline }\n    other:\n      hosts:\n        a: {pg_role: offline}\n        b: {}\n",
                &[("a", "replica")],
                "all:\n  children:\n    c1:\n      hosts:\n        a: {\n          pg_seq: 1,\n          pg_role:   replica }\n    other:\n      hosts:\n        a: {pg_role: replica}\n        b: {}\n",
            ),
        ];
        for (text, edits, want) in cases {
            let edits: Vec<HostVarEdit> = edits.iter().map(|(h, v)| edit(h, v)).collect();
            let (out, applied) = set_host_vars("inv.yml", text, &edits).unwrap();
            assert_eq!(&out, want);
            assert_eq!(applied.len(), edits.len());
            // the result still loads
            drover_yaml::load_text("inv.yml", &out).unwrap();
        }
    }

    #[test]
    fn what_it_cannot_edit_it_refuses_without_changing_anything() {
        let refused = |text: &str, host: &str| {
            set_host_vars("inv.yml", text, &[edit(host, "replica")])
                .unwrap_err()
                .message
                .clone()
        };
        // only in group vars
        assert!(
            refused(
                "g:\n  hosts:\n    a: {pg_seq: 1}\n  vars: {pg_role: primary}\n",
                "a"
            )
            .contains("has no `pg_role` in a host entry")
        );
        // an unknown host
        assert!(refused("g:\n  hosts:\n    a: {pg_role: primary}\n", "zz").contains("`zz`"));
        // from an anchor shared with another host
        let msg = refused(
            "g:\n  hosts:\n    a: &x {pg_role: primary}\n    b: *x\n",
            "b",
        );
        assert!(msg.contains("edit it by hand"), "{msg}");
        // a value that is not a plain word
        assert!(
            set_host_vars(
                "i.yml",
                "g:\n  hosts:\n    a: {pg_role: x}\n",
                &[edit("a", "a b")]
            )
            .is_err()
        );
    }

    #[test]
    fn it_reports_where_and_what_was_there() {
        let (_, applied) = set_host_vars(
            "inv.yml",
            "g:\n  hosts:\n    a: {pg_seq: 1, pg_role: \"primary\"}\n",
            &[edit("a", "replica")],
        )
        .unwrap();
        assert_eq!(applied[0].old, "primary");
        assert_eq!(applied[0].locations, ["inv.yml:3:29"]);
    }
}

#[cfg(test)]
mod pigsty_tests {
    use super::*;

    /// Upstream Pigsty's own `pigsty.yml`: a failover swap on pg-test touches two scalars and
    /// nothing else (every other line, comment and space is byte-identical).
    #[test]
    fn a_failover_swap_in_upstream_pigsty_yml_changes_two_words() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pigsty/pigsty-v1.0.0.yml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let edits = [
            HostVarEdit {
                host: "10.10.10.11".into(),
                var: "pg_role".into(),
                value: "replica".into(),
            },
            HostVarEdit {
                host: "10.10.10.12".into(),
                var: "pg_role".into(),
                value: "primary".into(),
            },
        ];
        let (out, applied) = set_host_vars(path, &text, &edits).unwrap();
        let changed: Vec<(usize, &str, &str)> = text
            .lines()
            .zip(out.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| (i + 1, a, b))
            .collect();
        assert_eq!(changed.len(), 2, "{changed:#?}");
        assert_eq!(
            changed[0].2,
            "        10.10.10.11: {pg_seq: 1, pg_role: replica}   # primary instance, leader of cluster"
        );
        assert_eq!(text.len(), out.len());
        assert_eq!(applied[1].old, "replica");
    }
}
