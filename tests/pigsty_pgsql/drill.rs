//! The failover drill of pigsty_pgsql: a client on meta writes through
//! `pg-test-primary.service.consul:5433` (haproxy on a member → pgbouncer on the primary), one
//! INSERT per transaction, logging every acknowledged id; the primary's node is powered off
//! (`Power::Off`: every process killed at once); the drill measures when Patroni has a new
//! leader, when DNS, the Consul catalog and Prometheus's labels follow, and when the client's
//! writes resume; then it counts the acknowledged writes the cluster no longer holds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_sandbox::Power;
use drover_sandbox::testing::TestSandbox;
use serde_json::Value;

use crate::common::{sh, try_sh};

/// The client, run on meta as `drill-client <seconds>`: stops early when /tmp/drill.stop
/// exists. Each acknowledged INSERT appends `<id> <epoch seconds>` to /tmp/drill.acks.
const CLIENT: &str = r#"#!/bin/sh
echo $$ > /tmp/drill.pid
end=$(( $(date +%s) + $1 ))
i=0
: > /tmp/drill.acks
rm -f /tmp/drill.stop
while [ ! -e /tmp/drill.stop ] && [ "$(date +%s)" -lt "$end" ]; do
    i=$((i + 1))
    if PGCONNECT_TIMEOUT=1 PGPASSWORD=test psql -h pg-test-primary.service.consul -p 5433 -U test -d test \
        -Atqc "INSERT INTO drill VALUES ($i)" >/dev/null 2>&1; then
        echo "$i $(date +%s.%N)" >> /tmp/drill.acks
    fi
done
"#;

/// A member of pg-test: sandbox node name, address, `pg_seq`.
#[derive(Clone, Debug)]
pub struct Member {
    pub node: String,
    pub ip: String,
    pub seq: u32,
}

/// What a drill measured (seconds after the power-off) and counted.
#[derive(Debug)]
pub struct Drill {
    /// The member that took over.
    pub new_primary: Member,
    pub leader: f64,
    pub dns: f64,
    pub catalog: f64,
    pub prometheus: f64,
    pub resumed: f64,
    /// Writes the client saw acknowledged.
    pub acked: u64,
    /// Acknowledged writes the new primary does not hold.
    pub lost: u64,
}

impl Drill {
    /// One line for the test's timings.
    pub fn summary(&self, label: &str) -> String {
        format!(
            "{label} failover to {}: leader {:.1}s, dns {:.1}s, catalog {:.1}s, prometheus labels {:.1}s, writes resumed {:.1}s; {} acknowledged writes, {} lost",
            self.new_primary.node,
            self.leader,
            self.dns,
            self.catalog,
            self.prometheus,
            self.resumed,
            self.acked,
            self.lost
        )
    }
}

/// Patroni's running leader of pg-test as `node`'s Patroni sees it.
fn leader(sb: &TestSandbox, node: &str) -> Option<String> {
    let body = try_sh(sb, node, "curl -s -m 2 http://127.0.0.1:8008/cluster").ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["members"].as_array()?.iter().find_map(|m| {
        (m["role"] == "leader" && m["state"] == "running")
            .then(|| m["host"].as_str().map(str::to_string))
            .flatten()
    })
}

/// The catalog's `service` entry of `instance` says primary (tag, meta role and service).
fn registered_primary(sb: &TestSandbox, service: &str, instance: &str) -> bool {
    let Ok(body) = try_sh(
        sb,
        "meta",
        &format!("curl -s http://127.0.0.1:8500/v1/catalog/service/{service}"),
    ) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return false;
    };
    v.as_array().is_some_and(|entries| {
        entries.iter().any(|e| {
            e["ServiceMeta"]["instance"] == instance
                && e["ServiceMeta"]["role"] == "primary"
                && e["ServiceMeta"]["service"] == "pg-test-primary"
                && e["ServiceTags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "primary"))
        })
    })
}

