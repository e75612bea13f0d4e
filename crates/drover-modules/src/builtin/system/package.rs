//! `package`: the node's package manager, chosen on the node by the probe (`apt-get` → `apt`,
//! else `dnf`/`yum` → `dnf`), like Ansible's `package` action picking the module from
//! `ansible_pkg_mgr`. Arguments are passed to that module unchanged; `use` names it explicitly.

use serde_json::{Map, Value};

use super::apt::{self, Apt};
use super::dnf::{self, Dnf};
use super::util::{self, line_value};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

/// A `package` task: both backends prepared from the same arguments; the node decides.
struct Package {
    apt: Result<Apt, ModuleError>,
    dnf: Result<Dnf, ModuleError>,
}

/// The chosen backend's private plan state.
enum Chosen {
    Apt(apt::Work),
    Dnf(dnf::Work),
}

/// Prepares a `package` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    let mut args = args.clone();
    let using = args.remove("use");
    let using = using.as_ref().and_then(Value::as_str).unwrap_or("auto");
    let (apt, dnf) = match using {
        "auto" => (Apt::from_args(&args), Dnf::from_args("package", &args)),
        "apt" => return util::remote(Apt::from_args(&args)?),
        "dnf" | "yum" => return util::remote(Dnf::from_args("dnf", &args)?),
        other => {
            return Err(ModuleError::params(format!(
                "module `package`: `use: {other}` is not supported by drover (apt, dnf, yum or auto)"
            )));
        }
    };
    if let (Err(e), Err(_)) = (&apt, &dnf) {
        return Err(ModuleError::params(e.to_string().replacen(
            "module `apt`",
            "module `package`",
            1,
        )));
    }
    util::remote(Package { apt, dnf })
}

const BODY: &str = "--drover-package-probe--";

impl Action for Package {
    fn probe(&self) -> Option<Request> {
        let apt = match &self.apt {
            Ok(a) => a.probe_script(),
            Err(_) => String::new(),
        };
        let dnf = match &self.dnf {
            Ok(d) => d.probe_script(),
            Err(_) => String::new(),
        };
        Some(Request::new(format!(
            "if command -v apt-get >/dev/null 2>&1; then echo mgr=apt; echo {BODY}; ( {apt} )\n\
             elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then echo mgr=dnf; echo {BODY}; ( {dnf} )\n\
             else echo 'mgr=none'; fi\n"
        )))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("package needs its probe"))?;
        let text = out.stdout_text();
        let (head, body) = text.split_once(&format!("{BODY}\n")).unwrap_or((&text, ""));
        let inner = Output {
            status: out.status,
            stdout: body.as_bytes().to_vec(),
            stderr: out.stderr.clone(),
        };
        let mut plan = match line_value(head, "mgr") {
            Some("apt") => self
                .apt
                .as_ref()
                .map_err(Clone::clone)?
                .plan(Some(&inner))?,
            Some("dnf") => self
                .dnf
                .as_ref()
                .map_err(Clone::clone)?
                .plan(Some(&inner))?,
            _ => {
                return Err(ModuleError::node(
                    "no supported package manager on this node (drover's `package` knows apt, dnf and yum)",
                ));
            }
        };
        let state = std::mem::replace(&mut plan.state, Box::new(()));
        plan.state = match state.downcast::<apt::Work>() {
            Ok(w) => Box::new(Chosen::Apt(*w)),
            Err(other) => match other.downcast::<dnf::Work>() {
                Ok(w) => Box::new(Chosen::Dnf(*w)),
                Err(other) => other,
            },
        };
        Ok(plan)
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        match (plan.state::<Chosen>(), &self.apt, &self.dnf) {
            (Ok(Chosen::Apt(w)), Ok(apt), _) => apt.apply(&inner(plan, w.clone())),
            (Ok(Chosen::Dnf(w)), _, Ok(dnf)) => dnf.apply(&inner(plan, w.clone())),
            _ => Vec::new(),
        }
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        match (plan.state::<Chosen>()?, &self.apt, &self.dnf) {
            (Chosen::Apt(w), Ok(apt), _) => apt.finish(&inner(plan, w.clone()), outputs),
            (Chosen::Dnf(w), _, Ok(dnf)) => dnf.finish(&inner(plan, w.clone()), outputs),
            _ => Err(ModuleError::internal("package backend mismatch")),
        }
    }
}

/// The backend's view of a plan.
fn inner(plan: &Plan, state: impl std::any::Any + Send + Sync) -> Plan {
    Plan {
        outcome: plan.outcome,
        result: plan.result.clone(),
        diffs: plan.diffs.clone(),
        state: Box::new(state),
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn dispatches_on_the_node_package_manager() {
        let a = action("package", json!({"name": "jq"}));
        let s = a.probe().unwrap().script;
        assert!(
            s.starts_with("if command -v apt-get >/dev/null 2>&1; then echo mgr=apt;"),
            "{s}"
        );
        let plan = a
            .plan(Some(&out(0, "mgr=apt\n--drover-package-probe--\nnow=10\ncache=5\n--drover-apt-simulate--\nInst jq\nsim_rc=0\n", "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(a.apply(&plan)[0].script.contains("install jq || exit $?"));
        let r = a.finish(&plan, &[out(0, "ok\n", "")]).unwrap();
        assert!(r.changed);
        let plan = a
            .plan(Some(&out(
                0,
                "mgr=dnf\n--drover-package-probe--\npm=dnf\nmissing=jq\tjq-1.6\n",
                "",
            )))
            .unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .ends_with("$pm -y install -- jq || exit $?\n")
        );
        let plan = a
            .plan(Some(&out(0, "mgr=apt\n--drover-package-probe--\nnow=10\ncache=5\npkg\tjq\tinstall ok installed\t1.6\n", "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        // `installed` is a dnf word: fine on EL, apt's error on Debian
        let a = action("package", json!({"name": "jq", "state": "installed"}));
        let err = a
            .plan(Some(&out(0, "mgr=apt\n--drover-package-probe--\n", "")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("use `present`"), "{err}");
        assert!(
            error("package", json!({"name": "jq", "colour": 1})).contains("unknown field `colour`")
        );
    }

    /// The detection script runs in a real shell on this (Debian) machine.
    #[tokio::test]
    async fn detection_runs_in_a_real_shell() {
        let a = action("package", json!({"name": "coreutils"}));
        let o = super::super::util::testing::run_local(&a.probe().unwrap()).await;
        assert_eq!(o.status, 0, "{}", o.stderr_text());
        if !o.stdout_text().starts_with("mgr=apt") {
            return;
        }
        assert_eq!(
            a.plan(Some(&o)).unwrap().outcome,
            Outcome::Satisfied,
            "{}",
            o.stdout_text()
        );
    }
}
