//! The modules drover knows, how their names resolve (`copy`, `ansible.builtin.copy`,
//! `ansible.legacy.copy`), and which accept free-form text.

/// Every module a task may name (short names).
pub const KNOWN: &[&str] = &[
    "apt",
    "assert",
    "blockinfile",
    "command",
    "copy",
    "debug",
    "dnf",
    "fail",
    "fetch",
    "file",
    "gather_facts",
    "get_url",
    "group",
    "import_playbook",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "lineinfile",
    "meta",
    "package",
    "pause",
    "ping",
    "raw",
    "script",
    "service",
    "set_fact",
    "setup",
    "shell",
    "slurp",
    "stat",
    "systemd",
    "systemd_service",
    "template",
    "unarchive",
    "uri",
    "user",
    "wait_for",
    "yum",
];

/// Modules whose free-form text is a command line (`k=v` words stay in `_raw_params`, except
/// the command options).
pub const COMMAND_LIKE: &[&str] = &["command", "shell", "raw", "script"];

/// Modules that accept `_raw_params` (free-form words that are not `k=v`).
pub const RAW_PARAMS_ALLOWED: &[&str] = &[
    "command",
    "shell",
    "raw",
    "script",
    "include_vars",
    "include_tasks",
    "include_role",
    "import_tasks",
    "import_role",
    "set_fact",
    "meta",
];

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
    if let Some(known) = KNOWN.iter().find(|m| **m == short) {
        return Resolved::Known(known);
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
        let mut sorted = KNOWN.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, KNOWN, "keep the table alphabetised");
    }
}
