//! `uri`: an HTTP request made FROM THE NODE with curl (the controller never connects), with
//! Ansible 2.18's results: `status`, `url`, `msg` (`OK (N bytes)` / `HTTP Error N: reason`),
//! `redirected`, `elapsed`, every response header (lower-case, `-` → `_`), `json` for JSON
//! responses, `content` with `return_content`, and a failure "Status code was X and not [..]"
//! when the status is not in `status_code`.
//!
//! - Ansible's `uri` does not support check mode: check mode skips it (the plan is
//!   unpredictable); a run is one round trip. Never `changed` (no `dest` support).
//! - `creates`/`removes` are checked on the node first ("skipped, since X exists").
//! - URL, headers, credentials and body reach curl on stdin (never on the command line).
//! - `body_format: json` serialises a non-string body and sets `Content-Type`;
//!   `form-urlencoded` encodes a dict.
//!
//! Not implemented (refused by name): `dest`, `src`, `remote_src`, `form-multipart`, `ca_path`,
//! `client_cert`/`client_key`, `ciphers`, `use_netrc`, `unredirected_headers`, `decompress`,
//! `use_gssapi`, file attributes.

use drover_connection::shell::quote;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::curl::{self, CurlRequest};
use super::util::{self, line_value};
use crate::params::{Bool, Int, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

const REFUSED: &[&str] = &[
    "dest",
    "src",
    "remote_src",
    "ca_path",
    "client_cert",
    "client_key",
    "ciphers",
    "use_netrc",
    "unredirected_headers",
    "decompress",
    "use_gssapi",
    "mode",
    "owner",
    "group",
    "attributes",
    "seuser",
    "serole",
    "setype",
    "selevel",
    "unsafe_writes",
];

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    url: String,
    method: Option<String>,
    body: Option<Value>,
    body_format: Option<String>,
    headers: Option<Value>,
    status_code: Option<Value>,
    return_content: Option<Bool>,
    timeout: Option<Int>,
    validate_certs: Option<Bool>,
    follow_redirects: Option<String>,
    force_basic_auth: Option<Bool>,
    http_agent: Option<String>,
    use_proxy: Option<Bool>,
    unix_socket: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
}

struct Uri {
    request: CurlRequest,
    head: bool,
    status_codes: Vec<i64>,
    return_content: bool,
    unix_socket: Option<String>,
    no_proxy: bool,
    creates: Option<String>,
    removes: Option<String>,
}

