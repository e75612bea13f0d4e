//! INI inventories (Ansible's `ini` inventory plugin): `[group]`, `[group:vars]`,
//! `[group:children]` sections and `host key=value ...` lines whose values are read with
//! Python's `ast.literal_eval`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use drover_diag::{Diagnostic, Source, Span};
use regex::Regex;

use crate::data::{Data, SourceInfo};
use crate::pyvalue::{ini_value, shlex_split};
use crate::ranges::expand_host_pattern;
use drover_python::text::{splitlines_ranges as splitlines, strip as py_strip};

#[allow(clippy::expect_used)]
static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("section regex compiles")
});
#[allow(clippy::expect_used)]
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("group name regex compiles"));

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Hosts,
    Children,
    Vars,
}

struct Pending {
    state: State,
    span: Span,
    parents: Vec<String>,
}

/// Adds the groups and hosts of an INI inventory to `data`.
pub fn parse(data: &mut Data, src: &Arc<Source>, source: &SourceInfo) -> Result<(), Diagnostic> {
    let text = src.text();
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut pending_order: Vec<String> = Vec::new();
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    for (start, end) in splitlines(text) {
        let raw = &text[start..end];
        let line = py_strip(raw);
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let offset = start + (line.as_ptr() as usize - raw.as_ptr() as usize);
        let line_span = Span::new(src.clone(), offset, offset + line.len());
        let err = |msg: String| Diagnostic::error(msg).with_span(line_span.clone());
        if let Some(c) = SECTION.captures(line) {
            let name = c.get(1).map_or("", |m| m.as_str()).to_string();
            let kind = c.get(2).map(|m| m.as_str());
            state = match kind {
                None | Some("hosts") => State::Hosts,
                Some("children") => State::Children,
                Some("vars") => State::Vars,
                Some(other) => {
                    return Err(err(format!(
                        "section [{name}:{other}] has unknown type `{other}`"
                    ))
                    .with_help("use [group], [group:vars] or [group:children]"));
                }
            };
            let name_span = line_span.sub(1, 1 + name.len());
            if data.group(&name).is_none() {
                if state == State::Vars && !pending.contains_key(&name) {
                    pending_order.push(name.clone());
                    pending.insert(
                        name.clone(),
                        Pending {
                            state,
                            span: line_span.clone(),
                            parents: Vec::new(),
                        },
                    );
                }
                data.add_group(&name, Some(name_span));
            }
            if state != State::Vars
                && let Some(p) = pending.get(&name)
            {
                if p.state == State::Children {
                    add_pending_children(data, &name, &mut pending)?;
                } else {
                    pending.remove(&name);
                }
            }
            group = name;
            continue;
        } else if line.starts_with('[') && line.ends_with(']') {
            return Err(err(format!("invalid section entry `{line}`"))
                .with_help("remove spaces and other invalid characters from the section name, e.g. `[web:vars]`"));
        }
        match state {
            State::Hosts => parse_host_line(data, &group, line, &line_span, source)?,
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(format!(
                        "expected `key=value` in [{group}:vars], got `{line}`"
                    ))
                    .with_help("write one `name=value` per line in a :vars section"));
                };
                let g = data.group(&group).unwrap_or(crate::data::UNGROUPED);
                let value = py_strip(v);
                let at = offset_in(line, value);
                let span = line_span.sub(at, at + value.len());
                data.set_group_var(g, py_strip(k).to_string(), ini_value(value), Some(span))
                    .map_err(err)?;
            }
            State::Children => {
                let Some(c) = GROUP_NAME.captures(line) else {
                    return Err(err(format!(
                        "expected a group name in [{group}:children], got `{line}`"
                    ))
                    .with_help("list one child group name per line"));
                };
                let child = c.get(1).map_or("", |m| m.as_str()).to_string();
                match data.group(&child) {
                    Some(child_id) => {
                        let parent = data.add_group(&group, None);
                        data.add_child(parent, child_id).map_err(err)?;
                    }
                    None => match pending.get_mut(&child) {
                        Some(p) => p.parents.push(group.clone()),
                        None => {
                            pending_order.push(child.clone());
                            pending.insert(
                                child.clone(),
                                Pending {
                                    state: State::Children,
                                    span: line_span.clone(),
                                    parents: vec![group.clone()],
                                },
                            );
                        }
                    },
                }
            }
        }
    }
    for name in pending_order {
        if let Some(p) = pending.get(&name) {
            return Err(match p.state {
                State::Vars => Diagnostic::error(format!(
                    "section [{name}:vars] is for group `{name}`, which is not defined"
                ))
                .with_span(p.span.clone())
                .with_help(format!(
                    "add a [{name}] or [{name}:children] section, or fix the group name"
                )),
                _ => Diagnostic::error(format!(
                    "section [{}:children] includes undefined group `{name}`",
                    p.parents.last().map_or("?", String::as_str)
                ))
                .with_span(p.span.clone())
                .with_help(format!(
                    "define the group with a [{name}] section (it may be empty)"
                )),
            });
        }
    }
    Ok(())
}

