//! Inventory-level variable precedence, as Ansible's `VariableManager.get_vars` merges it
//! (default `VARIABLE_PRECEDENCE`: all_inventory, groups_inventory, all_plugins_inventory,
//! all_plugins_play, groups_plugins_inventory, groups_plugins_play; `hash_behaviour=replace`),
//! lowest first:
//!
//! 1. inventory file vars of group `all`
//! 2. inventory file vars of the host's other groups, sorted by (depth, priority, name)
//! 3. `group_vars/all` beside each inventory source (in source order)
//! 4. `group_vars/all` beside the playbook
//! 5. `group_vars/<group>` beside each inventory source (per source, groups in that order)
//! 6. `group_vars/<group>` beside the playbook
//! 7. inventory file host vars
//! 8. `host_vars/<host>` beside each inventory source
//! 9. `host_vars/<host>` beside the playbook
//!
//! Each step replaces whole top-level keys (no deep merge).

use serde_json::{Map, Value};

use crate::data::{ALL, Data, GroupId};
use crate::vars_dirs::VarsDir;

/// The entity whose variables are computed.
pub enum Target<'a> {
    /// A host in the inventory.
    Host(crate::data::HostId),
    /// Ansible's implicit localhost (not in the inventory), with its own variables.
    Implicit {
        /// `localhost`, `127.0.0.1` or `::1`.
        name: &'a str,
        /// Variables Ansible gives it (`ansible_connection: local`).
        vars: &'a Map<String, Value>,
    },
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

/// Ansible's `sort_groups`: by depth, then `ansible_group_priority`, then name.
pub fn sort_groups(data: &Data, mut groups: Vec<GroupId>) -> Vec<GroupId> {
    groups.sort_by(|&a, &b| {
        let (ga, gb) = (&data.groups[a], &data.groups[b]);
        (ga.depth, ga.priority, ga.name.as_str()).cmp(&(gb.depth, gb.priority, gb.name.as_str()))
    });
    groups
}

/// The merged inventory-level variables of a host.
pub fn merged_vars(
    data: &Data,
    target: &Target<'_>,
    inventory_dirs: &[VarsDir],
    playbook_dir: Option<&VarsDir>,
) -> Map<String, Value> {
    let mut out = data.groups[ALL].vars.clone();
    let dirs_then_play = || inventory_dirs.iter().chain(playbook_dir);
    let (name, groups, own) = match target {
        Target::Host(h) => {
            let groups: Vec<GroupId> = data
                .host_groups(*h)
                .into_iter()
                .filter(|&g| g != ALL)
                .collect();
            let host = &data.hosts[*h];
            (host.name.as_str(), sort_groups(data, groups), &host.vars)
        }
        Target::Implicit { name, vars } => (*name, Vec::new(), *vars),
    };
    for &g in &groups {
        merge(&mut out, &data.groups[g].vars);
    }
    for d in dirs_then_play() {
        if let Some(v) = d.group_vars.get("all") {
            merge(&mut out, v);
        }
    }
    for d in dirs_then_play() {
        for &g in &groups {
            if let Some(v) = d.group_vars.get(&data.groups[g].name) {
                merge(&mut out, v);
            }
        }
    }
    merge(&mut out, own);
    for d in dirs_then_play() {
        if let Some(v) = d.host_vars.get(name) {
            merge(&mut out, v);
        }
    }
    out
}
