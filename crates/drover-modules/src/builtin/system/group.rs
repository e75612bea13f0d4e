//! `group`: a local group (`getent group` probe; `groupadd`/`groupmod`/`groupdel`), with
//! Ansible 2.18's results (`name`, `state`, `gid`, `system`).
//!
//! Not implemented (refused by name): `local`, `force`, `gid_min`, `gid_max`.

use drover_connection::shell::join;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{self, line_value, trimmed};
use crate::params::{Bool, Int, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    state: Option<String>,
    gid: Option<Int>,
    system: Option<Bool>,
    non_unique: Option<Bool>,
}

struct Group {
    name: String,
    present: bool,
    gid: Option<i64>,
    system: bool,
    non_unique: bool,
}

/// Prepares a `group` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::refuse("group", args, &["local", "force", "gid_min", "gid_max"])?;
    let p: Params = parse("group", args)?;
    let present = match p.state.as_deref().unwrap_or("present") {
        "present" => true,
        "absent" => false,
        other => {
            return Err(ModuleError::params(format!(
                "module `group`: value of state must be one of: absent, present, got: {other}"
            )));
        }
    };
    let non_unique = p.non_unique.is_some_and(|b| b.0);
    if non_unique && p.gid.is_none() {
        return Err(ModuleError::params(
            "module `group`: non_unique is True but all of the following are missing: gid",
        ));
    }
    util::remote(Group {
        name: p.name,
        present,
        gid: p.gid.map(|g| g.0),
        system: p.system.is_some_and(|b| b.0),
        non_unique,
    })
}

/// A `getent group` line's gid.
pub(crate) fn entry_gid(line: &str) -> Option<i64> {
    line.split(':').nth(2).and_then(|g| g.parse().ok())
}

impl Action for Group {
    fn probe(&self) -> Option<Request> {
        Some(Request::new(format!(
            "if l=$(getent group -- {}); then echo \"group=$l\"; else echo group=; fi\n",
            drover_connection::shell::quote(&self.name)
        )))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("group needs its probe"))?;
        let text = out.stdout_text();
        let entry = line_value(&text, "group")
            .ok_or_else(|| ModuleError::node(format!("unexpected group probe output: {text}")))?;
        let current = entry_gid(entry);
        let mut result = ModuleResult::ok()
            .with("name", self.name.clone())
            .with("state", if self.present { "present" } else { "absent" });
        let command = match (self.present, current) {
            (false, None) => return Ok(Plan::satisfied(result)),
            (false, Some(_)) => vec!["groupdel".to_string(), self.name.clone()],
            (true, None) => {
                let mut c = vec!["groupadd".to_string()];
                if let Some(gid) = self.gid {
                    c.extend(["-g".into(), gid.to_string()]);
                    if self.non_unique {
                        c.push("-o".into());
                    }
                }
                if self.system {
                    c.push("-r".into());
                }
                c.push(self.name.clone());
                result = result.with("system", self.system);
                if let Some(gid) = self.gid {
                    result = result.with("gid", gid);
                }
                c
            }
            (true, Some(gid)) => {
                result = result.with("system", self.system);
                match self.gid {
                    Some(want) if want != gid => {
                        result = result.with("gid", want);
                        let mut c = vec!["groupmod".to_string(), "-g".into(), want.to_string()];
                        if self.non_unique {
                            c.push("-o".into());
                        }
                        c.push(self.name.clone());
                        c
                    }
                    _ => return Ok(Plan::satisfied(result.with("gid", gid))),
                }
            }
        };
        // Creating or removing: check mode reports only `changed`, as Ansible's module exits
        // early; the full result comes after the run.
        let reported = if current.is_none() || !self.present {
            ModuleResult::ok()
        } else {
            result.clone()
        };
        Ok(Plan::change(reported, (command, result)))
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        let Ok((command, _)) = plan.state::<(Vec<String>, ModuleResult)>() else {
            return Vec::new();
        };
        let mut s = join(command);
        if self.present {
            s.push_str(&format!(
                " || exit $?\necho \"group=$(getent group -- {})\"",
                drover_connection::shell::quote(&self.name)
            ));
        }
        vec![Request::new(s)]
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("group", outputs)?;
        let mut r = plan.state::<(Vec<String>, ModuleResult)>()?.1.clone();
        r.changed = true;
        let stderr = trimmed(&out.stderr);
        if out.status != 0 {
            r.failed = true;
            r.changed = false;
            r.msg = Some(stderr);
            return Ok(r);
        }
        if let Some(gid) = line_value(&out.stdout_text(), "group").and_then(entry_gid) {
            r = r.with("gid", gid);
        }
        if !stderr.is_empty() {
            r.stderr = Some(stderr);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn creates_modifies_and_removes() {
        let a = action(
            "group",
            json!({"name": "consul", "gid": "990", "system": true}),
        );
        assert_eq!(
            a.probe().unwrap().script,
            "if l=$(getent group -- consul); then echo \"group=$l\"; else echo group=; fi\n"
        );
        let plan = a.plan(Some(&out(2, "group=\n", ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        // check mode: only `changed`, like Ansible's early exit
        assert_eq!(
            plan.result.to_registered(),
            json!({"changed": true, "failed": false})
        );
        assert_eq!(
            a.apply(&plan)[0].script,
            "groupadd -g 990 -r consul || exit $?\necho \"group=$(getent group -- consul)\""
        );
        let r = a
            .finish(&plan, &[out(0, "group=consul:x:990:\n", "")])
            .unwrap();
        assert_eq!(
            r.to_registered(),
            json!({"changed": true, "failed": false, "name": "consul", "state": "present", "system": true, "gid": 990})
        );
        let plan = a.plan(Some(&out(0, "group=consul:x:990:\n", ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        let plan = a.plan(Some(&out(0, "group=consul:x:991:\n", ""))).unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .starts_with("groupmod -g 990 consul")
        );
        let a = action("group", json!({"name": "consul", "state": "absent"}));
        let plan = a.plan(Some(&out(0, "group=consul:x:990:\n", ""))).unwrap();
        assert_eq!(a.apply(&plan)[0].script, "groupdel consul");
        assert_eq!(
            a.plan(Some(&out(2, "group=\n", ""))).unwrap().outcome,
            Outcome::Satisfied
        );
        assert!(
            error("group", json!({"name": "x", "local": true}))
                .contains("`local` is not implemented")
        );
        assert!(error("group", json!({"name": "x", "non_unique": true})).contains("gid"));
    }
}
