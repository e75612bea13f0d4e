//! `drover play`: load playbooks, then list (`--list-hosts/--list-tasks/--list-tags`), check
//! (`--syntax-check`) or run them.
//!
//! Otherwise the playbooks run on the nodes (drover-executor) and results are printed as they
//! come (drover-report); the exit code is ansible-playbook's.

use std::process::ExitCode;
use std::sync::Arc;

use drover_diag::Diagnostic;
use drover_executor::{Executor, RunOptions};
use drover_inventory::Inventory;
use drover_playbook::listing::{ListContext, ListOptions, TemplaterAndVars};
use drover_playbook::{LoadOptions, LoadTemplater, Play, Playbook, TagFilter, load_playbook};
use drover_report::{ColorChoice, HumanOptions, HumanReporter, JsonReporter};
use drover_template::{Templar, Vars};
use serde_json::{Map, Value};

use crate::cli::{OutputFormat, PlayArgs, split_tags};
use crate::{exit, extra_vars, inventory_path};

/// Runs `drover play`.
pub fn run(args: &PlayArgs) -> ExitCode {
    let extra = match extra_vars::load(&args.extra_vars) {
        Ok(vars) => vars,
        Err(diag) => return exit::fail(&diag, exit::OPTIONS_ERROR),
    };
    let templar = Arc::new(Templar::default());
    let options = LoadOptions {
        extra_vars: extra.clone(),
        templater: Arc::new(JinjaLoadTemplater(templar.clone())),
        ..LoadOptions::from_env()
    };
    let mut playbooks = Vec::new();
    for path in &args.playbooks {
        if !path.is_file() {
            let diag = Diagnostic::error(format!(
                "the playbook `{}` could not be found",
                path.display()
            ))
            .with_help("check the path; playbooks are YAML files with a list of plays");
            return exit::fail(&diag, exit::ERROR);
        }
        match load_playbook(path, options.clone()) {
            Ok(playbook) => {
                exit::warn_all(&playbook.warnings);
                playbooks.push(playbook);
            }
            Err(diag) => return exit::fail(&diag, exit::PARSE_ERROR),
        }
    }
    if args.syntax_check {
        for playbook in &playbooks {
            println!("\nplaybook: {}", playbook.path.display());
        }
        return ExitCode::SUCCESS;
    }

    let playbook_dir = inventory_path::playbook_dir(&args.playbooks[0]);
    let inventory = match super::inventory::load(
        &args.inventory.inventory,
        Some(&playbook_dir),
        args.limit.as_deref(),
    ) {
        Ok(inventory) => inventory,
        Err(diag) => return exit::fail(&diag, exit::ERROR),
    };
    // ansible-playbook stops before any play when the limit leaves no host of a non-empty
    // inventory (CLI.get_host_list), listings included
    if args.limit.is_some() && !inventory.hosts().is_empty() {
        match inventory.select_patterns(&["all".to_string()], true) {
            Ok(selection) if selection.hosts.is_empty() => {
                exit::warn_all(&selection.warnings);
                let diag = Diagnostic::error(
                    "Specified inventory, host pattern and/or --limit leaves us with no hosts to target.",
                )
                .with_help("check the names in -l/--limit against `drover inventory --graph`");
                return exit::fail(&diag, exit::ERROR);
            }
            Ok(_) => {}
            Err(diag) => return exit::fail(&diag, exit::ERROR),
        }
    }

    let list = ListOptions {
        tasks: args.list_tasks,
        tags: args.list_tags,
        hosts: args.list_hosts,
    };
    if list.tasks || list.tags || list.hosts {
        let filter = TagFilter::new(&split_tags(&args.tags), &split_tags(&args.skip_tags));
        let ctx = PlayContext {
            inventory: &inventory,
            templar: JinjaLoadTemplater(templar),
            extra_vars: extra,
        };
        for playbook in &playbooks {
            match drover_playbook::listing::render(playbook, &filter, list, &ctx) {
                Ok(text) => print!("{text}"),
                Err(diag) => return exit::fail(&diag, exit::ERROR),
            }
        }
        return ExitCode::SUCCESS;
    }

    run_playbooks(args, playbooks, inventory, extra, templar)
}

