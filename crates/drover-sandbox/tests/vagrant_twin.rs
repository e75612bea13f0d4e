//! The Vagrant twin (vagrant/Vagrantfile): it validates, and with Vagrant's
//! docker provider it brings up the same 4 nodes from the local node image,
//! reachable over SSH on 127.0.0.1 with host keys pinned by the Vagrantfile.
//!
//! Needs Docker and vagrant (`sandbox/prepare` installs it); with CI=true a
//! missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drover_sandbox::testing::{in_ci, repo_root, require_docker};
use drover_sandbox::{ImageVariant, docker, image};

const NODES: [(&str, &str, u16); 4] = [
    ("meta", "10.10.10.10", 2210),
    ("node-1", "10.10.10.11", 2211),
    ("node-2", "10.10.10.12", 2212),
    ("node-3", "10.10.10.13", 2213),
];

fn vagrant_available() -> bool {
    Command::new("vagrant")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Vagrant {
    dir: PathBuf,
    dotfile: PathBuf,
    state: PathBuf,
}

impl Vagrant {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("vagrant")
            .args(args)
            .current_dir(&self.dir)
            .env("VAGRANT_DOTFILE_PATH", &self.dotfile)
            .env("DROVER_VAGRANT_STATE", &self.state)
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .env("VAGRANT_NO_COLOR", "1")
            .output()
            .expect("run vagrant")
    }
}

/// Removes the docker-provider machines even when the test fails.
struct Destroy<'a>(&'a Vagrant);

impl Drop for Destroy<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["destroy", "--force"]);
        for (name, _, _) in NODES {
            let _ = docker::docker(["rm", "--force", &format!("drover-vagrant-{name}")]);
        }
        let _ = docker::docker(["network", "rm", "vagrant_network_10.10.10.0/24"]);
    }
}

fn ssh(state: &Path, port: u16, script: &str) -> Output {
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            state.join("known_hosts").display()
        ))
        .arg("-i")
        .arg(state.join("id_ed25519"))
        .args(["-p", &port.to_string(), "vagrant@127.0.0.1", script])
        .output()
        .expect("run ssh")
}

#[test]
fn vagrant_twin_validates_and_runs_on_docker_provider() {
    if !require_docker("vagrant_twin_validates_and_runs_on_docker_provider") {
        return;
    }
    if !vagrant_available() {
        assert!(
            !in_ci(),
            "CI=true but vagrant is missing (sandbox/prepare installs it)"
        );
        eprintln!("SKIPPED vagrant_twin_validates_and_runs_on_docker_provider: no vagrant");
        return;
    }
    image::ensure_image(&repo_root(), ImageVariant::WithPython, false).expect("node image");
    let tmp = tempfile::tempdir().expect("tempdir");
    let v = Vagrant {
        dir: repo_root().join("vagrant"),
        dotfile: tmp.path().join("dot"),
        state: tmp.path().join("state"),
    };
    let out = v.run(&["validate"]);
    assert!(out.status.success(), "vagrant validate: {out:?}");
    for f in [
        "id_ed25519",
        "id_ed25519.pub",
        "connection.yml",
        "connection-docker.yml",
    ] {
        assert!(v.state.join(f).is_file(), "Vagrantfile did not write {f}");
    }

    let guard = Destroy(&v);
    let out = v.run(&["up", "--provider=docker"]);
    assert!(
        out.status.success(),
        "vagrant up --provider=docker failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pinned = std::fs::read_to_string(v.state.join("known_hosts")).expect("known_hosts");
    for (name, address, port) in NODES {
        assert!(
            pinned.contains(&format!("[127.0.0.1]:{port},{address} ssh-ed25519 ")),
            "{pinned}"
        );
        let out = ssh(&v.state, port, "hostname; ps -p 1 -o comm=; ip -4 -o addr");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{name}: {out:?}");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(name));
        assert_eq!(lines.next(), Some("systemd"));
        assert!(
            text.contains(&format!("inet {address}/24")),
            "{name}: {text}"
        );
    }
    drop(guard);
    for (name, _, _) in NODES {
        let left = docker::docker([
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("name=drover-vagrant-{name}"),
        ])
        .expect("docker ps");
        assert!(left.is_empty(), "{name} left behind");
    }
}
