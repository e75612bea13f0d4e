//! Helpers shared by the integration tests: the PLAY RECAP parser, `drover play` of the
//! Pigsty playbook on a sandbox, polling, and where ansible-playbook is.
//! (Each test binary uses part of it.)
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drover_sandbox::testing::{TestSandbox, repo_root, require_docker};

/// One host's PLAY RECAP line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recap {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// The PLAY RECAP of a run's human output, by host.
pub fn recap(stdout: &str) -> BTreeMap<String, Recap> {
    let re = regex::Regex::new(
        r"(?m)^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)",
    )
    .unwrap();
    let after = stdout.split("PLAY RECAP").last().unwrap_or("");
    re.captures_iter(after)
        .map(|c| {
            let n = |i: usize| c[i].parse::<u32>().unwrap();
            (
                c[1].to_string(),
                Recap {
                    ok: n(2),
                    changed: n(3),
                    unreachable: n(4),
                    failed: n(5),
                    skipped: n(6),
                    rescued: n(7),
                    ignored: n(8),
                },
            )
        })
        .collect()
}

/// A finished `drover play`.
pub struct Run {
    /// Exit code.
    pub code: Option<i32>,
    /// stdout, then stderr after a `--- stderr ---` line.
    pub out: String,
    /// Wall time.
    pub secs: f64,
}

impl Run {
    /// Asserts success (exit 0, every host in the recap, none failed or unreachable) and
    /// returns the changed count per host.
    pub fn ok(&self, what: &str, hosts: usize) -> BTreeMap<String, u32> {
        assert_eq!(self.code, Some(0), "{what}:\n{}", self.out);
        let r = recap(&self.out);
        assert_eq!(r.len(), hosts, "{what}: recap:\n{}", self.out);
        for (h, r) in &r {
            assert_eq!(
                (r.failed, r.unreachable),
                (0, 0),
                "{what}: {h}:\n{}",
                self.out
            );
        }
        r.into_iter().map(|(h, r)| (h, r.changed)).collect()
    }

    /// Asserts a refusal: exit 2 (a failed task, as ansible-playbook's), `reason` in the
    /// output, and nothing changed on any host of the recap.
    pub fn refused(&self, what: &str, reason: &str) {
        assert_eq!(self.code, Some(2), "{what}:\n{}", self.out);
        assert!(
            self.out.contains(reason),
            "{what}: no `{reason}` in:\n{}",
            self.out
        );
        for (h, r) in recap(&self.out) {
            assert_eq!(r.changed, 0, "{what}: {h} changed:\n{}", self.out);
        }
    }
}

/// The infra suites provision infra.yml on its own, a sandbox where pgsql.yml never runs:
/// the postgres, pgbouncer and haproxy exporters the inventory turns on for pgsql.yml are off
/// (nothing would answer them), and without haproxy every member registers the cluster service
/// of its own role (roles/register). tests/pigsty_pgsql.rs runs the inventory as it is.
pub const INFRA_ONLY: &[&str] = &[
    "-e",
    "pg_exporter_enabled=false",
    "-e",
    "pgbouncer_exporter_enabled=false",
    "-e",
    "haproxy_enabled=false",
];

/// `drover play playbooks/infra.yml -i <inventory> -i <the sandbox's connection file>
/// <INFRA_ONLY> <extra>`.
pub fn play_infra(sb: &TestSandbox, inventory: &Path, extra: &[&str]) -> Run {
    play_playbook(
        sb,
        "playbooks/infra.yml",
        inventory,
        &[INFRA_ONLY, extra].concat(),
    )
}

/// `drover play <playbook> -i <inventory> -i <the sandbox's connection file> <extra>`.
pub fn play_playbook(sb: &TestSandbox, playbook: &str, inventory: &Path, extra: &[&str]) -> Run {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(repo_root().join(playbook))
        .arg("-i")
        .arg(inventory)
        .arg("-i")
        .arg(sb.paths().connection_inventory())
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        out: format!(
            "{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Polls `check` every half second until it holds, for at most `within`; then panics with
/// its last error.
pub fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + within;
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The directory of ansible-playbook (ansible-core 2.18): `DROVER_ANSIBLE_BIN_DIR`, else the
/// venv `scripts/test` makes.
pub fn ansible_bin() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::var_os("DROVER_ANSIBLE_BIN_DIR").map(PathBuf::from),
        Some(root.join("target/ansible-venv/bin")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join("ansible-playbook").exists())
}

/// [`ansible_bin`], or `None` after saying loudly that `what` was skipped; with `CI=true` a
/// missing ansible-core fails the test instead.
pub fn require_ansible(what: &str) -> Option<PathBuf> {
    let bin = ansible_bin();
    if bin.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{what} needs ansible-core in CI; run scripts/test");
        }
        eprintln!("SKIPPED {what}: ansible-core not found (set DROVER_ANSIBLE_BIN_DIR)");
    }
    bin
}

