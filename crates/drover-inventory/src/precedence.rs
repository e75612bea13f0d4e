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
//! Each step replaces whole top-level keys (no deep merge). [`layers`] walks the steps once;
//! [`merged_vars`] merges them and [`origin`] finds where the winning value of one variable is
//! written (the last layer holding it).

use serde_json::{Map, Value};

use crate::data::{ALL, Data, GroupId};
use crate::origin::{Origin, Origins};
use crate::vars_dirs::{FileVars, VarsDir};

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

/// One step of the precedence walk: a variable map and where its variables are written.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// The variables this step sets.
    pub vars: &'a Map<String, Value>,
    /// Where each of them is written (`None`: nowhere known, e.g. the implicit localhost's).
    pub origins: Option<&'a Origins>,
}

impl<'a> Layer<'a> {
    fn new(vars: &'a Map<String, Value>, origins: &'a Origins) -> Layer<'a> {
        Layer {
            vars,
            origins: Some(origins),
        }
    }

    fn of_files(files: &'a FileVars) -> Layer<'a> {
        Layer::new(&files.vars, &files.origins)
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

/// The layers of a host's inventory-level variables, lowest precedence first (the steps in
/// the module documentation; steps without variables for the host are left out).
pub fn layers<'a>(
    data: &'a Data,
    target: &Target<'a>,
    inventory_dirs: &'a [VarsDir],
    playbook_dir: Option<&'a VarsDir>,
) -> Vec<Layer<'a>> {
    let all = &data.groups[ALL];
    let mut out = vec![Layer::new(&all.vars, &all.origins)];
    let dirs_then_play = || inventory_dirs.iter().chain(playbook_dir);
    let (name, groups, own) = match target {
        Target::Host(h) => {
            let groups: Vec<GroupId> = data
                .host_groups(*h)
                .into_iter()
                .filter(|&g| g != ALL)
                .collect();
            let host = &data.hosts[*h];
            let own = Layer::new(&host.vars, &host.origins);
            (host.name.as_str(), sort_groups(data, groups), own)
        }
        Target::Implicit { name, vars } => {
            let own = Layer {
                vars,
                origins: None,
            };
            (*name, Vec::new(), own)
        }
    };
    for &g in &groups {
        out.push(Layer::new(&data.groups[g].vars, &data.groups[g].origins));
    }
    out.extend(dirs_then_play().filter_map(|d| d.group_vars.get("all").map(Layer::of_files)));
    for d in dirs_then_play() {
        for &g in &groups {
            if let Some(files) = d.group_vars.get(&data.groups[g].name) {
                out.push(Layer::of_files(files));
            }
        }
    }
    out.push(own);
    out.extend(dirs_then_play().filter_map(|d| d.host_vars.get(name).map(Layer::of_files)));
    out
}

