//! YAML inventories (Ansible's `yaml` inventory plugin): top-level keys are groups, each a
//! mapping with `hosts`, `children` and `vars`.

use drover_diag::{Diagnostic, Span, did_you_mean};
use drover_yaml::{Node, NodeValue};
use serde_json::Value;

use crate::data::{Data, GroupId, SourceInfo};
use crate::ranges::expand_host_pattern;

const SECTIONS: [&str; 3] = ["hosts", "children", "vars"];

/// Adds the groups and hosts of a YAML inventory document (a mapping) to `data`.
pub fn parse(data: &mut Data, root: &Node, source: &SourceInfo) -> Result<(), Diagnostic> {
    let Some(map) = root.as_map() else {
        return Err(Diagnostic::error(format!(
            "a YAML inventory must be a mapping of group names, found {}",
            root.kind_name()
        ))
        .with_span(root.span.clone())
        .with_help("start the file with `all:` and list groups under `children:`"));
    };
    if let Some((key, value)) = map.get_entry("plugin")
        && !is_falsy(value)
    {
        return Err(Diagnostic::error(
            "this is an inventory plugin configuration file, not a YAML inventory",
        )
        .with_span(key.span.clone())
        .with_help("drover reads static YAML and INI inventories only; export the plugin's output with `ansible-inventory --list -y` and use that file"));
    }
    reject_vault(root)?;
    for (name, group_data) in map.iter() {
        parse_group(data, name, group_data, source)?;
    }
    Ok(())
}

/// Refuses `!vault` values (drover has no vault support) instead of using the ciphertext.
pub fn reject_vault(node: &Node) -> Result<(), Diagnostic> {
    if node.tag.as_deref() == Some("!vault") {
        return Err(Diagnostic::error("ansible-vault encrypted values are not supported")
            .with_span(node.span.clone())
            .with_help("decrypt the value (`ansible-vault decrypt_string`) or supply it another way, e.g. with -e"));
    }
    match &node.value {
        NodeValue::Seq(items) => items.iter().try_for_each(reject_vault),
        NodeValue::Map(m) => m.iter().try_for_each(|(_, v)| reject_vault(v)),
        _ => Ok(()),
    }
}

fn is_falsy(v: &Node) -> bool {
    match &v.value {
        NodeValue::Null => true,
        NodeValue::Bool(b) => !b,
        NodeValue::Int(i) => *i == 0,
        NodeValue::Float(f) => *f == 0.0,
        NodeValue::Str(s) => s.is_empty(),
        NodeValue::Seq(s) => s.is_empty(),
        NodeValue::Map(m) => m.is_empty(),
    }
}

