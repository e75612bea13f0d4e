//! `wait_for`: wait on the node for a TCP port or a file, as ONE remote shell loop.
//!
//! - Ports are tested from the node (default host `127.0.0.1`, i.e. the node itself; the
//!   controller never connects anywhere): a TCP connect through bash's `/dev/tcp` under
//!   coreutils `timeout` (bash is in every Debian/EL base system), else `nc -z` when installed.
//!   `started`/`present` wait until a connect succeeds, `stopped`/`absent` until it fails.
//! - Paths: `present`/`started` wait until the path exists (and, with `search_regex`, until a
//!   line matches — `grep -E`, so POSIX extended regexes, line by line); `absent` until it is
//!   gone. Neither port nor path: sleep `timeout` seconds, like Ansible.
//! - Ansible's `wait_for` does not support check mode, so check mode skips it (the plan is
//!   unpredictable) and a real run costs one round trip: the loop returns at once when the
//!   condition already holds. Never `changed`. Results: `elapsed`, `state`, `port`, `path`,
//!   `search_regex`, `match_groups`/`match_groupdict` (always empty: grep gives no groups).
//!
//! Not implemented (refused by name): state `drained`, `exclude_hosts`,
//! `active_connection_states`, `search_regex` with a port.

use std::time::Duration;

use drover_connection::shell::quote;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{self, line_value};
use crate::params::{Int, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    host: Option<String>,
    port: Option<Int>,
    path: Option<String>,
    state: Option<String>,
    timeout: Option<Int>,
    connect_timeout: Option<Int>,
    delay: Option<Int>,
    sleep: Option<Int>,
    search_regex: Option<String>,
    msg: Option<String>,
}

struct WaitFor {
    host: String,
    port: Option<i64>,
    path: Option<String>,
    state: String,
    timeout: i64,
    connect_timeout: i64,
    delay: i64,
    sleep: i64,
    search_regex: Option<String>,
    msg: Option<String>,
}

/// Prepares a `wait_for` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::refuse(
        "wait_for",
        args,
        &["exclude_hosts", "active_connection_states"],
    )?;
    let p: Params = parse("wait_for", args)?;
    let state = p.state.unwrap_or_else(|| "started".into());
    match state.as_str() {
        "started" | "stopped" | "present" | "absent" => {}
        "drained" => {
            return Err(ModuleError::params(
                "module `wait_for`: state `drained` is not implemented in drover",
            ));
        }
        other => {
            return Err(ModuleError::params(format!(
                "module `wait_for`: value of state must be one of: absent, drained, present, started, stopped, got: {other}"
            )));
        }
    }
    if p.port.is_some() && p.path.is_some() {
        return Err(ModuleError::params(
            "port and path parameter can not both be passed to wait_for",
        ));
    }
    if p.path.is_some() && state == "stopped" {
        return Err(ModuleError::params(
            "state=stopped should only be used for checking a port in the wait_for module",
        ));
    }
    if p.port.is_some() && p.search_regex.is_some() {
        return Err(ModuleError::params(
            "module `wait_for`: `search_regex` on a port is not implemented in drover (only on a path)",
        ));
    }
    if let Some(port) = p.port
        && !(1..=65535).contains(&port.0)
    {
        return Err(ModuleError::params(format!(
            "module `wait_for`: port {} is out of range",
            port.0
        )));
    }
    util::remote(WaitFor {
        host: p.host.unwrap_or_else(|| "127.0.0.1".into()),
        port: p.port.map(|p| p.0),
        path: p.path,
        state,
        timeout: p.timeout.map_or(300, |t| t.0).max(0),
        connect_timeout: p.connect_timeout.map_or(5, |t| t.0).max(1),
        delay: p.delay.map_or(0, |t| t.0).max(0),
        sleep: p.sleep.map_or(1, |t| t.0).max(0),
        search_regex: p.search_regex,
        msg: p.msg,
    })
}

impl WaitFor {
    fn waits_for_absence(&self) -> bool {
        matches!(self.state.as_str(), "stopped" | "absent")
    }

