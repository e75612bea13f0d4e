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
    fn render_template(&self, _: &Path) -> Result<String, String> {
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
    assert_eq!(r.result.extra["cache_updated"], true);
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
