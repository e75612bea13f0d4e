#![allow(clippy::unwrap_used)]
//! SshConnection against a real OpenSSH server started on 127.0.0.1 for the test (its own host
//! key, authorized key and config; nothing else on the machine is touched).
//!
//! Needs `/usr/sbin/sshd` (Debian's openssh-server; `scripts/test` installs it). Under `CI=true`
//! a missing sshd fails the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drover_connection::{ControlDir, Error, HostKeyPolicy, Request, SshConnection, SshOptions};

struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn key(&self) -> PathBuf {
        self.dir.path().join("id")
    }
    fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }
    fn options(&self) -> SshOptions {
        let mut o = SshOptions::new("127.0.0.1");
        o.port = Some(self.port);
        o.user = Some(whoami());
        o.key_file = Some(self.key());
        o.config_file = Some(PathBuf::from("/dev/null"));
        o.known_hosts_file = Some(self.known_hosts());
        // each test's master ends with it (persistence has its own test)
        o.persist = None;
        o
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn keygen(path: &Path, kind: &str) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn start_sshd(test: &str) -> Option<Sshd> {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test} needs /usr/sbin/sshd (openssh-server) in CI; run scripts/test");
        }
        eprintln!("SKIPPED {test}: /usr/sbin/sshd not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(&d.join("host_key"), "ed25519");
    keygen(&d.join("id"), "ed25519");
    std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
         PidFile {d}/sshd.pid\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
         StrictModes no\nUsePAM no\nMaxSessions 10\n",
        d = d.display()
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    std::fs::create_dir_all("/run/sshd").ok();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Pin the host key the way the sandbox does: known_hosts written from the server's key.
    let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
    std::fs::write(
        d.join("known_hosts"),
        format!("[127.0.0.1]:{port} {host_pub}"),
    )
    .unwrap();
    Some(Sshd { child, port, dir })
}

#[tokio::test]
async fn runs_commands_over_one_master_with_stdin_and_status() {
    let Some(sshd) = start_sshd("runs_commands_over_one_master") else {
        return;
    };
    let control = ControlDir::new().unwrap();
    let conn = SshConnection::connect("node", &sshd.options(), &control)
        .await
        .unwrap();

    let out = conn
        .run(&Request::new("echo hi; echo oops >&2; exit 7"))
        .await
        .unwrap();
    assert_eq!(
        (
            out.status,
            out.stdout_text().as_str(),
            out.stderr_text().as_str()
        ),
        (7, "hi\n", "oops\n")
    );

    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = conn
        .run(&Request::new("cat").with_stdin(data.clone()))
        .await
        .unwrap();
    assert_eq!(out.stdout, data, "stdin round trip through ssh");

    // quoting survives the remote login shell
    let out = conn
        .run(&Request::new("printf %s 'it'\\''s $HOME'"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "it's $HOME");

    // more concurrent commands than sshd's MaxSessions: the per-host cap queues them. Shown
    // by the commands' own start/end times (not by wall time, which depends on the load):
    // some overlap, never more than the cap at once.
    let started = Instant::now();
    let runs = (0..24).map(|i| {
        let conn = conn.clone();
        async move {
            conn.run(&Request::new(format!(
                "s=$(date +%s%N); sleep 0.2; e=$(date +%s%N); echo {i} $s $e"
            )))
            .await
        }
    });
    let results = futures_join_all(runs).await;
    let mut spans: Vec<(u128, u128)> = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        let text = r.unwrap().stdout_text();
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words.first(), Some(&i.to_string().as_str()), "{text}");
        spans.push((words[1].parse().unwrap(), words[2].parse().unwrap()));
    }
    let most_at_once = spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0);
    eprintln!(
        "24 concurrent commands of 0.2 s: {:?}, at most {most_at_once} at once",
        started.elapsed()
    );
    assert!(most_at_once >= 2, "commands did not run concurrently");
    assert!(
        most_at_once <= drover_connection::MAX_CHANNELS_PER_HOST,
        "{most_at_once} commands at once: more than the per-host cap"
    );

    // a no-op command on the existing master is a single round trip: measure it
    let started = Instant::now();
    for _ in 0..50 {
        conn.run(&Request::new("true")).await.unwrap();
    }
    let per_cmd = started.elapsed() / 50;
    // On a machine whose login shell sources a heavy ~/.bashrc (pyenv on the dev box: ~150 ms)
    // this measures that shell, not drover; sandbox nodes have a clean shell.
    eprintln!("loopback round trip per command: {per_cmd:?}");
    conn.close().await;
}

