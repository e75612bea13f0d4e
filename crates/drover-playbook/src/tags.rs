//! Tag selection (`-t`/`--tags`, `--skip-tags`) with Ansible's semantics
//! (`Taggable.evaluate_tags` in ansible-core 2.18), including the special tags `always`,
//! `never`, `tagged`, `untagged` and `all`.

use std::collections::BTreeSet;

/// The tags asked for on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagFilter {
    /// `-t` values; empty means "all" (Ansible's default).
    pub only: BTreeSet<String>,
    /// `--skip-tags` values.
    pub skip: BTreeSet<String>,
}

impl TagFilter {
    /// A filter from the raw `-t` and `--skip-tags` arguments. Each argument may hold several
    /// comma-separated tags (`-t a,b`); surrounding spaces are dropped, empty items ignored.
    pub fn new<S: AsRef<str>>(tags: &[S], skip_tags: &[S]) -> TagFilter {
        TagFilter {
            only: split_cli(tags),
            skip: split_cli(skip_tags),
        }
    }

    /// The tags a play runs with when none are given: `all`.
    fn effective_only(&self) -> BTreeSet<&str> {
        if self.only.is_empty() {
            BTreeSet::from(["all"])
        } else {
            self.only.iter().map(String::as_str).collect()
        }
    }

    /// Whether an item carrying `tags` (its own plus inherited, already templated) is selected.
    pub fn should_run<S: AsRef<str>>(&self, tags: &[S]) -> bool {
        let mut set: BTreeSet<&str> = tags.iter().map(AsRef::as_ref).collect();
        let untagged = set.is_empty();
        if untagged {
            set.insert("untagged");
        }
        let only = self.effective_only();
        let skip: BTreeSet<&str> = self.skip.iter().map(String::as_str).collect();
        let meets = |wanted: &BTreeSet<&str>| wanted.iter().any(|t| set.contains(t));

        let mut run = set.contains("always")
            || (only.contains("all") && !set.contains("never"))
            || meets(&only)
            || (only.contains("tagged") && !untagged && !set.contains("never"));
        if run && !skip.is_empty() {
            if skip.contains("all") {
                if !set.contains("always") || skip.contains("always") {
                    run = false;
                }
            } else if meets(&skip) || (skip.contains("tagged") && !untagged) {
                run = false;
            }
        }
        run
    }
}

fn split_cli<S: AsRef<str>>(values: &[S]) -> BTreeSet<String> {
    values
        .iter()
        .flat_map(|v| v.as_ref().split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits a `tags:` string the way Ansible's `_load_tags` does: on commas, each part stripped.
pub fn split_tag_string(text: &str) -> Vec<String> {
    text.split(',').map(|t| t.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (task tags, -t, --skip-tags, runs?) — expectations produced by ansible-core 2.18's
    /// `Taggable.evaluate_tags` on the same inputs.
    const CASES: &[(&[&str], &str, &str, bool)] = &[
        (&[], "", "", true),
        (&["a"], "", "", true),
        (&["never"], "", "", false),
        (&["never", "a"], "", "", false),
        (&["never", "a"], "a", "", true),
        (&["never"], "never", "", true),
        (&["always"], "b", "", true),
        (&["always"], "", "always", false),
        (&["always"], "", "all", true),
        (&["always", "a"], "", "a", false),
        (&["a"], "b", "", false),
        (&["a"], "a,b", "", true),
        (&["a"], "a", "a", false),
        (&[], "untagged", "", true),
        (&["a"], "untagged", "", false),
        (&["a"], "tagged", "", true),
        (&[], "tagged", "", false),
        (&["never", "x"], "tagged", "", false),
        (&["a"], "", "tagged", false),
        (&[], "", "tagged", true),
        (&[], "", "untagged", false),
        (&["a"], "all", "", true),
        (&["never"], "all", "", false),
        (&["always"], "", "all,always", false),
        (&["always", "never"], "", "", true),
        (&["a"], "", "all", false),
    ];

    #[test]
    fn selection_matches_ansible_table() {
        for (tags, only, skip, want) in CASES {
            let f = TagFilter::new(&[*only], &[*skip]);
            assert_eq!(
                f.should_run(tags),
                *want,
                "tags {tags:?} -t {only:?} --skip-tags {skip:?}"
            );
        }
    }

    #[test]
    fn repeated_and_comma_separated_flags_collect() {
        let f = TagFilter::new(&["a, b", "c"], &[]);
        assert_eq!(f.only.iter().cloned().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(split_tag_string("x, y"), ["x", "y"]);
    }
}
