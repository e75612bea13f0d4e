//! The run lock: one drover run at a time on a host.
//!
//! When drover first connects to a host it starts a small script there that takes an exclusive
//! `flock(1)` on `/run/lock/drover.lock` (`$TMPDIR` or `/tmp` when `/run/lock` is not writable)
//! and then waits on its stdin, which drover holds ([`Held`]). The lock is released when the run
//! is done with the host, and by the kernel when drover dies, since the pipe closes and the script
//! ends. A second run waits for it, saying which run holds it (the holder writes who it is into
//! the file), for at most its wait time. After that the host fails with that reason. A node
//! without `flock` runs unlocked, and so does a second connection of the same run to a node it
//! already holds (two inventory names for one machine).

use std::time::Duration;

use crate::shell::quote;
use crate::{Connection, Error, Held, Request, Result};

/// How long a run waits for another run's lock on a host by default.
pub const LOCK_WAIT: Duration = Duration::from_secs(300);

/// The environment variable that sets the wait in seconds (`0`: do not wait).
pub const LOCK_WAIT_ENV: &str = "DROVER_LOCK_WAIT";

/// Sets `$f` to the lock file: in /run/lock (a tmpfs: nothing is left after a reboot), else
/// in `$TMPDIR` or /tmp.
const LOCK_FILE: &str = "f=/run/lock/drover.lock; if [ ! -d /run/lock ] || [ ! -w /run/lock ]; then f=${TMPDIR:-/tmp}/drover.lock; fi";

/// How long the node keeps the lock without hearing from drover ([`crate::held::HEARTBEAT`]
/// beats): a controller that vanished without closing the connection (power loss, a partition
/// sshd does not notice) frees its hosts after this.
pub const LEASE: Duration = Duration::from_secs(30);

/// How long a run that did not end cleanly (interrupted, killed, cut off) keeps the node locked
/// while commands it started there still run: its framed shells hold a shared lock on
/// `<lock file>.work`, which each command they run inherits (see [`crate::framed`]).
pub const ORPHANS: Duration = Duration::from_secs(600);

/// The lines that make a framed shell hold the run's work lock (shared, so it never waits):
/// a lock script that was not released cleanly keeps the run lock until no command of its
/// run is left (or [`ORPHANS`] have passed). Nothing happens where the node has no lock file.
pub(crate) fn work_lock() -> String {
    work_lock_at(LOCK_FILE)
}

/// [`work_lock`] with `locate` setting `$f`.
fn work_lock_at(locate: &str) -> String {
    format!(
        "{locate}; if {{ command exec 8<\"$f.work\"; }} 2>/dev/null; then flock -s -n 8 2>/dev/null || exec 8<&-; fi; unset f\n"
    )
}

/// The lock script; `locate` sets `$f`. Lines it prints: `held <who>` (after a second of
/// waiting), then `locked`, `timeout <who>` or `nolock` (the node cannot lock: no `flock`, an
/// unreadable file, a file system without locks; or this same run already holds it, through
/// another inventory name). Once locked, or unlocked, it holds while drover's heartbeat arrives.
/// A lock not released cleanly ([`Held::release`]) is kept while the run's commands still run
/// on the node, up to [`ORPHANS`], and the lock file says so.
/// With no `wait` (a try) a lock held by another run answers `busy <who>` at once.
fn script(locate: &str, who: &str, wait: Option<Duration>) -> String {
    let busy = if wait.is_none() {
        "\x20 if ours; then echo nolock; hold; exit 0; fi\n\
         \x20 echo \"busy $(head -n 1 \"$f\" 2>/dev/null)\"; exit 0\n"
    } else {
        ""
    };
    format!(
        "{locate}\n\
         hold() {{ t=; if command -v timeout >/dev/null 2>&1; then t=\"timeout {lease}\"; fi; while b=$($t head -c 1); [ \"$b\" = x ]; do :; done; }}\n\
         ours() {{ case \"$(head -n 1 \"$f\" 2>/dev/null)\" in {who}' since '*) return 0;; esac; return 1; }}\n\
         if ! command -v flock >/dev/null 2>&1; then echo nolock; hold; exit 0; fi\n\
         {{ command exec 9>>\"$f\"; }} 2>/dev/null || {{ command exec 9<\"$f\"; }} 2>/dev/null || {{ echo nolock; hold; exit 0; }}\n\
         flock -n -E 75 9; rc=$?\n\
         if [ $rc -ne 0 ] && [ $rc -ne 75 ]; then echo nolock; hold; exit 0; fi\n\
         if [ $rc -eq 75 ]; then\n\
         {busy}\
         \x20 waited=0; told=\n\
         \x20 while :; do\n\
         \x20   if ours; then echo nolock; hold; exit 0; fi\n\
         \x20   flock -w 1 -E 75 9; rc=$?\n\
         \x20   if [ $rc -eq 0 ]; then break; fi\n\
         \x20   if [ $rc -ne 75 ]; then echo nolock; hold; exit 0; fi\n\
         \x20   waited=$((waited + 1))\n\
         \x20   if [ -z \"$told\" ]; then echo \"held $(head -n 1 \"$f\" 2>/dev/null)\"; told=1; fi\n\
         \x20   if [ $waited -ge {secs} ]; then echo \"timeout $(head -n 1 \"$f\" 2>/dev/null)\"; exit 3; fi\n\
         \x20 done\n\
         fi\n\
         since=$(date '+%Y-%m-%d %H:%M:%S %z')\n\
         printf '%s since %s\\n' {who} \"$since\" > \"$f\" 2>/dev/null\n\
         : >>\"$f.work\" 2>/dev/null\n\
         echo locked\n\
         hold\n\
         if [ \"$b\" != d ] && {{ command exec 7<\"$f.work\"; }} 2>/dev/null; then\n\
         \x20 printf '%s since %s, interrupted: its commands still run on this node\\n' {who} \"$since\" > \"$f\" 2>/dev/null\n\
         \x20 flock -x -w {orphans} 7\n\
         fi\n",
        orphans = ORPHANS.as_secs(),
        secs = wait.unwrap_or_default().as_secs(),
        lease = LEASE.as_secs(),
        who = quote(who),
    )
}

