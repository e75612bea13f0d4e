//! `apt`: Debian packages with Ansible 2.18's semantics, in POSIX shell (`dpkg-query`,
//! `apt-get`; no python-apt on the node).
//!
//! - One probe: the cache age (`/var/lib/apt/periodic/update-success-stamp`, else
//!   `/var/lib/apt/lists`, like Ansible), each package's dpkg status and version, and a read-only
//!   `apt-get -s install` of what would be installed, so check mode predicts exactly: which
//!   packages are missing, which have an upgrade (`latest`), and whether apt can install them at
//!   all ("No package matching 'x' is available" fails in check mode too).
//! - `present` installs only what is missing (or installed at another version than a `name=ver`
//!   pin); `latest` also upgrades; `absent` removes what is installed (`purge` also what left
//!   config files).
//! - `update_cache` / `cache_valid_time` run `apt-get update` when the cache is older than
//!   `cache_valid_time` seconds (always, with the default 0). A cache update alone reports
//!   changed, like Ansible; with packages, `changed` says whether packages changed.
//! - `deb`: a `.deb` path ON THE NODE (Ansible's meaning; a `://` URL is downloaded on the node
//!   with curl first); installed with `apt-get install ./file.deb` (dependencies included) unless
//!   the same version is installed.
//! - Commands run with `DEBIAN_FRONTEND=noninteractive`, Ansible's default dpkg options
//!   (`force-confdef,force-confold`) and `DPkg::Lock::Timeout` = `lock_timeout`.
//!
//! Not implemented (refused by name): `upgrade` (other than `no`), `autoremove`, `autoclean`,
//! `clean`, `force`, `only_upgrade`, `fail_on_autoremove`, `policy_rc_d`, states `build-dep`
//! and `fixed`, package globs (`nginx*`), `>=` version specs and version globs.

use drover_connection::shell::{join, quote};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{self, line_value, trimmed};
use crate::params::{Bool, Int, StringList, parse, to_bool};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

const ALIASES: &[(&str, &str)] = &[
    ("pkg", "name"),
    ("package", "name"),
    ("update-cache", "update_cache"),
    ("install-recommends", "install_recommends"),
    ("default-release", "default_release"),
    ("allow-unauthenticated", "allow_unauthenticated"),
    ("allow-downgrade", "allow_downgrade"),
    ("allow_downgrades", "allow_downgrade"),
    ("allow-downgrades", "allow_downgrade"),
];

/// Boolean parameters refused when true (their `false` default is what drover does).
const REFUSED_IF_TRUE: &[&str] = &[
    "autoremove",
    "autoclean",
    "clean",
    "force",
    "only_upgrade",
    "fail_on_autoremove",
];

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    name: Option<StringList>,
    state: Option<String>,
    update_cache: Option<Bool>,
    cache_valid_time: Option<Int>,
    update_cache_retries: Option<Int>,
    update_cache_retry_max_delay: Option<Int>,
    purge: Option<Bool>,
    deb: Option<String>,
    default_release: Option<String>,
    install_recommends: Option<Bool>,
    dpkg_options: Option<String>,
    allow_unauthenticated: Option<Bool>,
    allow_downgrade: Option<Bool>,
    allow_change_held_packages: Option<Bool>,
    lock_timeout: Option<Int>,
    force_apt_get: Option<Bool>,
    upgrade: Option<Value>,
    // Checked (refused when true) before parsing; accepted here when false.
    #[allow(dead_code)]
    autoremove: Option<Bool>,
    #[allow(dead_code)]
    autoclean: Option<Bool>,
    #[allow(dead_code)]
    clean: Option<Bool>,
    #[allow(dead_code)]
    force: Option<Bool>,
    #[allow(dead_code)]
    only_upgrade: Option<Bool>,
    #[allow(dead_code)]
    fail_on_autoremove: Option<Bool>,
}

/// The wanted package state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PkgState {
    /// Installed (any version unless pinned).
    Present,
    /// Installed at the candidate version.
    Latest,
    /// Not installed.
    Absent,
}

/// A package with an optional `=version` pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
}

