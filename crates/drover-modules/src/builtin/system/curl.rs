//! HTTP from the node with curl, shared by `get_url` and `uri`.
//!
//! Everything that may be secret (the URL, headers, credentials, the request body) goes to curl
//! as a config file on STDIN (`curl -K -`), never on the command line, so it does not show in
//! the node's process list or in logs of the script.

use serde_json::{Map, Value};

use crate::ModuleError;

/// What a request needs.
#[derive(Clone, Debug, Default)]
pub(crate) struct CurlRequest {
    pub(crate) url: String,
    pub(crate) method: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) user: Option<(String, String)>,
    pub(crate) body: Option<String>,
    pub(crate) timeout: i64,
    pub(crate) validate_certs: bool,
    pub(crate) follow_redirects: bool,
    pub(crate) agent: String,
}

/// Quotes a value for a curl config file (`"…"` with `\\`, `\"`, `\n`, `\r`, `\t` escapes).
pub(crate) fn config_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl CurlRequest {
    /// The config fed on stdin.
    pub(crate) fn config(&self) -> Vec<u8> {
        let mut c = format!("url = {}\n", config_string(&self.url));
        for (k, v) in &self.headers {
            c.push_str(&format!(
                "header = {}\n",
                config_string(&format!("{k}: {v}"))
            ));
        }
        if let Some((u, p)) = &self.user {
            c.push_str(&format!("user = {}\n", config_string(&format!("{u}:{p}"))));
        }
        if let Some(body) = &self.body {
            c.push_str(&format!("data-raw = {}\n", config_string(body)));
        }
        c.into_bytes()
    }

    /// curl's command-line flags (nothing secret).
    pub(crate) fn flags(&self) -> String {
        let mut f = format!(
            "-sS -K - -A {} --max-time {}",
            drover_connection::shell::quote(&self.agent),
            self.timeout.max(1)
        );
        if let Some(m) = &self.method {
            f.push_str(&format!(" -X {}", drover_connection::shell::quote(m)));
        }
        if !self.validate_certs {
            f.push_str(" -k");
        }
        if self.follow_redirects {
            f.push_str(" -L");
        }
        f
    }
}

/// Reads Ansible's `headers` dict.
pub(crate) fn headers(
    module: &str,
    value: Option<&Value>,
) -> Result<Vec<(String, String)>, ModuleError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()),
        Some(other) => Err(ModuleError::params(format!(
            "module `{module}`: `headers` must be a dict, got `{other}`"
        ))),
    }
}

/// Removes and returns `url_username`/`url_password` (and their aliases) from `args`.
pub(crate) fn take_credentials(
    module: &str,
    args: &mut Map<String, Value>,
    aliases: &[(&str, &str)],
) -> Result<Option<(String, String)>, ModuleError> {
    let mut get = |names: &[&str]| {
        names.iter().find_map(|n| args.remove(*n)).map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
    };
    let user_names: Vec<&str> = std::iter::once("url_username")
        .chain(
            aliases
                .iter()
                .filter(|(_, c)| *c == "url_username")
                .map(|(a, _)| *a),
        )
        .collect();
    let pass_names: Vec<&str> = std::iter::once("url_password")
        .chain(
            aliases
                .iter()
                .filter(|(_, c)| *c == "url_password")
                .map(|(a, _)| *a),
        )
        .collect();
    let user = get(&user_names);
    let pass = get(&pass_names);
    match (user, pass) {
        (Some(u), p) => Ok(Some((u, p.unwrap_or_default()))),
        (None, Some(_)) => Err(ModuleError::params(format!(
            "module `{module}`: `url_password` needs `url_username`"
        ))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_secrets_off_the_command_line() {
        let r = CurlRequest {
            url: "http://127.0.0.1:8500/v1/kv/x".into(),
            method: Some("PUT".into()),
            headers: vec![("X-Consul-Token".into(), "s3cr\"et".into())],
            user: Some(("admin".into(), "pw".into())),
            body: Some("line1\nline2 \\ @x".into()),
            timeout: 30,
            validate_certs: false,
            follow_redirects: true,
            agent: "ansible-httpget".into(),
        };
        assert_eq!(
            String::from_utf8(r.config()).unwrap(),
            "url = \"http://127.0.0.1:8500/v1/kv/x\"\nheader = \"X-Consul-Token: s3cr\\\"et\"\nuser = \"admin:pw\"\ndata-raw = \"line1\\nline2 \\\\ @x\"\n"
        );
        let flags = r.flags();
        assert_eq!(
            flags,
            "-sS -K - -A ansible-httpget --max-time 30 -X PUT -k -L"
        );
        assert!(!flags.contains("s3cr"));
    }
}
