#![allow(clippy::unwrap_used)]
//! Fault drills on a two-node Docker sandbox. The first node is reached through a TCP proxy on
//! 127.0.0.1 (`fault_drills/proxy.rs`) that can slow the link or freeze it:
//!
//! 1. **Signals during a large upload.** The node holds file A (4 MiB); `copy` of file B runs
//!    over a link slowed to 256 KiB/s (16 s, longer than the 10 s grace drover gives running
//!    commands after an interrupt); SIGINT, SIGTERM, SIGHUP or SIGKILL lands 3 s in. The file
//!    is A or B by hash, never a truncated mix, and no temp file is left beside it. SIGINT,
//!    SIGTERM and SIGHUP end the run with `User interrupted execution` and exit code 99.
//!    The new file may arrive even after the grace: the bytes handed to the ssh master before
//!    drover stopped are delivered by it. The control directory of the killed run is gone
//!    once the next run has started, and no master is left in it (the masters every run leaves
//!    for the next live elsewhere: `docs/ssh.md`).
//! 2. **A silent partition.** The link freezes (no data, no RST) after the first task; the
//!    next task's request is reported UNREACHABLE within 15 s plus the keepalive's slack, not
//!    after ssh's defaults (~53 s).
//!
//! 3. **Two runs at once.** The second waits for the first's run lock, naming the run that
//!    holds it, and finishes after it; with `DROVER_LOCK_WAIT=1` it gives up on the host with
//!    that reason.
//!
//!    Two runs reaching two nodes in opposite orders both finish, one after the other: locks
//!    are taken up front in one order every run shares, so neither holds what the other waits
//!    for.
//!    A command of an interrupted run that outlives the interrupt's grace keeps the node
//!    locked until it ends; the next run waits, told that the holder was interrupted.
//! 4. **A full disk.** A copy larger than the free space fails (exit 2, "No space left on
//!    device"); the old file is intact and no temp file is left.
//! 5. **A bad configuration.** `validate` refuses the new file: the task fails, the old file
//!    stays.
//! 6. **An announced partition** (`isolate`: the node leaves the network): UNREACHABLE, exit 4.
//! 7. **A power-off mid-run.** The node is killed during a run: its next task is UNREACHABLE
//!    (exit 4) within the same bound as a partition.
//!
//! Needs Docker (with CI=true a missing Docker fails).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drover_sandbox::testing::{TestSandbox, require_docker};

#[path = "fault_drills/proxy.rs"]
mod proxy;
use proxy::Proxy;

const MIB: usize = 1024 * 1024;

/// Deterministic content that compresses badly (ssh may compress).
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// sha256 of a controller file, by coreutils' sha256sum (as the node computes it).
fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn spawn_play(playbook: &Path, inventory: &Path, connection: &Path) -> Child {
    spawn_play_with(playbook, inventory, connection, &[])
}

