//! `command`, `shell` and `raw`, with Ansible 2.18's semantics:
//!
//! - `creates`/`removes` (globs) decide on the node whether to run; if they say no, the task is
//!   ok with "Did not run command since '…' exists".
//! - Check mode: with `creates`/`removes` the task reports what would happen ("Command would have
//!   run if not in check mode", changed); without them it is skipped (the plan is
//!   [`Outcome::Unpredictable`](crate::Outcome)).
//! - `command` does not use a shell: the free-form string is split like Python's `shlex.split`
//!   and every word is passed quoted. `shell` runs the string with `/bin/sh -c` (or
//!   `executable`). `raw` runs the string as is and always reports changed.
//! - A non-zero `rc` fails the task with "non-zero return code"; stdout/stderr lose their
//!   trailing newlines (`strip_empty_ends`).

use drover_connection::shell::{join, quote};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Bool, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(rename = "_raw_params")]
    raw_params: Option<String>,
    cmd: Option<String>,
    argv: Option<Vec<String>>,
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
    executable: Option<String>,
    stdin: Option<String>,
    stdin_add_newline: Option<Bool>,
    strip_empty_ends: Option<Bool>,
    expand_argument_vars: Option<Bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    Shell,
    Raw,
}

struct Run {
    kind: Kind,
    /// The script that runs the command (already includes `cd`).
    script: String,
    /// What Ansible reports as `cmd`.
    cmd: Value,
    creates: Option<String>,
    removes: Option<String>,
    stdin: Option<Vec<u8>>,
    strip: bool,
}

/// `command`.
pub fn prepare_command(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    prepare(Kind::Command, parse("command", args)?)
}

/// `shell`.
pub fn prepare_shell(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    prepare(Kind::Shell, parse("shell", args)?)
}

/// `raw`.
pub fn prepare_raw(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    let p: Params = parse("raw", args)?;
    if p.cmd.is_some()
        || p.argv.is_some()
        || p.chdir.is_some()
        || p.creates.is_some()
        || p.removes.is_some()
    {
        return Err(ModuleError::params(
            "module `raw` takes only a free-form command (and `executable`)",
        ));
    }
    prepare(Kind::Raw, p)
}

fn prepare(kind: Kind, p: Params) -> Result<Prepared, ModuleError> {
    if p.expand_argument_vars.is_some_and(|b| !b.0) && kind != Kind::Command {
        return Err(ModuleError::params(
            "`expand_argument_vars` is a `command` parameter",
        ));
    }
    let name = match kind {
        Kind::Command => "command",
        Kind::Shell => "shell",
        Kind::Raw => "raw",
    };
    let text = p.cmd.clone().or(p.raw_params.clone());
    let (body, cmd) = match (kind, &p.argv, text) {
        (Kind::Command, Some(argv), None) if !argv.is_empty() => {
            (join(argv), Value::from(argv.clone()))
        }
        (Kind::Command, Some(_), Some(_)) => {
            return Err(ModuleError::params(
                "module `command`: give either a command string or `argv`, not both",
            ));
        }
        (Kind::Command, None, Some(text)) => {
            let words = shlex_split(&text).ok_or_else(|| {
                ModuleError::params(format!(
                    "module `command`: cannot split `{text}` (unbalanced quotes)"
                ))
            })?;
            (join(&words), Value::from(words))
        }
        (Kind::Shell | Kind::Raw, None, Some(text)) => {
            let body = match (&p.executable, kind) {
                (Some(exe), Kind::Shell) => format!("{} -c {}", quote(exe), quote(&text)),
                _ => text.clone(),
            };
            (body, Value::String(text))
        }
        _ => {
            return Err(ModuleError::params(format!(
                "module `{name}`: no command given (write `{name}: <command>`)"
            )));
        }
    };
    let script = match &p.chdir {
        Some(dir) => format!("cd -- {} || exit 1\n{body}", quote(dir)),
        None => body,
    };
    let stdin = p.stdin.map(|mut s| {
        if p.stdin_add_newline.is_none_or(|b| b.0) {
            s.push('\n');
        }
        s.into_bytes()
    });
    Ok(Prepared::Remote(Box::new(Run {
        kind,
        script,
        cmd,
        creates: p.creates,
        removes: p.removes,
        stdin,
        strip: p.strip_empty_ends.is_none_or(|b| b.0),
    })))
}

