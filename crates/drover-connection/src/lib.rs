//! Connections to nodes.
//!
//! - [`SshConnection`]: the system OpenSSH client through the `openssh` crate with native
//!   multiplexing: one ControlMaster per host for the whole run, so every later command is one
//!   round trip on an existing connection. The user's `~/.ssh/config`, agent, ProxyJump and
//!   certificates work unchanged. Strict host-key checking unless the caller opts in to accepting
//!   new keys. Channels per host are capped below sshd's `MaxSessions` (10). Commands without
//!   stdin data run on a long-lived shell per host and escalation on that master (framed
//!   requests, see `framed.rs`), so a command costs the node no session or `sudo` setup.
//!   The masters' sockets live in the run's [`ControlDir`] (a private per-user directory;
//!   what a killed run leaves there is cleaned up by the next), and a host that stops answering
//!   is UNREACHABLE within 15 s ([`SERVER_ALIVE_INTERVAL`]).
//! - [`LocalConnection`]: `/bin/sh -c` on the controller (`connection: local`).
//!
//! Commands are POSIX shell text built with [`shell::quote`]; [`Become`] wraps them in `sudo -n`.

mod batch;
mod control;
mod error;
mod escalate;
mod framed;
mod held;
mod local;
pub mod lock;
pub mod shell;
mod ssh;

use std::sync::Arc;
use std::time::Duration;

pub use batch::Batch;
pub use control::{CONTROL_PERSIST_IDLE, ControlDir, MasterDir};
pub use error::{Error, Result};
pub use escalate::Become;
pub use held::Held;
pub use local::LocalConnection;
pub use ssh::{
    HostKeyPolicy, PERSIST, PERSIST_ENV, SERVER_ALIVE_COUNT_MAX, SERVER_ALIVE_INTERVAL,
    SHELL_MODE_ENV, SshConnection, SshOptions, is_reserved_option, parse_persist, persist_from_env,
};

/// Channels opened at once on one host's master (sshd's default `MaxSessions` is 10).
pub const MAX_CHANNELS_PER_HOST: usize = 8;

/// What a finished command returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Exit status (`rc`).
    pub status: i32,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text (lossy UTF-8).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy UTF-8).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// What a request feeds to its script's stdin (file contents for uploads). Cloning shares the
/// bytes: a file sent to many hosts is held once, or not at all when it is read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stdin {
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
    /// A controller file, streamed from disk as it is sent; `len` is the length the sender
    /// expects (an upload checks that this many bytes arrived).
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Its length when it was hashed.
        len: u64,
    },
}

impl Stdin {
    /// The bytes, when they are in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Stdin::Bytes(b) => Some(b),
            Stdin::File { .. } => None,
        }
    }
}

/// One command to run on a node.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// POSIX shell script (run by `/bin/sh -c` on the node).
    pub script: String,
    /// What is fed to the script's stdin.
    pub stdin: Option<Stdin>,
    /// Privilege escalation.
    pub escalation: Become,
    /// Give up after this long (the remote process may keep running; see [`Error::Timeout`]).
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request for a script with no stdin, no become and no timeout.
    pub fn new(script: impl Into<String>) -> Request {
        Request {
            script: script.into(),
            ..Request::default()
        }
    }

    /// Runs the script under `become`.
    #[must_use]
    pub fn with_become(mut self, escalation: Become) -> Request {
        self.escalation = escalation;
        self
    }

    /// Feeds `data` to the script's stdin.
    #[must_use]
    pub fn with_stdin(mut self, data: impl Into<Vec<u8>>) -> Request {
        self.stdin = Some(Stdin::Bytes(data.into().into()));
        self
    }

    /// Feeds `stdin` (shared bytes, or a file streamed from disk) to the script.
    #[must_use]
    pub fn with_stdin_from(mut self, stdin: Stdin) -> Request {
        self.stdin = Some(stdin);
        self
    }

    /// The stdin bytes, when they are in memory (tests look at them).
    pub fn stdin_bytes(&self) -> Option<&[u8]> {
        self.stdin.as_ref().and_then(Stdin::bytes)
    }

    /// Sets a time limit.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }
}

/// A boxed, sendable future (what [`Connection`]'s methods return, so it can be a trait object).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// An open connection to one host, whatever carries it. The executor's pool holds these; a new
/// transport is one more implementation ([`SshConnection`] and [`LocalConnection`] are two).
pub trait Connection: Send + Sync {
    /// Runs a request and returns its output; a non-zero exit status is not an error here.
    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Output>>;
    /// Starts a request that keeps running while the returned [`Held`] lives (its stdin stays
    /// open until then); its stdout is read line by line. The run lock uses it.
    fn hold<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Held>>;

    /// Closes the connection (stops an SSH master); the default does nothing.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

impl Connection for SshConnection {
    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Output>> {
        Box::pin(SshConnection::run(self, request))
    }

    fn hold<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Held>> {
        Box::pin(SshConnection::hold(self, request))
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(SshConnection::close(*self))
    }
}

impl Connection for LocalConnection {
    fn run<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Output>> {
        Box::pin(LocalConnection::run(self, request))
    }

    fn hold<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Held>> {
        Box::pin(LocalConnection::hold(self, request))
    }
}

/// Writes a request's stdin (if any) and closes the pipe: bytes at once, a file in chunks as
/// the pipe takes them. A script may exit without reading its input, so a broken pipe is not
/// an error. A file that cannot be read ends the input early; the receiving script's length
/// check ([`Stdin::File`]'s `len`) then refuses the upload.
pub(crate) async fn feed_stdin<W: tokio::io::AsyncWrite + Unpin>(
    stdin: Option<&Stdin>,
    pipe: Option<W>,
) {
    use tokio::io::AsyncWriteExt;
    let (Some(stdin), Some(mut pipe)) = (stdin, pipe) else {
        return;
    };
    match stdin {
        Stdin::Bytes(data) => {
            let _ = pipe.write_all(data).await;
        }
        Stdin::File { path, len } => {
            if let Ok(file) = tokio::fs::File::open(path).await {
                use tokio::io::AsyncReadExt;
                let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, file.take(*len));
                let _ = tokio::io::copy_buf(&mut reader, &mut pipe).await;
            }
        }
    }
    let _ = pipe.shutdown().await;
}

/// Turns a finished process into an [`Output`], or the right error (sudo password, signal).
pub(crate) fn finish(
    host: &str,
    request: &Request,
    output: std::process::Output,
) -> Result<Output> {
    let Some(status) = output.status.code() else {
        return Err(Error::Failed {
            host: host.to_string(),
            reason: "the remote process was killed by a signal".into(),
        });
    };
    if request.escalation.enabled && status != 0 && escalate::needs_password(&output.stderr) {
        return Err(Error::BecomePasswordRequired {
            host: host.to_string(),
        });
    }
    Ok(Output {
        status,
        stdout: output.stdout,
        stderr: output.stderr,
    })
}
