//! `cargo run -p drover-sandbox --example sandbox -- up` runs the same
//! commands as `drover sandbox ...` before the main binary wires them.

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "drover-sandbox")]
struct Cli {
    #[command(flatten)]
    sandbox: drover_sandbox::cli::SandboxArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    drover_sandbox::cli::run(cli.sandbox, &drover_sandbox::testing::repo_root())
}
