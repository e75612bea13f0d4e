//! Which tasks of a play run for a tag filter (Ansible's `Block.filter_tagged_tasks`):
//! tasks are kept or dropped by their own plus inherited tags; a block stays when any of its
//! sections still has a task.

use serde_json::{Map, Value};

use crate::block::{Block, Item};
use crate::error::LoadResult;
use crate::loader::LoadTemplater;
use crate::play::Play;
use crate::tags::TagFilter;
use crate::task::Task;
use drover_diag::Diagnostic;

/// Renders templated tags (`tags: "{{ x }}"`) with the play's variables.
pub type TagTemplater<'a> = (&'a dyn LoadTemplater, &'a Map<String, Value>);

/// A selected task list entry.
#[derive(Clone, Debug)]
pub enum SelectedItem<'a> {
    /// A task that runs, with its effective (templated) tags.
    Task {
        /// The task.
        task: &'a Task,
        /// Own plus inherited tags, templated.
        tags: Vec<String>,
    },
    /// The end of a role run (kept whatever the tags, like Ansible's implicit meta task).
    RoleComplete(&'a std::sync::Arc<crate::role::RoleInstance>),
    /// A block with its selected sections.
    Block {
        /// The block.
        block: &'a Block,
        /// Selected `block:` entries.
        block_items: Vec<SelectedItem<'a>>,
        /// Selected `rescue:` entries.
        rescue: Vec<SelectedItem<'a>>,
        /// Selected `always:` entries.
        always: Vec<SelectedItem<'a>>,
    },
}

/// The selected tasks of one play, per section in run order (empty sections are kept so the
/// executor can flush handlers between them).
pub fn select_tasks<'a>(
    play: &'a Play,
    filter: &TagFilter,
    templater: TagTemplater<'_>,
) -> LoadResult<Vec<(&'static str, Vec<SelectedItem<'a>>)>> {
    play.sections()
        .into_iter()
        .map(|(name, items)| Ok((name, select_items(items, filter, templater)?)))
        .collect()
}

/// Selects among a task list (used for the tasks a dynamic include brings in).
pub fn select_items<'a>(
    items: &'a [Item],
    filter: &TagFilter,
    templater: TagTemplater<'_>,
) -> LoadResult<Vec<SelectedItem<'a>>> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::RoleComplete(role) => out.push(SelectedItem::RoleComplete(role)),
            Item::Task(task) => {
                let tags = effective_tags(task, templater)?;
                if filter.should_run(&tags) {
                    out.push(SelectedItem::Task { task, tags });
                }
            }
            Item::Block(block) => {
                let block_items = select_items(&block.block, filter, templater)?;
                let rescue = select_items(&block.rescue, filter, templater)?;
                let always = select_items(&block.always, filter, templater)?;
                if !(block_items.is_empty() && rescue.is_empty() && always.is_empty()) {
                    out.push(SelectedItem::Block {
                        block,
                        block_items,
                        rescue,
                        always,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn tag_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A task's tags with templates rendered (`{{ x }}` → value), deduplicated, in first-seen order.
pub fn effective_tags(task: &Task, (templater, vars): TagTemplater<'_>) -> LoadResult<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    // Play and `roles:` entry tags are used as written (Ansible never templates them).
    let mut literal: Vec<&String> = task.literal_tags.iter().collect();
    for tag in &task.tags {
        let is_literal = match literal.iter().position(|l| *l == tag) {
            Some(i) => {
                literal.swap_remove(i);
                true
            }
            None => false,
        };
        let rendered: Vec<String> = if !is_literal && (tag.contains("{{") || tag.contains("{%")) {
            let value = templater.render_value(tag, vars).map_err(|why| {
                Diagnostic::error(format!("cannot template the tag `{tag}`: {why}"))
                    .with_span(task.span.clone())
                    .with_help("tags may only use play variables and extra vars")
            })?;
            // Ansible's `_flatten_tags`: a list result contributes its items.
            match value {
                Value::Array(items) => items.iter().map(tag_text).collect(),
                other => vec![tag_text(&other)],
            }
        } else {
            vec![tag.clone()]
        };
        for tag in rendered {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{ExtraVarsTemplater, LoadOptions};

    const PLAY: &str = "- hosts: all
  tasks:
    - block:
        - name: b1
          ping:
          tags: a
      rescue:
        - name: r1
          ping:
      always:
        - name: w1
          ping:
          tags: [always]
      tags: blk
    - name: t1
      ping:
";

    /// Names of the selected tasks, block/rescue/always marked.
    fn names(items: &[SelectedItem<'_>], out: &mut Vec<String>) {
        for item in items {
            match item {
                SelectedItem::Task { task, .. } => out.push(task.display_name()),
                SelectedItem::RoleComplete(_) => {}
                SelectedItem::Block {
                    block_items,
                    rescue,
                    always,
                    ..
                } => {
                    out.push("[".into());
                    names(block_items, out);
                    out.push("|".into());
                    names(rescue, out);
                    out.push("|".into());
                    names(always, out);
                    out.push("]".into());
                }
            }
        }
    }

    #[test]
    fn blocks_stay_while_any_section_has_a_task() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("site.yml"), PLAY).unwrap();
        let pb =
            crate::load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap();
        // (-t, --skip-tags, expected selection)
        let table: &[(&str, &str, &str)] = &[
            ("", "", "[ b1 | r1 | w1 ] t1"),
            ("a", "", "[ b1 | | w1 ]"),
            ("blk", "", "[ b1 | r1 | w1 ]"),
            ("untagged", "", "[ | | w1 ] t1"),
            ("zzz", "", "[ | | w1 ]"),
            ("", "blk", "t1"),
            ("", "always", "[ b1 | r1 | ] t1"),
            ("", "all", "[ | | w1 ]"),
        ];
        let vars = serde_json::Map::new();
        for (only, skip, want) in table {
            let filter = TagFilter::new(&[*only], &[*skip]);
            let selected =
                select_tasks(&pb.plays[0], &filter, (&ExtraVarsTemplater, &vars)).unwrap();
            let mut got = Vec::new();
            for (_, items) in &selected {
                names(items, &mut got);
            }
            assert_eq!(got.join(" "), *want, "-t {only:?} --skip-tags {skip:?}");
        }
    }
}
