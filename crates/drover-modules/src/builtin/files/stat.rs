//! `stat`: facts about a path, Ansible's `stat:` dictionary, from one read-only probe
//! (coreutils `stat`, `sha1sum` & co., `file` for the MIME type, `lsattr` for attributes).
//! Never changed; the plan is always satisfied.

use drover_connection::shell::quote;
use serde::Deserialize;

use super::common::node_path;
use serde_json::{Map, Value};

use crate::params::{Bool, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "dest", alias = "name")]
    path: String,
    follow: Option<Bool>,
    get_checksum: Option<Bool>,
    #[serde(alias = "mime", alias = "mime_type", alias = "mime-type")]
    get_mime: Option<Bool>,
    #[serde(alias = "attr", alias = "attributes")]
    get_attributes: Option<Bool>,
    #[serde(alias = "checksum", alias = "checksum_algo")]
    checksum_algorithm: Option<String>,
}

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// Ansible's `FILE_ATTRIBUTES` (lsattr flag → name).
const FILE_ATTRIBUTES: &[(char, &str)] = &[
    ('A', "noatime"),
    ('a', "append"),
    ('c', "compressed"),
    ('C', "nocow"),
    ('d', "nodump"),
    ('D', "dirsync"),
    ('e', "extents"),
    ('E', "encrypted"),
    ('h', "blocksize"),
    ('i', "immutable"),
    ('I', "indexed"),
    ('j', "journalled"),
    ('N', "inline"),
    ('s', "zero"),
    ('S', "synchronous"),
    ('t', "notail"),
    ('T', "blockroot"),
    ('u', "undelete"),
    ('X', "compressedraw"),
    ('Z', "compresseddirty"),
];

pub(crate) struct Stat {
    path: String,
    follow: bool,
    checksum: Option<String>,
    mime: bool,
    attributes: bool,
}

/// Prepares a `stat` task.
pub fn prepare(args: &Map<String, Value>, _ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    let p: Params = parse("stat", args)?;
    node_path("stat", "path", &p.path)?;
    let algorithm = p.checksum_algorithm.unwrap_or_else(|| "sha1".into());
    if !ALGORITHMS.contains(&algorithm.as_str()) {
        return Err(ModuleError::params(format!(
            "module `stat`: value of checksum_algorithm must be one of: {}, got: {algorithm}",
            ALGORITHMS.join(", ")
        )));
    }
    Ok(Prepared::Remote(Box::new(Stat {
        path: p.path,
        follow: p.follow.is_some_and(|b| b.0),
        checksum: p.get_checksum.is_none_or(|b| b.0).then_some(algorithm),
        mime: p.get_mime.is_none_or(|b| b.0),
        attributes: p.get_attributes.is_none_or(|b| b.0),
    })))
}

impl Stat {
    fn script(&self) -> String {
        let (exists, flag) = if self.follow {
            ("[ -e \"$p\" ]", "-L ")
        } else {
            ("{ [ -e \"$p\" ] || [ -L \"$p\" ]; }", "")
        };
        let mut s = format!(
            "{locale}p={p}\nif ! {exists}; then echo exists=false; exit 0; fi\n\
             stat {flag}-c 'raw=%f\nuid=%u\ngid=%g\nsize=%s\ninode=%i\ndev=%d\nnlink=%h\natime=%.9X\nmtime=%.9Y\nctime=%.9Z\nblocks=%b\nblock_size=%o\nmajor=%t\nminor=%T\npw_name=%U\ngr_name=%G' -- \"$p\" || exit 1\n\
             [ -r \"$p\" ] && echo readable=1\n[ -w \"$p\" ] && echo writeable=1\n[ -x \"$p\" ] && echo executable=1\n",
            locale = crate::files::C_LOCALE,
            p = quote(&self.path)
        );
        if !self.follow {
            s.push_str(
                "if [ -L \"$p\" ]; then printf 'lnk_source=%s\\n' \"$(readlink -m -- \"$p\")\"; printf 'lnk_target=%s\\n' \"$(readlink -- \"$p\")\"; fi\n",
            );
        }
        if let Some(algorithm) = &self.checksum {
            let test = if self.follow {
                "[ -f \"$p\" ]"
            } else {
                "[ -f \"$p\" ] && [ ! -L \"$p\" ]"
            };
            s.push_str(&format!(
                "if {test} && [ -r \"$p\" ]; then c=$({algorithm}sum <\"$p\"); printf 'checksum=%s\\n' \"${{c%% *}}\"; fi\n"
            ));
        }
        if self.mime {
            s.push_str(
                "if command -v file >/dev/null 2>&1; then printf 'mime=%s\\n' \"$(file --mime-type --mime-encoding -- \"$p\" 2>/dev/null)\"; fi\n",
            );
        }
        if self.attributes {
            s.push_str(
                "if command -v lsattr >/dev/null 2>&1; then printf 'lsattr=%s\\n' \"$(lsattr -vd -- \"$p\" 2>/dev/null)\"; fi\n",
            );
        }
        s
    }

