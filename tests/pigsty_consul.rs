#![allow(clippy::unwrap_used)]
//! roles/consul and roles/register on the 4-node Docker sandbox, checked the way a user
//! would: `consul members`, the Consul catalog (HTTP API on 127.0.0.1:8500 inside meta), the
//! files under /etc/consul.d and the agents' PIDs, all through `docker exec`.
//!
//! 1. A fresh `playbooks/infra.yml` run with `consul_secure=false` converges to today's open
//!    cluster; the default run after it moves the running cluster to gossip encryption
//!    (staged rollout) keeping a KV key, with each leader loss one election long. Then: 4 alive
//!    members named by Pigsty's rule (meta-1, pg-test-1..3), exactly one server, a leader.
//! 2. The catalog holds every service with the inventory's identities as tags and meta.
//! 3. A second full run changes nothing on any host and restarts no agent.
//!    `-e consul_rotate_gossip_key=true` rotates the key without restarting an agent; a rogue
//!    container on the sandbox network cannot join the pool (no key, or a wrong one); no key
//!    appears in any output (human, `-vvv -D`, JSON) nor in any controller file.
//! 4. A failover in the inventory (pg-test-1 and pg-test-2 swap roles) then `-t register`
//!    changes the two affected nodes only (as `-C` predicts), reloads Consul once on each of
//!    them and the catalog follows; a second `-t register` changes nothing.
//! 5. `/pg/bin/pg-register` rewrites the role like the role does (and fixes upstream's bugs).
//! 6. A bad configuration fails validation and leaves the running agents untouched;
//!    `dcs_exists_action=abort` on a running Consul stops with a clear message.
//! 7. Two more servers in `dcs_servers` are rolled in one at a time (each a voter before the
//!    next), then leave one at a time when removed again; the Consul data is kept throughout.
//! 8. With a postgres user on a node, its files are consul:postgres 0660 and pg-register run
//!    as postgres rewrites them in place.
//!
//! Needs Docker (with CI=true a missing Docker fails) and the package cache
//! (sandbox/packages/fetch-packages, run here; it does nothing when the cache is current).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use drover_sandbox::testing::TestSandbox;
use serde_json::Value;

mod common;
use common::{eventually as poll, gossip_encrypted, play_infra as play, recap};

/// Polls until `check` holds on the catalog (agents push to the catalog asynchronously).
fn eventually(what: &str, check: impl FnMut() -> Result<(), String>) {
    poll(what, Duration::from_secs(30), check)
}

/// Runs a shell script inside a node's container (as root); its stdout (lines ending in a
/// newline), or a panic with the error and the script's output.
fn sh(sb: &TestSandbox, node: &str, script: &str) -> String {
    let out = sb
        .exec(node, &["sh", "-c", script])
        .unwrap_or_else(|e| panic!("{node}: `{script}` failed: {e}"));
    let out = out.trim_end();
    if out.is_empty() {
        String::new()
    } else {
        format!("{out}\n")
    }
}

/// The consul agent's main PID on every node.
fn consul_pids(sb: &TestSandbox) -> BTreeMap<String, String> {
    ["meta", "node-1", "node-2", "node-3"]
        .iter()
        .map(|n| {
            let pid = sh(sb, n, "systemctl show consul -p MainPID --value");
            let pid = pid.trim().to_string();
            assert!(pid != "0" && !pid.is_empty(), "{n}: consul not running");
            (n.to_string(), pid)
        })
        .collect()
}