impl Spec {
    fn arg(&self) -> String {
        match &self.version {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The apt task, ready to probe.
pub(crate) struct Apt {
    specs: Vec<Spec>,
    state: PkgState,
    /// Seconds the cache stays valid, when an update was asked for.
    update_cache: Option<i64>,
    retries: i64,
    retry_max_delay: i64,
    purge: bool,
    deb: Option<String>,
    /// `-t`, `-o …` and `--allow-…` options for install commands.
    install_options: Vec<String>,
    /// Dpkg and lock options for every apt-get command.
    common_options: Vec<String>,
    /// `DPkg::Lock::Timeout=N` (also for `apt-get update`).
    lock_option: String,
}

/// Prepares an `apt` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::remote(Apt::from_args(args)?)
}

impl Apt {
    pub(crate) fn from_args(args: &Map<String, Value>) -> Result<Apt, ModuleError> {
        let args = util::canonical_args("apt", args, ALIASES)?;
        util::refuse("apt", &args, &["policy_rc_d"])?;
        for key in REFUSED_IF_TRUE {
            if args.get(*key).and_then(to_bool) == Some(true) {
                return Err(ModuleError::params(format!(
                    "module `apt`: `{key}: true` is not implemented in drover"
                )));
            }
        }
        let p: Params = parse("apt", &args)?;
        if let Some(up) = &p.upgrade
            && !(to_bool(up) == Some(false) || up.as_str() == Some("no"))
        {
            return Err(ModuleError::params(
                "module `apt`: `upgrade` (other than `no`) is not implemented in drover",
            ));
        }
        let state = match p.state.as_deref().unwrap_or("present") {
            "present" => PkgState::Present,
            "latest" => PkgState::Latest,
            "absent" => PkgState::Absent,
            s @ ("build-dep" | "fixed") => {
                return Err(ModuleError::params(format!(
                    "module `apt`: state `{s}` is not implemented in drover"
                )));
            }
            s @ ("installed" | "removed") => {
                return Err(ModuleError::params(format!(
                    "module `apt`: value of state must be one of: absent, build-dep, fixed, latest, present, got: {s} (ansible's apt has no `{s}`; use `{}`)",
                    if s == "installed" {
                        "present"
                    } else {
                        "absent"
                    }
                )));
            }
            s => {
                return Err(ModuleError::params(format!(
                    "module `apt`: value of state must be one of: absent, build-dep, fixed, latest, present, got: {s}"
                )));
            }
        };
        let names = p.name.map(|n| n.0).unwrap_or_default();
        let specs = names
            .iter()
            .map(|n| split_spec("apt", n, state))
            .collect::<Result<Vec<_>, _>>()?;
        if p.deb.is_some() && !specs.is_empty() {
            return Err(ModuleError::params(
                "module `apt`: parameters are mutually exclusive: deb|package",
            ));
        }
        if p.deb.is_some() && state != PkgState::Present {
            return Err(ModuleError::params(
                "module `apt`: deb only supports state=present",
            ));
        }
        let update =
            p.update_cache.is_some_and(|b| b.0) || p.cache_valid_time.is_some_and(|t| t.0 > 0);
        if specs.is_empty() && p.deb.is_none() && !update {
            return Err(ModuleError::params(
                "module `apt`: one of the following is required: autoremove, deb, package, update_cache, upgrade",
            ));
        }
        let mut common = Vec::new();
        let dpkg = p
            .dpkg_options
            .unwrap_or_else(|| "force-confdef,force-confold".into());
        for opt in dpkg.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            common.push("-o".to_string());
            common.push(format!("Dpkg::Options::=--{opt}"));
        }
        let lock_option = format!("DPkg::Lock::Timeout={}", p.lock_timeout.map_or(60, |t| t.0));
        common.push("-o".into());
        common.push(lock_option.clone());
        let mut install = Vec::new();
        if let Some(release) = &p.default_release {
            install.push("-t".into());
            install.push(release.clone());
        }
        match p.install_recommends {
            Some(Bool(false)) => install.extend(["-o".into(), "APT::Install-Recommends=no".into()]),
            Some(Bool(true)) => install.extend(["-o".into(), "APT::Install-Recommends=yes".into()]),
            None => {}
        }
        for (flag, on) in [
            ("--allow-unauthenticated", p.allow_unauthenticated),
            ("--allow-downgrades", p.allow_downgrade),
            ("--allow-change-held-packages", p.allow_change_held_packages),
        ] {
            if on.is_some_and(|b| b.0) {
                install.push(flag.into());
            }
        }
        let _ = p.force_apt_get; // drover always uses apt-get
        Ok(Apt {
            specs,
            state,
            update_cache: update.then(|| p.cache_valid_time.map_or(0, |t| t.0)),
            retries: p.update_cache_retries.map_or(5, |r| r.0).max(1),
            retry_max_delay: p.update_cache_retry_max_delay.map_or(12, |r| r.0),
            purge: p.purge.is_some_and(|b| b.0),
            deb: p.deb,
            install_options: install,
            common_options: common,
            lock_option,
        })
    }
}

/// Splits `name=version`, refusing what drover does not implement.
pub(crate) fn split_spec(module: &str, text: &str, state: PkgState) -> Result<Spec, ModuleError> {
    let text = text.trim();
    if text.contains(['*', '?', '[']) {
        return Err(ModuleError::params(format!(
            "module `{module}`: package patterns such as `{text}` are not implemented in drover; name the packages"
        )));
    }
    if text.contains(">=") || text.contains("<=") || text.contains('<') || text.contains('>') {
        return Err(ModuleError::params(format!(
            "module `{module}`: version comparisons such as `{text}` are not implemented in drover; pin with `name=version`"
        )));
    }
    if text.matches('=').count() > 1 {
        return Err(ModuleError::params(format!(
            "module `{module}`: invalid package spec: {text}"
        )));
    }
    let (name, version) = match text.split_once('=') {
        Some((n, v)) => (n.to_string(), Some(v.to_string())),
        None => (text.to_string(), None),
    };
    if name.is_empty() || name.starts_with('-') || version.as_deref() == Some("") {
        return Err(ModuleError::params(format!(
            "module `{module}`: invalid package spec: `{text}`"
        )));
    }
    if version.is_some() && state == PkgState::Latest {
        return Err(ModuleError::params(format!(
            "module `{module}`: `{text}` pins a version; use state=present with a pinned version"
        )));
    }
    Ok(Spec { name, version })
}

const ENV: &str =
    "export DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical LC_ALL=C LANG=C LANGUAGE=C\n";
const SIM_MARKER: &str = "--drover-apt-simulate--";
/// The probe's `has NAME [VERSION]`: whether dpkg has NAME installed (at VERSION), from the
/// `pkg<TAB>name<TAB>status<TAB>version` lines in `$q`.
const HAS: &str = "has() {
  case $1 in *:*|*'*'*|*'?'*|*'['*)
    dpkg-query -W -f='${Status}|${Version}\\n' -- \"$1\" 2>/dev/null | { while IFS='|' read -r st ver; do case \"$st\" in *' installed') if [ -z \"$2\" ] || [ \"$ver\" = \"$2\" ]; then exit 0; fi ;; esac; done; exit 1; }
    return ;;
  esac
  while IFS='\t' read -r _ n st ver; do
    case $n in \"$1\"|\"$1\":*) ;; *) continue ;; esac
    case $st in *' installed') if [ -z \"$2\" ] || [ \"$ver\" = \"$2\" ]; then return 0; fi ;; esac
  done <<DROVER_EOF
$q
DROVER_EOF
  return 1
}
";
/// What apt-get prints when it did nothing (Ansible's `APT_GET_ZERO`).
const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";

