//! A long-lived POSIX shell fed framed requests: the no-session-setup path for commands.
//!
//! Opening an SSH channel costs the node a session (sshd forks, the login shell starts) and
//! `sudo` another process tree: tens of milliseconds per command. Instead, one `/bin/sh` per
//! host and escalation reads requests on its stdin for the whole run. Each request is written as
//!
//! ```text
//! ( eval '<script>' ) </dev/null
//! printf '\n%s %d\n' <token>-<n> "$?"; printf '\n%s\n' <token>-<n> >&2
//! ```
//!
//! - the script runs in a subshell, so `exit`, `cd`, `set -e`, traps and variables do not leak
//!   into the next request, and its stdin is `/dev/null` (it cannot eat the next request);
//! - its stdout and stderr stay separate (the channel's two streams); after the subshell ends the
//!   shell prints an end marker on each stream: a newline, a per-run random token with the
//!   request's number, and on stdout the exit status. Everything before the marker is the
//!   script's output, byte for byte (binary data included);
//! - the markers come from builtins (`printf`), so a request costs the node one fork (the
//!   subshell) on top of what the script itself runs. A script that uses `$$` runs as
//!   `exec /bin/sh -c '<script>'` in the subshell instead, so `$$` is its own process id, as
//!   with a fresh `sh -c`.
//!
//! The very first bytes written are a bootstrap that takes the run's shared work lock (so the
//! node stays locked while a command of an interrupted run still runs, see [`crate::lock`]) and
//! prints a ready marker on both streams:
//! anything before it (a login shell's noise, sudo warnings) is dropped, and a shell that never
//! prints it did not start (e.g. `sudo -n` refused): nothing ran, and the caller can fall back to
//! a plain channel, which reports the reason exactly as before.
//!
//! Known limit: a background process started by a script that keeps writing to its inherited
//! stdout after the script ends would have that output appear in a later request's stdout
//! (redirect daemons' output, as with Ansible).

use std::any::Any;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::shell::quote;

/// A boxed reader (a stream of the shell's channel).
pub(crate) type Reader = Pin<Box<dyn AsyncRead + Send>>;
/// A boxed writer (the shell's stdin).
pub(crate) type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// Why a framed exchange produced no output.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The shell never printed its ready marker: it did not start (sudo refused, no
    /// `/bin/sh`, the channel was refused). The script did not run.
    NotStarted,
    /// The shell ended or I/O failed during the request; the script may have run.
    Lost(String),
}

/// One request's result: exit status, stdout, stderr.
pub(crate) type Exchange = (i32, Vec<u8>, Vec<u8>);

/// A shell reading framed requests. Dropping it closes its stdin (the remote shell exits after
/// the request it is running, if any) and drops the process/channel handle.
pub(crate) struct FramedShell {
    stdin: Writer,
    stdout: Reader,
    stderr: Reader,
    token: String,
    seq: u64,
    ready: bool,
    out: Vec<u8>,
    err: Vec<u8>,
    _owner: Box<dyn Any + Send>,
}

impl FramedShell {
    /// Wraps a started shell's streams; `owner` keeps its process or channel alive.
    pub(crate) fn new(
        stdin: Writer,
        stdout: Reader,
        stderr: Reader,
        owner: Box<dyn Any + Send>,
    ) -> FramedShell {
        FramedShell {
            stdin,
            stdout,
            stderr,
            token: random_token(),
            seq: 0,
            ready: false,
            out: Vec::new(),
            err: Vec::new(),
            _owner: owner,
        }
    }

    /// The command line that starts the shell (before escalation): a POSIX shell reading its
    /// commands from stdin.
    pub(crate) const COMMAND: &'static str = "/bin/sh";