/// Who this run is, as the lock file records it: `drover pid <pid> (<user>@<controller>)`.
pub fn this_run() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", rustix::process::getuid().as_raw()));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("drover pid {} ({user}@{host})", std::process::id())
}

/// What a try for a host's run lock found.
#[derive(Debug)]
pub enum Attempt {
    /// Locked for this run, until the [`Held`] is dropped.
    Locked(Held),
    /// The node cannot lock (no `flock`), or this run already holds it: go on unlocked.
    Unlocked,
    /// Another run holds it (who, as its lock file says).
    Busy(String),
}

/// Tries `host`'s run lock over `connection` without waiting for another run.
pub async fn try_acquire(connection: &dyn Connection, host: &str) -> Result<Attempt> {
    let request = Request::new(script(LOCK_FILE, &this_run(), None));
    let mut held = connection.hold(&request).await?;
    match held.next_line().await {
        Some(line) if line == "locked" => Ok(Attempt::Locked(held)),
        Some(line) if line == "nolock" => Ok(Attempt::Unlocked),
        Some(line) => match line.strip_prefix("busy ") {
            Some(who) => Ok(Attempt::Busy(who.to_string())),
            None => Err(ended_early(host)),
        },
        None => Err(ended_early(host)),
    }
}

/// Takes `host`'s run lock over `connection`, waiting up to `wait`; `on_wait` is told who holds
/// it when it is taken. `Ok(None)`: the node cannot lock (no `flock`); the run goes on unlocked.
pub async fn acquire(
    connection: &dyn Connection,
    host: &str,
    wait: Duration,
    on_wait: &mut (dyn FnMut(&str) + Send),
) -> Result<Option<Held>> {
    let request = Request::new(script(LOCK_FILE, &this_run(), Some(wait)));
    let mut held = connection.hold(&request).await?;
    loop {
        match held.next_line().await {
            Some(line) if line == "locked" => return Ok(Some(held)),
            Some(line) if line == "nolock" => return Ok(None),
            Some(line) => {
                if let Some(who) = line.strip_prefix("held ") {
                    on_wait(who);
                } else if let Some(who) = line.strip_prefix("timeout ") {
                    return Err(Error::Failed {
                        host: host.to_string(),
                        reason: format!(
                            "another drover run holds this host's lock ({who}) and did not release it within {}s; wait for it to finish, or set {LOCK_WAIT_ENV} to wait longer",
                            wait.as_secs()
                        ),
                    });
                }
            }
            None => return Err(ended_early(host)),
        }
    }
}

fn ended_early(host: &str) -> Error {
    Error::Failed {
        host: host.to_string(),
        reason: "the run lock's command ended before taking the lock".into(),
    }
}