fn add_pending_children(
    data: &mut Data,
    group: &str,
    pending: &mut HashMap<String, Pending>,
) -> Result<(), Diagnostic> {
    let Some(p) = pending.remove(group) else {
        return Ok(());
    };
    let child = data.add_group(group, None);
    for parent in &p.parents {
        let parent_id = data.add_group(parent, None);
        data.add_child(parent_id, child)
            .map_err(|m| Diagnostic::error(m).with_span(p.span.clone()))?;
        if pending
            .get(parent)
            .is_some_and(|pp| pp.state == State::Children)
        {
            add_pending_children(data, parent, pending)?;
        }
    }
    Ok(())
}

fn parse_host_line(
    data: &mut Data,
    group: &str,
    line: &str,
    line_span: &Span,
    source: &SourceInfo,
) -> Result<(), Diagnostic> {
    let err = |msg: String| Diagnostic::error(msg).with_span(line_span.clone());
    let tokens = shlex_split(line)
        .map_err(|e| err(format!("cannot parse host definition `{line}`: {e}")))?;
    let Some(pattern) = tokens.first() else {
        return Ok(());
    };
    let (hosts, port) = expand_host_pattern(pattern).map_err(err)?;
    if py_strip(pattern).ends_with(':') && port.is_none() {
        return Err(err(format!(
            "invalid host pattern `{pattern}`: a trailing `:` is reserved for a port"
        )));
    }
    if hosts.iter().any(|h| py_strip(h) == "---") {
        return Err(err(format!(
            "invalid host pattern `{pattern}`: `---` is normally a sign this is a YAML file"
        ))
        .with_help("name YAML inventories with a .yml or .yaml extension"));
    }
    // The host name token's span (the first word of the line).
    let first_len = line.find([' ', '\t']).unwrap_or(line.len());
    let mut search_from = first_len;
    let mut vars = Vec::new();
    for t in &tokens[1..] {
        let Some((k, v)) = t.split_once('=') else {
            return Err(err(format!(
                "expected `key=value` host variable assignment, got `{t}`"
            ))
            .with_help("separate variables with spaces and quote values containing spaces: `host1 x=\"a b\"`"));
        };
        // The value's position, or the line's when quoting hides it.
        let span = match assignment_value_at(line, k, search_from) {
            Some(at) => {
                search_from = at;
                line_span.sub(at, at + v.len())
            }
            None => line_span.clone(),
        };
        vars.push((k.to_string(), ini_value(v), span));
    }
    let host_span = line_span.sub(0, first_len);
    let g = data.group(group).unwrap_or(crate::data::UNGROUPED);
    for host in hosts {
        if host.is_empty() {
            return Err(err("empty host name".into()));
        }
        let id = data.add_host(&host, Some(g), port, Some(host_span.clone()), source);
        for (k, v, span) in &vars {
            data.set_host_var(id, k.clone(), v.clone(), Some(span.clone()));
        }
    }
    Ok(())
}

