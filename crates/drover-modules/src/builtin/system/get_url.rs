//! `get_url`: download a URL ON THE NODE with curl (the controller never fetches anything), with
//! Ansible 2.18's semantics:
//!
//! - With `checksum` (`sha256:…`, also sha1/sha224/sha384/sha512/md5) and `dest` already
//!   matching, nothing is downloaded: the probe (stat + digest of `dest`) decides, one round
//!   trip ("file already exists"); attributes are still fixed.
//! - Otherwise the download goes to a temp file in `dest`'s directory (`If-Modified-Since` from
//!   the existing file unless `force`), the checksum is verified, and the file replaces `dest`
//!   atomically only when its content differs — `changed` reports that. When `dest` exists but
//!   its checksum differs, the download is forced (no `If-Modified-Since`), as Ansible does.
//! - Check mode sends Ansible's HEAD request instead of downloading (one more round trip, only
//!   when a download is predicted): `changed` on 200, unchanged on 304, failed when the request
//!   fails or answers anything else, or when `dest`'s directory does not exist.
//! - `dest` a directory: the file name is the URL's last path component (`index.html` when
//!   empty); `Content-Disposition` is not read.
//! - URL, headers and credentials reach curl on stdin (never on the command line).
//!
//! Not implemented (refused by name): `checksum` given as a URL, `backup`, `tmp_dest`,
//! `unredirected_headers`, `decompress: false`, `ciphers`, `use_netrc`, client certificates,
//! GSSAPI, SELinux attributes.

use drover_connection::shell::quote;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::curl::{self, CurlRequest};
use super::util::{self, line_value};
use crate::files::{self, Attrs, FileKind, FileState};
use crate::params::{Bool, Int, Mode, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

const REFUSED: &[&str] = &[
    "backup",
    "tmp_dest",
    "unredirected_headers",
    "ciphers",
    "use_netrc",
    "client_cert",
    "client_key",
    "use_gssapi",
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
    dest: String,
    checksum: Option<String>,
    mode: Option<Mode>,
    owner: Option<String>,
    group: Option<String>,
    force: Option<Bool>,
    timeout: Option<Int>,
    headers: Option<Value>,
    validate_certs: Option<Bool>,
    http_agent: Option<String>,
    use_proxy: Option<Bool>,
    force_basic_auth: Option<Bool>,
    follow_redirects: Option<String>,
    decompress: Option<Bool>,
}

struct GetUrl {
    request: CurlRequest,
    dest: String,
    /// The file name used when `dest` is a directory.
    file_name: String,
    checksum: Option<(String, String)>,
    attrs: Attrs,
    force: bool,
    no_proxy: bool,
}

/// Prepares a `get_url` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::refuse("get_url", args, REFUSED)?;
    let mut args = args.clone();
    let user = curl::take_credentials(
        "get_url",
        &mut args,
        &[("username", "url_username"), ("password", "url_password")],
    )?;
    let p: Params = parse("get_url", &args)?;
    if p.decompress.is_some_and(|b| !b.0) {
        return Err(ModuleError::params(
            "module `get_url`: `decompress: false` is not implemented in drover",
        ));
    }
    let checksum = match p.checksum.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => {
            let (algo, digest) = c.split_once(':').ok_or_else(|| {
                ModuleError::params(format!(
                    "module `get_url`: The checksum parameter has to be in format <algorithm>:<checksum>, got `{c}`"
                ))
            })?;
            let algo = algo.to_lowercase();
            if !["md5", "sha1", "sha224", "sha256", "sha384", "sha512"].contains(&algo.as_str()) {
                return Err(ModuleError::params(format!(
                    "module `get_url`: checksum algorithm `{algo}` is not supported (md5, sha1, sha224, sha256, sha384, sha512)"
                )));
            }
            if digest.contains("://") {
                return Err(ModuleError::params(
                    "module `get_url`: a checksum given as a URL is not implemented in drover; give the digest",
                ));
            }
            if !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ModuleError::params(format!(
                    "module `get_url`: The checksum format is invalid: `{digest}` is not hexadecimal"
                )));
            }
            Some((algo, digest.to_lowercase()))
        }
    };
    let follow = !matches!(p.follow_redirects.as_deref(), Some("no" | "none" | "false"));
    let file_name = p
        .url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once("://")
        .map_or("", |(_, rest)| {
            rest.split_once('/').map_or("", |(_, path)| path)
        })
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("index.html")
        .to_string();
    let _ = p.force_basic_auth;
    util::remote(GetUrl {
        request: CurlRequest {
            url: p.url,
            method: None,
            headers: curl::headers("get_url", p.headers.as_ref())?,
            user,
            body: None,
            timeout: p.timeout.map_or(10, |t| t.0),
            validate_certs: p.validate_certs.is_none_or(|b| b.0),
            follow_redirects: follow,
            agent: p.http_agent.unwrap_or_else(|| "ansible-httpget".into()),
        },
        dest: p.dest,
        file_name,
        checksum,
        attrs: Attrs {
            owner: p.owner,
            group: p.group,
            mode: p.mode,
        },
        force: p.force.is_some_and(|b| b.0),
        no_proxy: p.use_proxy.is_some_and(|b| !b.0),
    })
}

