//! One connection per host for the whole run, opened on first use.
//!
//! Settings come from the host's connection variables (`ansible_host`, `ansible_port`,
//! `ansible_user`, `ansible_ssh_private_key_file`, `ansible_connection`) and the ssh options
//! users put in `ansible_ssh_common_args`/`ansible_ssh_extra_args`: `-F FILE`, `-J HOST` and
//! `-o Key=Value`. drover models host-key checking, known-hosts files, jump hosts and timeouts;
//! every other `-o` option goes to ssh through a generated config file. The `Control*` options
//! are refused (drover owns the multiplexed master), and so is any other flag, by name.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drover_connection::{
    Connection, ControlDir, HostKeyPolicy, LocalConnection, SshConnection, SshOptions,
};
use drover_inventory::Connection as ConnVars;
use tokio::sync::{Mutex, OnceCell};

/// How to reach one host.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `connection: local`.
    Local,
    /// Over SSH.
    Ssh(Box<SshOptions>),
}

/// Builds the target from a host's connection variables and its ssh argument strings.
pub fn target_from_vars(vars: &ConnVars, ssh_args: &[String]) -> Result<Target, String> {
    match vars.transport.as_str() {
        "local" => return Ok(Target::Local),
        "ssh" => {}
        other => {
            return Err(format!(
                "`ansible_connection: {other}` is not supported by drover (use `ssh` or `local`)"
            ));
        }
    }
    let mut options = SshOptions::new(vars.address.clone());
    options.port = vars.port;
    options.user = vars.user.clone();
    options.key_file = vars.private_key_file.as_ref().map(PathBuf::from);
    for args in ssh_args {
        apply_ssh_args(&mut options, args)?;
    }
    Ok(Target::Ssh(Box::new(options)))
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

/// A host's connection, opened once; an unreachable host keeps its error.
type Slot = Arc<OnceCell<Result<Arc<Connection>, drover_connection::Error>>>;

/// The run's connections: opened once per (host, target), shared by every task.
pub struct Pool {
    control: ControlDir,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Pool {
    /// A pool with a private control directory for the SSH masters.
    pub fn new() -> std::io::Result<Pool> {
        Ok(Pool {
            control: ControlDir::new()?,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The connection for `host` (opening it on first use). A host that could not be reached
    /// keeps its error for the rest of the run.
    pub async fn get(
        &self,
        host: &str,
        target: &Target,
    ) -> Result<Arc<Connection>, drover_connection::Error> {
        let key = format!("{host}\u{0}{target:?}");
        let slot = {
            let mut slots = self.slots.lock().await;
            slots.entry(key).or_default().clone()
        };
        let result = slot
            .get_or_init(|| async {
                match target {
                    Target::Local => Ok(Arc::new(Connection::Local(LocalConnection::new(host)))),
                    Target::Ssh(options) => SshConnection::connect(host, options, &self.control)
                        .await
                        .map(|c| Arc::new(Connection::Ssh(c))),
                }
            })
            .await;
        match result {
            Ok(c) => Ok(c.clone()),
            Err(e) => Err(clone_error(e)),
        }
    }

    /// Closes every master.
    pub async fn close(&self) {
        let slots: Vec<_> = self.slots.lock().await.drain().collect();
        for (_, slot) in slots {
            if let Some(Ok(conn)) = Arc::try_unwrap(slot).ok().and_then(OnceCell::into_inner)
                && let Ok(conn) = Arc::try_unwrap(conn)
            {
                conn.close().await;
            }
        }
    }
}

/// Where an ssh connection of a sandbox run would go: its address and every jump host (each
/// hop of a `-J a,b` list) must be loopback, and no option may redirect it (`HostName`,
/// `ProxyCommand`, a `-F` config file). The caller then keeps ssh from reading any config
/// file ([`SshOptions::isolated`]).
pub fn check_sandbox_ssh(host: &str, sandbox: &str, options: &SshOptions) -> Result<(), String> {
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

fn clone_error(e: &drover_connection::Error) -> drover_connection::Error {
    use drover_connection::Error as E;
    match e {
        E::Unreachable { host, reason } => E::Unreachable {
            host: host.clone(),
            reason: reason.clone(),
        },
        E::BecomePasswordRequired { host } => E::BecomePasswordRequired { host: host.clone() },
        E::Timeout { host, seconds } => E::Timeout {
            host: host.clone(),
            seconds: *seconds,
        },
        E::Failed { host, reason } => E::Failed {
            host: host.clone(),
            reason: reason.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(transport: &str) -> ConnVars {
        ConnVars {
            address: "127.0.0.1".into(),
            port: Some(2222),
            user: Some("vagrant".into()),
            private_key_file: Some("/k".into()),
            transport: transport.into(),
            become_: false,
            become_user: "root".into(),
        }
    }

    #[test]
    fn reads_the_sandbox_ssh_args() {
        let args = "-o UserKnownHostsFile=/s/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes".to_string();
        let Target::Ssh(o) = target_from_vars(&vars("ssh"), &[args]).unwrap() else {
            panic!("ssh")
        };
        assert_eq!(o.known_hosts_file, Some(PathBuf::from("/s/known_hosts")));
        assert_eq!(o.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!((o.port, o.user.as_deref()), (Some(2222), Some("vagrant")));
    }

    #[test]
    fn accepting_keys_is_explicit_and_unknown_options_are_refused() {
        let Target::Ssh(o) = target_from_vars(
            &vars("ssh"),
            &["-o StrictHostKeyChecking=accept-new -F /cfg".into()],
        )
        .unwrap() else {
            panic!("ssh")
        };
        assert_eq!(o.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(o.config_file, Some(PathBuf::from("/cfg")));
        let err = target_from_vars(&vars("ssh"), &["-o ControlPersist=yes".into()]).unwrap_err();
        assert!(err.contains("`ControlPersist` cannot be set"), "{err}");
        let Target::Ssh(o) = target_from_vars(
            &vars("ssh"),
            &["-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR".into()],
        )
        .unwrap() else {
            panic!("ssh")
        };
        assert_eq!(
            o.extra_options,
            [
                ("GlobalKnownHostsFile".to_string(), "/dev/null".to_string()),
                ("LogLevel".into(), "ERROR".into())
            ]
        );
        let err = target_from_vars(&vars("ssh"), &["-v".into()]).unwrap_err();
        assert!(err.contains("`-v` is not supported"), "{err}");
        let err = target_from_vars(&vars("docker"), &[]).unwrap_err();
        assert!(
            err.contains("`ansible_connection: docker` is not supported"),
            "{err}"
        );
        assert_eq!(
            target_from_vars(&vars("local"), &[]).unwrap(),
            Target::Local
        );
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
