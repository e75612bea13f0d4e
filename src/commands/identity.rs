//! `drover identity`: the inventory's PostgreSQL identities against the live cluster.
//!
//! For every host with `pg_cluster`, drover asks the node (over its usual connection, as the
//! run's `become` user) three things: its live role (`/pg/bin/pg-role`: Patroni's REST API,
//! `unknown` when Patroni does not answer), Patroni's view of the cluster (`GET /cluster` of the local
//! Patroni) and the Consul catalog's `postgres` registrations (the local agent). A member that
//! cannot be reached (powered off) is judged from what the others say: Patroni's view of it, and
//! whether another member leads. One row per instance; exit 0 when the inventory and the
//! registrations agree with the live roles, 1 on drift or when a live role cannot be told
//! (a cluster with two live primaries is not judged, and nothing of it is written), 99 when
//! interrupted. `--write` rewrites the drifted
//! `pg_role` scalars in the YAML inventory file(s) in place (comments, order and layout kept;
//! see `drover_inventory::rewrite`); a stale registration is the nodes' to fix
//! (`pg-register.timer`), not the inventory's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use drover_diag::Diagnostic;
use drover_events::{Event, Sink, Status};
use drover_executor::{Executor, RunOptions};
use drover_inventory::rewrite::{HostVarEdit, set_host_vars};
use drover_playbook::{LoadOptions, TagFilter, load_playbook};
use drover_template::Templar;
use serde_json::{Map, Value};

use crate::cli::IdentityArgs;
use crate::{exit, inventory_path};

/// The probe run on each member: three lines, `live <role>`, `patroni <GET /cluster>` and
/// `consul <GET /v1/catalog/service/postgres>` (each JSON body on one line, empty when the API
/// does not answer).
const PROBE: &str = "live=unknown; if [ -x /pg/bin/pg-role ]; then live=$(/pg/bin/pg-role); fi; \
echo \"live $live\"; \
echo \"patroni $(curl -s -m 3 http://127.0.0.1:{{ patroni_port | default(8008) }}/cluster 2>/dev/null | tr -d '\\n')\"; \
echo \"consul $(curl -s -m 3 http://127.0.0.1:8500/v1/catalog/service/postgres 2>/dev/null | tr -d '\\n')\"";

/// What one member said.
#[derive(Debug, Default, Clone, PartialEq)]
struct Answer {
    /// Its own live role: `primary`, `replica` or `unknown`.
    live: String,
    /// Patroni's members of its cluster: host → Patroni role (`leader`, `replica`,
    /// `sync_standby`, `standby_leader`). `None` when Patroni did not answer.
    patroni: Option<BTreeMap<String, String>>,
    /// The catalog's `postgres` registrations: instance (`meta.instance`) → (role in meta,
    /// tags). `None` when Consul did not answer.
    catalog: Option<BTreeMap<String, (String, Vec<String>)>>,
}

impl Answer {
    /// Reads the probe's output.
    fn parse(out: &str) -> Answer {
        let mut answer = Answer {
            live: "unknown".into(),
            ..Answer::default()
        };
        for line in out.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "live" => answer.live = rest.trim().to_string(),
                "patroni" => answer.patroni = patroni_members(rest),
                "consul" => answer.catalog = catalog_roles(rest),
                _ => {}
            }
        }
        answer
    }
}

/// Patroni's `GET /cluster`: host → role.
fn patroni_members(body: &str) -> Option<BTreeMap<String, String>> {
    let v: Value = serde_json::from_str(body).ok()?;
    let members = v.get("members")?.as_array()?;
    Some(
        members
            .iter()
            .filter_map(|m| {
                Some((
                    m.get("host")?.as_str()?.to_string(),
                    m.get("role")?.as_str()?.to_string(),
                ))
            })
            .collect(),
    )
}

/// The catalog's registrations of `postgres`: instance → (meta role, tags).
fn catalog_roles(body: &str) -> Option<BTreeMap<String, (String, Vec<String>)>> {
    let v: Value = serde_json::from_str(body).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|e| {
                let meta = e.get("ServiceMeta")?;
                let tags = e
                    .get("ServiceTags")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                Some((
                    meta.get("instance")?.as_str()?.to_string(),
                    (meta.get("role")?.as_str()?.to_string(), tags),
                ))
            })
            .collect(),
    )
}

/// Patroni's word for a member → Pigsty's role.
fn pigsty_role(patroni_role: &str) -> Option<&'static str> {
    match patroni_role {
        "leader" | "master" | "primary" | "standby_leader" => Some("primary"),
        "replica" | "sync_standby" | "quorum_standby" => Some("replica"),
        _ => None,
    }
}

