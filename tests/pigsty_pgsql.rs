#![allow(clippy::unwrap_used)]
//! `playbooks/pgsql.yml` on the 4-node Docker sandbox after `playbooks/infra.yml`, with the
//! committed inventory as it is (pg-meta on meta, pg-test on node-1..3; exporters and
//! haproxy on), checked the way a DBA would, through `docker exec`: Patroni's list, the
//! Consul health API, DNS answers from dnsmasq on meta, Prometheus's active targets, psql
//! round trips through the service names and haproxy, and PIDs before and after a rerun.
//! One sandbox for every assertion (the whole suite takes a few minutes).
//!
//! 1. First runs: infra.yml, then pgsql.yml, both converge.
//! 2. Patroni: pg-test has one Leader (pg-test-1) and two replicas, both streaming with lag 0
//!    after a write; pg-meta has one Leader. No Debian `main` cluster anywhere.
//! 3. Consul: gossip encrypted on every agent from the first start; 0 critical checks; `pg-test-primary.service.consul` answers every member,
//!    `primary.postgres.service.consul` the two primaries, `master.pg-test` the leader.
//! 4. psql from node-3: writes through `pg-test-primary.service.consul:5433`, reads from a
//!    replica through `pg-test-replica:5434`; the business users and databases exist.
//! 5. Prometheus (consul SD): node, pg, pgbouncer and haproxy exporters of every member up,
//!    labelled cls/ins/ip/role/svc with the identities.
//! 6. A second pgsql.yml: changed=0, Patroni, postgres and pgbouncer PIDs unchanged; a check
//!    run (-C) predicts no change; `-l pg-test -t pg_hba` is a no-op.
//! 7. A pg parameter changed in an inventory copy: `-C -D` shows the diff of patroni.yml and
//!    changes nothing; the real run reloads it through Patroni (no restart, PIDs kept); a
//!    parameter that needs a restart restarts the replicas one at a time, then the primary.
//! 8. `pg_exists_action: abort` stops at the existing clusters and touches nothing; `clean`
//!    with `pg_disable_purge: true` (the sandbox's) refuses too; with `pg_disable_purge:
//!    false` on the replica pg-test-3 it wipes it (a marker file in its data dir is gone) and
//!    the replica is cloned again from the primary.
//! 9. `prometheus_sd_method: static`: the same 16 exporter targets up with the same labels.
//! 10. Identity follows Patroni without drover: after `patronictl switchover` to pg-test-2 the
//!     Consul catalog (meta.role/service of `postgres`) and DNS (`master.pg-test`,
//!     `primary.postgres`) follow (Patroni's callbacks, pg-failover-callback); a wrong
//!     registration on a replica is put right by pg-register.timer.
//! 11. `drover identity` reports the inventory's drift after that switchover (exit 1);
//!     `--write` on a copy changes the two `pg_role` scalars only; then it agrees (exit 0).
//! 12. `-t register` with that stale inventory registers the live roles (changed=0) and warns,
//!     naming each drifted host, its live role and the file:line:col of its `pg_role`.
//! 13. A switchover back to pg-test-1: the registration follows; `drover identity` agrees.
//! 14. Failover drill (async): a client on meta writes through
//!     `pg-test-primary.service.consul:5433`; node-1 is powered off. Within 60 s each: a new
//!     leader, DNS (`master.pg-test` only the new primary, `pg-test-primary` the survivors),
//!     the catalog (postgres, pgbouncer, patroni say primary), Prometheus's labels, the
//!     client's writes. Lost acknowledged writes are reported. `drover identity` names the
//!     drift with node-1 still off; `--write` on a copy; node-1 rejoins as a replica and is
//!     registered so within one timer interval (30 s); identity then agrees.
//! 15. pg-test rebuilt from that copy with `pg_conf: crit.yml` (synchronous mode), and the
//!     drill again on its primary: no acknowledged write is lost; the old primary rejoins.
//!
//! Needs Docker (with CI=true a missing Docker fails) and the package cache
//! (sandbox/packages/fetch-packages, run here; it does nothing when the cache is current).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use drover_sandbox::testing::TestSandbox;
use serde_json::Value;

mod common;
use common::{Run, eventually as poll, gossip_encrypted, play_playbook, recap, sh, try_sh};
#[path = "pigsty_pgsql/drill.rs"]
mod drill;

fn eventually(what: &str, check: impl FnMut() -> Result<(), String>) {
    poll(what, Duration::from_secs(90), check)
}

/// Polling check: the script's output (trimmed) is `want`, else the error says what it is.
fn output_is(sb: &TestSandbox, node: &str, script: &str, want: &str) -> Result<(), String> {
    let got = try_sh(sb, node, script)?;
    if got.trim() == want {
        Ok(())
    } else {
        Err(format!(
            "{node}: `{script}` gave `{}`, want `{want}`",
            got.trim()
        ))
    }
}

