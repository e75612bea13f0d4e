//! The progress line for the running task on a terminal (indicatif), which never tears log
//! lines: every line is written inside [`Progress::print`], i.e. `MultiProgress::suspend`, so
//! the bar is cleared first and redrawn after. At most one bar exists at a time (the linear
//! strategy runs one task at a time), so the layout cannot overflow the screen.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The running task's progress: `⠋ TASK [name] [3/10] 4s`.
pub struct Progress {
    multi: Option<MultiProgress>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Draws on stdout when `enabled` (the caller decides: stdout is a terminal); otherwise
    /// draws nothing and [`Progress::print`] writes straight through.
    pub fn new(enabled: bool) -> Progress {
        Progress::with_target(enabled.then(ProgressDrawTarget::stdout))
    }

    /// Draws to `target` (tests use a hidden or in-memory target); `None` disables progress.
    pub fn with_target(target: Option<ProgressDrawTarget>) -> Progress {
        Progress {
            multi: target.map(MultiProgress::with_draw_target),
            bar: None,
        }
    }

    /// Whether a bar is being drawn right now.
    pub fn is_active(&self) -> bool {
        self.bar.is_some()
    }

    /// A task started on `hosts` hosts: shows its bar (replacing any previous one).
    pub fn task_started(&mut self, title: &str, hosts: usize) {
        self.task_done();
        let Some(multi) = &self.multi else {
            return;
        };
        let style = ProgressStyle::with_template("{spinner} {msg} [{pos}/{len}] {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = multi.add(ProgressBar::new(hosts as u64).with_style(style));
        bar.set_message(title.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bar = Some(bar);
    }

    /// One host finished the running task.
    pub fn host_done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// The running task finished everywhere: removes its bar.
    pub fn task_done(&mut self) {
        if let (Some(multi), Some(bar)) = (&self.multi, self.bar.take()) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }

    /// Runs `write` with the bar cleared, then redraws it.
    pub fn print<R>(&self, write: impl FnOnce() -> R) -> R {
        match (&self.multi, &self.bar) {
            (Some(multi), Some(_)) => multi.suspend(write),
            _ => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_at_a_time_and_print_runs_always() {
        let mut p = Progress::with_target(Some(ProgressDrawTarget::hidden()));
        assert!(!p.is_active());
        p.task_started("TASK [a]", 2);
        assert!(p.is_active());
        p.host_done();
        assert_eq!(p.bar.as_ref().map(|b| b.position()), Some(1));
        p.task_started("TASK [b]", 3);
        assert_eq!(p.bar.as_ref().map(|b| b.length()), Some(Some(3)));
        assert_eq!(p.print(|| 7), 7);
        p.task_done();
        assert!(!p.is_active());
        let off = Progress::new(false);
        assert_eq!(off.print(|| "written"), "written");
    }
}

#[cfg(test)]
mod terminal_tests {
    use super::*;
    use indicatif::InMemoryTerm;
    use std::time::Instant;

    fn wait_for(term: &InMemoryTerm, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let contents = term.contents();
            if want(&contents) || Instant::now() > deadline {
                return contents;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// On a terminal the bar shows `title [done/total] elapsed`, is cleared while a log line is
    /// written (so lines are never torn by it), and comes back after.
    #[test]
    fn bar_is_cleared_while_lines_are_written() {
        let term = InMemoryTerm::new(10, 80);
        let mut p =
            Progress::with_target(Some(ProgressDrawTarget::term_like(Box::new(term.clone()))));
        p.task_started("TASK [consul : render config]", 3);
        p.host_done();
        let shown = wait_for(&term, |c| c.contains("[1/3]"));
        assert!(
            shown.contains("TASK [consul : render config] [1/3] 0s"),
            "{shown:?}"
        );
        let during = p.print(|| term.contents());
        assert_eq!(during.trim(), "", "the bar must be cleared while printing");
        p.host_done();
        let back = wait_for(&term, |c| c.contains("[2/3]"));
        assert!(
            back.contains("TASK [consul : render config] [2/3]"),
            "{back:?}"
        );
        p.task_done();
        let cleared = wait_for(&term, |c| c.trim().is_empty());
        assert_eq!(cleared.trim(), "", "a finished task leaves no bar behind");
    }
}
