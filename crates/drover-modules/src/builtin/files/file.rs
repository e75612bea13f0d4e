//! `file`: make a path a file (attributes only), directory, symlink, touched file, or absent,
//! with Ansible's rules (`state: file` never creates; `absent` removes directories recursively;
//! `touch` always changes unless both times are `preserve`; `recurse` applies owner/group/mode
//! below a directory). One probe answers everything: the path's own state, its state with
//! symlinks followed, whether anything below a directory differs (`find`), whether a link's
//! `src` exists and whether a directory is empty.
//!
//! Not implemented (refused by name): `state: hard`, owner/group/mode on `state: link`,
//! timestamps other than `now`/`preserve`, the SELinux/attribute arguments.

use drover_connection::shell::quote;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::common::{attrs, node_path, refuse, resolved_attrs_probe};
use crate::diff::FileDiff;
use crate::files::{self, Attrs, FileKind, FileState};
use crate::params::{Bool, Mode, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "dest", alias = "name")]
    path: String,
    state: Option<String>,
    recurse: Option<Bool>,
    force: Option<Bool>,
    follow: Option<Bool>,
    src: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<Mode>,
    modification_time: Option<String>,
    access_time: Option<String>,
    /// Accepted like Ansible (a common file argument); `file` writes no content, so it has no
    /// effect.
    #[allow(dead_code)]
    unsafe_writes: Option<Bool>,
}

/// The requested state (`None`: Ansible's default, decided from what exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    File,
    Directory,
    Link,
    Touch,
    Absent,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::File => "file",
            State::Directory => "directory",
            State::Link => "link",
            State::Touch => "touch",
            State::Absent => "absent",
        }
    }
}

pub(crate) struct FileModule {
    path: String,
    state: Option<State>,
    recurse: bool,
    force: bool,
    follow: bool,
    src: Option<String>,
    attrs: Attrs,
    /// `touch` updates the times (`now`) unless both are `preserve`.
    touch_times: bool,
    diff: bool,
}

/// Prepares a `file` task.
pub fn prepare(args: &Map<String, Value>, ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    const M: &str = "file";
    refuse(
        M,
        args,
        &[
            "modification_time_format",
            "access_time_format",
            "_original_basename",
            "_diff_peek",
        ],
    )?;
    let p: Params = parse(M, args)?;
    node_path(M, "path", &p.path)?;
    let err = |msg: String| Err(ModuleError::params(format!("module `{M}`: {msg}")));
    let state = match p.state.as_deref() {
        None => None,
        Some("file") => Some(State::File),
        Some("directory") => Some(State::Directory),
        Some("link") => Some(State::Link),
        Some("touch") => Some(State::Touch),
        Some("absent") => Some(State::Absent),
        Some("hard") => return err("`state: hard` is not implemented in drover".into()),
        Some(other) => {
            return err(format!(
                "value of state must be one of: absent, directory, file, hard, link, touch, got: {other}"
            ));
        }
    };
    let recurse = p.recurse.is_some_and(|b| b.0);
    if recurse && state.is_some_and(|s| s != State::Directory) {
        return err("recurse option requires state to be 'directory'".into());
    }
    if p.src.is_some() && state != Some(State::Link) {
        return err("src option requires state to be 'link' or 'hard'".into());
    }
    let attrs = attrs(p.owner, p.group, p.mode);
    if state == Some(State::Link) && attrs != Attrs::default() {
        return err("owner/group/mode with `state: link` are not implemented in drover".into());
    }
    let mut touch_times = false;
    for (name, value) in [
        ("modification_time", &p.modification_time),
        ("access_time", &p.access_time),
    ] {
        match value.as_deref() {
            None | Some("now") => touch_times = true,
            Some("preserve") => {}
            Some(other) => {
                return err(format!(
                    "`{name}: {other}` is not implemented in drover (only `now` and `preserve` are)"
                ));
            }
        }
    }
    let wants_now = [&p.modification_time, &p.access_time]
        .iter()
        .any(|v| v.as_deref() == Some("now"));
    if state != Some(State::Touch) && wants_now {
        return err(
            "`modification_time`/`access_time: now` are only implemented with `state: touch`"
                .into(),
        );
    }
    Ok(Prepared::Remote(Box::new(FileModule {
        path: p.path,
        state,
        recurse,
        force: p.force.is_some_and(|b| b.0),
        follow: p.follow.is_none_or(|b| b.0),
        src: p.src,
        attrs,
        touch_times,
        diff: ctx.diff,
    })))
}

/// Joins `base` and `rel` like Python's `os.path.join` (an absolute `rel` wins).
fn join(base: &str, rel: &str) -> String {
    if rel.starts_with('/') || base.is_empty() {
        rel.to_string()
    } else if base.ends_with('/') {
        format!("{base}{rel}")
    } else {
        format!("{base}/{rel}")
    }
}

fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// What the probe found.
struct Found {
    /// The path itself (symlinks not followed).
    own: FileState,
    /// With symlinks followed (same as `own` when not a link).
    resolved: FileState,
    /// The followed path.
    real_path: String,
    /// Something below the directory differs from the wanted attributes.
    recurse_differs: bool,
    /// `src` exists relative to the link's directory / to the path itself.
    src_exists_parent: bool,
    src_exists_self: bool,
    /// The directory at the path is empty.
    dir_empty: bool,
    /// The `i_*`/`ri_*` path-info lines of the path and of its followed target.
    info: String,
}

/// A change plan's work, with the result before path info was added.
struct Planned {
    work: Work,
    base: ModuleResult,
}

/// Marker before the path info an apply script prints.
const INFO: &str = "--drover-info--";

/// Shell lines printing Ansible's path info (`add_path_info`) of the path in `$var`, each key
/// prefixed with `prefix` (nothing when the path does not exist — a dangling link neither, as
/// Ansible checks with `os.path.exists`).
fn info_lines(var: &str, prefix: &str) -> String {
    format!(
        "if [ -e \"${var}\" ]; then stat -c '{}' -- \"${var}\"; fi\n",
        INFO_FIELDS.replace("{prefix}", prefix)
    )
}

/// The `stat` format of [`info_lines`], with `{prefix}` before each key.
const INFO_FIELDS: &str = "{prefix}uid=%u\n{prefix}gid=%g\n{prefix}owner=%U\n{prefix}group=%G\n{prefix}mode=%a\n{prefix}size=%s\n{prefix}nlink=%h\n{prefix}type=%F";

/// Adds Ansible's path info (`uid`, `gid`, `owner`, `group`, `mode`, `state`, `size`) from
/// [`info_lines`] output to `result`.
fn add_path_info(result: &mut ModuleResult, text: &str, prefix: &str) {
    let get = |k: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(prefix)?
                .strip_prefix(k)?
                .strip_prefix('=')
                .map(String::from)
        })
    };
    let (Some(uid), Some(gid), Some(mode), Some(kind)) =
        (get("uid"), get("gid"), get("mode"), get("type"))
    else {
        return;
    };
    let number = |v: &str| v.parse::<u64>().map_or(Value::Null, Value::from);
    let name = |v: Option<String>, id: &str| match v {
        Some(n) if n != "UNKNOWN" => n,
        _ => id.to_string(),
    };
    let mode = u32::from_str_radix(&mode, 8).unwrap_or(0);
    let state = match kind.as_str() {
        "symbolic link" => "link",
        "directory" => "directory",
        _ if get("nlink")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(1)
            > 1 =>
        {
            "hard"
        }
        _ => "file",
    };
    result.extra.insert("uid".into(), number(&uid));
    result.extra.insert("gid".into(), number(&gid));
    result
        .extra
        .insert("owner".into(), name(get("owner"), &uid).into());
    result
        .extra
        .insert("group".into(), name(get("group"), &gid).into());
    result
        .extra
        .insert("mode".into(), format!("0{mode:03o}").into());
    result.extra.insert("state".into(), state.into());
    result.extra.insert(
        "size".into(),
        get("size").as_deref().map_or(Value::Null, number),
    );
}

/// What `apply` does.
enum Work {
    Remove { directory: bool },
    Attrs { path: String, recurse: bool },
    MakeDirs { path: String },
    Touch { path: String },
    Link { replace_dir: bool, fresh: bool },
}

const SECTION: &str = "--drover-section--";

impl FileModule {
    fn recurse_check(&self) -> String {
        let mut tests = Vec::new();
        if let Some(o) = &self.attrs.owner {
            tests.push(format!("! -user {}", quote(o)));
        }
        if let Some(g) = &self.attrs.group {
            tests.push(format!("! -group {}", quote(g)));
        }
        if let Some(m) = self.attrs.mode {
            tests.push(format!("! -perm {m}"));
        }
        if !self.recurse || tests.is_empty() {
            return String::new();
        }
        format!(
            "if [ -d \"$p\" ]; then printf 'recurse_differs=%s\\n' \"$(find \"$p\" -mindepth 1 ! -type l \\( {} \\) -print 2>/dev/null | head -n 1 | wc -l)\"; fi\n",
            tests.join(" -o ")
        )
    }

