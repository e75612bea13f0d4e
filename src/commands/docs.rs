//! `drover completions SHELL` and `drover man`: generated from the clap definitions.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit;

/// Prints a completion script for the shell.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "drover", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Writes man pages: drover.1 to stdout, or every page into `--out DIR`.
pub fn man(args: &ManArgs) -> ExitCode {
    let cmd = Cli::command();
    let result = match &args.out {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)),
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .and_then(|()| out.flush())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::fail(
            &drover_diag::Diagnostic::error(format!("cannot write man pages: {e}"))
                .with_help("check that the output directory is writable"),
            exit::ERROR,
        ),
    }
}
