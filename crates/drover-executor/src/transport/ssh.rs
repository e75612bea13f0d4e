//! `ansible_connection: ssh` (the default): the system OpenSSH client with one multiplexed
//! master per host.
//!
//! Settings come from the host's connection variables (`ansible_host`, `ansible_port`,
//! `ansible_user`, `ansible_ssh_private_key_file`) and the ssh options users put in
//! `ansible_ssh_common_args`/`ansible_ssh_extra_args`: `-F FILE`, `-J HOST` and
//! `-o Key=Value`. drover models host-key checking, known-hosts files, jump hosts and timeouts;
//! every other `-o` option goes to ssh through a generated config file. The `Control*` options
//! are refused (drover owns the multiplexed master), and so is any other flag, by name.

use std::path::PathBuf;
use std::time::Duration;

use drover_connection::{
    BoxFuture, Connection, ControlDir, HostKeyPolicy, SshConnection, SshOptions,
};
use drover_inventory::Connection as ConnVars;

use super::Endpoint;

/// An ssh endpoint.
#[derive(Debug)]
struct Ssh(SshOptions);

/// The ssh endpoint for a host's settings and ssh argument strings.
pub(super) fn endpoint(vars: &ConnVars, ssh_args: &[String]) -> Result<Box<dyn Endpoint>, String> {
    options(vars, ssh_args).map(|o| Box::new(Ssh(o)) as Box<dyn Endpoint>)
}

impl Endpoint for Ssh {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        control: &'a ControlDir,
    ) -> BoxFuture<'a, drover_connection::Result<Box<dyn Connection>>> {
        Box::pin(async move {
            SshConnection::connect(host, &self.0, control)
                .await
                .map(|c| Box::new(c) as Box<dyn Connection>)
        })
    }

    /// Refuses any address or hop outside loopback and any option that could redirect the
    /// connection, then keeps ssh from reading config files.
    fn confine_to_sandbox(&mut self, host: &str, sandbox: &str) -> Result<(), String> {
        check_sandbox_ssh(host, sandbox, &self.0)?;
        self.0.isolated = true;
        Ok(())
    }

    /// The node as this controller reaches it: its address and port, behind its jump hosts.
    fn lock_key(&self) -> Option<String> {
        let o = &self.0;
        let mut key = format!("{}:{}", o.address, o.port.unwrap_or(22));
        for hop in o.jump_hosts.iter().rev() {
            key = format!("{hop}/{key}");
        }
        Some(key)
    }
}

/// The ssh options of a host.
fn options(vars: &ConnVars, ssh_args: &[String]) -> Result<SshOptions, String> {
    let mut options = SshOptions::new(vars.address.clone());
    options.port = vars.port;
    options.user = vars.user.clone();
    options.key_file = vars.private_key_file.as_ref().map(PathBuf::from);
    options.persist = drover_connection::persist_from_env()?;
    for args in ssh_args {
        apply_ssh_args(&mut options, args)?;
    }
    Ok(options)
}

/// Applies the supported options of an `ansible_ssh_common_args`-style string.
fn apply_ssh_args(options: &mut SshOptions, args: &str) -> Result<(), String> {
    // Ansible's ssh plugin splits these with shlex, comments off.
    let words = drover_python::shlex_split(args, false)
        .map_err(|e| format!("cannot read ssh arguments `{args}`: {e}"))?;
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let mut value_of = |flag: &str, inline: &str| -> Result<String, String> {
            if inline.is_empty() {
                words
                    .next()
                    .ok_or_else(|| format!("ssh option `{flag}` needs a value"))
            } else {
                Ok(inline.to_string())
            }
        };
        if let Some(rest) = word.strip_prefix("-o") {
            let opt = value_of("-o", rest)?;
            let (key, value) = opt
                .split_once('=')
                .or_else(|| opt.split_once(' '))
                .ok_or_else(|| format!("ssh option `-o {opt}` needs `Key=Value`"))?;
            apply_option(options, key.trim(), value.trim())?;
        } else if let Some(rest) = word.strip_prefix("-F") {
            options.config_file = Some(PathBuf::from(value_of("-F", rest)?));
        } else if let Some(rest) = word.strip_prefix("-J") {
            options.jump_hosts.push(value_of("-J", rest)?);
        } else {
            return Err(format!(
                "ssh argument `{word}` is not supported by drover; supported: -F FILE, -J HOST, -o UserKnownHostsFile/StrictHostKeyChecking/ProxyJump/ConnectTimeout/IdentitiesOnly (or put it in your ~/.ssh/config)"
            ));
        }
    }
    Ok(())
}

fn apply_option(options: &mut SshOptions, key: &str, value: &str) -> Result<(), String> {
    match key.to_ascii_lowercase().as_str() {
        "userknownhostsfile" => options.known_hosts_file = Some(PathBuf::from(value)),
        "stricthostkeychecking" => {
            options.host_key_policy = match value.to_ascii_lowercase().as_str() {
                "yes" | "true" => HostKeyPolicy::Strict,
                "accept-new" => HostKeyPolicy::AcceptNew,
                "no" | "off" | "false" => HostKeyPolicy::Off,
                other => return Err(format!("unknown StrictHostKeyChecking value `{other}`")),
            }
        }
        "proxyjump" => options.jump_hosts.push(value.to_string()),
        "connecttimeout" => {
            let secs: u64 = value
                .parse()
                .map_err(|_| format!("ConnectTimeout `{value}` is not a number of seconds"))?;
            options.connect_timeout = Duration::from_secs(secs.max(1));
        }
        // drover always uses only the given key when one is set (the openssh crate adds it).
        "identitiesonly" => {}
        "controlpersist" => options.persist = drover_connection::parse_persist(value)?,
        // drover always multiplexes (ansible's default `ssh_args` ask for it too)
        "controlmaster" if matches!(value.to_ascii_lowercase().as_str(), "auto" | "yes") => {}
        _ if drover_connection::is_reserved_option(key) => {
            return Err(format!(
                "ssh option `{key}` cannot be set: drover manages the multiplexed connection itself"
            ));
        }
        _ => options
            .extra_options
            .push((key.to_string(), value.to_string())),
    }
    Ok(())
}

