//! `--list-tasks`, `--list-tags` and `--list-hosts` output, byte for byte as
//! ansible-playbook 2.18 prints it (ansible/cli/playbook.py).
//!
//! Two details differ by necessity: Ansible prints a play's own tags and its hosts in Python
//! set order (random per process); drover prints tags in source order and hosts in inventory
//! order.

use std::collections::BTreeSet;
use std::fmt::Write;

use drover_diag::Diagnostic;

use crate::play::{Play, Playbook};
use crate::select::{SelectedItem, select_tasks};
use crate::tags::TagFilter;

/// What to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListOptions {
    /// `--list-tasks`.
    pub tasks: bool,
    /// `--list-tags`.
    pub tags: bool,
    /// `--list-hosts`.
    pub hosts: bool,
}

/// A templater with the variables to render with.
pub type TemplaterAndVars<'a> = (
    &'a dyn crate::loader::LoadTemplater,
    serde_json::Map<String, serde_json::Value>,
);

/// Supplies what the listing needs from outside the playbook: the hosts a play matches (after
/// `-l`) and the variables used to template tags.
pub trait ListContext {
    /// The hosts matched by the play's patterns, in inventory order.
    fn hosts(&self, play: &Play) -> Result<Vec<String>, Diagnostic>;
    /// The templater and play-level variables for templated tags (see
    /// [`crate::vars::play_level_vars`]).
    fn templater(&self, play: &Play) -> Result<TemplaterAndVars<'_>, Diagnostic>;
}

/// Renders the listing for one playbook (what ansible-playbook prints to stdout).
pub fn render(
    playbook: &Playbook,
    filter: &TagFilter,
    options: ListOptions,
    ctx: &dyn ListContext,
) -> Result<String, Diagnostic> {
    let filter = &listing_filter(filter, options);
    let mut out = String::new();
    display(
        &mut out,
        &format!("\nplaybook: {}", playbook.path.display()),
    );
    for (idx, play) in playbook.plays.iter().enumerate() {
        let play_tags = dedup(&play.tags);
        let mut msg = format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            idx + 1,
            play.hosts.join(","),
            play.name,
            play_tags.join(",")
        );
        if options.hosts {
            let hosts = ctx.hosts(play)?;
            let _ = write!(
                msg,
                "\n    pattern: {}\n    hosts ({}):",
                python_list_repr(&play.hosts),
                hosts.len()
            );
            for h in hosts {
                let _ = write!(msg, "\n      {h}");
            }
        }
        display(&mut out, &msg);
        if options.tags || options.tasks {
            let (templater, vars) = ctx.templater(play)?;
            let selected = select_tasks(play, filter, (templater, &vars))?;
            let mut task_msg = String::new();
            if options.tasks {
                task_msg.push_str("    tasks:\n");
            }
            let mut all_tags: BTreeSet<String> = play_tags.iter().cloned().collect();
            for (_, items) in &selected {
                list_items(
                    items,
                    &play_tags,
                    options.tasks,
                    &mut all_tags,
                    &mut task_msg,
                );
            }
            if options.tags {
                let tags: Vec<String> = all_tags.into_iter().collect();
                let _ = writeln!(task_msg, "      TASK TAGS: [{}]", tags.join(", "));
            }
            display(&mut out, &task_msg);
        }
    }
    Ok(out)
}

/// What `--syntax-check` prints for a playbook that loaded.
pub fn syntax_check(playbook: &Playbook) -> String {
    format!("\nplaybook: {}\n", playbook.path.display())
}

/// Ansible's `Display.display`: adds a newline unless the message already ends with one.
fn display(out: &mut String, msg: &str) {
    out.push_str(msg);
    if !msg.ends_with('\n') {
        out.push('\n');
    }
}

/// With `--list-tags` and no `-t`/`--skip-tags`, ansible-playbook lists with the tags
/// `never,all`, so `never` tasks are listed too (cli/playbook.py `post_process_args`).
pub fn listing_filter(filter: &TagFilter, options: ListOptions) -> TagFilter {
    if options.tags && filter.only.is_empty() && filter.skip.is_empty() {
        TagFilter::new(&["never", "all"], &[])
    } else {
        filter.clone()
    }
}

/// Ansible lists only the `block:` part of blocks (not `rescue`/`always`).
fn list_items(
    items: &[SelectedItem<'_>],
    play_tags: &[String],
    list_tasks: bool,
    all_tags: &mut BTreeSet<String>,
    out: &mut String,
) {
    for item in items {
        match item {
            SelectedItem::Task { task, tags } => {
                all_tags.extend(tags.iter().cloned());
                if list_tasks {
                    let cur: BTreeSet<&String> = play_tags.iter().chain(tags).collect();
                    let cur: Vec<&str> = cur.into_iter().map(String::as_str).collect();
                    let _ = writeln!(
                        out,
                        "      {}\tTAGS: [{}]",
                        task.listing_name(),
                        cur.join(", ")
                    );
                }
            }
            SelectedItem::RoleComplete(_) => {}
            SelectedItem::Block { block_items, .. } => {
                list_items(block_items, play_tags, list_tasks, all_tags, out);
            }
        }
    }
}

fn dedup(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// Python's `repr()` of a list of strings: `['all', "it's"]`.
pub fn python_list_repr(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| python_str_repr(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// Python's `repr()` of a string.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches() {
        assert_eq!(python_list_repr(&["all".into()]), "['all']");
        assert_eq!(
            python_list_repr(&["a".into(), "it's".into()]),
            "['a', \"it's\"]"
        );
    }
}
