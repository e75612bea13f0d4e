//! `dnf` (and `yum`, which ansible-core 2.18 redirects to `dnf`): EL packages in POSIX shell
//! (`rpm -q`, `dnf`; `yum` where dnf is absent), with Ansible's semantics:
//!
//! - One probe: `rpm -q` of every spec (`name`, `name-version`, … as rpm matches them); for
//!   missing specs, `dnf repoquery` says whether they exist, so check mode fails like a run
//!   would ("No package X available."); for `latest`, `check-update` lists upgrades.
//! - `present`/`installed` install what is missing, `latest` also upgrades, `absent`/`removed`
//!   remove what is installed. Results: `msg`, `rc`, `results` (`Installed: x`, `Removed: x`).
//! - `update_cache` adds `--refresh` (metadata refreshed before deciding and installing).
//!
//! Not implemented (refused by name): groups/modules (`@name`), local `.rpm` files and URLs,
//! `list`, `autoremove`, `security`, `bugfix`, `exclude`, `download_only`, `installroot`,
//! `releasever`, `allowerasing`, `allow_downgrade`, `update_only`, `skip_broken`, `conf_file`,
//! `disable_excludes`, plugins, `best`/`nobest`, `cacheonly`.

use drover_connection::shell::join;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::apt::PkgState;
use super::util::{self, line_value};
use crate::params::{Bool, Int, StringList, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

const REFUSED: &[&str] = &[
    "list",
    "autoremove",
    "security",
    "bugfix",
    "exclude",
    "download_only",
    "download_dir",
    "installroot",
    "releasever",
    "allowerasing",
    "allow_downgrade",
    "update_only",
    "skip_broken",
    "conf_file",
    "disable_excludes",
    "disable_plugin",
    "enable_plugin",
    "best",
    "nobest",
    "cacheonly",
    "use_backend",
];

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    name: Option<StringList>,
    state: Option<String>,
    update_cache: Option<Bool>,
    enablerepo: Option<StringList>,
    disablerepo: Option<StringList>,
    disable_gpg_check: Option<Bool>,
    install_weak_deps: Option<Bool>,
    validate_certs: Option<Bool>,
    sslverify: Option<Bool>,
    lock_timeout: Option<Int>,
    install_repoquery: Option<Bool>,
}

/// The dnf task.
pub(crate) struct Dnf {
    module: &'static str,
    specs: Vec<String>,
    state: PkgState,
    /// Options for every dnf command (`--refresh`, repos).
    options: Vec<String>,
    /// Options for installs (`--nogpgcheck`, weak deps).
    install_options: Vec<String>,
}

/// Prepares a `dnf`/`yum` task.
pub fn prepare(module: &'static str, args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::remote(Dnf::from_args(module, args)?)
}

/// What `apply` runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Work {
    install: Vec<String>,
    upgrade: Vec<String>,
    remove: Vec<String>,
}

