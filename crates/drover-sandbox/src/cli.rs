//! `drover sandbox ...`: the command-line face of this crate. The main
//! binary embeds [`SandboxArgs`] as a subcommand and calls [`run`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::error::{Error, Result};
use crate::image::{self, ImageVariant};
use crate::sandbox::{Power, Sandbox, UpOptions, default_state_root};
use crate::topology::{DEFAULT_NAME, Subnet24};

/// Run a Pigsty-shaped sandbox of Debian nodes in Docker (meta 10.10.10.10,
/// node-1..3 10.10.10.11-13), reached over SSH on 127.0.0.1.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Sandbox name; several sandboxes with different names can run at once.
    #[arg(long, global = true, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Directory for generated state (keys, ssh_config, inventories).
    #[arg(long, global = true, value_name = "DIR", default_value = None)]
    pub state_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: SandboxCommand,
}

/// The sandbox subcommands.
#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Build the node image if needed, start the nodes, wait for SSH.
    Up {
        /// Number of nodes: meta + node-1..node-(N-1).
        #[arg(long, default_value_t = 4, value_name = "N")]
        nodes: usize,
        /// Use the image without python3 (drover needs none on nodes).
        #[arg(long)]
        no_python: bool,
        /// Network (a /24); default 10.10.10.0/24 for `pigsty`, else a free 10.10.x.0/24.
        #[arg(long, value_name = "CIDR")]
        subnet: Option<String>,
        /// Rebuild the node image even if it is up to date.
        #[arg(long)]
        rebuild_image: bool,
        /// Seconds to wait for every node to answer over SSH.
        #[arg(long, default_value_t = 180, value_name = "SECS")]
        timeout: u64,
        /// Light nodes: sshd alone, no systemd (a few MB each; for scale benchmarks with
        /// 100+ nodes; services cannot run on them).
        #[arg(long)]
        light: bool,
    },
    /// Remove the sandbox's containers, network and generated files.
    Down {
        /// Remove every drover sandbox on this Docker engine.
        #[arg(long)]
        all: bool,
    },
    /// Show each node's state, address, SSH port and memory use.
    Status,
    /// Open an SSH session on NODE (hostname or address), or run COMMAND there.
    Ssh {
        /// `meta`, `node-1`, ... or `10.10.10.11`.
        node: String,
        /// Command to run instead of a login shell.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Build the node image (if the recipe changed) and print its tag.
    Image {
        /// Build even if an image of the current recipe exists.
        #[arg(long)]
        rebuild: bool,
        /// The variant without python3.
        #[arg(long)]
        no_python: bool,
    },
    /// Power NODE off (every process killed at once, as in a power failure).
    Stop {
        /// Node hostname or address.
        node: String,
        /// Shut the node down in order instead (systemd stops its units).
        #[arg(long)]
        graceful: bool,
    },
    /// Start a stopped NODE and wait for SSH.
    Start {
        /// Node hostname or address.
        node: String,
    },
    /// Disconnect NODE from the sandbox network.
    Isolate {
        /// Node hostname or address.
        node: String,
    },
    /// Reconnect an isolated NODE and wait for SSH.
    Heal {
        /// Node hostname or address.
        node: String,
    },
}