    fn parse(&self, stdout: &str) -> Result<Map<String, Value>, ModuleError> {
        let mut f: Map<String, Value> = Map::new();
        let fields: Vec<(&str, &str)> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        if get("exists") == Some("false") {
            f.insert("exists".into(), Value::Bool(false));
            return Ok(f);
        }
        let raw = get("raw")
            .and_then(|r| u32::from_str_radix(r, 16).ok())
            .ok_or_else(|| {
                ModuleError::node(format!(
                    "unexpected stat output for `{}`: {}",
                    self.path,
                    stdout.chars().take(200).collect::<String>()
                ))
            })?;
        let kind = raw & 0o170000;
        let int = |k: &str| -> Value {
            get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Value::Null, Value::from)
        };
        let float = |k: &str| -> Value {
            get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(Value::Null, Value::from)
        };
        f.insert("exists".into(), true.into());
        f.insert("path".into(), self.path.clone().into());
        f.insert("mode".into(), format!("{:04o}", raw & 0o7777).into());
        for (key, bits) in [
            ("isdir", 0o040000),
            ("ischr", 0o020000),
            ("isblk", 0o060000),
            ("isreg", 0o100000),
            ("isfifo", 0o010000),
            ("islnk", 0o120000),
            ("issock", 0o140000),
        ] {
            f.insert(key.into(), (kind == bits).into());
        }
        for key in ["uid", "gid", "size", "inode", "dev", "nlink"] {
            f.insert(key.into(), int(key));
        }
        for key in ["atime", "mtime", "ctime"] {
            f.insert(key.into(), float(key));
        }
        for (key, bit) in [
            ("wusr", 0o200),
            ("rusr", 0o400),
            ("xusr", 0o100),
            ("wgrp", 0o020),
            ("rgrp", 0o040),
            ("xgrp", 0o010),
            ("woth", 0o002),
            ("roth", 0o004),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            f.insert(key.into(), (raw & bit != 0).into());
        }
        f.insert("blocks".into(), int("blocks"));
        f.insert("block_size".into(), int("block_size"));
        let hex = |k: &str| get(k).and_then(|v| u64::from_str_radix(v, 16).ok());
        if let (Some(major), Some(minor)) = (hex("major"), hex("minor")) {
            // glibc's makedev
            let rdev = (minor & 0xff)
                | ((major & 0xfff) << 8)
                | ((minor & !0xff) << 12)
                | ((major & !0xfff) << 32);
            f.insert("device_type".into(), rdev.into());
        }
        for key in ["readable", "writeable", "executable"] {
            f.insert(key.into(), (get(key) == Some("1")).into());
        }
        for key in ["lnk_source", "lnk_target"] {
            if let Some(v) = get(key) {
                f.insert(key.into(), v.into());
            }
        }
        for key in ["pw_name", "gr_name"] {
            if let Some(v) = get(key).filter(|v| *v != "UNKNOWN") {
                f.insert(key.into(), v.into());
            }
        }
        if let Some(sum) = get("checksum").filter(|s| !s.is_empty()) {
            f.insert("checksum".into(), sum.into());
        }
        if self.mime {
            let (mut mimetype, mut charset) = ("unknown".to_string(), "unknown".to_string());
            // "<path>: text/plain; charset=us-ascii"
            if let Some(out) = get("mime")
                && let Some((_, tail)) = out.rsplit_once(':')
                && let Some((m, c)) = tail.split_once(';')
                && let Some((_, c)) = c.split_once('=')
            {
                mimetype = m.trim().to_string();
                charset = c.trim().to_string();
            }
            f.insert("mimetype".into(), mimetype.into());
            f.insert("charset".into(), charset.into());
        }
        if self.attributes {
            let mut version = Value::Null;
            let mut attributes = Vec::new();
            let mut flags = String::new();
            if let Some(out) = get("lsattr") {
                let words: Vec<&str> = out.split_whitespace().collect();
                if words.len() >= 2 {
                    version = words[0].into();
                    flags = words[1].replace('-', "");
                    attributes = flags
                        .chars()
                        .filter_map(|c| FILE_ATTRIBUTES.iter().find(|(f, _)| *f == c))
                        .map(|(_, name)| Value::from(*name))
                        .collect();
                }
            }
            f.insert("version".into(), version);
            f.insert("attributes".into(), Value::Array(attributes));
            f.insert("attr_flags".into(), flags.into());
        }
        Ok(f)
    }
}

