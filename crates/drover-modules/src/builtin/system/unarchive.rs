//! `unarchive`: unpack a controller tar archive into a directory on the node, with Ansible
//! 2.18's `TgzArchive` semantics.
//!
//! - The archive (found like `copy`'s `src`) is sent on stdin into a temp file on the node — as
//!   Ansible's action plugin transfers it on every run — then `tar --diff` against `dest`
//!   decides: only when files are missing or differ (mod time, size, contents, symlinks; mode
//!   unless `mode` is given; uid/gid as root unless `owner`/`group` are given — Ansible's
//!   rules) is it extracted, and `changed` says so. `mode`/`owner`/`group` are then applied to
//!   every extracted path (changed when they differed). One round trip, plus one for `dest`.
//! - `creates`: checked by the probe; when it exists the task is skipped ("skipped, since X
//!   exists"), no upload.
//! - Check mode: Ansible's module skips tar archives in check mode ("does not support check mode
//!   when using gtar"); drover does the same (the plan is unpredictable).
//! - Compression is read from the archive's magic bytes: gzip, bzip2, xz, zstd or plain tar.
//!
//! Not implemented (refused by name): `remote_src` (a src already on the node), URLs as `src`,
//! zip archives, `decrypt`, `copy`, SELinux attributes.

use drover_connection::shell::{join, quote};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{self, line_value};
use crate::params::{Bool, Mode, StringList, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

const REFUSED: &[&str] = &[
    "decrypt",
    "copy",
    "attributes",
    "seuser",
    "serole",
    "setype",
    "selevel",
    "unsafe_writes",
];

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    src: String,
    dest: String,
    remote_src: Option<Bool>,
    creates: Option<String>,
    list_files: Option<Bool>,
    keep_newer: Option<Bool>,
    exclude: Option<StringList>,
    include: Option<StringList>,
    extra_opts: Option<StringList>,
    mode: Option<Mode>,
    owner: Option<String>,
    group: Option<String>,
    validate_certs: Option<Bool>,
    io_buffer_size: Option<Value>,
}

struct Unarchive {
    src: String,
    dest: String,
    content: crate::payload::Payload,
    compression: Option<&'static str>,
    creates: Option<String>,
    list_files: bool,
    keep_newer: bool,
    excludes: Vec<String>,
    includes: Vec<String>,
    extra_opts: Vec<String>,
    mode: Option<Mode>,
    owner: Option<String>,
    group: Option<String>,
}

/// Prepares an `unarchive` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    util::refuse("unarchive", args, REFUSED)?;
    let p: Params = parse("unarchive", args)?;
    if p.remote_src.is_some_and(|b| b.0) {
        return Err(ModuleError::params(
            "module `unarchive`: `remote_src: true` is not implemented in drover (the archive must come from the controller)",
        ));
    }
    if p.src.contains("://") {
        return Err(ModuleError::params(
            "module `unarchive`: a URL as `src` is not implemented in drover; download it with `get_url` first",
        ));
    }
    let path = ctx
        .controller
        .find_file(&p.src)
        .map_err(ModuleError::params)?;
    let content = crate::payload::Payload::file(&path).map_err(|e| {
        ModuleError::params(format!("Source '{}' not readable, {e}", path.display()))
    })?;
    if content.is_empty() {
        return Err(ModuleError::params(format!(
            "Invalid archive '{}', the file is 0 bytes",
            path.display()
        )));
    }
    let compression = compression_of(&head(&path)).ok_or_else(|| {
        ModuleError::params(format!(
            "Failed to find handler for \"{}\": drover unpacks tar archives (plain, gzip, bzip2, xz, zstd); zip is not implemented",
            p.src
        ))
    })?;
    let _ = (p.validate_certs, p.io_buffer_size);
    util::remote(Unarchive {
        src: p.src,
        dest: p.dest,
        content,
        compression,
        creates: p.creates,
        list_files: p.list_files.is_some_and(|b| b.0),
        keep_newer: p.keep_newer.is_some_and(|b| b.0),
        excludes: p
            .exclude
            .map(|e| {
                e.0.into_iter()
                    .map(|x| x.trim_end_matches('/').to_string())
                    .collect()
            })
            .unwrap_or_default(),
        includes: p.include.map(|i| i.0).unwrap_or_default(),
        extra_opts: p.extra_opts.map(|e| e.0).unwrap_or_default(),
        mode: p.mode,
        owner: p.owner,
        group: p.group,
    })
}

/// The tar flag for an archive's compression (`Some(None)` for plain tar), from magic bytes.
/// The first bytes of a file (enough for [`compression_of`]); empty when it cannot be read.
fn head(path: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(512);
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(512).read_to_end(&mut buf);
    }
    buf
}

