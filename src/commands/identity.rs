//! `drover identity`: the inventory's PostgreSQL identities against the live cluster.
//!
//! For every host with `pg_cluster`, drover asks the node (over its usual connection, as the
//! run's `become` user): the live role (`/pg/bin/pg-role`: Patroni's REST API, else
//! `pg_is_in_recovery()`) and the role its Consul registration carries (`svc-postgres.json`).
//! One row per instance; exit 0 when the inventory agrees, 1 on drift. `--write` rewrites the
//! drifted `pg_role` scalars in the YAML inventory file(s) in place (comments, order and layout
//! kept; see `drover_inventory::rewrite`).

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

/// The probe run on each member: `<live role> <registered role>`.
const PROBE: &str = "live=unknown; if [ -x /pg/bin/pg-role ]; then live=$(/pg/bin/pg-role); fi; \
registered=$(sed -n 's/.*\"role\" *: *\"\\([a-z]*\\)\".*/\\1/p' /etc/consul.d/svc-postgres.json 2>/dev/null | head -n 1); \
echo \"$live ${registered:-none}\"";

/// One instance.
struct Row {
    host: String,
    cluster: String,
    seq: String,
    inventory: String,
    live: String,
    consul: String,
}

impl Row {
    /// What the inventory should say, when it says something else.
    fn wanted(&self, cluster_leader: Option<&str>) -> Option<&'static str> {
        let live = match self.live.as_str() {
            "primary" => "primary",
            "replica" => "replica",
            // an unreachable member cannot be the leader when another member leads
            _ if self.inventory == "primary"
                && cluster_leader.is_some_and(|leader| leader != self.host) =>
            {
                return Some("replica");
            }
            _ => return None,
        };
        let agrees = live == self.inventory
            || (live == "replica" && matches!(self.inventory.as_str(), "offline" | "delayed"));
        (!agrees).then_some(live)
    }
}

/// Keeps the probe's results.
#[derive(Default)]
struct Answers(Mutex<BTreeMap<String, (Status, String)>>);

impl Sink for Answers {
    fn emit(&self, event: &Event) {
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
    let mut rows = Vec::new();
    for host in inventory.hosts() {
        let vars = inventory.host_vars(host).unwrap_or_default();
        if let Some(cluster) = text(&vars, "pg_cluster") {
            rows.push(Row {
                host: host.to_string(),
                cluster,
                seq: text(&vars, "pg_seq").unwrap_or_default(),
                inventory: text(&vars, "pg_role").unwrap_or_default(),
                live: String::new(),
                consul: String::new(),
            });
        }
    }
    if rows.is_empty() {
        return Err(
            Diagnostic::error("no host of the inventory has `pg_cluster`").with_help(
                "drover identity compares PostgreSQL identities (pg_cluster, pg_seq, pg_role)",
            ),
        );
    }
    let answers = probe(inventory, &rows)?;
    for row in &mut rows {
        match answers.get(&row.host) {
            Some((Status::Ok | Status::Changed, out)) => {
                let mut words = out.split_whitespace();
                row.live = words.next().unwrap_or("unknown").to_string();
                row.consul = words.next().unwrap_or("none").to_string();
            }
            Some((Status::Unreachable, _)) => row.live = "unreachable".into(),
            _ => row.live = "unknown".into(),
        }
    }
    let leaders: BTreeMap<String, String> = rows
        .iter()
        .filter(|r| r.live == "primary")
        .map(|r| (r.cluster.clone(), r.host.clone()))
        .collect();
    println!(
        "{:<12} {:>3}  {:<15} {:<9} {:<11} {:<8} VERDICT",
        "CLUSTER", "SEQ", "HOST", "INVENTORY", "LIVE", "CONSUL"
    );
    let mut edits = Vec::new();
    for row in &rows {
        let wanted = row.wanted(leaders.get(&row.cluster).map(String::as_str));
        let verdict = match wanted {
            Some(role) => {
                edits.push(HostVarEdit {
                    host: row.host.clone(),
                    var: "pg_role".into(),
                    value: role.into(),
                });
                format!("drift: pg_role should be {role}")
            }
            None if matches!(row.live.as_str(), "primary" | "replica") => "ok".into(),
            None => format!("not known ({})", row.live),
        };
        println!(
            "{:<12} {:>3}  {:<15} {:<9} {:<11} {:<8} {verdict}",
            row.cluster, row.seq, row.host, row.inventory, row.live, row.consul
        );
    }
    if edits.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.write {
        eprintln!(
            "{} instance(s) drifted from the inventory; `drover identity --write` sets pg_role to the live roles",
            edits.len()
        );
        return Ok(ExitCode::from(1));
    }
    write_edits(&sources, &edits)?;
    Ok(ExitCode::SUCCESS)
}

/// Asks every member for its live and registered role.
fn probe(
    inventory: drover_inventory::Inventory,
    rows: &[Row],
) -> Result<BTreeMap<String, (Status, String)>, Diagnostic> {
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
    if let Some(diag) = summary.error {
        return Err(diag);
    }
    let answers = answers
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(answers)
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
