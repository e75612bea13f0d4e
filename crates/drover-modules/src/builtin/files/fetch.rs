//! `fetch`: copy a node file to the controller, under `dest/<inventory_hostname>/<src>` (or
//! exactly `dest` with `flat: yes`). One probe reads the file (base64); the controller writes its
//! copy only when the SHA-1 differs, in [`Action::finish`] (the controller is not a node).
//! Like Ansible, check mode skips the task ("check mode not (yet) supported for this module").
//!
//! Not implemented: a relative `dest` (Ansible resolves it against the playbook directory, which
//! modules cannot see yet) — refused with a hint to use `{{ playbook_dir }}`.

use std::path::{Component, Path, PathBuf};

use base64::Engine;
use md5::Md5;
use serde::Deserialize;

use super::common::node_path;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use super::slurp::{ReadOutcome, parse_read, read_script};
use crate::params::{Bool, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    src: String,
    dest: String,
    flat: Option<Bool>,
    fail_on_missing: Option<Bool>,
    validate_checksum: Option<Bool>,
}

pub(crate) struct Fetch {
    src: String,
    dest: String,
    flat: bool,
    fail_on_missing: bool,
    validate_checksum: bool,
    host: String,
    /// The task runs with `become`: Ansible then reads the file with slurp and writes a new
    /// copy as a plain `open(dest, 'wb')` would; without it, its sftp transfer gives a new copy
    /// the node file's mode (plus the owner's write bit), less the umask.
    escalated: bool,
}

/// What the plan found on the node.
enum Fetched {
    /// The file's bytes and its mode on the node.
    Data(Vec<u8>, Option<u32>),
    /// The result to report instead (missing file, directory).
    Report(ModuleResult),
}

/// Prepares a `fetch` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    let p: Params = parse("fetch", args)?;
    node_path("fetch", "src", &p.src)?;
    if !p.dest.starts_with('/') {
        return Err(ModuleError::params(format!(
            "module `fetch`: a relative `dest` (`{}`) is not implemented in drover; use an absolute path such as \"{{{{ playbook_dir }}}}/{}\"",
            p.dest, p.dest
        )));
    }
    Ok(Prepared::Remote(Box::new(Fetch {
        src: p.src,
        dest: p.dest,
        flat: p.flat.is_some_and(|b| b.0),
        fail_on_missing: p.fail_on_missing.is_none_or(|b| b.0),
        validate_checksum: p.validate_checksum.is_none_or(|b| b.0),
        host: ctx.host.to_string(),
        escalated: ctx.escalated,
    })))
}