/// Prepares a `uri` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::refuse("uri", args, REFUSED)?;
    let mut args = args.clone();
    let user = curl::take_credentials(
        "uri",
        &mut args,
        &[("user", "url_username"), ("password", "url_password")],
    )?;
    let p: Params = parse("uri", &args)?;
    let method = p.method.unwrap_or_else(|| "GET".into()).to_uppercase();
    if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ModuleError::params(
            "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
        ));
    }
    let mut headers = curl::headers("uri", p.headers.as_ref())?;
    let has_content_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let body = match (p.body_format.as_deref().unwrap_or("raw"), p.body) {
        (_, None | Some(Value::Null)) => None,
        ("raw", Some(Value::String(s))) => Some(s),
        ("raw", Some(other)) => Some(other.to_string()),
        ("json", Some(body)) => {
            if !has_content_type {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(match body {
                Value::String(s) => s,
                other => python_json(&other),
            })
        }
        ("form-urlencoded", Some(body)) => {
            if !has_content_type {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            Some(match body {
                Value::String(s) => s,
                Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        format!("{}={}", form_encode(k), form_encode(&v))
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
                other => {
                    return Err(ModuleError::params(format!(
                        "failed to parse body as form_urlencoded: `{other}` is not a dict"
                    )));
                }
            })
        }
        ("form-multipart", Some(_)) => {
            return Err(ModuleError::params(
                "module `uri`: body_format `form-multipart` is not implemented in drover",
            ));
        }
        (other, Some(_)) => {
            return Err(ModuleError::params(format!(
                "module `uri`: value of body_format must be one of: form-urlencoded, json, raw, form-multipart, got: {other}"
            )));
        }
    };
    let status_codes = match p.status_code {
        None => vec![200],
        Some(v) => status_list(&v)?,
    };
    let follow = !matches!(p.follow_redirects.as_deref(), Some("no" | "none"));
    if let Some(f) = p.follow_redirects.as_deref()
        && !["all", "no", "none", "safe", "urllib2", "yes"].contains(&f)
    {
        return Err(ModuleError::params(format!(
            "module `uri`: value of follow_redirects must be one of: all, no, none, safe, urllib2, yes, got: {f}"
        )));
    }
    let _ = p.force_basic_auth;
    let head = method == "HEAD";
    util::remote(Uri {
        request: CurlRequest {
            url: p.url,
            method: (!head && method != "GET" || body.is_some() && method == "GET")
                .then_some(method),
            headers,
            user,
            body,
            timeout: p.timeout.map_or(30, |t| t.0),
            validate_certs: p.validate_certs.is_none_or(|b| b.0),
            follow_redirects: follow,
            agent: p.http_agent.unwrap_or_else(|| "ansible-httpget".into()),
        },
        head,
        status_codes,
        return_content: p.return_content.is_some_and(|b| b.0),
        unix_socket: p.unix_socket,
        no_proxy: p.use_proxy.is_some_and(|b| !b.0),
        creates: p.creates,
        removes: p.removes,
    })
}

/// Python's `json.dumps` spacing (`", "` and `": "`), which Ansible sends.
fn python_json(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn status_list(v: &Value) -> Result<Vec<i64>, ModuleError> {
    let one = |v: &Value| -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => s.split(',').map(|p| Value::String(p.to_string())).collect(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|i| {
            one(i).ok_or_else(|| {
                ModuleError::params(format!("module `uri`: status_code `{i}` is not an integer"))
            })
        })
        .collect()
}

const HEADERS: &str = "--drover-headers--";
const BODY: &str = "--drover-body--";

impl Uri {
    fn script(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.creates {
            s.push_str(&format!(
                "if [ -e {} ]; then echo skipped=creates; exit 0; fi\n",
                quote(c)
            ));
        }
        if let Some(r) = &self.removes {
            s.push_str(&format!(
                "if [ ! -e {} ]; then echo skipped=removes; exit 0; fi\n",
                quote(r)
            ));
        }
        let mut flags = self.request.flags();
        if self.head {
            flags.push_str(" -I");
        }
        if let Some(sock) = &self.unix_socket {
            flags.push_str(&format!(" --unix-socket {}", quote(sock)));
        }
        if self.no_proxy {
            flags.push_str(" --noproxy '*'");
        }
        s.push_str(&format!(
            "t=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$t\"' EXIT\nstart=$(date +%s)\n\
             meta=$(curl {flags} -D \"$t/h\" -o \"$t/b\" -w 'status=%{{http_code}}\\nurl=%{{url_effective}}\\n' 2>\"$t/e\"); rc=$?\n\
             echo \"elapsed=$(( $(date +%s) - start ))\"\necho \"curl_rc=$rc\"\nprintf '%s\\n' \"$meta\"\n\
             printf 'curl_error=%s\\n' \"$(head -c 500 \"$t/e\" | tr '\\n' ' ')\"\n\
             echo {HEADERS}\ncat \"$t/h\" 2>/dev/null\necho {BODY}\ncat \"$t/b\" 2>/dev/null\nexit 0\n"
        ));
        s
    }
}

/// The last header block of curl's `-D` dump (after redirects): status reason and headers.
fn parse_headers(text: &str) -> (String, Vec<(String, String)>) {
    let blocks: Vec<&str> = text
        .split("\r\n\r\n")
        .flat_map(|b| b.split("\n\n"))
        .filter(|b| !b.trim().is_empty())
        .collect();
    let Some(last) = blocks.last() else {
        return (String::new(), Vec::new());
    };
    let mut lines = last.lines();
    let reason = lines
        .next()
        .map(|l| l.trim().splitn(3, ' ').nth(2).unwrap_or("").to_string())
        .unwrap_or_default();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            (
                k.trim().to_lowercase().replace('-', "_"),
                v.trim().to_string(),
            )
        })
        .collect();
    (reason, headers)
}