impl Dnf {
    pub(crate) fn from_args(
        module: &'static str,
        args: &Map<String, Value>,
    ) -> Result<Dnf, ModuleError> {
        util::refuse(module, args, REFUSED)?;
        let args = util::canonical_args(
            module,
            args,
            &[("pkg", "name"), ("expire-cache", "update_cache")],
        )?;
        let p: Params = parse(module, &args)?;
        let state = match p.state.as_deref().unwrap_or("present") {
            "present" | "installed" => PkgState::Present,
            "latest" => PkgState::Latest,
            "absent" | "removed" => PkgState::Absent,
            other => {
                return Err(ModuleError::params(format!(
                    "module `{module}`: value of state must be one of: absent, installed, latest, present, removed, got: {other}"
                )));
            }
        };
        let specs = p.name.map(|n| n.0).unwrap_or_default();
        for spec in &specs {
            if spec.starts_with('@')
                || spec.ends_with(".rpm")
                || spec.contains("://")
                || spec.starts_with('/')
            {
                return Err(ModuleError::params(format!(
                    "module `{module}`: `{spec}`: groups, modules and rpm files/URLs are not implemented in drover; name the packages"
                )));
            }
            if spec.contains(['<', '>', '=', '*', '?', '['])
                || spec.starts_with('-')
                || spec.is_empty()
            {
                return Err(ModuleError::params(format!(
                    "module `{module}`: package spec `{spec}` is not implemented in drover (use `name` or `name-version`)"
                )));
            }
        }
        let update = p.update_cache.is_some_and(|b| b.0);
        if specs.is_empty() && !update {
            return Err(ModuleError::params(format!(
                "module `{module}`: one of the following is required: name, list, update_cache"
            )));
        }
        let mut options = Vec::new();
        if update {
            options.push("--refresh".to_string());
        }
        for repo in p.enablerepo.map(|r| r.0).unwrap_or_default() {
            options.push(format!("--enablerepo={repo}"));
        }
        for repo in p.disablerepo.map(|r| r.0).unwrap_or_default() {
            options.push(format!("--disablerepo={repo}"));
        }
        if p.validate_certs.or(p.sslverify).is_some_and(|b| !b.0) {
            options.push("--setopt=sslverify=0".into());
        }
        let mut install_options = Vec::new();
        if p.disable_gpg_check.is_some_and(|b| b.0) {
            install_options.push("--nogpgcheck".to_string());
        }
        if p.install_weak_deps.is_some_and(|b| !b.0) {
            install_options.push("--setopt=install_weak_deps=False".into());
        }
        let _ = (p.lock_timeout, p.install_repoquery);
        Ok(Dnf {
            module,
            specs,
            state,
            options,
            install_options,
        })
    }

