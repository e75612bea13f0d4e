//! Ansible inventories, read as ansible-core 2.18 reads them.
//!
//! - Sources ([`Inventory::load`]): YAML and INI files, directories of them, `host1,host2,`
//!   lists; several sources merge in order. Host ranges (`node[01:03]`, `[a:c]`, `[1:9:2]`)
//!   expand in both formats; INI values are read like Python's `ast.literal_eval`.
//! - The implicit groups `all` and `ungrouped`, and the implicit localhost (a pattern
//!   `localhost`/`127.0.0.1`/`::1` selects it when the inventory does not define it; it is never
//!   part of `all`).
//! - `group_vars/` and `host_vars/` beside each source and beside the playbook
//!   ([`Inventory::set_playbook_dir`]), with Ansible's precedence (see [`precedence`]).
//! - Where each variable is written ([`Inventory::var_origin`]): `path:line:col` of its value
//!   in a YAML or INI inventory or a YAML vars file, the path of a JSON vars file.
//! - Host patterns ([`Inventory::select`]) and `--limit` ([`Inventory::set_limit`]).
//! - `ansible-inventory --list/--host/--graph` output ([`Inventory::list_json`],
//!   [`Inventory::host_json`], [`Inventory::graph`], [`to_python_json`]).
//!
//! ```
//! use drover_inventory::Inventory;
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("hosts");
//! # std::fs::write(&path, "[web]\nweb[1:3] ansible_port=2222\n[db]\ndb1\n[all:vars]\nenv=prod\n").unwrap();
//! let loaded = Inventory::load(&[path])?;          // `-i hosts`
//! let mut inv = loaded.inventory;
//! inv.set_limit(Some("!web2"))?;                    // `-l '!web2'`
//! let sel = inv.select("web:db")?;                  // a play's `hosts: web:db`
//! assert_eq!(sel.hosts, ["web1", "web3", "db1"]);
//! let vars = inv.host_vars("web1").unwrap();        // inventory-level variables
//! assert_eq!(vars["env"], "prod");
//! assert_eq!(inv.connection("web1")?.port, Some(2222));
//! assert_eq!(inv.group_names("db1"), ["db"]);
//! # Ok::<(), drover_diag::Diagnostic>(())
//! ```
//!
//! Deliberate differences from Ansible, all of them refusals: a source that cannot be parsed,
//! a group that is not a mapping and an unknown key in a group are errors (Ansible warns and
//! skips them); dynamic inventory scripts, inventory plugin configs, TOML and vault files are
//! refused with an error.

mod connection;
mod data;
pub mod identity;
mod ini_source;
mod origin;
mod output;
mod pattern;
pub mod precedence;
mod pyvalue;
mod ranges;
pub mod rewrite;
pub mod sandbox_guard;
mod sources;
mod vars_dirs;
mod yaml_source;

use std::path::{Path, PathBuf};

use drover_diag::{Diagnostic, Span};
use serde_json::{Map, Value};

pub use connection::{Connection, to_bool};
pub use output::{INTERNAL_VARS, to_python_json};
pub use pattern::{LOCALHOST_NAMES, split_host_pattern};
pub use pyvalue::{literal_eval, shlex_split};
pub use ranges::{expand_host_pattern, parse_address};

use data::{ALL, Data};
use pattern::{Chosen, Resolver};
use precedence::Target;
use vars_dirs::VarsDir;

/// A loaded inventory.
///
/// `Inventory` is `Send + Sync`; share it between host tasks behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Inventory {
    data: Data,
    inventory_vars: Vec<VarsDir>,
    playbook_vars: Option<VarsDir>,
    limit: Option<Vec<String>>,
    implicit_vars: Map<String, Value>,
    groups_cache: std::sync::OnceLock<Map<String, Value>>,
}

/// An inventory and the warnings met while loading it (the caller prints them).
#[derive(Debug)]
pub struct Loaded {
    /// The inventory.
    pub inventory: Inventory,
    /// Duplicate keys, `group_vars` files matching no group, and the like.
    pub warnings: Vec<Diagnostic>,
}