/// What dpkg knows of one package.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Installed {
    name: String,
    /// `install ok installed`, `deinstall ok config-files`, …
    status: String,
    version: String,
}

impl Installed {
    /// dpkg's status word is `installed` (whatever the selection: install, hold, deinstall).
    fn is_installed(&self) -> bool {
        self.status.split(' ').nth(2) == Some("installed")
    }
}

/// The parsed probe.
#[derive(Debug, Default)]
struct Probe {
    now: i64,
    cache_mtime: i64,
    /// `cache=` as printed (seconds with nanoseconds).
    cache_stamp: String,
    packages: Vec<Installed>,
    simulated: Option<(i32, String)>,
    deb: Option<(String, String)>,
    deb_error: Option<String>,
}

/// What `apply` does.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    /// Run `apt-get update` first.
    update: bool,
    /// Package arguments to install or remove (or the deb), decided by the probe.
    packages: Vec<String>,
    /// With a stale cache, `latest` is decided again after the update: apt-get installs every
    /// package's candidate and its output says whether anything changed.
    redecide: bool,
    /// The probe's cache time (for `cache_updated`), as printed (with nanoseconds).
    cache_stamp: String,
}

impl Apt {
    /// Lines printing the cache's time (`cache=`, Ansible reports it as `cache_update_time`)
    /// and, when `cache_valid_time` has to be compared with it, the node's clock (`now=`).
    fn cache_line(with_now: bool) -> String {
        let now = if with_now {
            "echo \"now=$(date +%s)\"\n"
        } else {
            ""
        };
        format!(
            "{now}if [ -e /var/lib/apt/periodic/update-success-stamp ]; then echo \"cache=$(stat -c %.9Y /var/lib/apt/periodic/update-success-stamp)\"; \
             elif [ -e /var/lib/apt/lists ]; then echo \"cache=$(stat -c %.9Y /var/lib/apt/lists)\"; else echo cache=0; fi\n"
        )
    }

    pub(crate) fn probe_script(&self) -> String {
        let mut s = String::from(ENV);
        s.push_str("command -v apt-get >/dev/null 2>&1 || { echo 'error=apt-get not found on this node (not a Debian-family system?)'; exit 0; }\n");
        s.push_str(&Self::cache_line(self.update_cache.is_some_and(|v| v > 0)));
        if let Some(deb) = &self.deb {
            if deb.contains("://") {
                // Not downloaded yet: decided at apply time.
                s.push_str("echo deb=remote\n");
            } else {
                s.push_str(&format!(
                    "d={}\nif [ ! -f \"$d\" ]; then echo 'deb_error=missing'; exit 0; fi\n\
                     p=$(dpkg-deb -f \"$d\" Package) && v=$(dpkg-deb -f \"$d\" Version) || {{ echo deb_error=unreadable; exit 0; }}\n\
                     printf 'deb=%s\\t%s\\n' \"$p\" \"$v\"\n\
                     dpkg-query -W -f='pkg\\t${{Package}}\\t${{Status}}\\t${{Version}}\\n' -- \"$p\" 2>/dev/null\n",
                    quote(deb)
                ));
            }
            return s;
        }
        if self.specs.is_empty() {
            return s;
        }
        let names: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        s.push_str(&format!(
            "q=$(dpkg-query -W -f='pkg\\t${{binary:Package}}\\t${{Status}}\\t${{Version}}\\n' -- {} 2>/dev/null)\n\
             [ -z \"$q\" ] || printf '%s\\n' \"$q\"\n",
            join(&names)
        ));
        if self.state == PkgState::Absent {
            return s;
        }
        // What to simulate: present → the specs dpkg does not have (at the pinned version);
        // latest → all. `has NAME [VERSION]` reads the query above (no process); names with an
        // architecture or a pattern ask dpkg-query, which knows how they match.
        s.push_str(HAS);
        s.push_str("set --\n");
        for spec in &self.specs {
            let arg = quote(&spec.arg());
            if self.state == PkgState::Latest {
                s.push_str(&format!("set -- \"$@\" {arg}\n"));
            } else {
                let version = quote(spec.version.as_deref().unwrap_or(""));
                s.push_str(&format!(
                    "has {} {version} || set -- \"$@\" {arg}\n",
                    quote(&spec.name)
                ));
            }
        }
        s.push_str(&format!(
            "if [ $# -gt 0 ]; then echo {SIM_MARKER}; apt-get -s -q -y {} install \"$@\" 2>&1; echo \"sim_rc=$?\"; fi\n",
            join(&self.install_options)
        ));
        s
    }

