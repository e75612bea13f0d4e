//! Error helpers: every load error points at the YAML node, says what was expected and what
//! to do.

use drover_diag::{Diagnostic, did_you_mean};
use drover_yaml::Node;

/// Result of loading playbooks, roles and task files.
pub type LoadResult<T> = Result<T, Diagnostic>;

/// "expected a mapping, found a string" at `node`.
pub fn expected(node: &Node, what: &str, context: &str) -> Diagnostic {
    Diagnostic::error(format!(
        "{context} must be {what}, found {}",
        node.kind_name()
    ))
    .with_span(node.span.clone())
}

/// An unknown key, with the nearest valid names and what to do.
pub fn unknown_key(key: &Node, kind: &str, candidates: &[&str], help: &str) -> Diagnostic {
    let name = key.key_string();
    let mut d = Diagnostic::error(format!("unknown {kind} `{name}`"))
        .with_span(key.span.clone())
        .with_label(format!("not a {kind}"));
    d = match did_you_mean(&name, candidates.iter().copied()) {
        Some(hint) => d.with_help(format!("{hint} ({help})")),
        None => d.with_help(help.to_string()),
    };
    d
}

/// A feature of Ansible that drover refuses, named, with what to do instead.
pub fn refused(key: &Node, what: &str, help: &str) -> Diagnostic {
    Diagnostic::error(format!(
        "`{}` is not supported by drover ({what})",
        key.key_string()
    ))
    .with_span(key.span.clone())
    .with_label("not supported")
    .with_help(help.to_string())
}

/// Refuses Ansible's `!vault` (and other unknown local tags) anywhere inside `node`.
pub fn refuse_vault(node: &Node) -> LoadResult<()> {
    if let Some(tag) = &node.tag
        && tag.starts_with("!vault")
    {
        return Err(
            Diagnostic::error("`!vault` encrypted values are not supported by drover")
                .with_span(node.span.clone())
                .with_help(
                    "decrypt the value and pass secrets with `-e @file` or environment variables",
                ),
        );
    }
    match &node.value {
        drover_yaml::NodeValue::Seq(items) => items.iter().try_for_each(refuse_vault),
        drover_yaml::NodeValue::Map(map) => map.iter().try_for_each(|(_, v)| refuse_vault(v)),
        _ => Ok(()),
    }
}
