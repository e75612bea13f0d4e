//! Helpers for the tests that compare drover with a real ansible-core.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use drover_template::HostVarsSource;
use serde_json::{Map, Value};

/// Where `ansible-playbook` lives: `$DROVER_ANSIBLE_BIN_DIR`, else `/work/ansible-venv/bin`, else
/// `PATH`. When it is missing the test fails under `CI=true` and is skipped loudly otherwise.
pub fn ansible_bin_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("DROVER_ANSIBLE_BIN_DIR") {
        candidates.push(PathBuf::from(dir));
    } else {
        candidates.push(PathBuf::from("/work/ansible-venv/bin"));
        if let Ok(path) = std::env::var("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
    }
    if let Some(dir) = candidates
        .into_iter()
        .find(|d| d.join("ansible-playbook").is_file())
    {
        return Some(dir);
    }
    missing(
        "ansible-core not found (set DROVER_ANSIBLE_BIN_DIR to the directory holding ansible-playbook)",
    );
    None
}

/// Fails under CI, prints a loud skip otherwise.
pub fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}; CI=true, so this compatibility test must not be skipped");
    }
    eprintln!("\n==============================================================");
    eprintln!("SKIPPED: {what}");
    eprintln!("==============================================================\n");
}

fn python_of(bin_dir: &Path) -> PathBuf {
    if bin_dir.join("python3").is_file() {
        bin_dir.join("python3")
    } else {
        PathBuf::from("python3")
    }
}

/// Whether the Python next to ansible can import `module` (json_query needs `jmespath`).
pub fn python_has(bin_dir: &Path, module: &str) -> bool {
    Command::new(python_of(bin_dir))
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `ansible-playbook` in `dir` and panics with its output on failure.
pub fn run_playbook(bin_dir: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin_dir.join("ansible-playbook"))
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_PYTHON_INTERPRETER", python_of(bin_dir))
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible-tmp"))
        .env("ANSIBLE_REMOTE_TEMP", dir.join(".ansible-tmp"))
        .env("ANSIBLE_FILTER_PLUGINS", dir.join("filter_plugins"))
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .output()
        .expect("failed to start ansible-playbook");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ansible-playbook failed:\n{text}");
    text
}

/// `json_query` for the reference run: community.general's filter is not part of ansible-core,
/// so the test ships the equivalent (plain data through jmespath.search).
pub const JSON_QUERY_PLUGIN: &str = r#"
import json
import jmespath
from ansible.module_utils.common.json import AnsibleJSONEncoder

def json_query(data, expr):
    plain = json.loads(json.dumps(data, cls=AnsibleJSONEncoder))
    return jmespath.search(expr, plain)

class FilterModule(object):
    def filters(self):
        return {'json_query': json_query}
"#;

/// name, group vars, (host, host vars) in inventory order
type Group = (
    String,
    Map<String, Value>,
    Vec<(String, Map<String, Value>)>,
);

/// A tiny reading of an Ansible YAML inventory (all.vars < group vars < host vars, groups in
/// order) with the magic variables the fixtures use.
pub struct Inventory {
    pub hosts: Vec<String>,
    pub groups: Map<String, Value>,
    vars: Map<String, Value>,
}

impl Inventory {
    pub fn load(path: &Path) -> Inventory {
        let loaded = drover_yaml::load_file(path).expect("inventory loads");
        let doc = loaded
            .single()
            .expect("one document")
            .expect("not empty")
            .to_json();
        let all = &doc["all"];
        let mut hosts: Vec<String> = Vec::new();
        let mut groups = Map::new();
        let mut per_host: Map<String, Value> = Map::new();
        let all_vars = all["vars"].as_object().cloned().unwrap_or_default();
        groups.insert("all".into(), Value::Array(vec![]));
        groups.insert("ungrouped".into(), Value::Array(vec![]));
        let mut group_order: Vec<Group> = Vec::new();
        for (name, group) in all["children"].as_object().cloned().unwrap_or_default() {
            let gvars = group["vars"].as_object().cloned().unwrap_or_default();
            let mut members = Vec::new();
            for (host, hvars) in group["hosts"].as_object().cloned().unwrap_or_default() {
                if !hosts.contains(&host) {
                    hosts.push(host.clone());
                }
                members.push((host, hvars.as_object().cloned().unwrap_or_default()));
            }
            groups.insert(
                name.clone(),
                Value::Array(
                    members
                        .iter()
                        .map(|(h, _)| Value::String(h.clone()))
                        .collect(),
                ),
            );
            group_order.push((name, gvars, members));
        }
        groups.insert(
            "all".into(),
            Value::Array(hosts.iter().cloned().map(Value::String).collect()),
        );
        for host in &hosts {
            let mut vars = all_vars.clone();
            let mut host_level = Map::new();
            let mut names = Vec::new();
            for (name, gvars, members) in &group_order {
                if let Some((_, hvars)) = members.iter().find(|(h, _)| h == host) {
                    names.push(Value::String(name.clone()));
                    for (k, v) in gvars {
                        vars.insert(k.clone(), v.clone());
                    }
                    for (k, v) in hvars {
                        host_level.insert(k.clone(), v.clone());
                    }
                }
            }
            for (k, v) in host_level {
                vars.insert(k, v);
            }
            vars.insert("inventory_hostname".into(), Value::String(host.clone()));
            vars.insert(
                "inventory_hostname_short".into(),
                Value::String(host.split('.').next().unwrap_or(host).to_string()),
            );
            names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            vars.insert("group_names".into(), Value::Array(names));
            per_host.insert(host.clone(), Value::Object(vars));
        }
        Inventory {
            hosts,
            groups,
            vars: per_host,
        }
    }

    /// A host's variables plus `groups` and the play's vars.
    pub fn vars_for(&self, host: &str, play_vars: &Map<String, Value>) -> Map<String, Value> {
        let mut vars = self.vars[host].as_object().cloned().unwrap_or_default();
        for (k, v) in play_vars {
            vars.insert(k.clone(), v.clone());
        }
        vars.insert("groups".into(), Value::Object(self.groups.clone()));
        vars
    }
}

impl HostVarsSource for Inventory {
    fn host_names(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let mut vars = self.vars.get(host)?.as_object()?.clone();
        vars.insert("groups".into(), Value::Object(self.groups.clone()));
        Some(vars)
    }
}
