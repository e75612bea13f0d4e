//! Helpers for integration tests that need real sandbox nodes.
//!
//! ```no_run
//! use drover_sandbox::testing::{require_docker, TestSandbox};
//! if !require_docker("my_test") { return; }
//! let sb = TestSandbox::up("my-test", 4).expect("sandbox up");
//! let out = sb.ssh("meta", "hostname").expect("ssh");
//! // `sb` is removed (containers + network) when it goes out of scope,
//! // also when the test panics.
//! ```

use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::docker;
use crate::error::Result;
use crate::sandbox::{Sandbox, UpOptions, UpTimings};

/// Whether this run is under CI (`CI` set to anything but `false`/`0`/empty).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Returns true when Docker is usable. Without Docker it panics under CI
/// (a test that needs Docker must never pass silently there) and otherwise
/// prints why `test` is skipped and returns false.
pub fn require_docker(test: &str) -> bool {
    match docker::ensure_available() {
        Ok(()) => true,
        Err(e) if in_ci() => panic!("{test} needs Docker and CI=true: {e}"),
        Err(e) => {
            eprintln!("SKIPPED {test}: needs Docker ({e})");
            false
        }
    }
}

/// The repository root (this crate lives in `<root>/crates/drover-sandbox`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// A sandbox owned by one test: removed on drop (containers, network and
/// files), including when the test fails.
#[derive(Debug)]
pub struct TestSandbox {
    sandbox: Option<Sandbox>,
    state_root: PathBuf,
    /// How long the `up` took.
    pub timings: UpTimings,
}

impl TestSandbox {
    /// Brings up `nodes` nodes under a name unique to this process
    /// (`t<pid>-<name>`), with files in `<repo>/.sandbox`.
    pub fn up(name: &str, nodes: usize) -> Result<TestSandbox> {
        let mut opts = UpOptions::new(&format!("t{}-{name}", std::process::id()), &repo_root());
        opts.nodes = nodes;
        Self::up_with(opts)
    }

    /// Brings up a sandbox with explicit options; it is removed on drop.
    /// Sandboxes left by test processes that died without cleaning up
    /// (killed, timed out) are removed first.
    pub fn up_with(opts: UpOptions) -> Result<TestSandbox> {
        remove_orphans(&opts.state_root);
        let state_root = opts.state_root.clone();
        let name = opts.name.clone();
        match Sandbox::up(&opts) {
            Ok((sandbox, timings)) => Ok(TestSandbox {
                sandbox: Some(sandbox),
                state_root,
                timings,
            }),
            Err(e) => {
                let _ = Sandbox::down(&state_root, &name);
                Err(e)
            }
        }
    }

    /// Removes the sandbox now and returns what was removed.
    pub fn down(mut self) -> Result<Vec<String>> {
        match self.sandbox.take() {
            Some(s) => Sandbox::down(&self.state_root, s.name()),
            None => Ok(Vec::new()),
        }
    }
}

/// The pid in a test sandbox name `t<pid>-...`.
fn test_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('t')?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Removes test sandboxes whose process is gone (best effort).
fn remove_orphans(state_root: &Path) {
    let Ok(names) = Sandbox::list() else { return };
    for name in names {
        let Some(pid) = test_pid(&name) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing sandbox `{name}` left by test process {pid}");
            let _ = Sandbox::down(state_root, &name);
        }
    }
}

impl Deref for TestSandbox {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        // Only `down(self)` takes the sandbox, and it consumes the guard.
        self.sandbox
            .as_ref()
            .unwrap_or_else(|| unreachable!("TestSandbox used after down"))
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take()
            && let Err(e) = Sandbox::down(&self.state_root, s.name())
        {
            eprintln!("warning: could not remove sandbox `{}`: {e}", s.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sandbox_names_carry_the_pid() {
        assert_eq!(test_pid("t1234-life"), Some(1234));
        assert_eq!(test_pid("t1234-side-a"), Some(1234));
        assert_eq!(test_pid("pigsty"), None);
        assert_eq!(test_pid("tx-1"), None);
        assert_eq!(test_pid("bench"), None);
    }
}
