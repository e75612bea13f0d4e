//! `drover inventory --list | --host HOST | --graph [GROUP]`: the same output as
//! `ansible-inventory` for the same input.

use std::process::ExitCode;

use drover_diag::Diagnostic;
use drover_inventory::{Inventory, to_python_json};

use crate::cli::InventoryArgs;
use crate::{exit, inventory_path};

/// Runs `drover inventory`.
pub fn run(args: &InventoryArgs) -> ExitCode {
    match render(args) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(diag) => exit::fail(&diag, exit::ERROR),
    }
}

fn render(args: &InventoryArgs) -> Result<String, Diagnostic> {
    let inventory = load(
        &args.inventory.inventory,
        args.playbook_dir.as_deref(),
        args.limit.as_deref(),
    )?;
    if args.list {
        return Ok(to_python_json(&inventory.list_json()?));
    }
    if let Some(host) = &args.host {
        return Ok(to_python_json(&inventory.host_json(host)?));
    }
    let group = args.graph.as_deref().unwrap_or("all");
    inventory.graph(group).map(|g| g.trim_end().to_string())
}

/// Loads the inventory for a command: default sources, warnings printed, playbook-adjacent vars
/// and the limit applied.
pub fn load(
    explicit: &[std::path::PathBuf],
    playbook_dir: Option<&std::path::Path>,
    limit: Option<&str>,
) -> Result<Inventory, Diagnostic> {
    let sources = inventory_path::resolve(explicit, playbook_dir)?;
    let loaded = Inventory::load(&sources)?;
    exit::warn_all(&loaded.warnings);
    let mut inventory = loaded.inventory;
    if playbook_dir.is_some() {
        exit::warn_all(&inventory.set_playbook_dir(playbook_dir)?);
    }
    inventory.set_limit(limit)?;
    Ok(inventory)
}