impl Action for Stat {
    fn probe(&self) -> Option<Request> {
        Some(Request::new(self.script()))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let probe = probe.ok_or_else(|| ModuleError::internal("stat needs its probe"))?;
        if probe.status != 0 {
            return Ok(Plan::satisfied(ModuleResult::failed(
                probe.stderr_text().trim().to_string(),
            )));
        }
        let stat = self.parse(&probe.stdout_text())?;
        Ok(Plan::satisfied(
            ModuleResult::ok().with("stat", Value::Object(stat)),
        ))
    }

    fn apply(&self, _plan: &Plan) -> Vec<Request> {
        Vec::new()
    }

    fn finish(&self, plan: &Plan, _outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testkit::{action, out, prepare, run};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn parses_canned_stat_output() {
        let a = action(
            "stat",
            json!({"path": "/etc/hosts", "get_mime": false}),
            false,
        );
        let plan = a
            .plan(Some(&out(
                "raw=81a4\nuid=0\ngid=0\nsize=12\ninode=5\ndev=2049\nnlink=1\natime=1.5\nmtime=1700000000.250000000\nctime=2.0\nblocks=8\nblock_size=4096\nmajor=0\nminor=0\npw_name=root\ngr_name=root\nreadable=1\nwriteable=1\nchecksum=abc\nlsattr=0 --------------e------- /etc/hosts\n",
            )))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        let stat = &plan.result.extra["stat"];
        assert_eq!(stat["exists"], json!(true));
        assert_eq!(stat["mode"], json!("0644"));
        assert_eq!(stat["isreg"], json!(true));
        assert_eq!(stat["isdir"], json!(false));
        assert_eq!(stat["mtime"], json!(1_700_000_000.25));
        assert_eq!(stat["pw_name"], json!("root"));
        assert_eq!(stat["executable"], json!(false));
        assert_eq!(stat["checksum"], json!("abc"));
        assert_eq!(stat["attributes"], json!(["extents"]));
        assert_eq!(stat["attr_flags"], json!("e"));
        assert_eq!(stat["version"], json!("0"));
        assert!(stat.get("mimetype").is_none());
        let plan = a.plan(Some(&out("exists=false\n"))).unwrap();
        assert_eq!(plan.result.extra["stat"], json!({"exists": false}));
    }

    #[test]
    fn refuses_unknown_algorithms_and_params() {
        let e = prepare(
            "stat",
            json!({"path": "/x", "checksum_algorithm": "crc"}),
            false,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("must be one of"), "{e}");
        let e = prepare("stat", json!({"path": "/x", "bogus": 1}), false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown field `bogus`"), "{e}");
    }

    #[tokio::test]
    async fn stats_real_files_in_one_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a file");
        std::fs::write(&file, "hello\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();

        let a = action("stat", json!({"path": file.to_str().unwrap()}), false);
        let r = run(a.as_ref(), false).await.unwrap();
        assert_eq!(r.round_trips, 1);
        assert!(!r.result.changed);
        let st = &r.result.extra["stat"];
        assert_eq!(st["isreg"], json!(true));
        assert_eq!(st["size"], json!(6));
        // sha1("hello\n")
        assert_eq!(
            st["checksum"],
            json!("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        assert!(st["mtime"].as_f64().unwrap() > 1.0e9);

        let a = action(
            "stat",
            json!({"path": link.to_str().unwrap(), "checksum_algorithm": "sha256"}),
            false,
        );
        let st = run(a.as_ref(), false).await.unwrap().result.extra["stat"].clone();
        assert_eq!(st["islnk"], json!(true));
        assert!(st.get("checksum").is_none());
        assert_eq!(st["lnk_target"], json!(file.to_str().unwrap()));

        let a = action(
            "stat",
            json!({"path": link.to_str().unwrap(), "follow": true, "checksum_algorithm": "sha256"}),
            false,
        );
        let st = run(a.as_ref(), false).await.unwrap().result.extra["stat"].clone();
        assert_eq!(st["isreg"], json!(true));
        assert_eq!(
            st["checksum"],
            json!("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
        );

        let missing = dir.path().join("missing");
        let a = action("stat", json!({"path": missing.to_str().unwrap()}), false);
        let r = run(a.as_ref(), true).await.unwrap();
        assert_eq!(r.result.extra["stat"], json!({"exists": false}));
    }
}
