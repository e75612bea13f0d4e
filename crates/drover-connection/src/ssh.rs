//! SSH connections: one OpenSSH ControlMaster per host (native mux protocol). Commands without
//! stdin data go to a long-lived shell per escalation ([`crate::framed`]) on that master, so a
//! command costs the node no session setup; uploads, commands that find that shell busy, and
//! hosts where it cannot start use a fresh channel each.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::control::{CONTROL_PERSIST_IDLE, ControlDir};
use crate::framed::{FrameError, FramedShell};
use crate::shell::quote;
use crate::{
    Become, Error, Held, MAX_CHANNELS_PER_HOST, Output, Request, Result, feed_stdin, finish,
};

/// Long-lived shells per host: at most this many escalations (users) keep one, so fresh
/// channels always have `MAX_CHANNELS_PER_HOST - MAX_SHELLS_PER_HOST` slots.
const MAX_SHELLS_PER_HOST: usize = 3;

/// Seconds of silence from the server after which ssh sends a keepalive probe
/// (`ServerAliveInterval`).
///
/// ssh drops the connection when a probe is due and [`SERVER_ALIVE_COUNT_MAX`] probes are
/// unanswered, that is `SERVER_ALIVE_INTERVAL × (SERVER_ALIVE_COUNT_MAX + 1)` = 15 s after the
/// host last answered (OpenSSH's `clientloop.c`; measured on loopback with a stopped sshd: a
/// request fails 13–15 s after it was sent). So a host that goes silent (packets dropped, no
/// RST) is UNREACHABLE at most 15 s after its next request, and the tasks of the other hosts
/// wait no longer than that. drover sets both options unless the host's
/// `ansible_ssh_common_args`/`ansible_ssh_extra_args` give either (`-o ServerAliveInterval=…`).
/// drover's values come before the user's ssh config files in the options file ssh reads, so
/// a keepalive set only in those files does not replace them (docs/ssh.md).
pub const SERVER_ALIVE_INTERVAL: u32 = 3;

/// Unanswered keepalive probes ssh tolerates (`ServerAliveCountMax`); see
/// [`SERVER_ALIVE_INTERVAL`].
pub const SERVER_ALIVE_COUNT_MAX: u32 = 4;

// A silent host is dropped within 15 s of its last answer.
const _: () = assert!(SERVER_ALIVE_INTERVAL * (SERVER_ALIVE_COUNT_MAX + 1) <= 15);

/// Environment variable that turns the long-lived shells off (`DROVER_SSH_SHELL=channel`:
/// every command opens its own channel, as before; for comparisons and as an escape hatch).
pub const SHELL_MODE_ENV: &str = "DROVER_SSH_SHELL";

/// One escalation's long-lived shell and the channel slot it occupies.
#[derive(Default)]
struct ShellSlot {
    shell: Option<(FramedShell, OwnedSemaphorePermit)>,
    /// The shell could not start on this host (e.g. sudo wants a password): use channels.
    disabled: bool,
}

type Shells = std::sync::Mutex<HashMap<Become, Arc<tokio::sync::Mutex<ShellSlot>>>>;

/// What the long-lived shell path did with a request.
enum Framed {
    /// Answered (or failed in a way that is the request's answer).
    Done(Result<Output>),
    /// Not run: use a fresh channel.
    UseChannel,
}

/// How unknown or changed host keys are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// `StrictHostKeyChecking=yes`: the key must already be in known_hosts (the default).
    #[default]
    Strict,
    /// `StrictHostKeyChecking=accept-new`: record keys of new hosts, refuse changed ones.
    /// An explicit opt-in.
    AcceptNew,
    /// `StrictHostKeyChecking=no`: accept any key. Only when the user asks for it explicitly.
    Off,
}