/// `GET /v1/catalog/service/<name>` on meta: node name → (tags, meta).
fn catalog(sb: &TestSandbox, service: &str) -> BTreeMap<String, (Vec<String>, Value)> {
    let body = sh(
        sb,
        "meta",
        &format!("curl -sf http://127.0.0.1:8500/v1/catalog/service/{service}"),
    );
    let entries: Vec<Value> =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("catalog {service}: {e}: {body}"));
    entries
        .iter()
        .map(|e| {
            let tags = e["ServiceTags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            (
                e["Node"].as_str().unwrap().to_string(),
                (tags, e["ServiceMeta"].clone()),
            )
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The E0 postgres-side meta of an instance.
fn pg_meta(kind: &str, cluster: &str, seq: u32, role: &str) -> Value {
    serde_json::json!({
        "type": kind, "role": role, "seq": seq.to_string(),
        "instance": format!("{cluster}-{seq}"), "service": format!("{cluster}-{role}"),
        "cluster": cluster, "version": "15",
    })
}

/// Checks the postgres, node-exporter and cluster-role services against identities
/// (consul node name, cluster, seq, role).
fn check_identities(sb: &TestSandbox, ids: &[(&str, &str, u32, &str)]) -> Result<(), String> {
    let postgres = catalog(sb, "postgres");
    let exporter = catalog(sb, "node-exporter");
    let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (node, cls, seq, role) in ids {
        let want = (strings(&[role, cls]), pg_meta("postgres", cls, *seq, role));
        let got = postgres.get(*node).ok_or(format!("postgres: no {node}"))?;
        if *got != want {
            return Err(format!("postgres on {node}: {got:?} != {want:?}"));
        }
        let mut meta = pg_meta("exporter", cls, *seq, role);
        meta.as_object_mut().unwrap().remove("version");
        let want = (strings(&["pg", "exporter", "node-exporter"]), meta);
        let got = exporter
            .get(*node)
            .ok_or(format!("node-exporter: no {node}"))?;
        if *got != want {
            return Err(format!("node-exporter on {node}: {got:?} != {want:?}"));
        }
        roles
            .entry(format!("{cls}-{role}"))
            .or_default()
            .insert(node.to_string());
    }
    for (svc, nodes) in &roles {
        let entries = catalog(sb, svc);
        let got: BTreeSet<String> = entries.keys().cloned().collect();
        if got != *nodes {
            return Err(format!("{svc} on {got:?}, want {nodes:?}"));
        }
        for (node, (tags, meta)) in &entries {
            let (cls, role) = svc.rsplit_once('-').unwrap();
            if *tags != strings(&[svc, cls, role]) || meta["service"] != svc.as_str() {
                return Err(format!("{svc} on {node}: {tags:?} {meta}"));
            }
        }
    }
    Ok(())
}

/// The hosts a handler ran on (the lines under its RUNNING HANDLER banner).
fn handler_hosts(out: &str, handler: &str) -> Vec<String> {
    let banner = format!("RUNNING HANDLER [{handler}]");
    let Some(after) = out.split(&banner).nth(1) else {
        return Vec::new();
    };
    after
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let host = l.split('[').nth(1)?.split(']').next()?;
            Some(format!("{}:{host}", l.split(':').next()?))
        })
        .collect()
}

