//! Pigsty identity: the `pg_cluster`, `pg_seq` and `pg_role` of every host, checked before
//! anything connects (Pigsty checks some of this in the postgres preflight, after nodes have
//! already been changed; the rest only in its documentation).
//!
//! The rules (issue "Pigsty infra", reference/pigsty-spec.md §1.3):
//! - a host with any identity variable has all three;
//! - `pg_seq` is a non-negative integer, unique in its cluster;
//! - `pg_role` is one of `primary`, `replica`, `offline`, `delayed`;
//! - exactly one primary per cluster;
//! - cluster names match `[a-z][a-z0-9-]*`;
//! - every `dcs_servers` address is a host of the inventory;
//! - an even number of DCS servers is a warning (no quorum gain over one fewer).
//!
//! Inventories without any identity variable and without `dcs_servers` are not Pigsty
//! inventories: nothing is checked.

use std::collections::BTreeMap;

use drover_diag::{Diagnostic, Span};
use serde_json::{Map, Value};

use crate::Inventory;

/// The roles a Pigsty instance can have.
pub const PG_ROLES: [&str; 4] = ["primary", "replica", "offline", "delayed"];

/// The identity variables, in the order they are reported.
const IDENTITY_VARS: [&str; 3] = ["pg_cluster", "pg_seq", "pg_role"];

/// One host's identity, once valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `pg_cluster`.
    pub cluster: String,
    /// `pg_seq`.
    pub seq: u64,
    /// `pg_role`.
    pub role: String,
}

impl Identity {
    /// `pg_instance`: `<pg_cluster>-<pg_seq>`.
    pub fn instance(&self) -> String {
        format!("{}-{}", self.cluster, self.seq)
    }

    /// `pg_service`: `<pg_cluster>-<pg_role>`.
    pub fn service(&self) -> String {
        format!("{}-{}", self.cluster, self.role)
    }
}

/// What the identity check found.
#[derive(Debug, Default)]
pub struct IdentityCheck {
    /// Valid identities by host, in inventory order of the hosts.
    pub identities: BTreeMap<String, Identity>,
    /// Problems that must stop the run.
    pub errors: Vec<Diagnostic>,
    /// Problems worth a warning.
    pub warnings: Vec<Diagnostic>,
}

impl Inventory {
    /// Checks every host's Pigsty identity (see the module docs). Errors name the host and
    /// point at the inventory line that lists it.
    pub fn check_identity(&self) -> IdentityCheck {
        let mut check = IdentityCheck::default();
        let hosts: Vec<(String, Map<String, Value>)> = self
            .data
            .hosts
            .iter()
            .filter_map(|h| Some((h.name.clone(), self.host_vars(&h.name)?)))
            .collect();
        let pigsty = hosts.iter().any(|(_, vars)| {
            IDENTITY_VARS.iter().any(|v| vars.contains_key(*v)) || vars.contains_key("dcs_servers")
        });
        if !pigsty {
            return check;
        }
        // (cluster, seq) → first host; cluster → primaries.
        let mut seqs: BTreeMap<(String, u64), String> = BTreeMap::new();
        let mut primaries: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut clusters: Vec<String> = Vec::new();
        for (host, vars) in &hosts {
            let Some(identity) = self.host_identity(host, vars, &mut check.errors) else {
                continue;
            };
            if !clusters.contains(&identity.cluster) {
                clusters.push(identity.cluster.clone());
            }
            let key = (identity.cluster.clone(), identity.seq);
            if let Some(first) = seqs.get(&key) {
                check.errors.push(
                    self.host_error(
                        host,
                        &identity.cluster,
                        format!(
                            "host `{host}`: pg_seq {} is already used by `{first}` in cluster `{}`",
                            identity.seq, identity.cluster
                        ),
                    )
                    .with_label("duplicate pg_seq")
                    .with_help(format!(
                        "give each instance of `{}` its own pg_seq: the instance name \
                         `{}` must be unique",
                        identity.cluster,
                        identity.instance()
                    )),
                );
            } else {
                seqs.insert(key, host.clone());
            }
            if identity.role == "primary" {
                primaries
                    .entry(identity.cluster.clone())
                    .or_default()
                    .push(host.clone());
            }
            check.identities.insert(host.clone(), identity);
        }
        for cluster in &clusters {
            let found = primaries.get(cluster).map(Vec::as_slice).unwrap_or(&[]);
            if found.len() == 1 {
                continue;
            }
            let members: Vec<&String> = check
                .identities
                .iter()
                .filter(|(_, id)| &id.cluster == cluster)
                .map(|(h, _)| h)
                .collect();
            // no primary: point at the first member; several: at the second primary
            let (at, message) = match found.get(1) {
                None => (
                    members.first().map(|h| h.as_str()),
                    format!(
                        "cluster `{cluster}` has no primary: exactly one host needs pg_role: primary"
                    ),
                ),
                Some(second) => (
                    Some(second.as_str()),
                    format!(
                        "cluster `{cluster}` has {} primaries ({}): exactly one host may have pg_role: primary",
                        found.len(),
                        found.join(", ")
                    ),
                ),
            };
            let diag = match at {
                Some(host) => self.host_error(host, cluster, message),
                None => Diagnostic::error(message),
            };
            check.errors.push(
                diag.with_help("set pg_role of the other members to replica, offline or delayed"),
            );
        }
        self.check_dcs_servers(&hosts, &mut check);
        check
    }

