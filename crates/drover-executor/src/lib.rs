//! drover's executor: runs plays with Ansible's linear strategy.
//!
//! A task finishes on every selected host before the next task starts; hosts run concurrently
//! up to `--forks`. Per task and host: variables in Ansible's precedence, `when`, loops,
//! templated arguments, the module's probe → plan → apply (check mode = probe + plan),
//! `register`, `changed_when`/`failed_when`, `until`. Handlers are notified on change and
//! flushed at the end of each play section and at `meta: flush_handlers`. Failed hosts leave
//! the play (blocks with `rescue`/`always` as in Ansible), unreachable hosts leave the run, and
//! the others go on.
//!
//! The executor never prints: it emits [`drover_events::Event`]s to a [`Sink`].

mod builtin;
mod controller;
mod env;
mod facts;
mod host;
mod include;
mod lookahead;
mod outcome;
mod play;
mod task;
#[cfg(test)]
mod tests;
mod transport;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drover_diag::Diagnostic;
use drover_events::{Event, HostStats, Sink};
use drover_inventory::{Inventory, sandbox_guard};
use drover_playbook::{LoadOptions, LoadTemplater, Playbook, TagFilter};
use drover_template::{HostVarsSource, Templar, Vars};
use indexmap::IndexMap;
use serde_json::{Map, Value};

pub use host::HostState;
pub use outcome::NO_LOG_TEXT;
pub use transport::{Endpoint, Target, target_from_vars};

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// `--check`.
    pub check: bool,
    /// `--diff`.
    pub diff: bool,
    /// `--forks`: hosts worked on at once.
    pub forks: usize,
    /// `-v` count.
    pub verbosity: u8,
    /// `--force-handlers`: run notified handlers even on failed hosts.
    pub force_handlers: bool,
    /// `-e` variables.
    pub extra_vars: Map<String, Value>,
    /// `-t`/`--skip-tags`.
    pub filter: TagFilter,
    /// Take the probes of the tasks ahead in one round trip ([`LOOK_AHEAD_ENV`]).
    pub look_ahead: bool,
}

/// The environment variable that switches the look-ahead off (`DROVER_LOOK_AHEAD=false`): each
/// probe is then a round trip of its own. Read with Ansible's `boolean()`.
pub const LOOK_AHEAD_ENV: &str = "DROVER_LOOK_AHEAD";

