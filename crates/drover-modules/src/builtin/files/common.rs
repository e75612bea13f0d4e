//! Shared machinery of the file modules that edit a file's text on the controller
//! (`lineinfile`, `blockinfile`): a probe that follows symlinks and reads the whole file, a plan
//! built from the new text, and the apply/finish scripts. Also Ansible's Python-regex
//! translation and the refusal of parameters drover does not implement.

use drover_connection::shell::quote;
use serde_json::{Map, Value};

use crate::diff::FileDiff;
use crate::files::{self, Attrs, FileKind, FileState, WriteOptions};
use crate::{ModuleError, ModuleResult, Output, Plan, Request};

/// Ansible's common file arguments drover does not implement (SELinux, chattr, unsafe writes).
pub(crate) const COMMON_REFUSED: &[&str] = &[
    "seuser",
    "serole",
    "setype",
    "selevel",
    "attributes",
    "attr",
];

/// Refuses the first of `names` present in `args`, by name.
pub(crate) fn refuse(
    module: &str,
    args: &Map<String, Value>,
    names: &[&str],
) -> Result<(), ModuleError> {
    match names
        .iter()
        .chain(COMMON_REFUSED)
        .find(|n| args.contains_key(**n))
    {
        Some(name) => Err(ModuleError::params(format!(
            "module `{module}`: parameter `{name}` is not implemented in drover"
        ))),
        None => Ok(()),
    }
}

/// Refuses node paths drover would not read like Ansible: Ansible expands `~` and `$VAR` in
/// path parameters on the node; drover quotes paths literally, so such a path would name a
/// different file (a directory literally called `~`).
pub(crate) fn node_path(module: &str, param: &str, path: &str) -> Result<(), ModuleError> {
    if path.starts_with('~') || path.contains('$') {
        return Err(ModuleError::params(format!(
            "module `{module}`: `{param}` `{path}` uses `~` or `$VAR`, which Ansible expands on the node and drover does not yet; use an absolute path"
        )));
    }
    if path.is_empty() {
        return Err(ModuleError::params(format!(
            "module `{module}`: `{param}` is empty"
        )));
    }
    Ok(())
}

/// Ansible's `unsafe_writes: true`: when the atomic rename fails (a bind-mounted file such as a
/// container's `/etc/hosts` answers `EBUSY`), write the content in place instead, then give the
/// file the temp file's mode and owner.
pub(crate) fn unsafe_writes(mut request: Request) -> Request {
    request.script = request.script.replacen(
        "mv -f -- \"$t\" \"$d\"\n",
        "if ! mv -f -- \"$t\" \"$d\" 2>/dev/null; then cat -- \"$t\" > \"$d\"; \
         chmod --reference=\"$t\" -- \"$d\"; chown --reference=\"$t\" -- \"$d\" 2>/dev/null || true; \
         rm -f -- \"$t\"; fi\n",
        1,
    );
    request
}

/// A hint for a failed write: a busy rename target is a bind mount (a container's
/// `/etc/hosts`), which Ansible too only writes with `unsafe_writes: true`.
pub(crate) fn write_hint(stderr: &str) -> &'static str {
    if stderr.contains("busy") {
        " (the file is a mount point, e.g. a container's /etc/hosts: set `unsafe_writes: true` to write it in place, as with Ansible)"
    } else {
        ""
    }
}

/// Checks Ansible's rule that `validate` names the temp file with `%s`, and that it splits
/// into words.
pub(crate) fn check_validate(module: &str, validate: &Option<String>) -> Result<(), ModuleError> {
    match validate {
        Some(v) if !v.contains("%s") => Err(ModuleError::params(format!(
            "module `{module}`: validate must contain %s: {v}"
        ))),
        _ => check_validate_words(module, validate),
    }
}