    fn parse(&self, stdout: &[u8]) -> Result<Found, ModuleError> {
        let text = String::from_utf8_lossy(stdout);
        let separator = format!("{SECTION}\n");
        let mut parts = text.split(separator.as_str());
        let own = FileState::parse(parts.next().unwrap_or("").as_bytes())?;
        let resolved_text = parts.next().unwrap_or("");
        let resolved = FileState::parse(resolved_text.as_bytes())?;
        let extra = parts.next().unwrap_or("");
        let value = |k: &str| {
            resolved_text
                .lines()
                .chain(extra.lines())
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .map(str::to_string)
        };
        Ok(Found {
            own,
            resolved,
            real_path: value("realpath").unwrap_or_else(|| self.path.clone()),
            recurse_differs: value("recurse_differs").is_some_and(|v| v.trim() != "0"),
            src_exists_parent: value("src_parent").as_deref() == Some("1"),
            src_exists_self: value("src_self").as_deref() == Some("1"),
            dir_empty: value("dir_empty").as_deref() == Some("1"),
            info: extra.to_string(),
        })
    }

    /// Ansible's `{"before": {...}, "after": {...}}` diff, rendered as sorted JSON text.
    fn diff_of(&self, before: &[(&str, String)], after: &[(&str, String)]) -> FileDiff {
        FileDiff {
            before_header: self.path.clone(),
            after_header: self.path.clone(),
            before: json_text(before),
            after: json_text(after),
        }
    }

    fn state_diff(&self, prev: &str, state: &str, extra: &[String]) -> Vec<FileDiff> {
        if !self.diff {
            return Vec::new();
        }
        let mut before = vec![("path", self.path.clone())];
        let mut after = vec![("path", self.path.clone())];
        if prev != state {
            before.push(("state", prev.to_string()));
            after.push(("state", state.to_string()));
        }
        let mut d = self.diff_of(&before, &after);
        for change in extra {
            d.before.push_str(&format!("# {change}\n"));
        }
        vec![d]
    }

    /// The path a result is about (`path`, else `dest`), as Ansible's `add_path_info` picks it.
    fn result_path(result: &ModuleResult) -> Option<String> {
        result
            .extra
            .get("path")
            .or_else(|| result.extra.get("dest"))
            .and_then(Value::as_str)
            .map(String::from)
    }

    fn fail(msg: String, path: &str) -> Plan {
        Plan::satisfied(ModuleResult::failed(msg).with("path", path.to_string()))
    }

    fn plan_attrs(&self, path: &str, st: &FileState, state: State, recurse_differs: bool) -> Plan {
        let changes = self.attrs.differences(st);
        let result = ModuleResult::ok()
            .with("path", path.to_string())
            .with("state", st.kind.as_str());
        if changes.is_empty() && !recurse_differs {
            return Plan::satisfied(result);
        }
        let mut plan = Plan::change(
            result,
            Work::Attrs {
                path: path.to_string(),
                recurse: self.recurse,
            },
        );
        let mut notes = changes;
        if recurse_differs {
            notes.push("attributes below the directory differ".into());
        }
        plan.diffs = self.state_diff(st.kind.as_str(), state.as_str(), &notes);
        plan
    }

    fn plan_link(&self, found: &Found) -> Plan {
        let path = &self.path;
        let prev = found.own.kind;
        let Some(src) = &self.src else {
            return match prev {
                FileKind::Link => Plan::satisfied(ModuleResult::ok().with("dest", path.clone())),
                _ => Self::fail("src is required for creating new symlinks".into(), path),
            };
        };
        let (absrc, src_exists) = if prev == FileKind::Directory {
            (join(path, src), found.src_exists_self)
        } else {
            (join(dirname(path), src), found.src_exists_parent)
        };
        if !self.force && !src_exists {
            return Self::fail(
                format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {absrc}"
                ),
                path,
            );
        }
        match prev {
            FileKind::Directory if !self.force => {
                return Self::fail(
                    format!("refusing to convert from directory to symlink for {path}"),
                    path,
                );
            }
            FileKind::Directory if !found.dir_empty => {
                return Self::fail(
                    format!("the directory {path} is not empty, refusing to convert it"),
                    path,
                );
            }
            FileKind::File if !self.force => {
                return Self::fail(
                    format!("refusing to convert from file to symlink for {path}"),
                    path,
                );
            }
            FileKind::Other => {
                return Self::fail(format!("unexpected position reached: {path}"), path);
            }
            _ => {}
        }
        let result = ModuleResult::ok()
            .with("dest", path.clone())
            .with("src", src.clone());
        let old = found.own.link_target.as_deref();
        if prev == FileKind::Link && old == Some(src.as_str()) {
            return Plan::satisfied(result);
        }
        let mut plan = Plan::change(
            result,
            Work::Link {
                replace_dir: prev == FileKind::Directory,
                fresh: prev == FileKind::Absent,
            },
        );
        if self.diff {
            let mut before = vec![("path", path.clone())];
            let mut after = vec![("path", path.clone())];
            if prev != FileKind::Link {
                before.push(("state", prev.as_str().to_string()));
                after.push(("state", "link".to_string()));
            } else {
                before.push(("src", old.unwrap_or("").to_string()));
                after.push(("src", src.clone()));
            }
            plan.diffs.push(self.diff_of(&before, &after));
        }
        plan
    }
}

