//! `--list-tasks --list-tags` output compared byte for byte with ansible-playbook 2.18 over a
//! fixture with roles (meta dependencies, duplicates, params), imports, includes, blocks and
//! every special tag, for a matrix of `-t`/`--skip-tags` combinations.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use drover_playbook::listing::{ListContext, ListOptions, TemplaterAndVars, render};
use drover_playbook::{LoadOptions, Play, TagFilter, load_playbook};

/// One ansible-playbook invocation: `-t`, `--skip-tags`, `-l`, and which listings.
struct Case {
    fixture: &'static str,
    extra_vars: &'static [(&'static str, &'static str)],
    only: &'static [&'static str],
    skip: &'static [&'static str],
    limit: Option<&'static str>,
    list: ListOptions,
}

const ALL: ListOptions = ListOptions {
    tasks: true,
    tags: true,
    hosts: false,
};
const TASKS: ListOptions = ListOptions {
    tasks: true,
    tags: false,
    hosts: false,
};
const TAGS: ListOptions = ListOptions {
    tasks: false,
    tags: true,
    hosts: false,
};
const HOSTS: ListOptions = ListOptions {
    tasks: false,
    tags: false,
    hosts: true,
};
const EVERYTHING: ListOptions = ListOptions {
    tasks: true,
    tags: true,
    hosts: true,
};

const fn case(only: &'static [&'static str], skip: &'static [&'static str]) -> Case {
    Case {
        fixture: "tags",
        extra_vars: &[],
        only,
        skip,
        limit: None,
        list: ALL,
    }
}

const MATRIX: &[Case] = &[
    case(&[], &[]),
    case(&["a"], &[]),
    case(&["a,two"], &[]),
    case(&["a", "two"], &[]),
    case(&["never"], &[]),
    case(&["debug_only"], &[]),
    case(&["always"], &[]),
    case(&["all"], &[]),
    case(&["tagged"], &[]),
    case(&["untagged"], &[]),
    case(&["web"], &[]),
    case(&["db2"], &[]),
    case(&["imp"], &[]),
    case(&["improle", "inc"], &[]),
    case(&["blk"], &["inner"]),
    case(&[], &["always"]),
    case(&[], &["all"]),
    case(&[], &["tagged"]),
    case(&[], &["untagged"]),
    case(&["a"], &["a"]),
    case(&["all"], &["never"]),
    case(&["templated", "common"], &["play1"]),
    case(&["nested"], &[]),
    case(&["lt2"], &[]),
    case(&["imported"], &["never"]),
    case(&["other", "applied"], &["two"]),
    Case {
        fixture: "tags",
        extra_vars: &[],
        only: &[],
        skip: &[],
        limit: None,
        list: TASKS,
    },
    Case {
        fixture: "tags",
        extra_vars: &[],
        only: &[],
        skip: &[],
        limit: None,
        list: TAGS,
    },
    Case {
        fixture: "tags",
        extra_vars: &[],
        only: &["never"],
        skip: &[],
        limit: None,
        list: TAGS,
    },
    Case {
        fixture: "tags",
        extra_vars: &[],
        only: &[],
        skip: &[],
        limit: None,
        list: HOSTS,
    },
    Case {
        fixture: "tags",
        extra_vars: &[],
        only: &["a"],
        skip: &[],
        limit: Some("web"),
        list: EVERYTHING,
    },
    Case {
        fixture: "tags",
        extra_vars: &[],
        only: &[],
        skip: &[],
        limit: Some("db:&web,localhost"),
        list: HOSTS,
    },
    Case {
        fixture: "templated",
        extra_vars: &[("env", "prod")],
        only: &[],
        skip: &[],
        limit: None,
        list: EVERYTHING,
    },
    Case {
        fixture: "templated",
        extra_vars: &[("env", "prod")],
        only: &["rolevar", "brolevar"],
        skip: &[],
        limit: None,
        list: ALL,
    },
    Case {
        fixture: "templated",
        extra_vars: &[("env", "prod")],
        only: &["{{ pv }}"],
        skip: &["plain"],
        limit: None,
        list: ALL,
    },
];