/// What the probe found, and what apply must do.
#[derive(Debug, Clone)]
struct Work {
    /// The file path (inside `dest` when it is a directory).
    path: String,
    /// `dest` (or the file in it) exists.
    exists: bool,
    /// Only attributes change (checksum matched).
    attrs_only: bool,
    /// The existing file's attributes differ from the wanted ones.
    attrs_change: bool,
    /// `dest` exists but does not have the given checksum: the download is forced (no
    /// `If-Modified-Since`, whose 304 would keep the wrong file), as Ansible does.
    checksum_mismatch: bool,
}

impl GetUrl {
    fn digest_command(&self) -> Option<String> {
        self.checksum.as_ref().map(|(algo, _)| format!("{algo}sum"))
    }

    /// curl's flags for this request, `-z "$d"` (If-Modified-Since from `dest`, in shell
    /// variable `d`) included when Ansible sends it: `dest` exists, no `force`, no checksum
    /// mismatch, and an HTTP URL (a file:// or ftp:// answer without a body must never replace
    /// `dest`).
    fn curl_flags(&self, work: &Work) -> String {
        let mut flags = self.request.flags();
        if self.no_proxy {
            flags.push_str(" --noproxy '*'");
        }
        let http =
            self.request.url.starts_with("http://") || self.request.url.starts_with("https://");
        if work.exists && !self.force && !work.checksum_mismatch && http {
            flags.push_str(" -z \"$d\"");
        }
        flags
    }

    fn result(&self, path: &str, state: &FileState) -> ModuleResult {
        let mut r = ModuleResult::ok()
            .with("url", self.request.url.clone())
            .with("dest", path.to_string());
        if let Some(mode) = self.attrs.mode.or(state.mode) {
            r = r.with("mode", mode.to_string());
        }
        if let Some(o) = self.attrs.owner.clone().or(state.owner.clone()) {
            r = r.with("owner", o);
        }
        if let Some(g) = self.attrs.group.clone().or(state.group.clone()) {
            r = r.with("group", g);
        }
        r = r.with("checksum_dest", Value::Null);
        if let Some((_, digest)) = &self.checksum {
            r = r.with("checksum", digest.clone());
        }
        r
    }
}

