//! Turns events into the text ansible-core 2.18's default stdout callback prints (pure: no I/O).
//!
//! Each event becomes zero or more [`Line`]s, each a complete `Display.display` call with its
//! trailing newline, for stdout or stderr. Ansible quirks kept on purpose because users (and
//! their log scrapers) know them: the trailing space of `skipping: [h] => (item=x) `, recap
//! columns padded to 4 even for the last one, loop summaries only for skipped loops, recap hosts
//! sorted by name, `...ignoring` in cyan.

use std::collections::{HashMap, HashSet};

use drover_events::{Diff, Event, HostResult, HostStats, Status};
use serde_json::Value;

use crate::banner::banner;
use crate::color::{Color, colorize, stringc};
use crate::dump::{dump_result, exception_message, run_is_verbose, take_warnings};
use crate::textwrap::wrap;

/// Where a line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Normal output.
    Stdout,
    /// Warnings and errors (Ansible writes these to stderr).
    Stderr,
}

/// One piece of output, newline included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Destination.
    pub stream: Stream,
    /// The text, ending in `\n`.
    pub text: String,
}

/// Settings of the human format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatOptions {
    /// `-v` count.
    pub verbosity: u8,
    /// `--diff`: print diffs before the host line.
    pub diff: bool,
    /// Emit ANSI colors.
    pub color: bool,
    /// Display width for banners and warning wrapping (see [`crate::banner::display_columns`]).
    pub columns: usize,
}

/// The formatter's state between events.
#[derive(Debug)]
pub struct Formatter {
    opts: FormatOptions,
    /// Diffs of loop items per host, printed when the loop finishes (Ansible's order).
    pending_item_diffs: HashMap<String, Vec<Diff>>,
    /// Warnings already shown (Ansible shows each distinct warning once).
    warned: HashSet<String>,
}

impl Formatter {
    /// A formatter with these options.
    pub fn new(opts: FormatOptions) -> Formatter {
        Formatter {
            opts,
            pending_item_diffs: HashMap::new(),
            warned: HashSet::new(),
        }
    }