/// Whether [`LOOK_AHEAD_ENV`] leaves the look-ahead on (the default); an error names a value
/// that is not a boolean.
pub fn look_ahead_from_env() -> Result<bool, String> {
    match std::env::var(LOOK_AHEAD_ENV) {
        Err(_) => Ok(true),
        Ok(text) => drover_python::boolean(&Value::String(text.clone())).ok_or_else(|| {
            format!(
                "{LOOK_AHEAD_ENV}={text} is not a boolean; use true or false (yes/no, on/off, 1/0)"
            )
        }),
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Per-host totals in inventory order.
    pub stats: Vec<HostStats>,
    /// Wall time.
    pub duration: Duration,
    /// The run was interrupted.
    pub interrupted: bool,
    /// A play could not run at all (e.g. a missing `vars_files` entry); the run stopped there.
    pub error: Option<Diagnostic>,
}

/// Runs playbooks against an inventory.
pub struct Executor {
    /// The `groups` magic variable (shared by every host).
    groups: Value,
    inventory: Arc<Inventory>,
    options: RunOptions,
    templar: Arc<Templar>,
    pool: transport::Pool,
    states: Arc<Mutex<IndexMap<String, HostState>>>,
    inventory_vars: Arc<HashMap<String, Map<String, Value>>>,
    /// `-e` variables, shared with every `hostvars` view.
    hostvars_extra: Arc<Map<String, Value>>,
    sink: Arc<dyn Sink>,
    load_templater: Arc<dyn LoadTemplater>,
    /// How dynamic includes load their files (the loader's templating, `-e`, roles path).
    load_options: LoadOptions,
    /// Set on Ctrl-C: nothing new starts, running commands may finish.
    stop: tokio::sync::watch::Sender<bool>,
    /// Counts host failures, so each failure has a place in time ([`HostState::failure`]).
    failures: std::sync::atomic::AtomicU64,
    /// The probes taken ahead.
    look_ahead: lookahead::LookAhead,
}

/// How long commands already running on nodes may take to finish after Ctrl-C.
const STOP_GRACE: Duration = Duration::from_secs(10);

impl Executor {
    /// An executor for an inventory. `load_templater` renders templated tags and `vars_files`
    /// names (the same templating the loader used).
    pub fn new(
        inventory: Arc<Inventory>,
        options: RunOptions,
        sink: Arc<dyn Sink>,
        templar: Arc<Templar>,
        load_templater: Arc<dyn LoadTemplater>,
    ) -> std::io::Result<Executor> {
        let mut vars = HashMap::new();
        let mut states = IndexMap::new();
        for host in inventory.hosts() {
            // Per-host magic only: `groups` is the same for every host and added per task
            // (copying it into every host's map made loading O(hosts²)).
            let mut map = inventory.host_vars(host).unwrap_or_default();
            for (k, v) in inventory.host_magic_vars(host) {
                map.insert(k, v);
            }
            vars.insert(host.to_string(), map);
            states.insert(host.to_string(), HostState::new(host));
        }
        let groups = Value::Object(inventory.groups_map());
        let look_ahead = options.look_ahead;
        let hostvars_extra = Arc::new(options.extra_vars.clone());
        let load_options = LoadOptions {
            extra_vars: options.extra_vars.clone(),
            templater: load_templater.clone(),
            ..LoadOptions::from_env()
        };
        Ok(Executor {
            groups,
            inventory,
            options,
            templar,
            pool: transport::Pool::new()?,
            states: Arc::new(Mutex::new(states)),
            inventory_vars: Arc::new(vars),
            hostvars_extra,
            sink,
            load_templater,
            load_options,
            stop: tokio::sync::watch::channel(false).0,
            failures: std::sync::atomic::AtomicU64::new(0),
            look_ahead: lookahead::LookAhead::new(look_ahead),
        })
    }

    /// Runs the playbooks in order and returns the recap (also emitted as an event).
    ///
    /// On Ctrl-C (SIGINT), SIGTERM or SIGHUP no new task starts; commands already running on nodes get
    /// [`STOP_GRACE`] to finish, SSH masters are closed, and the recap says `interrupted`
    /// (ansible-playbook's exit code 99).
    pub async fn run(&self, playbooks: &[Playbook]) -> Summary {
        let started = Instant::now();
        let mut work = Box::pin(self.run_playbooks(playbooks));
        let mut interrupted = false;
        let error = tokio::select! {
            error = &mut work => error,
            () = interrupt_signal() => {
                interrupted = true;
                self.request_stop();
                tokio::time::timeout(STOP_GRACE, &mut work).await.ok().flatten()
            }
        };
        // what still runs after the grace is dropped (its channels close) before the masters
        // close and the hosts' run locks are released
        drop(work);
        self.pool.close(!interrupted).await;
        let summary = Summary {
            stats: self.stats(),
            duration: started.elapsed(),
            interrupted,
            error,
        };
        // ansible-playbook prints `ERROR! …` and no recap when a play cannot run at all; the
        // caller prints `summary.error`.
        if summary.error.is_none() {
            self.sink.emit(&Event::Recap {
                hosts: summary.stats.clone(),
                duration: summary.duration,
                interrupted: summary.interrupted,
            });
        }
        summary
    }

    async fn run_playbooks(&self, playbooks: &[Playbook]) -> Option<Diagnostic> {
        // every foreseen node locked before the first task, in the order all runs share
        let waiting = |message: String| self.emit(Event::Warning { message });
        let hosts = self.foreseen_hosts(playbooks);
        self.pool
            .lock_all(&hosts, self.options.forks, &waiting)
            .await;
        for playbook in playbooks {
            if self.stop_requested() {
                return None;
            }
            self.emit(Event::PlaybookStart {
                path: playbook.path.display().to_string(),
                check: self.options.check,
            });
            for play in &playbook.plays {
                if self.stop_requested() {
                    return None;
                }
                match self.run_play(playbook, play).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(diag) => return Some(diag),
                }
            }
        }
        None
    }

    /// Stops the run as Ctrl-C does: nothing new starts.
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Ctrl-C was pressed (or [`Executor::request_stop`] called).
    pub fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once a stop is requested.
    pub(crate) async fn until_stopped(&self) {
        let mut rx = self.stop.subscribe();
        if rx.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Recap lines for hosts that took part in the run, in inventory order.
    fn stats(&self) -> Vec<HostStats> {
        let states = self.lock();
        states
            .values()
            .filter(|s| {
                let t = &s.stats;
                t.ok + t.changed + t.unreachable + t.failed + t.skipped + t.rescued + t.ignored > 0
            })
            .map(|s| s.stats.clone())
            .collect()
    }

    /// Marks a host failed now.
    pub(crate) fn fail_host(&self, state: &mut HostState) {
        state.failure = Some(
            self.failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
    }

    /// The failure counter now: hosts that failed before this have smaller numbers.
    pub(crate) fn failure_clock(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IndexMap<String, HostState>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn emit(&self, event: Event) {
        // After Ctrl-C ansible-playbook shows nothing more but the interruption itself.
        if !self.stop_requested() {
            self.sink.emit(&event);
        }
    }

    /// Each warning as ansible-playbook shows one (`[WARNING]: <message>`, the reporter adds
    /// the prefix): the diagnostic without its own `warning: ` label.
    pub(crate) fn warn(&self, warnings: &[Diagnostic]) {
        for w in warnings {
            let text = w.to_string();
            let message = text.strip_prefix("warning: ").unwrap_or(&text).trim_end();
            self.emit(Event::Warning {
                message: message.to_string(),
            });
        }
    }

    /// Wraps a variable map with `hostvars`.
    pub(crate) fn vars(&self, map: Map<String, Value>) -> Vars {
        Vars::new(map).with_hostvars(Arc::new(HostVarsView {
            inventory: self.inventory.clone(),
            inventory_vars: self.inventory_vars.clone(),
            extra_vars: self.hostvars_extra.clone(),
            states: self.states.clone(),
            hosts: self
                .inventory
                .hosts()
                .into_iter()
                .map(String::from)
                .collect(),
        }))
    }

    /// The variables of another host (for `delegate_to`): its inventory vars and facts.
    ///
    /// A host that is not in the inventory is connected to by its name, as Ansible does (it
    /// fails as unreachable when that does not work); only the implicit localhost names run
    /// locally. (Every unknown host used to run on the controller.) The `-e` variables apply
    /// on top, as in Ansible's delegated vars.
    pub(crate) fn delegate_vars(&self, host: &str) -> Map<String, Value> {
        let mut map = self
            .inventory_vars
            .get(host)
            .cloned()
            .unwrap_or_else(|| self.inventory.host_vars(host).unwrap_or_default());
        if !self.inventory.has_host(host) && drover_inventory::LOCALHOST_NAMES.contains(&host) {
            map.insert("ansible_connection".into(), Value::String("local".into()));
        }
        for (k, v) in self.hostvars_extra.iter() {
            map.insert(k.clone(), v.clone());
        }
        map
    }

    /// Where to connect for `host` when a play or its blocks say `connection: <keyword>`:
    /// as in Ansible, the host's own `ansible_connection` variable still wins over the keyword.
    pub(crate) fn target_with_keyword(
        &self,
        host: &str,
        vars: &Map<String, Value>,
        keyword: Option<&Value>,
    ) -> Result<Target, String> {
        match keyword {
            Some(connection) if !vars.contains_key("ansible_connection") => {
                let mut vars = vars.clone();
                vars.insert("ansible_connection".into(), connection.clone());
                self.target_for(host, &vars)
            }
            _ => self.target_for(host, vars),
        }
    }

    /// Where to connect for `host`, from its (templated) connection variables.
    pub(crate) fn target_for(
        &self,
        host: &str,
        vars: &Map<String, Value>,
    ) -> Result<Target, String> {
        const KEYS: &[&str] = &[
            "ansible_host",
            "ansible_port",
            "ansible_user",
            "ansible_ssh_private_key_file",
            "ansible_private_key_file",
            "ansible_connection",
            "ansible_become",
            "ansible_become_user",
            "ansible_ssh_common_args",
            "ansible_ssh_extra_args",
            "ansible_ssh_host",
            "ansible_ssh_port",
            "ansible_ssh_user",
        ];
        let scope = self.vars(vars.clone());
        let mut conn = Map::new();
        for key in KEYS {
            if let Some(v) = vars.get(*key) {
                let t = self
                    .templar
                    .template_value(v, &scope, None)
                    .map_err(|d| d.message.clone())?;
                conn.insert((*key).to_string(), t.value);
            }
        }
        let settings =
            drover_inventory::Connection::from_vars(host, &conn, self.inventory.host_span(host))
                .map_err(|d| d.to_string())?;
        let args: Vec<String> = ["ansible_ssh_common_args", "ansible_ssh_extra_args"]
            .iter()
            .filter_map(|k| conn.get(*k).and_then(Value::as_str).map(String::from))
            .collect();
        let mut target = target_from_vars(&settings, &args)?;
        // A run with a sandbox's connection file reaches nothing outside loopback (checked on
        // the inventory before the run; here again with templated addresses and the ssh
        // options), and reads no ssh config that could send it elsewhere.
        if let Some(sandbox) = vars.get(sandbox_guard::SANDBOX_VAR) {
            let sandbox = sandbox_guard::sandbox_name(sandbox);
            target.confine_to_sandbox(host, &sandbox)?;
        }
        Ok(target)
    }
}

impl Executor {
    /// `host`'s connection from the pool (opened, and the node locked for this run, on first
    /// use); a wait for another run's lock is shown as a warning.
    async fn connection(
        &self,
        host: &str,
        target: &dyn transport::Endpoint,
    ) -> Result<Arc<Box<dyn drover_connection::Connection>>, drover_connection::Error> {
        let waiting = |message: String| self.emit(Event::Warning { message });
        self.pool.get(host, target, &waiting).await
    }
}

/// Resolves on SIGINT (Ctrl-C), SIGTERM (`timeout`, `systemctl stop`, a CI runner cancelling
/// a job) or SIGHUP (a closed terminal): each stops the run the same way. A signal whose
/// handler cannot be installed is not waited for.
async fn interrupt_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    async fn one(kind: SignalKind) {
        match signal(kind) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
    tokio::select! {
        () = one(SignalKind::interrupt()) => {}
        () = one(SignalKind::terminate()) => {}
        () = one(SignalKind::hangup()) => {}
    }
}

/// `hostvars`: each host's inventory variables, facts and set facts, and the `-e` variables
/// over them (as Ansible's `hostvars`, which are `get_vars(host)`), templated lazily in that
/// host's context by the templating layer.
struct HostVarsView {
    /// Where inventory variables are written (`drover_var_origin`).
    inventory: Arc<Inventory>,
    inventory_vars: Arc<HashMap<String, Map<String, Value>>>,
    extra_vars: Arc<Map<String, Value>>,
    states: Arc<Mutex<IndexMap<String, HostState>>>,
    hosts: Vec<String>,
}

impl HostVarsSource for HostVarsView {
    fn host_names(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let mut map = self.inventory_vars.get(host)?.clone();
        let states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(state) = states.get(host) {
            for (k, v) in facts::as_vars(&state.facts) {
                if !state.facts.is_empty() {
                    map.insert(k, v);
                }
            }
            for layer in [&state.include_vars, &state.set_facts] {
                for (k, v) in layer {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in self.extra_vars.iter() {
            map.insert(k.clone(), v.clone());
        }
        Some(map)
    }

    fn var_origin(&self, host: &str, var: &str) -> Option<String> {
        self.inventory.var_origin(host, var)
    }
}