    fn parse_probe(text: &str) -> Result<Probe, ModuleError> {
        if let Some(err) = line_value(text, "error") {
            return Err(ModuleError::node(err.to_string()));
        }
        let (head, sim) = match text.split_once(&format!("{SIM_MARKER}\n")) {
            Some((h, s)) => (h, Some(s)),
            None => (text, None),
        };
        let number = |key: &str| {
            line_value(head, key).and_then(|v| v.trim().parse::<f64>().ok().map(|f| f as i64))
        };
        let mut probe = Probe {
            cache_mtime: number("cache").ok_or_else(|| {
                ModuleError::node(format!(
                    "unexpected apt probe output: {}",
                    text.chars().take(300).collect::<String>()
                ))
            })?,
            now: number("now").unwrap_or(0),
            cache_stamp: line_value(head, "cache").unwrap_or("").trim().to_string(),
            ..Probe::default()
        };
        for line in head.lines() {
            if let Some(rest) = line.strip_prefix("pkg\t") {
                let mut f = rest.split('\t');
                let (Some(name), Some(status), version) = (f.next(), f.next(), f.next()) else {
                    continue;
                };
                probe.packages.push(Installed {
                    name: name.split(':').next().unwrap_or(name).to_string(),
                    status: status.to_string(),
                    version: version.unwrap_or("").to_string(),
                });
            }
        }
        if let Some(d) = line_value(head, "deb")
            && let Some((p, v)) = d.split_once('\t')
        {
            probe.deb = Some((p.to_string(), v.to_string()));
        }
        probe.deb_error = line_value(head, "deb_error").map(String::from);
        if let Some(sim) = sim {
            let (body, rc) = match sim.rsplit_once("sim_rc=") {
                Some((body, rc)) => (body, rc.trim().parse().unwrap_or(1)),
                None => (sim, 1),
            };
            probe.simulated = Some((rc, body.to_string()));
        }
        Ok(probe)
    }

    fn installed<'a>(probe: &'a Probe, name: &str) -> Option<&'a Installed> {
        probe
            .packages
            .iter()
            .find(|p| p.name == name && p.is_installed())
    }

    fn result(update: bool, probe: &Probe) -> ModuleResult {
        ModuleResult::ok()
            .with("cache_updated", update)
            .with("cache_update_time", probe.cache_mtime)
    }
}

/// Names apt-get's simulation would install or upgrade (`Inst name …` lines).
fn simulated_installs(sim: &str) -> Vec<String> {
    sim.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|n| n.split(':').next().unwrap_or(n).to_string())
        .collect()
}

/// The reason apt-get's simulation failed, phrased like Ansible when a package is unknown.
fn simulation_failure(sim: &str) -> String {
    for line in sim.lines() {
        if let Some(name) = line.strip_prefix("E: Unable to locate package ") {
            return format!("No package matching '{}' is available", name.trim());
        }
        if let Some(rest) = line.strip_prefix("E: Version '")
            && let Some((version, pkg)) = rest.split_once("' for '")
        {
            let pkg = pkg.split('\'').next().unwrap_or(pkg);
            return format!("no available installation candidate for {pkg}={version}");
        }
    }
    let errors: Vec<&str> = sim.lines().filter(|l| l.starts_with("E: ")).collect();
    if errors.is_empty() {
        format!("apt-get could not plan the installation: {}", sim.trim())
    } else {
        errors.join("\n")
    }
}

