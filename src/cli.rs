//! Command-line definitions (clap derive). Flags mean what they mean for `ansible-playbook` and
//! `ansible-inventory`; help, completions and the man page are generated from these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// drover: agentless provisioning for Pigsty-style infrastructure, with Ansible's inventories,
/// playbooks and roles, and no Python on the nodes.
#[derive(Parser, Debug)]
#[command(name = "drover", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// drover's subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run playbooks (like `ansible-playbook`). Playbooks can also be run directly through their
    /// shebang: `#!/usr/bin/env -S drover play`.
    Play(PlayArgs),
    /// Show the inventory (like `ansible-inventory`).
    Inventory(InventoryArgs),
    /// Compare the inventory's PostgreSQL identities (pg_role) with the live cluster; exit 1
    /// on drift. `--write` sets pg_role in the YAML inventory to the live roles, in place.
    Identity(IdentityArgs),
    /// Manage the Docker sandbox of Pigsty-shaped nodes.
    Sandbox(drover_sandbox::cli::SandboxArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write man pages (drover.1 and one per subcommand).
    Man(ManArgs),
}

/// Inventory selection shared by `play` and `inventory`.
#[derive(Args, Debug, Clone)]
pub struct InventoryOpts {
    /// Inventory file or directory; repeat to merge several. Default: `$DROVER_INVENTORY`, then
    /// `inventory/` beside the first playbook (or in its parent directory).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<PathBuf>,
}

/// Arguments of `drover play`.
#[derive(Args, Debug)]
pub struct PlayArgs {
    /// Playbook files, run in order.
    #[arg(value_name = "PLAYBOOK", required = true)]
    pub playbooks: Vec<PathBuf>,

    #[command(flatten)]
    pub inventory: InventoryOpts,

    /// Only run plays and tasks tagged with these tags (comma-separated; repeatable).
    #[arg(short = 't', long = "tags", value_name = "TAGS")]
    pub tags: Vec<String>,

    /// Only run plays and tasks whose tags do not match these (wins over --tags).
    #[arg(long = "skip-tags", value_name = "TAGS")]
    pub skip_tags: Vec<String>,

    /// Further limit selected hosts to a pattern (`@file` reads one pattern per line).
    #[arg(short = 'l', long = "limit", value_name = "SUBSET")]
    pub limit: Option<String>,

    /// Extra variables: `key=value`, `@vars.yml` or a YAML/JSON mapping; repeatable, later wins.
    #[arg(short = 'e', long = "extra-vars", value_name = "EXTRA_VARS")]
    pub extra_vars: Vec<String>,

    /// Don't make any changes; predict what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Show the differences in files and templates that change.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,

    /// Number of hosts to work on in parallel.
    #[arg(
        short = 'f',
        long = "forks",
        value_name = "FORKS",
        default_value_t = 16,
        value_parser = forks_parser
    )]
    pub forks: usize,

    /// More output (repeat for more: -vvv).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Outputs a list of matching hosts; does not execute anything else.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,

    /// List all tasks that would be executed.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,

    /// List all available tags.
    #[arg(long = "list-tags")]
    pub list_tags: bool,

    /// Perform a syntax check on the playbook, but do not execute it.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,

    /// Output format.
    #[arg(long = "output", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Run notified handlers even on hosts that failed.
    #[arg(long = "force-handlers")]
    pub force_handlers: bool,

    /// After the recap, show the slowest tasks and hosts.
    #[arg(long = "profile")]
    pub profile: bool,
}

/// How results are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// ansible-playbook's shape: PLAY, TASK, one line per host, PLAY RECAP.
    Human,
    /// One JSON event per line.
    Json,
}

/// Arguments of `drover identity`.
#[derive(Args, Debug)]
pub struct IdentityArgs {
    #[command(flatten)]
    pub inventory: InventoryOpts,

    /// Set `pg_role` in the YAML inventory file(s) to the live roles (only those scalars change).
    #[arg(long)]
    pub write: bool,

    /// Only these hosts or groups.
    #[arg(short = 'l', long = "limit", value_name = "SUBSET")]
    pub limit: Option<String>,
}

/// Arguments of `drover inventory`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["list", "host", "graph"])))]
pub struct InventoryArgs {
    #[command(flatten)]
    pub inventory: InventoryOpts,

    /// Output all hosts info as JSON (like `ansible-inventory --list`).
    #[arg(long)]
    pub list: bool,

    /// Output one host's variables as JSON (like `ansible-inventory --host`).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Show the group tree, optionally from a group (like `ansible-inventory --graph`).
    #[arg(long, value_name = "GROUP", num_args = 0..=1, default_missing_value = "all")]
    pub graph: Option<String>,

    /// Further limit selected hosts to a pattern.
    #[arg(short = 'l', long = "limit", value_name = "SUBSET")]
    pub limit: Option<String>,

    /// Directory whose `group_vars/` and `host_vars/` apply as playbook-adjacent vars.
    #[arg(long = "playbook-dir", value_name = "DIR")]
    pub playbook_dir: Option<PathBuf>,
}

/// Arguments of `drover completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `drover man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages into (printed to stdout when omitted: drover.1 only).
    #[arg(long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Splits repeated, comma-separated tag arguments (`-t a,b -t c`) into one list.
pub fn split_tags(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// `-f`/`--forks`: at least 1, as ansible-playbook requires ("The number of processes
/// (--forks) must be >= 1", exit 2).
fn forks_parser(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("the number of processes (--forks) must be >= 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{text}` is not a number of processes: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tags_split_on_commas_and_repeats() {
        let v = vec!["a,b".to_string(), " c ".to_string(), ",".to_string()];
        assert_eq!(split_tags(&v), ["a", "b", "c"]);
    }

    #[test]
    fn play_flags_parse_like_ansible_playbook() {
        let cli = Cli::try_parse_from([
            "drover",
            "play",
            "site.yml",
            "-i",
            "a",
            "-i",
            "b",
            "-t",
            "x,y",
            "-t",
            "z",
            "--skip-tags",
            "never",
            "-l",
            "pg-test",
            "-e",
            "a=1",
            "-e",
            "@v.yml",
            "-C",
            "-D",
            "-f",
            "8",
            "-vvv",
            "--list-tasks",
        ])
        .unwrap();
        let Command::Play(p) = cli.command else {
            panic!("not play")
        };
        assert_eq!(p.inventory.inventory.len(), 2);
        assert_eq!(split_tags(&p.tags), ["x", "y", "z"]);
        assert_eq!(p.limit.as_deref(), Some("pg-test"));
        assert_eq!(p.extra_vars, ["a=1", "@v.yml"]);
        assert!(p.check && p.diff && p.list_tasks);
        assert_eq!((p.forks, p.verbose), (8, 3));
    }

    #[test]
    fn shebang_form_puts_flags_after_the_playbook() {
        // `#!/usr/bin/env -S drover play` makes `./infra.yml -t x` run `drover play ./infra.yml -t x`
        let cli = Cli::try_parse_from(["drover", "play", "./infra.yml", "-t", "x"]).unwrap();
        let Command::Play(p) = cli.command else {
            panic!("not play")
        };
        assert_eq!(p.playbooks, [PathBuf::from("./infra.yml")]);
        assert_eq!(p.tags, ["x"]);
    }

    #[test]
    fn forks_must_be_at_least_one() {
        for bad in ["0", "-1", "x"] {
            let e = Cli::try_parse_from(["drover", "play", "-f", bad, "site.yml"]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        assert!(Cli::try_parse_from(["drover", "play", "-f", "1", "site.yml"]).is_ok());
    }
}