/// Where an ssh connection of a sandbox run would go: its address and every jump host (each
/// hop of a `-J a,b` list) must be loopback, and no option may redirect it (`HostName`,
/// `ProxyCommand`, a `-F` config file). The caller then keeps ssh from reading any config
/// file ([`SshOptions::isolated`]).
fn check_sandbox_ssh(host: &str, sandbox: &str, options: &SshOptions) -> Result<(), String> {
    use drover_inventory::sandbox_guard::{
        host_of, is_loopback, outside_sandbox_help, outside_sandbox_message,
    };
    let refuse = |what: String| Err(format!("{what}; {}", outside_sandbox_help(sandbox)));
    let hops = options
        .jump_hosts
        .iter()
        .flat_map(|spec| spec.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty() && !hop.eq_ignore_ascii_case("none"))
        .map(host_of);
    for address in std::iter::once(options.address.as_str()).chain(hops) {
        if !is_loopback(address) {
            return refuse(outside_sandbox_message(host, address, sandbox));
        }
    }
    for (key, value) in &options.extra_options {
        let redirects = matches!(
            key.to_ascii_lowercase().as_str(),
            "hostname" | "proxycommand"
        );
        if redirects && !value.eq_ignore_ascii_case("none") {
            return refuse(format!(
                "host `{host}`: ssh option `{key}={value}` would take the connection outside drover sandbox `{sandbox}`"
            ));
        }
    }
    if let Some(file) = &options.config_file {
        return refuse(format!(
            "host `{host}`: an ssh config file (`-F {}`) could take the connection outside drover sandbox `{sandbox}`",
            file.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tests::vars;

    #[test]
    fn reads_the_sandbox_ssh_args() {
        let args = "-o UserKnownHostsFile=/s/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes".to_string();
        let o = options(&vars("ssh"), &[args]).unwrap();
        assert_eq!(o.known_hosts_file, Some(PathBuf::from("/s/known_hosts")));
        assert_eq!(o.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!((o.port, o.user.as_deref()), (Some(2222), Some("vagrant")));
    }

    #[test]
    fn accepting_keys_is_explicit_and_unknown_options_are_refused() {
        let o = options(
            &vars("ssh"),
            &["-o StrictHostKeyChecking=accept-new -F /cfg".into()],
        )
        .unwrap();
        assert_eq!(o.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(o.config_file, Some(PathBuf::from("/cfg")));
        let err = options(&vars("ssh"), &["-o ControlPath=/x".into()]).unwrap_err();
        assert!(err.contains("`ControlPath` cannot be set"), "{err}");
        let o = options(
            &vars("ssh"),
            &["-o ControlMaster=auto -o ControlPersist=30m".into()],
        );
        assert_eq!(o.unwrap().persist, Some(Duration::from_secs(1800)));
        let o = options(&vars("ssh"), &["-o ControlPersist=no".into()]);
        assert_eq!(o.unwrap().persist, None);
        let o = options(
            &vars("ssh"),
            &["-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR".into()],
        )
        .unwrap();
        assert_eq!(
            o.extra_options,
            [
                ("GlobalKnownHostsFile".to_string(), "/dev/null".to_string()),
                ("LogLevel".into(), "ERROR".into())
            ]
        );
        let err = options(&vars("ssh"), &["-v".into()]).unwrap_err();
        assert!(err.contains("`-v` is not supported"), "{err}");
    }

    #[test]
    fn sandbox_connections_stay_on_loopback() {
        let ok = SshOptions::new("127.0.0.1");
        assert!(check_sandbox_ssh("h", "sb", &ok).is_ok());
        let mut o = ok.clone();
        o.jump_hosts = vec!["none".into(), "vagrant@127.0.0.1:2222".into()];
        assert!(check_sandbox_ssh("h", "sb", &o).is_ok());
        o.extra_options = vec![("ProxyCommand".into(), "none".into())];
        assert!(check_sandbox_ssh("h", "sb", &o).is_ok());

        let refused = |o: &SshOptions| check_sandbox_ssh("h", "sb", o).unwrap_err();
        let mut o = ok.clone();
        o.address = "10.10.10.10".into();
        assert!(
            refused(&o).contains("would be reached at 10.10.10.10, outside drover sandbox `sb`")
        );
        // every hop of a jump list, not the last one only
        let mut o = ok.clone();
        o.jump_hosts = vec!["u@10.0.0.1,v@127.0.0.1".into()];
        assert!(refused(&o).contains("at 10.0.0.1,"), "{}", refused(&o));
        for key in ["HostName", "proxycommand"] {
            let mut o = ok.clone();
            o.extra_options = vec![(key.into(), "elsewhere".into())];
            assert!(refused(&o).contains(&format!("ssh option `{key}=elsewhere`")));
        }
        let mut o = ok.clone();
        o.config_file = Some(PathBuf::from("/etc/other_config"));
        assert!(refused(&o).contains("`-F /etc/other_config`"));
        assert!(refused(&o).contains("-i .sandbox/sb/inventory.yml"));
    }
}
