//! The inventory graph (Ansible's `InventoryData`, `Group` and `Host`): groups with child
//! groups and direct hosts, the implicit `all` and `ungrouped` groups, and the rules applied
//! after every source is parsed (`reconcile_inventory`).

use std::collections::{HashMap, HashSet};

use drover_diag::Span;
use serde_json::{Map, Value};

use crate::origin::{self, Origin, Origins};

/// Index of a group in [`Data::groups`].
pub type GroupId = usize;
/// Index of a host in [`Data::hosts`].
pub type HostId = usize;

/// The `all` group's id (created first).
pub const ALL: GroupId = 0;
/// The `ungrouped` group's id (created second).
pub const UNGROUPED: GroupId = 1;

/// One group.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Variables set in the inventory file (`vars:` or `[g:vars]`), in order.
    pub vars: Map<String, Value>,
    /// Where each of [`Group::vars`] is written (when known).
    pub origins: Origins,
    /// Child groups in the order they were added.
    pub children: Vec<GroupId>,
    /// Parent groups in the order they were added.
    pub parents: Vec<GroupId>,
    /// Hosts listed directly in this group, in order.
    pub hosts: Vec<HostId>,
    /// `ansible_group_priority` (default 1).
    pub priority: i64,
    /// Longest path from `all` (computed by [`Data::reconcile`]).
    pub depth: usize,
    /// Where the group first appears in an inventory file.
    pub span: Option<Span>,
}

/// One host.
#[derive(Debug, Clone)]
pub struct Host {
    /// The inventory hostname.
    pub name: String,
    /// Variables set in inventory files, in order (including `inventory_file`/`inventory_dir`).
    pub vars: Map<String, Value>,
    /// Where each of [`Host::vars`] is written (when known; never for `inventory_file` and
    /// `inventory_dir`).
    pub origins: Origins,
    /// Groups listing this host directly.
    pub direct_groups: Vec<GroupId>,
    /// Where the host first appears in an inventory file.
    pub span: Option<Span>,
    /// Every place the host is listed in a group of an inventory file (group, span of the
    /// host's key), in load order: errors about group-level facts point at the right one.
    pub occurrences: Vec<(GroupId, Span)>,
}

/// Groups and hosts.
#[derive(Debug, Clone)]
pub struct Data {
    /// Groups in creation order (`all`, `ungrouped`, then as met in the sources).
    pub groups: Vec<Group>,
    /// Hosts in creation order.
    pub hosts: Vec<Host>,
    group_index: HashMap<String, GroupId>,
    host_index: HashMap<String, HostId>,
}

impl Default for Data {
    fn default() -> Self {
        Self::new()
    }
}

impl Data {
    /// An inventory holding only `all` and its child `ungrouped`.
    pub fn new() -> Data {
        let mut d = Data {
            groups: Vec::new(),
            hosts: Vec::new(),
            group_index: HashMap::new(),
            host_index: HashMap::new(),
        };
        d.add_group("all", None);
        d.add_group("ungrouped", None);
        // Cannot fail: fresh groups.
        let _ = d.add_child(ALL, UNGROUPED);
        d
    }

    /// The id of a group by name.
    pub fn group(&self, name: &str) -> Option<GroupId> {
        self.group_index.get(name).copied()
    }

    /// The id of a host by name.
    pub fn host(&self, name: &str) -> Option<HostId> {
        self.host_index.get(name).copied()
    }

    /// Adds a group unless it exists; returns its id.
    pub fn add_group(&mut self, name: &str, span: Option<Span>) -> GroupId {
        if let Some(id) = self.group(name) {
            // `all` and `ungrouped` exist before any file names them
            if self.groups[id].span.is_none() {
                self.groups[id].span = span;
            }
            return id;
        }
        let id = self.groups.len();
        self.groups.push(Group {
            name: name.to_string(),
            vars: Map::new(),
            origins: Origins::new(),
            children: Vec::new(),
            parents: Vec::new(),
            hosts: Vec::new(),
            priority: 1,
            depth: 0,
            span,
        });
        self.group_index.insert(name.to_string(), id);
        id
    }

    /// Adds a host unless it exists (then `port` is ignored, as in Ansible), and adds it to
    /// `group`. New hosts get `ansible_port` (when given; its origin is `span`, the host key
    /// holding it) and `inventory_file`/`inventory_dir`.
    pub fn add_host(
        &mut self,
        name: &str,
        group: Option<GroupId>,
        port: Option<u64>,
        span: Option<Span>,
        source: &SourceInfo,
    ) -> HostId {
        let id = match self.host(name) {
            Some(id) => id,
            None => {
                let id = self.hosts.len();
                let mut vars = Map::new();
                let mut origins = Origins::new();
                if let Some(port) = port {
                    vars.insert("ansible_port".into(), Value::from(port));
                    let origin = span.clone().map(Origin::Span);
                    origin::record(&mut origins, "ansible_port", origin);
                }
                vars.insert("inventory_file".into(), source.file.clone());
                vars.insert("inventory_dir".into(), source.dir.clone());
                self.hosts.push(Host {
                    name: name.to_string(),
                    vars,
                    origins,
                    direct_groups: Vec::new(),
                    span: span.clone(),
                    occurrences: Vec::new(),
                });
                self.host_index.insert(name.to_string(), id);
                id
            }
        };
        if let Some(g) = group {
            self.add_host_to_group(g, id);
            if let Some(span) = span {
                self.hosts[id].occurrences.push((g, span));
            }
        }
        id
    }