    /// The lines for one event.
    pub fn format(&mut self, event: &Event) -> Vec<Line> {
        let mut out = Vec::new();
        match event {
            Event::PlaybookStart { path, .. } => {
                if self.opts.verbosity > 1 {
                    let base = path.rsplit('/').next().unwrap_or(path);
                    self.banner(&mut out, &format!("PLAYBOOK: {base}"));
                }
            }
            Event::PlayStart { name, .. } => {
                let name = name.trim();
                if name.is_empty() {
                    self.banner(&mut out, "PLAY");
                } else {
                    self.banner(&mut out, &format!("PLAY [{name}]"));
                }
            }
            Event::TaskStart {
                name,
                location,
                handler,
                ..
            } => {
                let prefix = if *handler { "RUNNING HANDLER" } else { "TASK" };
                self.banner(&mut out, &format!("{prefix} [{}]", name.trim()));
                if self.opts.verbosity >= 2 && !location.is_empty() {
                    self.display(
                        &mut out,
                        &format!("task path: {location}"),
                        Some(Color::Debug),
                    );
                }
            }
            Event::HostResult(r) if r.item.is_some() => self.item_result(&mut out, r),
            Event::HostResult(r) => self.host_result(&mut out, r),
            Event::LoopDone(r) => self.loop_done(&mut out, r),
            Event::TaskDone { .. } => {}
            Event::NoHostsRemaining => self.banner(&mut out, "NO MORE HOSTS LEFT"),
            Event::NoHostsMatched => {
                self.display(&mut out, "skipping: no hosts matched", Some(Color::Skip));
            }
            Event::Retry {
                host,
                task,
                retries_left,
                ..
            } => {
                let msg =
                    format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).");
                self.display(&mut out, &msg, Some(Color::Debug));
            }
            Event::Included { file, hosts, item } => {
                let mut msg = format!("included: {file} for {}", hosts.join(", "));
                if let Some(item) = item {
                    msg.push_str(&format!(" => (item={item})"));
                }
                self.display(&mut out, &msg, Some(Color::Skip));
            }
            Event::Display { message } => self.display(&mut out, message, None),
            Event::Warning { message } => self.warning(&mut out, message),
            Event::Recap {
                hosts, interrupted, ..
            } => {
                if *interrupted {
                    // Ansible stops without a recap: `Display.error("User interrupted execution")`.
                    let msg = stringc(
                        " [ERROR]: User interrupted execution",
                        Color::Error,
                        self.opts.color,
                    );
                    out.push(Line {
                        stream: Stream::Stderr,
                        text: format!("{msg}\n"),
                    });
                } else {
                    self.recap(&mut out, hosts);
                }
            }
        }
        out
    }

    /// `Display.display`: color the text (without one trailing newline), then end with `\n`.
    fn display(&self, out: &mut Vec<Line>, msg: &str, color: Option<Color>) {
        self.display_to(out, Stream::Stdout, msg, color);
    }

    fn display_to(&self, out: &mut Vec<Line>, stream: Stream, msg: &str, color: Option<Color>) {
        let body = msg.strip_suffix('\n').unwrap_or(msg);
        let body = match color {
            Some(c) => stringc(body, c, self.opts.color),
            None => body.to_string(),
        };
        out.push(Line {
            stream,
            text: format!("{body}\n"),
        });
    }

    fn banner(&self, out: &mut Vec<Line>, msg: &str) {
        self.display(out, &banner(msg, self.opts.columns), None);
    }

    /// `Display.warning`: `[WARNING]: msg` wrapped to the width, bright purple, on stderr, once.
    fn warning(&mut self, out: &mut Vec<Line>, message: &str) {
        let text = wrap(&format!("[WARNING]: {message}"), self.opts.columns).join("\n") + "\n";
        if self.warned.insert(text.clone()) {
            self.display_to(out, Stream::Stderr, &text, Some(Color::Warn));
        }
    }

    fn warnings_of(&mut self, out: &mut Vec<Line>, result: &mut Value) {
        for w in take_warnings(result) {
            self.warning(out, &w);
        }
    }

    /// Diff output: each diff's unified text then a blank line, `+`/`-`/`@@` lines colored. The
    /// executor sends diffs only for tasks whose diff mode is on (`--diff`, or `diff:` on the
    /// task, block or play).
    fn diffs(&self, out: &mut Vec<Line>, diffs: &[Diff]) {
        for d in diffs {
            if d.unified.is_empty() {
                continue;
            }
            let text = colored_diff(&d.unified, self.opts.color) + "\n";
            self.display(out, &text, None);
        }
    }

    fn verbose_suffix(&self, result: &Value) -> String {
        if run_is_verbose(result, self.opts.verbosity) {
            format!(" => {}", dump_result(result, self.opts.verbosity))
        } else {
            String::new()
        }
    }

    fn host_result(&mut self, out: &mut Vec<Line>, r: &HostResult) {
        let label = host_label(r);
        let mut result = r.result.clone();
        match r.status {
            Status::Ok | Status::Changed => {
                if changed(r) {
                    self.diffs(out, &r.diffs);
                }
                let (word, color) = if changed(r) {
                    ("changed", Color::Changed)
                } else {
                    ("ok", Color::Ok)
                };
                self.warnings_of(out, &mut result);
                let msg = format!("{word}: [{label}]{}", self.verbose_suffix(&result));
                self.display(out, &msg, Some(color));
            }
            Status::Skipped => {
                let msg = format!("skipping: [{}]{}", r.host, self.verbose_suffix(&result));
                self.display(out, &msg, Some(Color::Skip));
            }
            Status::Failed => {
                self.failure_preamble(out, &mut result);
                let dumped = dump_result(&result, self.opts.verbosity);
                self.display(
                    out,
                    &format!("fatal: [{label}]: FAILED! => {dumped}"),
                    Some(Color::Error),
                );
                self.failure_location(out, r);
                self.ignoring(out, r.ignored);
            }
            Status::Unreachable => self.unreachable(out, r),
        }
    }

    fn unreachable(&mut self, out: &mut Vec<Line>, r: &HostResult) {
        let dumped = dump_result(&r.result, self.opts.verbosity);
        let msg = format!("fatal: [{}]: UNREACHABLE! => {dumped}", host_label(r));
        self.display(out, &msg, Some(Color::Unreachable));
        self.ignoring(out, r.ignored);
    }

    /// Beyond Ansible: where drover found the failure (`path:line:col` of the expression,
    /// keyword or task), on stderr so that stdout stays Ansible's.
    fn failure_location(&self, out: &mut Vec<Line>, r: &HostResult) {
        if let Some(failure) = &r.error
            && let Some(location) = &failure.location
        {
            let text = format!(
                "  --> {location} ({} error, host {})\n",
                failure.kind, r.host
            );
            self.display_to(out, Stream::Stderr, &text, Some(Color::Error));
        }
    }

    fn failure_preamble(&mut self, out: &mut Vec<Line>, result: &mut Value) {
        if let Some(msg) = exception_message(result, self.opts.verbosity) {
            self.display(out, &msg, Some(Color::Error));
        }
        self.warnings_of(out, result);
    }

    fn ignoring(&self, out: &mut Vec<Line>, ignored: bool) {
        if ignored {
            self.display(out, "...ignoring", Some(Color::Skip));
        }
    }

    fn item_result(&mut self, out: &mut Vec<Line>, r: &HostResult) {
        let label = host_label(r);
        let item = r.item.as_deref().unwrap_or_default();
        let mut result = r.result.clone();
        // ansible-playbook 2.18 prints an item's diff right before that item's line (checked
        // with a looped `copy` under --diff in tests/ansible_parity.rs).
        if !r.diffs.is_empty() && changed(r) {
            self.diffs(out, &r.diffs);
            self.pending_item_diffs.entry(r.host.clone()).or_default();
        }
        match r.status {
            Status::Ok | Status::Changed => {
                let (word, color) = if changed(r) {
                    ("changed", Color::Changed)
                } else {
                    ("ok", Color::Ok)
                };
                let msg = format!(
                    "{word}: [{label}] => (item={item}){}",
                    self.verbose_suffix(&result)
                );
                self.display(out, &msg, Some(color));
            }
            Status::Skipped => {
                let msg = format!(
                    "skipping: [{}] => (item={item}) {}",
                    r.host,
                    self.verbose_suffix(&result)
                );
                self.display(out, &msg, Some(Color::Skip));
            }
            Status::Failed => {
                self.failure_preamble(out, &mut result);
                let dumped = dump_result(&result, self.opts.verbosity);
                let msg = format!("failed: [{label}] (item={item}) => {dumped}");
                self.display(out, &msg, Some(Color::Error));
            }
            // An unreachable host ends the whole loop; Ansible reports it once, without item.
            Status::Unreachable => self.unreachable(out, r),
        }
    }

    /// The end of a looped task on a host: Ansible prints item diffs, then a summary line only
    /// for a skipped loop (`skipping: [h]`); a failed loop prints only `...ignoring` if ignored.
    fn loop_done(&mut self, out: &mut Vec<Line>, r: &HostResult) {
        // Item diffs were printed with their items; only a loop without them prints its own.
        if self.pending_item_diffs.remove(&r.host).is_none() && changed(r) {
            self.diffs(out, &r.diffs);
        }
        let mut result = r.result.clone();
        if let Value::Object(map) = &mut result {
            map.shift_remove("results");
        }
        match r.status {
            Status::Ok | Status::Changed => self.warnings_of(out, &mut result),
            Status::Skipped => {
                let msg = format!("skipping: [{}]{}", r.host, self.verbose_suffix(&result));
                self.display(out, &msg, Some(Color::Skip));
            }
            Status::Failed => {
                self.failure_preamble(out, &mut result);
                self.ignoring(out, r.ignored);
            }
            Status::Unreachable => self.unreachable(out, r),
        }
    }

    fn recap(&self, out: &mut Vec<Line>, hosts: &[HostStats]) {
        self.banner(out, "PLAY RECAP");
        let mut sorted: Vec<&HostStats> = hosts.iter().collect();
        sorted.sort_by(|a, b| a.host.cmp(&b.host));
        let c = self.opts.color;
        for h in sorted {
            let host = if c {
                let color = if h.failed != 0 || h.unreachable != 0 {
                    Color::Error
                } else if h.changed != 0 {
                    Color::Changed
                } else {
                    Color::Ok
                };
                format!("{:<37}", stringc(&h.host, color, true))
            } else {
                format!("{:<26}", h.host)
            };
            let line = format!(
                "{host} : {} {} {} {} {} {} {}",
                colorize("ok", h.ok, Some(Color::Ok), c),
                colorize("changed", h.changed, Some(Color::Changed), c),
                colorize("unreachable", h.unreachable, Some(Color::Unreachable), c),
                colorize("failed", h.failed, Some(Color::Error), c),
                colorize("skipped", h.skipped, Some(Color::Skip), c),
                colorize("rescued", h.rescued, Some(Color::Ok), c),
                colorize("ignored", h.ignored, Some(Color::Warn), c),
            );
            self.display(out, &line, None);
        }
        self.display(out, "", None);
    }
}

