//! A command kept running on a node for as long as drover holds it: its stdin is a pipe from
//! drover, so it ends when the [`Held`] is dropped, when the connection closes, or when drover
//! dies (the kernel closes the pipe). The run lock is one (see [`crate::lock`]).

use std::any::Any;
use std::pin::Pin;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, Lines};

/// A running command whose stdout drover reads line by line.
pub struct Held {
    lines: Lines<BufReader<Pin<Box<dyn AsyncRead + Send>>>>,
    // Dropped last: closing stdin ends the command.
    _stdin: Pin<Box<dyn AsyncWrite + Send>>,
    _guard: Box<dyn Any + Send>,
}

impl Held {
    /// Wraps a started command: its stdin (kept open), its stdout, and whatever must live as
    /// long as it does (the child handle, a channel permit).
    pub(crate) fn new(
        stdin: Pin<Box<dyn AsyncWrite + Send>>,
        stdout: Pin<Box<dyn AsyncRead + Send>>,
        guard: Box<dyn Any + Send>,
    ) -> Held {
        Held {
            lines: BufReader::new(stdout).lines(),
            _stdin: stdin,
            _guard: guard,
        }
    }

    /// The command's next line of output; `None` once it has ended.
    pub async fn next_line(&mut self) -> Option<String> {
        self.lines.next_line().await.ok().flatten()
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}