fn infra(sb: &TestSandbox, inventory: &Path, extra: &[&str]) -> Run {
    play_playbook(sb, "playbooks/infra.yml", inventory, extra)
}

fn pgsql(sb: &TestSandbox, inventory: &Path, extra: &[&str]) -> Run {
    play_playbook(sb, "playbooks/pgsql.yml", inventory, extra)
}

/// `patronictl list` rows of a cluster: member → (role, state, lag).
fn patroni_members(sb: &TestSandbox, node: &str, cluster: &str) -> BTreeMap<String, Vec<String>> {
    let out = sh(
        sb,
        node,
        &format!(
            "set -a; . /etc/patroni_env.conf; set +a; patronictl -c /pg/bin/patroni.yml list {cluster}"
        ),
    );
    out.lines()
        .filter(|l| l.starts_with(&format!("| {cluster}-")))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            // Member | Host | Role | State | TL | Lag in MB | Tags
            (
                cells[0].clone(),
                vec![cells[2].clone(), cells[3].clone(), cells[5].clone()],
            )
        })
        .collect()
}

/// The PIDs a rerun must not change: Patroni, the postmaster and pgbouncer on every node.
fn pids(sb: &TestSandbox) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for n in ["meta", "node-1", "node-2", "node-3"] {
        let out = sh(
            sb,
            n,
            "echo patroni=$(systemctl show -p MainPID --value patroni) \
             postmaster=$(head -1 /pg/data/postmaster.pid) \
             pgbouncer=$(systemctl show -p MainPID --value pgbouncer)",
        );
        m.insert(n.to_string(), out.trim().to_string());
    }
    m
}

fn dig(sb: &TestSandbox, meta: &str, name: &str) -> Vec<String> {
    dig_from(sb, "node-3", meta, name)
}