/// Every exporter target of `ip` carries `role=primary` and `svc=pg-test-primary`.
fn labelled_primary(sb: &TestSandbox, ip: &str) -> bool {
    let Ok(targets) = super::pg_targets(sb) else {
        return false;
    };
    let mine: Vec<&BTreeMap<String, String>> = targets
        .iter()
        .filter(|(_, _, labels)| labels.get("ip").map(String::as_str) == Some(ip))
        .map(|(_, _, labels)| labels)
        .collect();
    mine.len() == 4
        && mine.iter().all(|l| {
            l.get("role").map(String::as_str) == Some("primary")
                && l.get("svc").map(String::as_str) == Some("pg-test-primary")
        })
}

/// Seconds on meta's clock (the containers share the host's).
fn now(sb: &TestSandbox) -> f64 {
    sh(sb, "meta", "date +%s.%N").trim().parse().unwrap()
}

/// Powers off `primary`'s node while the client writes, and measures the failover.
pub fn failover(sb: &TestSandbox, members: &[Member], primary: &Member) -> Drill {
    let survivors: Vec<&Member> = members.iter().filter(|m| m.ip != primary.ip).collect();
    let meta = sb.node("meta").unwrap().spec.address.to_string();
    sh(
        sb,
        &primary.node,
        "su postgres -c \"psql -d test -Atqc 'DROP TABLE IF EXISTS drill; CREATE TABLE drill(x int PRIMARY KEY); GRANT ALL ON drill TO test'\"",
    );
    sh(
        sb,
        "meta",
        &format!(
            "rm -f /tmp/drill.acks /tmp/drill.stop /tmp/drill.pid; \
             cat > /tmp/drill-client <<'EOF'\n{CLIENT}EOF\nchmod +x /tmp/drill-client; \
             setsid /tmp/drill-client 400 </dev/null >/tmp/drill.out 2>&1 &"
        ),
    );
    // writes flow before the power-off
    super::eventually("the drill client writes", || {
        let n = try_sh(sb, "meta", "wc -l < /tmp/drill.acks")?;
        if n.trim().parse::<u64>().unwrap_or(0) >= 100 {
            Ok(())
        } else {
            Err(format!("{} acknowledged writes", n.trim()))
        }
    });
    let started = Instant::now();
    sb.stop(&primary.node, Power::Off).unwrap();
    // after the kill: no acknowledgement from the old primary can come later than this
    let off_at = now(sb);
    let mut times: [Option<f64>; 5] = [None; 5];
    let mut new_primary = None;
    let deadline = started + Duration::from_secs(120);
    let mut last = String::new();
    while times.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "failover of {}: not done after 120s (leader, dns, catalog, prometheus, writes: {times:?}); last: {last}",
            primary.node
        );
        let at = started.elapsed().as_secs_f64();
        if new_primary.is_none() {
            new_primary = survivors
                .iter()
                .find_map(|m| leader(sb, &m.node))
                .and_then(|ip| survivors.iter().find(|m| m.ip == ip).copied());
            if new_primary.is_some() {
                times[0] = Some(at);
            }
        }
        if let Some(p) = new_primary {
            let instance = format!("pg-test-{}", p.seq);
            if times[1].is_none() {
                // from a node that is up (the powered-off one may be node-3)
                let from = &survivors[0].node;
                let master = super::dig_from(sb, from, &meta, "master.pg-test.service.consul");
                let access = super::dig_from(sb, from, &meta, "pg-test-primary.service.consul");
                let mut want: Vec<String> = survivors.iter().map(|m| m.ip.clone()).collect();
                want.sort();
                if master == vec![p.ip.clone()] && access == want {
                    times[1] = Some(at);
                } else {
                    last = format!("master.pg-test {master:?}, pg-test-primary {access:?}");
                }
            }
            if times[2].is_none()
                && ["postgres", "pgbouncer", "patroni"]
                    .iter()
                    .all(|s| registered_primary(sb, s, &instance))
            {
                times[2] = Some(at);
            }
            if times[3].is_none() && labelled_primary(sb, &p.ip) {
                times[3] = Some(at);
            }
        }
        if times[4].is_none() {
            let first = sh(
                sb,
                "meta",
                &format!("awk '$2 > {off_at} {{ print $2; exit }}' /tmp/drill.acks"),
            );
            if let Ok(t) = first.trim().parse::<f64>() {
                times[4] = Some(t - off_at);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let new_primary = new_primary.unwrap().clone();
    // more writes on the new primary, then the count
    std::thread::sleep(Duration::from_secs(5));
    let stopped = sh(
        sb,
        "meta",
        "touch /tmp/drill.stop; i=0; \
         while kill -0 \"$(cat /tmp/drill.pid)\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done; \
         if kill -0 \"$(cat /tmp/drill.pid)\" 2>/dev/null; then echo still running; fi",
    );
    assert!(
        stopped.trim().is_empty(),
        "the drill client did not stop: its later acks would count as lost"
    );
    let counts = sh(
        sb,
        &new_primary.node,
        "su postgres -c \"psql -d test -Atc 'SELECT x FROM drill'\" | sort > /tmp/drill.rows; wc -l < /tmp/drill.rows",
    );
    let rows = sh(sb, &new_primary.node, "cat /tmp/drill.rows");
    let acks = sh(sb, "meta", "cut -d' ' -f1 /tmp/drill.acks");
    let held: std::collections::HashSet<&str> = rows.lines().collect();
    let acked = acks.lines().count() as u64;
    let lost = acks.lines().filter(|id| !held.contains(id)).count() as u64;
    assert!(counts.trim().parse::<u64>().unwrap() > 0, "{counts}");
    let t = |i: usize| times[i].unwrap();
    Drill {
        new_primary,
        leader: t(0),
        dns: t(1),
        catalog: t(2),
        prometheus: t(3),
        resumed: t(4),
        acked,
        lost,
    }
}

/// Starts a powered-off member again and waits until Patroni runs it as a replica and its
/// registration says replica. Returns (seconds until Patroni reports it streaming, seconds
/// from then until the catalog says replica).
pub fn rejoin(sb: &TestSandbox, member: &Member, via: &Member) -> (f64, f64) {
    let started = Instant::now();
    sb.start(&member.node, Duration::from_secs(120)).unwrap();
    let name = format!("pg-test-{}", member.seq);
    super::eventually("the old primary rejoins as a replica", || {
        let members = super::patroni_members(sb, &via.node, "pg-test");
        match members.get(&name) {
            Some(m) if m[0] != "Leader" && ["running", "streaming"].contains(&m[1].as_str()) => {}
            other => return Err(format!("{name}: {other:?}")),
        }
        // Patroni 3.0 says `running`; the WAL receiver says whether it replicates
        let receiver = try_sh(
            sb,
            &member.node,
            "su postgres -c \"psql -Atc 'SELECT status FROM pg_stat_wal_receiver'\"",
        )?;
        if receiver.trim() == "streaming" {
            Ok(())
        } else {
            Err(format!("{name}: wal receiver `{}`", receiver.trim()))
        }
    });
    let replica_at = started.elapsed().as_secs_f64();
    let catalog = || -> Result<(), String> {
        let body = try_sh(
            sb,
            "meta",
            "curl -s http://127.0.0.1:8500/v1/catalog/service/postgres",
        )?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let role = v
            .as_array()
            .and_then(|a| a.iter().find(|e| e["ServiceMeta"]["instance"] == name))
            .map(|e| e["ServiceMeta"]["role"].clone());
        if role == Some(Value::from("replica")) {
            Ok(())
        } else {
            Err(format!("{name} registered as {role:?}"))
        }
    };
    super::eventually("the rejoined member registers as a replica", catalog);
    (replica_at, started.elapsed().as_secs_f64() - replica_at)
}
