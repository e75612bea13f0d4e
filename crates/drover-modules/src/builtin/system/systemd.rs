//! `systemd` (alias `systemd_service`) and `service` (on systemd nodes), with Ansible 2.18's
//! semantics:
//!
//! - One probe: `systemctl show <unit>` (all properties, returned as `status`) and
//!   `systemctl is-enabled <unit>`.
//! - `started`/`stopped` act only when needed (`active`/`activating` counts as running;
//!   `deactivating` is stopped again); `restarted` always restarts; `reloaded` reloads a
//!   running unit and STARTS a stopped one — both report changed. `result.state` is `started`
//!   for `restarted`/`reloaded`, like Ansible.
//! - `enabled` compares `is-enabled` (`enabled-runtime`, `indirect` and `alias` count as not
//!   enabled, so they are enabled for real); `masked` compares `is-enabled` = `masked`.
//! - `daemon_reload` always runs `systemctl daemon-reload` before the rest, outside check mode,
//!   without marking the task changed (Ansible's behaviour).
//! - A unit systemd does not know fails with "Could not find the requested service X: host".
//!
//! `service` on a node without systemd is refused (drover has no SysV/OpenRC/upstart support);
//! its `pattern`, `sleep`, `runlevel` and `arguments` are ignored on systemd, as Ansible's
//! `service` action does. Not implemented (refused by name): `daemon_reexec`, `scope` other than
//! `system`.

use drover_connection::shell::quote;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{self, line_value};
use crate::params::{Bool, parse, to_bool};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

const ALIASES: &[(&str, &str)] = &[
    ("service", "name"),
    ("unit", "name"),
    ("daemon-reload", "daemon_reload"),
    ("daemon-reexec", "daemon_reexec"),
];

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    name: Option<String>,
    state: Option<String>,
    enabled: Option<Bool>,
    masked: Option<Bool>,
    daemon_reload: Option<Bool>,
    force: Option<Bool>,
    no_block: Option<Bool>,
    scope: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ServiceParams {
    name: String,
    state: Option<String>,
    enabled: Option<Bool>,
    // Ignored on systemd, as Ansible's `service` action plugin does.
    #[allow(dead_code)]
    pattern: Option<Value>,
    #[allow(dead_code)]
    sleep: Option<Value>,
    #[allow(dead_code)]
    runlevel: Option<Value>,
    #[allow(dead_code)]
    arguments: Option<Value>,
}

/// The requested run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunState {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

