//! End-to-end tests of the Docker sandbox: real containers, real systemd,
//! real sshd. They need Docker; with CI=true a missing Docker fails them.

use std::time::Duration;

use drover_sandbox::testing::{TestSandbox, repo_root, require_docker};
use drover_sandbox::{ImageVariant, LABEL, Power, Sandbox, UpOptions, docker, image};

const NODE_TIMEOUT: Duration = Duration::from_secs(120);

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn reachable(sb: &Sandbox, node: &str) -> bool {
    sb.ssh(node, "true").is_ok_and(|o| o.status.success())
}

fn leftovers(name: &str) -> Vec<String> {
    let mut all = docker::containers_with_label(LABEL, name).expect("docker ps");
    all.extend(docker::networks_with_label(LABEL, name).expect("docker network ls"));
    all
}

/// The 4-node Pigsty sandbox: hostnames and addresses as in Pigsty's
/// Vagrantfile, systemd as PID 1, SSH with a pinned host key, the fault
/// tools, and a `down` that leaves nothing behind.
#[test]
fn four_node_sandbox_lifecycle() {
    if !require_docker("four_node_sandbox_lifecycle") {
        return;
    }
    let sb = TestSandbox::up("life", 4).expect("sandbox up");
    let name = sb.name().to_owned();
    let expected = [
        ("meta", "10.10."),
        ("node-1", "10.10."),
        ("node-2", "10.10."),
        ("node-3", "10.10."),
    ];
    assert_eq!(sb.nodes().len(), 4);
    for ((host, prefix), node) in expected.iter().zip(sb.nodes()) {
        assert_eq!(node.spec.hostname, *host);
        assert!(node.spec.address.to_string().starts_with(prefix));
        let out = sb
            .ssh(
                host,
                "hostname; ps -p 1 -o comm=; systemctl is-system-running --wait; sudo -n id -u",
            )
            .expect("ssh runs");
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(host), "{host}: {text}");
        assert_eq!(
            lines.get(1),
            Some(&"systemd"),
            "{host}: PID 1 is not systemd: {text}"
        );
        assert!(
            matches!(lines.get(2), Some(&"running") | Some(&"degraded")),
            "{host}: systemd state: {text}"
        );
        assert_eq!(
            lines.get(3),
            Some(&"0"),
            "{host}: passwordless sudo: {text}"
        );
    }
    // Addresses follow Pigsty's layout: meta .10, node-N .10+N, same /24.
    let meta_ip = sb.nodes()[0].spec.address;
    assert_eq!(meta_ip.octets()[3], 10);
    assert_eq!(sb.nodes()[3].spec.address.octets()[3], 13);

    // Nodes reach each other by address and by hostname inside the network.
    let out = sb
        .ssh(
            "node-1",
            &format!("ping -c1 -W2 {meta_ip} >/dev/null && getent hosts meta"),
        )
        .expect("ssh");
    assert!(out.status.success(), "node-1 -> meta: {out:?}");
    assert!(stdout(&out).starts_with(&meta_ip.to_string()));

    // Strict host-key checking: a wrong pinned key refuses the connection.
    let bad = sb.paths().dir.join("known_hosts.bad");
    let pinned = std::fs::read_to_string(sb.paths().known_hosts()).expect("known_hosts");
    let other_key = pinned
        .lines()
        .nth(1)
        .expect("second node")
        .split_once(' ')
        .expect("line")
        .1;
    let first_names = pinned
        .lines()
        .next()
        .expect("first")
        .split_once(' ')
        .expect("line")
        .0;
    std::fs::write(&bad, format!("{first_names} {other_key}\n")).expect("write");
    let out = sb
        .ssh_command("meta")
        .expect("cmd")
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", bad.display()))
        .arg("true")
        .output()
        .expect("ssh");
    assert!(
        !out.status.success(),
        "ssh accepted a host key that was not pinned"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"));

    // stop/start: unreachable while stopped, back after start.
    sb.stop("node-3", Power::Off).expect("stop");
    assert!(!reachable(&sb, "node-3"), "stopped node-3 still answers");
    sb.start("node-3", NODE_TIMEOUT).expect("start");
    assert!(reachable(&sb, "node-3"));

    // isolate/heal: cut from the network (and so from the controller).
    sb.isolate("node-1").expect("isolate");
    assert!(!reachable(&sb, "node-1"), "isolated node-1 still answers");
    let node1_ip = sb.node("node-1").expect("node").spec.address;
    let out = sb
        .ssh("meta", &format!("ping -c1 -W1 {node1_ip}"))
        .expect("ssh");
    assert!(!out.status.success(), "meta still reaches isolated node-1");
    sb.heal("node-1", NODE_TIMEOUT).expect("heal");
    assert!(reachable(&sb, "node-1"));
    let out = sb
        .ssh("meta", &format!("ping -c1 -W2 {node1_ip}"))
        .expect("ssh");
    assert!(
        out.status.success(),
        "meta cannot reach healed node-1: {out:?}"
    );

    let status = sb.status().expect("status");
    assert!(status.iter().all(|s| s.state == "running" && s.connected));

    let dir = sb.paths().dir.clone();
    let removed = sb.down().expect("down");
    assert_eq!(removed.len(), 5, "4 containers + 1 network: {removed:?}");
    assert!(
        leftovers(&name).is_empty(),
        "left behind: {:?}",
        leftovers(&name)
    );
    assert!(!dir.exists(), "state dir left behind");
}