impl Action for GetUrl {
    fn probe(&self) -> Option<Request> {
        let inner = quote(&format!(
            "{}/{}",
            self.dest.trim_end_matches('/'),
            self.file_name
        ));
        let mut s = format!(
            "if [ -d {d} ]; then f={inner}; else f={d}; fi\nprintf 'path=%s\\n' \"$f\"\n",
            d = quote(&self.dest)
        );
        if let Some(cmd) = self.digest_command() {
            s.push_str(&format!(
                "if [ -f \"$f\" ]; then printf 'digest=%s\\n' \"$({cmd} -- \"$f\" | cut -d' ' -f1)\"; fi\n"
            ));
        }
        s.push_str(&util::path_info_script("\"$f\""));
        s.push_str(
            "if [ -L \"$f\" ]; then t=link; elif [ -d \"$f\" ]; then t=directory; elif [ -f \"$f\" ]; then t=file; \
             elif [ -e \"$f\" ]; then t=other; else echo state=absent; exit 0; fi\necho \"state=$t\"\n\
             stat -c 'mode=%a\nowner=%U\ngroup=%G\nsize=%s' -- \"$f\"\n",
        );
        Some(Request::new(s))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("get_url needs its probe"))?;
        let text = out.stdout_text();
        let path = line_value(&text, "path")
            .ok_or_else(|| ModuleError::node(format!("unexpected get_url probe output: {text}")))?
            .to_string();
        let state = FileState::parse(&out.stdout)?;
        if state.kind == FileKind::Directory {
            return Err(ModuleError::node(format!("`{path}` is a directory")));
        }
        let exists = state.kind != FileKind::Absent;
        let mut result = self.result(&path, &state);
        if exists
            && !self.force
            && let Some((_, want)) = &self.checksum
            && line_value(&text, "digest") == Some(want.as_str())
        {
            result = result.with("checksum_dest", want.clone());
            if self.attrs.differences(&state).is_empty() {
                let mut result = result.with_msg("file already exists");
                util::add_path_info(&mut result, &text);
                return Ok(Plan::satisfied(result));
            }
            let result = result.with_msg("file already exists but file attributes changed");
            return Ok(Plan::change(
                result,
                Work {
                    path,
                    exists,
                    attrs_only: true,
                    attrs_change: true,
                    checksum_mismatch: false,
                },
            ));
        }
        let attrs_change = exists && !self.attrs.differences(&state).is_empty();
        let checksum_mismatch = exists
            && self
                .checksum
                .as_ref()
                .is_some_and(|(_, want)| line_value(&text, "digest") != Some(want.as_str()));
        Ok(Plan::change(
            result,
            Work {
                path,
                exists,
                attrs_only: false,
                attrs_change,
                checksum_mismatch,
            },
        ))
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        let Ok(work) = plan.state::<Work>() else {
            return Vec::new();
        };
        let d = quote(&work.path);
        if work.attrs_only {
            return vec![files::attrs_script(&work.path, &self.attrs)];
        }
        let mut s = format!(
            "d={d}\ndir=$(dirname -- \"$d\")\n\
             [ -d \"$dir\" ] || {{ printf 'failed=Destination %s does not exist\\n' \"$dir\"; exit 1; }}\n\
             t=$(mktemp -- \"$dir/.drover-get_url.XXXXXXXX\" 2>/dev/null) || {{ printf 'failed=Destination %s is not writable\\n' \"$dir\"; exit 1; }}\n\
             trap 'rm -f -- \"$t\"' EXIT\nstart=$(date +%s)\n"
        );
        let flags = self.curl_flags(work);
        s.push_str(&format!(
            "code=$(curl {flags} -o \"$t\" -w '%{{http_code}}' 2>\"$t.err\"); rc=$?\n\
             err=$(cat -- \"$t.err\" 2>/dev/null); rm -f -- \"$t.err\"\n\
             echo \"elapsed=$(( $(date +%s) - start ))\"\necho \"status_code=$code\"\n\
             if [ $rc -ne 0 ]; then printf 'failed=Request failed: %s\\n' \"$err\"; exit 1; fi\n\
             case \"$code\" in 304) echo changed=0; exit 0 ;; 200|000) ;; *) echo 'failed=Request failed'; exit 1 ;; esac\n"
        ));
        if let (Some(cmd), Some((_, want))) = (self.digest_command(), &self.checksum) {
            s.push_str(&format!(
                "got=$({cmd} -- \"$t\" | cut -d' ' -f1)\n\
                 if [ \"$got\" != {want} ]; then printf 'failed=The checksum for %s did not match {want}; it was %s.\\n' \"$t\" \"$got\"; exit 1; fi\n"
            ));
        }
        s.push_str(
            "echo \"src=$t\"\necho \"checksum_src=$(sha1sum -- \"$t\" | cut -d' ' -f1)\"\n\
             if [ -f \"$d\" ]; then echo \"checksum_dest=$(sha1sum -- \"$d\" | cut -d' ' -f1)\"; fi\n\
             if [ -f \"$d\" ] && cmp -s -- \"$t\" \"$d\"; then echo changed=0; else\n  \
             if [ -e \"$d\" ]; then chmod --reference=\"$d\" -- \"$t\"; chown --reference=\"$d\" -- \"$t\" 2>/dev/null || true; \
             else chmod \"$(printf '%o' $(( 0666 & ~0$(umask) )))\" -- \"$t\"; fi\n  \
             mv -f -- \"$t\" \"$d\" || exit 1\n  trap - EXIT\n  echo changed=1\nfi\n",
        );
        let attrs = files::attrs_script(&work.path, &self.attrs).script;
        // attrs_script starts with `set -e` and `p=…`; keep its commands.
        for line in attrs.lines().skip(1) {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str(
            "echo \"size=$(stat -c %s -- \"$d\")\"\necho \"md5sum=$(md5sum -- \"$d\" | cut -d' ' -f1)\"\n",
        );
        s.push_str(&util::path_info_script("\"$d\""));
        vec![Request::new(s).with_stdin(self.request.config())]
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("get_url", outputs)?;
        let text = out.stdout_text();
        let work = plan.state::<Work>()?;
        let mut r = plan.result.clone();
        if work.attrs_only {
            if out.status != 0 {
                r.failed = true;
                r.changed = false;
                r.msg = Some(out.stderr_text().trim().to_string());
            }
            return Ok(r);
        }
        for key in ["checksum_src", "checksum_dest", "src", "md5sum"] {
            if let Some(v) = line_value(&text, key) {
                r = r.with(key, v.to_string());
            }
        }
        // curl says 000 for file:// and other non-HTTP URLs; Ansible reports no status then.
        if let Some(code) = line_value(&text, "status_code").and_then(|c| c.parse::<i64>().ok()) {
            r = r.with(
                "status_code",
                if code == 0 {
                    Value::Null
                } else {
                    Value::from(code)
                },
            );
        }
        if let Some(e) = line_value(&text, "elapsed").and_then(|c| c.parse::<i64>().ok()) {
            r = r.with("elapsed", e);
        }
        if out.status != 0 {
            r.failed = true;
            r.changed = false;
            r.msg = Some(match text.split_once("failed=") {
                Some((_, m)) => m.trim_end().to_string(),
                None => format!("get_url failed: {}", out.stderr_text().trim()),
            });
            return Ok(r);
        }
        if let Some(size) = line_value(&text, "size").and_then(|c| c.parse::<u64>().ok()) {
            r = r.with("size", size);
        }
        util::add_path_info(&mut r, &text);
        let content_changed = line_value(&text, "changed") == Some("1");
        r.changed = content_changed || work.attrs_change;
        r.msg = Some(match line_value(&text, "status_code") {
            Some("304") => "HTTP Error 304: Not Modified".into(),
            _ => format!("OK ({} bytes)", line_value(&text, "size").unwrap_or("0")),
        });
        Ok(r)
    }