/// Hosts chosen by a pattern.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Host names in Ansible's order (inventory order within each pattern part).
    pub hosts: Vec<String>,
    /// "Could not match supplied host pattern, ignoring: x" and similar.
    pub warnings: Vec<Diagnostic>,
}

impl Inventory {
    /// Loads inventory sources in order (files, directories or `a,b,` host lists) and the
    /// `group_vars/`/`host_vars/` beside each.
    pub fn load(sources: &[PathBuf]) -> Result<Loaded, Diagnostic> {
        let mut data = Data::new();
        let mut warnings = Vec::new();
        let names: Vec<String> = sources
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        for source in &names {
            sources::load_source(&mut data, source, &mut warnings)?;
        }
        data.reconcile().map_err(Diagnostic::error)?;
        for group in &data.groups {
            if let Some(h) = data.host(&group.name) {
                let mut w = Diagnostic::warning(format!(
                    "found both group and host with same name: {}",
                    group.name
                ))
                .with_help("a pattern with this name selects the group's hosts, not the host");
                if let Some(span) = &data.hosts[h].span {
                    w = w.with_span(span.clone());
                }
                warnings.push(w);
            }
        }
        let mut inv = Inventory {
            data,
            inventory_vars: Vec::new(),
            playbook_vars: None,
            limit: None,
            implicit_vars: Map::from_iter([(
                "ansible_connection".to_string(),
                Value::String("local".into()),
            )]),
            groups_cache: std::sync::OnceLock::new(),
        };
        for source in &names {
            if let Some(base) = sources::vars_base(source) {
                let dir = inv.load_vars_dir(&base, true, &mut warnings)?;
                inv.inventory_vars.push(dir);
            }
        }
        Ok(Loaded {
            inventory: inv,
            warnings,
        })
    }