/// `dig +short @meta name` run on `node`, sorted.
fn dig_from(sb: &TestSandbox, node: &str, meta: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> = sh(sb, node, &format!("dig +short @{meta} {name}"))
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// One active target of job `pg`: (url, health, labels).
type Target = (String, String, BTreeMap<String, String>);

/// Job `pg`'s active targets.
fn pg_targets(sb: &TestSandbox) -> Result<Vec<Target>, String> {
    let body = try_sh(sb, "meta", "curl -sf http://127.0.0.1:9090/api/v1/targets")?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    Ok(v["data"]["activeTargets"]
        .as_array()
        .ok_or(format!("no activeTargets: {body}"))?
        .iter()
        .filter(|t| t["scrapePool"] == "pg")
        .map(|t| {
            let labels = t["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            (
                t["scrapeUrl"].as_str().unwrap_or_default().to_string(),
                t["health"].as_str().unwrap_or_default().to_string(),
                labels,
            )
        })
        .collect())
}

/// Every member's node (9100), haproxy (9101), pg (9630) and pgbouncer (9631) exporter is
/// up, with the member's identity as labels.
fn check_targets(
    sb: &TestSandbox,
    ids: &BTreeMap<String, (String, u32, String)>,
) -> Result<(), String> {
    let targets = pg_targets(sb)?;
    let mut seen = 0;
    for (ip, (cls, seq, role)) in ids {
        for port in [9100, 9101, 9630, 9631] {
            let url = format!("http://{ip}:{port}/metrics");
            let Some((_, health, labels)) = targets.iter().find(|(u, _, _)| *u == url) else {
                return Err(format!("no target {url}"));
            };
            if health != "up" {
                return Err(format!("{url} is {health}"));
            }
            let want = [
                ("cls", cls.clone()),
                ("ins", format!("{cls}-{seq}")),
                ("ip", ip.clone()),
                ("role", role.clone()),
                ("svc", format!("{cls}-{role}")),
            ];
            for (k, v) in want {
                if labels.get(k) != Some(&v) {
                    return Err(format!("{url}: label {k}={:?}, want {v}", labels.get(k)));
                }
            }
            seen += 1;
        }
    }
    if targets.len() != seen {
        return Err(format!("{} targets, want {seen}", targets.len()));
    }
    Ok(())
}

#[test]
fn pgsql_cluster_on_consul() {
    let Some(sb) = common::pigsty_sandbox("pigsty_pgsql", "pgsql-e2e") else {
        return;
    };
    let inventory = sb.paths().inventory();
    let addr = |n: &str| sb.node(n).unwrap().spec.address.to_string();
    let (meta, n1, n2, n3) = (addr("meta"), addr("node-1"), addr("node-2"), addr("node-3"));
    let ids: BTreeMap<String, (String, u32, String)> = [
        (
            meta.clone(),
            ("pg-meta".to_string(), 1, "primary".to_string()),
        ),
        (
            n1.clone(),
            ("pg-test".to_string(), 1, "primary".to_string()),
        ),
        (
            n2.clone(),
            ("pg-test".to_string(), 2, "replica".to_string()),
        ),
        (
            n3.clone(),
            ("pg-test".to_string(), 3, "replica".to_string()),
        ),
    ]
    .into();
    let mut times = Vec::new();

    // 1. first runs (infra.yml with -D: the diffs of new files with tokens must not show them)
    let run = infra(&sb, &inventory, &["-D"]);
    run.ok("infra.yml", 4);
    times.push(format!("infra.yml first run {:.1}s", run.secs));
    let first = pgsql(&sb, &inventory, &[]);
    first.ok("pgsql.yml first run", 4);
    times.push(format!("pgsql.yml first run {:.1}s", first.secs));

    // 2. Patroni: one leader per cluster, replicas streaming, lag 0 after a write
    let members = patroni_members(&sb, "node-2", "pg-test");
    assert_eq!(members.len(), 3, "{members:?}");
    assert_eq!(members["pg-test-1"][0], "Leader", "{members:?}");
    for r in ["pg-test-2", "pg-test-3"] {
        assert_eq!(members[r][0], "Replica", "{members:?}");
        assert!(
            ["running", "streaming"].contains(&members[r][1].as_str()),
            "{members:?}"
        );
    }
    let meta_members = patroni_members(&sb, "meta", "pg-meta");
    assert_eq!(meta_members.len(), 1, "{meta_members:?}");
    assert_eq!(meta_members["pg-meta-1"][0], "Leader", "{meta_members:?}");
    sh(
        &sb,
        "node-1",
        "su postgres -c \"psql -d test -Atqc 'CREATE TABLE IF NOT EXISTS lag_probe(x int); INSERT INTO lag_probe VALUES (1)'\"",
    );
    eventually("replicas streaming with lag 0 after a write", || {
        let out = try_sh(
            &sb,
            "node-1",
            "su postgres -c \"psql -Atc \\\"SELECT application_name, state, pg_current_wal_lsn() = replay_lsn FROM pg_stat_replication ORDER BY 1\\\"\"",
        )?;
        if out.trim() != "pg-test-2|streaming|t\npg-test-3|streaming|t" {
            return Err(format!("pg_stat_replication: {out}"));
        }
        let members = patroni_members(&sb, "node-1", "pg-test");
        for r in ["pg-test-2", "pg-test-3"] {
            if members[r][2] != "0" {
                return Err(format!("patronictl list: {members:?}"));
            }
        }
        Ok(())
    });
    for n in ["meta", "node-1", "node-2", "node-3"] {
        let clusters = sh(&sb, n, "pg_lsclusters -h | wc -l");
        assert_eq!(clusters.trim(), "0", "{n}: a Debian cluster exists");
    }

    // 3. Consul: a fresh cluster is on gossip encryption from its first start (consul_secure
    // by default: no staged rollout, no restart for it), every check passes; DNS answers
    for n in ["meta", "node-1", "node-2", "node-3"] {
        assert_eq!(
            gossip_encrypted(&sb, n),
            "true",
            "{n}: gossip not encrypted"
        );
    }
    eventually("0 critical checks in consul", || {
        let out = try_sh(
            &sb,
            "meta",
            "curl -sf http://127.0.0.1:8500/v1/health/state/critical",
        )?;
        let v: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        if v.as_array().is_some_and(Vec::is_empty) {
            Ok(())
        } else {
            Err(format!("critical: {out}"))
        }
    });
    let passing = sh(
        &sb,
        "meta",
        "curl -sf http://127.0.0.1:8500/v1/health/state/passing",
    );
    for svc in [
        "postgres",
        "pgbouncer",
        "patroni",
        "pg-exporter",
        "pgbouncer-exporter",
        "haproxy",
        "node-exporter",
    ] {
        let n = passing
            .matches(&format!("\"ServiceName\":\"{svc}\""))
            .count();
        assert_eq!(n, 4, "{svc}: {n} passing checks, want 4");
    }
    let mut members = vec![n1.clone(), n2.clone(), n3.clone()];
    members.sort();
    eventually("dns: pg-test-primary.service.consul", || {
        let got = dig(&sb, &meta, "pg-test-primary.service.consul");
        if got == members {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    let mut primaries = vec![meta.clone(), n1.clone()];
    primaries.sort();
    assert_eq!(
        dig(&sb, &meta, "primary.postgres.service.consul"),
        primaries
    );
    assert_eq!(
        dig(&sb, &meta, "master.pg-test.service.consul"),
        vec![n1.clone()]
    );

    // 3b. ACLs (consul_secure): default deny from the first start. A local process without a
    // token (user nobody) can neither register nor deregister a service nor read or write the
    // KV store: 403 on every agent. The catalog stays readable (DNS above, Prometheus below),
    // the consumers work with their own tokens (the passing checks above: the svc files'
    // token; Patroni's leader: its token; step 5: Prometheus's).
    for n in ["meta", "node-1", "node-2"] {
        let codes = sh(
            &sb,
            n,
            "cat > /tmp/acl-probe.sh <<'EOF'\n\
             c() { curl -s -o /dev/null -w '%{http_code} ' \"$@\"; }\n\
             c -X PUT -d '{\"Name\":\"pg-test-primary\",\"Port\":1}' http://127.0.0.1:8500/v1/agent/service/register\n\
             c -X PUT http://127.0.0.1:8500/v1/agent/service/deregister/postgres\n\
             c http://127.0.0.1:8500/v1/kv/service/pg-test/leader\n\
             c -X PUT -d rogue http://127.0.0.1:8500/v1/kv/drover-rogue\n\
             EOF\n\
             chmod 755 /tmp/acl-probe.sh && su -s /bin/sh nobody -c /tmp/acl-probe.sh",
        );
        assert_eq!(codes.trim(), "403 403 403 403", "{n}: without a token");
    }
    let perms = sh(
        &sb,
        "meta",
        "stat -c '%n %a %U' /var/lib/consul-acl /var/lib/consul-acl/management.token",
    );
    assert_eq!(
        perms.trim(),
        "/var/lib/consul-acl 700 root\n/var/lib/consul-acl/management.token 600 root",
        "the management token is root's alone"
    );
    // every token the role made, read where it lives: in no output and no controller file
    let mut secrets = Vec::new();
    for n in ["meta", "node-1", "node-2", "node-3"] {
        for line in sh(&sb, n, "cat /var/lib/consul-acl/*.token").lines() {
            assert_eq!(line.len(), 36, "{n}: not a token: {line:?}");
            secrets.push(line.to_string());
        }
    }
    // and the seed every token's secret derives from
    let seed = sh(&sb, "meta", "cat /var/lib/consul-acl/seed");
    assert_eq!(seed.trim().len(), 73, "not a seed: {seed:?}");
    secrets.push(seed.trim().to_string());
    secrets.sort();
    secrets.dedup();
    let rerun = infra(&sb, &inventory, &["-D", "-vvv"]);
    let changed = rerun.ok("infra.yml rerun -D -vvv", 4);
    assert!(
        changed.values().all(|c| *c == 0),
        "infra.yml rerun changed (the ACL bootstrap and tokens must be found): {changed:?}\n{}",
        rerun.out
    );
    for secret in &secrets {
        for (what, out) in [
            ("infra.yml -D", &run.out),
            ("pgsql.yml", &first.out),
            ("infra.yml -D -vvv", &rerun.out),
        ] {
            assert!(
                !out.contains(secret.as_str()),
                "a token in the output of {what}"
            );
        }
        let found = common::files_containing(&common::controller_dirs(&sb), secret);
        assert!(found.is_empty(), "a token in controller files: {found:?}");
    }
    // a replaced seed (the tokens would all change) is refused before any file changes
    sh(
        &sb,
        "meta",
        "cp -p /var/lib/consul-acl/seed /root/seed.kept && \
         echo 11111111-2222-3333-4444-555555555555-66666666-7777-8888-9999-000000000000 \
         > /var/lib/consul-acl/seed",
    );
    let refused = infra(&sb, &inventory, &[]);
    sh(
        &sb,
        "meta",
        "cp -p /root/seed.kept /var/lib/consul-acl/seed",
    );
    refused.refused(
        "a replaced seed",
        "is not the seed the cluster's tokens were made from",
    );

    // 4. psql through the service names and haproxy
    let write = sh(
        &sb,
        "node-3",
        "PGPASSWORD=test psql -h pg-test-primary.service.consul -p 5433 -U test -d test -Atc \
         'CREATE TABLE IF NOT EXISTS e2e(x int); INSERT INTO e2e VALUES (42); SELECT pg_is_in_recovery(), sum(x) FROM e2e'",
    );
    assert!(
        write.trim().ends_with("f|42"),
        "write through 5433: {write}"
    );
    eventually("read through pg-test-replica:5434 from a replica", || {
        output_is(
            &sb,
            "node-3",
            "PGPASSWORD=test psql -h pg-test-replica -p 5434 -U test -d test -Atc \
             'SELECT pg_is_in_recovery(), sum(x) FROM e2e'",
            "t|42",
        )
    });
    let meta_db = sh(
        &sb,
        "node-3",
        &format!(
            "PGPASSWORD=DBUser.Meta psql -h {meta} -p 5433 -U dbuser_meta -d meta -Atc \
             \"SELECT current_user, (SELECT count(*) FROM pg_namespace WHERE nspname = 'pigsty')\""
        ),
    );
    assert_eq!(
        meta_db.trim(),
        "dbuser_meta|1",
        "meta database through pgbouncer"
    );

    // 5. Prometheus, consul SD
    eventually("consul sd: 16 exporters up with identity labels", || {
        check_targets(&sb, &ids)
    });

    // 6. rerun, check mode, tag-scoped rerun
    let before = pids(&sb);
    let second = pgsql(&sb, &inventory, &[]);
    let changed = second.ok("pgsql.yml rerun", 4);
    assert!(
        changed.values().all(|c| *c == 0),
        "rerun changed: {changed:?}\n{}",
        second.out
    );
    times.push(format!("pgsql.yml no-op rerun {:.1}s", second.secs));
    assert_eq!(pids(&sb), before, "a rerun restarted something");
    let check = pgsql(&sb, &inventory, &["-C"]);
    let changed = check.ok("pgsql.yml -C", 4);
    assert!(
        changed.values().all(|c| *c == 0),
        "-C predicts: {changed:?}\n{}",
        check.out
    );
    let hba = pgsql(&sb, &inventory, &["-l", "pg-test", "-t", "pg_hba"]);
    let changed = hba.ok("-l pg-test -t pg_hba", 3);
    assert!(changed.values().all(|c| *c == 0), "{}", hba.out);
    times.push(format!("-l pg-test -t pg_hba {:.1}s", hba.secs));

    // 7. a parameter change in the inventory: -C -D shows it and changes nothing; the real
    // run reloads it through Patroni; one that needs a restart restarts replicas first
    let text = std::fs::read_to_string(&inventory).unwrap();
    let anchor = "    pg_maintenance_work_mem: 32MB\n";
    assert!(text.contains(anchor), "inventory changed shape");
    let with = |params: &str| {
        let path = inventory.with_file_name(format!("param-{}.yml", params.len()));
        std::fs::write(
            &path,
            text.replace(anchor, &format!("{anchor}    pg_parameters: {params}\n")),
        )
        .unwrap();
        path
    };
    let work_mem = with("{work_mem: 8MB}");
    let conf_before = sh(&sb, "node-2", "sha256sum /pg/conf/pg-test-2.yml");
    let cd = pgsql(&sb, &work_mem, &["-l", "pg-test", "-C", "-D"]);
    let predicted = cd.ok("-C -D with work_mem", 3);
    assert!(
        cd.out.contains("-    work_mem: \"4MB\"") && cd.out.contains("+    work_mem: \"8MB\""),
        "no diff of work_mem:\n{}",
        cd.out
    );
    assert!(predicted.values().all(|c| *c > 0), "{}", cd.out);
    assert_eq!(
        sh(&sb, "node-2", "sha256sum /pg/conf/pg-test-2.yml"),
        conf_before,
        "-C wrote"
    );
    assert_eq!(pids(&sb), before, "-C restarted something");
    let apply = pgsql(&sb, &work_mem, &["-l", "pg-test"]);
    apply.ok("work_mem", 3);
    assert_eq!(
        pids(&sb),
        before,
        "a reloadable parameter restarted something"
    );
    eventually("work_mem reloaded on every member", || {
        for n in ["node-1", "node-2", "node-3"] {
            output_is(
                &sb,
                n,
                "su postgres -c \"psql -Atc 'SHOW work_mem'\"",
                "8MB",
            )?;
        }
        Ok(())
    });
    let buffers = with("{work_mem: 8MB, shared_buffers: 96MB}");
    let restart = pgsql(&sb, &buffers, &["-l", "pg-test"]);
    restart.ok("shared_buffers", 3);
    let replicas_at = restart
        .out
        .find("RUNNING HANDLER [postgres : Restart pending replicas]")
        .unwrap();
    let primary_at = restart
        .out
        .find("RUNNING HANDLER [postgres : Restart the pending primary]")
        .unwrap();
    assert!(replicas_at < primary_at, "{}", restart.out);
    let after = pids(&sb);
    for n in ["node-1", "node-2", "node-3"] {
        assert_ne!(
            after[n], before[n],
            "{n} was not restarted for shared_buffers"
        );
        let v = sh(&sb, n, "su postgres -c \"psql -Atc 'SHOW shared_buffers'\"");
        assert_eq!(v.trim(), "96MB", "{n}");
    }
    assert_eq!(after["meta"], before["meta"], "pg-meta was touched");
    assert_eq!(
        patroni_members(&sb, "node-1", "pg-test")["pg-test-1"][0],
        "Leader"
    );
    let back = pgsql(&sb, &inventory, &["-l", "pg-test"]);
    back.ok("back to the inventory", 3);

    // 8. pg_exists_action: abort stops at the existing clusters
    let abort = pgsql(&sb, &inventory, &["-e", "pg_exists_action=abort"]);
    assert_ne!(abort.code, Some(0), "{}", abort.out);
    assert!(
        abort
            .out
            .contains("Abort because a postgres instance already exists"),
        "{}",
        abort.out
    );
    assert!(
        recap(&abort.out).values().all(|r| r.changed == 0),
        "{}",
        abort.out
    );

    // a wipe needs both pg_exists_action=clean and pg_disable_purge=false (the sandbox says
    // true): with purging disabled, clean aborts like abort
    let refused = pgsql(
        &sb,
        &inventory,
        &["-l", &n3, "-e", "pg_exists_action=clean"],
    );
    assert_ne!(refused.code, Some(0), "{}", refused.out);
    assert!(
        refused
            .out
            .contains("pg_exists_action=clean but pg_disable_purge=true"),
        "{}",
        refused.out
    );
    let marker = "touch /pg/data/drover-wipe-marker";
    sh(&sb, "node-3", marker);
    let wipe = pgsql(
        &sb,
        &inventory,
        &[
            "-l",
            &n3,
            "-e",
            "pg_exists_action=clean",
            "-e",
            "pg_disable_purge=false",
        ],
    );
    wipe.ok("pg_exists_action=clean on the replica pg-test-3", 1);
    let purge = wipe
        .out
        .split("TASK [postgres : Purge the existing postgres (pg_exists_action=clean)]")
        .nth(1)
        .and_then(|rest| rest.split("TASK [").next())
        .unwrap_or_default();
    assert!(
        purge.contains("changed: ["),
        "the purge did not run:\n{}",
        wipe.out
    );
    assert_eq!(
        sh(
            &sb,
            "node-3",
            "ls /pg/data/drover-wipe-marker 2>/dev/null || echo gone"
        )
        .trim(),
        "gone"
    );
    eventually(
        "the wiped replica streams again with the cluster's data",
        || {
            output_is(
                &sb,
                "node-3",
                "su postgres -c \"psql -d test -Atc 'SELECT pg_is_in_recovery(), sum(x) FROM e2e'\"",
                "t|42",
            )
        },
    );

    // 9. static target files instead of consul SD
    let static_run = infra(
        &sb,
        &inventory,
        &["-e", "prometheus_sd_method=static", "-t", "prometheus"],
    );
    static_run.ok("prometheus_sd_method=static", 4);
    let conf = sh(&sb, "meta", "cat /etc/prometheus/prometheus.yml");
    assert!(
        conf.contains("file_sd_configs:") && !conf.contains("consul_sd_configs:"),
        "{conf}"
    );
    eventually("file sd: 16 exporters up with identity labels", || {
        check_targets(&sb, &ids)
    });
    // back to consul SD: static target files hold the inventory's roles, which a failover
    // makes stale; consul's follow the registrations
    let consul_sd = infra(&sb, &inventory, &["-t", "prometheus"]);
    consul_sd.ok("prometheus_sd_method=consul again", 4);
    eventually("consul sd again: 16 exporters up", || {
        check_targets(&sb, &ids)
    });

    // 10. identity follows Patroni without drover: a switchover moves the registration
    // (callbacks), and pg-register.timer corrects a registration that went wrong
    let catalog_role = |node: &str| -> Result<String, String> {
        let out = try_sh(
            &sb,
            "meta",
            "curl -sf http://127.0.0.1:8500/v1/catalog/service/postgres",
        )?;
        let v: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        let entry = v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|e| e["ServiceAddress"] == node || e["Address"] == node)
            })
            .ok_or_else(|| format!("{node} not in the catalog: {out}"))?;
        Ok(format!(
            "{}/{}",
            entry["ServiceMeta"]["role"].as_str().unwrap_or(""),
            entry["ServiceMeta"]["service"].as_str().unwrap_or("")
        ))
    };
    let switched = std::time::Instant::now();
    // Patroni's REST API wants its credentials (/etc/patroni_env.conf); patronictl exits 0
    // even when the switchover is refused, so its words are checked
    let switchover = sh(
        &sb,
        "node-1",
        "set -a; . /etc/patroni_env.conf; set +a; \
         patronictl -c /pg/bin/patroni.yml switchover pg-test --leader pg-test-1 --candidate pg-test-2 --force",
    );
    assert!(
        switchover.contains("Successfully switched over"),
        "{switchover}"
    );
    eventually("the registration follows a switchover", || {
        let (new, old) = (catalog_role(&n2)?, catalog_role(&n1)?);
        if new == "primary/pg-test-primary" && old == "replica/pg-test-replica" {
            Ok(())
        } else {
            Err(format!("node-2 {new}, node-1 {old}"))
        }
    });
    times.push(format!(
        "switchover → catalog moved {:.1}s",
        switched.elapsed().as_secs_f64()
    ));
    eventually("dns follows the switchover", || {
        let got = dig(&sb, &meta, "master.pg-test.service.consul");
        let mut want = vec![meta.clone(), n2.clone()];
        want.sort();
        let primaries = dig(&sb, &meta, "primary.postgres.service.consul");
        if got == vec![n2.clone()] && primaries == want {
            Ok(())
        } else {
            Err(format!(
                "master.pg-test {got:?}, primary.postgres {primaries:?}"
            ))
        }
    });
    let log = sh(&sb, "node-2", "cat /pg/log/callback.log");
    assert!(
        log.contains("on_role_change master: registered as primary"),
        "{log}"
    );
    // a registration gone wrong (a missed callback) is put right by the timer
    let wrong_out = sh(
        &sb,
        "node-3",
        "su postgres -c '/pg/bin/pg-register primary' && systemctl reload consul",
    );
    assert!(wrong_out.contains("[svc-changed]"), "{wrong_out}");
    let wrong = std::time::Instant::now();
    eventually("pg-register.timer restores the live role", || {
        let role = catalog_role(&n3)?;
        if role == "replica/pg-test-replica" {
            Ok(())
        } else {
            Err(format!("node-3 {role}"))
        }
    });
    times.push(format!(
        "anti-entropy fixed a wrong registration in {:.1}s",
        wrong.elapsed().as_secs_f64()
    ));

    // 11. drover knows: after the switchover the inventory says pg-test-1 is primary while
    // pg-test-2 leads. `drover identity` reports the drift (exit 1); `--write` on a copy of the
    // inventory sets the two pg_role scalars and nothing else; then it agrees (exit 0).
    let identity = |inv: &Path, extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("identity")
            .arg("-i")
            .arg(inv)
            .arg("-i")
            .arg(sb.paths().connection_inventory())
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, out) = identity(&inventory, &[]);
    assert_eq!(code, Some(1), "{out}");
    for (host, want) in [(&n1, "replica"), (&n2, "primary")] {
        assert!(
            out.lines().any(|l| l.contains(host.as_str())
                && l.contains(&format!("drift: pg_role should be {want}"))),
            "{out}"
        );
    }
    let copy = inventory.with_file_name("identity-copy.yml");
    std::fs::copy(&inventory, &copy).unwrap();
    let (code, out) = identity(&copy, &["--write"]);
    assert_eq!(code, Some(0), "{out}");
    let (before, after) = (
        std::fs::read_to_string(&inventory).unwrap(),
        std::fs::read_to_string(&copy).unwrap(),
    );
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(before.len(), after.len());
    let (code, out) = identity(&copy, &[]);
    assert_eq!(code, Some(0), "after --write: {out}");

    // 12. the register role never writes the stale inventory role over the live one: it
    // registers the live roles (nothing changes) and warns, naming the host, its live role and
    // where the inventory's pg_role is written
    let register = pgsql(&sb, &inventory, &["-l", "pg-test", "-t", "register"]);
    let changed = register.ok("-t register with the stale inventory", 3);
    assert!(
        changed.values().all(|c| *c == 0),
        "-t register rewrote a registration: {changed:?}\n{}",
        register.out
    );
    for (host, live, stale) in [(&n1, "replica", "primary"), (&n2, "primary", "replica")] {
        let entry = format!("{host}: {{pg_seq: ");
        let (line, text) = before
            .lines()
            .enumerate()
            .find(|(_, l)| l.trim_start().starts_with(&entry))
            .unwrap();
        let col = text.find(&format!("pg_role: {stale}")).unwrap() + "pg_role: ".len() + 1;
        let want = format!(
            "[WARNING] {host} (pg-test-{}) is {live} live (Patroni), but pg_role at {}:{}:{col} says {stale}",
            if host == &n1 { 1 } else { 2 },
            inventory.display(),
            line + 1
        );
        assert!(
            register.out.contains(&want),
            "no warning `{want}`:\n{}",
            register.out
        );
    }
    assert_eq!(catalog_role(&n2).unwrap(), "primary/pg-test-primary");
    assert_eq!(catalog_role(&n1).unwrap(), "replica/pg-test-replica");

    // 13. a switchover back to pg-test-1: the registration follows again, and the inventory
    // agrees with the cluster (identity exit 0)
    let back = sh(
        &sb,
        "node-2",
        "set -a; . /etc/patroni_env.conf; set +a; \
         patronictl -c /pg/bin/patroni.yml switchover pg-test --leader pg-test-2 --candidate pg-test-1 --force",
    );
    assert!(back.contains("Successfully switched over"), "{back}");
    eventually("the registration follows the switchover back", || {
        let (new, old) = (catalog_role(&n1)?, catalog_role(&n2)?);
        if new == "primary/pg-test-primary" && old == "replica/pg-test-replica" {
            Ok(())
        } else {
            Err(format!("node-1 {new}, node-2 {old}"))
        }
    });
    let (code, out) = identity(&inventory, &[]);
    assert_eq!(code, Some(0), "identity after the switchover back: {out}");

    // 14. failover drill (async, the sandbox's tiny.yml): power off node-1 while a client
    // writes through pg-test-primary.service.consul
    let members: Vec<drill::Member> = [("node-1", &n1, 1), ("node-2", &n2, 2), ("node-3", &n3, 3)]
        .into_iter()
        .map(|(node, ip, seq)| drill::Member {
            node: node.into(),
            ip: ip.clone(),
            seq,
        })
        .collect();
    let async_drill = drill::failover(&sb, &members, &members[0]);
    eprintln!("{}", async_drill.summary("async"));
    times.push(async_drill.summary("async"));
    for (what, secs) in [
        ("leader", async_drill.leader),
        ("dns", async_drill.dns),
        ("catalog", async_drill.catalog),
        ("prometheus", async_drill.prometheus),
        ("writes", async_drill.resumed),
    ] {
        assert!(secs <= 60.0, "async drill: {what} took {secs:.1}s (> 60s)");
    }
    let promoted = async_drill.new_primary.clone();
    // drover knows, with node-1 still off: both drifted instances named, exit 1
    let (code, out) = identity(&inventory, &[]);
    assert_eq!(code, Some(1), "{out}");
    for (host, want) in [(&n1, "replica"), (&promoted.ip, "primary")] {
        assert!(
            out.lines().any(|l| l.contains(host.as_str())
                && l.contains(&format!("drift: pg_role should be {want}"))),
            "{out}"
        );
    }
    let after_failover = inventory.with_file_name("after-failover.yml");
    std::fs::copy(&inventory, &after_failover).unwrap();
    let (code, out) = identity(&after_failover, &["--write"]);
    assert_eq!(code, Some(0), "{out}");
    // node-1 comes back as a replica; its registration says so within one timer interval
    let (replica_at, registered) = drill::rejoin(&sb, &members[0], &promoted);
    times.push(format!(
        "node-1 rejoined as a replica {replica_at:.1}s after start, registered as replica {registered:.1}s later"
    ));
    assert!(registered <= 30.0, "registration took {registered:.1}s");
    let (code, out) = identity(&after_failover, &[]);
    assert_eq!(code, Some(0), "identity after the rejoin: {out}");

    // 15. the same drill with pg_conf: crit.yml (Patroni synchronous mode): pg-test is built
    // again from the written inventory (the live primary stays primary), and no acknowledged
    // write is lost
    let crit = inventory.with_file_name("crit.yml");
    let written = std::fs::read_to_string(&after_failover).unwrap();
    assert!(written.contains("pg_conf: tiny.yml"));
    std::fs::write(
        &crit,
        written.replace(
            "        pg_cluster: pg-test\n",
            "        pg_cluster: pg-test\n        pg_conf: crit.yml\n",
        ),
    )
    .unwrap();
    let rebuild = pgsql(
        &sb,
        &crit,
        &[
            "-l",
            "pg-test",
            "-e",
            "pg_exists_action=clean",
            "-e",
            "pg_disable_purge=false",
        ],
    );
    rebuild.ok("pg-test rebuilt with crit.yml", 3);
    times.push(format!(
        "pg-test rebuilt with crit.yml {:.1}s",
        rebuild.secs
    ));
    let config = sh(
        &sb,
        &promoted.node,
        "set -a; . /etc/patroni_env.conf; set +a; patronictl -c /pg/bin/patroni.yml show-config pg-test",
    );
    assert!(config.contains("synchronous_mode: true"), "{config}");
    eventually("a synchronous standby", || {
        let members = patroni_members(&sb, &promoted.node, "pg-test");
        let leader = members.values().filter(|m| m[0] == "Leader").count();
        let sync = members
            .values()
            .filter(|m| m[0] == "Sync Standby" && ["running", "streaming"].contains(&m[1].as_str()))
            .count();
        if leader == 1 && sync == 1 {
            Ok(())
        } else {
            Err(format!("{members:?}"))
        }
    });
    eventually("consul sd: 16 exporters up after the rebuild", || {
        let mut now = ids.clone();
        now.get_mut(&n1).unwrap().2 = "replica".into();
        now.get_mut(&promoted.ip).unwrap().2 = "primary".into();
        check_targets(&sb, &now)
    });
    let sync_drill = drill::failover(&sb, &members, &promoted);
    eprintln!("{}", sync_drill.summary("sync"));
    times.push(sync_drill.summary("sync"));
    assert_eq!(
        sync_drill.lost,
        0,
        "synchronous mode lost acknowledged writes: {}",
        sync_drill.summary("sync")
    );
    for (what, secs) in [
        ("leader", sync_drill.leader),
        ("dns", sync_drill.dns),
        ("catalog", sync_drill.catalog),
        ("prometheus", sync_drill.prometheus),
        ("writes", sync_drill.resumed),
    ] {
        assert!(secs <= 60.0, "sync drill: {what} took {secs:.1}s (> 60s)");
    }
    let (replica_at, registered) = drill::rejoin(&sb, &promoted, &sync_drill.new_primary);
    times.push(format!(
        "{} rejoined (sync) {replica_at:.1}s after start, registered {registered:.1}s later",
        promoted.node
    ));
    assert!(registered <= 30.0, "registration took {registered:.1}s");

    eprintln!("pigsty_pgsql timings: {}", times.join(", "));
}