    /// One host's identity, or `None` (with errors pushed) when it has none or a bad one.
    fn host_identity(
        &self,
        host: &str,
        vars: &Map<String, Value>,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Identity> {
        let present: Vec<&str> = IDENTITY_VARS
            .iter()
            .copied()
            .filter(|v| vars.contains_key(*v))
            .collect();
        if present.is_empty() {
            return None;
        }
        let cluster_hint = vars.get("pg_cluster").and_then(Value::as_str).unwrap_or("");
        let missing: Vec<&str> = IDENTITY_VARS
            .iter()
            .copied()
            .filter(|v| !present.contains(v))
            .collect();
        if !missing.is_empty() {
            errors.push(
                self.host_error(
                    host,
                    cluster_hint,
                    format!(
                        "host `{host}` has {} but not {}: pg_cluster, pg_seq and pg_role are all required",
                        present.join(", "),
                        missing.join(", ")
                    ),
                )
                .with_help("define pg_cluster on the cluster's group and pg_seq and pg_role on each host"),
            );
            return None;
        }
        let mut ok = true;
        let cluster = match vars.get("pg_cluster") {
            Some(Value::String(c)) if valid_cluster_name(c) => c.clone(),
            other => {
                ok = false;
                errors.push(
                    self.host_error(
                        host,
                        cluster_hint,
                        format!(
                            "host `{host}`: pg_cluster {} is not a valid cluster name",
                            show(other)
                        ),
                    )
                    .with_help("cluster names match [a-z][a-z0-9-]*: lower-case letters, digits and `-`, starting with a letter (no dots)"),
                );
                String::new()
            }
        };
        let seq = match vars.get("pg_seq") {
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or_default(),
            other => {
                ok = false;
                errors.push(
                    self.host_error(
                        host,
                        cluster_hint,
                        format!(
                            "host `{host}`: pg_seq {} is not a non-negative integer",
                            show(other)
                        ),
                    )
                    .with_help("write pg_seq as a plain number, e.g. `pg_seq: 1` (not quoted)"),
                );
                0
            }
        };
        let role = match vars.get("pg_role") {
            Some(Value::String(r)) if PG_ROLES.contains(&r.as_str()) => r.clone(),
            other => {
                ok = false;
                let mut diag = self.host_error(
                    host,
                    cluster_hint,
                    format!(
                        "host `{host}`: pg_role {} is not one of {}",
                        show(other),
                        PG_ROLES.join(", ")
                    ),
                );
                if let Some(Value::String(r)) = other
                    && let Some(best) = drover_diag::nearest(r, PG_ROLES).first()
                {
                    diag = diag.with_help(format!("did you mean `{best}`?"));
                }
                errors.push(diag);
                String::new()
            }
        };
        ok.then_some(Identity { cluster, seq, role })
    }

    /// `dcs_servers` addresses must be inventory hosts; an even count is a warning.
    fn check_dcs_servers(&self, hosts: &[(String, Map<String, Value>)], check: &mut IdentityCheck) {
        let mut seen: Vec<&Map<String, Value>> = Vec::new();
        for (_, vars) in hosts {
            let Some(Value::Object(servers)) = vars.get("dcs_servers") else {
                continue;
            };
            if seen.contains(&servers) {
                continue;
            }
            seen.push(servers);
            for (name, address) in servers {
                let known = address
                    .as_str()
                    .is_some_and(|a| self.data.host(a).is_some());
                if !known {
                    let diag = Diagnostic::error(format!(
                        "dcs_servers: `{name}` ({}) is not a host of the inventory",
                        address
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| address.to_string())
                    ))
                    .with_help(
                        "list every DCS server under a group (e.g. `meta`) with the same address as its key",
                    );
                    check.errors.push(match self.dcs_servers_span() {
                        Some((span, owner)) => diag
                            .with_span(span)
                            .with_label(format!("dcs_servers is set in the vars of {owner}")),
                        None => diag,
                    });
                }
            }
            if !servers.is_empty() && servers.len() % 2 == 0 {
                check.warnings.push(Diagnostic::warning(format!(
                    "dcs_servers has {} servers: an even number tolerates no more failures than {}; use 1, 3 or 5",
                    servers.len(),
                    servers.len() - 1
                )));
            }
        }
    }