/// Runs the playbooks on the nodes and prints results as they come.
fn run_playbooks(
    args: &PlayArgs,
    playbooks: Vec<Playbook>,
    inventory: Inventory,
    extra: Map<String, Value>,
    templar: Arc<Templar>,
) -> ExitCode {
    // Pigsty identity (pg_cluster, pg_seq, pg_role, dcs_servers) before any node is touched.
    let identity = inventory.check_identity();
    exit::warn_all(&identity.warnings);
    if !identity.errors.is_empty() {
        for diag in &identity.errors {
            eprint!("{diag}");
        }
        eprintln!(
            "error: the inventory's Pigsty identity is invalid ({} problem{}); no node was touched",
            identity.errors.len(),
            if identity.errors.len() == 1 { "" } else { "s" }
        );
        return ExitCode::from(exit::ERROR);
    }
    // A sandbox's connection file reaches the sandbox only (see drover_inventory::sandbox_guard):
    // the hosts the plays select (within --limit), unless the plays or -e run them locally.
    let local = |v: Option<&Value>| v.and_then(Value::as_str) == Some("local");
    let mut reached: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    if !local(extra.get("ansible_connection")) {
        for play in playbooks.iter().flat_map(|p| &p.plays) {
            if local(play.connection.as_ref().map(|c| &c.value)) {
                continue;
            }
            // a pattern that does not resolve here is checked when its hosts are connected
            if let Ok(selection) = inventory.select_patterns(&play.hosts, true) {
                let new = selection
                    .hosts
                    .into_iter()
                    .filter(|h| seen.insert(h.clone()));
                reached.extend(new);
            }
        }
    }
    let outside = inventory.check_sandbox_reach(&reached);
    if !outside.is_empty() {
        for diag in &outside {
            eprint!("{diag}");
        }
        eprintln!(
            "error: {} host{} of this run would be reached outside the sandbox; no node was touched",
            outside.len(),
            if outside.len() == 1 { "" } else { "s" }
        );
        return ExitCode::from(exit::ERROR);
    }
    let sink: Arc<dyn drover_events::Sink> = match args.output {
        OutputFormat::Human => {
            let options =
                HumanOptions::for_stdout(args.verbose, args.diff, args.profile, ColorChoice::Auto);
            Arc::new(HumanReporter::new(
                options,
                Box::new(std::io::stdout()),
                Box::new(std::io::stderr()),
            ))
        }
        OutputFormat::Json => Arc::new(JsonReporter::new(Box::new(std::io::stdout()))),
    };
    let look_ahead = match drover_executor::look_ahead_from_env() {
        Ok(on) => on,
        Err(message) => return exit::fail(&Diagnostic::error(message), exit::OPTIONS_ERROR),
    };
    let options = RunOptions {
        check: args.check,
        diff: args.diff,
        forks: args.forks.max(1),
        verbosity: args.verbose,
        force_handlers: args.force_handlers,
        extra_vars: extra,
        filter: TagFilter::new(&split_tags(&args.tags), &split_tags(&args.skip_tags)),
        look_ahead,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return exit::fail(
                &Diagnostic::error(format!("cannot start the async runtime: {e}")),
                exit::ERROR,
            );
        }
    };
    let load_templater: Arc<dyn LoadTemplater> = Arc::new(JinjaLoadTemplater(templar.clone()));
    let executor = match Executor::new(Arc::new(inventory), options, sink, templar, load_templater)
    {
        Ok(e) => e,
        Err(e) => {
            let diag = Diagnostic::error(format!("cannot create the SSH control directory: {e}"))
                .with_help(
                    "drover keeps its ssh control sockets in $XDG_RUNTIME_DIR/drover, \
                     else /tmp/drover-<uid> (docs/ssh.md)",
                );
            return exit::fail(&diag, exit::ERROR);
        }
    };
    let summary = runtime.block_on(executor.run(&playbooks));
    // A play that could not run at all (a bad `serial`, a `vars_files` entry that is not a
    // file, ...): the run stopped there, with ansible-playbook's ERROR exit code.
    if let Some(diag) = &summary.error
        && !summary.interrupted
    {
        return exit::fail(diag, exit::ERROR);
    }
    ExitCode::from(drover_report::exit_code(
        &summary.stats,
        summary.interrupted,
    ))
}

/// What the listings need from the inventory and the templating engine.
struct PlayContext<'a> {
    inventory: &'a Inventory,
    templar: JinjaLoadTemplater,
    extra_vars: Map<String, Value>,
}

impl ListContext for PlayContext<'_> {
    fn hosts(&self, play: &Play) -> Result<Vec<String>, Diagnostic> {
        let selection = self.inventory.select_patterns(&play.hosts, true)?;
        exit::warn_all(&selection.warnings);
        Ok(selection.hosts)
    }

    fn templater(&self, play: &Play) -> Result<TemplaterAndVars<'_>, Diagnostic> {
        let vars = drover_playbook::vars::play_level_vars(play, &self.extra_vars, &self.templar)?;
        Ok((&self.templar, vars))
    }
}

/// Templates names at load time (import paths, role names, tags) with the real Jinja engine.
struct JinjaLoadTemplater(Arc<Templar>);

impl LoadTemplater for JinjaLoadTemplater {
    fn render(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        self.render_value(text, vars)
            .map(drover_playbook::loader::rendered_text)
    }

    /// Data, not text: a templated `tags:` may render a list (Ansible flattens it).
    fn render_value(&self, text: &str, vars: &Map<String, Value>) -> Result<Value, String> {
        let vars = Vars::new(vars.clone());
        let outcome = self
            .0
            .template_value(&Value::String(text.to_string()), &vars, None)
            .map_err(|d| d.message.clone())?;
        exit::warn_all(&outcome.warnings);
        Ok(outcome.value)
    }
}