fn compression_of(data: &[u8]) -> Option<Option<&'static str>> {
    if data.starts_with(&[0x1f, 0x8b]) {
        Some(Some("-z"))
    } else if data.starts_with(b"BZh") {
        Some(Some("-j"))
    } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Some("-J"))
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Some("--zstd"))
    } else if data.len() > 262 && &data[257..262] == b"ustar" {
        Some(None)
    } else {
        None
    }
}

impl Unarchive {
    /// tar options shared by --list, --diff and --extract (after the operation).
    fn options(&self, with_attrs: bool) -> String {
        let mut s = String::from("-C \"$d\"");
        let o = self.option_words(with_attrs);
        if !o.is_empty() {
            s.push(' ');
            s.push_str(&join(&o));
        }
        s.push_str(" -f \"$t\"");
        if !self.includes.is_empty() {
            s.push(' ');
            s.push_str(&join(&self.includes));
        }
        s
    }

    /// The tar options between `-C dest` and `-f archive`.
    fn option_words(&self, with_attrs: bool) -> Vec<String> {
        let mut o = Vec::new();
        if let Some(z) = self.compression {
            o.push(z.to_string());
        }
        if !self.extra_opts.is_empty() {
            o.push("--show-transformed-names".into());
            o.extend(self.extra_opts.iter().cloned());
        }
        if with_attrs {
            if let Some(owner) = &self.owner {
                o.push(format!("--owner={owner}"));
            }
            if let Some(group) = &self.group {
                o.push(format!("--group={group}"));
            }
            if self.keep_newer {
                o.push("--keep-newer-files".into());
            }
        }
        o.extend(self.excludes.iter().map(|e| format!("--exclude={e}")));
        o
    }

    /// The `tar --diff` lines that mean "not unarchived" (Ansible's regexes).
    fn differ_pattern(&self) -> String {
        let mut alts = vec![
            "Mod time differs$",
            "Warning: Cannot stat: No such file or directory$",
            "Invalid owner",
            "Invalid group",
            "Symlink differs$",
            "Contents differ$",
            "Size differs$",
        ];
        if self.mode.is_none() {
            alts.push("Mode differs$");
        }
        format!(": ({})", alts.join("|"))
    }

    fn script(&self) -> String {
        let mut s = format!(
            "export LC_ALL=C\nd={d}\n[ -d \"$d\" ] || {{ printf 'failed=Destination %s is not a directory\\n' {d}; exit 1; }}\n\
             t=$(mktemp \"${{TMPDIR:-/tmp}}/drover-unarchive.XXXXXXXX\") || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\n{receive}\
             echo \"src=$t\"\necho \"tar=$(command -v tar)\"\n",
            d = quote(&self.dest),
            receive = crate::files::receive(self.content.len()),
        );
        let list = format!("tar --list {}", self.options(false));
        let diff = format!("tar --diff {}", self.options(true));
        let extract = format!("tar --extract {}", self.options(true));
        let pattern = self.differ_pattern();
        // As root, uid/gid differences count unless owner/group are given (Ansible's rules).
        let mut root_extra = Vec::new();
        if self.owner.is_none() {
            root_extra.push("Uid differs$");
        }
        if self.group.is_none() {
            root_extra.push("Gid differs$");
        }
        if !root_extra.is_empty() {
            s.push_str(&format!(
                "pat={}\nif [ \"$(id -u)\" = 0 ]; then pat=\"$pat|: ({})\"; fi\n",
                quote(&pattern),
                root_extra.join("|")
            ));
        } else {
            s.push_str(&format!("pat={}\n", quote(&pattern)));
        }
        s.push_str(&format!(
            "files=$({list} 2>\"$t.err\") || {{ printf 'failed=Unable to list files in the archive: %s\\n' \"$(cat \"$t.err\")\"; rm -f \"$t.err\"; exit 1; }}\nrm -f \"$t.err\"\n\
             echo --drover-files--\nprintf '%s\\n' \"$files\"\necho --drover-end--\n\
             if {diff} 2>&1 | grep -v -E ': : Warning: Cannot stat' | grep -q -E \"$pat\"; then\n  \
             out=$({extract} 2>&1) || {{ printf 'failed=failed to unpack {src} to %s\\n%s\\n' \"$d\" \"$out\"; exit 1; }}\n  echo changed=1\n  printf 'extract_out=%s\\n' \"$(printf '%s' \"$out\" | tr '\\n' ' ')\"\n\
             else echo changed=0; fi\n",
            src = self.src.replace(['\'', '%', '\\'], "")
        ));
        if self.mode.is_some() || self.owner.is_some() || self.group.is_some() {
            let want_mode = self.mode.map(|m| format!("{:o}", m.0)).unwrap_or_default();
            s.push_str(
                "printf '%s\\n' \"$files\" | while IFS= read -r f; do\n  [ -n \"$f\" ] || continue\n  p=\"$d/${f#/}\"\n  [ -e \"$p\" ] || [ -L \"$p\" ] || continue\n  \
                 cur=$(stat -c '%a:%U:%G:%u:%g' -- \"$p\")\n  m=${cur%%:*}\n",
            );
            if let Some(mode) = self.mode {
                s.push_str(&format!(
                    "  if [ \"$m\" != {want_mode} ] && [ ! -L \"$p\" ]; then chmod {mode} -- \"$p\" && echo attrs=1; fi\n"
                ));
            }
            if let Some(owner) = &self.owner {
                s.push_str(&format!(
                    "  o=$(echo \"$cur\" | cut -d: -f2); ou=$(echo \"$cur\" | cut -d: -f4); if [ \"$o\" != {o} ] && [ \"$ou\" != {o} ]; then chown -h -- {o} \"$p\" && echo attrs=1; fi\n",
                    o = quote(owner)
                ));
            }
            if let Some(group) = &self.group {
                s.push_str(&format!(
                    "  g=$(echo \"$cur\" | cut -d: -f3); gu=$(echo \"$cur\" | cut -d: -f5); if [ \"$g\" != {g} ] && [ \"$gu\" != {g} ]; then chgrp -h -- {g} \"$p\" && echo attrs=1; fi\n",
                    g = quote(group)
                ));
            }
            s.push_str("done\n");
        }
        s.push_str(&util::path_info_script("\"$d\""));
        s
    }
}

