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

const HOSTNAMES: [&str; 4] = ["meta", "node-1", "node-2", "node-3"];

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
    /// First three octets of the nodes' addresses (a free /24, so a running
    /// `pigsty` sandbox on 10.10.10.0/24 does not get in the way).
    prefix: String,
    /// SSH port of meta on 127.0.0.1; node-N is `ssh_port + N`.
    ssh_port: u16,
    /// Container names are `drover-<tag>-<hostname>`.
    tag: String,
}

impl Vagrant {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("vagrant")
            .args(args)
            .current_dir(&self.dir)
            .env("VAGRANT_DOTFILE_PATH", &self.dotfile)
            .env("DROVER_VAGRANT_STATE", &self.state)
            .env("DROVER_VAGRANT_PREFIX", &self.prefix)
            .env("DROVER_VAGRANT_SSH_PORT", self.ssh_port.to_string())
            .env("DROVER_VAGRANT_TAG", &self.tag)
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
        let v = self.0;
        let _ = v.run(&["destroy", "--force"]);
        for name in HOSTNAMES {
            let _ = docker::docker(["rm", "--force", &format!("drover-{}-{name}", v.tag)]);
        }
        let _ = docker::docker([
            "network",
            "rm",
            &format!("vagrant_network_{}.0/24", v.prefix),
        ]);
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

/// A 10.10.x prefix no docker network uses, counting down from 10.10.250.
fn free_prefix() -> String {
    let used = docker::used_subnets().expect("docker network inspect");
    (100..=250u8)
        .rev()
        .map(|x| format!("10.10.{x}"))
        .find(|p| !used.contains(&format!("{p}.0/24")))
        .expect("a free 10.10.x.0/24")
}

/// The first of 4 consecutive ports free on 127.0.0.1.
fn free_ports() -> u16 {
    let base = 20000 + u16::try_from(std::process::id() % 5000).unwrap_or(0) * 4;
    (0..200u16)
        .map(|i| base.wrapping_add(i * 4))
        .find(|b| (0..4).all(|i| std::net::TcpListener::bind(("127.0.0.1", b + i)).is_ok()))
        .expect("4 free ports")
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
        prefix: free_prefix(),
        ssh_port: free_ports(),
        tag: format!("vt{}", std::process::id()),
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
    for (i, name) in HOSTNAMES.iter().enumerate() {
        let address = format!("{}.{}", v.prefix, 10 + i);
        let port = v.ssh_port + u16::try_from(i).expect("small");
        assert!(
            pinned.contains(&format!("[127.0.0.1]:{port},{address} ssh-ed25519 ")),
            "{pinned}"
        );
        let out = ssh(&v.state, port, "hostname; ps -p 1 -o comm=; ip -4 -o addr");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{name}: {out:?}");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(*name));
        assert_eq!(lines.next(), Some("systemd"));
        assert!(
            text.contains(&format!("inet {address}/24")),
            "{name}: {text}"
        );
    }
    drop(guard);
    for name in HOSTNAMES {
        let filter = format!("name=drover-{}-{name}", v.tag);
        let left =
            docker::docker(["ps", "--all", "--quiet", "--filter", &filter]).expect("docker ps");
        assert!(left.is_empty(), "{name} left behind");
    }
    let filter = format!("name=vagrant_network_{}", v.prefix);
    let nets = docker::docker(["network", "ls", "--quiet", "--filter", &filter])
        .expect("docker network ls");
    assert!(nets.is_empty(), "vagrant network left behind");
}
