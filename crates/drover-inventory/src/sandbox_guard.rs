//! The sandbox guard: a run that includes a drover sandbox's connection file reaches every host
//! through loopback, or not at all.
//!
//! `drover sandbox up` writes `.sandbox/<name>/connection.yml`, which maps the sandbox's own
//! nodes (`10.10.10.x` identities) to ports published on 127.0.0.1 and sets `drover_sandbox:
//! <name>` for every host of the run. Combined with an inventory whose hosts the file does not
//! map (another sandbox's inventory, a production inventory), those hosts would be reached at
//! their real addresses: a run meant for a local test bed would touch real machines. When
//! `drover_sandbox` is set, every host must therefore be reached at a loopback address (or run
//! with `connection: local`); otherwise the run stops before any node is touched. Addresses
//! that are templates are checked again once templated, when the host is connected
//! ([`is_loopback`] is shared with the executor).

use std::net::IpAddr;

use drover_diag::Diagnostic;
use serde_json::Value;

use crate::Inventory;

/// The variable a sandbox connection file sets (its value is the sandbox's name).
pub const SANDBOX_VAR: &str = "drover_sandbox";

/// The sandbox's name from the value of [`SANDBOX_VAR`] (a string as is, anything else as JSON).
pub fn sandbox_name(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), String::from)
}

/// True for `localhost` and loopback IP addresses (`127.0.0.0/8`, `::1`, also in brackets).
pub fn is_loopback(address: &str) -> bool {
    let address = address.trim();
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of an ssh destination (`[user@]host[:port]`, `ssh://…`, `[v6]:port`).
pub fn host_of(destination: &str) -> &str {
    let rest = destination.strip_prefix("ssh://").unwrap_or(destination);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split_once(']').map_or(v6, |(h, _)| h);
    }
    match rest.split_once(':') {
        Some((h, port)) if !port.contains(':') => h,
        _ => rest,
    }
}

/// The message for a host a sandbox run would reach outside the sandbox (also used by the
/// executor for templated addresses).
pub fn outside_sandbox_message(host: &str, address: &str, sandbox: &str) -> String {
    format!(
        "host `{host}` would be reached at {address}, outside drover sandbox `{sandbox}`: its connection file maps only the sandbox's own nodes to 127.0.0.1"
    )
}

/// What to do about it.
pub fn outside_sandbox_help(sandbox: &str) -> String {
    format!(
        "use the sandbox's own inventory with its connection file (-i .sandbox/{sandbox}/inventory.yml -i .sandbox/{sandbox}/connection.yml), or leave the connection file out to reach real hosts"
    )
}

impl Inventory {
    /// Those of `hosts` (the hosts a run will reach) that have `drover_sandbox` set, by a
    /// sandbox connection file, and an address that is not a loopback one: one error each,
    /// pointing at the host's line. Hosts with `ansible_connection: local` and addresses that
    /// are templates (checked when connected) pass.
    pub fn check_sandbox_reach(&self, hosts: &[String]) -> Vec<Diagnostic> {
        let mut errors = Vec::new();
        // The variable comes from a connection file (an inventory file): without it there,
        // no host's variables need computing.
        let in_files = self
            .data
            .groups
            .iter()
            .any(|g| g.vars.contains_key(SANDBOX_VAR))
            || self
                .data
                .hosts
                .iter()
                .any(|h| h.vars.contains_key(SANDBOX_VAR));
        if !in_files {
            return errors;
        }
        for host in hosts {
            let host = host.as_str();
            let Some(vars) = self.host_vars(host) else {
                continue;
            };
            let Some(sandbox) = vars.get(SANDBOX_VAR) else {
                continue;
            };
            let sandbox = sandbox_name(sandbox);
            // Where the executor will connect: the same reading of the connection variables.
            // Values it would refuse (a templated port, …) are left to it.
            let Ok(settings) = crate::Connection::from_vars(host, &vars, None) else {
                continue;
            };
            if settings.transport == "local" {
                continue;
            }
            let address = settings.address;
            if address.contains("{{") || is_loopback(&address) {
                continue;
            }
            let mut diag = Diagnostic::error(outside_sandbox_message(host, &address, &sandbox))
                .with_help(outside_sandbox_help(&sandbox));
            if let Some(span) = self.host_span(host) {
                diag = diag.with_span(span.clone()).with_label("host defined here");
            }
            errors.push(diag);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn load(files: &[&str]) -> (Inventory, Vec<tempfile::NamedTempFile>) {
        let temps: Vec<_> = files
            .iter()
            .map(|text| {
                let mut f = tempfile::Builder::new().suffix(".yml").tempfile().unwrap();
                f.write_all(text.as_bytes()).unwrap();
                f
            })
            .collect();
        let paths: Vec<_> = temps.iter().map(|f| f.path().to_path_buf()).collect();
        (Inventory::load(&paths).unwrap().inventory, temps)
    }

    fn all(inv: &Inventory) -> Vec<String> {
        inv.hosts().into_iter().map(String::from).collect()
    }

    const CONNECTION: &str = "all:\n  vars:\n    drover_sandbox: bench\n  children:\n    sandbox:\n      hosts:\n        10.10.11.10: {ansible_host: 127.0.0.1, ansible_port: 2222}\n";

    #[test]
    fn loopback_addresses() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback(a), "{a}");
        }
        for a in [
            "10.10.10.10",
            "192.168.0.1",
            "example.com",
            "::2",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback(a), "{a}");
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(host_of("vagrant@127.0.0.1:2222"), "127.0.0.1");
        assert_eq!(host_of("ssh://u@bastion.example:22"), "bastion.example");
        assert_eq!(host_of("[::1]:22"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn a_sandbox_run_reaches_only_loopback() {
        // the sandbox's own nodes: fine
        let (inv, _f) = load(&[
            "all:\n  hosts:\n    10.10.11.10: {pg_cluster: x}\n",
            CONNECTION,
        ]);
        assert!(inv.check_sandbox_reach(&all(&inv)).is_empty());

        // another inventory's hosts: refused, each at its line; local and templated pass
        let (inv, _f) = load(&[
            "all:\n  hosts:\n    10.10.10.10: {}\n    10.10.10.11: {ansible_host: db.example}\n    ctl: {ansible_connection: local}\n    tpl: {ansible_host: '{{ x }}'}\n",
            CONNECTION,
        ]);
        let errors = inv.check_sandbox_reach(&all(&inv));
        let text: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        assert_eq!(errors.len(), 2, "{text:?}");
        assert!(
            text[0].contains(
                "host `10.10.10.10` would be reached at 10.10.10.10, outside drover sandbox `bench`"
            ),
            "{}",
            text[0]
        );
        assert!(text[0].contains(":3:5"), "{}", text[0]);
        assert!(
            text[0].contains("-i .sandbox/bench/inventory.yml"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("host `10.10.10.11` would be reached at db.example"),
            "{}",
            text[1]
        );

        // without a sandbox connection file nothing is checked
        let (inv, _f) = load(&["all:\n  hosts:\n    10.10.10.10: {}\n"]);
        assert!(inv.check_sandbox_reach(&all(&inv)).is_empty());
    }
}