/// `host`, or `host -> delegate` when delegated elsewhere, plus `(address)` when the result's
/// `_ansible_delegated_vars.ansible_host` differs from the delegate's name
/// (`CallbackBase.host_label`).
fn host_label(r: &HostResult) -> String {
    match &r.delegated_to {
        Some(d) if *d != r.host => {
            let address = r
                .result
                .pointer("/_ansible_delegated_vars/ansible_host")
                .and_then(Value::as_str)
                .unwrap_or(d);
            if address == d {
                format!("{} -> {d}", r.host)
            } else {
                format!("{} -> {d}({address})", r.host)
            }
        }
        _ => r.host.clone(),
    }
}

/// Ansible decides ok/changed from the result's `changed`; the status carries the same fact.
fn changed(r: &HostResult) -> bool {
    r.status == Status::Changed || r.result.get("changed") == Some(&Value::Bool(true))
}

/// Colors a unified diff as Ansible's `_get_diff`: every difflib line starting with `+`, `-` or
/// `@@` is wrapped with its trailing newline inside (so an empty colored segment follows it), and
/// a `\ No newline at end of file` marker belongs to the line before it.
fn colored_diff(unified: &str, color: bool) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in unified.split_inclusive('\n') {
        match lines.last_mut() {
            Some(prev) if line.starts_with("\\ ") => prev.push_str(line),
            _ => lines.push(line.to_string()),
        }
    }
    let mut out = String::with_capacity(unified.len());
    for line in &lines {
        let c = if line.starts_with('+') {
            Some(Color::DiffAdd)
        } else if line.starts_with('-') {
            Some(Color::DiffRemove)
        } else if line.starts_with("@@") {
            Some(Color::DiffLines)
        } else {
            None
        };
        match c {
            Some(c) => out.push_str(&stringc(line, c, color)),
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn opts() -> FormatOptions {
        FormatOptions {
            verbosity: 0,
            diff: true,
            color: false,
            columns: 79,
        }
    }

    fn result(host: &str, status: Status, result: Value) -> HostResult {
        HostResult {
            host: host.into(),
            delegated_to: None,
            status,
            item: None,
            result,
            ignored: false,
            diffs: vec![],
            duration: Duration::ZERO,
            round_trips: 0,
            error: None,
        }
    }

    fn text(lines: &[Line]) -> String {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn delegation_label_only_when_elsewhere() {
        let mut r = result("h1", Status::Ok, json!({}));
        r.delegated_to = Some("h1".into());
        assert_eq!(host_label(&r), "h1");
        r.delegated_to = Some("h2".into());
        assert_eq!(host_label(&r), "h1 -> h2");
        r.result = json!({"_ansible_delegated_vars": {"ansible_host": "127.0.0.1"}});
        assert_eq!(host_label(&r), "h1 -> h2(127.0.0.1)");
    }

    #[test]
    fn warnings_go_to_stderr_once_and_leave_the_result() {
        let mut f = Formatter::new(FormatOptions {
            verbosity: 1,
            ..opts()
        });
        let r = result(
            "h1",
            Status::Ok,
            json!({"changed": false, "warnings": ["w1"]}),
        );
        let lines = f.format(&Event::HostResult(r.clone()));
        assert_eq!(
            lines[0],
            Line {
                stream: Stream::Stderr,
                text: "[WARNING]: w1\n".into()
            }
        );
        assert_eq!(lines[1].text, "ok: [h1] => {\"changed\": false}\n");
        let again = f.format(&Event::HostResult(r));
        assert_eq!(again.len(), 1, "a warning shows once");
    }

    #[test]
    fn failed_result_with_exception() {
        let mut f = Formatter::new(opts());
        let r = result(
            "h1",
            Status::Failed,
            json!({"exception": "Traceback\nKeyError: 'x'", "msg": "bad", "failed": true}),
        );
        assert_eq!(
            text(&f.format(&Event::HostResult(r))),
            "An exception occurred during task execution. To see the full traceback, use -vvv. \
             The error was: KeyError: 'x'\nfatal: [h1]: FAILED! => {\"msg\": \"bad\"}\n"
        );
    }

    #[test]
    fn interrupted_run_prints_the_error_not_the_recap() {
        let mut f = Formatter::new(opts());
        let lines = f.format(&Event::Recap {
            hosts: vec![HostStats {
                host: "h1".into(),
                ..Default::default()
            }],
            duration: Duration::ZERO,
            interrupted: true,
        });
        assert_eq!(
            lines,
            vec![Line {
                stream: Stream::Stderr,
                text: " [ERROR]: User interrupted execution\n".into()
            }]
        );
    }

    #[test]
    fn diff_coloring_keeps_no_newline_marker_with_its_line() {
        let d = "--- before\n+++ after: /x\n@@ -0,0 +1 @@\n+fresh\n\\ No newline at end of file\n";
        assert_eq!(
            colored_diff(d, true),
            "\x1b[0;31m--- before\x1b[0m\n\x1b[0;31m\x1b[0m\x1b[0;32m+++ after: /x\x1b[0m\n\x1b[0;32m\x1b[0m\
             \x1b[0;36m@@ -0,0 +1 @@\x1b[0m\n\x1b[0;36m\x1b[0m\x1b[0;32m+fresh\x1b[0m\n\
             \x1b[0;32m\\ No newline at end of file\x1b[0m\n\x1b[0;32m\x1b[0m"
        );
        assert_eq!(colored_diff(d, false), d);
    }
}
