//! How the executor reaches hosts: one table of transports (`ansible_connection` values), each
//! a file here that turns a host's connection settings into an [`Endpoint`], and the run's
//! [`Pool`] of open connections (one per host and endpoint, opened on first use).
//!
//! A new transport is one new file with an [`Endpoint`] (and, if it needs one, a
//! [`drover_connection::Connection`]) and one row in [`TRANSPORTS`].

mod local;
mod ssh;

use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;

use drover_connection::{BoxFuture, Connection, ControlDir, Held, lock};
use drover_inventory::Connection as ConnVars;
use tokio::sync::{Mutex, OnceCell};

/// Where and how to reach one host, ready to connect.
pub trait Endpoint: std::fmt::Debug + Send + Sync {
    /// Opens a connection (`host` is the inventory name, for messages).
    fn connect<'a>(
        &'a self,
        host: &'a str,
        control: &'a ControlDir,
    ) -> BoxFuture<'a, drover_connection::Result<Box<dyn Connection>>>;
    /// Keeps a sandbox run on loopback: an error when this endpoint would leave it (`host`
    /// and `sandbox` for the message), otherwise the endpoint is confined to it.
    fn confine_to_sandbox(&mut self, host: &str, sandbox: &str) -> Result<(), String>;
    /// The node's place in the order runs take their locks in ([`drover_connection::lock`]),
    /// when a run locks it: remote nodes are locked; the controller itself (`connection:
    /// local`) is not. Every run orders by the same key, so two runs never wait for each other.
    fn lock_key(&self) -> Option<String> {
        None
    }
}

/// An endpoint from a host's typed connection settings and its ssh argument strings.
type MakeEndpoint = fn(&ConnVars, &[String]) -> Result<Box<dyn Endpoint>, String>;

/// The transports drover has, by `ansible_connection` value (`smart`/`paramiko` are read as
/// `ssh` by the inventory).
const TRANSPORTS: &[(&str, MakeEndpoint)] = &[("local", local::endpoint), ("ssh", ssh::endpoint)];