/// The merged inventory-level variables of a host.
pub fn merged_vars(
    data: &Data,
    target: &Target<'_>,
    inventory_dirs: &[VarsDir],
    playbook_dir: Option<&VarsDir>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for layer in layers(data, target, inventory_dirs, playbook_dir) {
        for (k, v) in layer.vars {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Where the winning value of `var` (the one [`merged_vars`] holds) is written: the origin
/// recorded by the last layer holding `var`. `None` when no layer holds it, or when that layer
/// does not know where it is written (`inventory_file`/`inventory_dir`, the implicit
/// localhost's variables).
pub fn origin(
    data: &Data,
    target: &Target<'_>,
    inventory_dirs: &[VarsDir],
    playbook_dir: Option<&VarsDir>,
    var: &str,
) -> Option<Origin> {
    layers(data, target, inventory_dirs, playbook_dir)
        .into_iter()
        .rev()
        .find(|layer| layer.vars.contains_key(var))
        .and_then(|layer| layer.origins?.get(var).cloned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Inventory;

    const INVENTORY: &str = "\
all:
  vars:
    pg_role: all-default
    ntp: pool.ntp.org
  children:
    pg-test:
      hosts:
        10.10.10.11: {pg_seq: 1, pg_role: primary}
        10.10.10.12:
          pg_seq: 2
          pg_role: replica
        10.10.10.13: {}
      vars:
        pg_cluster: pg-test
        pg_role: group-role
";

    /// An inventory file `inv.yml` with `group_vars/` and `host_vars/` beside it.
    fn load(dir: &Path) -> Inventory {
        std::fs::create_dir_all(dir.join("group_vars")).unwrap();
        std::fs::create_dir_all(dir.join("host_vars")).unwrap();
        std::fs::write(dir.join("inv.yml"), INVENTORY).unwrap();
        std::fs::write(
            dir.join("group_vars/pg-test.yml"),
            "pg_cluster: pg-test\nmax_conn: 100\n",
        )
        .unwrap();
        std::fs::write(dir.join("group_vars/all.json"), "{\"dns\": \"1.1.1.1\"}").unwrap();
        std::fs::write(dir.join("host_vars/10.10.10.12.yml"), "pg_role: standby\n").unwrap();
        Inventory::load(&[dir.join("inv.yml")]).unwrap().inventory
    }

    fn at(dir: &Path, file: &str, line: usize, col: usize) -> Option<String> {
        Some(format!("{}:{line}:{col}", dir.join(file).display()))
    }

    #[test]
    fn host_entry_vars_in_flow_and_block_style() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, inv) = (tmp.path(), load(tmp.path()));
        assert_eq!(
            inv.var_origin("10.10.10.11", "pg_role"),
            at(dir, "inv.yml", 8, 43)
        );
        assert_eq!(
            inv.var_origin("10.10.10.11", "pg_seq"),
            at(dir, "inv.yml", 8, 31)
        );
        assert_eq!(
            inv.var_origin("10.10.10.12", "pg_seq"),
            at(dir, "inv.yml", 10, 19)
        );
    }

    #[test]
    fn group_vars_and_their_overrides() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, inv) = (tmp.path(), load(tmp.path()));
        // `all`'s vars, then the host's group over them, then the host over its group
        assert_eq!(
            inv.var_origin("10.10.10.13", "ntp"),
            at(dir, "inv.yml", 4, 10)
        );
        assert_eq!(
            inv.var_origin("10.10.10.13", "pg_role"),
            at(dir, "inv.yml", 15, 18)
        );
        assert_eq!(
            inv.var_origin("10.10.10.11", "pg_role"),
            at(dir, "inv.yml", 8, 43)
        );
    }

    #[test]
    fn group_vars_and_host_vars_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, inv) = (tmp.path(), load(tmp.path()));
        // group_vars/<group> over the inventory's group vars; a YAML file keeps positions
        let gv = "group_vars/pg-test.yml";
        assert_eq!(
            inv.var_origin("10.10.10.13", "pg_cluster"),
            at(dir, gv, 1, 13)
        );
        assert_eq!(
            inv.var_origin("10.10.10.13", "max_conn"),
            at(dir, gv, 2, 11)
        );
        // a JSON file only its path
        let json = dir.join("group_vars/all.json").display().to_string();
        assert_eq!(inv.var_origin("10.10.10.13", "dns"), Some(json));
        // host_vars/<host> over the inventory's host vars
        let hv = "host_vars/10.10.10.12.yml";
        assert_eq!(inv.var_origin("10.10.10.12", "pg_role"), at(dir, hv, 1, 10));
    }

    #[test]
    fn unknown_and_loader_set_vars_have_no_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let inv = load(tmp.path());
        assert_eq!(inv.var_origin("10.10.10.11", "pg_nope"), None);
        assert_eq!(inv.var_origin("10.10.10.11", "inventory_file"), None);
        assert_eq!(inv.var_origin("10.10.10.11", "inventory_dir"), None);
        assert_eq!(inv.var_origin("10.10.10.99", "pg_role"), None);
        // the implicit localhost: its own variable has no place, `all`'s vars do
        assert_eq!(inv.var_origin("localhost", "ansible_connection"), None);
        assert_eq!(
            inv.var_origin("localhost", "ntp"),
            at(tmp.path(), "inv.yml", 4, 10)
        );
    }

    #[test]
    fn every_merged_var_but_the_loaders_has_an_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let inv = load(tmp.path());
        for host in inv.hosts() {
            let vars = inv.host_vars(host).unwrap();
            for key in vars.keys() {
                let known = inv.var_origin(host, key).is_some();
                let loader_set = matches!(key.as_str(), "inventory_file" | "inventory_dir");
                assert_eq!(known, !loader_set, "{host} {key}");
            }
        }
    }

    #[test]
    fn port_in_the_host_key_is_written_at_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("inv.yml");
        std::fs::write(&path, "all:\n  hosts:\n    db1:2222:\n").unwrap();
        let inv = Inventory::load(&[path]).unwrap().inventory;
        assert_eq!(
            inv.var_origin("db1", "ansible_port"),
            at(tmp.path(), "inv.yml", 3, 5)
        );
    }
}