/// The wait from [`LOCK_WAIT_ENV`], else [`LOCK_WAIT`]. A value that is not a whole number of
/// seconds is an error naming it.
pub fn wait_from_env() -> std::result::Result<Duration, String> {
    match std::env::var(LOCK_WAIT_ENV) {
        Err(_) => Ok(LOCK_WAIT),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{LOCK_WAIT_ENV}={v:?} is not a number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalConnection;

    /// Two holders on one machine: the second waits, is told who holds the lock, and gets it
    /// once the first is dropped; with no wait left it fails naming the holder.
    #[tokio::test]
    async fn a_second_run_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalConnection::new("h");
        let file = dir.path().join("drover.lock");
        let locate = format!("f={}", quote(&file.display().to_string()));
        let hold = |who: &str, secs: u64| {
            Request::new(script(&locate, who, Some(Duration::from_secs(secs))))
        };
        let attempt = |who: &str| Request::new(script(&locate, who, None));
        let mut first = local.hold(&hold("run one", 5)).await.unwrap();
        assert_eq!(first.next_line().await.as_deref(), Some("locked"));
        let recorded = std::fs::read_to_string(&file).unwrap();
        assert!(recorded.starts_with("run one since "), "{recorded}");

        // a try answers at once: busy (naming the holder), or nolock for the holder itself
        let mut tried = local.hold(&attempt("run two")).await.unwrap();
        let busy = tried.next_line().await.unwrap();
        assert!(busy.starts_with("busy run one since "), "{busy}");
        let mut own = local.hold(&attempt("run one")).await.unwrap();
        assert_eq!(own.next_line().await.as_deref(), Some("nolock"));
        drop((tried, own));

        let mut second = local.hold(&hold("run two", 5)).await.unwrap();
        let waiting = second.next_line().await.unwrap();
        assert!(waiting.starts_with("held run one since "), "{waiting}");
        drop(first);
        assert_eq!(second.next_line().await.as_deref(), Some("locked"));

        // the same run reaching the node again (another inventory name) does not wait for itself
        let mut again = local.hold(&hold("run two", 5)).await.unwrap();
        assert_eq!(again.next_line().await.as_deref(), Some("nolock"));
        drop(again);

        let mut third = local.hold(&hold("run three", 1)).await.unwrap();
        assert!(third.next_line().await.unwrap().starts_with("held run two"));
        let timeout = third.next_line().await.unwrap();
        assert!(timeout.starts_with("timeout run two since "), "{timeout}");
    }

    /// A holder that was not released cleanly keeps the lock while a command of its run (which
    /// holds the work lock) still runs, and says so; a clean release frees the node at once.
    #[tokio::test]
    async fn an_interrupted_run_keeps_the_node_while_its_commands_run() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalConnection::new("h");
        let file = dir.path().join("drover.lock");
        let locate = format!("f={}", quote(&file.display().to_string()));
        let hold = |who: &str| Request::new(script(&locate, who, Some(Duration::from_secs(20))));
        // a command of the run, as a framed shell runs it: it inherits the shared work lock
        let command = |secs: u32| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{}sleep {secs}", work_lock_at(&locate)))
                .spawn()
                .unwrap()
        };

        let mut first = local.hold(&hold("run one")).await.unwrap();
        assert_eq!(first.next_line().await.as_deref(), Some("locked"));
        let mut orphan = command(3);
        tokio::time::sleep(Duration::from_millis(300)).await; // it has its shared lock
        let started = std::time::Instant::now();
        drop(first); // interrupted: no release byte
        let mut second = local.hold(&hold("run two")).await.unwrap();
        let waiting = second.next_line().await.unwrap();
        assert!(
            waiting.starts_with("held run one since ")
                && waiting.ends_with(", interrupted: its commands still run on this node"),
            "{waiting}"
        );
        assert_eq!(second.next_line().await.as_deref(), Some("locked"));
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        orphan.wait().unwrap();

        // released cleanly: the next run need not wait for a command still running
        let mut other = command(5);
        tokio::time::sleep(Duration::from_millis(200)).await;
        second.release().await;
        let mut third = local.hold(&hold("run three")).await.unwrap();
        let at = std::time::Instant::now();
        assert_eq!(third.next_line().await.as_deref(), Some("locked"));
        assert!(at.elapsed() < Duration::from_secs(2), "{:?}", at.elapsed());
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[test]
    fn the_wait_comes_from_the_environment_or_the_default() {
        assert_eq!(LOCK_WAIT.as_secs(), 300);
        let text = script(LOCK_FILE, "x", Some(Duration::from_secs(7)));
        assert!(
            text.contains("-ge 7 ]") && text.contains("timeout 30\""),
            "{text}"
        );
    }
}