impl Action for Apt {
    fn probe(&self) -> Option<Request> {
        Some(Request::new(self.probe_script()))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("apt needs its probe"))?;
        let probe = Apt::parse_probe(&out.stdout_text())?;
        let update = self
            .update_cache
            // Ansible compares the cache's mtime (with its fraction) plus cache_valid_time with
            // the clock: without a valid time the cache is always older, so always updated.
            .is_some_and(|valid| valid <= 0 || probe.cache_mtime + valid < probe.now);
        // Ansible's removal path and its early failures report no cache fields.
        let result = if self.state == PkgState::Absent {
            ModuleResult::ok()
        } else {
            Apt::result(update, &probe)
        };
        let packages = match &self.deb {
            Some(deb) => self.deb_packages(deb, &probe)?,
            None => self.packages_to_change(&probe),
        };
        if let Some((rc, sim)) = &probe.simulated
            && *rc != 0
            && !packages.is_empty()
            && !update
        {
            // apt cannot do it: fail now (also in check mode), as Ansible does.
            return Ok(Plan::satisfied(ModuleResult::failed(simulation_failure(
                sim,
            ))));
        }
        let work = Work {
            update,
            redecide: update && self.state == PkgState::Latest && self.deb.is_none(),
            packages,
            cache_stamp: probe.cache_stamp.clone(),
        };
        if work.packages.is_empty() && !work.update {
            return Ok(Plan::satisfied(result));
        }
        let cache_only = self.specs.is_empty() && self.deb.is_none();
        let changes = !work.packages.is_empty() || cache_only;
        let mut plan = Plan::change(result, work);
        // A refreshed cache with nothing to install is reported unchanged, like Ansible.
        plan.result.changed = changes;
        Ok(plan)
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        let Ok(work) = plan.state::<Work>() else {
            return Vec::new();
        };
        let mut s = String::from(ENV);
        if work.update {
            s.push_str(&format!(
                "i=1; delay=1\n\
                 while :; do\n  \
                 err=$(apt-get update -q -o {} 2>&1 >/dev/null) && break\n  \
                 if [ $i -ge {retries} ]; then printf 'Failed to update apt cache after {retries} retries: %s\\n' \"$err\" >&2; exit 100; fi\n  \
                 sleep $delay; i=$((i+1)); delay=$((delay*2)); if [ $delay -gt {max} ]; then delay={max}; fi\n\
                 done\n",
                quote(&self.lock_option),
                retries = self.retries,
                max = self.retry_max_delay.max(1),
            ));
            s.push_str(&Apt::cache_line(true));
            s.push_str(&format!("echo {SIM_MARKER}\n"));
        }
        let packages: Vec<String> = if work.redecide {
            self.specs.iter().map(Spec::arg).collect()
        } else {
            work.packages.clone()
        };
        if let Some(deb) = &self.deb {
            if !packages.is_empty() {
                s.push_str(&self.deb_install(deb));
            }
        } else if !packages.is_empty() {
            match self.state {
                PkgState::Absent => s.push_str(&format!(
                    "apt-get -q -y {}{} remove {}\n",
                    join(&self.common_options),
                    if self.purge { " --purge" } else { "" },
                    join(&packages)
                )),
                _ => {
                    s.push_str(&format!(
                        "apt-get -y {}{} install {} || exit $?\n",
                        join(&self.common_options),
                        self.install_options
                            .iter()
                            .map(|o| format!(" {}", quote(o)))
                            .collect::<String>(),
                        join(&packages)
                    ));
                    let names: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
                    s.push_str(&format!("apt-mark manual {} >/dev/null\n", join(&names)));
                }
            }
        }
        vec![Request::new(s)]
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("apt", outputs)?;
        let work = plan.state::<Work>()?;
        let text = out.stdout_text();
        let (head, body) = match text.split_once(&format!("{SIM_MARKER}\n")) {
            Some((h, b)) if work.update => (Some(h), b.to_string()),
            _ => (None, text.clone()),
        };
        let mut r = plan.result.clone();
        if let Some(stamp) = head
            .filter(|_| self.state != PkgState::Absent)
            .and_then(|h| line_value(h, "cache"))
            .map(str::trim)
            && let Ok(t) = stamp.parse::<f64>()
        {
            // Compared to the nanosecond: an update within the second of the last one counts.
            r = r
                .with("cache_update_time", t as i64)
                .with("cache_updated", stamp != work.cache_stamp);
        }
        if out.status != 0 {
            r.changed = false;
            r.failed = true;
            r.rc = Some(out.status);
            r.stdout = Some(body);
            r.stderr = Some(out.stderr_text());
            r.msg = Some(if work.update && head.is_none() {
                trimmed(&out.stderr)
            } else {
                let verb = if self.state == PkgState::Absent {
                    "remove"
                } else {
                    "install"
                };
                let what = match &self.deb {
                    Some(deb) => quote(deb),
                    None => join(&work.packages),
                };
                format!("'apt-get {verb} {what}' failed: {}", out.stderr_text())
            });
            return Ok(r);
        }
        let cache_only = self.specs.is_empty() && self.deb.is_none();
        r.changed = if cache_only {
            r.extra.get("cache_updated") == Some(&Value::Bool(true))
        } else if work.redecide || self.deb.is_some() {
            !body.trim().is_empty() && !body.contains(APT_GET_ZERO)
        } else {
            !work.packages.is_empty()
        };
        if !cache_only && (r.changed || !body.is_empty()) {
            r.stdout = Some(body);
            r.stderr = Some(out.stderr_text());
        }
        Ok(r)
    }
}

