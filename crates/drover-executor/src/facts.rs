//! `gather_facts` / `setup`: one read-only shell round trip, no Python.
//!
//! Gathers what playbooks branch on: OS family, distribution and version, hostname, init system,
//! package manager, architecture, kernel and the default IPv4 address. Facts are returned under
//! Ansible's names (`ansible_facts.distribution`, …) and injected as `ansible_<name>` variables,
//! as Ansible does by default (`INJECT_FACTS_AS_VARS`).

use drover_connection::Request;
use serde_json::{Map, Value, json};

/// The facts probe.
pub fn script() -> Request {
    Request::new(
        r#"if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "id=${ID:-}"
echo "version_id=${VERSION_ID:-}"
echo "codename=${VERSION_CODENAME:-}"
if [ -r /etc/debian_version ]; then echo "debian_version=$(cat /etc/debian_version)"; fi
echo "hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)"
echo "fqdn=$(hostname -f 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "system=$(uname -s)"
if [ -d /run/systemd/system ]; then echo init=systemd; else echo "init=$(cat /proc/1/comm 2>/dev/null)"; fi
for p in apt-get dnf yum zypper apk pacman; do if command -v "$p" >/dev/null 2>&1; then echo "pkg=$p"; break; fi; done
dev=$(ip -4 route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
if [ -n "$dev" ]; then
  echo "iface=$dev"
  echo "ipv4=$(ip -4 -o addr show dev "$dev" 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n 1)"
fi
echo "python=$(command -v python3 2>/dev/null)"
"#,
    )
}

/// Parses the probe output into `(ansible_facts, injected ansible_* vars)`.
/// The facts from the gathering script's output, or why there are none.
pub fn from_output(out: &drover_connection::Output) -> Result<Map<String, Value>, String> {
    if out.status == 0 {
        Ok(parse(&out.stdout_text()))
    } else {
        Err(format!(
            "gathering facts failed: {}",
            out.stderr_text().trim()
        ))
    }
}

/// What gathering reports and registers.
pub(crate) fn gathered(facts: Map<String, Value>) -> crate::outcome::ItemRun {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("ansible_facts".into(), Value::Object(facts.clone()));
    crate::outcome::ItemRun {
        facts: Some(facts),
        ..crate::outcome::ItemRun::new(drover_events::Status::Ok, result)
    }
}

pub fn parse(stdout: &str) -> Map<String, Value> {
    let mut raw = std::collections::HashMap::new();
    for line in stdout.lines() {
        if let Some((k, v)) = line.split_once('=') {
            raw.insert(k.to_string(), v.trim().to_string());
        }
    }
    let get = |k: &str| raw.get(k).cloned().unwrap_or_default();
    let id = get("id");
    let (distribution, os_family) = match id.as_str() {
        "debian" => ("Debian", "Debian"),
        "ubuntu" => ("Ubuntu", "Debian"),
        "centos" => ("CentOS", "RedHat"),
        "rhel" => ("RedHat", "RedHat"),
        "rocky" => ("Rocky", "RedHat"),
        "almalinux" => ("AlmaLinux", "RedHat"),
        "fedora" => ("Fedora", "RedHat"),
        "ol" => ("OracleLinux", "RedHat"),
        "alpine" => ("Alpine", "Alpine"),
        "arch" => ("Archlinux", "Archlinux"),
        _ => ("", ""),
    };
    let version = match (id.as_str(), raw.get("debian_version")) {
        ("debian", Some(v)) if v.chars().next().is_some_and(|c| c.is_ascii_digit()) => v.clone(),
        _ => get("version_id"),
    };
    let major = version.split('.').next().unwrap_or("").to_string();
    let pkg_mgr = match get("pkg").as_str() {
        "apt-get" => "apt".to_string(),
        other => other.to_string(),
    };
    let hostname = get("hostname");
    let mut facts = Map::new();
    facts.insert(
        "distribution".into(),
        json!(if distribution.is_empty() {
            &id
        } else {
            distribution
        }),
    );
    facts.insert("distribution_version".into(), json!(version));
    facts.insert("distribution_major_version".into(), json!(major));
    facts.insert("distribution_release".into(), json!(get("codename")));
    facts.insert(
        "os_family".into(),
        json!(if os_family.is_empty() { &id } else { os_family }),
    );
    facts.insert(
        "hostname".into(),
        json!(hostname.split('.').next().unwrap_or(&hostname)),
    );
    facts.insert("nodename".into(), json!(hostname));
    facts.insert("fqdn".into(), json!(get("fqdn")));
    facts.insert("architecture".into(), json!(get("arch")));
    facts.insert("kernel".into(), json!(get("kernel")));
    facts.insert("system".into(), json!(get("system")));
    facts.insert("service_mgr".into(), json!(get("init")));
    facts.insert("pkg_mgr".into(), json!(pkg_mgr));
    let mut ipv4 = Map::new();
    if let Some(addr) = raw.get("ipv4").filter(|a| !a.is_empty()) {
        ipv4.insert("address".into(), json!(addr));
        ipv4.insert("interface".into(), json!(get("iface")));
    }
    facts.insert("default_ipv4".into(), Value::Object(ipv4));
    let python = get("python");
    if !python.is_empty() {
        facts.insert("python".into(), json!({"executable": python}));
    }
    facts
}

/// The variables a host gets from its facts: `ansible_facts` and each fact as `ansible_<name>`.
pub fn as_vars(facts: &Map<String, Value>) -> Map<String, Value> {
    let mut vars = Map::new();
    for (k, v) in facts {
        vars.insert(format!("ansible_{k}"), v.clone());
    }
    vars.insert("ansible_facts".into(), Value::Object(facts.clone()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_bookworm_facts() {
        let out = "id=debian\nversion_id=12\ncodename=bookworm\ndebian_version=12.8\nhostname=node-1\nfqdn=node-1\n\
                   arch=x86_64\nkernel=6.1.0\nsystem=Linux\ninit=systemd\npkg=apt-get\niface=eth0\nipv4=10.10.10.11\npython=\n";
        let f = parse(out);
        assert_eq!(f["distribution"], "Debian");
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["distribution_version"], "12.8");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["distribution_release"], "bookworm");
        assert_eq!(f["service_mgr"], "systemd");
        assert_eq!(f["pkg_mgr"], "apt");
        assert_eq!(f["default_ipv4"]["address"], "10.10.10.11");
        assert!(!f.contains_key("python"));
        let vars = as_vars(&f);
        assert_eq!(vars["ansible_os_family"], "Debian");
        assert_eq!(vars["ansible_facts"]["hostname"], "node-1");
    }
}