impl Action for Unarchive {
    fn probe(&self) -> Option<Request> {
        let mut s = format!(
            "if [ -d {d} ]; then echo dest=dir; else echo dest=none; fi\n",
            d = quote(&self.dest)
        );
        if let Some(c) = &self.creates {
            s.push_str(&format!(
                "if [ -e {c} ] || [ -L {c} ]; then echo creates=1; else echo creates=0; fi\n",
                c = quote(c)
            ));
        }
        Some(Request::new(s))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("unarchive needs its probe"))?;
        let text = out.stdout_text();
        if let Some(c) = &self.creates
            && line_value(&text, "creates") == Some("1")
        {
            let mut r = ModuleResult::ok().with_msg(format!("skipped, since {c} exists"));
            r.skipped = true;
            return Ok(Plan::satisfied(r));
        }
        if line_value(&text, "dest") != Some("dir") {
            // The message of Ansible's unarchive action, which checks before the module runs.
            return Err(ModuleError::node(format!(
                "dest '{}' must be an existing dir",
                self.dest
            )));
        }
        let mut plan = Plan::unpredictable(());
        plan.result = ModuleResult::ok().with_msg(
            "remote module (ansible.legacy.unarchive) does not support check mode when using gtar",
        );
        plan.result.skipped = true;
        Ok(plan)
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        vec![Request::new(self.script()).with_stdin_from(self.content.stdin())]
    }

    fn finish(&self, _plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("unarchive", outputs)?;
        let text = out.stdout_text();
        let mut r = ModuleResult::ok()
            .with("dest", self.dest.clone())
            .with("src", self.src.clone())
            .with("handler", "TgzArchive");
        if out.status != 0 {
            r.failed = true;
            r.msg = Some(match text.split_once("failed=") {
                Some((_, m)) => m.trim_end().to_string(),
                None => format!("unarchive failed: {}", out.stderr_text().trim()),
            });
            return Ok(r);
        }
        r.changed =
            line_value(&text, "changed") == Some("1") || text.lines().any(|l| l == "attrs=1");
        util::add_path_info(&mut r, &text);
        // Like Ansible: `src` is the archive's temp path on the node, and an extraction is
        // described by `extract_results`.
        if let Some(src) = line_value(&text, "src") {
            r = r.with("src", src.to_string());
            if line_value(&text, "changed") == Some("1") {
                let mut cmd = vec![
                    line_value(&text, "tar").unwrap_or("tar").to_string(),
                    "--extract".into(),
                    "-C".into(),
                    self.dest.clone(),
                ];
                cmd.extend(self.option_words(true));
                cmd.extend(["-f".to_string(), src.to_string()]);
                cmd.extend(self.includes.iter().cloned());
                let mut er = Map::new();
                er.insert("cmd".into(), Value::from(cmd));
                er.insert("rc".into(), Value::from(0));
                er.insert(
                    "out".into(),
                    Value::String(
                        line_value(&text, "extract_out")
                            .unwrap_or("")
                            .trim()
                            .to_string(),
                    ),
                );
                er.insert("err".into(), Value::String(String::new()));
                r = r.with("extract_results", Value::Object(er));
            }
        }
        if self.list_files {
            let files: Vec<Value> = text
                .split_once("--drover-files--\n")
                .and_then(|(_, rest)| rest.split_once("--drover-end--"))
                .map(|(list, _)| {
                    list.lines()
                        .filter(|l| !l.is_empty())
                        .map(|l| Value::String(l.trim_start_matches('/').to_string()))
                        .collect()
                })
                .unwrap_or_default();
            r = r.with("files", Value::Array(files));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{Files, out, prepare_with, run_local};
    use crate::{Action, Outcome, Prepared};
    use serde_json::json;

    fn make_archive(dir: &std::path::Path) {
        let src = dir.join("tree");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("bin/consul"), "#!/bin/sh\n").unwrap();
        std::fs::write(src.join("README"), "hi\n").unwrap();
        let st = std::process::Command::new("tar")
            .args(["-czf", "files/app.tar.gz", "-C", "tree", "bin", "README"])
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn action(files: &Files, args: serde_json::Value) -> Box<dyn Action> {
        match prepare_with("unarchive", args, files) {
            Ok(Prepared::Remote(a)) => a,
            Ok(Prepared::Local(_)) => panic!("remote expected"),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn extracts_once_then_unchanged_in_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("files")).unwrap();
        make_archive(dir.path());
        let files = Files(dir.path().join("files"));
        let dest = dir.path().join("dest dir");
        std::fs::create_dir(&dest).unwrap();
        let run = |a: Box<dyn Action>| async move {
            let probe = run_local(&a.probe().unwrap()).await;
            let plan = a.plan(Some(&probe)).unwrap();
            if plan.outcome == Outcome::Satisfied {
                return plan.result;
            }
            assert!(plan.result.skipped); // check mode skips, like Ansible's gtar handler
            let o = run_local(&a.apply(&plan)[0]).await;
            a.finish(&plan, &[o]).unwrap()
        };
        let args = json!({"src": "app.tar.gz", "dest": dest.to_str().unwrap(), "list_files": true, "mode": "0750"});
        let r = run(action(&files, args.clone())).await;
        assert!(r.changed && !r.failed, "{:?}", r.msg);
        assert_eq!(
            std::fs::read_to_string(dest.join("bin/consul")).unwrap(),
            "#!/bin/sh\n"
        );
        assert_eq!(r.extra["files"], json!(["bin/", "bin/consul", "README"]));
        assert_eq!(r.extra["state"], "directory");
        let er = &r.extra["extract_results"];
        assert_eq!(er["cmd"][1], "--extract");
        assert_eq!(er["cmd"][4], "-z");
        assert!(
            r.extra["src"]
                .as_str()
                .unwrap()
                .contains("drover-unarchive.")
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dest.join("README"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o750
        );
        let r = run(action(&files, args.clone())).await;
        assert!(
            !r.changed && !r.failed,
            "second run must be unchanged: {:?}",
            r.msg
        );
        // a changed file on the node is restored
        std::fs::write(dest.join("README"), "edited\n").unwrap();
        let r = run(action(&files, args)).await;
        assert!(r.changed);
        assert_eq!(
            std::fs::read_to_string(dest.join("README")).unwrap(),
            "hi\n"
        );
        // creates: skipped without upload
        let a = action(
            &files,
            json!({"src": "app.tar.gz", "dest": dest.to_str().unwrap(), "creates": dest.join("README").to_str().unwrap()}),
        );
        let r = run(a).await;
        assert!(r.skipped && !r.changed);
    }

    #[test]
    fn refusals_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.zip"), b"PK\x03\x04rest").unwrap();
        std::fs::write(dir.path().join("empty.tgz"), b"").unwrap();
        let files = Files(dir.path().to_path_buf());
        let err = |args| match prepare_with("unarchive", args, &files) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("error expected"),
        };
        assert!(err(json!({"src": "x.zip", "dest": "/d"})).contains("zip is not implemented"));
        assert!(err(json!({"src": "empty.tgz", "dest": "/d"})).contains("the file is 0 bytes"));
        assert!(err(json!({"src": "x", "dest": "/d", "remote_src": true})).contains("remote_src"));
        let tgz = [0x1f, 0x8b, 0, 0];
        std::fs::write(dir.path().join("a.tgz"), tgz).unwrap();
        let a = action(&files, json!({"src": "a.tgz", "dest": "/nope"}));
        let e = a
            .plan(Some(&out(0, "dest=none\n", "")))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "dest '/nope' must be an existing dir");
    }
}
