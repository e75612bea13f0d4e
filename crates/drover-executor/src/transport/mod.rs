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
    /// Whether a run takes the node's run lock ([`drover_connection::lock`]) when it connects:
    /// remote nodes do; the controller itself (`connection: local`) does not.
    fn locks(&self) -> bool {
        false
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

/// The run's connections: opened once per (host, endpoint), shared by every task, each remote
/// node locked for the run ([`drover_connection::lock`]).
pub struct Pool {
    control: ControlDir,
    slots: Mutex<HashMap<String, Slot>>,
    /// The run locks held (released when dropped).
    locks: Mutex<Vec<Held>>,
    /// How long to wait for another run's lock ([`lock::LOCK_WAIT_ENV`]); a bad value fails
    /// each remote host with its message.
    lock_wait: Result<Duration, String>,
}

impl Pool {
    /// A pool with a private control directory for the SSH masters.
    pub fn new() -> std::io::Result<Pool> {
        Ok(Pool {
            control: ControlDir::new()?,
            slots: Mutex::new(HashMap::new()),
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
        waiting: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Arc<Box<dyn Connection>>, drover_connection::Error> {
        let key = format!("{host}\u{0}{target:?}");
        let slot = {
            let mut slots = self.slots.lock().await;
            slots.entry(key).or_default().clone()
        };
        let result = slot
            .get_or_init(|| async {
                let connection = target.connect(host, &self.control).await?;
                if target.locks() {
                    self.lock(host, connection.as_ref(), waiting).await?;
                }
                Ok(Arc::new(connection))
            })
            .await;
        match result {
            Ok(c) => Ok(c.clone()),
            Err(e) => Err(e.clone()),
        }
    }

    /// Takes `host`'s run lock over `connection` and keeps it until the pool closes.
    async fn lock(
        &self,
        host: &str,
        connection: &dyn Connection,
        waiting: &(dyn Fn(String) + Send + Sync),
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

    /// Closes every connection, then releases the run locks.
    pub async fn close(&self) {
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
        pool.close().await;
    }
}