/// Shell lines setting `attrs` on `"$p"`.
fn attr_lines(attrs: &Attrs) -> String {
    let script = files::attrs_script("", attrs).script;
    // drop `set -e` and `p=''`: the caller sets `p`
    script.lines().skip(2).map(|l| format!("{l}\n")).collect()
}

/// `{"a": "b"}` as Ansible's callback prints a dict diff (sorted keys, 4-space indent).
fn json_text(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = pairs.iter().collect();
    sorted.sort_by_key(|(k, _)| *k);
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("    {}: {}", Value::from(*k), Value::from(v.as_str())))
        .collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

impl FileModule {
    /// The probe for a path that is a symlink: the path's own state, its state with symlinks
    /// followed (`realpath=`), and the path info of both.
    fn link_probe(&self) -> String {
        let own = files::probe_script(&self.path, false).script;
        let resolved = resolved_attrs_probe(&self.path).script;
        let recurse = self.recurse_check();
        let mut extra = info_lines("p", "i_");
        extra.push_str("r=$(readlink -f -- \"$p\" 2>/dev/null) || r=$p\n");
        extra.push_str(&info_lines("r", "ri_"));
        format!("( {own} )\necho {SECTION}\n( {resolved}{recurse} )\necho {SECTION}\n{extra}")
    }

    /// The probe for a path that is not a symlink: the same three sections as
    /// [`FileModule::link_probe`] (own state, followed state, path info, which are all the
    /// same here), from one `stat` and no other process (`find` only for `recurse`).
    fn plain_probe(&self) -> String {
        const STATE: &str = "state=$t\nmode=%a\nowner=%U\ngroup=%G\nsize=%s\n";
        let info = INFO_FIELDS.replace("{prefix}", "i_");
        let format = format!("{STATE}{SECTION}\n{STATE}{SECTION}\n{info}");
        format!(
            "if [ -d \"$p\" ]; then t=directory; elif [ -f \"$p\" ]; then t=file; elif [ -e \"$p\" ]; then t=other; else t=absent; fi\n\
             if [ $t = absent ]; then printf 'state=absent\\n{SECTION}\\nstate=absent\\n{SECTION}\\n'; \
             else stat -c \"{format}\" -- \"$p\"; fi\n{}",
            self.recurse_check()
        )
    }
}

impl Action for FileModule {
    fn probe(&self) -> Option<Request> {
        let mut script = format!(
            "{}p={}\nif [ -L \"$p\" ]; then\n{}else\n{}fi\n",
            files::C_LOCALE,
            quote(&self.path),
            self.link_probe(),
            self.plain_probe(),
        );
        if let Some(src) = &self.src {
            script.push_str(&format!(
                "[ -e {} ] && echo src_parent=1\n[ -e {} ] && echo src_self=1\n",
                quote(&join(dirname(&self.path), src)),
                quote(&join(&self.path, src))
            ));
            script.push_str(
                "if [ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -z \"$(ls -A -- \"$p\")\" ]; then echo dir_empty=1; fi\n",
            );
        }
        script.push_str("true\n");
        Some(Request::new(script))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let probe = probe.ok_or_else(|| ModuleError::internal("file needs its probe"))?;
        let found = self.parse(&probe.stdout)?;
        let mut plan = self.plan_found(&found)?;
        let base = plan.result.clone();
        if let Some(path) = Self::result_path(&base) {
            let prefix = if path == self.path { "i_" } else { "ri_" };
            add_path_info(&mut plan.result, &found.info, prefix);
        }
        if plan.outcome != crate::Outcome::Satisfied {
            let work = std::mem::replace(&mut plan.state, Box::new(()))
                .downcast::<Work>()
                .map_err(|_| ModuleError::internal("file plan state has an unexpected type"))?;
            plan.state = Box::new(Planned { work: *work, base });
        }
        Ok(plan)
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        let Ok(planned) = plan.state::<Planned>() else {
            return Vec::new();
        };
        let mut request = self.apply_work(&planned.work);
        if let Some(path) = Self::result_path(&planned.base) {
            request.script.push_str(&format!(
                "IFS=' \t\n'\nq={}\necho {INFO}\n{}",
                quote(&path),
                info_lines("q", "i_")
            ));
        }
        vec![request]
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = outputs
            .first()
            .ok_or_else(|| ModuleError::internal("file produced no apply output"))?;
        let planned = plan.state::<Planned>()?;
        let mut result = planned.base.clone();
        if out.status != 0 {
            result.failed = true;
            result.changed = false;
            result.msg = Some(format!(
                "could not change `{}`: {}",
                self.path,
                out.stderr_text().trim()
            ));
            return Ok(result);
        }
        let stdout = out.stdout_text();
        if let Some((_, info)) = stdout.split_once(&format!("{INFO}\n")) {
            add_path_info(&mut result, info, "i_");
        }
        Ok(result)
    }
}