/// Python's `os.path.normpath` for absolute paths.
fn normpath(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha1_hex(data: &[u8]) -> String {
    hex(&Sha1::digest(data))
}

fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

impl Fetch {
    /// The controller path the file goes to, or Ansible's error.
    fn local_dest(&self) -> Result<PathBuf, String> {
        if self.flat {
            let mut dest = self.dest.clone();
            if Path::new(&dest).is_dir() && !dest.ends_with('/') {
                return Err("dest is an existing directory, use a trailing slash if you want to fetch src into that directory".into());
            }
            if dest.ends_with('/') {
                let base = self.src.rsplit('/').next().unwrap_or(&self.src);
                dest = format!("{dest}{base}");
                if Path::new(&dest).is_dir() {
                    return Err(format!(
                        "calculated dest '{dest}' is an existing directory, use another path that does not point to an existing directory"
                    ));
                }
            }
            Ok(normpath(&dest))
        } else {
            Ok(normpath(&format!(
                "{}/{}/{}",
                self.dest, self.host, self.src
            )))
        }
    }

    fn write_local(&self, data: &[u8], remote_mode: Option<u32>) -> Result<ModuleResult, String> {
        let dest = self.local_dest()?;
        let dest_text = dest.to_string_lossy().into_owned();
        let remote_checksum = sha1_hex(data);
        let local = std::fs::read(&dest).ok();
        if local.as_deref().map(sha1_hex).as_deref() == Some(remote_checksum.as_str()) {
            let local = local.unwrap_or_default();
            return Ok(ModuleResult::ok()
                .with("md5sum", md5_hex(&local))
                .with("file", self.src.clone())
                .with("dest", dest_text)
                .with("checksum", remote_checksum));
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| format!("Failed to fetch the file: {e}"))?;
        // a temp file beside dest, renamed over it once complete: an interrupted fetch leaves
        // the old file (or none), never a partial one
        // an existing copy keeps its mode (Ansible writes over it); a new one gets what
        // Ansible's transfer gives it, less the umask: 0666 after slurp (become), the node
        // file's mode plus the owner's write bit after sftp
        let existing = std::fs::metadata(&dest).ok().map(|m| m.permissions());
        let create = match remote_mode {
            Some(mode) if !self.escalated => (mode & 0o777) | 0o200,
            _ => 0o666,
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".drover-fetch.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(create))
            .tempfile_in(&parent)
            .map_err(|e| format!("Failed to fetch the file: {e}"))?;
        if let Some(permissions) = existing {
            temp.as_file()
                .set_permissions(permissions)
                .map_err(|e| format!("Failed to fetch the file: {e}"))?;
        }
        std::io::Write::write_all(&mut temp, data)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| format!("Failed to fetch the file: {e}"))?;
        temp.persist(&dest)
            .map_err(|e| format!("Failed to fetch the file: {}", e.error))?;
        let written = std::fs::read(&dest).map_err(|e| format!("Failed to fetch the file: {e}"))?;
        let new_checksum = sha1_hex(&written);
        let mut result = ModuleResult::ok()
            .with("md5sum", md5_hex(&written))
            .with("dest", dest_text)
            .with("remote_md5sum", Value::Null)
            .with("checksum", new_checksum.clone())
            .with("remote_checksum", remote_checksum.clone());
        if self.validate_checksum && new_checksum != remote_checksum {
            result.failed = true;
            result.msg = Some("checksum mismatch".into());
            result = result.with("file", self.src.clone());
        } else {
            result.changed = true;
        }
        Ok(result)
    }
}

impl Action for Fetch {
    fn probe(&self) -> Option<Request> {
        // the file's mode, after its content (a new copy on the controller gets it)
        let read = read_script(&self.src);
        Some(Request::new(format!(
            "{}printf 'mode=%s\\n' \"$(stat -L -c %a -- {} 2>/dev/null)\"\n",
            read.script,
            drover_connection::shell::quote(&self.src)
        )))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let probe = probe.ok_or_else(|| ModuleError::internal("fetch needs its probe"))?;
        let fetched = match parse_read(&self.src, probe)? {
            ReadOutcome::Content(b64) => Fetched::Data(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| ModuleError::node(format!("bad base64 from the node: {e}")))?,
                probe
                    .stdout_text()
                    .lines()
                    .find_map(|l| l.strip_prefix("mode="))
                    .and_then(|m| u32::from_str_radix(m.trim(), 8).ok()),
            ),
            ReadOutcome::Directory => {
                let msg = "remote file is a directory, fetch cannot work on directories";
                Fetched::Report(if self.fail_on_missing {
                    ModuleResult::failed(msg)
                } else {
                    ModuleResult::ok().with_msg(format!("{msg}, not transferring, ignored"))
                })
            }
            other => {
                let msg = if other == ReadOutcome::Missing {
                    "the remote file does not exist, not transferring, ignored".to_string()
                } else {
                    super::slurp::read_error(&self.src, &other)
                };
                Fetched::Report(if self.fail_on_missing {
                    ModuleResult::failed(msg)
                } else {
                    ModuleResult::ok()
                        .with_msg(msg)
                        .with("file", self.src.clone())
                })
            }
        };
        let mut plan = Plan::unpredictable(fetched);
        plan.result.skipped = true;
        plan.result.msg = Some("check mode not (yet) supported for this module".into());
        Ok(plan)
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        Vec::new()
    }

    fn finish(&self, plan: &Plan, _outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        match plan.state::<Fetched>()? {
            Fetched::Report(result) => Ok(result.clone()),
            Fetched::Data(data, mode) => Ok(self
                .write_local(data, *mode)
                .unwrap_or_else(ModuleResult::failed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testkit::{action, out, prepare, run};
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn canned_outputs_and_paths() {
        let a = action("fetch", json!({"src": "/etc/x", "dest": "/tmp/f"}), false);
        let plan = a.plan(Some(&out("content=aGkK\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Unpredictable);
        assert!(plan.result.skipped);
        let plan = a.plan(Some(&out("error=missing\n"))).unwrap();
        let r = a.finish(&plan, &[]).unwrap();
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("the remote file does not exist, not transferring, ignored")
        );
        let a = action(
            "fetch",
            json!({"src": "/etc/x", "dest": "/tmp/f", "fail_on_missing": false}),
            false,
        );
        let plan = a.plan(Some(&out("error=directory\n"))).unwrap();
        let r = a.finish(&plan, &[]).unwrap();
        assert!(!r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some(
                "remote file is a directory, fetch cannot work on directories, not transferring, ignored"
            )
        );
        assert_eq!(normpath("/a//b/./c/../d"), PathBuf::from("/a/b/d"));
        let e = prepare("fetch", json!({"src": "/x", "dest": "fetched"}), false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("relative `dest`"), "{e}");
    }

    /// A new copy's mode is what Ansible's transfer gives it: the node file's (plus the
    /// owner's write bit) over sftp, 0666 after slurp (`become`); less the umask either way.
    #[tokio::test]
    async fn a_new_copy_gets_the_mode_ansible_gives_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let umask = {
            let probe = dir.path().join("umask");
            std::fs::write(&probe, "").unwrap();
            !std::fs::metadata(&probe).unwrap().permissions().mode() & 0o666
        };
        for (node_mode, escalated, want) in [
            (0o755, false, 0o755),
            (0o400, false, 0o600),
            (0o640, false, 0o640),
            (0o400, true, 0o666),
            (0o755, true, 0o666),
        ] {
            let src = dir.path().join(format!("src-{node_mode:o}-{escalated}"));
            std::fs::write(&src, "x\n").unwrap();
            std::fs::set_permissions(&src, std::fs::Permissions::from_mode(node_mode)).unwrap();
            let dest = dir.path().join("copy");
            let _ = std::fs::remove_file(&dest);
            let fetch = Fetch {
                src: src.display().to_string(),
                dest: dest.display().to_string(),
                flat: true,
                fail_on_missing: true,
                validate_checksum: true,
                host: "node1".into(),
                escalated,
            };
            let r = run(&fetch, false).await.unwrap();
            assert!(r.result.changed, "{:?}", r.result);
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                want & !umask,
                "node {node_mode:o}, become {escalated}"
            );
        }
    }

    #[tokio::test]
    async fn fetches_to_the_controller_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("node/etc/app.conf");
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, "hello\n").unwrap();
        let dest = dir.path().join("fetched");
        let args = json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap()});
        let r = run(action("fetch", args.clone(), false).as_ref(), false)
            .await
            .unwrap();
        assert!(r.result.changed && !r.result.failed, "{:?}", r.result);
        let local = dest.join("node1").join(src.strip_prefix("/").unwrap());
        assert_eq!(std::fs::read_to_string(&local).unwrap(), "hello\n");
        assert_eq!(
            r.result.extra["checksum"],
            json!("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        assert_eq!(
            r.result.extra["md5sum"],
            json!("b1946ac92492d2347c6235b4d2611184")
        );
        let again = run(action("fetch", args, false).as_ref(), false)
            .await
            .unwrap();
        assert!(
            !again.result.changed && !again.result.failed,
            "{:?}",
            again.result
        );
        assert_eq!(again.round_trips, 1);
        // a changed source replaces the copy through a temp file: the copy keeps its mode
        // and no temp file is left
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::write(&src, "changed\n").unwrap();
        let args = json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap()});
        let r = run(action("fetch", args, false).as_ref(), false)
            .await
            .unwrap();
        assert!(r.result.changed, "{:?}", r.result);
        assert_eq!(std::fs::read_to_string(&local).unwrap(), "changed\n");
        let meta = std::fs::metadata(&local).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        let leftovers = std::fs::read_dir(local.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref().is_ok_and(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".drover-fetch.")
                })
            })
            .count();
        assert_eq!(leftovers, 0);
        // flat into a directory
        let flat_dir = format!("{}/", dir.path().join("flat").to_str().unwrap());
        let args = json!({"src": src.to_str().unwrap(), "dest": flat_dir, "flat": true});
        let r = run(action("fetch", args, false).as_ref(), false)
            .await
            .unwrap();
        assert!(r.result.changed, "{:?}", r.result);
        assert!(dir.path().join("flat/app.conf").is_file());
        // check mode is skipped, nothing written
        let args =
            json!({"src": src.to_str().unwrap(), "dest": dir.path().join("c").to_str().unwrap()});
        let r = run(action("fetch", args, false).as_ref(), true)
            .await
            .unwrap();
        assert!(r.result.skipped);
        assert!(!dir.path().join("c").exists());
    }
}