/// [`spawn_play`] with environment variables set.
fn spawn_play_with(
    playbook: &Path,
    inventory: &Path,
    connection: &Path,
    env: &[(&str, &str)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(playbook)
        .arg("-i")
        .arg(inventory)
        .arg("-i")
        .arg(connection)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A `drover play` whose stdout is read as it comes.
struct Running {
    child: Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    fn start(playbook: &Path, inventory: &Path, connection: &Path) -> Running {
        let mut child = spawn_play(playbook, inventory, connection);
        let mut pipe = child.stdout.take().unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stdout.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut pipe, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            child,
            stdout,
            reader,
        }
    }

    /// Waits (at most 60 s) until the output shows `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.stdout.lock().unwrap().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in:\n{}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the end: exit code, stdout, stderr.
    fn finish(self) -> (Option<i32>, String, String) {
        let out = self.child.wait_with_output().unwrap();
        self.reader.join().unwrap();
        let stdout = self.stdout.lock().unwrap().clone();
        (
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// What is left of run `pid` on the controller: its control directory, and ssh processes
/// whose command line names it.
fn run_leftovers(pid: u32) -> Vec<String> {
    let run_dir = format!("run-{pid}");
    let mut left = Vec::new();
    let bases = [
        std::env::var("XDG_RUNTIME_DIR")
            .map(|d| Path::new(&d).join("drover"))
            .unwrap_or_default(),
        Path::new(&format!("/tmp/drover-{}", uid())).to_path_buf(),
    ];
    for base in bases.iter().filter(|b| b.is_dir()) {
        if base.join(&run_dir).exists() {
            left.push(base.join(&run_dir).display().to_string());
        }
    }
    let procs = Command::new("pgrep")
        .arg("-af")
        .arg(format!("{run_dir}([^0-9]|$)"))
        .output()
        .unwrap();
    left.extend(
        String::from_utf8_lossy(&procs.stdout)
            .lines()
            .map(str::to_string),
    );
    left
}

/// The current user's id (`id -u`).
fn uid() -> String {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn node_sh(sb: &TestSandbox, script: &str) -> String {
    sb.exec("meta", &["sh", "-c", script]).unwrap()
}

#[test]
fn fault_drills() {
    if !require_docker("fault_drills") {
        return;
    }
    let sb = TestSandbox::up("faults", 2).unwrap();
    let node = sb.node("meta").unwrap();
    let address = node.spec.address.to_string();
    let proxy = Proxy::start(node.ssh_port);
    let dir = tempfile::tempdir().unwrap();
    let connection = dir.path().join("connection.yml");
    let text = std::fs::read_to_string(sb.paths().connection_inventory()).unwrap();
    let through = text.replace(
        &format!("ansible_port: {},", node.ssh_port),
        &format!("ansible_port: {},", proxy.port),
    );
    assert_ne!(text, through, "the node's port is not in connection.yml");
    std::fs::write(&connection, through).unwrap();
    let inventory = dir.path().join("inventory.yml");
    // the node's host key is pinned for its own port: the proxy's port names the same key
    std::fs::write(
        &inventory,
        format!(
            "all:\n  hosts:\n    {address}:\n      ansible_ssh_extra_args: '-o HostKeyAlias=[127.0.0.1]:{}'\n",
            node.ssh_port
        ),
    )
    .unwrap();

    // 1. signals during a large upload
    let (a, b) = (content(1, 4 * MIB), content(2, 4 * MIB));
    std::fs::write(dir.path().join("a.bin"), &a).unwrap();
    std::fs::write(dir.path().join("b.bin"), &b).unwrap();
    let (hash_a, hash_b) = (
        sha256(&dir.path().join("a.bin")),
        sha256(&dir.path().join("b.bin")),
    );
    let copy = |name: &str| {
        let path = dir.path().join(format!("copy-{name}.yml"));
        std::fs::write(
            &path,
            format!(
                "- hosts: {address}\n  gather_facts: false\n  become: true\n  tasks:\n    - name: the large file\n      copy:\n        src: {}\n        dest: /opt/drill/big.bin\n",
                dir.path().join(name).display()
            ),
        )
        .unwrap();
        path
    };
    let (copy_a, copy_b) = (copy("a.bin"), copy("b.bin"));
    node_sh(&sb, "mkdir -p /opt/drill");
    let node_state = || {
        node_sh(
            &sb,
            "sha256sum /opt/drill/big.bin | cut -d' ' -f1; ls -A /opt/drill | grep -v '^big.bin$' || true",
        )
    };
    let mut report = Vec::new();
    let mut killed = 0;
    for signal in ["INT", "TERM", "HUP", "KILL"] {
        proxy.set_rate(0);
        let restore = spawn_play(&copy_a, &inventory, &connection)
            .wait_with_output()
            .unwrap();
        assert_eq!(
            restore.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&restore.stdout)
        );
        assert_eq!(node_state().trim(), hash_a);
        proxy.set_rate(256 * 1024);
        let child = spawn_play(&copy_b, &inventory, &connection);
        killed = child.id();
        std::thread::sleep(Duration::from_secs(3));
        let sent = Instant::now();
        let kill = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        proxy.set_rate(0);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if signal == "KILL" {
            assert_eq!(out.status.code(), None, "SIGKILL: {stdout}");
        } else {
            assert_eq!(
                out.status.code(),
                Some(99),
                "SIG{signal}: {stdout}\n{stderr}"
            );
            assert!(
                stderr.contains("User interrupted execution"),
                "SIG{signal}: {stderr}"
            );
            assert!(
                took < Duration::from_secs(15),
                "SIG{signal}: stopped after {took:?}"
            );
            // an interrupted run closes its masters and removes its control directory
            let left = run_leftovers(killed);
            assert!(left.is_empty(), "SIG{signal}: left behind: {left:?}");
        }
        // the node's side of the upload ends once its stdin closes; give it a moment
        let mut state = String::new();
        for _ in 0..20 {
            state = node_state();
            if state.lines().count() == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let mut lines = state.lines();
        let hash = lines.next().unwrap_or_default().to_string();
        let leftovers: Vec<&str> = lines.collect();
        assert!(
            hash == hash_a || hash == hash_b,
            "SIG{signal}: /opt/drill/big.bin is neither the old nor the new file ({hash})"
        );
        assert!(
            leftovers.is_empty(),
            "SIG{signal}: temp files left: {leftovers:?}"
        );
        report.push(format!(
            "SIG{signal}: {} after {:.1}s",
            if hash == hash_a {
                "old file"
            } else {
                "new file"
            },
            took.as_secs_f64()
        ));
        eprintln!("fault drill {}", report.last().unwrap());
    }

    // the killed run's master and control directory: gone once the next run has started
    // (it stops a dead run's masters and removes its directory)
    let next = spawn_play(&copy_a, &inventory, &connection)
        .wait_with_output()
        .unwrap();
    assert_eq!(next.status.code(), Some(0));
    let left = run_leftovers(killed);
    assert!(
        left.is_empty(),
        "SIGKILL: left after the next run: {left:?}"
    );

    // 2. a silent partition: the link freezes after the first task
    proxy.set_rate(0);
    let partition = dir.path().join("partition.yml");
    std::fs::write(
        &partition,
        format!(
            "- hosts: {address}\n  gather_facts: false\n  tasks:\n    - name: first\n      command: 'true'\n    - name: wait on the controller\n      pause:\n        seconds: 3\n    - name: after the partition\n      command: 'true'\n"
        ),
    )
    .unwrap();
    // the request goes out ~3 s after the freeze (the pause), so 15 s after it is ~18 s after
    // the freeze; the bound leaves room for ssh's keepalive granularity
    // each returns its line for the report
    let lost = |what: &str, fault: &dyn Fn(), after: &dyn Fn()| -> String {
        let run = Running::start(&partition, &inventory, &connection);
        run.wait_for("TASK [wait on the controller]");
        fault();
        let at = Instant::now();
        let (code, stdout, _) = run.finish();
        let took = at.elapsed();
        after();
        assert!(
            stdout.contains("ok: [") && stdout.contains("TASK [first]"),
            "{what}: {stdout}"
        );
        assert!(
            stdout.contains("TASK [after the partition]") && stdout.contains("UNREACHABLE! => "),
            "{what}: {stdout}"
        );
        assert_eq!(code, Some(4), "{what}: {stdout}");
        assert!(
            took < Duration::from_secs(22),
            "{what} reported after {took:?}"
        );
        format!("{what} reported {:.1}s after it", took.as_secs_f64())
    };
    let line = lost("silent partition", &|| proxy.freeze(true), &|| {
        proxy.freeze(false)
    });
    report.push(line);

    // 3. two runs at once: the second waits for the first's run lock, saying which run holds
    // it; with a short wait it gives up on the host with that reason
    let slow = dir.path().join("slow.yml");
    std::fs::write(
        &slow,
        format!(
            "- hosts: {address}\n  gather_facts: false\n  tasks:\n    - name: slow\n      command: sleep 6\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let first = spawn_play(&slow, &inventory, &connection);
    let first_pid = first.id();
    let holds = |pid: u32| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !node_sh(&sb, "cat /run/lock/drover.lock 2>/dev/null || true")
            .starts_with(&format!("drover pid {pid} ("))
        {
            assert!(Instant::now() < deadline, "run {pid} never took the lock");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    holds(first_pid);
    let second = spawn_play(&slow, &inventory, &connection);
    let first = first.wait_with_output().unwrap();
    let first_done = started.elapsed();
    let second = second.wait_with_output().unwrap();
    let second_done = started.elapsed();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(second.status.code(), Some(0));
    // warnings are wrapped at 80 columns, as Ansible's
    let said = String::from_utf8_lossy(&second.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(&format!(
            "{address}: another drover run holds this host (drover pid {first_pid} ("
        )) && said.contains("waiting for it, up to 300s"),
        "{said}"
    );
    assert!(
        second_done >= first_done + Duration::from_secs(5),
        "the second run did not wait: first done at {first_done:?}, second at {second_done:?}"
    );
    let first = spawn_play(&slow, &inventory, &connection);
    holds(first.id());
    let impatient = spawn_play_with(&slow, &inventory, &connection, &[("DROVER_LOCK_WAIT", "1")])
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&impatient.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        stdout.contains("another drover run holds this host's lock (drover pid")
            && stdout.contains("did not release it within 1s"),
        "{stdout}"
    );
    assert_ne!(impatient.status.code(), Some(0), "{stdout}");
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
    report.push(format!(
        "two runs: the second waited {:.1}s for the first",
        (second_done - first_done).as_secs_f64()
    ));

    // 3b. two runs over the same two nodes, each reaching them in the other order: locks are
    // taken up front in one order all runs share, so neither holds what the other waits for
    // (taken host by host, each would wait for the other until DROVER_LOCK_WAIT ran out)
    let other = sb.node("node-1").unwrap().spec.address.to_string();
    let pair = dir.path().join("pair.yml");
    std::fs::write(
        &pair,
        format!("all:\n  hosts:\n    {address}:\n    {other}:\n"),
    )
    .unwrap();
    let crossed = |first: &str, second: &str, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "- hosts: {first}\n  gather_facts: false\n  tasks:\n    - command: sleep 3\n\
                 - hosts: {second}\n  gather_facts: false\n  tasks:\n    - command: 'true'\n"
            ),
        )
        .unwrap();
        spawn_play_with(
            &path,
            &pair,
            &sb.paths().connection_inventory(),
            &[("DROVER_LOCK_WAIT", "30")],
        )
    };
    let started = Instant::now();
    let one = crossed(&address, &other, "one.yml");
    let two = crossed(&other, &address, "two.yml");
    let (one, two) = (
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    );
    let took = started.elapsed();
    for (run, out) in [("first", &one), ("second", &two)] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{run} crossed run: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let waited = [&one, &two]
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("another drover run holds"))
        .count();
    assert!(waited >= 1, "neither run waited for the other");
    assert!(took < Duration::from_secs(25), "crossed runs took {took:?}");
    report.push(format!(
        "crossed runs: both done in {:.1}s, one after the other",
        took.as_secs_f64()
    ));

    // 3c. an interrupted run's command outlives the interrupt: the node stays locked until it
    // ends, and the next run, told so, waits for it
    let orphan = dir.path().join("orphan.yml");
    std::fs::write(
        &orphan,
        format!(
            "- hosts: {address}\n  gather_facts: false\n  tasks:\n    - name: longer than the grace\n      command: sleep 16\n"
        ),
    )
    .unwrap();
    let run = Running::start(&orphan, &inventory, &connection);
    run.wait_for("TASK [longer than the grace]");
    // the command has started on the node
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node_sh(&sb, "pgrep -x sleep >/dev/null && echo yes || true").contains("yes") {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let command_started = Instant::now();
    let interrupted = run.child.id();
    assert!(
        Command::new("kill")
            .arg("-INT")
            .arg(interrupted.to_string())
            .status()
            .unwrap()
            .success()
    );
    let (code, _, _) = run.finish();
    assert_eq!(code, Some(99));
    let after = spawn_play(&slow, &inventory, &connection)
        .wait_with_output()
        .unwrap();
    let waited_until = command_started.elapsed();
    assert_eq!(after.status.code(), Some(0));
    let said = String::from_utf8_lossy(&after.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(&format!("(drover pid {interrupted} ("))
            && said.contains("interrupted: its commands still run on this node"),
        "{said}"
    );
    // the next run's own task is a 6 s sleep, begun once the 16 s command had ended
    assert!(
        waited_until >= Duration::from_secs(21),
        "the next run did not wait for the interrupted run's command: done {waited_until:?} after it started"
    );
    report.push(format!(
        "interrupted command: the next run finished {:.1}s after it started (16 s + its own 6 s)",
        waited_until.as_secs_f64()
    ));

    // 4. a full disk: the write fails, the old file stays whole, no temp file is left
    node_sh(
        &sb,
        "mkdir -p /opt/full && mount -t tmpfs -o size=1m tmpfs /opt/full && \
         head -c 100000 /dev/urandom > /opt/full/big.bin && sha256sum /opt/full/big.bin",
    );
    let before = node_sh(&sb, "sha256sum /opt/full/big.bin");
    let full = dir.path().join("full.yml");
    std::fs::write(
        &full,
        format!(
            "- hosts: {address}\n  gather_facts: false\n  become: true\n  tasks:\n    - name: too large for the disk\n      copy:\n        src: {}\n        dest: /opt/full/big.bin\n",
            dir.path().join("b.bin").display()
        ),
    )
    .unwrap();
    let out = spawn_play(&full, &inventory, &connection)
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("No space left on device"), "{stdout}");
    assert_eq!(node_sh(&sb, "sha256sum /opt/full/big.bin"), before);
    assert_eq!(node_sh(&sb, "ls -A /opt/full").trim(), "big.bin");
    node_sh(&sb, "umount /opt/full");
    report.push("full disk: failed, old file intact, no temp file".into());

    // 5. a bad configuration: `validate` refuses the new file, the old one stays
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        format!(
            "- hosts: {address}\n  gather_facts: false\n  become: true\n  tasks:\n    - name: a configuration its checker refuses\n      copy:\n        content: \"broken\\n\"\n        dest: /opt/drill/big.bin\n        validate: /bin/false %s\n"
        ),
    )
    .unwrap();
    let before = node_sh(&sb, "sha256sum /opt/drill/big.bin");
    let out = spawn_play(&bad, &inventory, &connection)
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("failed to validate") || stdout.contains("validation failed"),
        "{stdout}"
    );
    assert_eq!(node_sh(&sb, "sha256sum /opt/drill/big.bin"), before);
    assert_eq!(node_sh(&sb, "ls -A /opt/drill").trim(), "big.bin");
    report.push("bad configuration: refused, old file intact".into());

    // 6. an announced partition (the node leaves the network): UNREACHABLE, exit 4
    let line = lost(
        "announced partition",
        &|| sb.isolate("meta").unwrap(),
        &|| sb.heal("meta", Duration::from_secs(60)).unwrap(),
    );
    report.push(line);

    // 7. the node powered off in the middle of a run: UNREACHABLE at its next task, exit 4
    let line = lost(
        "power-off",
        &|| sb.stop("meta", drover_sandbox::Power::Off).unwrap(),
        &|| {},
    );
    report.push(line);

    eprintln!("fault drills: {}", report.join(", "));
}