/// The `validate` command of `copy` and `template` when it lacks `%s`: Ansible fails the task
/// with "validate must contain %s" only when the file would be written (not when it is
/// already right, nor in check mode), and leaves the file untouched.
pub(crate) fn validate_without_percent_s(validate: &Option<String>) -> Option<&str> {
    validate.as_deref().filter(|v| !v.contains("%s"))
}

/// Checks that `validate` splits into words (it runs without a shell, as in Ansible).
pub(crate) fn check_validate_words(
    module: &str,
    validate: &Option<String>,
) -> Result<(), ModuleError> {
    match validate {
        Some(v) => match crate::files::validate_words(v) {
            Ok(words) if !words.is_empty() => Ok(()),
            Ok(_) => Err(ModuleError::params(format!(
                "module `{module}`: validate is empty"
            ))),
            Err(e) => Err(ModuleError::params(format!(
                "module `{module}`: validate `{v}` cannot be split into words ({e}); \
                 it runs without a shell, as in Ansible"
            ))),
        },
        None => Ok(()),
    }
}

/// A probe of `path` that follows symlinks (printing `realpath=` when it did) and prints the
/// content of a regular file up to [`files::MAX_DIFF_BYTES`]; with `want_attrs`, also its mode,
/// owner, group and size (one `stat`), which an edit needs only when it sets attributes.
pub(crate) fn resolved_probe(path: &str, want_attrs: bool) -> Request {
    let mut s = resolved_head(path);
    if want_attrs {
        s.push_str(&stat_lines());
        s.push_str(&files::content_lines());
    } else {
        // The type alone; the content (one byte more than the limit tells a file too large).
        s.push_str(&format!(
            "echo \"state=$t\"\nif [ $t = file ]; then echo {}; head -c {} -- \"$p\"; fi\n",
            files::CONTENT_MARKER,
            files::MAX_DIFF_BYTES + 1
        ));
    }
    Request::new(s)
}

/// [`resolved_probe`] without the content, with the attributes (for `file` on a symlink).
pub(crate) fn resolved_attrs_probe(path: &str) -> Request {
    let mut s = resolved_head(path);
    s.push_str(&stat_lines());
    Request::new(s)
}

/// The common start of the resolved probes: the C locale, symlinks followed (`realpath=`), the
/// type in `$t`, and when nothing is there, `state=absent` and what a new file would be like
/// (`umask`, `whoami`, `whogroup`).
fn resolved_head(path: &str) -> String {
    format!(
        "{}p={}\n\
         if [ -L \"$p\" ]; then r=$(readlink -f -- \"$p\") && [ -n \"$r\" ] && p=$r; printf 'realpath=%s\\n' \"$p\"; fi\n\
         if [ -L \"$p\" ]; then t=link; elif [ -d \"$p\" ]; then t=directory; elif [ -f \"$p\" ]; then t=file; elif [ -e \"$p\" ]; then t=other; \
         else printf 'state=absent\\numask='; umask; printf 'whoami=%s\\nwhogroup=%s\\n' \"$(id -un)\" \"$(id -gn)\"; exit 0; fi\n",
        files::C_LOCALE,
        quote(path)
    )
}

/// [`files::probe_script`]'s lines for `"$p"` of type `$t` (without `sha256`), the `stat`
/// output kept in `$i` for [`files::content_lines`].
fn stat_lines() -> String {
    "i=$(stat -c \"state=$t\nmode=%a\nowner=%U\ngroup=%G\nsize=%s\" -- \"$p\") && printf '%s\\n' \"$i\"\n\
     if [ $t = link ]; then printf 'target=%s\\n' \"$(readlink -- \"$p\")\"; fi\n"
        .to_string()
}

/// The file a text-editing module works on, as probed.
pub(crate) struct Current {
    /// Stat of the (resolved) file.
    pub state: FileState,
    /// The path writes go to (symlinks followed).
    pub real_path: String,
    /// The text, `None` when the file is absent.
    pub text: Option<String>,
    /// What a newly created file would be like (`0666 & ~umask`, the remote user and group).
    pub fresh: FileState,
}