impl FileModule {
    fn plan_found(&self, found: &Found) -> Result<Plan, ModuleError> {
        let prev = found.own.kind;
        let state = self.state.unwrap_or(match prev {
            FileKind::Absent if self.recurse => State::Directory,
            FileKind::Absent | FileKind::File | FileKind::Other => State::File,
            FileKind::Directory => State::Directory,
            FileKind::Link => State::Link,
        });
        if self.recurse && state != State::Directory {
            return Ok(Self::fail(
                "recurse option requires state to be 'directory'".into(),
                &self.path,
            ));
        }
        let follow_link = self.follow && prev == FileKind::Link;
        let (path, st) = if follow_link {
            (found.real_path.clone(), &found.resolved)
        } else {
            (self.path.clone(), &found.own)
        };
        Ok(match state {
            State::Absent => {
                let result = ModuleResult::ok()
                    .with("path", self.path.clone())
                    .with("state", "absent");
                if prev == FileKind::Absent {
                    Plan::satisfied(result)
                } else {
                    let mut plan = Plan::change(
                        result,
                        Work::Remove {
                            directory: prev == FileKind::Directory,
                        },
                    );
                    plan.diffs = self.state_diff(prev.as_str(), "absent", &[]);
                    plan
                }
            }
            State::File => {
                if st.kind != FileKind::File {
                    let mut plan = Self::fail(
                        format!("file ({path}) is {}, cannot continue", st.kind.as_str()),
                        &path,
                    );
                    plan.result = plan.result.with("state", st.kind.as_str());
                    plan
                } else {
                    self.plan_attrs(&path, st, State::File, false)
                }
            }
            State::Directory => match st.kind {
                FileKind::Absent => {
                    let mut plan = Plan::change(
                        ModuleResult::ok()
                            .with("path", path.clone())
                            .with("state", "directory"),
                        Work::MakeDirs { path: path.clone() },
                    );
                    plan.diffs = self.state_diff("absent", "directory", &[]);
                    plan
                }
                FileKind::Directory => {
                    self.plan_attrs(&path, st, State::Directory, found.recurse_differs)
                }
                other => Self::fail(
                    format!("{path} already exists as a {}", other.as_str()),
                    &path,
                ),
            },
            State::Touch => {
                let created = st.kind == FileKind::Absent;
                let changes = self.attrs.differences(st);
                let result = ModuleResult::ok().with("dest", self.path.clone());
                if !created && !self.touch_times && changes.is_empty() {
                    Plan::satisfied(result)
                } else {
                    let mut plan = Plan::change(result, Work::Touch { path: path.clone() });
                    plan.diffs = self.state_diff(
                        if created { "absent" } else { st.kind.as_str() },
                        "touch",
                        &changes,
                    );
                    plan
                }
            }
            State::Link => self.plan_link(found),
        })
    }

    fn apply_work(&self, work: &Work) -> Request {
        let p = quote(&self.path);
        let script = match work {
            Work::Remove { directory: true } => format!("set -e\nrm -rf -- {p}\n"),
            Work::Remove { directory: false } => format!("set -e\nrm -f -- {p}\n"),
            Work::Attrs { path, recurse } => {
                let mut s = files::attrs_script(path, &self.attrs).script;
                if *recurse {
                    if let Some(mode) = self.attrs.mode {
                        s.push_str(&format!(
                            "find \"$p\" -mindepth 1 ! -type l -exec chmod {mode} {{}} +\n"
                        ));
                    }
                    match (&self.attrs.owner, &self.attrs.group) {
                        (Some(o), Some(g)) => {
                            s.push_str(&format!("chown -R -- {}:{} \"$p\"\n", quote(o), quote(g)))
                        }
                        (Some(o), None) => {
                            s.push_str(&format!("chown -R -- {} \"$p\"\n", quote(o)))
                        }
                        (None, Some(g)) => {
                            s.push_str(&format!("chgrp -R -- {} \"$p\"\n", quote(g)))
                        }
                        (None, None) => {}
                    }
                }
                s
            }
            Work::MakeDirs { path } => make_dirs(path, &attr_lines(&self.attrs)),
            Work::Touch { path } => {
                let mut s = format!("set -e\np={}\n", quote(path));
                if self.touch_times {
                    s.push_str("touch -- \"$p\"\n");
                } else {
                    s.push_str("[ -e \"$p\" ] || : > \"$p\"\n");
                }
                s.push_str(&attr_lines(&self.attrs));
                s
            }
            Work::Link { replace_dir, fresh } => {
                let src = quote(self.src.as_deref().unwrap_or(""));
                if *fresh {
                    format!("set -e\nln -s -- {src} {p}\n")
                } else {
                    let rm = if *replace_dir {
                        format!("rmdir -- {p}\n")
                    } else {
                        String::new()
                    };
                    format!(
                        "set -e\nt=\"$(dirname -- {p})/.drover.$$.tmp\"\n{rm}ln -s -- {src} \"$t\"\nmv -fT -- \"$t\" {p}\n"
                    )
                }
            }
        };
        Request::new(script)
    }
}

