//! drover's command-line entry point: parses arguments and hands over to a command.

mod cli;
mod commands;
mod exit;
mod extra_vars;
mod inventory_path;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    commands::run(cli)
}
