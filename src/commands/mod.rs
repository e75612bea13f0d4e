//! One module per subcommand; `run` dispatches.

mod docs;
mod identity;
mod inventory;
mod play;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Play(args) => play::run(&args),
        Command::Inventory(args) => inventory::run(&args),
        Command::Identity(args) => identity::run(&args),
        Command::Sandbox(args) => drover_sandbox::cli::run(args, &project_root()),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
}

/// The drover project directory (holding `sandbox/`, `roles/`, `inventory/`): `$DROVER_ROOT`,
/// else the nearest ancestor of the current directory that has `sandbox/image`, else the
/// checkout the binary was built in (`target/<profile>/drover` → two levels up).
fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("DROVER_ROOT") {
        return PathBuf::from(root);
    }
    let is_root = |d: &Path| d.join("sandbox/image").is_dir();
    if let Ok(cwd) = std::env::current_dir()
        && let Some(found) = cwd.ancestors().find(|d| is_root(d))
    {
        return found.to_path_buf();
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(found) = exe.ancestors().find(|d| is_root(d))
    {
        return found.to_path_buf();
    }
    PathBuf::from(".")
}
