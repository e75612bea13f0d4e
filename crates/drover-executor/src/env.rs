//! What a task sees of the run: [`TaskEnv`]. The task pipeline ([`crate::task`]) reaches the
//! executor only through it: templating, the run's options, variables with `hostvars`, events,
//! Ctrl-C, and connections.

use std::sync::Arc;

use drover_connection::{BoxFuture, Connection};
use drover_diag::Diagnostic;
use drover_events::Event;
use drover_template::{Templar, Vars};
use serde_json::{Map, Value};

use crate::lookahead::LookAhead;
use crate::transport::{Endpoint, Target};
use crate::{Executor, RunOptions};

/// The run, as one task on one host needs it.
pub(crate) trait TaskEnv: Sync {
    /// The templating engine.
    fn templar(&self) -> &Arc<Templar>;
    /// `--check`, `--diff`, `-v`, ….
    fn options(&self) -> &RunOptions;
    /// A variable map with `hostvars` over it.
    fn vars(&self, map: Map<String, Value>) -> Vars;
    /// Reports an event (nothing after Ctrl-C).
    fn emit(&self, event: Event);
    /// Reports warnings.
    fn warn(&self, warnings: &[Diagnostic]);
    /// Ctrl-C was pressed.
    fn stop_requested(&self) -> bool;
    /// Resolves once Ctrl-C is pressed.
    fn until_stopped(&self) -> BoxFuture<'_, ()>;
    /// The connection variables of a host the task is delegated to.
    fn delegate_vars(&self, host: &str) -> Map<String, Value>;
    /// How to reach `host` with its variables and the `connection:` keyword.
    fn target(
        &self,
        host: &str,
        vars: &Map<String, Value>,
        keyword: Option<&Value>,
    ) -> Result<Target, String>;
    /// The probes taken ahead ([`crate::lookahead`]).
    fn look_ahead(&self) -> &LookAhead;
    /// The run's connection to `host` (opened on first use).
    fn connect<'a>(
        &'a self,
        host: &'a str,
        target: &'a dyn Endpoint,
    ) -> BoxFuture<'a, Result<Arc<Box<dyn Connection>>, drover_connection::Error>>;
}

impl TaskEnv for Executor {
    fn templar(&self) -> &Arc<Templar> {
        &self.templar
    }

    fn options(&self) -> &RunOptions {
        &self.options
    }

    fn vars(&self, map: Map<String, Value>) -> Vars {
        Executor::vars(self, map)
    }

    fn emit(&self, event: Event) {
        Executor::emit(self, event);
    }

    fn warn(&self, warnings: &[Diagnostic]) {
        Executor::warn(self, warnings);
    }

    fn stop_requested(&self) -> bool {
        Executor::stop_requested(self)
    }

    fn until_stopped(&self) -> BoxFuture<'_, ()> {
        Box::pin(Executor::until_stopped(self))
    }

    fn delegate_vars(&self, host: &str) -> Map<String, Value> {
        Executor::delegate_vars(self, host)
    }

    fn target(
        &self,
        host: &str,
        vars: &Map<String, Value>,
        keyword: Option<&Value>,
    ) -> Result<Target, String> {
        self.target_with_keyword(host, vars, keyword)
    }

    fn look_ahead(&self) -> &LookAhead {
        &self.look_ahead
    }

    fn connect<'a>(
        &'a self,
        host: &'a str,
        target: &'a dyn Endpoint,
    ) -> BoxFuture<'a, Result<Arc<Box<dyn Connection>>, drover_connection::Error>> {
        Box::pin(Executor::connection(self, host, target))
    }
}
