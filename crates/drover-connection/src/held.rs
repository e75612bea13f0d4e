//! A command kept running on a node for as long as drover holds it: its stdin is a pipe from
//! drover that receives a heartbeat byte (`x`) every [`HEARTBEAT`], so the command can end
//! when the [`Held`] is dropped, when the connection closes, when drover dies (the kernel
//! closes the pipe), or when the beats stop arriving. [`Held::release`] ends it cleanly: one
//! byte `d`, so the command can tell a finished run from a lost one. The run lock is one (see
//! [`crate::lock`]).

use std::any::Any;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines};
use tokio::task::JoinHandle;

/// How often a held command's stdin receives a byte.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A running command whose stdout drover reads line by line.
pub struct Held {
    lines: Lines<BufReader<Pin<Box<dyn AsyncRead + Send>>>>,
    /// Writes the heartbeat; aborted on drop, which closes stdin and ends the command.
    beat: JoinHandle<()>,
    /// Tells the heartbeat to write the release byte and stop.
    release: Option<tokio::sync::oneshot::Sender<()>>,
    _guard: Box<dyn Any + Send>,
}

/// The byte that ends a held command cleanly (the heartbeat's is `x`).
pub const RELEASE: u8 = b'd';

impl Drop for Held {
    fn drop(&mut self) {
        self.beat.abort();
    }
}

impl Held {
    /// Wraps a started command: its stdin (kept open, beating), its stdout, and whatever must
    /// live as long as it does (the child handle, a channel permit).
    pub(crate) fn new(
        mut stdin: Pin<Box<dyn AsyncWrite + Send>>,
        stdout: Pin<Box<dyn AsyncRead + Send>>,
        guard: Box<dyn Any + Send>,
    ) -> Held {
        let (release, mut released) = tokio::sync::oneshot::channel::<()>();
        let beat = tokio::spawn(async move {
            loop {
                if stdin.write_all(b"x").await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(HEARTBEAT) => {}
                    _ = &mut released => {
                        let _ = stdin.write_all(&[RELEASE]).await;
                        let _ = stdin.flush().await;
                        let _ = stdin.shutdown().await;
                        break;
                    }
                }
            }
        });
        Held {
            lines: BufReader::new(stdout).lines(),
            beat,
            release: Some(release),
            _guard: guard,
        }
    }

    /// Ends the command cleanly: the release byte, then end of input (waiting at most a
    /// second for them to be written). Dropping a [`Held`] instead ends its input only.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take()
            && release.send(()).is_ok()
        {
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.beat).await;
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