/// One instance.
#[derive(Debug, Default, Clone)]
struct Row {
    host: String,
    cluster: String,
    seq: String,
    /// The inventory's `pg_role`.
    inventory: String,
    /// The member's own answer (`unreachable` when it could not be asked).
    own: String,
    /// Patroni's view of the member from any member of its cluster: `leader`, `replica`, ...,
    /// `absent` (not a running member), `-` (no Patroni answered).
    patroni: String,
    /// The catalog's registration: meta role and tags (`-` when none).
    consul_role: String,
    consul_tags: String,
}

/// What drover concludes about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// The inventory and the registration say the live role.
    Ok,
    /// The inventory's `pg_role` should be this.
    Drift(&'static str),
    /// The inventory agrees, but the Consul registration says another role.
    Registration(String),
    /// The live role is not known (why).
    Unknown(String),
}

impl Row {
    /// The live role: the member's own answer, else Patroni's view of it.
    fn live(&self) -> Option<&'static str> {
        match self.own.as_str() {
            "primary" => Some("primary"),
            "replica" => Some("replica"),
            _ => pigsty_role(&self.patroni),
        }
    }

    /// Whether `role` (a Pigsty role) agrees with the live one.
    fn agrees(role: &str, live: &str) -> bool {
        role == live || (live == "replica" && matches!(role, "offline" | "delayed"))
    }

    fn verdict(&self, cluster_leader: Option<&str>) -> Verdict {
        let Some(live) = self.live() else {
            // a member that is down cannot be the primary when another member leads
            if self.inventory == "primary" && cluster_leader.is_some_and(|l| l != self.host) {
                return Verdict::Drift("replica");
            }
            return Verdict::Unknown(if self.own == "unreachable" {
                format!("unreachable, Patroni: {}", self.patroni)
            } else {
                format!("Patroni: {}", self.patroni)
            });
        };
        if !Row::agrees(&self.inventory, live) {
            return Verdict::Drift(live);
        }
        // a member that is down keeps its old registration; its checks fail, so DNS drops it
        let reachable = self.own != "unreachable";
        if reachable && self.consul_role != "-" && !Row::agrees(&self.consul_role, live) {
            return Verdict::Registration(self.consul_role.clone());
        }
        Verdict::Ok
    }
}

/// Each host's probe status and stdout.
type ProbeAnswers = BTreeMap<String, (Status, String)>;

/// Keeps the probe's results.
#[derive(Default)]
struct Answers(Mutex<ProbeAnswers>);

impl Sink for Answers {
    fn emit(&self, event: &Event) {
        // e.g. waiting for another run's lock on a host: say so rather than hang silently
        if let Event::Warning { message } = event {
            eprintln!("[WARNING]: {message}");
        }
        if let Event::HostResult(r) = event {
            let stdout = r.result.get("stdout").and_then(Value::as_str).unwrap_or("");
            let mut answers = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            answers.insert(r.host.clone(), (r.status, stdout.trim().to_string()));
        }
    }
}

/// Fills each row from the members' answers: its own, then what the other members of its
/// cluster say of it.
fn fill(rows: &mut [Row], answers: &ProbeAnswers) {
    let parsed: BTreeMap<&str, Answer> = answers
        .iter()
        .filter(|(_, (status, _))| matches!(status, Status::Ok | Status::Changed))
        .map(|(host, (_, out))| (host.as_str(), Answer::parse(out)))
        .collect();
    let clusters: BTreeMap<String, Vec<String>> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        m.entry(r.cluster.clone())
            .or_insert_with(Vec::new)
            .push(r.host.clone());
        m
    });
    for row in rows.iter_mut() {
        let peers: Vec<&Answer> = clusters[&row.cluster]
            .iter()
            .filter_map(|h| parsed.get(h.as_str()))
            .collect();
        row.own = match (parsed.get(row.host.as_str()), answers.get(&row.host)) {
            (Some(a), _) => a.live.clone(),
            (None, Some((Status::Unreachable, _))) => "unreachable".into(),
            _ => "unknown".into(),
        };
        row.patroni = peers
            .iter()
            .find_map(|a| a.patroni.as_ref())
            .map_or("-".into(), |m| {
                m.get(&row.host).cloned().unwrap_or_else(|| "absent".into())
            });
        let instance = format!("{}-{}", row.cluster, row.seq);
        let registration = peers
            .iter()
            .find_map(|a| a.catalog.as_ref().and_then(|c| c.get(&instance)));
        (row.consul_role, row.consul_tags) = match registration {
            Some((role, tags)) => (role.clone(), tags.join(",")),
            None => ("-".into(), "-".into()),
        };
    }
}

