//! The human reporter: ansible-playbook's output on stdout (warnings and errors on stderr),
//! with a progress line for the running task on a terminal and an optional `--profile` report.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};

use drover_events::{Event, Sink};

use crate::banner::{display_columns, stdout_terminal_columns};
use crate::color::ColorChoice;
use crate::format::{FormatOptions, Formatter, Line, Stream};
use crate::profile::Profile;
use crate::progress::Progress;

/// How the human output looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanOptions {
    /// `-v` count: 1 prints results after `=>`, 2 adds `task path:` and the `PLAYBOOK:` banner,
    /// 3 indents results and keeps `invocation` and `diff` in them.
    pub verbosity: u8,
    /// `--diff`: print each diff before its host line.
    pub diff: bool,
    /// ANSI colors (resolve with [`ColorChoice::enabled`]).
    pub color: bool,
    /// Show the progress line (only sensible when stdout is a terminal).
    pub progress: bool,
    /// `--profile`: print the slowest tasks and hosts after the recap.
    pub profile: bool,
    /// Banner width (see [`display_columns`]); 79 when not on a terminal, as Ansible.
    pub columns: usize,
}

impl HumanOptions {
    /// Options for the process's stdout: colors per `color` (auto = a terminal, not `TERM=dumb`,
    /// and no `NO_COLOR`), progress only on such a terminal, banner width from the terminal like Ansible.
    pub fn for_stdout(
        verbosity: u8,
        diff: bool,
        profile: bool,
        color: ColorChoice,
    ) -> HumanOptions {
        let columns = stdout_terminal_columns();
        // A `TERM=dumb` terminal gets neither colors (Ansible asks curses, which reports no
        // colors for it) nor a progress line (it cannot move the cursor).
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let is_terminal = columns.is_some() && !dumb;
        let no_color = std::env::var_os("NO_COLOR");
        HumanOptions {
            verbosity,
            diff,
            color: color.enabled(is_terminal, no_color.as_deref()),
            progress: is_terminal,
            profile,
            columns: display_columns(columns),
        }
    }

    /// Plain options for a non-terminal: no color, no progress, 79 columns.
    pub fn plain(verbosity: u8, diff: bool) -> HumanOptions {
        HumanOptions {
            verbosity,
            diff,
            color: false,
            progress: false,
            profile: false,
            columns: display_columns(None),
        }
    }
}

struct State {
    formatter: Formatter,
    progress: Progress,
    profile: Option<Profile>,
    columns: usize,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
}

/// Prints events as ansible-playbook does. Thread-safe: the executor may emit from any task.
pub struct HumanReporter {
    state: Mutex<State>,
}

impl HumanReporter {
    /// A reporter writing normal output to `out` and warnings/errors to `err`.
    pub fn new(
        opts: HumanOptions,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> HumanReporter {
        HumanReporter {
            state: Mutex::new(State {
                formatter: Formatter::new(FormatOptions {
                    verbosity: opts.verbosity,
                    diff: opts.diff,
                    color: opts.color,
                    columns: opts.columns,
                }),
                progress: Progress::new(opts.progress),
                profile: opts.profile.then(Profile::new),
                columns: opts.columns,
                out,
                err,
            }),
        }
    }

    /// A reporter on the process's stdout and stderr.
    pub fn stdio(opts: HumanOptions) -> HumanReporter {
        HumanReporter::new(opts, Box::new(io::stdout()), Box::new(io::stderr()))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl State {
    fn write(&mut self, lines: &[Line]) {
        if lines.is_empty() {
            return;
        }
        let State {
            progress, out, err, ..
        } = self;
        progress.print(|| {
            for line in lines {
                let w = match line.stream {
                    Stream::Stdout => &mut *out,
                    Stream::Stderr => &mut *err,
                };
                // Like ansible-playbook, output errors (a closed pipe) do not stop the run.
                let _ = w.write_all(line.text.as_bytes());
            }
            let _ = out.flush();
            let _ = err.flush();
        });
    }
}

impl Sink for HumanReporter {
    fn emit(&self, event: &Event) {
        let mut state = self.lock();
        if let Some(p) = &mut state.profile {
            p.record(event);
        }
        if matches!(event, Event::Recap { .. }) {
            state.progress.task_done();
        }
        let lines = state.formatter.format(event);
        state.write(&lines);
        match event {
            Event::TaskStart {
                name,
                handler,
                hosts,
                ..
            } => {
                let prefix = if *handler { "RUNNING HANDLER" } else { "TASK" };
                state
                    .progress
                    .task_started(&format!("{prefix} [{}]", name.trim()), *hosts);
            }
            Event::HostResult(r) if r.item.is_none() => state.progress.host_done(),
            Event::LoopDone(_) => state.progress.host_done(),
            Event::TaskDone { .. } | Event::NoHostsRemaining => state.progress.task_done(),
            Event::Recap { .. } => {
                if let Some(report) = state.profile.as_ref().map(|p| p.render(state.columns)) {
                    state.write(&[Line {
                        stream: Stream::Stdout,
                        text: report,
                    }]);
                }
            }
            _ => {}
        }
    }
}