impl Run {
    /// The fields Ansible's command module always returns (`cmd`, `rc`, `stdout`, `stderr`,
    /// `start`/`end`/`delta`), before it knows anything: empty output, no times.
    fn base_result(&self) -> ModuleResult {
        let mut r = ModuleResult {
            stdout: Some(String::new()),
            stderr: Some(String::new()),
            ..ModuleResult::default()
        };
        if self.kind != Kind::Raw {
            r.extra.insert("cmd".into(), self.cmd.clone());
            for key in ["start", "end", "delta"] {
                r.extra.insert(key.into(), Value::Null);
            }
        }
        r
    }
}

impl Action for Run {
    fn probe(&self) -> Option<Request> {
        if self.creates.is_none() && self.removes.is_none() {
            return None;
        }
        let mut s = String::new();
        for (key, path) in [("creates", &self.creates), ("removes", &self.removes)] {
            if let Some(path) = path {
                s.push_str(&format!(
                    "{key}=0; for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then {key}=1; break; fi; done; echo \"{key}=${key}\"\n",
                    glob_word(path)
                ));
            }
        }
        Some(Request::new(s))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let Some(probe) = probe else {
            // No creates/removes: only running tells; check mode skips, like Ansible.
            let mut plan = Plan::unpredictable(());
            plan.result = self
                .base_result()
                .with_msg("Command would have run if not in check mode");
            plan.result.rc = Some(0);
            plan.result.skipped = true;
            return Ok(plan);
        };
        let text = probe.stdout_text();
        let flag = |key: &str| text.lines().any(|l| l == format!("{key}=1"));
        if let Some(creates) = &self.creates
            && flag("creates")
        {
            let mut r = self
                .base_result()
                .with_msg(format!("Did not run command since '{creates}' exists"));
            r.rc = Some(0);
            r.stdout = Some(format!("skipped, since {creates} exists"));
            return Ok(Plan::satisfied(r));
        }
        if let Some(removes) = &self.removes
            && !flag("removes")
        {
            let mut r = self.base_result().with_msg(format!(
                "Did not run command since '{removes}' does not exist"
            ));
            r.rc = Some(0);
            r.stdout = Some(format!("skipped, since {removes} does not exist"));
            return Ok(Plan::satisfied(r));
        }
        let mut r = self
            .base_result()
            .with_msg("Command would have run if not in check mode");
        r.rc = Some(0);
        Ok(Plan::change(r, ()))
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        // The node's clock before and after, on stderr marker lines that `finish` removes: the
        // times Ansible reports as `start`, `end` and `delta`.
        let script = if self.kind == Kind::Raw {
            self.script.clone()
        } else {
            format!(
                "printf '{START}%s\\n' \"$(date '+%Y-%m-%d %H:%M:%S.%6N')\" >&2\n(\n{}\n)\n{RC}=$?\n\
                 printf '{END}%s\\n' \"$(date '+%Y-%m-%d %H:%M:%S.%6N')\" >&2\nexit ${RC}\n",
                self.script
            )
        };
        let mut request = Request::new(script);
        if let Some(stdin) = &self.stdin {
            request = request.with_stdin(stdin.clone());
        }
        vec![request]
    }