fn parse_group(
    data: &mut Data,
    name_node: &Node,
    group_data: &Node,
    source: &SourceInfo,
) -> Result<GroupId, Diagnostic> {
    let name = match name_node.as_str() {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(Diagnostic::error(format!(
                "group names must be non-empty strings, found {}",
                name_node.kind_name()
            ))
            .with_span(name_node.span.clone())
            .with_help("quote the group name"));
        }
    };
    let map = match &group_data.value {
        NodeValue::Map(m) => Some(m),
        NodeValue::Null => None,
        _ => {
            return Err(Diagnostic::error(format!(
                "group `{name}` must be a mapping with `hosts`, `children` or `vars`, found {}",
                group_data.kind_name()
            ))
            .with_span(group_data.span.clone())
            .with_help(format!(
                "write hosts under the group, e.g.\n      {name}:\n        hosts:\n          host1: {{}}\n  (Ansible only warns and skips this group, losing its hosts)"
            )));
        }
    };
    let group = data.add_group(name, Some(name_node.span.clone()));
    let Some(map) = map else {
        return Ok(group);
    };
    for (key, value) in map.iter() {
        let section = key.as_str().unwrap_or_default();
        if !SECTIONS.contains(&section) {
            let mut d = Diagnostic::error(format!(
                "unexpected key `{}` in group `{name}`: only `hosts`, `children` and `vars` are valid",
                key.key_string()
            ))
            .with_span(key.span.clone());
            d = match did_you_mean(section, SECTIONS) {
                Some(hint) => d.with_help(hint),
                None => d.with_help(
                    "put variables under `vars:`, hosts under `hosts:`, sub-groups under `children:`",
                ),
            };
            return Err(d);
        }
        let entries: Vec<(Node, Node)> = match &value.value {
            NodeValue::Null => continue,
            // Ansible accepts `hosts: name` as `hosts: {name: null}`.
            NodeValue::Str(_) => vec![(
                value.clone(),
                Node {
                    span: value.span.clone(),
                    value: NodeValue::Null,
                    tag: None,
                },
            )],
            NodeValue::Map(m) => m.entries.clone(),
            _ => {
                return Err(Diagnostic::error(format!(
                    "`{section}` of group `{name}` must be a mapping, found {}",
                    value.kind_name()
                ))
                .with_span(value.span.clone())
                .with_help(section_help(section)));
            }
        };
        match section {
            "vars" => {
                for (k, v) in &entries {
                    data.set_group_var(group, k.key_string(), v.to_json(), Some(v.span.clone()))
                        .map_err(|m| Diagnostic::error(m).with_span(v.span.clone()))?;
                }
            }
            "children" => {
                for (k, v) in &entries {
                    let child = parse_group(data, k, v, source)?;
                    data.add_child(group, child).map_err(|m| {
                        Diagnostic::error(m)
                            .with_span(k.span.clone())
                            .with_help("a group cannot contain one of its own ancestors")
                    })?;
                }
            }
            _ => {
                for (k, v) in &entries {
                    parse_host(data, group, name, k, v, source)?;
                }
            }
        }
    }
    Ok(group)
}

fn section_help(section: &str) -> &'static str {
    match section {
        "hosts" => {
            "list hosts as keys of a mapping, e.g. `hosts: {10.10.10.10: {}, 10.10.10.11: {}}`"
        }
        "children" => "list child groups as keys of a mapping, e.g. `children: {web: {}, db: {}}`",
        _ => "write variables as a mapping, e.g. `vars: {ansible_user: admin}`",
    }
}

fn parse_host(
    data: &mut Data,
    group: GroupId,
    group_name: &str,
    key: &Node,
    vars: &Node,
    source: &SourceInfo,
) -> Result<(), Diagnostic> {
    let Some(pattern) = key.as_str() else {
        return Err(Diagnostic::error(format!(
            "host pattern `{}` must be a string, found {}",
            key.key_string(),
            key.kind_name()
        ))
        .with_span(key.span.clone())
        .with_help("enclose integers and floats in quotation marks"));
    };
    let (hosts, port) = expand_host_pattern(pattern)
        .map_err(|m| Diagnostic::error(m).with_span(key.span.clone()))?;
    // (name, value, where the value is written)
    let var_entries: Vec<(String, Value, Span)> = match &vars.value {
        NodeValue::Null => Vec::new(),
        NodeValue::Map(m) => m
            .iter()
            .map(|(k, v)| (k.key_string(), v.to_json(), v.span.clone()))
            .collect(),
        _ => {
            return Err(Diagnostic::error(format!(
                "host `{pattern}` in group `{group_name}` must have a mapping of variables, found {}",
                vars.kind_name()
            ))
            .with_span(vars.span.clone())
            .with_help(format!(
                "write `{pattern}: {{}}` for a host without variables, or `{pattern}: {{ansible_host: 10.0.0.1}}`"
            )));
        }
    };
    for host in hosts {
        if host.is_empty() {
            return Err(Diagnostic::error("empty host name").with_span(key.span.clone()));
        }
        let id = data.add_host(&host, Some(group), port, Some(key.span.clone()), source);
        for (k, v, span) in &var_entries {
            data.set_host_var(id, k.clone(), v.clone(), Some(span.clone()));
        }
    }
    Ok(())
}