/// The outer long-lived shell's process id, asked without writing `$$` literally (a script
/// with `$$` gets its own process).
const OUTER_PID: &str = "d='$'; eval \"echo $d$d\"";

#[tokio::test]
async fn commands_share_one_long_lived_shell_without_leaking_state() {
    let Some(sshd) = start_sshd("commands_share_one_long_lived_shell") else {
        return;
    };
    let control = ControlDir::new().unwrap();
    let conn = SshConnection::connect("node", &sshd.options(), &control)
        .await
        .unwrap();
    let pid = |out: drover_connection::Output| out.stdout_text().trim().to_string();

    let first = pid(conn.run(&Request::new(OUTER_PID)).await.unwrap());
    let out = conn
        .run(&Request::new("cd /; export LEAK=1; exit 4"))
        .await
        .unwrap();
    assert_eq!(out.status, 4);
    let out = conn
        .run(&Request::new("pwd; echo \"[${LEAK-}]\"; cat; echo end"))
        .await
        .unwrap();
    assert_ne!(out.stdout_text(), "/\n[1]\nend\n");
    assert!(
        out.stdout_text().ends_with("[]\nend\n"),
        "{:?}",
        out.stdout_text()
    );
    assert_eq!(
        pid(conn.run(&Request::new(OUTER_PID)).await.unwrap()),
        first,
        "same shell"
    );

    // binary output larger than the channel window, stderr kept apart
    let out = conn
        .run(&Request::new("head -c 3000000 /dev/urandom | od -An -v -tx1 | head -c 5000000; printf '\\000\\377'; echo e >&2"))
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 5_000_002);
    assert_eq!(&out.stdout[5_000_000..], b"\x00\xff");
    assert_eq!(out.stderr_text(), "e\n");

    // uploads (stdin data) still use their own channel
    let out = conn
        .run(&Request::new("cat").with_stdin(b"up".to_vec()))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"up");

    // a command that times out drops its shell; the next command gets a new one
    let err = conn
        .run(&Request::new("sleep 3").with_timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let second = pid(conn.run(&Request::new(OUTER_PID)).await.unwrap());
    assert_ne!(second, first);

    // a shell that died between commands (node side) is replaced before the next command
    conn.run(&Request::new(format!("kill -9 {second}")).with_stdin(Vec::new()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = pid(conn.run(&Request::new(OUTER_PID)).await.unwrap());
    assert!(!third.is_empty() && third != second, "{third} vs {second}");

    // a shell killed during a command: that command fails (it may have run), the next works
    let err = conn
        .run(&Request::new("d='$'; eval \"kill -9 $d$d\"; sleep 1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Failed { .. }), "{err}");
    assert_eq!(
        conn.run(&Request::new("echo ok"))
            .await
            .unwrap()
            .stdout_text(),
        "ok\n"
    );
    // closing ends the shells first, so the master itself stops (its socket goes away)
    conn.close().await;
    let left: Vec<_> = walk(control.path());
    assert!(left.is_empty(), "after close: {left:?}");
}

/// Every file under `dir` (sockets included).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn strict_host_key_checking_refuses_unknown_hosts() {
    let Some(sshd) = start_sshd("strict_host_key_checking") else {
        return;
    };
    std::fs::write(sshd.known_hosts(), "").unwrap();
    let control = ControlDir::new().unwrap();
    let err = SshConnection::connect("node", &sshd.options(), &control)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");

    // accepting new keys is an explicit opt-in, and then records the key
    let mut options = sshd.options();
    options.host_key_policy = HostKeyPolicy::AcceptNew;
    let conn = SshConnection::connect("node", &options, &control)
        .await
        .unwrap();
    assert_eq!(
        conn.run(&Request::new("echo ok"))
            .await
            .unwrap()
            .stdout_text(),
        "ok\n"
    );
    conn.close().await;
    assert!(
        !std::fs::read_to_string(sshd.known_hosts())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let Some(sshd) = start_sshd("a_closed_port_is_unreachable") else {
        return;
    };
    let mut options = sshd.options();
    options.port = Some(
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    );
    let control = ControlDir::new().unwrap();
    let err = SshConnection::connect("node-x", &options, &control)
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { .. }), "{text}");
    assert!(text.starts_with("node-x is unreachable"), "{text}");
}

/// Every directory, file and socket under `dir` with its permission bits (`dir` included).
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = vec![(
        dir.to_path_buf(),
        std::fs::symlink_metadata(dir).unwrap().mode() & 0o7777,
    )];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(modes(&path));
        } else {
            out.push((path.clone(), entry.metadata().unwrap().mode() & 0o7777));
        }
    }
    out
}

