//! The system modules against a real sandbox node (Debian, systemd as PID 1, sshd, no Python):
//! every task runs probe → plan → apply over SSH with `become` (sudo), then again to show the
//! second run is satisfied after ONE probe round trip. Needs Docker; with CI=true a missing
//! Docker fails the test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use drover_connection::{Become, ControlDir, Output, Request, SshConnection, SshOptions};
use drover_modules::{Controller, ModuleResult, Outcome, Prepared, TaskContext, prepare};
use drover_sandbox::testing::{TestSandbox, repo_root, require_docker};
use drover_sandbox::{ImageVariant, UpOptions};
use serde_json::{Value, json};

struct Files(PathBuf);

impl Controller for Files {
    fn find_file(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.0.join(name);
        if p.exists() {
            Ok(p)
        } else {
            Err(format!("could not find `{name}`"))
        }
    }
    fn find_template(&self, name: &str) -> Result<PathBuf, String> {
        Err(format!("no template {name}"))
    }
    fn render_template(&self, _: &Path, _: &str, _: &str) -> Result<String, String> {
        Err("no templates".into())
    }
}

/// What one task did.
struct Ran {
    outcome: Outcome,
    result: ModuleResult,
    /// Round trips to the node (probe + applies).
    round_trips: usize,
}

struct Node {
    conn: SshConnection,
    files: Files,
}

impl Node {
    async fn send(&self, request: Request) -> Output {
        self.conn
            .run(&request.with_become(Become::root()))
            .await
            .unwrap()
    }

    /// Runs a task like the executor does (check = probe + plan only).
    async fn task(&self, module: &str, args: Value, check: bool) -> Ran {
        let ctx = TaskContext {
            host: "meta",
            controller: &self.files,
            diff: false,
            escalated: false,
        };
        let action = match prepare(module, args.as_object().unwrap(), &ctx) {
            Ok(Prepared::Remote(a)) => a,
            Ok(Prepared::Local(r)) => {
                return Ran {
                    outcome: Outcome::Satisfied,
                    result: r,
                    round_trips: 0,
                };
            }
            Err(e) => panic!("{module}: {e}"),
        };
        let mut round_trips = 0;
        let probe = match action.probe() {
            Some(r) => {
                round_trips += 1;
                Some(self.send(r).await)
            }
            None => None,
        };
        let plan = action
            .plan(probe.as_ref())
            .unwrap_or_else(|e| panic!("{module} plan: {e}"));
        if plan.outcome == Outcome::Satisfied || check {
            return Ran {
                outcome: plan.outcome,
                result: plan.result.clone(),
                round_trips,
            };
        }
        let mut outputs = Vec::new();
        for r in action.apply(&plan) {
            round_trips += 1;
            let out = self.send(r).await;
            let failed = out.status != 0;
            outputs.push(out);
            if failed {
                break;
            }
        }
        let result = action.finish(&plan, &outputs).unwrap();
        Ran {
            outcome: plan.outcome,
            result,
            round_trips,
        }
    }

    /// The error a task's plan gives.
    async fn plan_error(&self, module: &str, args: Value) -> String {
        let ctx = TaskContext {
            host: "meta",
            controller: &self.files,
            diff: false,
            escalated: false,
        };
        let Ok(Prepared::Remote(action)) = prepare(module, args.as_object().unwrap(), &ctx) else {
            panic!("{module}: remote action expected");
        };
        let probe = self.send(action.probe().unwrap()).await;
        match action.plan(Some(&probe)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{module}: expected a plan error"),
        }
    }