    /// The shell condition that is true when the wait is over.
    fn condition(&self) -> Option<String> {
        if self.port.is_some() {
            let open = "port_open";
            return Some(if self.waits_for_absence() {
                format!("! {open}")
            } else {
                open.to_string()
            });
        }
        let path = self.path.as_ref()?;
        let p = quote(path);
        Some(if self.waits_for_absence() {
            format!("[ ! -e {p} ] && [ ! -L {p} ]")
        } else if let Some(re) = &self.search_regex {
            format!("[ -e {p} ] && grep -E -q -- {} {p} 2>/dev/null", quote(re))
        } else {
            format!("[ -e {p} ]")
        })
    }

    fn script(&self) -> String {
        let mut s = format!(
            "start=$(date +%s)\nelapsed() {{ echo \"elapsed=$(( $(date +%s) - start ))\"; }}\nsleep {}\n",
            self.delay
        );
        let Some(condition) = self.condition() else {
            s.push_str(&format!("sleep {}\nelapsed\n", self.timeout));
            return s;
        };
        if let Some(port) = self.port {
            s.push_str(&format!(
                "h={}; p={port}; ct={}\n\
                 if command -v bash >/dev/null 2>&1; then\n  \
                 port_open() {{ timeout \"$ct\" bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' _ \"$h\" \"$p\" 2>/dev/null; }}\n\
                 elif command -v nc >/dev/null 2>&1; then\n  \
                 port_open() {{ nc -z -w \"$ct\" \"$h\" \"$p\" 2>/dev/null; }}\n\
                 else echo 'error=neither bash nor nc is available on the node to test a TCP port'; exit 2; fi\n",
                quote(&self.host),
                self.connect_timeout
            ));
        }
        let info = match &self.path {
            Some(path) if !self.waits_for_absence() => {
                util::path_info_script(&quote(path)).trim_end().to_string() + "; "
            }
            _ => String::new(),
        };
        s.push_str(&format!(
            "while :; do\n  if {condition}; then {info}elapsed; exit 0; fi\n  \
             if [ $(( $(date +%s) - start )) -ge {} ]; then elapsed; exit 1; fi\n  \
             sleep {}\ndone\n",
            self.timeout, self.sleep
        ));
        s
    }

    fn timeout_message(&self) -> String {
        if let Some(msg) = &self.msg {
            return msg.clone();
        }
        match (&self.port, &self.path) {
            (Some(port), _) if self.waits_for_absence() => {
                format!("Timeout when waiting for {}:{port} to stop.", self.host)
            }
            (Some(port), _) => format!("Timeout when waiting for {}:{port}", self.host),
            (None, Some(path)) if self.waits_for_absence() => {
                format!("Timeout when waiting for {path} to be absent.")
            }
            (None, Some(path)) => match &self.search_regex {
                Some(re) => format!("Timeout when waiting for search string {re} in {path}"),
                None => format!("Timeout when waiting for file {path}"),
            },
            (None, None) => "Timeout".into(),
        }
    }
}

impl Action for WaitFor {
    fn probe(&self) -> Option<Request> {
        None
    }

    fn plan(&self, _probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let mut plan = Plan::unpredictable(());
        plan.result =
            ModuleResult::ok().with_msg("remote module (wait_for) does not support check mode");
        plan.result.skipped = true;
        Ok(plan)
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        let limit = self.delay + self.timeout + self.connect_timeout + 60;
        vec![
            Request::new(self.script())
                .with_timeout(Duration::from_secs(u64::try_from(limit).unwrap_or(360))),
        ]
    }