/// The 4-node Pigsty sandbox `name` for the test `test`, with the package cache the roles
/// install from (sandbox/packages/fetch-packages does nothing when it is current); `None`
/// when Docker is missing outside CI (`require_docker` says so; with CI=true it fails).
pub fn pigsty_sandbox(test: &str, name: &str) -> Option<TestSandbox> {
    if !require_docker(test) {
        return None;
    }
    let fetch = Command::new(repo_root().join("sandbox/packages/fetch-packages"))
        .status()
        .expect("run sandbox/packages/fetch-packages");
    assert!(fetch.success(), "sandbox/packages/fetch-packages failed");
    Some(TestSandbox::up(name, 4).expect("sandbox up"))
}

/// Runs a shell script inside a node's container (as root) and returns its stdout, or panics
/// with the error.
pub fn sh(sb: &TestSandbox, node: &str, script: &str) -> String {
    try_sh(sb, node, script).unwrap_or_else(|e| panic!("{node}: `{script}` failed: {e}"))
}

/// Shell lines giving `consul` the node's agent master token when the consul role made one
/// (ACLs on): `consul info`, `members`, `reload` and `leave` of that agent then work.
pub const AGENT_TOKEN: &str = "t=/var/lib/consul-acl/agent-master.token; \
    if [ -s $t ]; then CONSUL_HTTP_TOKEN=$(cat $t); export CONSUL_HTTP_TOKEN; fi; ";

/// Shell lines giving `consul` the cluster's management token (kept on the first server,
/// `meta` in the sandbox) when the consul role bootstrapped ACLs.
pub const MANAGEMENT_TOKEN: &str = "t=/var/lib/consul-acl/management.token; \
    if [ -s $t ]; then CONSUL_HTTP_TOKEN=$(cat $t); export CONSUL_HTTP_TOKEN; fi; ";

/// Whether a node's consul agent encrypts its LAN gossip: `encrypted` under `serf_lan` in
/// `consul info` ("true" or "false").
pub fn gossip_encrypted(sb: &TestSandbox, node: &str) -> String {
    sh(
        sb,
        node,
        &format!("{AGENT_TOKEN}consul info | awk '/^serf_lan:/ {{ s = 1; next }} /^[a-z_]+:$/ {{ s = 0 }} s && $1 == \"encrypted\" {{ print $3 }}'"),
    )
    .trim()
    .to_string()
}

/// [`sh`] for polling: the error instead of a panic.
pub fn try_sh(sb: &TestSandbox, node: &str, script: &str) -> Result<String, String> {
    sb.exec(node, &["sh", "-c", script])
        .map_err(|e| e.to_string())
}

/// Copies the directory tree `from` into `to` (created if missing).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `text` with the command modules' wall-clock fields (`start`, `end`, `delta`), which differ
/// on every run, replaced by `<time>`.
pub fn without_times(text: &str) -> String {
    let times = regex::Regex::new(r#""(start|end|delta)": "[^"]*""#).unwrap();
    times.replace_all(text, r#""$1": "<time>""#).into_owned()
}

/// Where drover or the test harness write on the controller: the sandbox's files, drover's
/// caches and control directory, and the temp directory of the tests.
pub fn controller_dirs(sb: &TestSandbox) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![
        sb.paths().state().parent().unwrap().to_path_buf(),
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    ];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(std::path::Path::new(&home).join(".cache/drover"));
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME") {
        dirs.push(std::path::Path::new(&cache).join("drover"));
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        dirs.push(std::path::Path::new(&run).join("drover"));
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    dirs.push(std::path::PathBuf::from(format!("/tmp/drover-{uid}")));
    dirs
}

/// Regular files under `dirs` (not following symlinks) that contain `needle`.
pub fn files_containing(dirs: &[std::path::PathBuf], needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo: Vec<std::path::PathBuf> = dirs.to_vec();
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file()
            && meta.len() < 256 << 20
            && let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}