/// Like Ansible: creates each missing component of `path` and gives it the attributes
/// (`attrs`: shell lines working on `"$p"`). A component another process creates meanwhile is
/// fine when it is a directory (Ansible's `EEXIST` case: hosts sharing a parent directory), not
/// when it is a symlink (the attributes would go to its target, which Ansible never changes).
fn make_dirs(path: &str, attrs: &str) -> String {
    format!(
        "set -e\nset -f\ntarget={}\ncase \"$target\" in /*) cur=;; *) cur=.;; esac\n\
         IFS=/\nfor part in $target; do\n  [ -z \"$part\" ] && continue\n  \
         cur=\"$cur/$part\"\n  if [ ! -e \"$cur\" ]; then\n    \
         mkdir -- \"$cur\" 2>/dev/null || {{ [ -d \"$cur\" ] && [ ! -L \"$cur\" ]; }} || mkdir -- \"$cur\"\n    \
         p=$cur\n{attrs}  fi\ndone\n",
        quote(path),
    )
}

#[cfg(test)]
mod tests {
    use super::super::common::testkit::{action, out, prepare, run};
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    /// Canned probe output: own state, resolved state, extra lines.
    fn probe(own: &str, resolved: &str, extra: &str) -> Output {
        out(&format!("{own}{SECTION}\n{resolved}{SECTION}\n{extra}"))
    }

    const DIR: &str = "state=directory\nmode=755\nowner=root\ngroup=root\nsize=4096\n";
    const FILE: &str = "state=file\nmode=644\nowner=root\ngroup=root\nsize=3\nsha256=x\n";
    const ABSENT: &str = "state=absent\n";