impl Current {
    /// Parses [`resolved_probe`] output; refuses directories, other file types, files too large
    /// to edit on the controller, and non-UTF-8 content.
    pub fn parse(module: &str, path: &str, probe: Option<&Output>) -> Result<Current, ModuleError> {
        let probe =
            probe.ok_or_else(|| ModuleError::internal(format!("{module} needs its probe")))?;
        let state = FileState::parse(&probe.stdout)?;
        let stdout = probe.stdout_text();
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(String::from))
        };
        let real_path = value("realpath").unwrap_or_else(|| path.to_string());
        let umask = value("umask")
            .and_then(|u| u32::from_str_radix(u.trim(), 8).ok())
            .unwrap_or(0o022);
        let fresh = FileState {
            kind: FileKind::File,
            mode: Some(crate::params::Mode(0o666 & !umask)),
            owner: value("whoami"),
            group: value("whogroup"),
            size: Some(0),
            sha256: None,
            link_target: None,
            content: None,
        };
        let text = match state.kind {
            FileKind::Absent => None,
            FileKind::Directory => {
                return Err(ModuleError::node(format!("Path {path} is a directory !")));
            }
            FileKind::Link | FileKind::Other => {
                return Err(ModuleError::node(format!(
                    "`{path}` is not a regular file; {module} edits regular files only"
                )));
            }
            FileKind::File => {
                let content = state.content.clone().ok_or_else(|| {
                    let size = match state.size {
                        Some(size) => format!("{size} bytes"),
                        None => format!("larger than {} bytes", files::MAX_DIFF_BYTES),
                    };
                    ModuleError::node(format!(
                        "`{path}` is {size}; drover's {module} edits files up to {} bytes (it reads the whole file to the controller)",
                        files::MAX_DIFF_BYTES
                    ))
                })?;
                Some(String::from_utf8(content).map_err(|_| {
                    ModuleError::node(format!(
                        "`{path}` is not UTF-8 text; drover's {module} edits text files only"
                    ))
                })?)
            }
        };
        Ok(Current {
            state,
            real_path,
            text,
            fresh,
        })
    }
}

/// How a text-editing module writes (its common parameters).
pub(crate) struct EditTarget {
    /// The module's name.
    pub module: &'static str,
    /// The path as given.
    pub path: String,
    /// Owner, group, mode, backup and validate.
    pub options: WriteOptions,
    /// Whether `--diff` is on.
    pub diff: bool,
    /// The result key naming the backup file (`backup` for lineinfile, `backup_file` for
    /// blockinfile).
    pub backup_key: &'static str,
    /// Ansible's `unsafe_writes`: fall back to an in-place write when the rename fails.
    pub unsafe_writes: bool,
}

/// What `apply` of an edit does.
pub(crate) enum EditWork {
    /// Write new content to the (resolved) path, creating its directory when `create_dir`.
    Write {
        real_path: String,
        content: String,
        create_dir: bool,
        /// A new file whose attributes will then differ from the wanted ones (Ansible reports
        /// it in the real run's message, not in check mode's).
        fresh_attrs_differ: bool,
    },
    /// Fix mode/owner/group only.
    Attrs { real_path: String },
}

const ATTRS_MSG: &str = "ownership, perms or SE linux context changed";