/// `println!` that ignores a closed stdout (`drover sandbox status | head`)
/// instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Seconds `start`/`heal` wait for SSH.
const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a `drover sandbox` command; `repo_root` holds `sandbox/image/`
/// and, unless `--state-dir` is given, `.sandbox/`.
pub fn run(args: SandboxArgs, repo_root: &Path) -> ExitCode {
    match execute(args, repo_root) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: SandboxArgs, repo_root: &Path) -> Result<ExitCode> {
    let state_root = args
        .state_dir
        .clone()
        .unwrap_or_else(|| default_state_root(repo_root));
    let name = args.name.as_str();
    match args.command {
        SandboxCommand::Up {
            nodes,
            no_python,
            subnet,
            rebuild_image,
            timeout,
            light,
        } => {
            let mut opts = UpOptions::new(name, repo_root);
            opts.nodes = nodes;
            opts.variant = variant(no_python);
            opts.subnet = subnet.as_deref().map(Subnet24::parse).transpose()?;
            opts.rebuild_image = rebuild_image;
            opts.state_root = state_root;
            opts.ready_timeout = Duration::from_secs(timeout);
            opts.light = light;
            let started = Instant::now();
            let (sandbox, t) = Sandbox::up(&opts)?;
            out!(
                "sandbox `{name}` is up: {} node{} on {} in {:.1}s (image {} {:.1}s, start {:.1}s, ssh ready {:.1}s)",
                sandbox.nodes().len(),
                if sandbox.nodes().len() == 1 { "" } else { "s" },
                sandbox.state().subnet,
                started.elapsed().as_secs_f64(),
                if t.image_built { "built" } else { "reused" },
                t.image.as_secs_f64(),
                t.start.as_secs_f64(),
                t.ready.as_secs_f64(),
            );
            print_status(&sandbox, false)?;
            print_usage(&sandbox);
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Down { all } => {
            let names = if all {
                Sandbox::list()?
            } else {
                vec![name.to_owned()]
            };
            for n in names {
                let started = Instant::now();
                let removed = Sandbox::down(&state_root, &n)?;
                out!(
                    "sandbox `{n}` is down: removed {} docker objects in {:.1}s",
                    removed.len(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Status => {
            let sandbox = Sandbox::open(&state_root, name)?;
            out!(
                "sandbox `{name}`: network {} ({}), image {}",
                sandbox.state().network,
                sandbox.state().subnet,
                sandbox.state().image
            );
            print_status(&sandbox, true)?;
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Ssh { node, command } => {
            let sandbox = Sandbox::open(&state_root, name)?;
            let mut cmd = sandbox.ssh_command(&node)?;
            if !command.is_empty() {
                cmd.arg("--").args(&command);
            }
            let status = cmd.status().map_err(|e| Error::Command {
                command: "ssh".to_owned(),
                detail: e.to_string(),
            })?;
            Ok(ExitCode::from(
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(255),
            ))
        }
        SandboxCommand::Image { rebuild, no_python } => {
            let out = image::ensure_image(repo_root, variant(no_python), rebuild)?;
            if out.built {
                out!("{} (built in {:.1}s)", out.tag, out.elapsed.as_secs_f64());
            } else {
                out!("{} (up to date)", out.tag);
            }
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Stop { node, graceful } => {
            let how = if graceful {
                Power::Shutdown
            } else {
                Power::Off
            };
            Sandbox::open(&state_root, name)?.stop(&node, how)?;
            out!(
                "{node}: {}",
                if graceful { "shut down" } else { "powered off" }
            );
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Start { node } => {
            Sandbox::open(&state_root, name)?.start(&node, NODE_TIMEOUT)?;
            out!("{node}: started, SSH answers");
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Isolate { node } => {
            Sandbox::open(&state_root, name)?.isolate(&node)?;
            out!("{node}: isolated from the sandbox network");
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Heal { node } => {
            Sandbox::open(&state_root, name)?.heal(&node, NODE_TIMEOUT)?;
            out!("{node}: reconnected, SSH answers");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn variant(no_python: bool) -> ImageVariant {
    if no_python {
        ImageVariant::NoPython
    } else {
        ImageVariant::WithPython
    }
}

fn print_status(sandbox: &Sandbox, live: bool) -> Result<()> {
    let status = sandbox.status()?;
    out!(
        "{:<10} {:<14} {:<22} {:<10} {:<10} MEMORY",
        "NODE",
        "ADDRESS",
        "SSH",
        "STATE",
        "NETWORK"
    );
    for s in status {
        out!(
            "{:<10} {:<14} {:<22} {:<10} {:<10} {}",
            s.node.spec.hostname,
            s.node.spec.address,
            format!("127.0.0.1:{}", s.node.ssh_port),
            s.state,
            if s.connected { "connected" } else { "isolated" },
            if live {
                s.memory.unwrap_or_else(|| "-".to_owned())
            } else {
                s.memory.unwrap_or_default()
            }
        );
    }
    Ok(())
}

fn print_usage(sandbox: &Sandbox) {
    let p = sandbox.paths();
    let name = sandbox.name();
    out!(
        "\nssh:        drover sandbox ssh --name {name} meta   (or ssh -F {})\n\
         inventory:  -i {} -i {}",
        p.ssh_config().display(),
        p.inventory().display(),
        p.connection_inventory().display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    #[test]
    fn parses_subcommands_and_global_name() {
        let cli = Cli::try_parse_from([
            "drover",
            "up",
            "--nodes",
            "32",
            "--no-python",
            "--name",
            "bench",
        ])
        .expect("parses");
        assert_eq!(cli.sandbox.name, "bench");
        assert!(matches!(
            cli.sandbox.command,
            SandboxCommand::Up {
                nodes: 32,
                no_python: true,
                ..
            }
        ));
        let cli =
            Cli::try_parse_from(["drover", "ssh", "node-1", "systemctl", "is-system-running"])
                .expect("parses");
        assert_eq!(cli.sandbox.name, "pigsty");
        match cli.sandbox.command {
            SandboxCommand::Ssh { node, command } => {
                assert_eq!(node, "node-1");
                assert_eq!(command, ["systemctl", "is-system-running"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from(["drover", "isolate"]).is_err());
    }
}
