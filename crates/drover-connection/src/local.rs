//! `connection: local`: scripts run with `/bin/sh -c` on the controller.

use std::process::Stdio;

use tokio::process::Command;

use crate::{Error, Held, Output, Request, Result, feed_stdin, finish};

/// Runs commands on the controller.
#[derive(Clone, Debug)]
pub struct LocalConnection {
    host: String,
}

impl LocalConnection {
    /// A local connection for the inventory host `host` (used in messages).
    pub fn new(host: impl Into<String>) -> LocalConnection {
        LocalConnection { host: host.into() }
    }

    /// Runs a request.
    pub async fn run(&self, request: &Request) -> Result<Output> {
        let script = request.escalation.wrap(&request.script);
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .stdin(if request.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.failed(format!("cannot start /bin/sh: {e}")))?;
        let feed = feed_stdin(request.stdin.as_ref(), child.stdin.take());
        // Feed stdin while reading stdout/stderr, so neither side can fill a pipe and block.
        let wait = async { tokio::join!(feed, child.wait_with_output()).1 };
        let output = match request.timeout {
            Some(limit) => tokio::time::timeout(limit, wait)
                .await
                .map_err(|_| Error::Timeout {
                    host: self.host.clone(),
                    seconds: limit.as_secs(),
                })?,
            None => wait.await,
        }
        .map_err(|e| self.failed(e.to_string()))?;
        finish(&self.host, request, output)
    }

    /// Starts a request kept running while the [`Held`] lives (see [`crate::Connection::hold`]).
    pub async fn hold(&self, request: &Request) -> Result<Held> {
        let script = request.escalation.wrap(&request.script);
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // not killed on drop: it ends by itself at the end of its input, as over ssh
            .spawn()
            .map_err(|e| self.failed(format!("cannot start /bin/sh: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(self.failed("the held command has no pipes".into()));
        };
        Ok(Held::new(
            Box::pin(stdin),
            Box::pin(stdout),
            Box::new(child),
        ))
    }

    fn failed(&self, reason: String) -> Error {
        Error::Failed {
            host: self.host.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_scripts_with_stdin_and_status() {
        let c = LocalConnection::new("localhost");
        let out = c
            .run(&Request::new("tr a-z A-Z; echo err >&2; exit 3").with_stdin("hello"))
            .await
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout_text(), "HELLO");
        assert_eq!(out.stderr_text(), "err\n");
    }

    /// A file is streamed from disk as stdin, up to the length it had when it was hashed.
    #[tokio::test]
    async fn a_file_is_streamed_as_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let c = LocalConnection::new("localhost");
        let stdin = crate::Stdin::File {
            path: path.clone(),
            len: data.len() as u64,
        };
        let request = Request::new("wc -c").with_stdin_from(stdin);
        let out = c.run(&request).await.unwrap();
        assert_eq!(out.stdout_text().trim(), "3000000");
        // the file grew after it was hashed: only the hashed length is sent
        std::fs::write(&path, [data.as_slice(), b"more"].concat()).unwrap();
        let out = c.run(&request).await.unwrap();
        assert_eq!(out.stdout_text().trim(), "3000000");
    }

    #[tokio::test]
    async fn large_output_is_not_truncated() {
        let c = LocalConnection::new("localhost");
        let out = c
            .run(&Request::new("head -c 3000000 /dev/zero | tr '\\0' x"))
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 3_000_000);
    }

    #[tokio::test]
    async fn timeouts_are_reported() {
        let c = LocalConnection::new("localhost");
        let err = c
            .run(&Request::new("sleep 5").with_timeout(Duration::from_millis(100)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
    }
}