    /// The `is_enabled_rc=`/`is_enabled=` lines the systemd probe prints for `unit`, and what
    /// `systemctl is-enabled` itself says (exit status, output), in the same line format.
    async fn enabled_lines(&self, unit: &str) -> (String, String) {
        let ctx = TaskContext {
            host: "meta",
            controller: &self.files,
            diff: false,
            escalated: false,
        };
        let args = json!({"name": unit, "enabled": true});
        let Ok(Prepared::Remote(action)) = prepare("systemd", args.as_object().unwrap(), &ctx)
        else {
            panic!("systemd: remote action expected");
        };
        let probe = self.send(action.probe().unwrap()).await.stdout_text();
        let lines = |text: &str| {
            text.lines()
                .filter(|l| l.starts_with("is_enabled"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        };
        let truth = self
            .sh(&format!(
                "e=$(systemctl is-enabled -- {unit} 2>/dev/null); echo \"is_enabled_rc=$?\"; echo \"is_enabled=$e\""
            ))
            .await;
        (lines(&probe), lines(&truth))
    }

    async fn sh(&self, script: &str) -> String {
        let out = self.send(Request::new(script)).await;
        assert_eq!(out.status, 0, "{script}: {}", out.stderr_text());
        out.stdout_text()
    }

    /// Runs a task for real, expects `changed`, then again and expects a satisfied plan after
    /// one round trip (and `check` first, which must predict the change).
    async fn converge(&self, module: &str, args: Value) -> ModuleResult {
        let predicted = self.task(module, args.clone(), true).await;
        assert!(
            !predicted.result.failed,
            "{module} check: {:?}",
            predicted.result.msg
        );
        assert!(
            predicted.result.changed,
            "{module}: check mode must predict a change"
        );
        let first = self.task(module, args.clone(), false).await;
        assert!(
            !first.result.failed,
            "{module}: {:?} {:?}",
            first.result.msg, first.result.stderr
        );
        assert!(first.result.changed, "{module}: first run must change");
        let second = self.task(module, args, false).await;
        assert_eq!(second.outcome, Outcome::Satisfied, "{module}: second run");
        assert!(!second.result.changed);
        assert_eq!(second.round_trips, 1, "{module}: a no-op costs one probe");
        first.result
    }
}

/// A shell script that builds tiny .debs (name, version, depends) into a flat `file:` repo on
/// the node and points apt at it.
fn local_repo(packages: &[(&str, &str, &str)]) -> String {
    let mut s = String::from(
        "set -e\nrm -rf /srv/drover-repo; mkdir -p /srv/drover-repo; cd /srv/drover-repo\n",
    );
    for (name, version, depends) in packages {
        let depends = if depends.is_empty() {
            String::new()
        } else {
            format!("Depends: {depends}\\n")
        };
        s.push_str(&format!(
            "d=$(mktemp -d); mkdir -p \"$d/DEBIAN\" \"$d/usr/share/{name}\"; echo {version} > \"$d/usr/share/{name}/version\"\n\
             printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\nMaintainer: drover <drover@localhost>\\n{depends}Description: drover test\\n' > \"$d/DEBIAN/control\"\n\
             dpkg-deb --build \"$d\" {name}_{version}_all.deb >/dev/null; rm -rf \"$d\"\n"
        ));
    }
    s.push_str(
        "for f in *.deb; do dpkg-deb -f \"$f\"; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s \"$f\")\"; \
         echo \"SHA256: $(sha256sum \"$f\" | cut -d' ' -f1)\"; echo; done > Packages\n\
         echo 'deb [trusted=yes] file:/srv/drover-repo ./' > /etc/apt/sources.list.d/drover-test.list\n",
    );
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn system_modules_on_a_real_node() {
    if !require_docker("system_modules_on_a_real_node") {
        return;
    }
    // The python-free node image: proves the modules need nothing but POSIX tools.
    let mut opts = UpOptions::new(&format!("t{}-sysmod", std::process::id()), &repo_root());
    opts.nodes = 1;
    opts.variant = ImageVariant::NoPython;
    let sb = TestSandbox::up_with(opts).expect("sandbox up");
    let control = ControlDir::new().unwrap();
    let mut options = SshOptions::new("meta");
    options.config_file = Some(sb.paths().ssh_config());
    let conn = SshConnection::connect("meta", &options, &control)
        .await
        .expect("ssh to meta");
    let files_dir = tempfile::tempdir().unwrap();
    let node = Node {
        conn,
        files: Files(files_dir.path().to_path_buf()),
    };
    assert_eq!(
        node.sh("command -v python3 python || echo none").await,
        "none\n",
        "the node image must have no python"
    );

    // ping
    let r = node.task("ping", json!({}), false).await;
    assert_eq!(r.result.extra["ping"], "pong");
    assert_eq!(r.round_trips, 1);

    // group + user
    node.converge(
        "group",
        json!({"name": "drovergrp", "gid": 4321, "system": true}),
    )
    .await;
    let r = node
        .converge(
            "user",
            json!({"name": "drovertest", "uid": 4321, "group": "drovergrp", "groups": ["adm"],
                   "home": "/var/lib/drovertest", "shell": "/bin/sh", "comment": "drover test"}),
        )
        .await;
    assert_eq!(r.extra["uid"], 4321);
    assert_eq!(
        node.sh("getent passwd drovertest; id -Gn drovertest").await,
        "drovertest:x:4321:4321:drover test:/var/lib/drovertest:/bin/sh\ndrovergrp adm\n"
    );
    node.converge("user", json!({"name": "drovertest", "shell": "/bin/bash"}))
        .await;
    let hash = "$6$drover$J8yZ0yqT7gkYw6YbX1m2T0";
    let r = node
        .converge("user", json!({"name": "drovertest", "password": hash}))
        .await;
    assert_eq!(r.extra["password"], "NOT_LOGGING_PASSWORD");
    assert_eq!(
        node.sh("getent shadow drovertest | cut -d: -f2").await,
        format!("{hash}\n")
    );
    // Pigsty's admin-user shape: an SSH key generated once, owned by the user
    let r = node
        .converge(
            "user",
            json!({"name": "drovertest", "generate_ssh_key": true, "ssh_key_bits": 2048, "ssh_key_type": "rsa"}),
        )
        .await;
    assert!(
        r.extra["ssh_public_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-rsa ")
    );
    assert_eq!(
        node.sh("stat -c '%U %a' /var/lib/drovertest/.ssh /var/lib/drovertest/.ssh/id_rsa")
            .await,
        "drovertest 700\ndrovertest 600\n"
    );
    node.converge(
        "user",
        json!({"name": "drovertest", "state": "absent", "remove": true}),
    )
    .await;
    node.converge("group", json!({"name": "drovergrp", "state": "absent"}))
        .await;

    // script and unarchive: controller files uploaded over SSH stdin
    std::fs::write(
        files_dir.path().join("mark.sh"),
        "#!/bin/sh\nset -e\nmkdir -p /opt/drover-test\necho \"$1\" > /opt/drover-test/marker\necho done\n",
    )
    .unwrap();
    let tree = files_dir.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/app.conf"), "port = 8500\n").unwrap();
    let st = std::process::Command::new("tar")
        .args(["-czf", "app.tgz", "-C", "tree", "etc"])
        .current_dir(files_dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let args =
        json!({"_raw_params": "mark.sh 'hello world'", "creates": "/opt/drover-test/marker"});
    let r = node.task("script", args.clone(), false).await;
    assert!(
        r.result.changed && !r.result.failed,
        "{:?}",
        r.result.stderr
    );
    assert_eq!(r.result.stdout.as_deref(), Some("done\n"));
    let r = node.task("script", args, false).await;
    assert!(r.result.skipped && r.round_trips == 1);
    assert_eq!(
        node.sh("cat /opt/drover-test/marker").await,
        "hello world\n"
    );
    let args =
        json!({"src": "app.tgz", "dest": "/opt/drover-test", "owner": "root", "mode": "0640"});
    let r = node.task("unarchive", args.clone(), false).await;
    assert!(r.result.changed && !r.result.failed, "{:?}", r.result.msg);
    let r = node.task("unarchive", args, false).await;
    assert!(!r.result.changed && !r.result.failed, "{:?}", r.result.msg);
    assert_eq!(
        node.sh("stat -c '%a %U' /opt/drover-test/etc/app.conf")
            .await,
        "640 root\n"
    );

    // get_url: a download made by the node (file:// so the node needs no network)
    let sha = node
        .sh("sha256sum /opt/drover-test/etc/app.conf | cut -d' ' -f1")
        .await;
    let r = node
        .converge(
            "get_url",
            json!({"url": "file:///opt/drover-test/etc/app.conf", "dest": "/opt/drover-test/copy.conf",
                   "checksum": format!("sha256:{}", sha.trim()), "mode": "0600"}),
        )
        .await;
    assert_eq!(r.extra["dest"], "/opt/drover-test/copy.conf");
    assert_eq!(
        node.sh("cat /opt/drover-test/copy.conf").await,
        "port = 8500\n"
    );
    node.sh("rm -rf /opt/drover-test").await;

    // apt: a real install and removal of a locally built .deb (the node has no network)
    node.sh(
        "set -e; d=$(mktemp -d); mkdir -p \"$d/pkg/DEBIAN\" \"$d/pkg/usr/share/drover-test\"; \
         printf 'Package: drover-test\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: drover <drover@localhost>\\nDescription: drover test package\\n' > \"$d/pkg/DEBIAN/control\"; \
         echo hi > \"$d/pkg/usr/share/drover-test/hi\"; dpkg-deb --build \"$d/pkg\" /tmp/drover-test_1.0_all.deb >/dev/null; rm -rf \"$d\"",
    )
    .await;
    node.converge("apt", json!({"deb": "/tmp/drover-test_1.0_all.deb"}))
        .await;
    let r = node
        .task("apt", json!({"name": "drover-test"}), false)
        .await;
    assert_eq!(r.outcome, Outcome::Satisfied);
    assert_eq!(r.round_trips, 1);
    let r = node
        .task("package", json!({"name": "drover-test"}), false)
        .await;
    assert_eq!(r.outcome, Outcome::Satisfied);
    node.converge(
        "apt",
        json!({"name": "drover-test", "state": "absent", "purge": true}),
    )
    .await;
    let r = node
        .task("apt", json!({"name": "drover-no-such-package"}), true)
        .await;
    assert!(r.result.failed);
    assert_eq!(
        r.result.msg.as_deref(),
        Some("No package matching 'drover-no-such-package' is available")
    );

    // apt from a real (local, file:) repository: update_cache, install with a dependency,
    // latest after a new version appears, a version pin (downgrade), removal
    node.sh(&local_repo(&[
        ("drover-dep", "1.0", ""),
        ("drover-app", "1.0", "drover-dep"),
    ]))
    .await;
    let r = node.task("apt", json!({"update_cache": true}), false).await;
    assert!(!r.result.failed, "{:?}", r.result.msg);
    assert_eq!(r.result.extra["cache_updated"], true, "{:?}", r.result);
    let r = node.converge("apt", json!({"name": "drover-app"})).await;
    assert!(
        r.stdout.as_deref().unwrap().contains("drover-dep"),
        "{:?}",
        r.stdout
    );
    node.sh(&local_repo(&[
        ("drover-dep", "1.0", ""),
        ("drover-app", "1.0", "drover-dep"),
        ("drover-app", "1.1", "drover-dep"),
    ]))
    .await;
    let r = node
        .task(
            "apt",
            json!({"name": "drover-app", "state": "latest", "update_cache": true}),
            false,
        )
        .await;
    assert!(r.result.changed && !r.result.failed, "{:?}", r.result.msg);
    let r = node
        .task(
            "apt",
            json!({"name": "drover-app", "state": "latest"}),
            false,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Satisfied, "latest after the upgrade");
    assert_eq!(
        node.sh("dpkg-query -W -f='${Version}' drover-app").await,
        "1.1"
    );
    node.converge(
        "apt",
        json!({"name": "drover-app=1.0", "allow_downgrade": true}),
    )
    .await;
    node.converge(
        "apt",
        json!({"name": ["drover-app", "drover-dep"], "state": "absent"}),
    )
    .await;
    node.sh("rm -rf /srv/drover-repo /etc/apt/sources.list.d/drover-test.list")
        .await;

    // systemd: a unit that listens on a port, then wait_for on the node
    node.sh(
        "printf '[Unit]\\nDescription=drover test\\n[Service]\\nExecStart=/usr/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/drover-test.service",
    )
    .await;
    let r = node
        .task("systemd", json!({"daemon_reload": true}), false)
        .await;
    assert!(!r.result.changed && !r.result.failed, "{:?}", r.result.msg);
    let r = node
        .converge(
            "systemd",
            json!({"name": "drover-test", "state": "started", "enabled": true}),
        )
        .await;
    assert_eq!(r.extra["status"]["ActiveState"], "active");
    let r = node
        .task(
            "service",
            json!({"name": "drover-test", "state": "restarted"}),
            false,
        )
        .await;
    assert!(r.result.changed && !r.result.failed, "{:?}", r.result.msg);
    let r = node
        .task(
            "systemd",
            json!({"name": "drover-test", "state": "reloaded"}),
            false,
        )
        .await;
    // sleep has no ExecReload: systemctl refuses, like under Ansible
    assert!(r.result.failed);
    assert!(
        r.result
            .msg
            .as_deref()
            .unwrap()
            .starts_with("Unable to reload service drover-test"),
        "{:?}",
        r.result.msg
    );
    node.converge(
        "systemd",
        json!({"name": "drover-test", "state": "stopped", "enabled": false}),
    )
    .await;
    // The probe's enabled state is `systemctl is-enabled`'s for an enabled, a disabled, a
    // static, a masked, an aliased, an unknown and a runtime-enabled unit, and for one
    // disabled without a daemon-reload (`systemctl show`'s UnitFileState still says enabled
    // there: PID 1 keeps it until a reload).
    node.sh(
        "cp /etc/systemd/system/drover-test.service /usr/lib/systemd/system/drover-masked.service && \
         cp /etc/systemd/system/drover-test.service /usr/lib/systemd/system/drover-runtime.service && \
         cp /etc/systemd/system/drover-test.service /etc/systemd/system/drover-stale.service && \
         systemctl daemon-reload && systemctl mask drover-masked && systemctl enable --runtime drover-runtime && \
         systemctl enable drover-stale && systemctl show -p UnitFileState drover-stale >/dev/null && \
         systemctl disable --no-reload drover-stale",
    )
    .await;
    assert_eq!(
        node.sh("systemctl show -p UnitFileState --value drover-stale")
            .await
            .trim(),
        "enabled",
        "the stale case this checks no longer happens on this systemd"
    );
    for unit in [
        "ssh",
        "ssh.service",
        "sshd",
        "drover-test",
        "systemd-journald",
        "drover-masked",
        "drover-runtime",
        "drover-stale",
        "drover-nope",
    ] {
        let (probe, truth) = node.enabled_lines(unit).await;
        assert_eq!(probe, truth, "{unit}");
    }
    node.sh(
        "systemctl unmask drover-masked; systemctl disable --runtime drover-runtime; \
         rm -f /usr/lib/systemd/system/drover-masked.service /usr/lib/systemd/system/drover-runtime.service \
         /etc/systemd/system/drover-stale.service; systemctl daemon-reload",
    )
    .await;
    assert_eq!(
        node.plan_error(
            "systemd",
            json!({"name": "drover-nope", "state": "started"})
        )
        .await,
        "Could not find the requested service drover-nope: host"
    );
    let r = node
        .task("wait_for", json!({"port": 22, "timeout": 10}), false)
        .await;
    assert!(!r.result.failed, "{:?}", r.result.msg);
    assert_eq!(r.round_trips, 1);
    let r = node
        .task(
            "wait_for",
            json!({"port": 1, "state": "stopped", "timeout": 5}),
            false,
        )
        .await;
    assert!(!r.result.failed, "{:?}", r.result.msg);
}

/// Blanks what differs between two runs by nature: systemd's live properties (compared as a
/// key set), freshly generated SSH keys, temp paths in `extract_results`.
fn normalise(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    if let Some(Value::Object(status)) = m.get_mut("status") {
        for val in status.values_mut() {
            *val = Value::Null;
        }
    }
    for k in ["ssh_fingerprint", "ssh_public_key"] {
        if let Some(val) = m.get_mut(k)
            && val.is_string()
        {
            *val = Value::String("<key>".into());
        }
    }
    if let Some(Value::Object(er)) = m.get_mut("extract_results") {
        er.remove("cmd");
    }
}

fn ansible_playbook() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DROVER_ANSIBLE_BIN_DIR") {
        let p = PathBuf::from(dir).join("ansible-playbook");
        if p.is_file() {
            return Some(p);
        }
    }
    let venv = PathBuf::from("/work/ansible-venv/bin/ansible-playbook");
    if venv.is_file() {
        return Some(venv);
    }
    std::process::Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("ansible-playbook"))
}

impl Node {
    /// What check mode registers for a task: the plan's result (or the plan's error).
    async fn planned(&self, module: &str, args: Value) -> Value {
        let ctx = TaskContext {
            host: "meta",
            controller: &self.files,
            diff: false,
            escalated: false,
        };
        let action = match prepare(module, args.as_object().unwrap(), &ctx) {
            Ok(Prepared::Remote(a)) => a,
            Ok(Prepared::Local(r)) => return r.to_registered(),
            Err(e) => return json!({"changed": false, "failed": true, "msg": e.to_string()}),
        };
        let probe = match action.probe() {
            Some(r) => Some(self.send(r).await),
            None => None,
        };
        match action.plan(probe.as_ref()) {
            Ok(p) => p.result.to_registered(),
            Err(e) => json!({"changed": false, "failed": true, "msg": e.to_string()}),
        }
    }

