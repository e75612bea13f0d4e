#![allow(clippy::unwrap_used)]
//! roles/node_exporter, roles/prometheus and roles/nameserver (with roles/consul and
//! roles/register) on the 4-node Docker sandbox, checked the way a user would: Prometheus's
//! HTTP API (`/api/v1/targets`, curl inside meta), `dig` from a node against dnsmasq on meta,
//! the files under /etc/prometheus, and the daemons' PIDs, all through `docker exec`.
//!
//! 1. A fresh `playbooks/infra.yml` run (prometheus_sd_method: consul, as the inventory says):
//!    Prometheus scrapes every node_exporter (4) through Consul SD, up, labelled with the
//!    identities (cls, ins, ip, role, svc).
//! 2. DNS through dnsmasq on meta: `node-exporter.service.consul` answers the four nodes,
//!    `pg-test-primary.service.consul` the primary, `prometheus.pigsty` (dns_records) meta.
//! 3. A second full run changes nothing and restarts nothing (same PIDs, same config time);
//!    a check run (-C) then predicts no change either.
//! 4. `-e prometheus_sd_method=static`: prometheus.yml switches to file_sd (a reload, not a
//!    restart), the target files have Pigsty's E0 shape, and the same 4 node_exporters are
//!    up with the same labels, now discovered from /etc/prometheus/targets/<cls>.yml.
//! 5. Failover in an inventory copy (pg-test-1 and pg-test-2 swap roles), then
//!    `-t prometheus_targets,prometheus_reload`: one change on meta (pg-test.yml), no other
//!    file under /etc/prometheus touched, no reload; Prometheus shows the new roles. The same
//!    run again changes nothing.
//! 6. A managed target file of a cluster that is not in the inventory is removed; a file the
//!    role did not write stays.
//! 7. A rule file newer than the config Prometheus loaded (a run that failed before its
//!    reload) makes `-t prometheus_reload` reload once; the next one is a no-op.
//! 8. The TSDB survives every run above; `-e prometheus_clean=true` wipes it and Prometheus
//!    comes back with its targets.
//!
//! Needs Docker (with CI=true a missing Docker fails) and the package cache
//! (sandbox/packages/fetch-packages, run here; it does nothing when the cache is current).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use drover_sandbox::testing::TestSandbox;
use serde_json::Value;

mod common;
use common::{eventually as poll, play_infra as play, sh};

/// Polls `check` for up to 45 s (service discovery refreshes every 5 s, scrapes every 5 s).
fn eventually(what: &str, check: impl FnMut() -> Result<(), String>) {
    poll(what, Duration::from_secs(45), check)
}

