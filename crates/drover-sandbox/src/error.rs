//! Errors of the sandbox: each says what failed and what to do next.

use std::path::PathBuf;

/// Everything that can go wrong while building or running a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `docker` client is missing or the engine does not answer.
    #[error(
        "docker is not usable: {detail}\n  help: install Docker and start the engine (`docker info` must work)"
    )]
    DockerUnavailable {
        /// What `docker info` said.
        detail: String,
    },
    /// A docker command failed.
    #[error("`docker {args}` failed: {stderr}")]
    Docker {
        /// The arguments given to docker.
        args: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// Another external command failed (ssh-keygen, ssh, the image recipe).
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status and standard error.
        detail: String,
    },
    /// Reading or writing a sandbox file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The sandbox's state file is missing: it was never brought up.
    #[error("sandbox `{name}` is not up (no state in {})\n  help: run `drover sandbox up --name {name}`", dir.display())]
    NotUp {
        /// The sandbox name.
        name: String,
        /// Where its state was looked for.
        dir: PathBuf,
    },
    /// A node name that the sandbox does not have.
    #[error("sandbox `{sandbox}` has no node `{node}`{hint}\n  help: nodes are: {known}")]
    UnknownNode {
        /// The sandbox name.
        sandbox: String,
        /// What was asked for.
        node: String,
        /// " (did you mean ...?)" or empty.
        hint: String,
        /// The node names, comma separated.
        known: String,
    },
    /// The request itself is invalid (bad name, node count, subnet).
    #[error("{0}")]
    Invalid(String),
    /// A node did not become reachable in time.
    #[error(
        "node `{node}` did not answer on SSH (127.0.0.1:{port}) within {secs}s: {detail}\n  help: look at `docker logs {container}`"
    )]
    NotReady {
        /// The node's hostname.
        node: String,
        /// Its container.
        container: String,
        /// The published SSH port.
        port: u16,
        /// How long we waited.
        secs: u64,
        /// The last error seen.
        detail: String,
    },
    /// The state file could not be parsed.
    #[error("{}: invalid sandbox state: {source}\n  help: run `drover sandbox down` and `up` again", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
