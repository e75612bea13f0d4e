//! roles/repo, run by the real ansible-playbook (ansible-core 2.18) against a
//! 4-node sandbox: meta serves the cached packages over HTTP and every node
//! installs from it. drover's own executor will run the same role later.
//!
//! Needs Docker, ansible-core (`$DROVER_ANSIBLE_BIN_DIR` or `ansible-playbook`
//! on PATH) and the package cache (fetched here if missing). With CI=true a
//! missing tool fails the test.

use std::path::PathBuf;
use std::process::Command;

use drover_sandbox::testing::{TestSandbox, in_ci, repo_root, require_docker};

fn ansible_playbook() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DROVER_ANSIBLE_BIN_DIR") {
        let p = PathBuf::from(dir).join("ansible-playbook");
        if p.is_file() {
            return Some(p);
        }
    }
    let found = Command::new("ansible-playbook").arg("--version").output();
    found
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("ansible-playbook"))
}

fn recap_changed(output: &str) -> Vec<(String, u32)> {
    let recap = output.split("PLAY RECAP").nth(1).unwrap_or("");
    recap
        .lines()
        .filter_map(|l| {
            let host = l.split_whitespace().next()?.to_owned();
            let changed = l.split("changed=").nth(1)?.split_whitespace().next()?;
            Some((host, changed.parse().ok()?))
        })
        .collect()
}

#[test]
fn repo_role_serves_packages_to_every_node() {
    if !require_docker("repo_role_serves_packages_to_every_node") {
        return;
    }
    let Some(playbook_bin) = ansible_playbook() else {
        assert!(
            !in_ci(),
            "CI=true but ansible-playbook is missing (set DROVER_ANSIBLE_BIN_DIR)"
        );
        eprintln!("SKIPPED repo_role_serves_packages_to_every_node: no ansible-playbook");
        return;
    };
    let root = repo_root();
    let fetch = Command::new(root.join("sandbox/packages/fetch-packages"))
        .status()
        .expect("run fetch-packages");
    assert!(fetch.success(), "sandbox/packages/fetch-packages failed");

    let sb = TestSandbox::up("repo", 4).expect("sandbox up");
    let work = tempfile::tempdir().expect("tempdir");
    let playbook = work.path().join("repo.yml");
    std::fs::write(
        &playbook,
        "- hosts: all\n  gather_facts: false\n  become: true\n  roles: [repo]\n",
    )
    .expect("write playbook");
    let run = |extra: &[&str]| {
        let out = Command::new(&playbook_bin)
            .args(extra)
            .arg("-i")
            .arg(sb.paths().inventory())
            .arg("-i")
            .arg(sb.paths().connection_inventory())
            .arg("-e")
            .arg("ansible_python_interpreter=/usr/bin/python3")
            .arg(&playbook)
            .env("ANSIBLE_ROLES_PATH", root.join("roles"))
            .env("ANSIBLE_HOST_KEY_CHECKING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", work.path().join("tmp"))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", work.path().join("cp"))
            .output()
            .expect("run ansible-playbook");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ansible-playbook failed:\n{text}");
        text
    };
    let first = run(&[]);
    let changed = recap_changed(&first);
    assert_eq!(changed.len(), 4, "recap:\n{first}");
    assert!(
        changed.iter().all(|(_, c)| *c > 0),
        "first run changed nothing:\n{first}"
    );

    // Idempotent: a second run changes nothing.
    let second = run(&[]);
    let changed = recap_changed(&second);
    assert_eq!(changed.len(), 4, "recap:\n{second}");
    assert!(
        changed.iter().all(|(_, c)| *c == 0),
        "second run changed something:\n{second}"
    );

    // A slice by tags runs on its own (registered results it reads may be absent).
    let slice = run(&["-t", "repo_boot,repo_nginx,node_repo_add"]);
    assert!(
        recap_changed(&slice).iter().all(|(_, c)| *c == 0),
        "tag slice changed something:\n{slice}"
    );

    let meta = sb.nodes()[0].spec.address;
    for node in ["meta", "node-1", "node-2", "node-3"] {
        let out = sb.ssh(node, "apt-cache policy consul").expect("ssh");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("1.8.7"), "{node}: {text}");
        assert!(
            text.contains(&format!("http://{meta}/pigsty")),
            "{node}: {text}"
        );
    }
    // A node installs real HashiCorp Consul 1.8.7 from the repo on meta.
    let out = sb
        .ssh(
            "node-3",
            "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q consul >/dev/null && consul version",
        )
        .expect("ssh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "install consul: {out:?}");
    assert!(text.contains("Consul v1.8.7"), "{text}");
}