    fn load_vars_dir(
        &self,
        dir: &Path,
        warn_unknown: bool,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<VarsDir, Diagnostic> {
        let groups: Vec<&str> = self.data.groups.iter().map(|g| g.name.as_str()).collect();
        let mut hosts: Vec<&str> = self.data.hosts.iter().map(|h| h.name.as_str()).collect();
        for name in LOCALHOST_NAMES {
            if !hosts.contains(&name) {
                hosts.push(name);
            }
        }
        VarsDir::load(dir, &groups, &hosts, warn_unknown, warnings)
    }

    /// Uses the `group_vars/` and `host_vars/` beside a playbook (Ansible's playbook
    /// directory), replacing any previous one; `None` removes it. Returns warnings.
    pub fn set_playbook_dir(&mut self, dir: Option<&Path>) -> Result<Vec<Diagnostic>, Diagnostic> {
        let mut warnings = Vec::new();
        self.playbook_vars = match dir {
            // A playbook directory is often shared by several inventories: no warnings for
            // group_vars files of groups this inventory lacks.
            Some(d) => Some(self.load_vars_dir(&sources::absolute(d), false, &mut warnings)?),
            None => None,
        };
        Ok(warnings)
    }

    /// Narrows every later selection to the hosts `limit` selects (`-l`/`--limit`), or removes
    /// the limit. `@file` parts read one pattern per line from a file.
    pub fn set_limit(&mut self, limit: Option<&str>) -> Result<(), Diagnostic> {
        let Some(limit) = limit else {
            self.limit = None;
            return Ok(());
        };
        let mut patterns = Vec::new();
        for part in split_host_pattern(limit) {
            match part.strip_prefix('@') {
                Some(file) => {
                    let path = Path::new(file);
                    if path.is_dir() {
                        return Err(Diagnostic::error(format!(
                            "limit starting with `@` must be a file, not a directory: {file}"
                        )));
                    }
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Diagnostic::error(format!("cannot read limit file `{file}`: {e}"))
                            .with_help("`-l @FILE` reads one host pattern per line from FILE")
                    })?;
                    patterns.extend(
                        text.split('\n')
                            .map(|l| drover_python::text::strip(l).to_string()),
                    );
                }
                None => patterns.push(part),
            }
        }
        // `-l ""` limits nothing, as in Ansible.
        self.limit = (!patterns.is_empty()).then_some(patterns);
        Ok(())
    }

    /// Every inventory host, in the order of the `all` group.
    pub fn hosts(&self) -> Vec<&str> {
        self.data
            .group_hosts(ALL)
            .into_iter()
            .map(|h| self.data.hosts[h].name.as_str())
            .collect()
    }

    /// Every group name, in creation order (`all`, `ungrouped`, then as met in the sources).
    pub fn groups(&self) -> Vec<&str> {
        self.data.groups.iter().map(|g| g.name.as_str()).collect()
    }

    /// True when `host` is an inventory host.
    pub fn has_host(&self, host: &str) -> bool {
        self.data.host(host).is_some()
    }

    /// The hosts a pattern selects, narrowed by the limit (like `ansible PATTERN --list-hosts`).
    pub fn select(&self, pattern: &str) -> Result<Selection, Diagnostic> {
        self.select_patterns(&split_host_pattern(pattern), true)
    }

    /// The hosts a list of patterns selects (a play's `hosts:` list), optionally ignoring the
    /// limit (as `hostvars` lookups do).
    pub fn select_patterns(
        &self,
        patterns: &[String],
        apply_limit: bool,
    ) -> Result<Selection, Diagnostic> {
        let patterns: Vec<String> = patterns
            .iter()
            .flat_map(|p| split_host_pattern(p))
            .collect();
        let mut resolver = Resolver::new(&self.data);
        // As in Ansible, no pattern at all (e.g. `""`) means `all`.
        let mut chosen = resolver.evaluate(&patterns)?;
        if apply_limit && let Some(limit) = &self.limit {
            let allowed: std::collections::HashSet<Chosen> =
                resolver.evaluate(limit)?.into_iter().collect();
            chosen.retain(|c| allowed.contains(c));
        }
        let hosts = chosen
            .into_iter()
            .map(|c| match c {
                Chosen::Host(h) => self.data.hosts[h].name.clone(),
                Chosen::ImplicitLocalhost(name) => name,
            })
            .collect();
        Ok(Selection {
            hosts,
            warnings: resolver.warnings,
        })
    }

    fn target<'a>(&'a self, host: &'a str) -> Option<Target<'a>> {
        match self.data.host(host) {
            Some(h) => Some(Target::Host(h)),
            None if LOCALHOST_NAMES.contains(&host) => Some(match self.data.localhost() {
                Some(h) => Target::Host(h),
                None => Target::Implicit {
                    name: host,
                    vars: &self.implicit_vars,
                },
            }),
            None => None,
        }
    }

    /// A host's merged inventory-level variables (inventory files, `group_vars`, `host_vars`,
    /// playbook-adjacent ones), including `inventory_file`/`inventory_dir` as Ansible sets
    /// them. `None` for an unknown host. Magic variables are in [`Inventory::magic_vars`].
    pub fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let target = self.target(host)?;
        Some(precedence::merged_vars(
            &self.data,
            &target,
            &self.inventory_vars,
            self.playbook_vars.as_ref(),
        ))
    }

    /// Where the value `host_vars(host)[var]` holds is written: `path:line:col` of the value
    /// ([`drover_diag::Span::location`]) in a YAML or INI inventory file or a YAML
    /// `group_vars`/`host_vars` file, or just the path of a JSON vars file (which keeps no
    /// positions). A host var written in the inventory over a group var gives the host's line.
    ///
    /// `None` for an unknown host, for a variable that is not an inventory-level variable of
    /// the host (undefined, a role default, a fact...), and for the ones the loader sets
    /// (`inventory_file`, `inventory_dir`, the implicit localhost's `ansible_connection`).
    ///
    /// ```
    /// use drover_inventory::Inventory;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("inv.yml");
    /// # std::fs::write(&path, "all:\n  hosts:\n    h1: {pg_role: primary}\n").unwrap();
    /// let inv = Inventory::load(&[path.clone()])?.inventory;
    /// let at = format!("{}:3:19", path.display());
    /// assert_eq!(inv.var_origin("h1", "pg_role"), Some(at));
    /// assert_eq!(inv.var_origin("h1", "pg_seq"), None);
    /// # Ok::<(), drover_diag::Diagnostic>(())
    /// ```
    pub fn var_origin(&self, host: &str, var: &str) -> Option<String> {
        let target = self.target(host)?;
        precedence::origin(
            &self.data,
            &target,
            &self.inventory_vars,
            self.playbook_vars.as_ref(),
            var,
        )
        .map(|o| o.location())
    }

    /// The `groups` magic variable: each group with its hosts (including `all` and
    /// `ungrouped`).
    pub fn groups_map(&self) -> Map<String, Value> {
        self.groups_cache
            .get_or_init(|| self.data.groups_map())
            .clone()
    }

    /// The `group_names` magic variable: the host's groups, sorted, without `all` (it includes
    /// `ungrouped` for ungrouped hosts, as in Ansible).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let Some(h) = self.data.host(host) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .data
            .host_groups(h)
            .into_iter()
            .filter(|&g| g != ALL)
            .map(|g| self.data.groups[g].name.clone())
            .collect();
        names.sort();
        names
    }

    /// `inventory_hostname`, `inventory_hostname_short` and `group_names` for a host (the
    /// per-host magic variables; `groups` is the same for every host: [`Inventory::groups_map`]).
    pub fn host_magic_vars(&self, host: &str) -> Map<String, Value> {
        let short = if ranges::is_ipv4(host) || ranges::is_ipv6(host) {
            host.to_string()
        } else {
            host.split('.').next().unwrap_or(host).to_string()
        };
        let mut m = Map::new();
        m.insert("inventory_hostname".into(), Value::String(host.to_string()));
        m.insert("inventory_hostname_short".into(), Value::String(short));
        m.insert(
            "group_names".into(),
            Value::Array(
                self.group_names(host)
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
        );
        m
    }

    /// [`Inventory::host_magic_vars`] plus `groups`. Each call copies the `groups` map (every
    /// group's host list): with thousands of hosts, share one [`Inventory::groups_map`] instead
    /// of calling this per host.
    pub fn magic_vars(&self, host: &str) -> Map<String, Value> {
        let mut m = self.host_magic_vars(host);
        m.insert("groups".into(), Value::Object(self.groups_map()));
        m
    }

    /// Where a host is first defined in an inventory file (`None` for host lists and the
    /// implicit localhost).
    pub fn host_span(&self, host: &str) -> Option<&Span> {
        self.data
            .host(host)
            .and_then(|h| self.data.hosts[h].span.as_ref())
    }

    /// Where a group is first defined in an inventory file.
    pub fn group_span(&self, group: &str) -> Option<&Span> {
        self.data
            .group(group)
            .and_then(|g| self.data.groups[g].span.as_ref())
    }

    /// The connection settings from a host's inventory-level variables (not templated).
    pub fn connection(&self, host: &str) -> Result<Connection, Diagnostic> {
        let vars = self.host_vars(host).ok_or_else(|| {
            Diagnostic::error(format!("unknown host `{host}`"))
                .with_help(drover_diag::did_you_mean(host, self.hosts()).unwrap_or_default())
        })?;
        Connection::from_vars(host, &vars, self.host_span(host))
    }

    /// `ansible-inventory --list`: groups with `hosts`/`children` and `_meta.hostvars`,
    /// narrowed by the limit.
    pub fn list_json(&self) -> Result<Value, Diagnostic> {
        let ordered = self.select("all")?.hosts;
        let available: std::collections::HashSet<String> = ordered.iter().cloned().collect();
        let mut results = Map::new();
        let mut seen = std::collections::HashSet::new();
        self.format_group(ALL, &available, &mut seen, &mut results);
        let mut hostvars = Map::new();
        for host in &ordered {
            let mut vars = self.host_vars(host).unwrap_or_default();
            output::remove_internal(&mut vars);
            if !vars.is_empty() {
                hostvars.insert(host.clone(), Value::Object(vars));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        results.insert("_meta".into(), Value::Object(meta));
        Ok(Value::Object(results))
    }

    fn format_group(
        &self,
        g: usize,
        available: &std::collections::HashSet<String>,
        seen: &mut std::collections::HashSet<usize>,
        results: &mut Map<String, Value>,
    ) {
        let group = &self.data.groups[g];
        let mut entry = Map::new();
        if g != ALL {
            let hosts: Vec<Value> = group
                .hosts
                .iter()
                .map(|&h| &self.data.hosts[h].name)
                .filter(|n| available.contains(*n))
                .map(|n| Value::String(n.clone()))
                .collect();
            if !hosts.is_empty() {
                entry.insert("hosts".into(), Value::Array(hosts));
            }
        }
        let children: Vec<Value> = group
            .children
            .iter()
            .map(|&c| Value::String(self.data.groups[c].name.clone()))
            .collect();
        if !children.is_empty() {
            entry.insert("children".into(), Value::Array(children));
        }
        if !entry.is_empty() {
            results.insert(group.name.clone(), Value::Object(entry));
        }
        for &c in &group.children {
            if seen.insert(c) {
                self.format_group(c, available, seen, results);
            }
        }
    }

    /// `ansible-inventory --host PATTERN`: the variables of the single host the pattern
    /// selects (internal variables removed).
    pub fn host_json(&self, pattern: &str) -> Result<Value, Diagnostic> {
        let sel = self.select_patterns(&[pattern.to_string()], false)?;
        let [host] = sel.hosts.as_slice() else {
            return Err(Diagnostic::error(format!(
                "`{pattern}` selects {} hosts; --host needs exactly one inventory host",
                sel.hosts.len()
            ))
            .with_help(
                drover_diag::did_you_mean(pattern, self.hosts())
                    .unwrap_or_else(|| "list hosts with `drover inventory --list`".into()),
            )
            // ansible-inventory: "You must pass a single valid host to --host parameter", exit 5
            .with_exit_code(5));
        };
        let mut vars = self.host_vars(host).unwrap_or_default();
        output::remove_internal(&mut vars);
        Ok(Value::Object(vars))
    }

    /// `ansible-inventory --graph GROUP`: the `@all:` tree (groups, then their direct hosts).
    pub fn graph(&self, group: &str) -> Result<String, Diagnostic> {
        let Some(g) = self.data.group(group) else {
            return Err(Diagnostic::error(format!(
                "`{group}` is not a group; --graph needs a group name"
            ))
            .with_help(
                drover_diag::did_you_mean(group, self.groups())
                    .unwrap_or_else(|| "the whole tree is `--graph all`".into()),
            )
            // ansible-inventory: "Pattern must be valid group name when using --graph", exit 5
            .with_exit_code(5));
        };
        let mut lines = Vec::new();
        self.graph_group(g, 0, &mut lines);
        Ok(lines.join("\n"))
    }

    fn graph_group(&self, g: usize, depth: usize, lines: &mut Vec<String>) {
        let name = |text: String, depth: usize| {
            if depth == 0 {
                text
            } else {
                format!("{}--{text}", "  |".repeat(depth))
            }
        };
        let group = &self.data.groups[g];
        lines.push(name(format!("@{}:", group.name), depth));
        for &c in &group.children {
            self.graph_group(c, depth + 1, lines);
        }
        if g != ALL {
            for &h in &group.hosts {
                lines.push(name(self.data.hosts[h].name.clone(), depth + 1));
            }
        }
    }
}
