//! The modules drover knows, how their names resolve (`copy`, `ansible.builtin.copy`,
//! `ansible.legacy.copy`), and which accept free-form text.

pub use drover_modules::{FreeForm, MODULES};

/// Every module name a task may use (short names), from the one table of modules.
pub fn known() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name)
}

/// True when `module`'s free-form text is a command line (`k=v` words stay in `_raw_params`,
/// except the command options).
pub fn command_like(module: &str) -> bool {
    drover_modules::lookup(module).is_some_and(|m| m.free_form == FreeForm::CommandLine)
}

/// True when `module` accepts `_raw_params` (free-form words that are not `k=v`).
pub fn raw_params_allowed(module: &str) -> bool {
    drover_modules::lookup(module).is_some_and(|m| m.free_form != FreeForm::No)
}

/// The modules that accept free-form words, for messages.
pub fn raw_params_modules() -> Vec<&'static str> {
    MODULES
        .iter()
        .filter(|m| m.free_form != FreeForm::No)
        .map(|m| m.name)
        .collect()
}

/// Ansible modules drover refuses by name, with the reason.
pub fn refused(name: &str) -> Option<&'static str> {
    Some(match name {
        "add_host" | "group_by" => {
            "drover does not change the inventory while running; define the hosts and groups in the inventory"
        }
        "include" => "`include` was removed from Ansible; use `include_tasks` or `import_tasks`",
        _ => return None,
    })
}

/// How a task's module key resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A module drover implements (short name).
    Known(&'static str),
    /// An Ansible module drover refuses, with the reason.
    Refused(&'static str),
    /// A module from a collection other than `ansible.builtin`.
    Collection,
    /// Not a module name.
    Unknown,
}

/// Resolves a task key to a module.
pub fn resolve(key: &str) -> Resolved {
    let short = key
        .strip_prefix("ansible.builtin.")
        .or_else(|| key.strip_prefix("ansible.legacy."))
        .unwrap_or(key);
    if let Some(known) = drover_modules::lookup(short) {
        return Resolved::Known(known.name);
    }
    if let Some(why) = refused(short) {
        return Resolved::Refused(why);
    }
    if key.split('.').count() >= 3 && !key.contains(' ') {
        return Resolved::Collection;
    }
    Resolved::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_short_and_fqcn_names() {
        assert_eq!(resolve("copy"), Resolved::Known("copy"));
        assert_eq!(resolve("ansible.builtin.copy"), Resolved::Known("copy"));
        assert_eq!(resolve("ansible.legacy.shell"), Resolved::Known("shell"));
        assert!(matches!(resolve("add_host"), Resolved::Refused(_)));
        assert_eq!(resolve("community.general.ufw"), Resolved::Collection);
        assert_eq!(resolve("cpoy"), Resolved::Unknown);
        assert!(command_like("ansible.builtin.shell") && !command_like("copy"));
        assert!(raw_params_allowed("include_vars") && !raw_params_allowed("copy"));
    }
}