    #[test]
    fn directory_cases() {
        let a = action(
            "file",
            json!({"path": "/d", "state": "directory", "mode": "0755"}),
            true,
        );
        assert_eq!(
            a.plan(Some(&probe(DIR, DIR, ""))).unwrap().outcome,
            Outcome::Satisfied
        );
        let plan = a.plan(Some(&probe(ABSENT, ABSENT, ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert_eq!(
            plan.diffs[0].unified(),
            "--- before: /d\n+++ after: /d\n@@ -1,4 +1,4 @@\n {\n     \"path\": \"/d\",\n-    \"state\": \"absent\"\n+    \"state\": \"directory\"\n }\n"
        );
        let plan = a.plan(Some(&probe(FILE, FILE, ""))).unwrap();
        assert!(plan.result.failed);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("/d already exists as a file")
        );
        // recurse: the find count decides
        let a = action(
            "file",
            json!({"path": "/d", "state": "directory", "owner": "root", "recurse": true}),
            false,
        );
        assert!(a.probe().unwrap().script.contains("! -user root"));
        assert_eq!(
            a.plan(Some(&probe(DIR, &format!("{DIR}recurse_differs=0\n"), "")))
                .unwrap()
                .outcome,
            Outcome::Satisfied
        );
        let plan = a
            .plan(Some(&probe(DIR, &format!("{DIR}recurse_differs=1\n"), "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(a.apply(&plan)[0].script.contains("chown -R -- root \"$p\""));
    }

    #[test]
    fn file_absent_and_touch_cases() {
        let a = action("file", json!({"path": "/x", "state": "file"}), false);
        let plan = a.plan(Some(&probe(ABSENT, ABSENT, ""))).unwrap();
        assert!(plan.result.failed);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("file (/x) is absent, cannot continue")
        );
        // default state of an existing file is `file`: attributes only
        let a = action("file", json!({"path": "/x", "mode": "0600"}), false);
        let plan = a.plan(Some(&probe(FILE, FILE, ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(
            a.apply(&plan)[0]
                .script
                .starts_with("set -e\np=/x\nchmod 0600 -- \"$p\"\n")
        );
        let a = action("file", json!({"path": "/x", "state": "absent"}), false);
        assert_eq!(
            a.plan(Some(&probe(ABSENT, ABSENT, ""))).unwrap().outcome,
            Outcome::Satisfied
        );
        let plan = a.plan(Some(&probe(DIR, DIR, ""))).unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .starts_with("set -e\nrm -rf -- /x\n")
        );
        let a = action("file", json!({"path": "/x", "state": "touch"}), false);
        assert_eq!(
            a.plan(Some(&probe(FILE, FILE, ""))).unwrap().outcome,
            Outcome::Change
        );
        let a = action(
            "file",
            json!({"path": "/x", "state": "touch", "modification_time": "preserve", "access_time": "preserve"}),
            false,
        );
        assert_eq!(
            a.plan(Some(&probe(FILE, FILE, ""))).unwrap().outcome,
            Outcome::Satisfied
        );
    }

    #[test]
    fn link_cases() {
        let link = "state=link\nmode=777\nowner=root\ngroup=root\nsize=4\ntarget=/opt/a\n";
        let a = action(
            "file",
            json!({"path": "/l", "src": "/opt/a", "state": "link"}),
            false,
        );
        assert_eq!(
            a.plan(Some(&probe(link, FILE, "src_parent=1\n")))
                .unwrap()
                .outcome,
            Outcome::Satisfied
        );
        let plan = a
            .plan(Some(&probe(ABSENT, ABSENT, "src_parent=1\n")))
            .unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .starts_with("set -e\nln -s -- /opt/a /l\n")
        );
        let plan = a.plan(Some(&probe(ABSENT, ABSENT, ""))).unwrap();
        assert_eq!(
            plan.result.msg.as_deref(),
            Some(
                "src file does not exist, use \"force=yes\" if you really want to create the link: /opt/a"
            )
        );
        let plan = a.plan(Some(&probe(FILE, FILE, "src_parent=1\n"))).unwrap();
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("refusing to convert from file to symlink for /l")
        );
        let a = action(
            "file",
            json!({"path": "/l", "src": "b", "state": "link", "force": true}),
            false,
        );
        let plan = a.plan(Some(&probe(DIR, DIR, ""))).unwrap();
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("the directory /l is not empty, refusing to convert it")
        );
        let plan = a.plan(Some(&probe(link, FILE, ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(a.apply(&plan)[0].script.contains("mv -fT"));
    }

    #[test]
    fn refusals() {
        for (args, want) in [
            (
                json!({"path": "/x", "state": "hard", "src": "/y"}),
                "`state: hard` is not implemented",
            ),
            (
                json!({"path": "/x", "src": "/y"}),
                "src option requires state to be 'link' or 'hard'",
            ),
            (
                json!({"path": "/x", "state": "file", "recurse": true}),
                "recurse option requires state to be 'directory'",
            ),
            (
                json!({"path": "/x", "state": "link", "src": "/y", "mode": "0644"}),
                "with `state: link` are not implemented",
            ),
            (
                json!({"path": "/x", "state": "touch", "modification_time": "202401010000.00"}),
                "only `now` and `preserve`",
            ),
            (
                json!({"path": "/x", "selevel": "s0"}),
                "`selevel` is not implemented",
            ),
        ] {
            let e = prepare("file", args.clone(), false)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(want), "{args}: {e}");
        }
    }

    #[tokio::test]
    async fn real_runs_are_idempotent_and_check_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_str().unwrap();
        let cases = [
            json!({"path": format!("{base}/a/b/c"), "state": "directory", "mode": "0750"}),
            json!({"path": format!("{base}/a"), "state": "directory", "mode": "0700", "recurse": true}),
            json!({"path": format!("{base}/a/b/c/f"), "state": "touch", "mode": "0600", "modification_time": "preserve", "access_time": "preserve"}),
            json!({"path": format!("{base}/a/b/c/f"), "state": "file", "mode": "0640"}),
            json!({"path": format!("{base}/link"), "state": "link", "src": "a/b/c/f"}),
            json!({"path": format!("{base}/link"), "state": "link", "src": "a/b"}),
            json!({"path": format!("{base}/a"), "state": "absent"}),
        ];
        for args in cases {
            let check = run(action("file", args.clone(), true).as_ref(), true)
                .await
                .unwrap();
            assert_eq!(check.outcome, Outcome::Change, "{args}");
            let first = run(action("file", args.clone(), true).as_ref(), false)
                .await
                .unwrap();
            assert!(
                first.result.changed && !first.result.failed,
                "{args}: {:?}",
                first.result
            );
            assert_eq!(first.result.changed, check.result.changed, "{args}");
            let second = run(action("file", args.clone(), true).as_ref(), false)
                .await
                .unwrap();
            assert_eq!(
                second.outcome,
                Outcome::Satisfied,
                "{args}: {:?}",
                second.result
            );
            assert_eq!(second.round_trips, 1);
        }
        use std::os::unix::fs::PermissionsExt;
        assert!(!dir.path().join("a").exists());
        assert_eq!(
            std::fs::read_link(dir.path().join("link"))
                .unwrap()
                .to_str(),
            Some("a/b")
        );
        let _ = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        // touch without preserve always changes
        let args = json!({"path": format!("{base}/t"), "state": "touch"});
        for _ in 0..2 {
            let r = run(action("file", args.clone(), false).as_ref(), false)
                .await
                .unwrap();
            assert!(r.result.changed && !r.result.failed, "{:?}", r.result);
        }
    }

    /// A parent directory another process creates between the check and `mkdir` (hosts
    /// sharing it, run at once) is not an error; a file in the way still is.
    #[test]
    fn directories_created_meanwhile_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // a mkdir that loses the race: the directory appears, and mkdir fails with EEXIST
        let racing = bin.join("mkdir");
        std::fs::write(
            &racing,
            "#!/bin/sh\n/bin/mkdir \"$@\"; exec /bin/mkdir \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&racing, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let run = |target: &std::path::Path| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "PATH={}:$PATH\n{}",
                    bin.display(),
                    make_dirs(target.to_str().unwrap(), "chmod 0750 \"$p\"\n")
                ))
                .output()
                .unwrap()
        };
        let target = dir.path().join("a/b");
        let out = run(&target);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
        std::fs::write(dir.path().join("f"), "").unwrap();
        let out = run(&dir.path().join("f/x"));
        assert!(!out.status.success());
        // a symlink to a directory planted in the race: refused, its target untouched
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            &racing,
            format!(
                "#!/bin/sh\nln -s {} \"$2\"; exec /bin/mkdir \"$@\"\n",
                victim.display()
            ),
        )
        .unwrap();
        let out = run(&dir.path().join("planted/inner"));
        assert!(!out.status.success());
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "the symlink's target was changed");
    }

    #[test]
    fn a_plain_path_costs_one_stat() {
        let a = action("file", json!({"path": "/d", "state": "directory"}), false);
        let script = a.probe().unwrap().script;
        let plain = script
            .split_once("else\n")
            .map(|(_, p)| p)
            .unwrap_or_default();
        assert_eq!(plain.matches("stat -c").count(), 1, "{plain}");
        assert!(!plain.contains("$("), "no command substitution: {plain}");
    }

    /// For a path that is not a symlink, the one-`stat` probe finds exactly what the general
    /// (symlink) probe finds: own and followed state, real path and path info.
    #[tokio::test]
    async fn plain_probe_agrees_with_the_general_probe() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_str().unwrap();
        std::fs::create_dir_all(dir.path().join("d/e")).unwrap();
        std::fs::write(dir.path().join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink("d", dir.path().join("via")).unwrap();
        let local = drover_connection::LocalConnection::new("localhost");
        for (name, state) in [
            ("d", "directory"),
            ("d/f", "file"),
            ("d/absent", "directory"),
            ("via/e", "directory"),
            ("via/f", "file"),
        ] {
            let path = format!("{base}/{name}");
            let m = action("file", json!({"path": path, "state": state}), false);
            let fast = local.run(&m.probe().unwrap()).await.unwrap();
            // the plain branch ran (the symlink branch prints the followed path's `ri_` info)
            assert!(!fast.stdout_text().contains("ri_uid="), "{name}");
            let module = FileModule {
                path: path.clone(),
                state: None,
                recurse: false,
                force: false,
                follow: true,
                src: None,
                attrs: Attrs::default(),
                touch_times: false,
                diff: false,
            };
            let general = Request::new(format!("p={}\n{}", quote(&path), module.link_probe()));
            let general = local.run(&general).await.unwrap();
            let (a, mut b) = (
                module.parse(&fast.stdout).unwrap(),
                module.parse(&general.stdout).unwrap(),
            );
            // `file` never looks at content hashes; only the general probe computes them.
            b.own.sha256 = None;
            b.resolved.sha256 = None;
            assert_eq!(a.own, b.own, "{name}");
            assert_eq!(a.resolved, b.resolved, "{name}");
            assert_eq!(a.real_path, b.real_path, "{name}");
            let own_info = |info: &str| {
                info.lines()
                    .filter(|l| l.starts_with("i_"))
                    .map(String::from)
                    .collect::<Vec<_>>()
            };
            assert_eq!(own_info(&a.info), own_info(&b.info), "{name}");
            assert_eq!(
                a.own.kind != FileKind::Absent,
                !own_info(&a.info).is_empty(),
                "{name}"
            );
        }
    }
}