    /// Where `dcs_servers` is set in an inventory file: the group (or host) whose own vars hold
    /// it, with its description for the label. `None` when it comes from a vars file.
    fn dcs_servers_span(&self) -> Option<(Span, String)> {
        let group = self.data.groups.iter().find_map(|g| {
            let span = g.span.clone()?;
            g.vars
                .contains_key("dcs_servers")
                .then(|| (span, format!("group `{}`", g.name)))
        });
        group.or_else(|| {
            self.data.hosts.iter().find_map(|h| {
                let span = h.span.clone()?;
                h.vars
                    .contains_key("dcs_servers")
                    .then(|| (span, format!("host `{}`", h.name)))
            })
        })
    }

    /// An error pointing at the inventory line that lists `host` in its cluster's group (or
    /// wherever it is first listed).
    fn host_error(&self, host: &str, cluster: &str, message: String) -> Diagnostic {
        let diag = Diagnostic::error(message);
        match self.identity_span(host, cluster) {
            Some(span) => diag.with_span(span),
            None => diag,
        }
    }

    /// The span of `host` in the group named after its cluster, else in a group that sets
    /// `pg_cluster`, else its first appearance.
    fn identity_span(&self, host: &str, cluster: &str) -> Option<Span> {
        let h = &self.data.hosts[self.data.host(host)?];
        let by = |pred: &dyn Fn(&crate::data::Group) -> bool| {
            h.occurrences
                .iter()
                .find(|(g, _)| pred(&self.data.groups[*g]))
                .map(|(_, s)| s.clone())
        };
        by(&|g| !cluster.is_empty() && g.name == cluster)
            .or_else(|| by(&|g| g.vars.contains_key("pg_cluster")))
            .or_else(|| h.span.clone())
    }
}