/// Two sandboxes run at once under different names, on different subnets.
#[test]
fn named_sandboxes_run_side_by_side() {
    if !require_docker("named_sandboxes_run_side_by_side") {
        return;
    }
    let a = TestSandbox::up("side-a", 2).expect("sandbox a");
    let b = TestSandbox::up("side-b", 2).expect("sandbox b");
    assert_ne!(a.state().subnet, b.state().subnet);
    assert_ne!(a.state().network, b.state().network);
    for sb in [&a, &b] {
        for node in ["meta", "node-1"] {
            let out = sb.ssh(node, "hostname").expect("ssh");
            assert_eq!(stdout(&out), node);
        }
    }
    let (na, nb) = (a.name().to_owned(), b.name().to_owned());
    drop(a);
    assert!(leftovers(&na).is_empty());
    assert!(!leftovers(&nb).is_empty(), "dropping a removed b");
    drop(b);
    assert!(leftovers(&nb).is_empty());
}

/// A test that fails still removes its sandbox.
#[test]
fn failing_test_removes_its_sandbox() {
    if !require_docker("failing_test_removes_its_sandbox") {
        return;
    }
    let name = format!("t{}-fail", std::process::id());
    let result = std::panic::catch_unwind(|| {
        let sb = TestSandbox::up("fail", 1).expect("sandbox up");
        assert!(!leftovers(sb.name()).is_empty());
        panic!("simulated test failure");
    });
    assert!(result.is_err());
    assert!(
        leftovers(&name).is_empty(),
        "left behind: {:?}",
        leftovers(&name)
    );
}

/// The image without python3, built from its recipe: `up` works, drover's
/// nodes have no python3, and a second `ensure_image` reuses the image.
#[test]
fn no_python_image_builds_from_recipe_and_is_reused() {
    if !require_docker("no_python_image_builds_from_recipe_and_is_reused") {
        return;
    }
    let mut opts = UpOptions::new(&format!("t{}-nopy", std::process::id()), &repo_root());
    opts.nodes = 1;
    opts.variant = ImageVariant::NoPython;
    // Build from nothing unless told the image is fresh already (local runs).
    opts.rebuild_image = std::env::var_os("DROVER_SANDBOX_REUSE_IMAGE").is_none();
    let sb = TestSandbox::up_with(opts).expect("sandbox up (no-python image)");
    if std::env::var_os("DROVER_SANDBOX_REUSE_IMAGE").is_none() {
        assert!(sb.timings.image_built, "image was not built");
        eprintln!(
            "no-python image built in {:.1}s",
            sb.timings.image.as_secs_f64()
        );
    }
    let out = sb
        .ssh(
            "meta",
            "command -v python3 || echo none; ls /usr/bin | grep -c '^python' || true",
        )
        .expect("ssh");
    let text = stdout(&out);
    assert!(
        text.starts_with("none"),
        "python on a no-python node: {text}"
    );
    let again = image::ensure_image(&repo_root(), ImageVariant::NoPython, false).expect("image");
    assert!(!again.built, "an unchanged recipe rebuilt the image");
    assert_eq!(again.tag, sb.state().image);
}