    fn finish(&self, _plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("wait_for", outputs)?;
        let text = out.stdout_text();
        if let Some(err) = line_value(&text, "error") {
            return Ok(ModuleResult::failed(err).with("elapsed", 0));
        }
        let elapsed: i64 = line_value(&text, "elapsed")
            .and_then(|e| e.trim().parse().ok())
            .unwrap_or(0);
        if out.status != 0 {
            return Ok(ModuleResult::failed(self.timeout_message()).with("elapsed", elapsed));
        }
        let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
        let mut r = ModuleResult::ok()
            .with("state", self.state.clone())
            .with("port", opt(self.port.map(Value::from)))
            .with(
                "search_regex",
                opt(self.search_regex.clone().map(Value::from)),
            )
            .with("match_groups", Value::Array(Vec::new()))
            .with("match_groupdict", Value::Object(Map::new()))
            .with("path", opt(self.path.clone().map(Value::from)))
            .with("elapsed", elapsed);
        util::add_path_info(&mut r, &text);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out, run_local};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn check_mode_skips_like_ansible_and_timeouts_say_what() {
        let a = action("wait_for", json!({"port": 8500, "timeout": 10}));
        assert!(a.probe().is_none());
        let plan = a.plan(None).unwrap();
        assert_eq!(plan.outcome, Outcome::Unpredictable);
        assert!(plan.result.skipped);
        let script = &a.apply(&plan)[0].script;
        assert!(script.contains("h=127.0.0.1; p=8500; ct=5\n"), "{script}");
        assert!(
            script.contains("if port_open; then elapsed; exit 0; fi"),
            "{script}"
        );
        let r = a.finish(&plan, &[out(1, "elapsed=10\n", "")]).unwrap();
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Timeout when waiting for 127.0.0.1:8500")
        );
        assert_eq!(r.extra["elapsed"], 10);
        let a = action(
            "wait_for",
            json!({"port": "8500", "state": "stopped", "msg": "consul still up"}),
        );
        let plan = a.plan(None).unwrap();
        assert!(a.apply(&plan)[0].script.contains("if ! port_open; then"));
        assert_eq!(
            a.finish(&plan, &[out(1, "elapsed=300\n", "")])
                .unwrap()
                .msg
                .as_deref(),
            Some("consul still up")
        );
    }

    #[test]
    fn refusals() {
        assert!(
            error("wait_for", json!({"port": 1, "state": "drained"}))
                .contains("`drained` is not implemented")
        );
        assert!(error("wait_for", json!({"port": 1, "path": "/x"})).contains("can not both"));
        assert!(
            error("wait_for", json!({"path": "/x", "state": "stopped"})).contains("state=stopped")
        );
        assert!(
            error("wait_for", json!({"port": 1, "exclude_hosts": ["a"]}))
                .contains("`exclude_hosts`")
        );
    }

    /// Real loops in a local shell: a file that appears, a regex, absence, a listening port.
    #[tokio::test]
    async fn loops_run_in_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ready file");
        let fs = f.to_str().unwrap();
        std::fs::write(&f, "booting\nconsul: agent started\n").unwrap();
        let run = |args: serde_json::Value| async move {
            let a = action("wait_for", args);
            let plan = a.plan(None).unwrap();
            let o = run_local(&a.apply(&plan)[0]).await;
            a.finish(&plan, &[o]).unwrap()
        };
        let r =
            run(json!({"path": fs, "search_regex": "agent (started|running)", "timeout": 5})).await;
        assert!(!r.failed, "{:?}", r.msg);
        assert_eq!(r.to_registered()["path"], fs);
        // Ansible's add_path_info: the found file's attributes (and `state: file`)
        assert_eq!(r.extra["state"], "file");
        assert_eq!(r.extra["size"], 30);
        assert!(r.extra["mode"].as_str().unwrap().starts_with('0'));
        let r = run(json!({"path": fs, "search_regex": "^never$", "timeout": 1, "sleep": 1})).await;
        assert_eq!(
            r.msg.as_deref(),
            Some(format!("Timeout when waiting for search string ^never$ in {fs}").as_str())
        );
        let r = run(json!({"path": fs, "state": "absent", "timeout": 1})).await;
        assert!(r.failed);
        let r = run(json!({"path": format!("{fs}.gone"), "state": "absent", "timeout": 1})).await;
        assert!(!r.failed);
        // a port on loopback: listening, then closed
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = run(json!({"port": port, "timeout": 5})).await;
        assert!(!r.failed, "{:?}", r.msg);
        assert_eq!(r.extra["port"], port);
        drop(listener);
        let r = run(json!({"port": port, "state": "stopped", "timeout": 5})).await;
        assert!(!r.failed, "{:?}", r.msg);
        let r = run(json!({"port": port, "timeout": 1, "connect_timeout": 1})).await;
        assert_eq!(
            r.msg.as_deref(),
            Some(format!("Timeout when waiting for 127.0.0.1:{port}").as_str())
        );
    }
}