    fn bin() -> &'static str {
        "if command -v dnf >/dev/null 2>&1; then pm=dnf; elif command -v yum >/dev/null 2>&1; then pm=yum; \
         else echo 'error=neither dnf nor yum found on this node (not an EL-family system?)'; exit 0; fi\n"
    }

    pub(crate) fn probe_script(&self) -> String {
        let mut s = String::from("export LC_ALL=C\n");
        s.push_str(Self::bin());
        s.push_str("echo \"pm=$pm\"\n");
        let opts = join(&self.options);
        s.push_str(&format!(
            "for p in {}; do\n  if v=$(rpm -q --qf '%{{NAME}}\\t%{{VERSION}}-%{{RELEASE}}\\n' -- \"$p\" 2>/dev/null); then printf 'pkg=%s\\t%s\\n' \"$p\" \"$(echo \"$v\" | head -n1)\"; \n",
            join(&self.specs)
        ));
        if self.state == PkgState::Absent {
            s.push_str("  fi\ndone\n");
            return s;
        }
        s.push_str(&format!(
            "  else a=$($pm -q {opts} repoquery --latest-limit 1 -- \"$p\" 2>/dev/null | head -n1); printf 'missing=%s\\t%s\\n' \"$p\" \"$a\"; fi\ndone\n"
        ));
        if self.state == PkgState::Latest {
            s.push_str(&format!(
                "echo --drover-check-update--\n$pm -q {opts} check-update -- {} 2>/dev/null; echo \"check_rc=$?\"\n",
                join(&self.specs)
            ));
        }
        s
    }

    pub(crate) fn plan_work(&self, text: &str) -> Result<(Work, Option<String>), ModuleError> {
        if let Some(err) = line_value(text, "error") {
            return Err(ModuleError::node(err.to_string()));
        }
        let pm = line_value(text, "pm").unwrap_or("dnf");
        let (head, updates) = match text.split_once("--drover-check-update--\n") {
            Some((h, u)) => (h, u),
            None => (text, ""),
        };
        let mut installed = Vec::new();
        let mut missing = Vec::new();
        for line in head.lines() {
            if let Some(rest) = line.strip_prefix("pkg=") {
                let (spec, nv) = rest.split_once('\t').unwrap_or((rest, ""));
                installed.push((
                    spec.to_string(),
                    nv.split('\t').next().unwrap_or("").to_string(),
                ));
            } else if let Some(rest) = line.strip_prefix("missing=") {
                let (spec, avail) = rest.split_once('\t').unwrap_or((rest, ""));
                missing.push((spec.to_string(), !avail.trim().is_empty()));
            }
        }
        let mut work = Work::default();
        match self.state {
            PkgState::Absent => {
                work.remove = installed.into_iter().map(|(s, _)| s).collect();
            }
            PkgState::Present | PkgState::Latest => {
                // yum (EL7) may lack `repoquery`: unknown availability is decided by the install.
                let unavailable: Vec<&String> = missing
                    .iter()
                    .filter(|(_, avail)| !avail && pm == "dnf")
                    .map(|(s, _)| s)
                    .collect();
                if !unavailable.is_empty() {
                    let failures: Vec<String> = unavailable
                        .iter()
                        .map(|s| format!("No package {s} available."))
                        .collect();
                    return Ok((work, Some(failures.join("\n"))));
                }
                work.install = missing.into_iter().map(|(s, _)| s).collect();
                if self.state == PkgState::Latest {
                    let names: Vec<&str> = updates
                        .lines()
                        .filter_map(|l| l.split_whitespace().next())
                        .map(|nevra| nevra.rsplit_once('.').map_or(nevra, |(n, _)| n))
                        .collect();
                    work.upgrade = installed
                        .iter()
                        .filter(|(spec, nv)| {
                            let name = nv.split('\t').next().unwrap_or(spec);
                            names.contains(&spec.as_str()) || names.contains(&name)
                        })
                        .map(|(s, _)| s.clone())
                        .collect();
                }
            }
        }
        Ok((work, None))
    }

    fn result(work: &Work) -> ModuleResult {
        let mut results = Vec::new();
        for (verb, list) in [
            ("Installed", &work.install),
            ("Upgraded", &work.upgrade),
            ("Removed", &work.remove),
        ] {
            results.extend(list.iter().map(|p| Value::String(format!("{verb}: {p}"))));
        }
        let nothing = results.is_empty();
        let mut r = ModuleResult::ok()
            .with_msg(if nothing { "Nothing to do" } else { "" })
            .with("results", Value::Array(results));
        r.rc = Some(0);
        r
    }

    pub(crate) fn plan_from(&self, text: &str) -> Result<Plan, ModuleError> {
        let (work, failure) = self.plan_work(text)?;
        if let Some(failure) = failure {
            let mut r = ModuleResult::failed("Failed to install some of the specified packages")
                .with(
                    "failures",
                    Value::Array(failure.lines().map(|l| Value::String(l.into())).collect()),
                )
                .with("results", Value::Array(Vec::new()));
            r.rc = Some(1);
            return Ok(Plan::satisfied(r));
        }
        let r = Dnf::result(&work);
        if work.install.is_empty() && work.upgrade.is_empty() && work.remove.is_empty() {
            return Ok(Plan::satisfied(r));
        }
        Ok(Plan::change(r, work))
    }

    pub(crate) fn apply_script(&self, work: &Work) -> String {
        let mut s = String::from("export LC_ALL=C\n");
        s.push_str(Self::bin());
        let opts = join(&self.options);
        let iopts = join(&self.install_options);
        for (verb, list, extra) in [
            ("install", &work.install, iopts.as_str()),
            ("upgrade", &work.upgrade, iopts.as_str()),
            ("remove", &work.remove, ""),
        ] {
            if !list.is_empty() {
                let line = format!("$pm -y {opts} {extra} {verb} -- {}", join(list));
                s.push_str(&format!(
                    "{} || exit $?\n",
                    line.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
        }
        s
    }

    pub(crate) fn finish_output(&self, plan: &Plan, out: &Output) -> ModuleResult {
        let mut r = plan.result.clone();
        r.rc = Some(out.status);
        r.stdout = Some(out.stdout_text());
        r.stderr = Some(out.stderr_text());
        if out.status != 0 {
            r.failed = true;
            r.changed = false;
            r.msg = Some(format!(
                "{} failed: {}",
                self.module,
                out.stderr_text().trim()
            ));
        }
        r
    }
}

impl Action for Dnf {
    fn probe(&self) -> Option<Request> {
        Some(Request::new(self.probe_script()))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("dnf needs its probe"))?;
        self.plan_from(&out.stdout_text())
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        match plan.state::<Work>() {
            Ok(work) => vec![Request::new(self.apply_script(work))],
            Err(_) => Vec::new(),
        }
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        Ok(self.finish_output(plan, util::first_output(self.module, outputs)?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn present_installs_missing_available_packages() {
        let a = action(
            "dnf",
            json!({"name": ["consul", "jq"], "state": "installed", "enablerepo": "pigsty"}),
        );
        let s = a.probe().unwrap().script;
        assert!(s.contains("for p in consul jq; do"), "{s}");
        assert!(
            s.contains("rpm -q --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' -- \"$p\""),
            "{s}"
        );
        assert!(
            s.contains("$pm -q --enablerepo=pigsty repoquery --latest-limit 1 -- \"$p\""),
            "{s}"
        );
        let plan = a
            .plan(Some(&out(
                0,
                "pm=dnf\npkg=consul\tconsul\t1.16.1-1\nmissing=jq\tjq-0:1.6-15.el9.x86_64\n",
                "",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert_eq!(plan.result.extra["results"], json!(["Installed: jq"]));
        assert_eq!(
            a.apply(&plan)[0].script.lines().last().unwrap(),
            "$pm -y --enablerepo=pigsty install -- jq || exit $?"
        );
        let plan = a
            .plan(Some(&out(
                0,
                "pm=dnf\npkg=consul\tconsul\t1\npkg=jq\tjq\t1.6\n",
                "",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(plan.result.msg.as_deref(), Some("Nothing to do"));
    }

    #[test]
    fn unavailable_package_fails_in_check_mode_too() {
        let a = action("yum", json!({"name": "nosuch"}));
        let plan = a
            .plan(Some(&out(0, "pm=dnf\nmissing=nosuch\t\n", "")))
            .unwrap();
        assert!(plan.result.failed);
        assert_eq!(
            plan.result.extra["failures"],
            json!(["No package nosuch available."])
        );
    }

    #[test]
    fn latest_upgrades_and_absent_removes() {
        let a = action(
            "dnf",
            json!({"name": "curl", "state": "latest", "update_cache": true}),
        );
        assert!(
            a.probe()
                .unwrap()
                .script
                .contains("$pm -q --refresh check-update -- curl")
        );
        let plan = a
            .plan(Some(&out(0, "pm=dnf\npkg=curl\tcurl\t7.76\n--drover-check-update--\n\ncurl.x86_64   7.76.1-26.el9_3.2   baseos\ncheck_rc=100\n", "")))
            .unwrap();
        assert_eq!(
            a.apply(&plan)[0].script.lines().last().unwrap(),
            "$pm -y --refresh upgrade -- curl || exit $?"
        );
        let plan = a
            .plan(Some(&out(
                0,
                "pm=dnf\npkg=curl\tcurl\t7.76\n--drover-check-update--\ncheck_rc=0\n",
                "",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        let a = action("dnf", json!({"name": "curl", "state": "removed"}));
        let plan = a
            .plan(Some(&out(0, "pm=yum\npkg=curl\tcurl\t7\n", "")))
            .unwrap();
        assert_eq!(
            a.apply(&plan)[0].script.lines().last().unwrap(),
            "$pm -y remove -- curl || exit $?"
        );
        assert!(error("dnf", json!({"name": "@core"})).contains("groups"));
        assert!(
            error("dnf", json!({"name": "x", "autoremove": true}))
                .contains("`autoremove` is not implemented")
        );
    }
}
