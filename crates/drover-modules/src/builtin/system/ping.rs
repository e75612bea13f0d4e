//! `ping`: a trivial round trip to the node (`echo pong`), answering `ping: <data>` like Ansible.
//! `data: crash` fails the task, as Ansible's module does on purpose.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::util;
use crate::params::parse;
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    data: Option<Value>,
}

struct Ping {
    data: Value,
}

/// Prepares a `ping` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    let p: Params = parse("ping", args)?;
    util::remote(Ping {
        data: p.data.unwrap_or_else(|| Value::String("pong".into())),
    })
}

impl Action for Ping {
    fn probe(&self) -> Option<Request> {
        Some(Request::new("echo pong"))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("ping needs its probe"))?;
        if out.status != 0 || out.stdout_text().trim() != "pong" {
            return Err(ModuleError::node(format!(
                "the node's shell did not answer `pong` (rc {}): {}{}",
                out.status,
                out.stdout_text().trim(),
                out.stderr_text().trim()
            )));
        }
        if self.data == Value::String("crash".into()) {
            return Ok(Plan::satisfied(ModuleResult::failed("boom")));
        }
        Ok(Plan::satisfied(
            ModuleResult::ok().with("ping", self.data.clone()),
        ))
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        Vec::new()
    }

    fn finish(&self, plan: &Plan, _outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, run_local};
    use crate::Outcome;
    use serde_json::json;

    #[tokio::test]
    async fn pong_after_a_real_round_trip() {
        let a = action("ping", json!({}));
        let o = run_local(&a.probe().unwrap()).await;
        let plan = a.plan(Some(&o)).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(
            plan.result.to_registered(),
            json!({"changed": false, "failed": false, "ping": "pong"})
        );
        let a = action("ping", json!({"data": "hello"}));
        let plan = a.plan(Some(&o)).unwrap();
        assert_eq!(plan.result.extra["ping"], "hello");
        let a = action("ping", json!({"data": "crash"}));
        assert!(a.plan(Some(&o)).unwrap().result.failed);
        assert!(error("ping", json!({"date": 1})).contains("unknown field `date`"));
    }
}