impl Apt {
    /// Packages `present`/`latest`/`absent` would change.
    fn packages_to_change(&self, probe: &Probe) -> Vec<String> {
        match self.state {
            PkgState::Absent => self
                .specs
                .iter()
                .filter(|s| {
                    probe.packages.iter().any(|p| {
                        p.name == s.name
                            && (p.is_installed()
                                || (self.purge && p.status.ends_with("config-files")))
                    })
                })
                .map(Spec::arg)
                .collect(),
            PkgState::Present | PkgState::Latest => {
                let upgrades = probe
                    .simulated
                    .as_ref()
                    .map(|(_, sim)| simulated_installs(sim))
                    .unwrap_or_default();
                self.specs
                    .iter()
                    .filter(|s| match Apt::installed(probe, &s.name) {
                        None => true,
                        Some(i) => match (&s.version, self.state) {
                            (Some(v), _) => &i.version != v,
                            (None, PkgState::Latest) => upgrades.contains(&s.name),
                            (None, _) => false,
                        },
                    })
                    .map(Spec::arg)
                    .collect()
            }
        }
    }

    /// `[deb]` when the .deb must be installed, empty when its version is installed.
    fn deb_packages(&self, deb: &str, probe: &Probe) -> Result<Vec<String>, ModuleError> {
        match probe.deb_error.as_deref() {
            Some("missing") => {
                return Err(ModuleError::node(format!(
                    "Unable to install package: '{deb}' does not exist on the node (apt's `deb` is a path on the node; copy it there first)"
                )));
            }
            Some(other) => {
                return Err(ModuleError::node(format!(
                    "Unable to read '{deb}' as a Debian package ({other})"
                )));
            }
            None => {}
        }
        if let Some((name, version)) = &probe.deb
            && Apt::installed(probe, name).is_some_and(|i| &i.version == version)
        {
            return Ok(Vec::new());
        }
        Ok(vec![deb.to_string()])
    }

