//! `ansible_connection: local`: scripts run with `/bin/sh -c` on the controller.

use drover_connection::{BoxFuture, Connection, ControlDir, LocalConnection};
use drover_inventory::Connection as ConnVars;

use super::Endpoint;

/// The controller itself.
#[derive(Debug)]
struct Local;

/// `local` needs no settings.
pub(super) fn endpoint(_: &ConnVars, _: &[String]) -> Result<Box<dyn Endpoint>, String> {
    Ok(Box::new(Local))
}

impl Endpoint for Local {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        _: &'a ControlDir,
    ) -> BoxFuture<'a, drover_connection::Result<Box<dyn Connection>>> {
        let conn: Box<dyn Connection> = Box::new(LocalConnection::new(host));
        Box::pin(async move { Ok(conn) })
    }

    /// The controller is where the sandbox runs from.
    fn confine_to_sandbox(&mut self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
}
