//! Prints the probe script a module sends for the given arguments (a debugging aid):
//! `cargo run -p drover-modules --example probe_script -- file '{"path":"/tmp","state":"directory"}'`.
use std::path::{Path, PathBuf};

use drover_modules::{Controller, Prepared, TaskContext, prepare};

struct Here;

impl Controller for Here {
    fn find_file(&self, name: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(name))
    }
    fn find_template(&self, name: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(name))
    }
    fn render_template(&self, path: &Path, _: &str, _: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(module), Some(json)) = (args.next(), args.next()) else {
        eprintln!("usage: probe_script MODULE ARGS_JSON");
        std::process::exit(1);
    };
    let value: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("ARGS_JSON: {e}");
            std::process::exit(1);
        }
    };
    let Some(object) = value.as_object() else {
        eprintln!("ARGS_JSON must be an object");
        std::process::exit(1);
    };
    let ctx = TaskContext {
        host: "node",
        controller: &Here,
        diff: false,
        escalated: false,
    };
    match prepare(&module, object, &ctx) {
        Ok(Prepared::Remote(action)) => match action.probe() {
            Some(request) => print!("{}", request.script),
            None => eprintln!("{module} sends no probe"),
        },
        Ok(Prepared::Local(_)) => eprintln!("{module} runs on the controller"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