    fn finish(&self, _plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = outputs
            .first()
            .ok_or_else(|| ModuleError::internal("command produced no output"))?;
        let (stderr, times) = split_times(&out.stderr);
        let clean = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            if self.strip {
                text.trim_end_matches(['\r', '\n']).to_string()
            } else {
                text
            }
        };
        let mut r = ModuleResult {
            changed: true,
            rc: Some(out.status),
            stdout: Some(clean(&out.stdout)),
            stderr: Some(clean(&stderr)),
            ..ModuleResult::default()
        };
        if self.kind != Kind::Raw {
            r.extra.insert("cmd".into(), self.cmd.clone());
            let (start, end, delta) = match times {
                Some((start, end)) => {
                    let delta = python_timedelta(&start, &end).map_or(Value::Null, Value::String);
                    (Value::String(start), Value::String(end), delta)
                }
                None => (Value::Null, Value::Null, Value::Null),
            };
            r.extra.insert("start".into(), start);
            r.extra.insert("end".into(), end);
            r.extra.insert("delta".into(), delta);
        }
        if out.status != 0 {
            r.failed = true;
            r.msg = Some("non-zero return code".into());
        } else if self.kind != Kind::Raw {
            r.msg = Some(String::new());
        }
        Ok(r)
    }
}

const START: &str = "__drover_start=";
const END: &str = "__drover_end=";
const RC: &str = "__drover_rc";

/// Removes the timing marker lines from stderr; returns the rest and `(start, end)`.
fn split_times(stderr: &[u8]) -> (Vec<u8>, Option<(String, String)>) {
    let text = String::from_utf8_lossy(stderr);
    let mut start = None;
    let mut end = None;
    let mut rest = String::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if let Some(t) = bare.strip_prefix(START) {
            start = Some(t.to_string());
        } else if let Some(t) = bare.strip_prefix(END) {
            end = Some(t.to_string());
        } else {
            rest.push_str(line);
        }
    }
    (rest.into_bytes(), start.zip(end))
}