/// One active target of Prometheus.
#[derive(Debug, Clone)]
struct Target {
    job: String,
    url: String,
    health: String,
    labels: BTreeMap<String, String>,
    discovered: BTreeMap<String, String>,
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /api/v1/targets` on meta.
fn targets(sb: &TestSandbox) -> Result<Vec<Target>, String> {
    let body = sb
        .exec(
            "meta",
            &["curl", "-sf", "http://127.0.0.1:9090/api/v1/targets"],
        )
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    Ok(v["data"]["activeTargets"]
        .as_array()
        .ok_or(format!("no activeTargets: {body}"))?
        .iter()
        .map(|t| Target {
            job: t["scrapePool"].as_str().unwrap_or_default().to_string(),
            url: t["scrapeUrl"].as_str().unwrap_or_default().to_string(),
            health: t["health"].as_str().unwrap_or_default().to_string(),
            labels: string_map(&t["labels"]),
            discovered: string_map(&t["discoveredLabels"]),
        })
        .collect())
}

/// The identity of each sandbox node: address → (cls, seq, role).
type Identities = BTreeMap<String, (String, u32, String)>;

fn identities(sb: &TestSandbox, primary_of_pg_test: u32) -> Identities {
    sb.nodes()
        .iter()
        .map(|n| {
            let id = if n.spec.hostname == "meta" {
                ("pg-meta".to_string(), 1, "primary".to_string())
            } else {
                let seq: u32 = n.spec.hostname.trim_start_matches("node-").parse().unwrap();
                let role = if seq == primary_of_pg_test {
                    "primary"
                } else {
                    "replica"
                };
                ("pg-test".to_string(), seq, role.to_string())
            };
            (n.spec.address.to_string(), id)
        })
        .collect()
}

/// Checks that job `pg` scrapes every node's node_exporter, up, with the identity labels;
/// `source` checks how each target was discovered. Returns the node_exporter targets.
fn check_node_exporters(
    sb: &TestSandbox,
    ids: &Identities,
    source: impl Fn(&Target) -> Result<(), String>,
) -> Result<Vec<Target>, String> {
    let all = targets(sb)?;
    let mut found = Vec::new();
    for (ip, (cls, seq, role)) in ids {
        let url = format!("http://{ip}:9100/metrics");
        let t = all
            .iter()
            .find(|t| t.job == "pg" && t.url == url)
            .ok_or(format!("no target {url} in job pg"))?;
        if t.health != "up" {
            return Err(format!("{url} is {}", t.health));
        }
        let want: BTreeMap<String, String> = [
            ("cls", cls.clone()),
            ("ins", format!("{cls}-{seq}")),
            ("ip", ip.clone()),
            ("role", role.clone()),
            ("svc", format!("{cls}-{role}")),
            ("instance", format!("{ip}:9100")),
            ("job", "pg".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if t.labels != want {
            return Err(format!("{url}: labels {:?} != {want:?}", t.labels));
        }
        source(t)?;
        found.push(t.clone());
    }
    Ok(found)
}

/// `sha256 mtime path` of every file under /etc/prometheus.
fn prometheus_files(sb: &TestSandbox) -> BTreeMap<String, String> {
    sh(
        sb,
        "meta",
        "find /etc/prometheus -type f | sort | while read -r f; do \
         echo \"$f $(stat -c %Y \"$f\") $(sha256sum < \"$f\" | cut -c1-64)\"; done",
    )
    .lines()
    .map(|l| {
        let (path, rest) = l.split_once(' ').unwrap();
        (path.to_string(), rest.to_string())
    })
    .collect()
}

/// PIDs of prometheus and dnsmasq on meta and node_exporter everywhere, and Prometheus's
/// last config load time.
fn daemons(sb: &TestSandbox) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for n in ["meta", "node-1", "node-2", "node-3"] {
        let pid = sh(
            sb,
            n,
            "systemctl show prometheus-node-exporter -p MainPID --value",
        );
        m.insert(format!("{n} node_exporter"), pid.trim().to_string());
    }
    for unit in ["prometheus", "dnsmasq"] {
        let pid = sh(
            sb,
            "meta",
            &format!("systemctl show {unit} -p MainPID --value"),
        );
        m.insert(format!("meta {unit}"), pid.trim().to_string());
    }
    m.insert("meta prometheus config".into(), last_config_time(sb));
    for (k, v) in &m {
        assert!(!v.is_empty() && v != "0", "{k}: not running ({v:?})");
    }
    m
}

/// `lastConfigTime` of `/api/v1/status/runtimeinfo` (changes on every (re)load).
fn last_config_time(sb: &TestSandbox) -> String {
    let body = sh(
        sb,
        "meta",
        "curl -sf http://127.0.0.1:9090/api/v1/status/runtimeinfo",
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["data"]["reloadConfigSuccess"],
        Value::Bool(true),
        "{body}"
    );
    v["data"]["lastConfigTime"].as_str().unwrap().to_string()
}

/// `dig +short` from node-1 against dnsmasq on meta, answers sorted. Consul answers healthy
/// instances only: right after a run, a check may not have passed yet (callers poll).
fn dig(sb: &TestSandbox, meta: &str, name: &str) -> Vec<String> {
    let out = sh(
        sb,
        "node-1",
        &format!("dig +short +time=2 +tries=2 @{meta} {name}"),
    );
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// The bytes of /etc/prometheus/targets/<cls>.yml on meta (trailing newlines included).
fn target_file(sb: &TestSandbox, cls: &str) -> String {
    let out = sh(
        sb,
        "meta",
        &format!("cat /etc/prometheus/targets/{cls}.yml && echo ."),
    );
    out.strip_suffix('.').unwrap_or(&out).to_string()
}

/// The E0 target file of pg-test for the identities (only node_exporter enabled besides
/// pg_exporter, as in inventory/sandbox.yml).
fn pg_test_file(ids: &Identities) -> String {
    let mut s = String::from(
        "# managed by drover (roles/prometheus, tag prometheus_targets): cluster pg-test\n",
    );
    let mut members: Vec<(&String, &(String, u32, String))> =
        ids.iter().filter(|(_, id)| id.0 == "pg-test").collect();
    members.sort_by_key(|(_, id)| id.1);
    for (ip, (cls, seq, role)) in members {
        s.push_str(&format!(
            "\n#======> {cls}-{seq} [{role}] @ {ip}\n\
             - labels: {{cls: {cls}, ins: {cls}-{seq}, ip: {ip}, role: {role}, svc: {cls}-{role}}}\n  \
             targets: [{ip}:9630, {ip}:9100]\n"
        ));
    }
    s
}

#[test]
fn prometheus_discovery_dns_and_failover() {
    let Some(sb) = common::pigsty_sandbox("pigsty_prometheus", "prom-e2e") else {
        return;
    };
    let inventory = sb.paths().inventory();
    let meta = sb.node("meta").unwrap().spec.address.to_string();
    let ids = identities(&sb, 1);
    let mut times = Vec::new();

    // 1. fresh run, Consul SD
    let first = play(&sb, &inventory, &[]);
    first.ok("first run", 4);
    times.push(format!("first run {:.1}s", first.secs));
    let conf = sh(&sb, "meta", "cat /etc/prometheus/prometheus.yml");
    assert!(
        conf.contains("consul_sd_configs:") && !conf.contains("file_sd_configs:"),
        "{conf}"
    );
    eventually("consul sd: node_exporters up with identity labels", || {
        check_node_exporters(&sb, &ids, |t| {
            match t
                .discovered
                .get("__meta_consul_service")
                .map(String::as_str)
            {
                Some("node-exporter") => Ok(()),
                other => Err(format!("{}: consul service {other:?}", t.url)),
            }
        })
        .map(|_| ())
    });

    // 2. DNS through dnsmasq on meta
    let all: Vec<String> = ids.keys().cloned().collect();
    eventually("dns: node-exporter.service.consul", || {
        let got = dig(&sb, &meta, "node-exporter.service.consul");
        (got == all)
            .then_some(())
            .ok_or(format!("{got:?} != {all:?}"))
    });
    let primary = sb.node("node-1").unwrap().spec.address.to_string();
    assert_eq!(
        dig(&sb, &meta, "pg-test-primary.service.consul"),
        vec![primary.clone()]
    );
    assert_eq!(dig(&sb, &meta, "prometheus.pigsty"), vec![meta.clone()]);

    // 3. second run: nothing changes, nothing restarts, the TSDB stays; check mode predicts
    //    nothing
    let marker = "/export/prometheus/data/drover-test-marker";
    sh(&sb, "meta", &format!("touch {marker}"));
    let before = daemons(&sb);
    let second = play(&sb, &inventory, &[]);
    let changed = second.ok("second run", 4);
    assert!(
        changed.values().all(|c| *c == 0),
        "second run changed {changed:?}:\n{}",
        second.out
    );
    times.push(format!("second run {:.1}s", second.secs));
    assert_eq!(daemons(&sb), before, "second run restarted or reloaded");
    assert_eq!(sh(&sb, "meta", &format!("ls {marker}")), marker);
    let check = play(&sb, &inventory, &["-C"]);
    let changed = check.ok("check run", 4);
    assert!(
        changed.values().all(|c| *c == 0),
        "check run predicts {changed:?}:\n{}",
        check.out
    );

    // 4. static discovery: a reload (same PID, new config time), files of Pigsty's shape
    let static_run = play(&sb, &inventory, &["-e", "prometheus_sd_method=static"]);
    let changed = static_run.ok("static run", 4);
    times.push(format!("switch to static {:.1}s", static_run.secs));
    assert_eq!(changed[&meta], 2, "config + reload:\n{}", static_run.out);
    let after = daemons(&sb);
    assert_eq!(
        after["meta prometheus"], before["meta prometheus"],
        "restarted"
    );
    assert_ne!(
        after["meta prometheus config"], before["meta prometheus config"],
        "not reloaded"
    );
    let conf = sh(&sb, "meta", "cat /etc/prometheus/prometheus.yml");
    assert!(
        conf.contains("file_sd_configs:") && !conf.contains("consul_sd_configs:"),
        "{conf}"
    );
    assert_eq!(target_file(&sb, "pg-test"), pg_test_file(&ids));
    eventually("file sd: node_exporters up with identity labels", || {
        check_node_exporters(&sb, &ids, |t| {
            let want = format!("/etc/prometheus/targets/{}.yml", t.labels["cls"]);
            match t.discovered.get("__meta_filepath") {
                Some(f) if *f == want => Ok(()),
                other => Err(format!("{}: from {other:?}, want {want}", t.url)),
            }
        })
        .map(|_| ())
    });
    // pg_exporter is always listed (Pigsty E0); the sandbox runs none
    let pg_exporters = targets(&sb)
        .unwrap()
        .into_iter()
        .filter(|t| t.job == "pg" && t.url.contains(":9630/"))
        .count();
    assert_eq!(pg_exporters, 4);

    // 5. failover in the inventory, then only the targets
    let text = std::fs::read_to_string(&inventory).unwrap();
    let node2 = sb.node("node-2").unwrap().spec.address.to_string();
    let swapped = text
        .replace(
            &format!("{primary}: {{pg_seq: 1, pg_role: primary}}"),
            &format!("{primary}: {{pg_seq: 1, pg_role: replica}}"),
        )
        .replace(
            &format!("{node2}: {{pg_seq: 2, pg_role: replica}}"),
            &format!("{node2}: {{pg_seq: 2, pg_role: primary}}"),
        );
    assert_ne!(swapped, text, "failover edit did not apply");
    let dir = tempfile::tempdir().unwrap();
    let failover = dir.path().join("inventory.yml");
    std::fs::write(&failover, swapped).unwrap();
    let files = prometheus_files(&sb);
    let config_time = last_config_time(&sb);
    std::thread::sleep(Duration::from_millis(1100)); // mtimes are in seconds
    let args = [
        "-t",
        "prometheus_targets,prometheus_reload",
        "-e",
        "prometheus_sd_method=static",
    ];
    let fo = play(&sb, &failover, &args);
    let changed = fo.ok("failover targets", 4);
    times.push(format!(
        "failover -t prometheus_targets,prometheus_reload {:.2}s",
        fo.secs
    ));
    let want: BTreeMap<String, u32> = ids
        .keys()
        .map(|h| (h.clone(), u32::from(*h == meta)))
        .collect();
    assert_eq!(changed, want, "{}", fo.out);
    let changed_lines: Vec<&str> = fo
        .out
        .lines()
        .filter(|l| l.starts_with("changed:"))
        .collect();
    assert_eq!(
        changed_lines,
        vec![format!("changed: [{meta}] => (item=pg-test)").as_str()],
        "{}",
        fo.out
    );
    let now = prometheus_files(&sb);
    let differ: Vec<&String> = now
        .keys()
        .chain(files.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| now.get(*k) != files.get(*k))
        .collect();
    assert_eq!(
        differ,
        vec!["/etc/prometheus/targets/pg-test.yml"],
        "{files:#?}\n{now:#?}"
    );
    assert_eq!(
        last_config_time(&sb),
        config_time,
        "reloaded for a target file"
    );
    let fo_ids = identities(&sb, 2);
    assert_eq!(target_file(&sb, "pg-test"), pg_test_file(&fo_ids));
    eventually("failover: new role labels", || {
        check_node_exporters(&sb, &fo_ids, |_| Ok(())).map(|_| ())
    });
    let again = play(&sb, &failover, &args);
    let changed = again.ok("failover targets again", 4);
    assert!(changed.values().all(|c| *c == 0), "{}", again.out);

    // 6. stale files: only managed files of clusters gone from the inventory are removed
    sh(
        &sb,
        "meta",
        "cd /etc/prometheus/targets && \
         printf '# managed by drover (roles/prometheus, tag prometheus_targets): cluster pg-old\\n' > pg-old.yml && \
         printf '# written by hand\\n' > custom.yml",
    );
    let clean = play(&sb, &failover, &args);
    let changed = clean.ok("stale target files", 4);
    assert_eq!(changed[&meta], 1, "{}", clean.out);
    assert_eq!(
        sh(&sb, "meta", "ls /etc/prometheus/targets"),
        "custom.yml\npg-meta.yml\npg-test.yml"
    );

    // 7. a rule file newer than the loaded config (as after a run that failed before its
    //    reload): `-t prometheus_reload` reloads once, then is a no-op
    let config_time = last_config_time(&sb);
    std::thread::sleep(Duration::from_millis(1100));
    sh(&sb, "meta", "touch /etc/prometheus/rules/node-rules.yml");
    let reload = play(&sb, &failover, &["-t", "prometheus_reload"]);
    let changed = reload.ok("pending reload", 4);
    assert_eq!(changed[&meta], 1, "{}", reload.out);
    assert_ne!(last_config_time(&sb), config_time, "not reloaded");
    let again = play(&sb, &failover, &["-t", "prometheus_reload"]);
    let changed = again.ok("reload again", 4);
    assert_eq!(changed[&meta], 0, "{}", again.out);

    // 8. the TSDB survived every run above; only prometheus_clean=true wipes it
    assert_eq!(sh(&sb, "meta", &format!("ls {marker}")), marker);
    let clean = play(
        &sb,
        &failover,
        &[
            "-t",
            "prometheus",
            "-e",
            "prometheus_clean=true",
            "-e",
            "prometheus_sd_method=static",
        ],
    );
    clean.ok("prometheus_clean=true", 4);
    assert_eq!(
        sh(
            &sb,
            "meta",
            &format!("ls {marker} 2>&1; systemctl is-active prometheus")
        ),
        format!("ls: cannot access '{marker}': No such file or directory\nactive")
    );
    eventually("after prometheus_clean: node_exporters up", || {
        check_node_exporters(&sb, &fo_ids, |_| Ok(())).map(|_| ())
    });

    eprintln!("pigsty_prometheus timings: {}", times.join(", "));
}