impl Action for Uri {
    fn probe(&self) -> Option<Request> {
        None
    }

    fn plan(&self, _probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let mut plan = Plan::unpredictable(());
        plan.result = ModuleResult::ok().with_msg("This action (uri) does not support check mode.");
        plan.result.skipped = true;
        Ok(plan)
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        vec![Request::new(self.script()).with_stdin(self.request.config())]
    }

    fn finish(&self, _plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("uri", outputs)?;
        let raw = &out.stdout;
        let text = String::from_utf8_lossy(raw).into_owned();
        if let Some(which) = line_value(&text, "skipped") {
            let path = if which == "creates" {
                format!(
                    "skipped, since '{}' exists",
                    self.creates.as_deref().unwrap_or("")
                )
            } else {
                format!(
                    "skipped, since '{}' does not exist",
                    self.removes.as_deref().unwrap_or("")
                )
            };
            let mut r = ModuleResult::ok();
            r.stdout = Some(path);
            return Ok(r);
        }
        let (meta, rest) = text.split_once(&format!("{HEADERS}\n")).ok_or_else(|| {
            ModuleError::node(format!(
                "unexpected uri output (rc {}): {}{}",
                out.status,
                text.chars().take(300).collect::<String>(),
                out.stderr_text()
            ))
        })?;
        let (header_text, body) = rest.split_once(&format!("{BODY}\n")).unwrap_or((rest, ""));
        let curl_rc: i32 = line_value(meta, "curl_rc")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let mut status: i64 = line_value(meta, "status")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let effective = line_value(meta, "url")
            .filter(|u| !u.is_empty())
            .unwrap_or(&self.request.url)
            .to_string();
        let elapsed: i64 = line_value(meta, "elapsed")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (reason, headers) = parse_headers(header_text);
        let mut r = ModuleResult::ok();
        for (k, v) in &headers {
            r.extra.insert(k.clone(), Value::String(v.clone()));
        }
        let msg = if curl_rc != 0 {
            status = -1;
            format!(
                "Request failed: {}",
                line_value(meta, "curl_error").unwrap_or("").trim()
            )
        } else if (200..300).contains(&status) {
            format!(
                "OK ({} bytes)",
                headers
                    .iter()
                    .find(|(k, _)| k == "content_length")
                    .map_or("unknown", |(_, v)| v.as_str())
            )
        } else {
            format!("HTTP Error {status}: {reason}")
        };
        r = r
            .with("url", effective.clone())
            .with("redirected", effective != self.request.url)
            .with("status", status)
            .with("elapsed", elapsed);
        if curl_rc == 0 {
            r = r
                .with("cookies", Value::Object(Map::new()))
                .with("cookies_string", "");
        }
        let content_type = headers
            .iter()
            .find(|(k, _)| k == "content_type")
            .map(|(_, v)| v.to_lowercase())
            .unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let sub = mime.split('/').nth(1).unwrap_or("");
        let sub = sub.rsplit('+').next().unwrap_or(sub);
        if ["json", "javascript"].contains(&sub)
            && let Ok(js) = serde_json::from_str::<Value>(body)
        {
            r = r.with("json", js);
        }
        if self.return_content {
            r = r.with("content", body.to_string());
        }
        if !self.status_codes.contains(&status) {
            r.failed = true;
            r.msg = Some(format!(
                "Status code was {status} and not [{}]: {msg}",
                self.status_codes
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else {
            r.msg = Some(msg);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out, run_local};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn builds_the_request_and_reads_the_response() {
        let a = action(
            "uri",
            json!({"url": "http://127.0.0.1:8500/v1/agent/service/register", "method": "put", "body_format": "json",
                   "body": {"Name": "pg", "Port": 5432}, "headers": {"X-Consul-Token": "t0k"}, "status_code": [200, 204]}),
        );
        let plan = a.plan(None).unwrap();
        assert_eq!(plan.outcome, Outcome::Unpredictable);
        assert!(plan.result.skipped);
        let req = &a.apply(&plan)[0];
        assert!(
            req.script
                .contains("curl -sS -K - -A ansible-httpget --max-time 30 -X PUT -L -D"),
            "{}",
            req.script
        );
        assert!(!req.script.contains("t0k"));
        let config = String::from_utf8(req.stdin_bytes().unwrap().to_vec()).unwrap();
        assert!(
            config.contains("header = \"X-Consul-Token: t0k\"\n"),
            "{config}"
        );
        assert!(
            config.contains("header = \"Content-Type: application/json\"\n"),
            "{config}"
        );
        assert!(
            config.contains("data-raw = \"{\\\"Name\\\": \\\"pg\\\", \\\"Port\\\": 5432}\"\n"),
            "{config}"
        );
        let response = "elapsed=0\ncurl_rc=0\nstatus=200\nurl=http://127.0.0.1:8500/v1/agent/service/register\ncurl_error=\n--drover-headers--\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n--drover-body--\n{\"ok\": true}";
        let r = a.finish(&plan, &[out(0, response, "")]).unwrap();
        assert!(!r.failed && !r.changed);
        let v = r.to_registered();
        assert_eq!(v["status"], 200);
        assert_eq!(v["json"], json!({"ok": true}));
        assert_eq!(v["content_type"], "application/json");
        assert_eq!(v["msg"], "OK (11 bytes)");
        assert_eq!(v["redirected"], false);
        let r = a
            .finish(&plan, &[out(0, "elapsed=0\ncurl_rc=0\nstatus=404\nurl=x\ncurl_error=\n--drover-headers--\nHTTP/1.1 404 Not Found\r\n\r\n--drover-body--\n", "")])
            .unwrap();
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Status code was 404 and not [200, 204]: HTTP Error 404: Not Found")
        );
        assert!(error("uri", json!({"url": "x", "method": "GET x"})).contains("single word"));
        assert!(error("uri", json!({"url": "x", "dest": "/tmp/x"})).contains("`dest`"));
    }

    /// A real request to a server on loopback (served by this test), through the real script.
    #[tokio::test]
    async fn real_request_on_loopback() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = "{\"leader\": \"10.10.10.10:8300\"}";
            write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
            req
        });
        let a = action(
            "uri",
            json!({"url": format!("http://127.0.0.1:{port}/v1/status/leader"), "return_content": true, "headers": {"X-Test": "1"}}),
        );
        let plan = a.plan(None).unwrap();
        let o = run_local(&a.apply(&plan)[0]).await;
        let r = a.finish(&plan, &[o]).unwrap();
        let req = server.join().unwrap();
        assert!(req.starts_with("GET /v1/status/leader HTTP/1.1"), "{req}");
        assert!(req.contains("X-Test: 1"), "{req}");
        assert!(!r.failed, "{:?}", r.msg);
        assert_eq!(r.extra["json"]["leader"], "10.10.10.10:8300");
        assert_eq!(r.extra["content"], "{\"leader\": \"10.10.10.10:8300\"}");
        // nothing listening any more: status -1, Ansible's message shape
        let a = action(
            "uri",
            json!({"url": format!("http://127.0.0.1:{port}/"), "timeout": 2}),
        );
        let o = run_local(&a.apply(&plan)[0]).await;
        let r = a.finish(&plan, &[o]).unwrap();
        assert!(r.failed);
        assert!(
            r.msg
                .as_deref()
                .unwrap()
                .starts_with("Status code was -1 and not [200]: Request failed: "),
            "{:?}",
            r.msg
        );
    }
}