impl RunState {
    fn parse(module: &str, s: &str) -> Result<RunState, ModuleError> {
        Ok(match s {
            "started" => RunState::Started,
            "stopped" => RunState::Stopped,
            "restarted" => RunState::Restarted,
            "reloaded" => RunState::Reloaded,
            other => {
                return Err(ModuleError::params(format!(
                    "module `{module}`: value of state must be one of: reloaded, restarted, started, stopped, got: {other}"
                )));
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            RunState::Started => "started",
            RunState::Stopped => "stopped",
            RunState::Restarted => "restarted",
            RunState::Reloaded => "reloaded",
        }
    }
}

/// A systemd task.
struct Systemd {
    module: &'static str,
    unit: Option<String>,
    state: Option<RunState>,
    enabled: Option<bool>,
    masked: Option<bool>,
    daemon_reload: bool,
    /// `systemctl` with `--force`/`--no-block`.
    systemctl: String,
}

/// Prepares a `systemd`/`systemd_service` task.
pub fn prepare_systemd(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    let args = util::canonical_args("systemd", args, ALIASES)?;
    if args.get("daemon_reexec").and_then(to_bool) == Some(true) {
        return Err(ModuleError::params(
            "module `systemd`: parameter `daemon_reexec` is not implemented in drover",
        ));
    }
    let mut args = args;
    args.remove("daemon_reexec");
    let p: Params = parse("systemd", &args)?;
    if let Some(scope) = p.scope.as_deref()
        && scope != "system"
    {
        return Err(ModuleError::params(format!(
            "module `systemd`: `scope: {scope}` is not implemented in drover (only `system`)"
        )));
    }
    let state = p
        .state
        .as_deref()
        .map(|s| RunState::parse("systemd", s))
        .transpose()?;
    let daemon_reload = p.daemon_reload.is_some_and(|b| b.0);
    if state.is_none() && p.enabled.is_none() && p.masked.is_none() && !daemon_reload {
        return Err(ModuleError::params(
            "module `systemd`: one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
        ));
    }
    let mut systemctl = String::from("systemctl");
    if p.no_block.is_some_and(|b| b.0) {
        systemctl.push_str(" --no-block");
    }
    if p.force.is_some_and(|b| b.0) {
        systemctl.push_str(" --force");
    }
    let unit = check_unit(
        "systemd",
        p.name,
        state.is_some() || p.enabled.is_some() || p.masked.is_some(),
    )?;
    util::remote(Systemd {
        module: "systemd",
        unit,
        state,
        enabled: p.enabled.map(|b| b.0),
        masked: p.masked.map(|b| b.0),
        daemon_reload,
        systemctl,
    })
}

/// Prepares a `service` task (systemd nodes only).
pub fn prepare_service(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    let args = util::canonical_args("service", args, &[("args", "arguments")])?;
    let p: ServiceParams = parse("service", &args)?;
    let state = p
        .state
        .as_deref()
        .map(|s| RunState::parse("service", s))
        .transpose()?;
    if state.is_none() && p.enabled.is_none() {
        return Err(ModuleError::params(
            "module `service`: one of the following is required: state, enabled",
        ));
    }
    let unit = check_unit("service", Some(p.name), true)?;
    util::remote(Systemd {
        module: "service",
        unit,
        state,
        enabled: p.enabled.map(|b| b.0),
        masked: None,
        daemon_reload: false,
        systemctl: "systemctl".into(),
    })
}

fn check_unit(
    module: &str,
    name: Option<String>,
    required: bool,
) -> Result<Option<String>, ModuleError> {
    match name {
        Some(name) => {
            if name.contains(['*', '?', '[']) {
                return Err(ModuleError::params(format!(
                    "module `{module}`: This module does not currently support using glob patterns, found '{}' in service name: {name}",
                    name.chars().find(|c| "*?[".contains(*c)).unwrap_or('*')
                )));
            }
            if name.is_empty() {
                return Err(ModuleError::params(format!(
                    "module `{module}`: `name` is empty"
                )));
            }
            Ok(Some(name))
        }
        None if required => Err(ModuleError::params(format!(
            "module `{module}`: missing parameter(s) required by 'state', 'enabled' or 'masked': name"
        ))),
        None => Ok(None),
    }
}

const SHOW_MARKER: &str = "--drover-show--";

/// Probe lines for the unit `$u`: `systemctl is-enabled` (as Ansible's module asks it), then
/// `systemctl show`. The `UnitFileState` that `show` prints cannot stand in for `is-enabled`:
/// PID 1 computes it once per loaded unit and keeps it until a daemon-reload, so after
/// `systemctl disable --no-reload` or a wants link removed by hand it still says `enabled`
/// where `is-enabled`, which reads the disk, says `disabled` (seen on a sandbox node; the
/// sandbox test compares the two after such a change).
const IS_ENABLED_AND_SHOW: &str = "e=$(systemctl is-enabled -- \"$u\" 2>/dev/null)
echo \"is_enabled_rc=$?\"
echo \"is_enabled=$e\"
echo --drover-show--
systemctl show -- \"$u\" 2>&1
exit 0
";

/// What the probe found.
#[derive(Debug, Default)]
struct UnitState {
    status: Map<String, Value>,
    is_enabled: String,
    is_enabled_rc: i32,
}

impl UnitState {
    fn parse(text: &str) -> Result<UnitState, ModuleError> {
        if let Some(err) = line_value(text, "error") {
            return Err(ModuleError::node(err.to_string()));
        }
        let (head, show) = text
            .split_once(&format!("{SHOW_MARKER}\n"))
            .ok_or_else(|| {
                ModuleError::node(format!(
                    "unexpected systemd probe output: {}",
                    text.chars().take(300).collect::<String>()
                ))
            })?;
        let mut status = Map::new();
        for line in show.lines() {
            if let Some((k, v)) = line.split_once('=')
                && !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric())
            {
                status.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
        Ok(UnitState {
            status,
            is_enabled: line_value(head, "is_enabled")
                .unwrap_or("")
                .trim()
                .to_string(),
            is_enabled_rc: line_value(head, "is_enabled_rc")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1),
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.status.get(key).and_then(Value::as_str)
    }

    fn found(&self) -> bool {
        self.get("LoadState").is_some_and(|s| s != "not-found")
            || !matches!(self.is_enabled.as_str(), "" | "not-found")
    }

    fn running(&self) -> bool {
        matches!(self.get("ActiveState"), Some("active" | "activating"))
    }

    fn enabled(&self) -> bool {
        self.is_enabled_rc == 0
            && !matches!(
                self.is_enabled.as_str(),
                "enabled-runtime" | "indirect" | "alias"
            )
    }
}

/// The steps apply runs, in order.
#[derive(Debug, Default, Clone)]
struct Steps {
    daemon_reload: bool,
    mask: Option<&'static str>,
    enable: Option<&'static str>,
    action: Option<&'static str>,
}

impl Action for Systemd {
    fn probe(&self) -> Option<Request> {
        let mut s = String::from(crate::files::C_LOCALE);
        s.push_str(
            "command -v systemctl >/dev/null 2>&1 || { echo 'error=systemctl not found: this node is not managed by systemd'; exit 0; }\n",
        );
        if self.module == "service" {
            s.push_str("[ -d /run/systemd/system ] || { echo 'error=this node does not run systemd; drover'\\''s `service` module supports systemd only'; exit 0; }\n");
        }
        match &self.unit {
            Some(unit) => s.push_str(&format!("u={}\n{IS_ENABLED_AND_SHOW}", quote(unit))),
            None => s.push_str(&format!("echo {SHOW_MARKER}\n")),
        }
        Some(Request::new(s))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let probe = probe.ok_or_else(|| ModuleError::internal("systemd needs its probe"))?;
        let unit = UnitState::parse(&probe.stdout_text())?;
        let mut result = ModuleResult::ok();
        let mut steps = Steps {
            daemon_reload: self.daemon_reload,
            ..Steps::default()
        };
        let Some(name) = &self.unit else {
            return Ok(self.decide(result, steps));
        };
        result = result.with("name", name.clone());
        result = result.with("status", Value::Object(unit.status.clone()));
        if unit.status.is_empty() {
            return Err(ModuleError::node(format!(
                "`systemctl show {name}` failed: {}",
                probe
                    .stdout_text()
                    .split_once(&format!("{SHOW_MARKER}\n"))
                    .map_or("", |(_, t)| t)
                    .trim()
            )));
        }
        let found = unit.found();
        let missing =
            || ModuleError::node(format!("Could not find the requested service {name}: host"));
        if found
            && unit.get("LoadState") != Some("masked")
            && let Some(err) = unit.get("LoadError").filter(|e| {
                !e.is_empty()
                    && !e.starts_with("org.freedesktop.systemd1.NoSuchUnit")
                    && *e != "n/a"
            })
        {
            return Err(ModuleError::node(format!(
                "Error loading unit file '{name}': {err}"
            )));
        }
        if let Some(masked) = self.masked {
            let is_masked = unit.is_enabled == "masked";
            if is_masked != masked {
                steps.mask = Some(if masked { "mask" } else { "unmask" });
            }
        }
        if let Some(enabled) = self.enabled {
            if !found {
                return Err(missing());
            }
            let is = unit.enabled();
            // After the change, Ansible reports the new value.
            result = result.with("enabled", enabled);
            if is != enabled {
                steps.enable = Some(if enabled { "enable" } else { "disable" });
            }
        }
        if let Some(state) = self.state {
            if !found {
                return Err(missing());
            }
            if unit.get("ActiveState").is_none() {
                let mut r = ModuleResult::failed("Service is in unknown state");
                r.extra
                    .insert("status".into(), Value::Object(unit.status.clone()));
                return Ok(Plan::satisfied(r));
            }
            let running = unit.running();
            steps.action = match state {
                RunState::Started => (!running).then_some("start"),
                RunState::Stopped => {
                    (running || unit.get("ActiveState") == Some("deactivating")).then_some("stop")
                }
                RunState::Restarted if running => Some("restart"),
                RunState::Reloaded if running => Some("reload"),
                RunState::Restarted | RunState::Reloaded => Some("start"),
            };
            let reported = match state {
                RunState::Restarted | RunState::Reloaded => "started",
                other => other.as_str(),
            };
            result = result.with("state", reported);
        }
        Ok(self.decide(result, steps))
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        let Ok(steps) = plan.state::<Steps>() else {
            return Vec::new();
        };
        let sc = &self.systemctl;
        let mut s = String::new();
        if steps.daemon_reload {
            s.push_str(&format!(
                "err=$({sc} daemon-reload 2>&1) || {{ rc=$?; printf 'failed=failure %s during daemon-reload: %s\\n' \"$rc\" \"$err\"; exit 1; }}\n"
            ));
        }
        let unit = self.unit.as_deref().map(quote).unwrap_or_default();
        let name = self
            .unit
            .as_deref()
            .unwrap_or("")
            .replace(['\'', '%', '\\'], "");
        if let Some(verb) = steps.mask {
            s.push_str(&format!(
                "if ! err=$({sc} {verb} -- {unit} 2>&1); then printf 'failed=Failed to {verb} the service ({name}): %s\\n' \"$err\"; exit 1; fi\n"
            ));
        }
        if let Some(verb) = steps.enable {
            s.push_str(&format!(
                "if ! err=$({sc} {verb} -- {unit} 2>&1); then printf 'failed=Unable to {verb} service {name}: %s\\n' \"$err\"; exit 1; fi\n"
            ));
        }
        if let Some(verb) = steps.action {
            s.push_str(&format!(
                "if ! err=$({sc} {verb} -- {unit} 2>&1 >/dev/null); then printf 'failed=Unable to {verb} service {name}: %s\\n' \"$err\"; exit 1; fi\n"
            ));
        }
        if self.state.is_some() && !unit.is_empty() {
            s.push_str(&format!(
                "echo {SHOW_MARKER}\nsystemctl show -- {unit} 2>&1\n"
            ));
        }
        vec![Request::new(s)]
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output(self.module, outputs)?;
        let text = out.stdout_text();
        let mut r = plan.result.clone();
        if out.status != 0 {
            r.failed = true;
            r.changed = false;
            r.msg = Some(match text.split_once("failed=") {
                Some((_, msg)) => msg.trim_end().to_string(),
                None => format!("systemctl failed: {}", out.stderr_text().trim()),
            });
            return Ok(r);
        }
        if let Some((_, show)) = text.split_once(&format!("{SHOW_MARKER}\n"))
            && let Ok(state) = UnitState::parse(&format!("{SHOW_MARKER}\n{show}"))
        {
            r.extra.insert("status".into(), Value::Object(state.status));
        }
        Ok(r)
    }
}

impl Systemd {
    fn decide(&self, result: ModuleResult, steps: Steps) -> Plan {
        let changes = steps.mask.is_some() || steps.enable.is_some() || steps.action.is_some();
        if !changes && !steps.daemon_reload {
            return Plan::satisfied(result);
        }
        let mut plan = Plan::change(result, steps);
        plan.result.changed = changes;
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out, run_local};
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    fn probe(enabled: &str, rc: i32, show: &str) -> Output {
        out(
            0,
            &format!("is_enabled_rc={rc}\nis_enabled={enabled}\n{SHOW_MARKER}\n{show}"),
            "",
        )
    }

    const RUNNING: &str = "Id=consul.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n";
    const STOPPED: &str = "Id=consul.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n";
    const MISSING: &str = "Id=nope.service\nLoadState=not-found\nActiveState=inactive\nLoadError=org.freedesktop.systemd1.NoSuchUnit \"Unit nope.service not found.\"\n";

    #[test]
    fn started_and_enabled_is_satisfied_when_running_and_enabled() {
        let a = action(
            "systemd",
            json!({"name": "consul", "state": "started", "enabled": true}),
        );
        let s = a.probe().unwrap().script;
        assert!(
            s.contains(&format!("u=consul\n{IS_ENABLED_AND_SHOW}")),
            "{s}"
        );
        assert!(IS_ENABLED_AND_SHOW.contains(&format!("\necho {SHOW_MARKER}\n")));
        let plan = a.plan(Some(&probe("enabled", 0, RUNNING))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        let r = plan.result.to_registered();
        assert_eq!(r["name"], "consul");
        assert_eq!(r["state"], "started");
        assert_eq!(r["enabled"], true);
        assert_eq!(r["status"]["ActiveState"], "active");
    }

    #[test]
    fn stopped_disabled_unit_is_enabled_and_started() {
        let a = action(
            "systemd",
            json!({"name": "consul", "state": "started", "enabled": "yes"}),
        );
        let plan = a.plan(Some(&probe("disabled", 1, STOPPED))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(plan.result.changed);
        let script = &a.apply(&plan)[0].script;
        assert!(script.contains("systemctl enable -- consul 2>&1); then printf 'failed=Unable to enable service consul: %s\\n'"), "{script}");
        assert!(
            script.contains("systemctl start -- consul 2>&1 >/dev/null)"),
            "{script}"
        );
        let r = a
            .finish(&plan, &[out(0, &format!("{SHOW_MARKER}\n{RUNNING}"), "")])
            .unwrap();
        assert!(r.changed);
        assert_eq!(r.extra["status"]["ActiveState"], "active");
        let r = a
            .finish(
                &plan,
                &[out(
                    1,
                    "failed=Unable to start service consul: Job failed\n",
                    "",
                )],
            )
            .unwrap();
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Unable to start service consul: Job failed")
        );
    }

    #[test]
    fn reloaded_starts_a_stopped_unit_and_restarted_always_acts() {
        let a = action("systemd", json!({"name": "consul", "state": "reloaded"}));
        let plan = a.plan(Some(&probe("enabled", 0, STOPPED))).unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("systemctl start -- consul")
        );
        assert_eq!(plan.result.extra["state"], "started");
        let plan = a.plan(Some(&probe("enabled", 0, RUNNING))).unwrap();
        assert!(plan.result.changed);
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("systemctl reload -- consul")
        );
        let a = action("service", json!({"name": "consul", "state": "restarted"}));
        let plan = a.plan(Some(&probe("enabled", 0, RUNNING))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("systemctl restart -- consul")
        );
    }

    #[test]
    fn stopped_acts_only_when_running() {
        let a = action("systemd", json!({"name": "consul", "state": "stopped"}));
        assert_eq!(
            a.plan(Some(&probe("enabled", 0, STOPPED))).unwrap().outcome,
            Outcome::Satisfied
        );
        let plan = a.plan(Some(&probe("enabled", 0, RUNNING))).unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("systemctl stop -- consul")
        );
    }

    #[test]
    fn missing_unit_fails_like_ansible() {
        let a = action("systemd", json!({"name": "nope", "state": "started"}));
        let err = a
            .plan(Some(&probe("", 1, MISSING)))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(err, "Could not find the requested service nope: host");
    }

    #[test]
    fn enabled_runtime_counts_as_not_enabled_and_masking() {
        let a = action("systemd", json!({"name": "consul", "enabled": true}));
        let plan = a.plan(Some(&probe("enabled-runtime", 0, RUNNING))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let a = action("systemd_service", json!({"name": "consul", "masked": true}));
        let plan = a.plan(Some(&probe("enabled", 0, RUNNING))).unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("systemctl mask -- consul")
        );
        assert_eq!(
            a.plan(Some(&probe("masked", 1, RUNNING))).unwrap().outcome,
            Outcome::Satisfied
        );
    }

    #[test]
    fn daemon_reload_always_runs_but_is_not_a_change() {
        let a = action("systemd", json!({"daemon_reload": true}));
        let plan = a
            .plan(Some(&out(0, &format!("{SHOW_MARKER}\n"), "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(!plan.result.changed);
        assert!(
            a.apply(&plan)[0]
                .script
                .starts_with("err=$(systemctl daemon-reload 2>&1) || { rc=$?;")
        );
        let a = action(
            "systemd",
            json!({"name": "consul", "state": "started", "daemon-reload": true, "no_block": true}),
        );
        let plan = a.plan(Some(&probe("enabled", 0, RUNNING))).unwrap();
        assert!(!plan.result.changed);
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("systemctl --no-block daemon-reload")
        );
    }

    #[test]
    fn refusals() {
        assert!(
            error("systemd", json!({"name": "x", "daemon_reexec": true}))
                .contains("`daemon_reexec` is not implemented")
        );
        assert!(
            error(
                "systemd",
                json!({"name": "x", "state": "started", "scope": "user"})
            )
            .contains("scope: user")
        );
        assert!(
            error("systemd", json!({"name": "x*", "state": "started"})).contains("glob patterns")
        );
        assert!(error("systemd", json!({"state": "started"})).contains("required"));
        assert!(
            error("systemd", json!({"name": "x", "state": "running"})).contains("must be one of")
        );
        assert!(
            error("service", json!({"name": "x"}))
                .contains("one of the following is required: state, enabled")
        );
        // service ignores SysV-only options on systemd
        let _ = action(
            "service",
            json!({"name": "x", "state": "started", "pattern": "x", "args": "-d"}),
        );
    }

    /// The probe runs in a real shell (this host's systemctl may or may not be usable).
    #[tokio::test]
    async fn probe_runs_in_a_real_shell() {
        let a = action(
            "systemd",
            json!({"name": "drover-no-such-unit-xyz", "state": "started"}),
        );
        let o = run_local(&a.probe().unwrap()).await;
        assert_eq!(o.status, 0);
        let err = a.plan(Some(&o)).err().unwrap().to_string();
        if o.stdout_text().contains("LoadState=") {
            assert_eq!(
                err,
                "Could not find the requested service drover-no-such-unit-xyz: host"
            );
        } else {
            // a controller without a running systemd (a container): said plainly
            assert!(
                err.starts_with("`systemctl show drover-no-such-unit-xyz` failed: "),
                "{err}"
            );
        }
    }
}