    /// Ansible's check mode sends a HEAD request when it would download: it fails when the
    /// request fails or answers other than 200 (or 304: unchanged), and when `dest`'s directory
    /// does not exist.
    fn check_request(&self, plan: &Plan) -> Option<Request> {
        let work = plan.state::<Work>().ok()?;
        if work.attrs_only {
            return None;
        }
        let flags = self.curl_flags(work);
        let s = format!(
            "d={}\nout=$(curl {flags} --head -o /dev/null -w '\\ncode=%{{http_code}}\\n' 2>&1); rc=$?\n\
             echo \"rc=$rc\"\nprintf '%s\\n' \"$out\"\n\
             dir=$(dirname -- \"$d\")\n[ -d \"$dir\" ] || printf 'missing_dir=%s\\n' \"$dir\"\n",
            quote(&work.path)
        );
        Some(Request::new(s).with_stdin(self.request.config()))
    }

    fn check_result(&self, plan: &Plan, output: &Output) -> Result<ModuleResult, ModuleError> {
        let text = output.stdout_text();
        let mut r = plan.result.clone();
        let code = line_value(&text, "code").unwrap_or("000");
        if let Ok(c) = code.parse::<i64>()
            && c != 0
        {
            r = r.with("status_code", c);
        }
        let fail = |mut r: ModuleResult, msg: String| {
            r.failed = true;
            r.changed = false;
            r.msg = Some(msg);
            Ok(r)
        };
        if line_value(&text, "rc") != Some("0") {
            let err: Vec<&str> = text
                .lines()
                .filter(|l| {
                    !l.is_empty()
                        && !["rc=", "code=", "missing_dir="]
                            .iter()
                            .any(|k| l.starts_with(k))
                })
                .collect();
            return fail(r, format!("Request failed: {}", err.join(" ")));
        }
        match code {
            "304" => {
                r.changed = false;
                r.msg = Some("HTTP Error 304: Not Modified".into());
                Ok(r)
            }
            "200" | "000" => match line_value(&text, "missing_dir") {
                Some(dir) => fail(r, format!("Destination {dir} does not exist")),
                None => Ok(r),
            },
            _ => fail(r, "Request failed".into()),
        }
    }
}