struct Ctx {
    inventory: drover_inventory::Inventory,
    templar: drover_template::Templar,
    extra_vars: serde_json::Map<String, serde_json::Value>,
}

impl ListContext for Ctx {
    fn hosts(&self, play: &Play) -> Result<Vec<String>, drover_diag::Diagnostic> {
        Ok(self.inventory.select_patterns(&play.hosts, true)?.hosts)
    }
    fn templater(&self, play: &Play) -> Result<TemplaterAndVars<'_>, drover_diag::Diagnostic> {
        let vars = drover_playbook::vars::play_level_vars(play, &self.extra_vars, &self.templar)?;
        Ok((&self.templar, vars))
    }
}

fn ansible_args(case: &Case) -> Vec<String> {
    let mut args: Vec<String> = vec!["-i".into(), "inventory.ini".into(), "site.yml".into()];
    for (k, v) in case.extra_vars {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    for (on, flag) in [
        (case.list.tasks, "--list-tasks"),
        (case.list.tags, "--list-tags"),
        (case.list.hosts, "--list-hosts"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    for t in case.only {
        args.push("-t".into());
        args.push((*t).into());
    }
    for t in case.skip {
        args.push("--skip-tags".into());
        args.push((*t).into());
    }
    if let Some(limit) = case.limit {
        args.push("-l".into());
        args.push(limit.into());
    }
    args
}

/// Ansible prints a play's own tags and its hosts in Python set order (random per process);
/// sort them.
fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match lines[i].split_once("\tTAGS: [") {
            Some((head, tags)) if head.starts_with("  play #") => {
                let mut tags: Vec<&str> = tags.trim_end_matches(']').split(',').collect();
                tags.sort();
                out.push(format!("{head}\tTAGS: [{}]", tags.join(",")));
            }
            _ => out.push(lines[i].to_string()),
        }
        if let Some(n) = lines[i]
            .strip_prefix("    hosts (")
            .and_then(|r| r.strip_suffix("):"))
        {
            let n: usize = n.parse().unwrap();
            let mut hosts: Vec<String> = lines[i + 1..i + 1 + n]
                .iter()
                .map(|s| s.to_string())
                .collect();
            hosts.sort();
            out.extend(hosts);
            i += n;
        }
        i += 1;
    }
    out.join("\n")
}

#[test]
fn listings_match_ansible_playbook() {
    let Some(bin) = common::ansible_bin_dir() else {
        return;
    };
    // Each ansible-playbook run takes about a second; run four at a time.
    let commands: Vec<Command> = MATRIX
        .iter()
        .map(|case| {
            let mut cmd = Command::new(bin.join("ansible-playbook"));
            cmd.args(ansible_args(case))
                .current_dir(common::fixture(case.fixture))
                .env("ANSIBLE_NOCOLOR", "1")
                .env("ANSIBLE_DEPRECATION_WARNINGS", "0");
            cmd
        })
        .collect();
    let outputs = common::run_all(commands, 4);
    let mut failures = Vec::new();
    for (case, out) in MATRIX.iter().zip(outputs) {
        assert!(
            out.status.success(),
            "ansible-playbook failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = common::fixture(case.fixture);
        let extra_vars: serde_json::Map<String, serde_json::Value> = case
            .extra_vars
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        let options = LoadOptions {
            extra_vars: extra_vars.clone(),
            ..LoadOptions::default()
        };
        let mut playbook = load_playbook(&dir.join("site.yml"), options).unwrap();
        playbook.path = "site.yml".into();
        let expected = normalize(&String::from_utf8(out.stdout).unwrap());
        let mut inventory = drover_inventory::Inventory::load(&[dir.join("inventory.ini")])
            .unwrap()
            .inventory;
        inventory.set_limit(case.limit).unwrap();
        let filter = TagFilter::new(case.only, case.skip);
        let ctx = Ctx {
            inventory,
            templar: drover_template::Templar::default(),
            extra_vars,
        };
        let got = normalize(&render(&playbook, &filter, case.list, &ctx).unwrap());
        if got != expected {
            failures.push(format!(
                "{:?}\n--- ansible\n{expected}\n--- drover\n{got}",
                ansible_args(case)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        MATRIX.len(),
        failures.join("\n")
    );
}