#[tokio::test]
async fn everything_in_the_control_directory_is_private() {
    let Some(sshd) = start_sshd("everything_in_the_control_directory_is_private") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let control = ControlDir::in_base(&base.path().join("drover")).unwrap();
    let mut options = sshd.options();
    options.extra_options = vec![("LogLevel".into(), "ERROR".into())];
    let conn = SshConnection::connect("node", &options, &control)
        .await
        .unwrap();
    conn.run(&Request::new("true")).await.unwrap();
    let found = modes(&base.path().join("drover"));
    // the base, the run directory, the master's directory, its log and its socket; the
    // options file is gone once the master runs
    assert_eq!(found.len(), 5, "{found:?}");
    for (path, mode) in &found {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{} is {mode:o}", path.display());
    }
    conn.close().await;
}

/// The pid of the master listening on `socket` (`ssh -O check`).
fn master_pid(socket: &Path) -> u32 {
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-O", "check", "-S"])
        .arg(socket)
        .arg("x")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no master on {}: {text}", socket.display()))
}

/// Waits (at most 5 s) until the process no longer runs.
fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the process runs (a zombie waiting for a reaper does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

#[tokio::test]
async fn the_next_run_stops_the_masters_a_killed_run_left() {
    let Some(sshd) = start_sshd("the_next_run_stops_the_masters_a_killed_run_left") else {
        return;
    };
    // What a SIGKILLed run leaves: its directory (no process with its pid, no lock held) with
    // a master still connected in it.
    let base = tempfile::tempdir().unwrap();
    let base = base.path().join("drover");
    drop(ControlDir::in_base(&base).unwrap());
    let dead = base.join("run-4194305");
    std::fs::create_dir(&dead).unwrap();
    let mut builder = openssh::SessionBuilder::default();
    builder
        .port(sshd.port)
        .user(whoami())
        .keyfile(sshd.key())
        .config_file("/dev/null")
        .user_known_hosts_file(sshd.known_hosts())
        .control_directory(&dead);
    let session = builder.connect_mux("127.0.0.1").await.unwrap();
    let (socket, _log) = session.detach();
    let pid = master_pid(&socket);
    assert!(running(pid));

    let control = ControlDir::in_base(&base).unwrap();
    assert!(!dead.exists(), "the killed run's directory is removed");
    wait_gone(pid);
    assert!(!running(pid), "the leaked master {pid} was told to exit");
    assert!(control.path().exists());
}

/// Processes descended from `pid` (from `/proc/*/stat`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|ppid| ppid.parse().ok())
        {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in parents.get(&p).into_iter().flatten() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

fn signal(signal: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .status();
}

/// A host that stops answering without closing the connection (packets dropped, no RST): here
/// its sshd processes are stopped, so the kernel still acknowledges but nothing replies. The
/// keepalive drover sets makes the next request fail as UNREACHABLE within 15 s (it took
/// ssh's previous 15 s × 3 plus up to one interval, ~53 s in the fault drill).
#[tokio::test]
async fn a_silent_host_is_unreachable_within_15_seconds() {
    let Some(sshd) = start_sshd("a_silent_host_is_unreachable_within_15_seconds") else {
        return;
    };
    let control = ControlDir::new().unwrap();
    let conn = SshConnection::connect("node", &sshd.options(), &control)
        .await
        .unwrap();
    conn.run(&Request::new("true")).await.unwrap();
    let sessions = descendants(sshd.child.id());
    assert!(!sessions.is_empty());
    signal("-STOP", &sessions);
    let started = Instant::now();
    let result = conn.run(&Request::new("echo late")).await;
    let took = started.elapsed();
    signal("-CONT", &sessions);
    signal("-KILL", &sessions);
    eprintln!("a silent host failed its request after {took:?}");
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    // 15 s, and some slack for a loaded machine
    assert!(took < Duration::from_secs(17), "{took:?}");
    conn.close().await;
}

/// Minimal join_all so the test needs no extra crate.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Asks the master on `socket` to exit.
fn exit_master(socket: &Path) {
    let _ = Command::new("ssh")
        .args(["-F", "/dev/null", "-O", "exit", "-S"])
        .arg(socket)
        .arg("x")
        .output();
}

/// Masters persist for the next run when asked (`ControlPersist`, drover's default): the next
/// run with the same options reuses the master, one with other options gets its own, and a
/// master that died (its socket left behind) is replaced without an error. Without
/// persistence the master ends with the run.
#[tokio::test]
async fn a_persistent_master_serves_the_next_run_and_a_dead_one_is_replaced() {
    let Some(sshd) = start_sshd("a_persistent_master_serves_the_next_run") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let base = base.path().join("drover");
    let run = |options: SshOptions| {
        let base = base.clone();
        async move {
            let control = ControlDir::in_base(&base).unwrap();
            let conn = SshConnection::connect("node", &options, &control)
                .await
                .unwrap();
            let out = conn.run(&Request::new("echo ok")).await.unwrap();
            assert_eq!(out.stdout_text(), "ok\n");
            let socket = conn.control_socket().to_path_buf();
            let pid = master_pid(&socket);
            conn.close().await;
            drop(control);
            (socket, pid)
        }
    };

    // not persistent: the master ends with the run
    let (_, pid) = run(sshd.options()).await;
    wait_gone(pid);
    assert!(
        !running(pid),
        "a master without persistence outlived its run"
    );

    let mut options = sshd.options();
    options.persist = Some(Duration::from_secs(30));
    let (socket, first) = run(options.clone()).await;
    assert!(running(first), "the persistent master ended with its run");
    assert!(socket.starts_with(base.join(format!("m-{}", options.fingerprint()))));
    let (again, pid) = run(options.clone()).await;
    assert_eq!(
        (again.as_path(), pid),
        (socket.as_path(), first),
        "the next run reuses it"
    );

    let mut other = options.clone();
    other.connect_timeout = Duration::from_secs(7);
    let (other_socket, other_pid) = run(other).await;
    assert_ne!(other_pid, first, "other options, another master");
    exit_master(&other_socket);

    // a master that died with its socket left behind
    signal("-KILL", &[first]);
    wait_gone(first);
    assert!(socket.exists(), "SIGKILL leaves the socket");
    let (replaced, pid) = run(options.clone()).await;
    assert_ne!(pid, first);
    assert!(!socket.exists(), "the dead master's socket is cleared");
    exit_master(&replaced);
}
