//! `slurp`: a node file's content, base64-encoded (`content`, `source`, `encoding`), read with
//! coreutils `base64` in one read-only probe. Never changed. [`read_script`] is shared with
//! `fetch`.

use drover_connection::shell::quote;
use serde::Deserialize;

use super::common::node_path;
use serde_json::{Map, Value};

use crate::params::parse;
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request, TaskContext};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "path")]
    src: String,
}

/// What reading a node file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// The base64 content.
    Content(String),
    /// Missing (Ansible: `file not found: <path>`).
    Missing,
    /// A directory.
    Directory,
    /// Not readable by the (possibly become) user.
    Unreadable,
}

/// The script that prints `error=<kind>` or `content=<base64>` for `path` (symlinks followed).
pub(crate) fn read_script(path: &str) -> Request {
    Request::new(format!(
        "p={}\nif [ -d \"$p\" ]; then echo error=directory; exit 0; fi\n\
         if [ ! -e \"$p\" ]; then echo error=missing; exit 0; fi\n\
         if [ ! -r \"$p\" ]; then echo error=unreadable; exit 0; fi\n\
         printf content=; base64 -w 0 -- \"$p\" || exit 1\necho\n",
        quote(path)
    ))
}

/// Parses [`read_script`] output.
pub(crate) fn parse_read(path: &str, out: &Output) -> Result<ReadOutcome, ModuleError> {
    let text = out.stdout_text();
    if out.status != 0 {
        return Err(ModuleError::node(format!(
            "unable to slurp file: {}",
            out.stderr_text().trim()
        )));
    }
    let line = text.lines().next().unwrap_or("");
    match line.split_once('=') {
        Some(("content", b64)) => Ok(ReadOutcome::Content(b64.to_string())),
        Some(("error", "missing")) => Ok(ReadOutcome::Missing),
        Some(("error", "directory")) => Ok(ReadOutcome::Directory),
        Some(("error", "unreadable")) => Ok(ReadOutcome::Unreadable),
        _ => Err(ModuleError::node(format!(
            "unexpected output reading `{path}`: {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

/// Ansible's message for a failed read.
pub(crate) fn read_error(path: &str, outcome: &ReadOutcome) -> String {
    match outcome {
        ReadOutcome::Missing => format!("file not found: {path}"),
        ReadOutcome::Directory => format!("source is a directory and must be a file: {path}"),
        ReadOutcome::Unreadable => format!("file is not readable: {path}"),
        ReadOutcome::Content(_) => String::new(),
    }
}

pub(crate) struct Slurp {
    src: String,
}

/// Prepares a `slurp` task.
pub fn prepare(args: &Map<String, Value>, _ctx: &TaskContext<'_>) -> Result<Prepared, ModuleError> {
    let p: Params = parse("slurp", args)?;
    node_path("slurp", "src", &p.src)?;
    Ok(Prepared::Remote(Box::new(Slurp { src: p.src })))
}

impl Action for Slurp {
    fn probe(&self) -> Option<Request> {
        Some(read_script(&self.src))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let probe = probe.ok_or_else(|| ModuleError::internal("slurp needs its probe"))?;
        let result = match parse_read(&self.src, probe)? {
            ReadOutcome::Content(b64) => ModuleResult::ok()
                .with("content", b64)
                .with("source", self.src.clone())
                .with("encoding", "base64"),
            other => ModuleResult::failed(read_error(&self.src, &other)),
        };
        Ok(Plan::satisfied(result))
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
    use super::super::common::testkit::{action, out, run};
    use crate::Outcome;
    use serde_json::json;

    #[test]
    fn canned_outputs() {
        let a = action("slurp", json!({"src": "/etc/x"}), false);
        let plan = a.plan(Some(&out("content=aGkK\n"))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(
            plan.result.to_registered(),
            json!({"changed": false, "failed": false, "content": "aGkK", "source": "/etc/x", "encoding": "base64"})
        );
        let plan = a.plan(Some(&out("error=missing\n"))).unwrap();
        assert!(plan.result.failed);
        assert_eq!(plan.result.msg.as_deref(), Some("file not found: /etc/x"));
        let plan = a.plan(Some(&out("error=directory\n"))).unwrap();
        assert_eq!(
            plan.result.msg.as_deref(),
            Some("source is a directory and must be a file: /etc/x")
        );
    }

    #[tokio::test]
    async fn slurps_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        std::fs::write(&file, &bytes).unwrap();
        let a = action("slurp", json!({"path": file.to_str().unwrap()}), false);
        let r = run(a.as_ref(), false).await.unwrap();
        assert_eq!(r.round_trips, 1);
        use base64::Engine;
        let got = base64::engine::general_purpose::STANDARD
            .decode(r.result.extra["content"].as_str().unwrap())
            .unwrap();
        assert_eq!(got, bytes);
        let a = action("slurp", json!({"src": dir.path().to_str().unwrap()}), false);
        assert!(run(a.as_ref(), false).await.unwrap().result.failed);
    }
}
