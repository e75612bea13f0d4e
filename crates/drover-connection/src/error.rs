//! Connection errors. A command that runs and exits non-zero is not an error here (its status
//! is in [`crate::Output`]); these are the cases where the node could not be asked at all.

/// Why a command could not be run on a node.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The node cannot be reached (connection refused, timed out, host key rejected, master
    /// died). Reported as UNREACHABLE, like Ansible.
    #[error("{host} is unreachable: {reason}")]
    Unreachable {
        /// The host's inventory name.
        host: String,
        /// What ssh said.
        reason: String,
    },
    /// `become` needs a password and drover never prompts.
    #[error("sudo on {host} requires a password; drover runs `sudo -n` and never prompts")]
    BecomePasswordRequired {
        /// The host's inventory name.
        host: String,
    },
    /// The command did not finish within its time limit (it may still run on the node).
    #[error("command on {host} did not finish within {seconds}s")]
    Timeout {
        /// The host's inventory name.
        host: String,
        /// The limit that was exceeded.
        seconds: u64,
    },
    /// The remote process was killed by a signal, or local I/O failed.
    #[error("command on {host} failed: {reason}")]
    Failed {
        /// The host's inventory name.
        host: String,
        /// What happened.
        reason: String,
    },
}

/// Result alias for connection operations.
pub type Result<T> = std::result::Result<T, Error>;