impl EditTarget {
    /// Plans the edit: `new_text` is the file's new text when `content_changed`; `result` is the
    /// module's result without `changed`/`msg` (they are set here, Ansible's way: the content
    /// message, then "and ownership, perms or SE linux context changed" when attributes differ).
    pub fn plan(
        &self,
        current: &Current,
        content_changed: bool,
        new_text: String,
        msg: &str,
        mut result: ModuleResult,
    ) -> Plan {
        let attr_changes = if current.text.is_some() {
            self.options.attrs.differences(&current.state)
        } else {
            Vec::new()
        };
        let mut message = msg.to_string();
        if !attr_changes.is_empty() {
            if content_changed {
                message.push_str(" and ");
            }
            message.push_str(ATTRS_MSG);
        }
        result.msg = Some(message);
        let mut content_diff = FileDiff::content(
            &format!("{} (content)", self.path),
            current.text.as_deref().unwrap_or(""),
            &new_text,
        );
        content_diff.after_header = content_diff.before_header.clone();
        let mut plan = if content_changed {
            Plan::change(
                result,
                EditWork::Write {
                    real_path: current.real_path.clone(),
                    content: new_text,
                    create_dir: current.text.is_none(),
                    fresh_attrs_differ: current.text.is_none()
                        && !self.options.attrs.differences(&current.fresh).is_empty(),
                },
            )
        } else if !attr_changes.is_empty() {
            Plan::change(
                result,
                EditWork::Attrs {
                    real_path: current.real_path.clone(),
                },
            )
        } else {
            return Plan::satisfied(result);
        };
        if self.diff {
            plan.diffs.push(content_diff);
            if !attr_changes.is_empty() {
                let before: String = attr_changes.iter().map(|c| format!("{c}\n")).collect();
                plan.diffs.push(FileDiff::content(
                    &format!("{} (file attributes)", self.path),
                    &before,
                    "",
                ));
            }
        }
        plan
    }

    /// The apply scripts of an edit plan.
    pub fn apply(&self, plan: &Plan) -> Vec<Request> {
        match plan.state::<EditWork>() {
            Ok(EditWork::Write {
                real_path,
                content,
                create_dir,
                ..
            }) => {
                let options = WriteOptions {
                    backup: self.options.backup && !create_dir,
                    ..self.options.clone()
                };
                let mut request = files::write_script(
                    real_path,
                    &options,
                    &crate::payload::Payload::bytes(content.clone()),
                );
                if self.unsafe_writes {
                    request = unsafe_writes(request);
                }
                if *create_dir {
                    request.script = format!(
                        "mkdir -p -- \"$(dirname -- {})\" || exit 1\n{}",
                        quote(real_path),
                        request.script
                    );
                }
                vec![request]
            }
            Ok(EditWork::Attrs { real_path }) => {
                vec![files::attrs_script(real_path, &self.options.attrs)]
            }
            Err(_) => Vec::new(),
        }
    }