/// Runs `drover identity`.
pub fn run(args: &IdentityArgs) -> ExitCode {
    match identity(args) {
        Ok(code) => code,
        Err(diag) => exit::fail(&diag, exit::ERROR),
    }
}

fn identity(args: &IdentityArgs) -> Result<ExitCode, Diagnostic> {
    let sources = inventory_path::resolve(&args.inventory.inventory, None)?;
    let inventory = super::inventory::load(&args.inventory.inventory, None, args.limit.as_deref())?;
    let text = |vars: &Map<String, Value>, key: &str| match vars.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let selected = inventory.select("all")?;
    crate::exit::warn_all(&selected.warnings);
    let mut rows = Vec::new();
    for host in &selected.hosts {
        let vars = inventory.host_vars(host).unwrap_or_default();
        if let Some(cluster) = text(&vars, "pg_cluster") {
            rows.push(Row {
                host: host.to_string(),
                cluster,
                seq: text(&vars, "pg_seq").unwrap_or_default(),
                inventory: text(&vars, "pg_role").unwrap_or_default(),
                ..Row::default()
            });
        }
    }
    if rows.is_empty() {
        return Err(
            Diagnostic::error("no selected host of the inventory has `pg_cluster`").with_help(
                "drover identity compares PostgreSQL identities (pg_cluster, pg_seq, pg_role)",
            ),
        );
    }
    let Some(answers) = probe(inventory, &rows)? else {
        // as ansible-playbook on Ctrl-C (and drover play on SIGINT, SIGTERM, SIGHUP)
        eprintln!(" [ERROR]: User interrupted execution");
        return Ok(ExitCode::from(99));
    };
    fill(&mut rows, &answers);
    let mut primaries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.live() == Some("primary")) {
        primaries
            .entry(r.cluster.clone())
            .or_default()
            .push(r.host.clone());
    }
    // one leader per cluster; with two live primaries nothing about that cluster is written
    let leaders: BTreeMap<String, String> = primaries
        .iter()
        .filter(|(_, hosts)| hosts.len() == 1)
        .map(|(cluster, hosts)| (cluster.clone(), hosts[0].clone()))
        .collect();
    println!(
        "{:<12} {:>3}  {:<15} {:<9} {:<11} {:<12} {:<20} VERDICT",
        "CLUSTER", "SEQ", "HOST", "INVENTORY", "LIVE", "PATRONI", "CONSUL"
    );
    let mut edits = Vec::new();
    let (mut stale, mut unknown) = (0, 0);
    for row in &rows {
        let split = primaries
            .get(&row.cluster)
            .filter(|hosts| hosts.len() > 1)
            .map(|hosts| Verdict::Unknown(format!("live primaries: {}", hosts.join(" "))));
        let judged =
            split.unwrap_or_else(|| row.verdict(leaders.get(&row.cluster).map(String::as_str)));
        let verdict = match judged {
            Verdict::Ok => "ok".to_string(),
            Verdict::Drift(role) => {
                edits.push(HostVarEdit {
                    host: row.host.clone(),
                    var: "pg_role".into(),
                    value: role.into(),
                });
                format!("drift: pg_role should be {role}")
            }
            Verdict::Registration(registered) => {
                stale += 1;
                format!("registration stale: consul says {registered}")
            }
            Verdict::Unknown(why) => {
                unknown += 1;
                format!("not known ({why})")
            }
        };
        println!(
            "{:<12} {:>3}  {:<15} {:<9} {:<11} {:<12} {:<20} {verdict}",
            row.cluster, row.seq, row.host, row.inventory, row.own, row.patroni, row.consul_tags
        );
    }
    if stale > 0 {
        eprintln!(
            "{stale} registration(s) differ from the live role: pg-register.timer puts them right within its interval (pg_register_interval), or run `drover play playbooks/pgsql.yml -t register`"
        );
    }
    if unknown > 0 {
        eprintln!(
            "{unknown} instance(s) whose live role drover could not tell: that is not agreement"
        );
    }
    let agrees = stale == 0 && unknown == 0;
    if edits.is_empty() {
        return Ok(if agrees {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if !args.write {
        eprintln!(
            "{} instance(s) drifted from the inventory; `drover identity --write` sets pg_role to the live roles",
            edits.len()
        );
        return Ok(ExitCode::from(1));
    }
    write_edits(&sources, &edits)?;
    Ok(if agrees {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Asks every member for its live role, Patroni's view and the catalog. `None`: the run was
/// interrupted.
fn probe(
    inventory: drover_inventory::Inventory,
    rows: &[Row],
) -> Result<Option<ProbeAnswers>, Diagnostic> {
    let dir = tempfile::tempdir()
        .map_err(|e| Diagnostic::error(format!("cannot create a temp dir: {e}")))?;
    let hosts: Vec<&str> = rows.iter().map(|r| r.host.as_str()).collect();
    let site = dir.path().join("identity.yml");
    let play = serde_json::json!([{
        "name": "drover identity",
        "hosts": hosts.join(","),
        "gather_facts": false,
        "become": true,
        "tasks": [{"name": "live role", "shell": PROBE, "changed_when": false}],
    }]);
    std::fs::write(&site, play.to_string())
        .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", site.display())))?;
    let templar = Arc::new(Templar::default());
    let book = load_playbook(&site, LoadOptions::default())?;
    let answers = Arc::new(Answers::default());
    let options = RunOptions {
        check: false,
        diff: false,
        forks: 16,
        verbosity: 0,
        force_handlers: false,
        extra_vars: Map::new(),
        filter: TagFilter::new::<&str>(&[], &[]),
        look_ahead: drover_executor::look_ahead_from_env().map_err(Diagnostic::error)?,
    };
    let executor = Executor::new(
        Arc::new(inventory),
        options,
        answers.clone(),
        templar.clone(),
        templar,
    )
    .map_err(|e| Diagnostic::error(format!("cannot start: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::error(format!("cannot start the async runtime: {e}")))?;
    let summary = runtime.block_on(executor.run(&[book]));
    if summary.interrupted {
        return Ok(None);
    }
    if let Some(diag) = summary.error {
        return Err(diag);
    }
    let answers = answers
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(Some(answers))
}

/// Applies the edits to the YAML inventory files that hold each host's `pg_role`, atomically.
fn write_edits(sources: &[PathBuf], edits: &[HostVarEdit]) -> Result<(), Diagnostic> {
    let mut pending: Vec<HostVarEdit> = edits.to_vec();
    // why a file that lists the host could not take the edit (an anchor, a merge, ...)
    let mut refused: BTreeMap<String, Diagnostic> = BTreeMap::new();
    for source in sources.iter().filter(|s| s.is_file()) {
        let Ok(text) = std::fs::read_to_string(source) else {
            continue;
        };
        let path = source.display().to_string();
        let mut out = text.clone();
        let mut applied = Vec::new();
        pending.retain(
            |edit| match set_host_vars(&path, &out, std::slice::from_ref(edit)) {
                Ok((next, done)) => {
                    out = next;
                    applied.extend(done);
                    false
                }
                Err(diag) => {
                    if diag.span.is_some() {
                        refused.insert(edit.host.clone(), diag);
                    }
                    true
                }
            },
        );
        if applied.is_empty() {
            continue;
        }
        let tmp = source.with_extension("drover-identity.tmp");
        std::fs::write(&tmp, out)
            .and_then(|()| std::fs::rename(&tmp, source))
            .map_err(|e| Diagnostic::error(format!("cannot write {path}: {e}")))?;
        for a in &applied {
            println!(
                "{}: pg_role of {} {} -> {}",
                a.locations.join(", "),
                a.edit.host,
                a.old,
                a.edit.value
            );
        }
    }
    if let Some(e) = pending.first() {
        let help = format!("set `pg_role` of `{}` to `{}` by hand", e.host, e.value);
        return Err(match refused.remove(&e.host) {
            Some(diag) => diag.with_help(help),
            None => Diagnostic::error(format!(
                "`pg_role` of host `{}` is not written in a host entry of a YAML inventory file given with -i",
                e.host
            ))
            .with_help(help),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = r#"{"members": [{"name": "pg-test-2", "role": "leader", "state": "running", "host": "10.10.10.12"}, {"name": "pg-test-3", "role": "replica", "state": "streaming", "host": "10.10.10.13"}], "scope": "pg-test"}"#;
    const CATALOG: &str = r#"[{"Address": "10.10.10.11", "ServiceTags": ["primary", "pg-test"], "ServiceMeta": {"instance": "pg-test-1", "role": "primary"}}, {"Address": "10.10.10.12", "ServiceTags": ["primary", "pg-test"], "ServiceMeta": {"instance": "pg-test-2", "role": "primary"}}, {"Address": "10.10.10.13", "ServiceTags": ["replica", "pg-test"], "ServiceMeta": {"instance": "pg-test-3", "role": "replica"}}]"#;

    fn row(host: &str, seq: &str, inventory: &str) -> Row {
        Row {
            host: host.into(),
            cluster: "pg-test".into(),
            seq: seq.into(),
            inventory: inventory.into(),
            ..Row::default()
        }
    }

    #[test]
    fn the_probe_output_is_read_and_bad_bodies_are_none() {
        let a = Answer::parse(&format!(
            "live replica\npatroni {CLUSTER}\nconsul {CATALOG}"
        ));
        assert_eq!(a.live, "replica");
        assert_eq!(a.patroni.as_ref().unwrap()["10.10.10.12"], "leader");
        assert_eq!(a.catalog.as_ref().unwrap()["pg-test-3"].0, "replica");
        let b = Answer::parse("live unknown\npatroni \nconsul <html>");
        assert_eq!((b.patroni, b.catalog), (None, None));
    }

    /// The failover picture: node-1 (inventory primary) is powered off, node-2 leads, and
    /// the catalog still holds node-1's old registration.
    #[test]
    fn a_powered_off_old_primary_is_judged_from_the_others() {
        let mut rows = vec![
            row("10.10.10.11", "1", "primary"),
            row("10.10.10.12", "2", "replica"),
            row("10.10.10.13", "3", "replica"),
        ];
        let probe = |live: &str| {
            (
                Status::Ok,
                format!("live {live}\npatroni {CLUSTER}\nconsul {CATALOG}"),
            )
        };
        let answers: BTreeMap<String, (Status, String)> = [
            (
                "10.10.10.11".to_string(),
                (Status::Unreachable, String::new()),
            ),
            ("10.10.10.12".to_string(), probe("primary")),
            ("10.10.10.13".to_string(), probe("replica")),
        ]
        .into();
        fill(&mut rows, &answers);
        let got: Vec<(String, String, Verdict)> = rows
            .iter()
            .map(|r| {
                (
                    r.own.clone(),
                    r.patroni.clone(),
                    r.verdict(Some("10.10.10.12")),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "unreachable".into(),
                    "absent".into(),
                    Verdict::Drift("replica")
                ),
                ("primary".into(), "leader".into(), Verdict::Drift("primary")),
                ("replica".into(), "replica".into(), Verdict::Ok),
            ]
        );
        assert_eq!(rows[1].consul_tags, "primary,pg-test");
    }

    #[test]
    fn verdicts() {
        // (inventory, own answer, patroni view, consul role, leader) → verdict
        type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, Verdict);
        let cases: &[Case] = &[
            (
                "primary",
                "primary",
                "leader",
                "primary",
                Some("h"),
                Verdict::Ok,
            ),
            (
                "offline",
                "replica",
                "replica",
                "offline",
                Some("x"),
                Verdict::Ok,
            ),
            ("delayed", "replica", "-", "-", None, Verdict::Ok),
            (
                "replica",
                "primary",
                "leader",
                "primary",
                Some("h"),
                Verdict::Drift("primary"),
            ),
            (
                "offline",
                "primary",
                "leader",
                "primary",
                Some("h"),
                Verdict::Drift("primary"),
            ),
            (
                "replica",
                "replica",
                "replica",
                "primary",
                Some("x"),
                Verdict::Registration("primary".into()),
            ),
            // down, but Patroni says it still leads (only the controller lost it)
            (
                "replica",
                "unreachable",
                "leader",
                "primary",
                Some("h"),
                Verdict::Drift("primary"),
            ),
            // down and stale registration: not the registration's fault
            (
                "replica",
                "unreachable",
                "replica",
                "primary",
                Some("x"),
                Verdict::Ok,
            ),
            (
                "replica",
                "unreachable",
                "absent",
                "replica",
                Some("x"),
                Verdict::Unknown("unreachable, Patroni: absent".into()),
            ),
            (
                "primary",
                "unknown",
                "-",
                "-",
                None,
                Verdict::Unknown("Patroni: -".into()),
            ),
        ];
        for (inventory, own, patroni, consul, leader, want) in cases {
            let r = Row {
                own: (*own).into(),
                patroni: (*patroni).into(),
                consul_role: (*consul).into(),
                ..row("h", "1", inventory)
            };
            assert_eq!(
                &r.verdict(*leader),
                want,
                "{inventory} {own} {patroni} {consul}"
            );
        }
    }
}