#[test]
fn consul_cluster_and_service_registration() {
    let Some(sb) = common::pigsty_sandbox("pigsty_consul", "consul-e2e") else {
        return;
    };
    let inventory = sb.paths().inventory();
    let ip: Vec<String> = sb
        .nodes()
        .iter()
        .map(|n| n.spec.address.to_string())
        .collect();
    let (meta, n1, n2, n3) = (&ip[0], &ip[1], &ip[2], &ip[3]);

    // 1. fresh run, open as before consul_secure, then moved over to gossip encryption
    let open = play(&sb, &inventory, &["-e", "consul_secure=false"]);
    open.ok("open cluster", 4);
    for node in NODES {
        assert_eq!(gossip_encrypted(&sb, node), "false", "{node}");
    }
    let [upgrade_check, first] = gossip_upgrade(&sb, &inventory);
    assert_eq!(first.code, Some(0), "first run:\n{}", first.out);
    let r = recap(&first.out);
    assert_eq!(r.len(), 4, "recap:\n{}", first.out);
    for (host, r) in &r {
        assert_eq!((r.failed, r.unreachable), (0, 0), "{host}:\n{}", first.out);
    }
    eprintln!("first run: {:.1}s", first.secs);
    // ACLs are not turned on under a live cluster made without them: it stays open, and the
    // run says so (moving it over is not done yet); no node gets an acl.json or tokens
    assert!(
        first.out.contains("runs without ACLs"),
        "no word that the cluster stays without ACLs:\n{}",
        first.out
    );
    for node in NODES {
        assert_eq!(
            sh(
                &sb,
                node,
                "ls /etc/consul.d/acl.json /var/lib/consul-acl 2>/dev/null | wc -l"
            )
            .trim(),
            "0",
            "{node}: ACL files on an open cluster"
        );
    }

    let members = sh(&sb, "meta", "consul members");
    eprintln!("{members}");
    let rows: Vec<Vec<&str>> = members
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: BTreeSet<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(
        names,
        BTreeSet::from(["meta-1", "pg-test-1", "pg-test-2", "pg-test-3"]),
        "{members}"
    );
    assert!(rows.iter().all(|r| r[2] == "alive"), "{members}");
    let servers: Vec<&str> = rows
        .iter()
        .filter(|r| r[3] == "server")
        .map(|r| r[0])
        .collect();
    assert_eq!(servers, ["meta-1"], "{members}");
    let peers = sh(&sb, "node-3", "consul operator raft list-peers");
    assert!(
        peers.lines().any(|l| l.starts_with("meta-1 ")
            && l.contains(&format!("{meta}:8300"))
            && l.contains("leader")
            && l.contains("true")),
        "{peers}"
    );
    let files = sh(
        &sb,
        "node-1",
        "stat -c '%n %U %a' /etc/consul.d/consul.json /etc/consul.d/svc-postgres.json /var/lib/consul; \
         test ! -e /etc/consul.d/consul-server.json && echo agent-only",
    );
    assert_eq!(
        files,
        "/etc/consul.d/consul.json consul 644\n/etc/consul.d/svc-postgres.json consul 660\n\
         /var/lib/consul consul 700\nagent-only\n"
    );
    let conf: Value =
        serde_json::from_str(&sh(&sb, "node-2", "cat /etc/consul.d/consul.json")).unwrap();
    assert_eq!(
        conf,
        serde_json::json!({"datacenter": "pigsty", "node_name": "pg-test-2", "bind_addr": n2,
            "retry_join": [meta], "data_dir": "/var/lib/consul", "log_level": "INFO",
            "enable_local_script_checks": true})
    );
    let server: Value =
        serde_json::from_str(&sh(&sb, "meta", "cat /etc/consul.d/consul-server.json")).unwrap();
    assert_eq!(
        server,
        serde_json::json!({"ui": true, "server": true, "bootstrap_expect": 1})
    );

    // 2. the catalog holds the inventory's identities
    let ids = [
        ("meta-1", "pg-meta", 1, "primary"),
        ("pg-test-1", "pg-test", 1, "primary"),
        ("pg-test-2", "pg-test", 2, "replica"),
        ("pg-test-3", "pg-test", 3, "replica"),
    ];
    eventually("catalog after the first run", || {
        check_identities(&sb, &ids)
    });
    for svc in ["pgbouncer", "patroni"] {
        let nodes: BTreeSet<String> = catalog(&sb, svc).keys().cloned().collect();
        assert_eq!(nodes.len(), 4, "{svc}: {nodes:?}");
    }
    let pgbouncer = catalog(&sb, "pgbouncer");
    assert_eq!(
        pgbouncer["pg-test-3"],
        (
            strings(&["replica", "pg-test"]),
            pg_meta("pgbouncer", "pg-test", 3, "replica")
        )
    );
    // the sandbox inventory switches these off (nothing to export there): not registered
    for svc in ["pg-exporter", "pgbouncer-exporter", "haproxy"] {
        assert!(catalog(&sb, svc).is_empty(), "{svc} is registered");
    }
    for (svc, tags) in [
        ("prometheus", vec!["meta", "exporter"]),
        ("dnsmasq", vec!["meta"]),
    ] {
        let entries = catalog(&sb, svc);
        assert_eq!(entries.keys().collect::<Vec<_>>(), ["meta-1"], "{svc}");
        assert_eq!(entries["meta-1"].0, strings(&tags), "{svc}");
        assert_eq!(
            entries["meta-1"].1,
            serde_json::json!({"type": svc}),
            "{svc}"
        );
    }
    eprintln!(
        "catalog pg-test-primary: {}",
        sh(
            &sb,
            "meta",
            "curl -s http://127.0.0.1:8500/v1/catalog/service/pg-test-primary"
        )
    );

    // 3. the rerun changes nothing and restarts nothing
    let pids = consul_pids(&sb);
    let second = play(&sb, &inventory, &[]);
    assert_eq!(second.code, Some(0), "rerun:\n{}", second.out);
    let r = recap(&second.out);
    assert_eq!(r.len(), 4, "recap:\n{}", second.out);
    for (host, r) in &r {
        assert_eq!(r.changed, 0, "{host} changed on the rerun:\n{}", second.out);
    }
    assert!(!second.out.contains("RUNNING HANDLER"), "{}", second.out);
    assert_eq!(consul_pids(&sb), pids, "consul restarted on the rerun");
    eprintln!("rerun: {:.1}s", second.secs);
    let key = gossip_key(&sb);
    let rotated = gossip_rotation(&sb, &inventory, &pids);
    let new_key = gossip_key(&sb);
    assert_ne!(key, new_key);
    rogue_cannot_join(&sb, &new_key);
    let json = play(&sb, &inventory, &["--output", "json", "-vvv", "-D"]);
    assert_eq!(json.code, Some(0), "{}", json.out);
    // a consul_gossip_key that is not the key in use is refused, with the reason shown
    let other = "dGhpcyBpcyBub3QgdGhlIGtleSBvZiB0aGUgY2x1c3Q=";
    let refused = play(
        &sb,
        &inventory,
        &["-e", &format!("consul_gossip_key={other}"), "-vvv"],
    );
    refused.refused(
        "a consul_gossip_key not in use",
        "consul_gossip_key is not the key in use on",
    );
    assert!(
        refused.out.contains("consul_rotate_gossip_key=true"),
        "{}",
        refused.out
    );
    assert_eq!(gossip_key(&sb), new_key, "a refused key changed the files");
    let outputs = [
        &upgrade_check.out,
        &first.out,
        &second.out,
        &rotated.out,
        &json.out,
        &refused.out,
    ];
    // nor any key-shaped string (the -C run before the rollout made a key of its own), nor
    // the key given on the command line of the refused run
    let shaped = regex::Regex::new(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=").unwrap();
    for out in outputs {
        let found: Vec<&str> = shaped.find_iter(out).map(|m| m.as_str()).collect();
        assert!(
            found.is_empty(),
            "key-shaped strings in the output: {found:?}\n{out}"
        );
    }
    let other = other.to_string();
    for secret in [&key, &new_key, &other] {
        for out in outputs {
            assert!(
                !out.contains(secret.as_str()),
                "a gossip key in the output:\n{out}"
            );
        }
        let found = common::files_containing(&common::controller_dirs(&sb), secret);
        assert!(
            found.is_empty(),
            "a gossip key in controller files: {found:?}"
        );
    }

    // 4. failover: pg-test-1 and pg-test-2 swap roles in the inventory
    let text = std::fs::read_to_string(&inventory).unwrap();
    let swapped = text
        .replace(
            &format!("{n1}: {{pg_seq: 1, pg_role: primary}}"),
            &format!("{n1}: {{pg_seq: 1, pg_role: replica}}"),
        )
        .replace(
            &format!("{n2}: {{pg_seq: 2, pg_role: replica}}"),
            &format!("{n2}: {{pg_seq: 2, pg_role: primary}}"),
        );
    assert_ne!(swapped, text, "the inventory's pg-test hosts changed shape");
    let failover = inventory.with_file_name("failover.yml");
    std::fs::write(&failover, swapped).unwrap();
    let check = play(&sb, &failover, &["-t", "register", "-C"]);
    assert_eq!(check.code, Some(0), "failover -C:\n{}", check.out);
    let run = play(&sb, &failover, &["-t", "register"]);
    assert_eq!(run.code, Some(0), "failover:\n{}", run.out);
    let r = recap(&run.out);
    assert_eq!(
        recap(&check.out),
        r,
        "check mode mispredicted:\n{}",
        check.out
    );
    assert!(r[n1].changed > 0 && r[n2].changed > 0, "{}", run.out);
    assert_eq!((r[meta].changed, r[n3].changed), (0, 0), "{}", run.out);
    let mut reloaded = handler_hosts(&run.out, "register : reload consul");
    reloaded.sort();
    let mut want = vec![format!("changed:{n1}"), format!("changed:{n2}")];
    want.sort();
    assert_eq!(reloaded, want, "{}", run.out);
    let failed_over = [
        ("meta-1", "pg-meta", 1, "primary"),
        ("pg-test-1", "pg-test", 1, "replica"),
        ("pg-test-2", "pg-test", 2, "primary"),
        ("pg-test-3", "pg-test", 3, "replica"),
    ];
    eventually("catalog after the failover", || {
        check_identities(&sb, &failed_over)
    });
    assert_eq!(
        sh(&sb, "node-1", "ls /etc/consul.d | grep -- '-test-' || true"),
        "svc-pg-test-replica.json\n"
    );
    assert_eq!(consul_pids(&sb), pids, "consul restarted by -t register");
    let again = play(&sb, &failover, &["-t", "register"]);
    assert_eq!(again.code, Some(0), "{}", again.out);
    assert!(
        recap(&again.out).values().all(|r| r.changed == 0),
        "{}",
        again.out
    );

    // 5. pg-register: pg-test-1 is promoted again by Patroni's callback; the files it
    // writes are those the role renders for the original inventory.
    let out = sh(
        &sb,
        "node-1",
        "/pg/bin/pg-register primary && consul reload",
    );
    assert!(
        out.contains("[svc-changed] /etc/consul.d/svc-pg-test-primary.json (was /etc/consul.d/svc-pg-test-replica.json)")
            && out.contains("[svc-changed] /etc/consul.d/svc-postgres.json")
            && out.contains("[svc-changed] /etc/consul.d/svc-node-exporter.json"),
        "{out}"
    );
    let back = play(&sb, &inventory, &["-t", "register"]);
    assert_eq!(back.code, Some(0), "{}", back.out);
    let r = recap(&back.out);
    assert_eq!(
        r[n1].changed, 0,
        "pg-register differs from the role:\n{}",
        back.out
    );
    assert!(r[n2].changed > 0, "{}", back.out);
    eventually("catalog after pg-register", || check_identities(&sb, &ids));
    // upstream's bugs: cluster names with role words, odd and unreadable files, offline; and
    // haproxy's cluster services (meta.type service, roles/service) are left alone
    let script = r#"set -e
d=$(mktemp -d)
cat > $d/svc-pg-replica-primary.json <<'EOF'
{
    "service": {
        "name": "pg-replica-primary",
        "port": 5432,
        "tags": ["pg-replica-primary", "pg-replica", "primary"],
        "meta": {"type": "postgres", "service": "pg-replica-primary", "cluster": "pg-replica", "note": "primary-ish"}
    }
}
EOF
echo '{"checks": []}' > $d/svc-odd.json
echo '{"service": {"name": "prometheus", "port": 9090, "tags": ["meta", "exporter"], "meta": {"type": "prometheus"}}}' > $d/svc-prometheus.json
echo 'not json' > $d/svc-broken.json
echo '{"service": {"name": "pg-test-replica", "port": 5434, "tags": ["pg-test-replica", "pg-test", "replica"], "meta": {"type": "service", "service": "pg-test-replica", "cluster": "pg-test"}}}' > $d/svc-pg-test-replica.json
cp /etc/consul.d/svc-postgres.json $d/
/pg/bin/pg-register offline $d | sed "s|$d/||g"
ls $d
cat $d/svc-pg-replica-offline.json
grep -c '"offline"' $d/svc-postgres.json
set +e
/pg/bin/pg-register >/dev/null 2>&1; echo "no role: $?"
/pg/bin/pg-register master $d >/dev/null 2>&1; echo "bad role: $?"
/pg/bin/pg-register unknown $d; echo "unknown: $?"
rm -rf $d"#;
    let out = sh(&sb, "node-3", script);
    assert_eq!(
        out,
        r#"[svc-skipped] svc-broken.json: not a JSON object
[svc-skipped] svc-odd.json: not a service definition (no service.name)
[svc-changed] svc-pg-replica-offline.json (was svc-pg-replica-primary.json)
[svc-intact] svc-pg-test-replica.json
[svc-changed] svc-postgres.json
[svc-intact] svc-prometheus.json
svc-broken.json
svc-odd.json
svc-pg-replica-offline.json
svc-pg-test-replica.json
svc-postgres.json
svc-prometheus.json
{
    "service": {
        "name": "pg-replica-offline",
        "port": 5432,
        "tags": ["pg-replica-offline", "pg-replica", "offline"],
        "meta": {"type": "postgres", "service": "pg-replica-offline", "cluster": "pg-replica", "note": "primary-ish"}
    }
}
2
no role: 2
bad role: 1
role is unknown: nothing to register
unknown: 0
"#
    );

    // 6. a bad configuration is refused and the running agents keep theirs
    let before = sh(&sb, "node-1", "sha256sum /etc/consul.d/consul.json");
    let bad = play(
        &sb,
        &inventory,
        &["-t", "consul", "-e", r#"{"dcs_name": "bad dc!"}"#],
    );
    assert_ne!(bad.code, Some(0), "{}", bad.out);
    assert!(
        bad.out.contains("TASK [consul : Render consul config]")
            && (bad.out.contains("failed to validate") || bad.out.contains("validation failed"))
            && bad.out.contains(r#"datacenter cannot be \"bad dc!\""#),
        "{}",
        bad.out
    );
    assert_eq!(
        sh(&sb, "node-1", "sha256sum /etc/consul.d/consul.json"),
        before
    );
    assert_eq!(
        consul_pids(&sb),
        pids,
        "a bad configuration restarted consul"
    );
    let members = sh(&sb, "meta", "consul members");
    assert_eq!(members.matches(" alive ").count(), 4, "{members}");

    // ... and abort stops everyone with a clear message when Consul runs
    let abort = play(
        &sb,
        &inventory,
        &["-t", "consul", "-e", "dcs_exists_action=abort"],
    );
    assert_ne!(abort.code, Some(0), "{}", abort.out);
    assert!(
        abort
            .out
            .contains("Abort because consul instance already exists on"),
        "{}",
        abort.out
    );
    let r = recap(&abort.out);
    assert!(
        r.values().all(|r| r.failed == 1 && r.changed == 0),
        "{}",
        abort.out
    );
    assert_eq!(consul_pids(&sb), pids, "abort touched consul");

    // 7. three servers, rolled one at a time, then back to one; the data is kept
    sh(&sb, "meta", "consul kv put drover/marker kept");
    let text = std::fs::read_to_string(&inventory).unwrap();
    let one = format!("      meta-1: {meta}\n");
    assert!(text.contains(&one), "dcs_servers changed shape");
    let three = inventory.with_file_name("three-servers.yml");
    std::fs::write(
        &three,
        text.replace(
            &one,
            &format!("{one}      pg-test-1: {n1}\n      pg-test-2: {n2}\n"),
        ),
    )
    .unwrap();
    let grow = play(&sb, &three, &["-t", "consul", "--output", "json"]);
    assert_eq!(grow.code, Some(0), "{}", grow.out);
    let launches = task_results(&grow.out, "consul : Launch consul server");
    assert_eq!(launches.len(), 3, "{}", grow.out);
    for (host, result) in &launches {
        let stdout = result["stdout"].as_str().unwrap();
        assert!(
            stdout.contains("[consul-restarted]") && stdout.contains("this server is a voter"),
            "{host}: {stdout}"
        );
    }
    assert_one_at_a_time(&launches);
    let peers = sh(&sb, "meta", "consul operator raft list-peers");
    let voters = peers.lines().filter(|l| l.contains(" true ")).count();
    assert_eq!(voters, 3, "{peers}");
    let server: Value =
        serde_json::from_str(&sh(&sb, "node-1", "cat /etc/consul.d/consul-server.json")).unwrap();
    assert_eq!(server["bootstrap_expect"], 2);
    eprintln!("three servers in {:.1}s:\n{peers}", grow.secs);

    let shrink = play(&sb, &inventory, &["-t", "consul", "--output", "json"]);
    assert_eq!(shrink.code, Some(0), "{}", shrink.out);
    let left = task_results(&shrink.out, "consul : Demote a former consul server");
    let left: Vec<_> = left
        .into_iter()
        .filter(|(_, r)| r["changed"] == true)
        .collect();
    assert_eq!(left.len(), 2, "{}", shrink.out);
    assert_one_at_a_time(&left);
    let peers = sh(&sb, "meta", "consul operator raft list-peers");
    assert_eq!(peers.lines().count(), 2, "{peers}");
    let members = sh(&sb, "meta", "consul members");
    assert_eq!(members.matches(" alive ").count(), 4, "{members}");
    assert_eq!(members.matches(" server ").count(), 1, "{members}");
    assert_eq!(
        sh(
            &sb,
            "node-2",
            "ls /etc/consul.d/consul-server.json 2>&1 || true"
        ),
        "ls: cannot access '/etc/consul.d/consul-server.json': No such file or directory\n"
    );
    eventually("catalog after the servers changed", || {
        check_identities(&sb, &ids)
    });
    assert_eq!(sh(&sb, "node-3", "consul kv get drover/marker"), "kept\n");
    eprintln!("back to one server in {:.1}s", shrink.secs);

    // 8. with a database superuser on the node, pg-side files are consul:postgres 0660 and
    // Patroni's callback (running as postgres) can rewrite them in place
    sh(
        &sb,
        "node-3",
        "useradd --system --user-group --shell /bin/sh postgres",
    );
    let run = play(&sb, &inventory, &["-t", "register", "-l", n3]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(
        sh(
            &sb,
            "node-3",
            "stat -c '%U:%G %a' /etc/consul.d/svc-postgres.json /pg/bin/pg-register"
        ),
        "consul:postgres 660\npostgres:root 755\n"
    );
    let out = sh(
        &sb,
        "node-3",
        "su postgres -c '/pg/bin/pg-register primary' | grep -e pg-test -e svc-postgres",
    );
    assert_eq!(
        out,
        "[svc-changed] /etc/consul.d/svc-pg-test-replica.json (service pg-test-primary; \
         not renamed: /etc/consul.d is not writable)\n\
         [svc-changed] /etc/consul.d/svc-postgres.json\n"
    );
    let run = play(&sb, &inventory, &["-t", "register", "-l", n3]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert!(recap(&run.out)[n3].changed > 0, "{}", run.out);
    assert!(
        sh(&sb, "node-3", "cat /etc/consul.d/svc-pg-test-replica.json")
            .contains(r#""name": "pg-test-replica""#)
    );
}

/// How many times each host reported `changed` under the task banners named `task` (human
/// output; a task imported twice has two banners).
fn changed_under(out: &str, task: &str) -> BTreeMap<String, usize> {
    let banner = format!("TASK [consul : {task}]");
    let mut under = false;
    let mut count = BTreeMap::new();
    for line in out.lines() {
        if line.starts_with("TASK [")
            || line.starts_with("RUNNING HANDLER [")
            || line.starts_with("PLAY ")
        {
            under = line.starts_with(&banner);
        } else if under && let Some(rest) = line.strip_prefix("changed: [") {
            let host = rest
                .split(']')
                .next()
                .unwrap()
                .split(" -> ")
                .next()
                .unwrap();
            *count.entry(host.to_string()).or_insert(0) += 1;
        }
    }
    count
}

/// The sandbox's nodes.
const NODES: [&str; 4] = ["meta", "node-1", "node-2", "node-3"];

/// The gossip key in meta's encrypt.json.
fn gossip_key(sb: &TestSandbox) -> String {
    let conf: Value =
        serde_json::from_str(&sh(sb, "meta", "cat /etc/consul.d/encrypt.json")).unwrap();
    let key = conf["encrypt"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 44, "not a gossip key");
    key
}

/// The default (secure) run on the open cluster (after `-C` predicted it): the staged rollout
/// keeps the KV store, every
/// agent ends encrypted with full verification, and each time the cluster has no leader (the
/// single server's three restarts) lasts one election, not the 60 s of a lost quorum.
fn gossip_upgrade(sb: &TestSandbox, inventory: &std::path::Path) -> [common::Run; 2] {
    sh(
        sb,
        "meta",
        "consul kv put drover/before-upgrade kept >/dev/null",
    );
    // meta's view of the leader, every 0.2 s, until the run is over
    sh(
        sb,
        "meta",
        "nohup sh -c 'while [ ! -e /tmp/leader.stop ]; do printf \"%s %s\\n\" \"$(date +%s.%N)\" \"$(curl -s -m 1 127.0.0.1:8500/v1/status/leader)\"; sleep 0.2; done' >/tmp/leader.log 2>&1 &",
    );
    // -C predicts the rollout exactly and touches nothing
    let check = play(sb, inventory, &["-C", "-D", "-vvv"]);
    let predicted = check.ok("open to encrypted, -C", 4);
    assert_eq!(
        gossip_encrypted(sb, "node-1"),
        "false",
        "-C changed the cluster"
    );
    let run = play(sb, inventory, &["-D", "-vvv"]);
    sh(sb, "meta", "touch /tmp/leader.stop");
    let changed = run.ok("open to encrypted", 4);
    assert_eq!(predicted, changed, "-C mispredicted:\n{}", check.out);
    // (ok and skipped differ: the roles' `Wait for ... online` and the repo's unpack task
    // skip in check mode; the changes are the same)
    eprintln!("open to encrypted: {:.1}s", run.secs);
    for node in NODES {
        assert_eq!(gossip_encrypted(sb, node), "true", "{node}");
        let file = sh(
            sb,
            node,
            "stat -c '%U:%G %a' /etc/consul.d/encrypt.json; grep verify /etc/consul.d/encrypt.json",
        );
        assert_eq!(
            file,
            "root:consul 640\n  \"encrypt_verify_incoming\": true,\n  \"encrypt_verify_outgoing\": true\n",
            "{node}"
        );
    }
    assert_eq!(
        sh(sb, "meta", "consul kv get drover/before-upgrade"),
        "kept\n"
    );
    // three rolling restarts: step 1 (key, no verification), 2 (outgoing), 3 (incoming):
    // encrypt.json written three times on every node, the server restarted at each step
    let ip: Vec<String> = sb
        .nodes()
        .iter()
        .map(|n| n.spec.address.to_string())
        .collect();
    let each = |hosts: &[String], n: usize| -> BTreeMap<String, usize> {
        hosts.iter().map(|h| (h.clone(), n)).collect()
    };
    let (server, agents) = (&ip[..1], &ip[1..]);
    assert_eq!(
        changed_under(&run.out, "Render consul gossip encryption config"),
        each(&ip, 3),
        "{}",
        run.out
    );
    assert_eq!(
        changed_under(&run.out, "Launch consul server"),
        each(server, 1),
        "{}",
        run.out
    );
    assert_eq!(
        changed_under(
            &run.out,
            "Restart consul server for the gossip encryption step"
        ),
        each(server, 2),
        "{}",
        run.out
    );
    assert_eq!(
        changed_under(&run.out, "Launch consul agent"),
        each(agents, 1),
        "{}",
        run.out
    );
    assert_eq!(
        changed_under(
            &run.out,
            "Restart consul agent for the gossip encryption step"
        ),
        each(agents, 2),
        "{}",
        run.out
    );
    let log = sh(sb, "meta", "cat /tmp/leader.log");
    let (mut gaps, mut since): (Vec<f64>, Option<f64>) = (Vec::new(), None);
    for line in log.lines() {
        let mut f = line.split_whitespace();
        let t: f64 = f.next().unwrap().parse().unwrap();
        // no answer (the agent restarts) or `""` (no leader) is a leaderless sample
        let leader = f.next().filter(|l| l.len() > 2);
        match (leader, since) {
            (None, None) => since = Some(t),
            (Some(_), Some(from)) => {
                gaps.push(t - from);
                since = None;
            }
            _ => {}
        }
    }
    eprintln!("leaderless on meta during the rollout: {gaps:.1?} s");
    let leaderless = log
        .lines()
        .filter(|l| l.split_whitespace().nth(1).is_none_or(|x| x.len() <= 2))
        .count();
    assert!(
        leaderless > 0,
        "the monitor never saw the server restart:\n{log}"
    );
    assert!(log.lines().count() > 20, "{log}");
    assert!(
        gaps.len() <= 3,
        "more leader losses than server restarts: {gaps:?}"
    );
    // One election: the restarted server's start, then up to two election timeouts (Consul's
    // default raft_multiplier 5 makes that 5 s; raft randomizes between 1 and 2 of them). A
    // lost quorum would not end by itself.
    assert!(
        since.is_none() && gaps.iter().all(|g| *g < 15.0),
        "a leader loss longer than an election: {gaps:?}\n{log}"
    );
    [check, run]
}

/// `-e consul_rotate_gossip_key=true -vvv -D`: a new key in every keyring (the old one
/// removed) and every encrypt.json, no agent restarted; the run after it changes nothing.
fn gossip_rotation(
    sb: &TestSandbox,
    inventory: &std::path::Path,
    pids: &BTreeMap<String, String>,
) -> common::Run {
    let old = gossip_key(sb);
    let run = play(
        sb,
        inventory,
        &["-e", "consul_rotate_gossip_key=true", "-vvv", "-D"],
    );
    let changed = run.ok("rotation", 4);
    let new = gossip_key(sb);
    assert_ne!(old, new);
    assert!(changed.values().all(|c| *c >= 1), "{}", run.out);
    assert_eq!(&consul_pids(sb), pids, "consul restarted by the rotation");
    let keyring = sh(sb, "meta", "consul keyring -list");
    assert!(
        keyring.contains(&format!("{new} [4/4]")) && !keyring.contains(&old),
        "{keyring}"
    );
    for node in NODES {
        assert_eq!(gossip_encrypted(sb, node), "true", "{node}");
        assert!(
            sh(sb, node, "cat /etc/consul.d/encrypt.json").contains(&new),
            "{node}"
        );
    }
    let again = play(sb, inventory, &[]);
    let changed = again.ok("after the rotation", 4);
    assert!(changed.values().all(|c| *c == 0), "{}", again.out);
    run
}

/// A container the test starts on the sandbox network, with the nodes' consul binary, is
/// turned away: without a key, and with a key of its own.
fn rogue_cannot_join(sb: &TestSandbox, key: &str) {
    let meta = &sb.nodes()[0].spec;
    let docker = |args: &[&str]| {
        drover_sandbox::docker::docker(args).unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    };
    let inspect = docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
        &meta.container,
    ]);
    let (image, network) = inspect.trim().split_once(' ').unwrap();
    let name = format!("{}-rogue", meta.container);
    let [a, b, c, _] = meta.address.octets();
    let ip = format!("{a}.{b}.{c}.99");
    let rogue = Rogue(name.clone());
    docker(&[
        "run",
        "-d",
        "--pull",
        "never",
        "--rm",
        "--name",
        &name,
        "--network",
        network,
        "--ip",
        &ip,
        "--init",
        "--entrypoint",
        "/bin/sleep",
        image,
        "600",
    ]);
    let binary = std::env::temp_dir().join(format!("drover-consul-{}", std::process::id()));
    docker(&[
        "cp",
        &format!("{}:/usr/bin/consul", meta.container),
        binary.to_str().unwrap(),
    ]);
    docker(&[
        "cp",
        binary.to_str().unwrap(),
        &format!("{name}:/usr/local/bin/consul"),
    ]);
    let _ = std::fs::remove_file(&binary);
    let wrong = "dGhpcyBpcyBub3QgdGhlIGtleSBvZiB0aGUgY2x1c3Q=";
    assert_ne!(wrong, key);
    let cases = [
        (
            "no key",
            String::new(),
            "Remote state is encrypted and encryption is not configured",
        ),
        (
            "a wrong key",
            format!("-encrypt {wrong}"),
            "No installed keys could decrypt the message",
        ),
    ];
    for (what, encrypt, refusal) in cases {
        let script = format!(
            "if [ -f /tmp/pid ]; then kill $(cat /tmp/pid); for i in $(seq 50); do kill -0 $(cat /tmp/pid) 2>/dev/null || break; sleep 0.2; done; fi; \
             rm -rf /tmp/c; \
             consul agent -data-dir /tmp/c -bind {ip} -client 127.0.0.1 -node rogue -datacenter pigsty {encrypt} >/tmp/agent.log 2>&1 & \
             echo $! >/tmp/pid; \
             for i in $(seq 60); do consul members 2>/dev/null | grep -q '^rogue .* alive ' && break; sleep 0.5; done; \
             consul members | grep '^rogue '; \
             consul join {} 2>&1; echo \"rc=$?\"; sleep 1; cat /tmp/agent.log",
            meta.address
        );
        let out = docker(&["exec", &name, "sh", "-c", &script]);
        eprintln!("rogue with {what}: {}", out.trim());
        assert!(
            out.starts_with("rogue "),
            "the rogue agent did not start: {out}"
        );
        assert!(out.contains("rc=1\n"), "rogue with {what} joined: {out}");
        assert!(
            out.contains(refusal),
            "rogue with {what}: not refused for its key: {out}"
        );
        let members = sh(sb, "meta", "consul members");
        assert!(!members.contains("rogue"), "{members}");
    }
    drop(rogue);
}

/// Removes the rogue container, also when the test fails.
struct Rogue(String);

impl Drop for Rogue {
    fn drop(&mut self) {
        let _ = drover_sandbox::docker::docker(["rm", "-f", &self.0]);
    }
}

/// The results of one task in `--output json` events: (host, result) of each host it ran on.
fn task_results(out: &str, task: &str) -> Vec<(String, Value)> {
    let mut current = String::new();
    let mut found = Vec::new();
    for line in out.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match event["event"].as_str() {
            Some("task_start") => current = event["name"].as_str().unwrap_or("").to_string(),
            Some("host_result") if current == task && event["status"] != "skipped" => {
                found.push((
                    event["host"].as_str().unwrap().to_string(),
                    event["result"].clone(),
                ));
            }
            _ => {}
        }
    }
    found
}

/// The shell results (start/end times on the node) did not overlap: one host at a time.
fn assert_one_at_a_time(results: &[(String, Value)]) {
    let mut spans: Vec<(String, String, &str)> = results
        .iter()
        .map(|(h, r)| {
            (
                r["start"].as_str().unwrap().to_string(),
                r["end"].as_str().unwrap().to_string(),
                h.as_str(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "{} started at {} before {} ended at {}",
            pair[1].2,
            pair[1].0,
            pair[0].2,
            pair[0].1
        );
    }
}
