//! `ansible-inventory`-shaped output: the internal variables it leaves out, and Python's
//! `json.dumps(sort_keys=True, indent=4, ensure_ascii=False)` text form.

use serde_json::Value;

/// Variables `ansible-inventory` never prints (`C.INTERNAL_STATIC_VARS`).
pub const INTERNAL_VARS: &[&str] = &[
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "omit",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// Removes the internal variables from a variables map.
pub fn remove_internal(vars: &mut serde_json::Map<String, Value>) {
    vars.retain(|k, _| !INTERNAL_VARS.contains(&k.as_str()));
}

/// Python's `json.dumps(value, sort_keys=True, indent=4, ensure_ascii=False)`, as
/// `ansible-inventory` prints.
pub fn to_python_json(value: &Value) -> String {
    drover_python::json::dumps(value, &drover_python::json::DumpOptions::ansible(Some(4)))
}
