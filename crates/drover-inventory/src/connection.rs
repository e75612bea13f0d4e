//! Typed connection settings read from a host's variables (`ansible_host`, `ansible_port`,
//! `ansible_user`, `ansible_ssh_private_key_file`, `ansible_connection`, `ansible_become`,
//! `ansible_become_user`), with Ansible's conversions (`"22"` is a port, `"yes"` a boolean).

use drover_diag::{Diagnostic, Span};
use serde_json::{Map, Value};

/// How to reach a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `ansible_host`, else the inventory hostname.
    pub address: String,
    /// `ansible_port` (`None`: the transport's default, 22 for ssh).
    pub port: Option<u16>,
    /// `ansible_user` (`None`: ssh's default).
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`, else `ansible_private_key_file`.
    pub private_key_file: Option<String>,
    /// `ansible_connection` (`ssh` unless set; `smart` and `paramiko` mean `ssh`).
    pub transport: String,
    /// `ansible_become` (default false).
    pub become_: bool,
    /// `ansible_become_user` (default `root`).
    pub become_user: String,
}

impl Connection {
    /// Reads the settings from a host's (already templated) variables. `span` is where the
    /// host is defined, for errors.
    pub fn from_vars(
        host: &str,
        vars: &Map<String, Value>,
        span: Option<&Span>,
    ) -> Result<Connection, Diagnostic> {
        let fail = |var: &str, value: &Value, want: &str| {
            let mut d = Diagnostic::error(format!(
                "`{var}` of host `{host}` must be {want}, found {}",
                describe(value)
            ))
            .with_context(format!("host: {host}"))
            .with_help(format!(
                "fix `{var}` in the inventory, group_vars or host_vars"
            ));
            if let Some(span) = span {
                d = d.with_span(span.clone()).with_label("host defined here");
            }
            d
        };
        let string = |var: &str| -> Result<Option<String>, Diagnostic> {
            match vars.get(var) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(if *b { "True" } else { "False" }.to_string())),
                Some(v) => Err(fail(var, v, "a string")),
            }
        };
        let address = string("ansible_host")?.unwrap_or_else(|| host.to_string());
        let port = match vars.get("ansible_port") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => drover_python::text::strip(s).parse::<u64>().ok(),
                    _ => None,
                };
                match n.and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0) {
                    Some(p) => Some(p),
                    None => return Err(fail("ansible_port", v, "a port number (1-65535)")),
                }
            }
        };
        let user = string("ansible_user")?;
        let private_key_file = match string("ansible_ssh_private_key_file")? {
            Some(k) => Some(k),
            None => string("ansible_private_key_file")?,
        };
        let transport = match string("ansible_connection")?.as_deref() {
            None | Some("smart") | Some("paramiko") | Some("ssh") => "ssh".to_string(),
            Some(other) => other.to_string(),
        };
        let become_ = match vars.get("ansible_become") {
            None | Some(Value::Null) => false,
            Some(v) => match to_bool(v) {
                Some(b) => b,
                None => return Err(fail("ansible_become", v, "a boolean (true/false, yes/no)")),
            },
        };
        let become_user = string("ansible_become_user")?.unwrap_or_else(|| "root".to_string());
        Ok(Connection {
            address,
            port,
            user,
            private_key_file,
            transport,
            become_,
            become_user,
        })
    }
}

/// Ansible's `boolean()` (strict): yes/no, on/off, true/false, 1/0, y/n, t/f.
pub fn to_bool(v: &Value) -> Option<bool> {
    drover_python::boolean(v)
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_and_converts_connection_vars() {
        let c = Connection::from_vars(
            "n1",
            &vars(json!({"ansible_host": "127.0.0.1", "ansible_port": "2222", "ansible_user": "vagrant",
                "ansible_become": "yes", "ansible_ssh_private_key_file": "~/.ssh/id"})),
            None,
        )
        .unwrap();
        assert_eq!(c.address, "127.0.0.1");
        assert_eq!(c.port, Some(2222));
        assert!(c.become_);
        assert_eq!(c.become_user, "root");
        assert_eq!(c.transport, "ssh");
        let d = Connection::from_vars("n1", &Map::new(), None).unwrap();
        assert_eq!(d.address, "n1");
        assert_eq!(d.port, None);
    }

    #[test]
    fn wrong_types_are_clear_errors() {
        let e =
            Connection::from_vars("n1", &vars(json!({"ansible_port": "abc"})), None).unwrap_err();
        assert_eq!(
            e.message,
            "`ansible_port` of host `n1` must be a port number (1-65535), found the string `abc`"
        );
        assert!(
            Connection::from_vars("n1", &vars(json!({"ansible_become": "maybe"})), None).is_err()
        );
        assert!(Connection::from_vars("n1", &vars(json!({"ansible_user": [1]})), None).is_err());
    }
}
