//! `--profile`: the slowest tasks and hosts of a run, shaped like Ansible's `profile_tasks`
//! callback (`name ------ 1.23s`), printed after the recap.

use std::collections::HashMap;
use std::time::Duration;

use drover_events::Event;

use crate::banner::banner;

/// How many tasks and hosts are listed.
pub const TOP: usize = 10;

/// Collects task and host timings from events.
#[derive(Debug, Default)]
pub struct Profile {
    current_task: Option<String>,
    tasks: Vec<(String, Duration)>,
    /// Per host: total wall time of its task results, in first-seen order.
    hosts: Vec<(String, Duration)>,
    host_index: HashMap<String, usize>,
}

impl Profile {
    /// An empty profile.
    pub fn new() -> Profile {
        Profile::default()
    }

    /// Takes the timing out of one event. A looped task counts once per host, from its
    /// `LoopDone` (the per-item results are not added again).
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::TaskStart { name, handler, .. } => {
                let prefix = if *handler { "RUNNING HANDLER" } else { "TASK" };
                self.current_task = Some(format!("{prefix} [{}]", name.trim()));
            }
            Event::TaskDone { duration } => {
                if let Some(name) = self.current_task.take() {
                    self.tasks.push((name, *duration));
                }
            }
            Event::HostResult(r) if r.item.is_none() => self.add_host(&r.host, r.duration),
            Event::LoopDone(r) => self.add_host(&r.host, r.duration),
            _ => {}
        }
    }

    fn add_host(&mut self, host: &str, d: Duration) {
        let i = *self.host_index.entry(host.to_string()).or_insert_with(|| {
            self.hosts.push((host.to_string(), Duration::ZERO));
            self.hosts.len() - 1
        });
        self.hosts[i].1 += d;
    }

    /// The slowest tasks, slowest first (ties keep run order), at most [`TOP`].
    pub fn slowest_tasks(&self) -> Vec<(String, Duration)> {
        top(&self.tasks)
    }

    /// The hosts with the most task time, slowest first, at most [`TOP`].
    pub fn slowest_hosts(&self) -> Vec<(String, Duration)> {
        top(&self.hosts)
    }

    /// The report text: two banners with one `name ---- 1.23s` line per entry, `columns` wide.
    pub fn render(&self, columns: usize) -> String {
        let mut out = String::new();
        for (title, rows) in [
            ("PROFILE: slowest tasks", self.slowest_tasks()),
            ("PROFILE: slowest hosts", self.slowest_hosts()),
        ] {
            out.push_str(&banner(title, columns));
            out.push('\n');
            for (name, d) in rows {
                out.push_str(&row(&name, d, columns));
                out.push('\n');
            }
        }
        out
    }
}

fn top(items: &[(String, Duration)]) -> Vec<(String, Duration)> {
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|item| std::cmp::Reverse(item.1));
    sorted.truncate(TOP);
    sorted
}

/// `profile_tasks`' line: `'{0:-<{2}}{1:->9}'.format(name + ' ', ' %.02fs', columns - 9)`.
fn row(name: &str, d: Duration, columns: usize) -> String {
    let width = columns.saturating_sub(9);
    let time = format!(" {:.2}s", d.as_secs_f64());
    format!("{:-<width$}{time:->9}", format!("{name} "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_events::{HostResult, Status};
    use serde_json::json;

    fn task(name: &str, ms: u64) -> [Event; 2] {
        [
            Event::TaskStart {
                name: name.into(),
                action: String::new(),
                location: String::new(),
                handler: false,
                hosts: 1,
            },
            Event::TaskDone {
                duration: Duration::from_millis(ms),
            },
        ]
    }

    fn result(host: &str, item: Option<&str>, ms: u64) -> HostResult {
        HostResult {
            host: host.into(),
            delegated_to: None,
            status: Status::Ok,
            item: item.map(str::to_string),
            result: json!({}),
            ignored: false,
            diffs: vec![],
            duration: Duration::from_millis(ms),
            round_trips: 1,
            error: None,
        }
    }

    #[test]
    fn slowest_first_top_ten() {
        let mut p = Profile::new();
        for i in 0..12u64 {
            for e in task(&format!("t{i}"), i * 100) {
                p.record(&e);
            }
        }
        let tasks = p.slowest_tasks();
        assert_eq!(tasks.len(), TOP);
        assert_eq!(
            tasks[0],
            ("TASK [t11]".to_string(), Duration::from_millis(1100))
        );
        assert_eq!(tasks[9].0, "TASK [t2]");
    }

    #[test]
    fn host_time_counts_loops_once() {
        let mut p = Profile::new();
        p.record(&Event::HostResult(result("a", None, 500)));
        p.record(&Event::HostResult(result("b", Some("x"), 700)));
        p.record(&Event::HostResult(result("b", Some("y"), 700)));
        p.record(&Event::LoopDone(result("b", None, 1400)));
        assert_eq!(
            p.slowest_hosts(),
            vec![
                ("b".to_string(), Duration::from_millis(1400)),
                ("a".to_string(), Duration::from_millis(500))
            ]
        );
    }

    #[test]
    fn rows_fill_the_width() {
        let r = row("TASK [web : render]", Duration::from_millis(1234), 79);
        assert_eq!(r.len(), 79);
        assert!(r.starts_with("TASK [web : render] -----"));
        assert!(r.ends_with("--- 1.23s"));
        let mut p = Profile::new();
        for e in task("x", 50) {
            p.record(&e);
        }
        p.record(&Event::HostResult(result("h1", None, 50)));
        let text = p.render(79);
        assert!(text.starts_with("\nPROFILE: slowest tasks ****"));
        assert!(text.contains("\nTASK [x] ---"));
        assert!(text.contains("\nh1 ---"));
    }
}
