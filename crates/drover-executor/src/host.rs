//! What the run remembers about each host across tasks and plays.

use drover_events::HostStats;
use indexmap::IndexSet;
use serde_json::{Map, Value};

/// Per-host state.
#[derive(Debug, Default, Clone)]
pub struct HostState {
    /// Gathered facts (`ansible_facts` plus the `ansible_*` names).
    pub facts: Map<String, Value>,
    /// `set_fact` and `register` results.
    pub set_facts: Map<String, Value>,
    /// `include_vars` results.
    pub include_vars: Map<String, Value>,
    /// When the host failed, as a number from the run's failure counter (it leaves the play
    /// and the rest of the playbook; an `always:` section still runs for hosts that failed
    /// before it started, see [`HostState::active_in`]).
    pub failure: Option<u64>,
    /// The host could not be reached (it leaves the playbook).
    pub unreachable: bool,
    /// `meta: end_host` ended the current play for this host.
    pub ended_play: bool,
    /// Notifications (handler names or `listen` topics) not yet resolved: Ansible resolves
    /// them to handlers when handlers are flushed, so the last handler loaded wins.
    pub notified: IndexSet<String>,
    /// Handlers due to run, by position in the play's handler list (the play's own handlers,
    /// then those of included roles).
    pub notified_handlers: IndexSet<usize>,
    /// Totals for the recap.
    pub stats: HostStats,
}

impl HostState {
    /// A fresh state for `host`.
    pub fn new(host: &str) -> HostState {
        HostState {
            stats: HostStats {
                host: host.to_string(),
                ..HostStats::default()
            },
            ..HostState::default()
        }
    }

    /// The host has failed.
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Still taking part in the play.
    pub fn active(&self) -> bool {
        self.active_in(None)
    }

    /// Still taking part in a section: an `always:` section that started when the failure
    /// counter stood at `always_since` also runs for hosts that failed before that (and stops
    /// for those that fail again inside it).
    pub fn active_in(&self, always_since: Option<u64>) -> bool {
        let failed = match (self.failure, always_since) {
            (None, _) => false,
            (Some(at), Some(since)) => at >= since,
            (Some(_), None) => true,
        };
        !failed && !self.unreachable && !self.ended_play
    }
}