/// Where and how to connect to one host (from the `ansible_*` connection variables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshOptions {
    /// Address or ssh-config alias (`ansible_host`, else the inventory name).
    pub address: String,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_user`.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub key_file: Option<PathBuf>,
    /// An ssh config file (`-F`), included after drover's options; `None` includes the
    /// user's `~/.ssh/config` and `/etc/ssh/ssh_config`, as ssh would read them.
    pub config_file: Option<PathBuf>,
    /// A known_hosts file to use instead of the user's.
    pub known_hosts_file: Option<PathBuf>,
    /// Host-key policy.
    pub host_key_policy: HostKeyPolicy,
    /// ProxyJump hosts.
    pub jump_hosts: Vec<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Further `-o Key=Value` options (from `ansible_ssh_common_args`), written into a
    /// generated config file that then includes the user's own. A `ServerAliveInterval` or
    /// `ServerAliveCountMax` here replaces drover's keepalive ([`SERVER_ALIVE_INTERVAL`]).
    pub extra_options: Vec<(String, String)>,
    /// Read no ssh config but these options (not `~/.ssh/config`, not `/etc/ssh/ssh_config`):
    /// for a sandbox run, where a user's `Host`/`HostName`/`ProxyCommand` entries must not send
    /// the connection elsewhere.
    pub isolated: bool,
    /// How long the master stays after the run for the next one (`ControlPersist`, idle
    /// time): it lives in the user's base directory under a digest of these options, so a
    /// run with the same options reuses it and one with other options does not. `None`: the
    /// master ends with the run. Default [`PERSIST`].
    pub persist: Option<Duration>,
}

impl SshOptions {
    /// Options for an address with everything else at its default (strict host keys, 10 s).
    pub fn new(address: impl Into<String>) -> SshOptions {
        SshOptions {
            address: address.into(),
            port: None,
            user: None,
            key_file: None,
            config_file: None,
            known_hosts_file: None,
            host_key_policy: HostKeyPolicy::Strict,
            jump_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            extra_options: Vec::new(),
            isolated: false,
            persist: Some(PERSIST),
        }
    }

    /// A digest of everything that defines the connection (16 hex digits): the name of its
    /// persistent masters' directory.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{self:?}").as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// How long a master stays after a run by default, for the next run to reuse (ansible's
/// default `ssh_args` keep theirs as long: `ControlPersist=60s`).
pub const PERSIST: Duration = Duration::from_secs(60);

/// The environment variable that sets how long masters stay after a run, in seconds
/// (`0`: they end with the run).
pub const PERSIST_ENV: &str = "DROVER_CONTROL_PERSIST";

/// The persistence [`PERSIST_ENV`] asks for (read as [`parse_persist`] reads a
/// `ControlPersist` value: seconds, `10m`, `0` or `no`), else [`PERSIST`]. An error names the
/// variable and its value.
pub fn persist_from_env() -> std::result::Result<Option<Duration>, String> {
    match std::env::var(PERSIST_ENV) {
        Err(_) => Ok(Some(PERSIST)),
        Ok(v) => parse_persist(&v).map_err(|e| format!("{PERSIST_ENV}={v:?}: {e}")),
    }
}

/// An SSH connection to one host. Clones share the master and the channel cap.
#[derive(Clone)]
pub struct SshConnection {
    host: String,
    session: Arc<Session>,
    /// The master stays after the run ([`SshOptions::persist`]).
    persistent: bool,
    channels: Arc<Semaphore>,
    shells: Option<Arc<Shells>>,
}

impl SshConnection {
    /// Opens the host's master connection, or reuses the one an earlier run left for these
    /// options ([`SshOptions::persist`]; a master that no longer answers is replaced). Fails
    /// with [`Error::Unreachable`] when the host cannot be reached or its key is not trusted.
    pub async fn connect(
        host: &str,
        options: &SshOptions,
        control: &ControlDir,
    ) -> Result<SshConnection> {
        let session =
            match options.persist {
                None => {
                    // Bounds a leaked master's life if drover is killed before it can close it.
                    let idle = Duration::from_secs(CONTROL_PERSIST_IDLE as u64);
                    start_master(host, options, control, control.path(), idle).await?
                }
                Some(idle) => {
                    let masters = control.masters(&options.fingerprint()).await.map_err(|e| {
                        Error::Failed {
                            host: host.to_string(),
                            reason: format!("cannot open the ssh masters' directory: {e}"),
                        }
                    })?;
                    let mut found = None;
                    for socket in masters.sockets() {
                        let session = Session::resume_mux(socket.clone().into_boxed_path(), None);
                        if session.check().await.is_ok() {
                            found = Some(session);
                            break;
                        }
                        masters.discard(&socket);
                    }
                    match found {
                        Some(session) => session,
                        None => start_master(host, options, control, masters.path(), idle).await?,
                    }
                }
            };
        let shells = std::env::var(SHELL_MODE_ENV).as_deref() != Ok("channel");
        Ok(SshConnection {
            host: host.to_string(),
            session: Arc::new(session),
            persistent: options.persist.is_some(),
            channels: Arc::new(Semaphore::new(MAX_CHANNELS_PER_HOST)),
            shells: shells.then(Arc::default),
        })
    }

    /// The master's control socket.
    pub fn control_socket(&self) -> &Path {
        self.session.control_socket()
    }

    /// Runs a request: on the escalation's long-lived shell when the request has no stdin data
    /// and that shell is free, else as one channel on the master. Either way one round trip.
    pub async fn run(&self, request: &Request) -> Result<Output> {
        if request.stdin.is_none()
            && !request.script.contains('\0')
            && let Some(slot) = self.shell_slot(&request.escalation)
            && let Ok(mut slot) = slot.try_lock()
            && !slot.disabled
        {
            match self.run_framed(&mut slot, request).await {
                Framed::Done(result) => return result,
                Framed::UseChannel => {}
            }
        }
        self.run_channel(request).await
    }

    /// The escalation's shell slot (created on first use), or `None` when shells are off or
    /// this host already has its maximum.
    fn shell_slot(&self, escalation: &Become) -> Option<Arc<tokio::sync::Mutex<ShellSlot>>> {
        let shells = self.shells.as_ref()?;
        // One shell per effective user.
        let key = Become {
            enabled: escalation.enabled,
            user: escalation
                .enabled
                .then(|| escalation.user.clone().unwrap_or_else(|| "root".into())),
        };
        let mut map = shells.lock().ok()?;
        if let Some(slot) = map.get(&key) {
            return Some(slot.clone());
        }
        if map.len() >= MAX_SHELLS_PER_HOST {
            return None;
        }
        Some(map.entry(key).or_default().clone())
    }

    /// Runs a request on the slot's shell, starting the shell if needed. The shell is taken out
    /// of the slot while it works and put back only after a complete answer, so a request that
    /// times out, fails or is cancelled (Ctrl-C) drops its shell instead of leaving a half-read
    /// stream for the next request.
    async fn run_framed(&self, slot: &mut ShellSlot, request: &Request) -> Framed {
        let mut reuse = slot.shell.take();
        if let Some((shell, _)) = &mut reuse
            && shell.is_closed().await
        {
            reuse = None;
        }
        let (mut shell, permit) = match reuse {
            Some(reused) => reused,
            None => {
                let Ok(permit) = self.channels.clone().try_acquire_owned() else {
                    return Framed::UseChannel;
                };
                match self.start_shell(&request.escalation).await {
                    Ok(shell) => (shell, permit),
                    Err(e) => return Framed::Done(Err(e)),
                }
            }
        };
        let work = shell.exchange(&request.script);
        let answer = match request.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(answer) => answer,
                Err(_) => {
                    return Framed::Done(Err(Error::Timeout {
                        host: self.host.clone(),
                        seconds: limit.as_secs(),
                    }));
                }
            },
            None => work.await,
        };
        match answer {
            Ok((status, stdout, stderr)) => {
                slot.shell = Some((shell, permit));
                Framed::Done(Ok(Output {
                    status,
                    stdout,
                    stderr,
                }))
            }
            Err(FrameError::NotStarted) => {
                // Nothing ran. A fresh channel reports why exactly as before (sudo password,
                // missing sudo, …) and is what this host uses from now on.
                slot.disabled = true;
                Framed::UseChannel
            }
            Err(FrameError::Lost(reason)) => {
                drop(shell);
                Framed::Done(Err(match self.session.check().await {
                    Err(e) => unreachable(&self.host, &e),
                    Ok(()) => Error::Failed {
                        host: self.host.clone(),
                        reason: format!("the remote shell ended during the command ({reason})"),
                    },
                }))
            }
        }
    }

    /// Opens a channel running the escalation's shell.
    async fn start_shell(&self, escalation: &Become) -> Result<FramedShell> {
        let command = escalation.wrap_command(FramedShell::COMMAND);
        let line = format!("/bin/sh -c {}", quote(&format!("exec {command}")));
        let mut child = self
            .session
            .clone()
            .arc_raw_command(&line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| self.classify(&e))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (
            child.stdin().take(),
            child.stdout().take(),
            child.stderr().take(),
        ) else {
            return Err(Error::Failed {
                host: self.host.clone(),
                reason: "the shell's channel has no pipes".into(),
            });
        };
        Ok(FramedShell::new(
            Box::pin(stdin),
            Box::pin(stdout),
            Box::pin(stderr),
            Box::new(child),
        ))
    }

    /// Starts a request kept running while the [`Held`] lives (see
    /// [`crate::Connection::hold`]). It takes one of the host's channel slots for its life.
    pub async fn hold(&self, request: &Request) -> Result<Held> {
        let permit = self
            .channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Failed {
                host: self.host.clone(),
                reason: "connection is closing".into(),
            })?;
        let script = request.escalation.wrap(&request.script);
        let line = format!("/bin/sh -c {}", quote(&script));
        let mut child = self
            .session
            .clone()
            .arc_raw_command(&line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .await
            .map_err(|e| self.classify(&e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
            return Err(Error::Failed {
                host: self.host.clone(),
                reason: "the held command's channel has no pipes".into(),
            });
        };
        Ok(Held::new(
            Box::pin(stdin),
            Box::pin(stdout),
            Box::new((child, permit)),
        ))
    }

    /// Runs a request as one channel on the master.
    async fn run_channel(&self, request: &Request) -> Result<Output> {
        let _permit = self.channels.acquire().await.map_err(|_| Error::Failed {
            host: self.host.clone(),
            reason: "connection is closing".into(),
        })?;
        let script = request.escalation.wrap(&request.script);
        // The login shell of the remote user runs this line; `/bin/sh -c` makes the script POSIX
        // whatever that shell is.
        let line = format!("/bin/sh -c {}", quote(&script));
        let work = async {
            let mut child = self
                .session
                .raw_command(&line)
                .stdin(if request.stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
                .map_err(|e| self.classify(&e))?;
            let feed = feed_stdin(request.stdin.as_ref(), child.stdin().take());
            // Feed stdin while reading stdout/stderr, so neither side can fill a pipe and block.
            let (_, output) = tokio::join!(feed, child.wait_with_output());
            output.map_err(|e| self.classify(&e))
        };
        let output = match request.timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| Error::Timeout {
                    host: self.host.clone(),
                    seconds: limit.as_secs(),
                })?,
            None => work.await,
        }?;
        finish(&self.host, request, output)
    }

    /// Lets go of the master connection (when this is the last clone; otherwise the master
    /// stays for the others, and the run's [`ControlDir`] stops it when dropped): a persistent
    /// master stays for the next run, any other is stopped.
    pub async fn close(self) {
        // The long-lived shells hold the master too: end them first (when no clone shares them).
        if let Some(shells) = self.shells.and_then(|s| Arc::try_unwrap(s).ok())
            && let Ok(map) = shells.into_inner()
        {
            drop(map);
        }
        if let Ok(session) = Arc::try_unwrap(self.session) {
            if self.persistent {
                // left for the next run; it ends after its idle time
                let _ = session.detach();
            } else {
                let _ = session.close().await;
            }
        }
    }

    fn classify(&self, e: &openssh::Error) -> Error {
        match e {
            openssh::Error::Connect(_)
            | openssh::Error::Master(_)
            | openssh::Error::Disconnected
            | openssh::Error::SshMux(_) => unreachable(&self.host, e),
            other => Error::Failed {
                host: self.host.clone(),
                reason: other.to_string(),
            },
        }
    }
}

/// Options drover must own for multiplexing to work (`ControlMaster`, `ControlPath`): a user
/// value for them is refused (`ControlPersist` is read by [`parse_persist`]).
pub fn is_reserved_option(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "controlmaster" | "controlpath"
    )
}

/// A `ControlPersist` value as ssh_config(5) reads it: `no` (the master ends with the run), a
/// number of seconds, or a time such as `60s`, `10m` or `1h30m`. `yes` (forever) is refused:
/// drover's masters always end after an idle time.
pub fn parse_persist(value: &str) -> std::result::Result<Option<Duration>, String> {
    let v = value.trim().to_ascii_lowercase();
    let refuse = || {
        Err(format!(
            "ControlPersist `{value}` is not supported by drover: give an idle time (`60s`, `10m`) or `no`"
        ))
    };
    if v == "no" || v == "false" || v == "0" {
        return Ok(None);
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return refuse(),
        };
        let Ok(n) = digits.parse::<u64>() else {
            return refuse();
        };
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() {
        let Ok(n) = digits.parse::<u64>() else {
            return refuse();
        };
        total = total.saturating_add(n);
    }
    if v.is_empty() {
        return refuse();
    }
    Ok((total > 0).then(|| Duration::from_secs(total)))
}

/// The options drover writes for a host: the user's extra options, and the keepalive
/// ([`SERVER_ALIVE_INTERVAL`], [`SERVER_ALIVE_COUNT_MAX`]) unless they set either of its two.
fn config_options(options: &SshOptions) -> Vec<(String, String)> {
    let mut all = options.extra_options.clone();
    let user_keepalive = all.iter().any(|(key, _)| {
        key.eq_ignore_ascii_case("ServerAliveInterval")
            || key.eq_ignore_ascii_case("ServerAliveCountMax")
    });
    if !user_keepalive {
        all.push((
            "ServerAliveInterval".into(),
            SERVER_ALIVE_INTERVAL.to_string(),
        ));
        all.push((
            "ServerAliveCountMax".into(),
            SERVER_ALIVE_COUNT_MAX.to_string(),
        ));
    }
    all
}

/// Starts a master for `options` with its socket in `dir`, staying `idle` after its last
/// client.
async fn start_master(
    host: &str,
    options: &SshOptions,
    control: &ControlDir,
    dir: &Path,
    idle: Duration,
) -> Result<Session> {
    let mut builder = SessionBuilder::default();
    builder
        .known_hosts_check(match options.host_key_policy {
            HostKeyPolicy::Strict => KnownHosts::Strict,
            HostKeyPolicy::AcceptNew => KnownHosts::Add,
            HostKeyPolicy::Off => KnownHosts::Accept,
        })
        .connect_timeout(options.connect_timeout)
        .control_directory(dir)
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(usize::try_from(idle.as_secs()).unwrap_or(usize::MAX))
                .unwrap_or(NonZeroUsize::MIN),
        ));
    if let Some(port) = options.port {
        builder.port(port);
    }
    if let Some(user) = &options.user {
        builder.user(user.clone());
    }
    if let Some(key) = &options.key_file {
        builder.keyfile(key);
    }
    // The options go in through a generated config file (the crate has no `-o`); ssh reads
    // it only while the master starts, so it is removed when this function returns.
    let generated = write_config(host, options, control).map_err(|e| Error::Failed {
        host: host.to_string(),
        reason: format!("cannot write the ssh options file: {e}"),
    })?;
    builder.config_file(generated.path());
    if let Some(known_hosts) = &options.known_hosts_file {
        builder.user_known_hosts_file(known_hosts);
    }
    if !options.jump_hosts.is_empty() {
        builder.jump_hosts(&options.jump_hosts);
    }
    let session = builder
        .connect_mux(&options.address)
        .await
        .map_err(|e| unreachable(host, &e))?;
    // The crate makes the master's directory with the umask's mode (0755 under 022); the
    // directory around it is 0700 already, this keeps every level private.
    if let Some(dir) = session.control_socket().parent() {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(session)
}

/// Writes `Host *` + drover's options ([`config_options`]) into a file (mode 0600) in the
/// run's control directory, removed when the returned handle drops. The file then includes the
/// given `-F` file (which ssh checks as it checks `~/.ssh/config`: owned by the user or root,
/// not writable by others), or else the user's and the system's config in ssh's own order;
/// nothing when `isolated`. ssh takes the first value it reads, so these options win over the
/// included ones, as `-o` would.
fn write_config(
    host: &str,
    options: &SshOptions,
    control: &ControlDir,
) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut text =
        String::from("# generated by drover (ansible_ssh_*_args and defaults)\nHost *\n");
    for (key, value) in config_options(options) {
        text.push_str(&format!("  {key} {value}\n"));
    }
    match &options.config_file {
        _ if options.isolated => {}
        // `-F /dev/null` reads nothing, and ssh refuses to include it (mode 0666).
        Some(file) if file == Path::new("/dev/null") => {}
        Some(file) => text.push_str(&format!("Include {}\n", file.display())),
        None => text.push_str("Include ~/.ssh/config\nInclude /etc/ssh/ssh_config\n"),
    }
    let safe: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Unique per connection: two endpoints of one host may start at once.
    let mut file = tempfile::Builder::new()
        .prefix(&format!("{safe}."))
        .suffix(".conf")
        .tempfile_in(control.path())?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file)
}

fn unreachable(host: &str, e: &openssh::Error) -> Error {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    Error::Unreachable {
        host: host.to_string(),
        reason: reason.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn control() -> (tempfile::TempDir, ControlDir) {
        let base = tempfile::tempdir().unwrap();
        let control = ControlDir::in_base(&base.path().join("drover")).unwrap();
        (base, control)
    }

    #[test]
    fn an_isolated_config_includes_no_other_config() {
        let (_base, control) = control();
        let mut options = SshOptions::new("127.0.0.1");
        options.extra_options = vec![("GlobalKnownHostsFile".into(), "/dev/null".into())];
        let text = |o: &SshOptions| {
            std::fs::read_to_string(write_config("h", o, &control).unwrap().path()).unwrap()
        };
        let plain = text(&options);
        assert!(
            plain.contains("  GlobalKnownHostsFile /dev/null\n"),
            "{plain}"
        );
        assert!(
            plain.contains("Include ~/.ssh/config\nInclude /etc/ssh/ssh_config\n"),
            "{plain}"
        );
        options.config_file = Some(PathBuf::from("/etc/x"));
        let given = text(&options);
        assert!(given.ends_with("Include /etc/x\n"), "{given}");
        options.config_file = Some(PathBuf::from("/dev/null"));
        let none = text(&options);
        assert!(!none.contains("Include"), "{none}");
        options.isolated = true;
        let isolated = text(&options);
        assert!(!isolated.contains("Include"), "{isolated}");
        assert!(
            isolated.contains("  GlobalKnownHostsFile /dev/null\n"),
            "{isolated}"
        );
    }

    #[test]
    fn the_options_file_is_private_and_removed_after_use() {
        let (_base, control) = control();
        let file = write_config("a host/x", &SshOptions::new("h"), &control).unwrap();
        let path = file.path().to_path_buf();
        assert_eq!(path.parent(), Some(control.path()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("a_host_x.") && name.ends_with(".conf"),
            "{name}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn control_persist_values_read_as_ssh_reads_them() {
        let secs = |s: u64| Ok(Some(Duration::from_secs(s)));
        for (value, want) in [
            ("60", secs(60)),
            ("60s", secs(60)),
            ("10m", secs(600)),
            ("1h30m", secs(5400)),
            ("no", Ok(None)),
            ("0", Ok(None)),
        ] {
            assert_eq!(parse_persist(value), want, "{value}");
        }
        for bad in ["yes", "", "5x", "m"] {
            assert!(parse_persist(bad).is_err(), "{bad}");
        }
        assert_eq!(SshOptions::new("a").persist, Some(PERSIST));
        let (a, mut b) = (SshOptions::new("a"), SshOptions::new("a"));
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.connect_timeout = Duration::from_secs(3);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
    }

    #[test]
    fn drover_sets_the_keepalive_unless_the_user_does() {
        let (_base, control) = control();
        let text = |o: &SshOptions| {
            std::fs::read_to_string(write_config("h", o, &control).unwrap().path()).unwrap()
        };
        let mut options = SshOptions::new("h");
        let default = text(&options);
        assert!(
            default.contains(&format!(
                "Host *\n  ServerAliveInterval {SERVER_ALIVE_INTERVAL}\n  ServerAliveCountMax {SERVER_ALIVE_COUNT_MAX}\n"
            )),
            "{default}"
        );

        options.extra_options = vec![("serveraliveinterval".into(), "10".into())];
        let theirs = text(&options);
        assert!(theirs.contains("  serveraliveinterval 10\n"), "{theirs}");
        assert!(!theirs.contains("ServerAlive"), "{theirs}");

        options.extra_options = vec![("ServerAliveCountMax".into(), "6".into())];
        let theirs = text(&options);
        assert!(!theirs.contains("ServerAliveInterval"), "{theirs}");
        assert_eq!(theirs.matches("ServerAliveCountMax").count(), 1, "{theirs}");
    }
}