/// `end - start` as Python prints a `timedelta` (`0:00:00.026831`), from
/// `YYYY-MM-DD HH:MM:SS.ffffff` times.
fn python_timedelta(start: &str, end: &str) -> Option<String> {
    let micros = |t: &str| -> Option<i64> {
        let (date, time) = t.split_once(' ')?;
        let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut h = hms.split(':').map(|p| p.parse::<i64>().ok());
        let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
        let frac: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
        // days from civil (Howard Hinnant's algorithm)
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe;
        Some((((days * 24 + hh) * 60 + mm) * 60 + ss) * 1_000_000 + frac)
    };
    let d = micros(end)? - micros(start)?;
    if d < 0 {
        return None;
    }
    let (secs, us) = (d / 1_000_000, d % 1_000_000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let body = format!("{}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    let body = if us == 0 {
        body
    } else {
        format!("{body}.{us:06}")
    };
    Some(if days == 0 {
        body
    } else {
        format!("{days} day{}, {body}", if days == 1 { "" } else { "s" })
    })
}

/// Escapes a path for the shell while keeping glob characters (`*`, `?`, `[`, `]`) active.
fn glob_word(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        if c.is_ascii_alphanumeric() || "*?[]/._-".contains(c) {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    if out.is_empty() { "''".into() } else { out }
}

/// Python's `shlex.split` (POSIX mode, no comments), as Ansible's command module splits its
/// free-form string; `None` for unbalanced quotes.
pub(crate) fn shlex_split(text: &str) -> Option<Vec<String>> {
    drover_python::shlex_split(text, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    fn action(kind: &str, args: Value) -> Box<dyn Action> {
        let args = args.as_object().unwrap().clone();
        let prepared = match kind {
            "command" => prepare_command(&args),
            "shell" => prepare_shell(&args),
            _ => prepare_raw(&args),
        }
        .unwrap();
        match prepared {
            Prepared::Remote(a) => a,
            Prepared::Local(_) => panic!("expected a remote action"),
        }
    }

    fn out(status: i32, stdout: &str) -> Output {
        Output {
            status,
            stdout: stdout.into(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn command_quotes_words_and_shell_does_not() {
        let a = action(
            "command",
            json!({"_raw_params": "echo 'a b' $HOME", "chdir": "/tmp"}),
        );
        let plan = a.plan(None).unwrap();
        assert_eq!(plan.outcome, Outcome::Unpredictable);
        assert!(plan.result.skipped);
        let script = &a.apply(&plan)[0].script;
        assert!(
            script.contains("\n(\ncd -- /tmp || exit 1\necho 'a b' '$HOME'\n)\n"),
            "{script}"
        );
        let a = action("shell", json!({"_raw_params": "echo $HOME | wc -c"}));
        let plan = a.plan(None).unwrap();
        let script = &a.apply(&plan)[0].script;
        assert!(script.contains("\n(\necho $HOME | wc -c\n)\n"), "{script}");
    }

    #[test]
    fn creates_decides_on_the_node() {
        let a = action(
            "command",
            json!({"_raw_params": "touch /x", "creates": "/x"}),
        );
        let probe = a.probe().unwrap();
        assert!(probe.script.contains("for f in /x;"), "{}", probe.script);
        let plan = a.plan(Some(&out(0, "creates=1\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("Did not run command since '/x' exists")
        );
        let plan = a.plan(Some(&out(0, "creates=0\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("Command would have run if not in check mode")
        );
    }

    #[test]
    fn results_strip_newlines_and_fail_on_nonzero() {
        let a = action("command", json!({"_raw_params": "false"}));
        let plan = a.plan(None).unwrap();
        let r = a.finish(&plan, &[out(1, "x\n\n")]).unwrap();
        assert!(r.failed && r.changed);
        assert_eq!(r.msg.as_deref(), Some("non-zero return code"));
        assert_eq!(r.stdout.as_deref(), Some("x"));
        assert_eq!(r.extra["cmd"], json!(["false"]));
    }

    #[test]
    fn times_are_taken_on_the_node_and_removed_from_stderr() {
        let err = b"__drover_start=2026-11-22 04:54:21.608514\noops\n__drover_end=2026-11-22 04:54:21.635345\n";
        let (rest, times) = split_times(err);
        assert_eq!(rest, b"oops\n");
        let (start, end) = times.unwrap();
        assert_eq!(
            python_timedelta(&start, &end).as_deref(),
            Some("0:00:00.026831")
        );
        assert_eq!(
            python_timedelta("2026-12-31 23:59:59.5", "2027-01-01 00:00:00.5").as_deref(),
            Some("0:00:01")
        );
        assert_eq!(
            python_timedelta("2026-11-20 00:00:00.0", "2026-11-22 01:00:00.0").as_deref(),
            Some("2 days, 1:00:00")
        );
    }

    #[tokio::test]
    async fn the_timed_script_runs_in_a_real_shell() {
        let a = action(
            "shell",
            json!({"_raw_params": "echo out; echo err >&2; exit 4"}),
        );
        let plan = a.plan(None).unwrap();
        let req = &a.apply(&plan)[0];
        let out = drover_connection::LocalConnection::new("localhost")
            .run(req)
            .await
            .unwrap();
        let r = a.finish(&plan, &[out]).unwrap();
        assert_eq!(
            (r.rc, r.stdout.as_deref(), r.stderr.as_deref()),
            (Some(4), Some("out"), Some("err"))
        );
        assert!(
            r.extra["delta"].as_str().unwrap().starts_with("0:00:0"),
            "{:?}",
            r.extra
        );
    }

    #[test]
    fn shlex_split_like_python() {
        assert_eq!(
            shlex_split("a 'b c' \"d \\\" e\" f\\ g").unwrap(),
            ["a", "b c", "d \" e", "f g"]
        );
        assert!(shlex_split("a 'b").is_none());
        assert_eq!(glob_word("/var/lib/my dir/*.db"), "/var/lib/my\\ dir/*.db");
    }

    #[test]
    fn errors_are_clear() {
        let err = prepare_command(json!({}).as_object().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no command given"), "{err}");
        let err = prepare_command(
            json!({"_raw_params": "x", "warn": true})
                .as_object()
                .unwrap(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("unknown field `warn`"), "{err}");
    }
}