    /// Reads the apply output: failure (with Ansible's validate message) or the backup path.
    pub fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = outputs.first().ok_or_else(|| {
            ModuleError::internal(format!("{} produced no apply output", self.module))
        })?;
        let mut result = plan.result.clone();
        if out.status != 0 {
            let stderr = out.stderr_text();
            result.failed = true;
            result.changed = false;
            result.msg = Some(if stderr.contains("validation failed") {
                format!(
                    "failed to validate: rc:{} error:{}",
                    out.status,
                    stderr
                        .lines()
                        .filter(|l| !l.starts_with("validation failed"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            } else {
                format!(
                    "failed to write `{}`: {}{}",
                    self.path,
                    stderr.trim(),
                    write_hint(&stderr)
                )
            });
            return Ok(result);
        }
        if let Ok(EditWork::Write {
            fresh_attrs_differ: true,
            ..
        }) = plan.state::<EditWork>()
        {
            let msg = result.msg.get_or_insert_with(String::new);
            if !msg.is_empty() {
                msg.push_str(" and ");
            }
            msg.push_str(ATTRS_MSG);
        }
        for line in out.stdout_text().lines() {
            if let Some(backup) = line.strip_prefix("backup=") {
                result
                    .extra
                    .insert(self.backup_key.into(), Value::String(backup.to_string()));
            }
        }
        Ok(result)
    }
}

/// Builds [`Attrs`] from the common parameters.
pub(crate) fn attrs(
    owner: Option<String>,
    group: Option<String>,
    mode: Option<crate::params::Mode>,
) -> Attrs {
    Attrs { owner, group, mode }
}

/// A regular expression with Python `re` semantics for one line (Ansible compiles byte patterns
/// and searches each line with its newline; here lines are searched without their trailing
/// `\n`, which is the same for every pattern that does not match the newline itself —
/// Python's `$` matches before a final newline). Patterns that could differ are refused.
pub(crate) struct PyRegex {
    regex: fancy_regex::Regex,
}

/// A match's groups, for `backrefs` expansion.
pub(crate) struct PyMatch {
    groups: Vec<Option<String>>,
    names: Vec<(String, usize)>,
}

impl PyRegex {
    /// Compiles `pattern` (the value of parameter `param` of `module`).
    pub fn new(module: &str, param: &str, pattern: &str) -> Result<PyRegex, ModuleError> {
        let refuse = |why: &str| {
            ModuleError::params(format!(
                "module `{module}`: `{param}` pattern `{pattern}` {why}; drover refuses patterns it cannot match exactly like Python's `re`"
            ))
        };
        if pattern.contains('\n') || has_escape(pattern, 'n') {
            return Err(refuse("matches a newline (lines are matched one by one)"));
        }
        if has_escape(pattern, 'Z') {
            return Err(refuse("uses `\\Z`"));
        }
        if pattern.contains("(?L") || pattern.contains("(?a") {
            return Err(refuse("uses Python-only flags"));
        }
        let translated = translate_named_backrefs(pattern);
        let regex = fancy_regex::Regex::new(&translated)
            .map_err(|e| refuse(&format!("does not compile ({e})")))?;
        Ok(PyRegex { regex })
    }

    /// Whether the pattern matches anywhere in `line` (its trailing `\n` is ignored).
    pub fn is_match(&self, line: &str) -> bool {
        self.regex
            .is_match(line.strip_suffix('\n').unwrap_or(line))
            .unwrap_or(false)
    }

    /// The first match in `line` with its groups.
    pub fn captures(&self, line: &str) -> Option<PyMatch> {
        let caps = self
            .regex
            .captures(line.strip_suffix('\n').unwrap_or(line))
            .ok()??;
        let groups = (0..caps.len())
            .map(|i| caps.get(i).map(|m| m.as_str().to_string()))
            .collect();
        let names = self
            .regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
            .collect();
        Some(PyMatch { groups, names })
    }
}

impl PyMatch {
    /// Python's `match.expand(template)`: `\1`, `\g<1>`, `\g<name>` and the escapes `\n`, `\t`,
    /// `\r`, `\\`, `\a`, `\f`, `\v` (unmatched groups expand to nothing).
    pub fn expand(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                None => return Err("bad escape (end of pattern)".into()),
                Some(d @ '0'..='9') => {
                    let mut num = d.to_string();
                    if let Some(&e) = chars.peek()
                        && e.is_ascii_digit()
                    {
                        num.push(e);
                        chars.next();
                    }
                    out.push_str(&self.group_by_number(&num)?);
                }
                Some('g') => {
                    if chars.next() != Some('<') {
                        return Err("missing < in \\g".into());
                    }
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    if name.chars().all(|c| c.is_ascii_digit()) && !name.is_empty() {
                        out.push_str(&self.group_by_number(&name)?);
                    } else {
                        let index = self
                            .names
                            .iter()
                            .find(|(n, _)| *n == name)
                            .map(|(_, i)| *i)
                            .ok_or_else(|| format!("unknown group name '{name}'"))?;
                        out.push_str(self.groups[index].as_deref().unwrap_or(""));
                    }
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('a') => out.push('\x07'),
                Some('f') => out.push('\x0c'),
                Some('v') => out.push('\x0b'),
                Some('\\') => out.push('\\'),
                Some(e) if e.is_ascii_alphabetic() => return Err(format!("bad escape \\{e}")),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    fn group_by_number(&self, num: &str) -> Result<String, String> {
        let index: usize = num
            .parse()
            .map_err(|_| format!("invalid group reference {num}"))?;
        if index == 0 && num.len() == 1 {
            // `\0` is an octal escape (NUL) in Python templates
            return Ok("\0".into());
        }
        self.groups
            .get(index)
            .map(|g| g.clone().unwrap_or_default())
            .ok_or_else(|| format!("invalid group reference {index}"))
    }
}

/// Whether `pattern` has the escape `\<letter>` (an odd number of backslashes before it).
fn has_escape(pattern: &str, letter: char) -> bool {
    let mut backslashes = 0;
    for c in pattern.chars() {
        if c == '\\' {
            backslashes += 1;
            continue;
        }
        if c == letter && backslashes % 2 == 1 {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// Python's `(?P=name)` backreference is fancy-regex's `\k<name>`.
fn translate_named_backrefs(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("(?P=") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        match after.find(')') {
            Some(end) => {
                out.push_str(&format!("\\k<{}>", &after[..end]));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Helpers for the module tests: a controller over a directory, canned outputs, and a runner
/// that drives an action through probe → plan → apply → finish in a local shell.
#[cfg(test)]
pub(crate) mod testkit {
    use std::path::{Path, PathBuf};

    use drover_connection::LocalConnection;
    use serde_json::Value;

    use crate::{Action, Controller, ModuleError, ModuleResult, Outcome, Output, Prepared};
    use crate::{TaskContext, prepare as lib_prepare};

    /// A controller whose files and templates live in one directory; "rendering" replaces
    /// `{{ name }}` with `drover` so tests can tell rendered from raw text.
    pub struct DirController(pub PathBuf);

    impl Controller for DirController {
        fn find_file(&self, name: &str) -> Result<PathBuf, String> {
            let p = self.0.join(name);
            if p.exists() {
                Ok(p)
            } else {
                Err(format!("could not find `{name}`"))
            }
        }
        fn find_template(&self, name: &str) -> Result<PathBuf, String> {
            self.find_file(name)
        }
        fn render_template(&self, path: &Path, _: &str, _: &str) -> Result<String, String> {
            std::fs::read_to_string(path)
                .map(|t| t.replace("{{ name }}", "drover"))
                .map_err(|e| e.to_string())
        }
    }

    /// Prepares `module` with `args` (a JSON object).
    pub fn prepare(module: &str, args: Value, diff: bool) -> Result<Prepared, ModuleError> {
        prepare_in(module, args, diff, Path::new("/nonexistent"))
    }

    /// Prepares `module` with a controller over `dir`.
    pub fn prepare_in(
        module: &str,
        args: Value,
        diff: bool,
        dir: &Path,
    ) -> Result<Prepared, ModuleError> {
        let controller = DirController(dir.to_path_buf());
        let ctx = TaskContext {
            host: "node1",
            controller: &controller,
            diff,
            escalated: false,
        };
        lib_prepare(module, args.as_object().expect("args object"), &ctx)
    }

    /// Prepares a remote action (panics otherwise).
    pub fn action(module: &str, args: Value, diff: bool) -> Box<dyn Action> {
        match prepare(module, args, diff) {
            Ok(Prepared::Remote(a)) => a,
            Ok(Prepared::Local(_)) => panic!("remote action expected"),
            Err(e) => panic!("prepare failed: {e}"),
        }
    }

    /// A successful output with `text` on stdout.
    pub fn out(text: &str) -> Output {
        Output {
            status: 0,
            stdout: text.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    /// A probe answer for an existing regular file holding `text` (content fetched).
    pub fn probe_of(text: &str) -> Output {
        out(&format!(
            "state=file\nmode=644\nowner=root\ngroup=root\nsize={}\nsha256=x\n--drover-content--\n{text}",
            text.len()
        ))
    }

    /// What a run did.
    pub struct Run {
        /// The plan's outcome.
        pub outcome: Outcome,
        /// The final result (the plan's in check mode).
        pub result: ModuleResult,
        /// Unified diffs.
        pub diffs: Vec<String>,
        /// The plan's diffs.
        pub plan_diffs: Vec<crate::diff::FileDiff>,
        /// Round trips used (probe + apply scripts).
        pub round_trips: usize,
    }

    /// A local shell as the driver's transport.
    struct Shell(LocalConnection);

    impl crate::Transport for Shell {
        type Error = drover_connection::Error;
        fn send(
            &mut self,
            request: crate::Request,
        ) -> impl std::future::Future<Output = Result<Output, Self::Error>> + Send {
            let local = self.0.clone();
            async move { local.run(&request).await }
        }
    }

    /// Runs `action` through the engine's driver ([`crate::drive`]) in a local shell; `check`
    /// stops after the plan.
    pub async fn run(action: &dyn Action, check: bool) -> Result<Run, ModuleError> {
        let mut shell = Shell(LocalConnection::new("localhost"));
        let driven = match crate::drive(action, check, &mut shell).await {
            Ok(d) => d,
            Err(crate::DriveError::Module(e)) => return Err(e),
            Err(crate::DriveError::Transport(e)) => panic!("the local shell failed: {e}"),
        };
        Ok(Run {
            outcome: driven.outcome,
            result: driven.result,
            diffs: driven.diffs.iter().map(|d| d.unified()).collect(),
            plan_diffs: driven.diffs,
            round_trips: driven.round_trips as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_regex_on_lines() {
        let r = PyRegex::new("lineinfile", "regexp", r"^port\s*=").unwrap();
        assert!(r.is_match("port = 1\n"));
        let r = PyRegex::new("lineinfile", "regexp", r"^(?P<k>\w+)=(?P=k)$").unwrap();
        assert!(r.is_match("ab=ab\n"));
        assert!(!r.is_match("ab=cd\n"));
        // Python's `$` matches before the final newline
        assert!(PyRegex::new("m", "regexp", "^x$").unwrap().is_match("x\n"));
        assert!(PyRegex::new("m", "regexp", r"a\nb").is_err());
        assert!(PyRegex::new("m", "regexp", r"a\\nb").is_ok());
        assert!(PyRegex::new("m", "regexp", r"end\Z").is_err());
        assert!(PyRegex::new("m", "regexp", "(unclosed").is_err());
    }

    #[test]
    fn python_expand() {
        let r = PyRegex::new("m", "regexp", r"^(\w+)=(?P<v>.*)$").unwrap();
        let m = r.captures("key=value\n").unwrap();
        assert_eq!(
            m.expand(r"\1 is \g<v>\t\g<2>").unwrap(),
            "key is value\tvalue"
        );
        assert!(m.expand(r"\3").is_err());
        assert!(m.expand(r"\q").is_err());
        assert_eq!(m.expand(r"a\.b").unwrap(), r"a\.b");
    }

    #[test]
    fn tilde_and_variables_in_paths_are_refused() {
        for (module, args) in [
            (
                "file",
                serde_json::json!({"path": "~/.ssh", "state": "directory"}),
            ),
            (
                "lineinfile",
                serde_json::json!({"path": "$HOME/x", "line": "a"}),
            ),
            ("stat", serde_json::json!({"path": "~"})),
            ("copy", serde_json::json!({"dest": "~/x", "content": "a"})),
        ] {
            let e = testkit::prepare(module, args, false)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("uses `~` or `$VAR`"), "{module}: {e}");
        }
    }

    /// A rename onto a mount point fails; `unsafe_writes` then writes in place. Simulated with a
    /// `mv` that always fails, put first on PATH.
    #[tokio::test]
    async fn unsafe_writes_fall_back_to_an_in_place_write() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(
            bin.join("mv"),
            "#!/bin/sh\necho 'mv: Device or resource busy' >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("mv"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dest = dir.path().join("hosts");
        std::fs::write(&dest, "old\n").unwrap();
        let options = WriteOptions {
            attrs: attrs(None, None, Some(crate::params::Mode(0o640))),
            ..WriteOptions::default()
        };
        let local = drover_connection::LocalConnection::new("localhost");
        let with_path = |r: Request| {
            let mut r = r;
            r.script = format!("PATH={}:$PATH\n{}", bin.display(), r.script);
            r
        };
        let plain = with_path(files::write_script(
            dest.to_str().unwrap(),
            &options,
            &crate::payload::Payload::bytes(b"new\n".to_vec()),
        ));
        let out = local.run(&plain).await.unwrap();
        assert_ne!(out.status, 0);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
        assert!(write_hint(&out.stderr_text()).contains("`unsafe_writes: true`"));
        let r = with_path(unsafe_writes(files::write_script(
            dest.to_str().unwrap(),
            &options,
            &crate::payload::Payload::bytes(b"new\n".to_vec()),
        )));
        let out = local.run(&r).await.unwrap();
        assert_eq!(out.status, 0, "{}", out.stderr_text());
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new\n");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".drover.")
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    /// The resolved probe (with and without attributes), run in a real shell on files, links,
    /// a directory, nothing and a file too large to edit.
    #[tokio::test]
    async fn resolved_probe_follows_links_and_reads_small_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        std::fs::write(dir.path().join("a file"), "one\ntwo\n").unwrap();
        std::os::unix::fs::symlink("a file", dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let big = vec![b'x'; files::MAX_DIFF_BYTES as usize + 1];
        std::fs::write(dir.path().join("big"), big).unwrap();
        let local = drover_connection::LocalConnection::new("localhost");
        let me = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
        for attrs in [true, false] {
            let probe = |name: &str| {
                let path = format!("{d}/{name}");
                let local = &local;
                async move {
                    let out = local.run(&resolved_probe(&path, attrs)).await.unwrap();
                    (Current::parse("lineinfile", &path, Some(&out)), out)
                }
            };

            let (current, _) = probe("a file").await;
            let current = current.unwrap();
            assert_eq!(current.text.as_deref(), Some("one\ntwo\n"));
            assert_eq!(current.real_path, format!("{d}/a file"));
            assert_eq!(current.state.kind, FileKind::File);
            // the attributes only when asked for (one `stat` less otherwise)
            assert_eq!(current.state.size, attrs.then_some(8), "{attrs}");
            assert_eq!(current.state.owner.is_some(), attrs);

            let (current, _) = probe("link").await;
            let current = current.unwrap();
            assert_eq!(current.text.as_deref(), Some("one\ntwo\n"));
            assert_eq!(
                current.real_path,
                std::fs::canonicalize(dir.path().join("a file"))
                    .unwrap()
                    .to_str()
                    .unwrap()
            );

            // nothing there (also behind a dangling link): what a new file would be like
            for name in ["absent", "dangling"] {
                let (current, out) = probe(name).await;
                let current = current.unwrap();
                assert_eq!(current.state.kind, FileKind::Absent, "{name}");
                assert_eq!(current.text, None);
                assert_eq!(
                    current.fresh.owner.as_deref(),
                    Some(me.as_str()),
                    "{}",
                    out.stdout_text()
                );
                assert!(
                    out.stdout_text().contains("\numask=0"),
                    "{}",
                    out.stdout_text()
                );
            }

            let (current, _) = probe("sub").await;
            assert!(current.is_err_and(|e| e.to_string().contains("is a directory")));
            let (current, _) = probe("big").await;
            let err = current.err().unwrap().to_string();
            assert!(err.contains("edits files up to"), "{err}");
            assert!(
                err.contains(if attrs {
                    "is 262145 bytes"
                } else {
                    "is larger than 262144 bytes"
                }),
                "{err}"
            );
        }
    }
}