    /// True when the shell's channel has already ended (checked without waiting, before a
    /// request is sent, so a dead shell can be replaced with nothing run).
    pub(crate) async fn is_closed(&mut self) -> bool {
        // Let the runtime poll its I/O driver once (without waiting), so an end of the streams
        // the kernel already has is seen by the reads below. (A zero `timeout` here cost a
        // timer tick, about 1 ms, per stream and request.)
        tokio::task::yield_now().await;
        let mut chunk = [0u8; 8192];
        for (stream, buf) in [
            (&mut self.stdout, &mut self.out),
            (&mut self.stderr, &mut self.err),
        ] {
            // Poll the read once: pending means open with nothing to read.
            let mut read = std::pin::pin!(stream.read(&mut chunk));
            let polled = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
            match polled {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return true,
                Poll::Ready(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Poll::Pending => {}
            }
        }
        false
    }

    /// Runs one script and returns (status, stdout, stderr).
    pub(crate) async fn exchange(&mut self, script: &str) -> Result<Exchange, FrameError> {
        self.seq += 1;
        let tag = format!("{}-{}", self.token, self.seq);
        let mut text = String::new();
        let ready_tag = format!("{}-ready\n", self.token);
        if !self.ready {
            text.push_str(&crate::lock::work_lock());
            text.push_str(&format!(
                "printf '%s\\n' {t}-ready; printf '%s\\n' {t}-ready >&2\n",
                t = self.token
            ));
        }
        text.push_str(&frame(script, &tag));

        let write = async {
            self.stdin.write_all(text.as_bytes()).await?;
            self.stdin.flush().await
        };
        let ready = self.ready;
        let out_marker = format!("\n{tag} ").into_bytes();
        let err_marker = format!("\n{tag}\n").into_bytes();
        let read_out = read_stream(
            &mut self.stdout,
            &mut self.out,
            (!ready).then_some(ready_tag.as_bytes()),
            &out_marker,
            true,
        );
        let read_err = read_stream(
            &mut self.stderr,
            &mut self.err,
            (!ready).then_some(ready_tag.as_bytes()),
            &err_marker,
            false,
        );
        let (written, out, err) = tokio::join!(write, read_out, read_err);
        if !ready {
            // No ready marker on either stream: the shell never ran, nor did the script. One
            // marker only: it started, so a failure below may come after the script ran.
            if !out.started && !err.started {
                return Err(FrameError::NotStarted);
            }
            self.ready = true;
        }
        if let Err(e) = written {
            return Err(FrameError::Lost(format!("cannot write to the shell: {e}")));
        }
        match (out.result, err.result) {
            (Ok(Some((stdout, rc))), Ok(Some((stderr, _)))) => {
                let rc = rc.ok_or_else(|| FrameError::Lost("malformed end marker".into()))?;
                Ok((rc, stdout, stderr))
            }
            (Err(e), _) | (_, Err(e)) => Err(FrameError::Lost(e.to_string())),
            _ => Err(FrameError::Lost(
                "its channel closed before the end marker".into(),
            )),
        }
    }
}

/// The text of one request.
pub(crate) fn frame(script: &str, tag: &str) -> String {
    // `$$` must be the script's own process (temporary and backup file names use it): give
    // such scripts their own `sh`, as `sh -c` would.
    let body = if script.contains("$$") {
        format!("exec /bin/sh -c {}", quote(script))
    } else {
        format!("eval {}", quote(script))
    };
    format!(
        "( {body}\n) </dev/null\nprintf '\\n%s %d\\n' {tag} \"$?\"; printf '\\n%s\\n' {tag} >&2\n"
    )
}

struct StreamRead {
    /// The ready marker was seen (or was not expected).
    started: bool,
    /// `Ok(Some((data, rc)))` once the end marker arrived; `Ok(None)` at end of stream.
    result: io::Result<Option<(Vec<u8>, Option<i32>)>>,
}

/// Reads `stream` into `buf` until the end marker (after the ready marker when one is
/// expected). With `with_rc` the marker is followed by the exit status and a newline.
/// Bytes after the marker stay in `buf` for the next request.
async fn read_stream(
    stream: &mut Reader,
    buf: &mut Vec<u8>,
    ready: Option<&[u8]>,
    marker: &[u8],
    with_rc: bool,
) -> StreamRead {
    let mut started = ready.is_none();
    let mut from = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if !started
            && let Some(ready) = ready
            && let Some(at) = find(buf, ready, 0)
        {
            buf.drain(..at + ready.len());
            started = true;
            from = 0;
        }
        if started && let Some(at) = find(buf, marker, from) {
            let tail = at + marker.len();
            if !with_rc {
                let data = buf[..at].to_vec();
                buf.drain(..tail);
                return StreamRead {
                    started,
                    result: Ok(Some((data, None))),
                };
            }
            if let Some(nl) = buf[tail..].iter().position(|&b| b == b'\n') {
                let rc = std::str::from_utf8(&buf[tail..tail + nl])
                    .ok()
                    .and_then(|s| s.parse().ok());
                let data = buf[..at].to_vec();
                buf.drain(..tail + nl + 1);
                return StreamRead {
                    started,
                    result: Ok(Some((data, rc))),
                };
            }
            // The status has not arrived yet: search from the marker again.
            from = at;
        } else if started {
            from = buf.len().saturating_sub(marker.len());
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return StreamRead {
                    started,
                    result: Ok(None),
                };
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return StreamRead {
                    started,
                    result: Err(e),
                };
            }
        }
    }
}