    fn deb_install(&self, deb: &str) -> String {
        let mut s = String::new();
        let path = if deb.contains("://") {
            s.push_str(&format!(
                "dir=$(mktemp -d)\ntrap 'rm -rf -- \"$dir\"' EXIT\n\
                 curl -fsSL -o \"$dir/package.deb\" -- {} || exit $?\n\
                 p=$(dpkg-deb -f \"$dir/package.deb\" Package); v=$(dpkg-deb -f \"$dir/package.deb\" Version)\n\
                 if [ \"$(dpkg-query -W -f='${{Status}} ${{Version}}' -- \"$p\" 2>/dev/null)\" = \"install ok installed $v\" ]; then exit 0; fi\n",
                quote(deb),
            ));
            "\"$dir/package.deb\"".to_string()
        } else if deb.starts_with('/') || deb.starts_with("./") {
            quote(deb)
        } else {
            quote(&format!("./{deb}"))
        };
        s.push_str(&format!(
            "apt-get -y {}{} install {path}\n",
            join(&self.common_options),
            self.install_options
                .iter()
                .map(|o| format!(" {}", quote(o)))
                .collect::<String>(),
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out};
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    const HEAD: &str = "now=1700000000\ncache=1699999000\n";

    /// The probe's `has`, run by /bin/sh on a canned dpkg-query answer: installed (also as
    /// `name:arch`), at a pinned version or not, config-files only, half-installed, unknown.
    #[test]
    fn has_reads_the_captured_query() {
        let q = "pkg\tlibc6:amd64\tinstall ok installed\t2.36-9\n\
                 pkg\tfoo\tdeinstall ok config-files\t1.0\n\
                 pkg\tbar\thold ok installed\t3.1\n\
                 pkg\tbaz\tinstall reinstreq half-installed\t2\n\
                 pkg\tfoo-extra\tinstall ok installed\t1";
        let script = format!(
            "{HAS}q='{q}'\n\
             for c in 'libc6 ' 'libc6 2.36-9' 'libc6 2.35' 'foo ' 'bar ' 'bar 3.1' 'bar 3.2' 'baz ' 'nosuch ' 'foo-extra '; do\n\
               set -- $c; if has \"$1\" \"${{2:-}}\"; then echo \"$c: yes\"; else echo \"$c: no\"; fi\n\
             done\n"
        );
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "libc6 : yes\nlibc6 2.36-9: yes\nlibc6 2.35: no\nfoo : no\nbar : yes\nbar 3.1: yes\nbar 3.2: no\nbaz : no\nnosuch : no\nfoo-extra : yes\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn probe(body: &str) -> Output {
        out(0, &format!("{HEAD}{body}"), "")
    }

    #[test]
    fn probe_script_asks_dpkg_and_simulates_the_missing() {
        let a = Apt::from_args(
            json!({"name": ["nginx", "curl=7.88.1-10"], "install_recommends": false})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let s = a.probe_script();
        assert!(s.contains("dpkg-query -W -f='pkg\\t${binary:Package}\\t${Status}\\t${Version}\\n' -- nginx curl 2>/dev/null"), "{s}");
        assert!(s.contains("has nginx '' || set -- \"$@\" nginx\n"), "{s}");
        assert!(
            s.contains("has curl 7.88.1-10 || set -- \"$@\" curl=7.88.1-10\n"),
            "{s}"
        );
        assert!(
            s.contains("apt-get -s -q -y -o APT::Install-Recommends=no install \"$@\""),
            "{s}"
        );
    }

    #[test]
    fn present_installs_only_what_is_missing() {
        let a = action("apt", json!({"name": ["nginx", "curl"]}));
        let plan = a
            .plan(Some(&probe(
                "pkg\tcurl\tinstall ok installed\t7.88\n--drover-apt-simulate--\nInst nginx (1.22 Debian:12)\nsim_rc=0\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert_eq!(plan.result.extra["cache_updated"], json!(false));
        assert_eq!(plan.result.extra["cache_update_time"], json!(1699999000));
        let script = &a.apply(&plan)[0].script;
        assert!(
            script.starts_with("export DEBIAN_FRONTEND=noninteractive"),
            "{script}"
        );
        assert!(
            script.contains("apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=60 install nginx || exit $?\napt-mark manual nginx curl >/dev/null\n"),
            "{script}"
        );
        assert!(!script.contains("apt-get update"));
        let r = a
            .finish(&plan, &[out(0, "Setting up nginx\n", "")])
            .unwrap();
        assert!(r.changed && !r.failed);
        assert_eq!(r.stdout.as_deref(), Some("Setting up nginx\n"));
    }

    #[test]
    fn all_installed_is_satisfied_with_one_probe() {
        let a = action("apt", json!({"name": "nginx", "state": "present"}));
        let plan = a
            .plan(Some(&probe("pkg\tnginx\tinstall ok installed\t1.22\n")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert!(!plan.result.changed);
    }

    #[test]
    fn unknown_package_fails_even_in_check_mode() {
        let a = action("apt", json!({"name": "nosuchpkg"}));
        let plan = a
            .plan(Some(&probe(
                "--drover-apt-simulate--\nReading package lists...\nE: Unable to locate package nosuchpkg\nsim_rc=100\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert!(plan.result.failed);
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("No package matching 'nosuchpkg' is available")
        );
    }

    #[test]
    fn latest_upgrades_when_the_simulation_says_so() {
        let a = action("apt", json!({"name": ["curl", "jq"], "state": "latest"}));
        let plan = a
            .plan(Some(&probe(
                "pkg\tcurl\tinstall ok installed\t7.88.1-10\npkg\tjq\tinstall ok installed\t1.6\n--drover-apt-simulate--\nInst curl [7.88.1-10] (7.88.1-10+deb12u5 Debian-Security:12/stable-security [amd64])\nConf curl\nsim_rc=0\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(
            a.apply(&plan)[0]
                .script
                .contains(" install curl || exit $?")
        );
        let plan = a
            .plan(Some(&probe(
                "pkg\tcurl\tinstall ok installed\t7.88.1-10\npkg\tjq\tinstall ok installed\t1.6\n--drover-apt-simulate--\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\nsim_rc=0\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
    }

    #[test]
    fn version_pin_reinstalls_another_version() {
        let a = action("apt", json!({"name": "consul=1.8.7+dfsg1-1"}));
        let plan = a
            .plan(Some(&probe(
                "pkg\tconsul\tinstall ok installed\t1.8.7+dfsg1-1\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        let plan = a
            .plan(Some(&probe(
                "pkg\tconsul\tinstall ok installed\t1.8.6\n--drover-apt-simulate--\nInst consul\nsim_rc=0\n",
            )))
            .unwrap();
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("install consul=1.8.7+dfsg1-1")
        );
    }

    #[test]
    fn absent_removes_installed_and_purge_config_files() {
        let a = action(
            "apt",
            json!({"name": ["a", "b", "c"], "state": "absent", "purge": true}),
        );
        let plan = a
            .plan(Some(&probe(
                "pkg\ta\tinstall ok installed\t1\npkg\tb\tdeinstall ok config-files\t1\npkg\tc\tunknown ok not-installed\t\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let script = &a.apply(&plan)[0].script;
        assert!(
            script.contains("-o DPkg::Lock::Timeout=60 --purge remove a b\n"),
            "{script}"
        );
        let a = action("apt", json!({"name": "a", "state": "absent"}));
        let plan = a
            .plan(Some(&probe("pkg\ta\tdeinstall ok config-files\t1\n")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
    }

    #[test]
    fn update_cache_respects_cache_valid_time() {
        // cache is 1000 s old
        let a = action(
            "apt",
            json!({"update_cache": true, "cache_valid_time": 3600}),
        );
        let plan = a.plan(Some(&probe(""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(plan.result.extra["cache_updated"], json!(false));
        let a = action("apt", json!({"update_cache": "yes"}));
        // Without cache_valid_time Ansible always updates, even a cache from this very second
        // (and the probe does not need the node's clock).
        assert!(!a.probe().unwrap().script.contains("now="));
        let fresh = a.plan(Some(&out(0, "cache=1700000000\n", ""))).unwrap();
        assert_eq!(fresh.outcome, Outcome::Change);
        let plan = a.plan(Some(&probe(""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(plan.result.changed);
        let script = &a.apply(&plan)[0].script;
        assert!(
            script.contains("apt-get update -q -o DPkg::Lock::Timeout=60"),
            "{script}"
        );
        let r = a
            .finish(
                &plan,
                &[out(
                    0,
                    "now=1700000001\ncache=1700000001\n--drover-apt-simulate--\n",
                    "",
                )],
            )
            .unwrap();
        assert!(r.changed);
        assert_eq!(r.extra["cache_updated"], json!(true));
        assert_eq!(r.extra["cache_update_time"], json!(1700000001));
    }

    #[test]
    fn update_with_installed_packages_is_unchanged() {
        let a = action("apt", json!({"name": "curl", "update_cache": true}));
        let plan = a
            .plan(Some(&probe("pkg\tcurl\tinstall ok installed\t1\n")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(!plan.result.changed);
        let script = &a.apply(&plan)[0].script;
        assert!(script.contains("apt-get update"));
        assert!(!script.contains(" install "));
        let r = a
            .finish(
                &plan,
                &[out(0, "now=1\ncache=5\n--drover-apt-simulate--\n", "")],
            )
            .unwrap();
        assert!(!r.changed);
    }

    #[test]
    fn install_failure_reports_ansible_message() {
        let a = action("apt", json!({"name": "x"}));
        let plan = a
            .plan(Some(&probe("--drover-apt-simulate--\nInst x\nsim_rc=0\n")))
            .unwrap();
        let r = a.finish(&plan, &[out(100, "", "E: boom\n")]).unwrap();
        assert!(r.failed && !r.changed);
        assert_eq!(
            r.msg.as_deref(),
            Some("'apt-get install x' failed: E: boom\n")
        );
        assert_eq!(r.rc, Some(100));
    }

    #[test]
    fn deb_is_a_node_path_installed_unless_same_version() {
        let a = action("apt", json!({"deb": "/tmp/consul_1.8.7.deb"}));
        let probe_script = a.probe().unwrap().script;
        assert!(
            probe_script.contains("d=/tmp/consul_1.8.7.deb"),
            "{probe_script}"
        );
        let plan = a
            .plan(Some(&probe(
                "deb=consul\t1.8.7\npkg\tconsul\tinstall ok installed\t1.8.7\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        let plan = a.plan(Some(&probe("deb=consul\t1.8.7\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert!(
            a.apply(&plan)[0]
                .script
                .contains("install /tmp/consul_1.8.7.deb\n")
        );
        let err = a
            .plan(Some(&probe("deb_error=missing\n")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not exist on the node"), "{err}");
    }

    #[test]
    fn refusals_and_validation() {
        assert!(
            error("apt", json!({"name": "x", "autoremove": true}))
                .contains("`autoremove: true` is not implemented")
        );
        assert!(error("apt", json!({"name": "x", "state": "installed"})).contains("use `present`"));
        assert!(error("apt", json!({"name": "nginx*"})).contains("package patterns"));
        assert!(error("apt", json!({"name": "a=1=2"})).contains("invalid package spec"));
        assert!(
            error("apt", json!({"state": "present"})).contains("one of the following is required")
        );
        assert!(error("apt", json!({"name": "x", "upgrade": "dist"})).contains("`upgrade`"));
        assert!(error("apt", json!({"name": "x", "pkg": "y"})).contains("alias"));
        // accepted no-op defaults
        let _ = action(
            "apt",
            json!({"name": "x", "autoremove": false, "upgrade": "no", "force_apt_get": true}),
        );
    }

    #[test]
    fn parses_installed_status() {
        let i = |s: &str| Installed {
            name: "x".into(),
            status: s.into(),
            version: "1".into(),
        };
        assert!(i("install ok installed").is_installed());
        assert!(i("hold ok installed").is_installed());
        assert!(i("deinstall ok installed").is_installed());
        assert!(!i("deinstall ok config-files").is_installed());
        assert!(!i("install ok half-installed").is_installed());
        assert!(!i("unknown ok not-installed").is_installed());
    }

    /// The probe's shell really runs (no dpkg needed: missing tools answer `error=`/empty).
    #[tokio::test]
    async fn probe_runs_in_a_real_shell() {
        let a = action("apt", json!({"name": "definitely-not-a-package-xyz"}));
        let o = super::super::util::testing::run_local(&a.probe().unwrap()).await;
        assert_eq!(o.status, 0, "{}", o.stderr_text());
        let text = o.stdout_text();
        if text.contains("error=") {
            return; // not a Debian host
        }
        let plan = a.plan(Some(&o)).unwrap();
        assert!(plan.result.failed, "{text}");
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("No package matching 'definitely-not-a-package-xyz' is available")
        );
    }
}