/// The byte offset of `inner`, a subslice of `outer`, within `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len())
}

/// Where the value of the `key=value` word for `key` starts in a host line, searching from
/// byte `from`: the first `key=` that starts a word. `None` when quoting hides it (e.g.
/// `"key"=value`).
fn assignment_value_at(line: &str, key: &str, from: usize) -> Option<usize> {
    let needle = format!("{key}=");
    let mut at = from;
    while let Some(found) = line.get(at..)?.find(&needle) {
        let start = at + found;
        if line[..start].ends_with([' ', '\t']) {
            return Some(start + needle.len());
        }
        at = start + needle.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn load(text: &str) -> Result<Data, Diagnostic> {
        let src = Source::new("hosts", text);
        let mut d = Data::new();
        let info = SourceInfo {
            file: Value::Null,
            dir: Value::Null,
        };
        parse(&mut d, &src, &info)?;
        d.reconcile().map_err(Diagnostic::error)?;
        Ok(d)
    }

    #[test]
    fn sections_children_and_typed_values() {
        let d = load(
            "top x=1\n[web]\nw[1:2] a=True b='q r' c=0755\n[web:vars]\nv = 5 # c\n[all:children]\nweb\n",
        )
        .unwrap();
        let w1 = &d.hosts[d.host("w1").unwrap()];
        assert_eq!(w1.vars["a"], json!(true));
        assert_eq!(w1.vars["b"], json!("q r"));
        assert_eq!(w1.vars["c"], json!("0755"));
        let web = d.group("web").unwrap();
        assert_eq!(d.groups[web].vars["v"], json!(5));
        assert_eq!(
            d.groups[crate::data::UNGROUPED].hosts,
            [d.host("top").unwrap()]
        );
    }

    #[test]
    fn children_declared_before_their_group() {
        let d = load("[p:children]\nc\n[c]\nh\n").unwrap();
        let p = d.group("p").unwrap();
        assert_eq!(d.groups[p].children, [d.group("c").unwrap()]);
    }

    #[test]
    fn values_keep_their_positions() {
        let d = load("[web]\nw1 a=1 x=\"b=1\" b=2\n[web:vars]\nv = 5 # c\n").unwrap();
        let w1 = &d.hosts[d.host("w1").unwrap()];
        let at = |k: &str| w1.origins.get(k).map(|o| o.location());
        assert_eq!(at("a").as_deref(), Some("hosts:2:6"));
        assert_eq!(at("x").as_deref(), Some("hosts:2:10"));
        // `b=` inside the quoted value of x is not b's
        assert_eq!(at("b").as_deref(), Some("hosts:2:18"));
        let web = &d.groups[d.group("web").unwrap()];
        let v = web.origins.get("v").map(|o| o.location());
        assert_eq!(v.as_deref(), Some("hosts:4:5"));
        // a key hidden by quotes: the line
        let d = load("w2 \"q\"=1\n").unwrap();
        let w2 = &d.hosts[d.host("w2").unwrap()];
        let q = w2.origins.get("q").map(|o| o.location());
        assert_eq!(q.as_deref(), Some("hosts:1:1"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = load("[web]\nh1 novalue\n").unwrap_err();
        assert_eq!(e.location().unwrap(), "hosts:2:1");
        let e = load("[x:vars]\na=1\n").unwrap_err();
        assert!(e.message.contains("not defined"), "{}", e.message);
        let e = load("[p:children]\nmissing\n").unwrap_err();
        assert!(e.message.contains("undefined group `missing`"));
        assert!(load("[web:hostz]\n").is_err());
        assert!(load("[we b]\n").is_err());
        assert!(load("h x=\"unterminated\n").is_err());
    }
}