/// Position of `needle` in `haystack`, searching from `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() || from > haystack.len() - needle.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// 128 random bits as hex, from the OS (the node cannot guess the markers).
pub(crate) fn random_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_os {
        // std's hasher keys are seeded from the OS as well.
        use std::hash::{BuildHasher, Hasher};
        for (i, half) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default(),
            );
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    let mut token = String::from("drover");
    for b in bytes {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::process::Stdio;
    use std::time::Duration;

    /// A framed shell on a local `/bin/sh` (the same protocol as over SSH, without the channel).
    fn local_shell(command: &str) -> FramedShell {
        local_shell_pid(command).0
    }

    fn local_shell_pid(command: &str) -> (FramedShell, u32) {
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = Box::pin(child.stdin.take().unwrap());
        let stdout = Box::pin(child.stdout.take().unwrap());
        let stderr = Box::pin(child.stderr.take().unwrap());
        let pid = child.id().unwrap();
        (
            FramedShell::new(stdin, stdout, stderr, Box::new(child)),
            pid,
        )
    }

    async fn run(shell: &mut FramedShell, script: &str) -> Exchange {
        shell.exchange(script).await.unwrap()
    }

    #[tokio::test]
    async fn status_and_separate_streams() {
        let mut sh = local_shell("exec /bin/sh");
        let (rc, out, err) = run(&mut sh, "echo hi; echo oops >&2; exit 7").await;
        assert_eq!((rc, &out[..], &err[..]), (7, &b"hi\n"[..], &b"oops\n"[..]));
        let (rc, out, err) = run(&mut sh, "printf %s 'no newline'").await;
        assert_eq!((rc, &out[..], &err[..]), (0, &b"no newline"[..], &b""[..]));
        let (rc, out, _) = run(&mut sh, "false").await;
        assert_eq!((rc, out.len()), (1, 0));
    }

    #[tokio::test]
    async fn nothing_leaks_between_requests() {
        let mut sh = local_shell("exec /bin/sh");
        run(
            &mut sh,
            "cd /tmp; X=1; export Y=2; set -e; trap 'echo trapped' EXIT; umask 077; f() { :; }",
        )
        .await;
        let (rc, out, _) = run(
            &mut sh,
            "pwd; echo \"[${X-}][${Y-}]\"; umask; command -v f || echo nof; false; echo after",
        )
        .await;
        let text = String::from_utf8(out).unwrap();
        assert_eq!(rc, 0);
        assert!(!text.starts_with("/tmp\n"), "{text}");
        assert!(text.contains("[][]\n"), "{text}");
        assert!(!text.contains("0077"), "{text}");
        assert!(text.ends_with("nof\nafter\n"), "{text}");
        // `exit` ends only the request
        let (rc, _, _) = run(&mut sh, "exit 3").await;
        assert_eq!(rc, 3);
        let (rc, out, _) = run(&mut sh, "echo alive").await;
        assert_eq!((rc, &out[..]), (0, &b"alive\n"[..]));
    }

    #[tokio::test]
    async fn stdin_is_empty_and_the_stream_is_not_eaten() {
        let mut sh = local_shell("exec /bin/sh");
        let (rc, out, _) = run(&mut sh, "cat; read x || echo eof").await;
        assert_eq!((rc, &out[..]), (0, &b"eof\n"[..]));
        let (_, out, _) = run(&mut sh, "echo next").await;
        assert_eq!(out, b"next\n");
    }

    #[tokio::test]
    async fn binary_and_large_outputs_and_marker_lookalikes() {
        let mut sh = local_shell("exec /bin/sh");
        let (rc, out, err) = run(
            &mut sh,
            "head -c 3000000 /dev/zero | tr '\\0' x; head -c 200000 /dev/zero >&2",
        )
        .await;
        assert_eq!((rc, out.len(), err.len()), (0, 3_000_000, 200_000));
        assert!(out.iter().all(|&b| b == b'x') && err.iter().all(|&b| b == 0));
        // every byte value, and text that looks like a marker without the run's token
        let (rc, out, _) = run(
            &mut sh,
            "i=0; while [ $i -lt 256 ]; do printf \"\\\\$(printf %o $i)\"; i=$((i+1)); done",
        )
        .await;
        assert_eq!(rc, 0);
        assert_eq!(out, (0..=255u8).collect::<Vec<_>>());
        let fake = format!("\ndrover{}-2 0\n", "0".repeat(32));
        let (_, out, _) = run(&mut sh, &format!("printf %s {}", quote(&fake))).await;
        assert_eq!(out, fake.as_bytes());
        // the real token in the output: a different request number does not end the frame
        let token = sh.token.clone();
        let lookalike = format!("\n{token}-99 5\n\n{token}-99\n");
        let (rc, out, err) = run(
            &mut sh,
            &format!("printf %s {q}; printf %s {q} >&2", q = quote(&lookalike)),
        )
        .await;
        assert_eq!(
            (rc, &out[..], &err[..]),
            (0, lookalike.as_bytes(), lookalike.as_bytes())
        );
    }

    #[tokio::test]
    async fn quoting_syntax_errors_heredocs_and_pid() {
        let mut sh = local_shell("exec /bin/sh");
        let (_, out, _) = run(&mut sh, "printf %s 'it'\\''s $HOME'").await;
        assert_eq!(out, b"it's $HOME");
        let (rc, _, err) = run(&mut sh, "if then fi (").await;
        assert_eq!(rc, 2, "{}", String::from_utf8_lossy(&err));
        let (rc, out, _) = run(&mut sh, "cat <<'EOF'\n$x `y`\nEOF\necho done").await;
        assert_eq!((rc, &out[..]), (0, &b"$x `y`\ndone\n"[..]));
        let (_, a, _) = run(&mut sh, "echo $$").await;
        let (_, b, _) = run(&mut sh, "echo $$").await;
        assert_ne!(a, b, "each script that uses $$ gets its own process id");
    }

    #[tokio::test]
    async fn startup_noise_is_dropped_and_a_failed_start_is_reported() {
        let mut sh = local_shell("echo motd; echo warning >&2; exec /bin/sh");
        let (rc, out, err) = run(&mut sh, "echo x").await;
        assert_eq!((rc, &out[..], &err[..]), (0, &b"x\n"[..], &b""[..]));

        let mut sh = local_shell("echo 'sudo: a password is required' >&2; exit 1");
        assert!(matches!(
            sh.exchange("echo x").await,
            Err(FrameError::NotStarted)
        ));
    }

    #[tokio::test]
    async fn a_dead_shell_is_detected_before_and_during_a_request() {
        let (mut sh, pid) = local_shell_pid("exec /bin/sh");
        run(&mut sh, "true").await;
        assert!(!sh.is_closed().await);
        // the shell is killed while it runs a request: the request is lost, not answered
        let kill = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
        };
        let (result, ()) = tokio::join!(sh.exchange("sleep 0.3"), kill);
        assert!(matches!(result, Err(FrameError::Lost(_))), "{result:?}");
        assert!(sh.is_closed().await);
    }

    #[tokio::test]
    async fn a_shell_that_ended_between_requests_is_seen_closed_at_once() {
        let (mut sh, pid) = local_shell_pid("exec /bin/sh");
        run(&mut sh, "true").await;
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(!sh.is_closed().await);
        }
        // no timer per check: 100 checks of an idle open shell take far less than the 200 ms
        // that two 1 ms timer ticks per check cost
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(sh.is_closed().await);
    }
}
