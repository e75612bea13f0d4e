//! Several read-only scripts in one request: one round trip for the probes of the tasks ahead
//! (the executor's look-ahead).
//!
//! Each script runs as the framed shell runs a request ([`crate::framed`]): in its own
//! subshell with stdin from `/dev/null`, followed by an end marker on each stream (a newline, a
//! per-batch random token with the script's number, and on stdout its exit status), all from
//! builtins. The scripts run one after the other, whatever their statuses; [`Batch::split`]
//! cuts the outputs apart byte for byte. A batch that ends early (its connection lost) gives
//! the outputs up to where it ended.

use crate::{Become, Output, Request};

/// The shape of a sent batch: how to cut its output into the scripts' outputs.
#[derive(Debug)]
pub struct Batch {
    token: String,
    count: usize,
}

impl Batch {
    /// One request running `scripts` in order, as `escalation`, or `None` when there is
    /// nothing to batch. Scripts must be self-contained (no stdin, no time limit): the caller
    /// leaves such requests out.
    pub fn new(scripts: &[&str], escalation: &Become) -> Option<(Request, Batch)> {
        if scripts.is_empty() {
            return None;
        }
        let token = crate::framed::random_token();
        let mut text = String::new();
        for (i, script) in scripts.iter().enumerate() {
            text.push_str(&crate::framed::frame(script, &format!("{token}-{i}")));
        }
        let batch = Batch {
            token,
            count: scripts.len(),
        };
        Some((Request::new(text).with_become(escalation.clone()), batch))
    }

    /// The scripts' outputs, in order: `None` for a script whose end markers are missing (the
    /// batch stopped before it ended) and for every one after it.
    pub fn split(&self, out: &Output) -> Vec<Option<Output>> {
        let mut parts = Vec::with_capacity(self.count);
        let (mut o, mut e) = (0, 0);
        for i in 0..self.count {
            let tag = format!("{}-{i}", self.token);
            let out_marker = format!("\n{tag} ").into_bytes();
            let err_marker = format!("\n{tag}\n").into_bytes();
            let Some(at) = find(&out.stdout, &out_marker, o) else {
                break;
            };
            let rest = at + out_marker.len();
            let Some(nl) = out.stdout[rest..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let Some(status) = std::str::from_utf8(&out.stdout[rest..rest + nl])
                .ok()
                .and_then(|s| s.parse().ok())
            else {
                break;
            };
            let Some(err_at) = find(&out.stderr, &err_marker, e) else {
                break;
            };
            parts.push(Some(Output {
                status,
                stdout: out.stdout[o..at].to_vec(),
                stderr: out.stderr[e..err_at].to_vec(),
            }));
            o = rest + nl + 1;
            e = err_at + err_marker.len();
        }
        parts.resize(self.count, None);
        parts
    }
}

/// Position of `needle` in `haystack` from `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Runs a request's script with `sh -c` (what a plain channel does).
    fn sh(request: &Request) -> Output {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&request.script)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Output {
            status: out.status.code().unwrap(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    /// Each script's status and streams come back as if it had run alone, binary data and
    /// missing final newlines included; a failing or exiting script does not stop the others.
    #[test]
    fn each_script_reads_as_if_run_alone() {
        let scripts = [
            "echo one; echo err1 >&2",
            "printf 'no newline'; exit 3",
            "printf '\\000\\377\\n\\n'; cd /; X=1; set -e; false; echo never",
            "echo \"[${X-}]\"; pwd >/dev/null; test \"$$\" -gt 0 && echo pid",
            "cat; echo after-stdin",
        ];
        let (request, batch) = Batch::new(&scripts, &Become::default()).unwrap();
        let parts = batch.split(&sh(&request));
        let alone: Vec<Output> = scripts.iter().map(|s| sh(&Request::new(*s))).collect();
        assert_eq!(parts.len(), scripts.len());
        for ((part, alone), script) in parts.iter().zip(&alone).zip(scripts) {
            let part = part.as_ref().unwrap();
            assert_eq!(part.status, alone.status, "{script}");
            assert_eq!(part.stderr, alone.stderr, "{script}");
            assert_eq!(part.stdout, alone.stdout, "{script}");
        }
        assert_eq!(parts[4].as_ref().unwrap().stdout, b"after-stdin\n");
        assert_eq!(parts[3].as_ref().unwrap().stdout, b"[]\npid\n");
    }

    /// A batch cut short gives the outputs that ended, and nothing after.
    #[test]
    fn a_batch_cut_short_gives_what_ended() {
        let (request, batch) =
            Batch::new(&["echo a", "echo b", "echo c"], &Become::root()).unwrap();
        assert!(request.escalation.enabled);
        let full = sh(&Request::new(request.script.clone()));
        // cut the streams just after the first script's markers
        let tag0 = format!("{}-0 0\n", batch.token);
        let cut = find(&full.stdout, tag0.as_bytes(), 0).unwrap() + tag0.len();
        let short = Output {
            status: 255,
            stdout: full.stdout[..cut + 1].to_vec(),
            stderr: full.stderr.clone(),
        };
        let parts = batch.split(&short);
        assert_eq!(parts[0].as_ref().unwrap().stdout, b"a\n");
        assert_eq!(parts[1..], [None, None]);
        assert!(Batch::new(&[], &Become::default()).is_none());
    }
}