/// The endpoint for a host's connection settings.
pub fn target_from_vars(vars: &ConnVars, ssh_args: &[String]) -> Result<Target, String> {
    match TRANSPORTS.iter().find(|(name, _)| *name == vars.transport) {
        Some((_, make)) => make(vars, ssh_args),
        None => Err(format!(
            "`ansible_connection: {}` is not supported by drover (use {})",
            vars.transport,
            TRANSPORTS
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// How to reach one host.
pub type Target = Box<dyn Endpoint>;

/// A host's connection, opened once; an unreachable host keeps its error.
type Slot = Arc<OnceCell<Result<Arc<Box<dyn Connection>>, drover_connection::Error>>>;

/// Whether a connection's node is locked for the run, decided once; a host whose lock could
/// not be taken keeps the reason.
type LockSlot = Arc<OnceCell<Result<(), drover_connection::Error>>>;

/// The run's connections: opened once per (host, endpoint), shared by every task, each remote
/// node locked for the run ([`drover_connection::lock`]).
///
/// Locks are taken up front ([`Pool::lock_all`]) in one global order, the endpoints' lock
/// keys, which every run shares: a run never waits for a lock while holding one that sorts
/// after it, so two runs over overlapping hosts cannot each hold what the other waits for.
/// A host the run did not foresee (added by `add_host`, reached by `delegate_to`) is locked
/// when first used.
pub struct Pool {
    control: ControlDir,
    slots: Mutex<HashMap<String, Slot>>,
    locked: Mutex<HashMap<String, LockSlot>>,
    /// The run locks held (released when dropped).
    locks: Mutex<Vec<Held>>,
    /// How long to wait for another run's lock ([`lock::LOCK_WAIT_ENV`]); a bad value fails
    /// each remote host with its message.
    lock_wait: Result<Duration, String>,
}

/// Tells the run that another run holds a host's lock (a warning).
pub type Waiting<'a> = &'a (dyn Fn(String) + Send + Sync);

impl Pool {
    /// A pool with a private control directory for the SSH masters.
    pub fn new() -> std::io::Result<Pool> {
        Ok(Pool {
            control: ControlDir::new()?,
            slots: Mutex::new(HashMap::new()),
            locked: Mutex::new(HashMap::new()),
            locks: Mutex::new(Vec::new()),
            lock_wait: lock::wait_from_env(),
        })
    }

    /// The connection for `host` (opening it and taking the node's run lock on first use;
    /// `waiting` is told, once, when another run holds the lock). A host that could not be
    /// reached or locked keeps its error for the rest of the run.
    pub async fn get(
        &self,
        host: &str,
        target: &dyn Endpoint,
        waiting: Waiting<'_>,
    ) -> Result<Arc<Box<dyn Connection>>, drover_connection::Error> {
        let key = slot_key(host, target);
        let connection = self.connect(&key, host, target).await?;
        if target.lock_key().is_some() {
            let cell = self.lock_slot(&key).await;
            cell.get_or_init(|| self.wait_for_lock(host, connection.as_ref().as_ref(), waiting))
                .await
                .clone()?;
        }
        Ok(connection)
    }

    /// Opens (once) the connection of a slot.
    async fn connect(
        &self,
        key: &str,
        host: &str,
        target: &dyn Endpoint,
    ) -> Result<Arc<Box<dyn Connection>>, drover_connection::Error> {
        let slot = self
            .slots
            .lock()
            .await
            .entry(key.to_string())
            .or_default()
            .clone();
        slot.get_or_init(|| async { target.connect(host, &self.control).await.map(Arc::new) })
            .await
            .clone()
    }

    async fn lock_slot(&self, key: &str) -> LockSlot {
        self.locked
            .lock()
            .await
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Connects to `hosts` (up to `forks` at once) and takes their nodes' run locks in the
    /// global order: every free lock at once, then, from the first one another run holds, one
    /// by one in order, having let go of those after it. Connection and lock failures stay with
    /// their hosts, reported when a task first uses them, as [`Pool::get`] reports them.
    pub async fn lock_all(&self, hosts: &[(String, Target)], forks: usize, waiting: Waiting<'_>) {
        use futures::StreamExt;
        let mut wanted: Vec<(String, &str, String, &dyn Endpoint)> = Vec::new();
        let mut nodes = std::collections::HashSet::new();
        for (host, target) in hosts {
            // one lock per node: a second name for it is found held by this run when used
            if let Some(order) = target.lock_key()
                && nodes.insert(order.clone())
            {
                wanted.push((
                    slot_key(host, target.as_ref()),
                    host,
                    order,
                    target.as_ref(),
                ));
            }
        }
        wanted.sort_by(|a, b| a.2.cmp(&b.2));
        // connect, and try each lock, all at once
        let tries: Vec<_> =
            futures::stream::iter(wanted.iter().map(|(key, host, _, target)| async move {
                let connection = self.connect(key, host, *target).await.ok()?;
                let attempt = lock::try_acquire(connection.as_ref().as_ref(), host).await;
                Some((connection, attempt))
            }))
            .buffered(forks.max(1))
            .collect()
            .await;
        let first_busy = tries
            .iter()
            .position(|t| matches!(t, Some((_, Ok(lock::Attempt::Busy(_))))));
        // let go of every lock after the first busy one (cleanly: nothing ran there yet)
        // before waiting for it
        let mut let_go = Vec::new();
        let tries: Vec<_> = tries
            .into_iter()
            .enumerate()
            .map(|(i, tried)| match tried {
                Some((c, Ok(lock::Attempt::Locked(held)))) if first_busy.is_some_and(|b| i > b) => {
                    let_go.push(held);
                    Some((c, None))
                }
                Some((c, attempt)) => Some((c, Some(attempt))),
                None => None,
            })
            .collect();
        futures::future::join_all(let_go.into_iter().map(Held::release)).await;
        for ((key, host, _, _), tried) in wanted.iter().zip(tries) {
            let Some((connection, attempt)) = tried else {
                continue; // unreachable: its slot keeps the error
            };
            let outcome = match attempt {
                Some(Ok(lock::Attempt::Locked(held))) => {
                    self.locks.lock().await.push(held);
                    Ok(())
                }
                Some(Ok(lock::Attempt::Unlocked)) => Ok(()),
                Some(Err(e)) => Err(e),
                // busy, or let go: taken now, in order
                Some(Ok(lock::Attempt::Busy(_))) | None => {
                    self.wait_for_lock(host, connection.as_ref().as_ref(), waiting)
                        .await
                }
            };
            let _ = self.lock_slot(key).await.set(outcome);
        }
    }

    /// Takes `host`'s run lock over `connection`, waiting for another run up to the lock wait,
    /// and keeps it until the pool closes.
    async fn wait_for_lock(
        &self,
        host: &str,
        connection: &dyn Connection,
        waiting: Waiting<'_>,
    ) -> Result<(), drover_connection::Error> {
        let wait = self
            .lock_wait
            .clone()
            .map_err(|reason| drover_connection::Error::Failed {
                host: host.to_string(),
                reason,
            })?;
        let mut tell = |who: &str| {
            waiting(format!(
                "{host}: another drover run holds this host ({who}); waiting for it, up to {}s",
                wait.as_secs()
            ));
        };
        if let Some(held) = lock::acquire(connection, host, wait, &mut tell).await? {
            self.locks.lock().await.push(held);
        }
        Ok(())
    }

    /// Closes every connection and lets go of the run locks. After a finished run (`clean`) the
    /// locks are released first: nothing runs on the nodes any more. After an interrupted one
    /// the connections close first and the locks are only dropped, so each node keeps its lock
    /// while a command the run started there still runs ([`lock::ORPHANS`]).
    pub async fn close(&self, clean: bool) {
        if clean {
            let held: Vec<Held> = self.locks.lock().await.drain(..).collect();
            futures::future::join_all(held.into_iter().map(Held::release)).await;
        }
        let slots: Vec<_> = self.slots.lock().await.drain().collect();
        for (_, slot) in slots {
            if let Some(Ok(conn)) = Arc::try_unwrap(slot).ok().and_then(OnceCell::into_inner)
                && let Ok(conn) = Arc::try_unwrap(conn)
            {
                conn.close().await;
            }
        }
        self.locks.lock().await.clear();
    }
}

/// A slot per host and endpoint.
fn slot_key(host: &str, target: &dyn Endpoint) -> String {
    format!("{host}\u{0}{target:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn vars(transport: &str) -> ConnVars {
        ConnVars {
            address: "127.0.0.1".into(),
            port: Some(2222),
            user: Some("vagrant".into()),
            private_key_file: Some("/k".into()),
            transport: transport.into(),
            become_: false,
            become_user: "root".into(),
        }
    }

    #[test]
    fn each_transport_of_the_table_makes_its_endpoint() {
        for (name, _) in TRANSPORTS {
            let endpoint = target_from_vars(&vars(name), &[]).unwrap();
            assert!(
                format!("{endpoint:?}")
                    .to_ascii_lowercase()
                    .contains(&name.to_ascii_lowercase()),
                "{name}: {endpoint:?}"
            );
        }
        let err = target_from_vars(&vars("docker"), &[]).unwrap_err();
        assert_eq!(
            err,
            "`ansible_connection: docker` is not supported by drover (use `local` or `ssh`)"
        );
    }

    /// The pool opens a host's connection once and runs requests on it.
    #[tokio::test]
    async fn the_pool_opens_each_connection_once() {
        let pool = Pool::new().unwrap();
        let local = target_from_vars(&vars("local"), &[]).unwrap();
        let a = pool.get("h", local.as_ref(), &|_| {}).await.unwrap();
        let b = pool.get("h", local.as_ref(), &|_| {}).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let out = a
            .run(&drover_connection::Request::new("echo hi"))
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), "hi\n");
        drop((a, b));
        pool.close(true).await;
    }
}