    /// Lists `host` directly in `group` (once).
    pub fn add_host_to_group(&mut self, group: GroupId, host: HostId) {
        if !self.groups[group].hosts.contains(&host) {
            self.groups[group].hosts.push(host);
            self.hosts[host].direct_groups.push(group);
        }
    }

    /// Makes `child` a child group of `parent`, refusing loops like Ansible does.
    pub fn add_child(&mut self, parent: GroupId, child: GroupId) -> Result<(), String> {
        if parent == child {
            return Err(format!(
                "group `{}` cannot be a child of itself",
                self.groups[parent].name
            ));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(&child) {
            return Err(format!(
                "adding group `{}` as a child of `{}` creates a loop (`{}` is already an ancestor of `{}`)",
                self.groups[child].name,
                self.groups[parent].name,
                self.groups[child].name,
                self.groups[parent].name
            ));
        }
        self.groups[parent].children.push(child);
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// Sets a group variable written at `span` (if known); `ansible_group_priority` sets the
    /// priority instead (Python's `int(value)`; values `int()` rejects with a `TypeError` are
    /// ignored, as in Ansible).
    pub fn set_group_var(
        &mut self,
        group: GroupId,
        key: String,
        value: Value,
        span: Option<Span>,
    ) -> Result<(), String> {
        if key == "ansible_group_priority" {
            if let Some(p) = python_int_of(&value)? {
                self.groups[group].priority = p;
            }
            return Ok(());
        }
        let g = &mut self.groups[group];
        origin::record(&mut g.origins, &key, span.map(Origin::Span));
        g.vars.insert(key, value);
        Ok(())
    }

    /// Sets a host variable written at `span` (if known), replacing any previous value
    /// (`hash_behaviour=replace`) and its origin.
    pub fn set_host_var(&mut self, host: HostId, key: String, value: Value, span: Option<Span>) {
        let h = &mut self.hosts[host];
        origin::record(&mut h.origins, &key, span.map(Origin::Span));
        h.vars.insert(key, value);
    }

    /// Every ancestor of a group (not itself).
    pub fn ancestors(&self, group: GroupId) -> HashSet<GroupId> {
        let mut seen = HashSet::new();
        let mut todo: Vec<GroupId> = self.groups[group].parents.clone();
        while let Some(g) = todo.pop() {
            if seen.insert(g) {
                todo.extend(self.groups[g].parents.iter().copied());
            }
        }
        seen
    }

    /// Every group a host belongs to, directly or through child groups (`host.get_groups()`).
    pub fn host_groups(&self, host: HostId) -> Vec<GroupId> {
        let mut all: Vec<GroupId> = Vec::new();
        for &g in &self.hosts[host].direct_groups {
            let mut anc: Vec<GroupId> = self.ancestors(g).into_iter().collect();
            anc.sort_unstable();
            for a in anc.into_iter().chain(std::iter::once(g)) {
                if !all.contains(&a) {
                    all.push(a);
                }
            }
        }
        all
    }

    /// A group and its descendants in Ansible's order: itself, its children, then each
    /// further level (breadth first).
    pub fn descendants_ordered(&self, group: GroupId) -> Vec<GroupId> {
        let mut ordered = vec![group];
        ordered.extend(self.groups[group].children.iter().copied());
        let mut seen: HashSet<GroupId> = ordered.iter().copied().collect();
        let mut level = ordered.clone();
        while !level.is_empty() {
            let mut next = Vec::new();
            for g in level {
                for &c in &self.groups[g].children {
                    if seen.insert(c) {
                        ordered.push(c);
                        next.push(c);
                    }
                }
            }
            level = next;
        }
        ordered
    }

    /// The hosts of a group and of all its descendants (`group.get_hosts()`), deduplicated,
    /// in Ansible's order.
    pub fn group_hosts(&self, group: GroupId) -> Vec<HostId> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for g in self.descendants_ordered(group) {
            for &h in &self.groups[g].hosts {
                if seen.insert(h) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// Ansible's `reconcile_inventory`: top-level groups become children of `all`; hosts in
    /// no group join `ungrouped`, hosts in another group leave it; depths are computed.
    pub fn reconcile(&mut self) -> Result<(), String> {
        for g in 0..self.groups.len() {
            if g != ALL && self.groups[g].parents.is_empty() {
                self.add_child(ALL, g)?;
            }
        }
        for h in 0..self.hosts.len() {
            let groups = self.host_groups(h);
            if groups.contains(&UNGROUPED) {
                if groups.iter().any(|&g| g != ALL && g != UNGROUPED)
                    && self.groups[UNGROUPED].hosts.contains(&h)
                {
                    self.groups[UNGROUPED].hosts.retain(|&x| x != h);
                    self.hosts[h].direct_groups.retain(|&x| x != UNGROUPED);
                }
            } else if groups.is_empty() || groups == [ALL] {
                self.add_host_to_group(UNGROUPED, h);
            }
        }
        self.compute_depths();
        Ok(())
    }

    fn compute_depths(&mut self) {
        // Longest path from `all`; the graph is acyclic (add_child refuses loops).
        let mut depth = vec![0usize; self.groups.len()];
        let mut order = Vec::new();
        let mut state = vec![0u8; self.groups.len()];
        for g in 0..self.groups.len() {
            self.topo(g, &mut state, &mut order);
        }
        for &g in order.iter().rev() {
            for &c in &self.groups[g].children {
                depth[c] = depth[c].max(depth[g] + 1);
            }
        }
        for (g, d) in depth.into_iter().enumerate() {
            self.groups[g].depth = d;
        }
    }

    fn topo(&self, g: GroupId, state: &mut [u8], order: &mut Vec<GroupId>) {
        // Iterative post-order DFS over children (no recursion: deep inventories are fine).
        if state[g] != 0 {
            return;
        }
        let mut stack = vec![(g, 0usize)];
        state[g] = 1;
        while let Some((node, i)) = stack.pop() {
            if let Some(&c) = self.groups[node].children.get(i) {
                stack.push((node, i + 1));
                if state[c] == 0 {
                    state[c] = 1;
                    stack.push((c, 0));
                }
            } else {
                state[node] = 2;
                order.push(node);
            }
        }
    }

    /// The inventory host Ansible uses for `localhost`-like names not in the inventory: the
    /// first host named `localhost`, `127.0.0.1` or `::1`, if any.
    pub fn localhost(&self) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|h| crate::pattern::LOCALHOST_NAMES.contains(&h.name.as_str()))
    }

    /// The `groups` magic variable: every group (creation order) with its hosts.
    pub fn groups_map(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (g, group) in self.groups.iter().enumerate() {
            let hosts = self
                .group_hosts(g)
                .into_iter()
                .map(|h| Value::String(self.hosts[h].name.clone()))
                .collect();
            out.insert(group.name.clone(), Value::Array(hosts));
        }
        out
    }
}

/// What `inventory_file` and `inventory_dir` are for hosts first seen in a source.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The source path (absolute) or the host list text.
    pub file: Value,
    /// The directory of the source, or null for a host list.
    pub dir: Value,
}

/// Python's `int(value)`: `Ok(None)` where Python raises `TypeError`, `Err` for `ValueError`.
fn python_int_of(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Bool(b) => Ok(Some(i64::from(*b))),
        Value::Number(n) => Ok(n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64))),
        Value::String(s) => {
            let t = drover_python::text::strip(s).replace('_', "");
            t.parse::<i64>()
                .map(Some)
                .map_err(|_| format!("`ansible_group_priority` must be an integer, got `{s}`"))
        }
        Value::Null | Value::Array(_) | Value::Object(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> SourceInfo {
        SourceInfo {
            file: Value::Null,
            dir: Value::Null,
        }
    }

    #[test]
    fn reconcile_links_top_groups_and_ungrouped_hosts() {
        let mut d = Data::new();
        let web = d.add_group("web", None);
        let app = d.add_group("app", None);
        d.add_child(web, app).unwrap();
        d.add_host("a", Some(app), None, None, &src());
        d.add_host("lonely", None, None, None, &src());
        let u = d.add_host("u", Some(UNGROUPED), None, None, &src());
        d.add_host_to_group(web, u);
        d.reconcile().unwrap();
        assert_eq!(d.groups[ALL].children, [UNGROUPED, web]);
        assert_eq!(d.groups[UNGROUPED].hosts, [d.host("lonely").unwrap()]);
        assert_eq!(d.groups[app].depth, 2);
        assert_eq!(d.group_hosts(ALL).len(), 3);
    }

    #[test]
    fn loops_are_refused() {
        let mut d = Data::new();
        let a = d.add_group("a", None);
        let b = d.add_group("b", None);
        d.add_child(a, b).unwrap();
        assert!(d.add_child(b, a).is_err());
        assert!(d.add_child(a, a).is_err());
    }
}