    /// The registered value of a task, as the executor builds it (a plan error is a failed
    /// result with its message).
    async fn registered(&self, module: &str, args: Value) -> Value {
        let ctx = TaskContext {
            host: "meta",
            controller: &self.files,
            diff: false,
            escalated: false,
        };
        let action = match prepare(module, args.as_object().unwrap(), &ctx) {
            Ok(Prepared::Remote(a)) => a,
            Ok(Prepared::Local(r)) => return r.to_registered(),
            Err(e) => return json!({"changed": false, "failed": true, "msg": e.to_string()}),
        };
        let probe = match action.probe() {
            Some(r) => Some(self.send(r).await),
            None => None,
        };
        let plan = match action.plan(probe.as_ref()) {
            Ok(p) => p,
            Err(e) => return json!({"changed": false, "failed": true, "msg": e.to_string()}),
        };
        if plan.outcome == Outcome::Satisfied {
            return plan.result.to_registered();
        }
        let mut outputs = Vec::new();
        for r in action.apply(&plan) {
            let out = self.send(r).await;
            let failed = out.status != 0;
            outputs.push(out);
            if failed {
                break;
            }
        }
        action.finish(&plan, &outputs).unwrap().to_registered()
    }
}

/// The same task sequence through ansible-core 2.18 and through drover's modules, on the same
/// node (with python, so Ansible can run): every registered result must match, field by field
/// (minus fields that name temp files or timings).
#[tokio::test(flavor = "multi_thread")]
async fn system_results_match_ansible() {
    if !require_docker("system_results_match_ansible") {
        return;
    }
    let Some(playbook_bin) = ansible_playbook() else {
        assert!(
            !drover_sandbox::testing::in_ci(),
            "CI=true but ansible-playbook is missing (set DROVER_ANSIBLE_BIN_DIR)"
        );
        eprintln!("SKIPPED system_results_match_ansible: no ansible-playbook");
        return;
    };
    let sb = TestSandbox::up("sysmodcmp", 1).expect("sandbox up");
    let tasks: Vec<(&str, Value)> = vec![
        ("ping", json!({})),
        (
            "group",
            json!({"name": "cmpgrp", "gid": 4444, "system": true}),
        ),
        (
            "group",
            json!({"name": "cmpgrp", "gid": 4444, "system": true}),
        ),
        (
            "user",
            json!({"name": "cmpuser", "uid": 4444, "group": "cmpgrp", "groups": "adm", "shell": "/bin/sh", "comment": "cmp", "home": "/var/lib/cmpuser"}),
        ),
        (
            "user",
            json!({"name": "cmpuser", "uid": 4444, "group": "cmpgrp", "groups": "adm", "shell": "/bin/sh", "comment": "cmp", "home": "/var/lib/cmpuser"}),
        ),
        (
            "user",
            json!({"name": "cmpuser", "groups": ["adm", "nosuchgroup"]}),
        ),
        (
            "user",
            json!({"name": "cmpuser", "state": "absent", "remove": true}),
        ),
        ("user", json!({"name": "cmpuser", "state": "absent"})),
        ("group", json!({"name": "cmpgrp", "state": "absent"})),
        ("apt", json!({"name": "openssh-server"})),
        ("apt", json!({"name": "nosuchpkg-xyz"})),
        ("apt", json!({"name": "nosuchpkg-xyz", "state": "absent"})),
        ("systemd", json!({"name": "nosuch-xyz", "state": "started"})),
        ("wait_for", json!({"port": 22, "timeout": 5})),
        ("wait_for", json!({"path": "/etc/hostname", "timeout": 5})),
        (
            "wait_for",
            json!({"path": "/nonexistent", "state": "absent", "timeout": 5}),
        ),
        (
            "get_url",
            json!({"url": "file:///etc/hostname", "dest": "/tmp/cmp-hostname", "mode": "0640"}),
        ),
        (
            "get_url",
            json!({"url": "file:///etc/hostname", "dest": "/tmp/cmp-hostname", "mode": "0640"}),
        ),
        ("uri", json!({"url": "http://127.0.0.1:1/", "timeout": 2})),
        (
            "systemd",
            json!({"name": "ssh", "state": "started", "enabled": true}),
        ),
        ("service", json!({"name": "ssh", "state": "started"})),
        ("systemd", json!({"name": "ssh", "masked": false})),
        (
            "wait_for",
            json!({"port": 1, "state": "stopped", "timeout": 5}),
        ),
        (
            "script",
            json!({"_raw_params": "hi.sh 'a b'", "creates": "/etc/hostname"}),
        ),
        ("script", json!({"_raw_params": "hi.sh 'a b'"})),
        (
            "unarchive",
            json!({"src": "t.tgz", "dest": "/tmp", "list_files": true}),
        ),
        ("unarchive", json!({"src": "t.tgz", "dest": "/tmp"})),
        (
            "unarchive",
            json!({"src": "t.tgz", "dest": "/nonexistent-dir"}),
        ),
        (
            "user",
            json!({"name": "cmpkey", "generate_ssh_key": true, "ssh_key_type": "ed25519", "ssh_key_comment": "c"}),
        ),
        (
            "user",
            json!({"name": "cmpkey", "generate_ssh_key": true, "ssh_key_type": "ed25519", "ssh_key_comment": "c"}),
        ),
        (
            "user",
            json!({"name": "cmpkey", "state": "absent", "remove": true}),
        ),
    ];
    // controller files for script/unarchive (next to the playbook, where Ansible looks too)
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hi.sh"), "#!/bin/sh\necho \"hi $1\"\n").unwrap();
    std::fs::create_dir_all(work.path().join("tree/cmpdir")).unwrap();
    std::fs::write(work.path().join("tree/cmpdir/a.conf"), "x = 1\n").unwrap();
    let st = std::process::Command::new("tar")
        .args(["-czf", "t.tgz", "-C", "tree", "cmpdir"])
        .current_dir(work.path())
        .status()
        .unwrap();
    assert!(st.success());
    // Ansible first: one playbook registering every result, dumped on the controller.
    let out_file = work.path().join("ansible.json");
    let mut play_tasks: Vec<Value> = Vec::new();
    let mut dump = Vec::new();
    for (i, (module, args)) in tasks.iter().enumerate() {
        play_tasks.push(
            json!({module.to_string(): args, "register": format!("r{i}"), "ignore_errors": true}),
        );
        dump.push(format!("r{i}"));
    }
    play_tasks.push(json!({"copy": {"dest": out_file.to_str().unwrap(),
        "content": format!("{{{{ [{}] | to_json }}}}", dump.join(", "))},
        "delegate_to": "localhost", "become": false, "check_mode": false}));
    play_tasks.push(json!({"shell": "rm -rf /tmp/cmp-hostname /tmp/cmpdir"}));
    let playbook = work.path().join("cmp.yml");
    std::fs::write(
        &playbook,
        serde_json::to_string(
            &json!([{"hosts": "meta", "gather_facts": false, "become": true, "tasks": play_tasks}]),
        )
        .unwrap(),
    )
    .unwrap();
    let run_ansible = |check: bool| -> Vec<Value> {
        let _ = std::fs::remove_file(&out_file);
        let out = std::process::Command::new(&playbook_bin)
            .args(if check { &["--check"][..] } else { &[][..] })
            .arg("-i")
            .arg(sb.paths().inventory())
            .arg("-i")
            .arg(sb.paths().connection_inventory())
            .arg("-e")
            .arg("ansible_python_interpreter=/usr/bin/python3")
            .arg(&playbook)
            .env("ANSIBLE_HOST_KEY_CHECKING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", work.path().join("tmp"))
            .output()
            .expect("run ansible-playbook");
        assert!(
            out.status.success(),
            "ansible-playbook failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap()
    };
    let ansible = run_ansible(false);

    // Then drover's modules, over SSH with sudo, on the same (now clean) node.
    let control = ControlDir::new().unwrap();
    let mut options = SshOptions::new("meta");
    options.config_file = Some(sb.paths().ssh_config());
    let conn = SshConnection::connect("meta", &options, &control)
        .await
        .expect("ssh to meta");
    let node = Node {
        conn,
        files: Files(work.path().to_path_buf()),
    };
    let ignored = [
        "invocation",
        "start",
        "end",
        "delta",
        "stdout",
        "stdout_lines",
        "stderr",
        "stderr_lines",
        "diff",
        "src",
        "ansible_facts",
        "warnings",
        "deprecations",
        "elapsed",
        "_ansible_no_log",
        "exception",
    ];
    let mut mismatches = Vec::new();
    for (i, (module, args)) in tasks.iter().enumerate() {
        let mut a = ansible[i].clone();
        let mut d = node.registered(module, args.clone()).await;
        for v in [&mut a, &mut d] {
            if let Some(m) = v.as_object_mut() {
                for k in ignored {
                    m.remove(k);
                }
            }
        }
        normalise(&mut a);
        normalise(&mut d);
        // Messages from Python's urllib and from curl cannot match word for word.
        if *module == "uri" {
            for v in [&mut a, &mut d] {
                v["msg"] = v["msg"]
                    .as_str()
                    .map(|m| m.split(": Request failed").next().unwrap_or(m).into())
                    .unwrap_or_default();
            }
        }
        if a != d {
            mismatches.push(format!(
                "task {i} {module} {args}:\n  ansible: {a}\n  drover:  {d}"
            ));
        }
    }
    node.sh("rm -rf /tmp/cmp-hostname /tmp/cmpdir").await;

    // Check mode: Ansible's --check against drover's probe + plan (what the executor reports).
    // get_url is left out: Ansible's check mode sends a HEAD request and reports its checksum,
    // drover predicts without contacting the URL.
    let ansible = run_ansible(true);
    for (i, (module, args)) in tasks.iter().enumerate() {
        if *module == "get_url" {
            continue;
        }
        let mut a = ansible[i].clone();
        let mut d = node.planned(module, args.clone()).await;
        normalise(&mut a);
        normalise(&mut d);
        for v in [&mut a, &mut d] {
            if let Some(m) = v.as_object_mut() {
                for k in ignored {
                    m.remove(k);
                }
                // a skipped task's `failed` is added by the executor's reporting, not the module
                if m.get("skipped") == Some(&Value::Bool(true)) {
                    m.remove("failed");
                }
            }
        }
        if a != d {
            mismatches.push(format!(
                "--check task {i} {module} {args}:\n  ansible: {a}\n  drover:  {d}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