/// SHA-1 of bytes, hex (Ansible's `checksum`).
#[cfg(test)]
fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out, run_local};
    use super::*;
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn matching_checksum_is_satisfied_without_download() {
        let sha = files::sha256_hex(b"consul\n");
        let a = action(
            "get_url",
            json!({"url": "https://releases.example/consul_1.8.7.zip", "dest": "/tmp/", "checksum": format!("sha256:{sha}"), "mode": "0644"}),
        );
        let probe = a.probe().unwrap().script;
        assert!(
            probe.starts_with("if [ -d /tmp/ ]; then f=/tmp/consul_1.8.7.zip; else f=/tmp/; fi\n"),
            "{probe}"
        );
        let plan = a
            .plan(Some(&out(0, &format!("path=/tmp/consul_1.8.7.zip\ndigest={sha}\nstate=file\nmode=644\nowner=root\ngroup=root\nsize=7\n"), "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(plan.result.msg.as_deref(), Some("file already exists"));
        let plan = a
            .plan(Some(&out(0, "path=/tmp/consul_1.8.7.zip\ndigest=00\nstate=file\nmode=644\nowner=root\ngroup=root\nsize=7\n", "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let req = &a.apply(&plan)[0];
        // The checksum differs: the download is forced, as Ansible does (a 304 answer to
        // If-Modified-Since would keep the wrong file).
        assert!(
            req.script
                .contains("code=$(curl -sS -K - -A ansible-httpget --max-time 10 -L -o \"$t\""),
            "{}",
            req.script
        );
        assert_eq!(
            String::from_utf8(req.stdin_bytes().unwrap().to_vec()).unwrap(),
            "url = \"https://releases.example/consul_1.8.7.zip\"\n"
        );
        assert!(
            error(
                "get_url",
                json!({"url": "x", "dest": "/y", "checksum": "sha256"})
            )
            .contains("<algorithm>:<checksum>")
        );
        assert!(
            error("get_url", json!({"url": "x", "dest": "/y", "backup": true}))
                .contains("`backup`")
        );
    }

    /// If-Modified-Since only for an existing `dest` without a checksum to compare.
    #[test]
    fn if_modified_since_unless_the_checksum_differs() {
        let probe = "path=/srv/f\nstate=file\nmode=644\nowner=root\ngroup=root\nsize=7\n";
        let a = action(
            "get_url",
            json!({"url": "http://repo.example/f", "dest": "/srv/f"}),
        );
        let plan = a.plan(Some(&out(0, probe, ""))).unwrap();
        assert!(a.apply(&plan)[0].script.contains(" -L -z \"$d\" -o \"$t\""));
        assert!(
            a.check_request(&plan)
                .unwrap()
                .script
                .contains(" -L -z \"$d\" --head ")
        );
        let a = action(
            "get_url",
            json!({"url": "http://repo.example/f", "dest": "/srv/f", "checksum": "sha256:abcd"}),
        );
        let plan = a
            .plan(Some(&out(0, &format!("{probe}digest=00\n"), "")))
            .unwrap();
        assert!(!a.apply(&plan)[0].script.contains("-z"));
        assert!(!a.check_request(&plan).unwrap().script.contains("-z"));
    }

    /// Check mode confirms a download with a HEAD request, as Ansible: 304 is unchanged, other
    /// answers than 200 and failed requests fail, and so does a missing destination directory.
    #[test]
    fn check_mode_head_request_outcomes() {
        let a = action(
            "get_url",
            json!({"url": "http://127.0.0.1:8081/index.html", "dest": "/srv/www/index.html"}),
        );
        let plan = a
            .plan(Some(&out(
                0,
                "path=/srv/www/index.html\nstate=absent\n",
                "",
            )))
            .unwrap();
        let req = a.check_request(&plan).unwrap();
        assert!(
            req.script.starts_with("d=/srv/www/index.html\n"),
            "{}",
            req.script
        );
        assert_eq!(
            String::from_utf8(req.stdin_bytes().unwrap().to_vec()).unwrap(),
            "url = \"http://127.0.0.1:8081/index.html\"\n"
        );
        let result = |stdout: &str| a.check_result(&plan, &out(0, stdout, "")).unwrap();
        let r = result("rc=0\n\ncode=200\n");
        assert!(r.changed && !r.failed);
        assert_eq!(r.extra["status_code"], 200);
        let r = result("rc=0\n\ncode=304\n");
        assert!(!r.changed && !r.failed);
        assert_eq!(r.msg.as_deref(), Some("HTTP Error 304: Not Modified"));
        let r = result("rc=0\n\ncode=404\n");
        assert!(r.failed && !r.changed);
        assert_eq!(r.msg.as_deref(), Some("Request failed"));
        assert_eq!(r.extra["status_code"], 404);
        let r = result(
            "rc=7\ncurl: (7) Failed to connect to 127.0.0.1 port 8081: Connection refused\ncode=000\n",
        );
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some(
                "Request failed: curl: (7) Failed to connect to 127.0.0.1 port 8081: Connection refused"
            )
        );
        let r = result("rc=0\n\ncode=200\nmissing_dir=/srv/www\n");
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Destination /srv/www does not exist")
        );
        // A matching checksum needs no request at all (attributes only).
        let sha = files::sha256_hex(b"x");
        let a = action(
            "get_url",
            json!({"url": "http://h/f", "dest": "/srv/f", "checksum": format!("sha256:{sha}"), "mode": "0600"}),
        );
        let plan = a
            .plan(Some(&out(0, &format!("path=/srv/f\ndigest={sha}\nstate=file\nmode=644\nowner=root\ngroup=root\nsize=1\n"), "")))
            .unwrap();
        assert!(a.check_request(&plan).is_none());
    }

    /// The check request in a real shell, over file://: an existing source is a change, a
    /// missing one fails like the download would, and so does a missing destination directory.
    #[tokio::test]
    async fn check_request_in_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.txt");
        std::fs::write(&src, "payload\n").unwrap();
        let check = |url: String, dest: std::path::PathBuf| async move {
            let a = action(
                "get_url",
                json!({"url": url, "dest": dest.to_str().unwrap()}),
            );
            let plan = a.plan(Some(&run_local(&a.probe().unwrap()).await)).unwrap();
            let out = run_local(&a.check_request(&plan).unwrap()).await;
            a.check_result(&plan, &out).unwrap()
        };
        let url = format!("file://{}", src.display());
        let r = check(url.clone(), dir.path().join("out.txt")).await;
        assert!(r.changed && !r.failed, "{:?}", r.msg);
        let r = check(format!("{url}.missing"), dir.path().join("out.txt")).await;
        assert!(r.failed, "{r:?}");
        assert!(
            r.msg
                .as_deref()
                .unwrap()
                .starts_with("Request failed: curl: (37)"),
            "{:?}",
            r.msg
        );
        let r = check(url, dir.path().join("no/such/dir/out.txt")).await;
        assert_eq!(
            r.msg.as_deref(),
            Some(
                format!(
                    "Destination {} does not exist",
                    dir.path().join("no/such/dir").display()
                )
                .as_str()
            )
        );
        assert!(!dir.path().join("out.txt").exists());
    }

    /// A real download over file:// into a temp dir: changed, then unchanged; checksum mismatch.
    #[tokio::test]
    async fn downloads_in_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("source file.txt");
        std::fs::write(&src, "payload\n").unwrap();
        let url = format!("file://{}", src.to_str().unwrap().replace(' ', "%20"));
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        let sha = files::sha256_hex(b"payload\n");
        let run = |args: serde_json::Value| async move {
            let a = action("get_url", args);
            let probe = run_local(&a.probe().unwrap()).await;
            let plan = a.plan(Some(&probe)).unwrap();
            if plan.outcome == Outcome::Satisfied {
                return (plan.outcome, plan.result);
            }
            let mut outs = Vec::new();
            for r in a.apply(&plan) {
                outs.push(run_local(&r).await);
            }
            (plan.outcome, a.finish(&plan, &outs).unwrap())
        };
        let args = json!({"url": url, "dest": dest.to_str().unwrap(), "mode": "0600", "checksum": format!("sha256:{sha}")});
        let (outcome, r) = run(args.clone()).await;
        assert_eq!(outcome, Outcome::Change);
        assert!(r.changed && !r.failed, "{:?}", r.msg);
        let file = dest.join("source%20file.txt");
        let got = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| std::fs::read_to_string(dest.join("source file.txt")).unwrap());
        assert_eq!(got, "payload\n");
        assert_eq!(r.extra["checksum_src"], sha1_hex(b"payload\n"));
        let (outcome, r) = run(args).await;
        assert_eq!(outcome, Outcome::Satisfied, "{:?}", r.msg);
        // without checksum: downloaded again, same content → unchanged
        let plain = dir.path().join("plain.txt");
        let args = json!({"url": url, "dest": plain.to_str().unwrap(), "force": true});
        let (_, r) = run(args.clone()).await;
        assert!(r.changed);
        let (_, r) = run(args).await;
        assert!(!r.changed && !r.failed, "{:?}", r.msg);
        // wrong checksum: fails, nothing left behind
        let bad = dir.path().join("bad.txt");
        let (_, r) =
            run(json!({"url": url, "dest": bad.to_str().unwrap(), "checksum": "sha256:00"})).await;
        assert!(r.failed);
        assert!(
            r.msg.as_deref().unwrap().contains("did not match 00"),
            "{:?}",
            r.msg
        );
        assert!(!bad.exists());
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".drover")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