/// `[a-z][a-z0-9-]*`.
pub fn valid_cluster_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A value as the user wrote it, for messages.
fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(empty)".to_string(),
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load(text: &str) -> Inventory {
        let mut f = tempfile::Builder::new().suffix(".yml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        Inventory::load(&[f.path().to_path_buf()])
            .unwrap()
            .inventory
    }

    const GOOD: &str = "all:
  children:
    meta:
      hosts: {10.10.10.10: {}}
    pg-meta:
      hosts:
        10.10.10.10: {pg_seq: 1, pg_role: primary}
      vars: {pg_cluster: pg-meta}
    pg-test:
      hosts:
        10.10.10.11: {pg_seq: 1, pg_role: primary}
        10.10.10.12: {pg_seq: 2, pg_role: replica}
        10.10.10.13: {pg_seq: 3, pg_role: offline}
      vars: {pg_cluster: pg-test}
  vars:
    dcs_servers: {meta-1: 10.10.10.10}
";

    fn messages(diags: &[Diagnostic]) -> Vec<String> {
        diags.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn the_sandbox_inventory_is_valid_and_derives_instance_and_service() {
        let check = load(GOOD).check_identity();
        assert!(check.errors.is_empty(), "{:?}", messages(&check.errors));
        assert!(check.warnings.is_empty());
        let id = &check.identities["10.10.10.12"];
        assert_eq!(id.instance(), "pg-test-2");
        assert_eq!(id.service(), "pg-test-replica");
        assert_eq!(check.identities.len(), 4);
    }

    #[test]
    fn inventories_without_identity_are_not_checked() {
        let check = load("all:\n  hosts:\n    web1: {}\n    web2: {x: 1}\n").check_identity();
        assert!(check.errors.is_empty() && check.identities.is_empty());
    }

    #[test]
    fn each_rule_has_an_error_naming_the_host_and_its_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "10.10.10.12: {pg_seq: 2, pg_role: replica}",
                "10.10.10.12: {pg_seq: 2}",
                "host `10.10.10.12` has pg_cluster, pg_seq but not pg_role",
            ),
            (
                "10.10.10.12: {pg_seq: 2, pg_role: replica}",
                "10.10.10.12: {pg_seq: -2, pg_role: replica}",
                "pg_seq `-2` is not a non-negative integer",
            ),
            (
                "10.10.10.12: {pg_seq: 2, pg_role: replica}",
                "10.10.10.12: {pg_seq: '2', pg_role: replica}",
                "pg_seq `2` is not a non-negative integer",
            ),
            (
                "10.10.10.12: {pg_seq: 2, pg_role: replica}",
                "10.10.10.12: {pg_seq: 1, pg_role: replica}",
                "pg_seq 1 is already used by `10.10.10.11` in cluster `pg-test`",
            ),
            (
                "10.10.10.12: {pg_seq: 2, pg_role: replica}",
                "10.10.10.12: {pg_seq: 2, pg_role: replcia}",
                "pg_role `replcia` is not one of primary, replica, offline, delayed",
            ),
            (
                "10.10.10.12: {pg_seq: 2, pg_role: replica}",
                "10.10.10.12: {pg_seq: 2, pg_role: primary}",
                "cluster `pg-test` has 2 primaries (10.10.10.11, 10.10.10.12)",
            ),
            (
                "10.10.10.11: {pg_seq: 1, pg_role: primary}",
                "10.10.10.11: {pg_seq: 1, pg_role: replica}",
                "cluster `pg-test` has no primary",
            ),
        ];
        for (from, to, want) in cases {
            let text = GOOD.replace(from, to);
            let check = load(&text).check_identity();
            let found = check.errors.iter().find(|d| d.message.contains(want));
            let Some(diag) = found else {
                panic!("{to}: want `{want}`, got {:?}", messages(&check.errors));
            };
            let location = diag.location().unwrap_or_default();
            let line = text
                .lines()
                .position(|l| l.contains(to.split(':').next().unwrap_or(to)))
                .unwrap()
                + 1;
            // the host's line in its cluster group (pg-test members appear once)
            assert!(
                location.contains(&format!(":{line}:")),
                "{want}: {location} (line {line})"
            );
        }
    }

    #[test]
    fn a_host_in_two_groups_is_shown_in_its_cluster_group() {
        let text = GOOD.replace(
            "10.10.10.10: {pg_seq: 1, pg_role: primary}",
            "10.10.10.10: {pg_seq: 1, pg_role: leader}",
        );
        let check = load(&text).check_identity();
        let diag = check
            .errors
            .iter()
            .find(|d| d.message.contains("leader"))
            .unwrap();
        // line 7 (pg-meta's host list), not line 4 (meta's)
        assert!(
            diag.location().unwrap().contains(":7:"),
            "{:?}",
            diag.location()
        );
    }

    #[test]
    fn cluster_names_and_dcs_servers_are_checked() {
        let text = GOOD.replace("pg_cluster: pg-test", "pg_cluster: pg.test");
        let check = load(&text).check_identity();
        assert!(
            messages(&check.errors)
                .iter()
                .any(|m| m.contains("pg_cluster `pg.test` is not a valid cluster name"))
        );

        let text = GOOD.replace(
            "{meta-1: 10.10.10.10}",
            "{meta-1: 10.10.10.10, meta-2: 10.10.10.99}",
        );
        let check = load(&text).check_identity();
        assert_eq!(
            messages(&check.errors),
            vec!["dcs_servers: `meta-2` (10.10.10.99) is not a host of the inventory".to_string()]
        );
        // points at the group whose vars set it (`all`, line 1)
        assert!(
            check.errors[0]
                .location()
                .unwrap_or_default()
                .contains(":1:"),
            "{:?}",
            check.errors[0].location()
        );
        assert!(messages(&check.warnings)[0].contains("dcs_servers has 2 servers"));
    }

    #[test]
    fn cluster_name_rule() {
        for ok in ["pg-test", "a", "pg1", "a-b-c"] {
            assert!(valid_cluster_name(ok), "{ok}");
        }
        for bad in ["", "1pg", "Pg", "pg.test", "pg_test", "-pg"] {
            assert!(!valid_cluster_name(bad), "{bad}");
        }
    }
}
