//! The keyword tables: which keys drover accepts on plays, blocks, tasks, handlers and
//! `roles:` entries, and which Ansible keywords it refuses by name.

/// Play keywords drover implements.
pub const PLAY: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "tags",
    "become",
    "become_user",
    "gather_facts",
    "connection",
    "serial",
    "any_errors_fatal",
    "max_fail_percentage",
    "ignore_errors",
    "ignore_unreachable",
    "environment",
    "strategy",
    "no_log",
    "check_mode",
    "diff",
    "run_once",
    "throttle",
];

/// Keywords shared by blocks and tasks (and accepted on plays via [`PLAY`] where listed there).
const COMMON: &[&str] = &[
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "ignore_errors",
    "ignore_unreachable",
    "environment",
    "vars",
    "any_errors_fatal",
    "no_log",
    "check_mode",
    "diff",
    "run_once",
    "throttle",
    "delegate_to",
];

/// Task-only keywords drover implements (besides [`COMMON`]).
const TASK_ONLY: &[&str] = &[
    "loop",
    "with_items",
    "with_dict",
    "loop_control",
    "register",
    "notify",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "args",
];

/// Block-only keywords.
const BLOCK_ONLY: &[&str] = &["block", "rescue", "always"];

/// Keys of `loop_control` drover implements.
pub const LOOP_CONTROL: &[&str] = &["loop_var", "label", "index_var", "pause", "extended"];

/// Keywords of a `roles:` entry (all other keys are role parameters).
pub const ROLE_ENTRY: &[&str] = &[
    "role",
    "name",
    "tags",
    "when",
    "vars",
    "become",
    "become_user",
    "ignore_errors",
    "ignore_unreachable",
    "environment",
    "any_errors_fatal",
    "no_log",
    "check_mode",
    "diff",
    "run_once",
    "throttle",
    "delegate_to",
];

/// Keys of `import_role`/`include_role` arguments.
pub const ROLE_INCLUDE_ARGS: &[&str] = &[
    "name",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "apply",
    "public",
    "allow_duplicates",
    "rolespec_validate",
];

/// Keys of `import_tasks`/`include_tasks` arguments.
pub const TASKS_INCLUDE_ARGS: &[&str] = &["file", "_raw_params", "apply"];

/// True for a task keyword drover implements (`listen` only on handlers).
pub fn is_task_keyword(key: &str, handler: bool) -> bool {
    COMMON.contains(&key) || TASK_ONLY.contains(&key) || (handler && key == "listen")
}

/// True for a block keyword drover implements.
pub fn is_block_keyword(key: &str) -> bool {
    COMMON.contains(&key) || BLOCK_ONLY.contains(&key)
}

/// All task keywords (for "did you mean" hints).
pub fn task_keywords(handler: bool) -> Vec<&'static str> {
    let mut all: Vec<&str> = COMMON.iter().chain(TASK_ONLY).copied().collect();
    if handler {
        all.push("listen");
    }
    all
}

/// All block keywords (for "did you mean" hints).
pub fn block_keywords() -> Vec<&'static str> {
    COMMON.iter().chain(BLOCK_ONLY).copied().collect()
}

/// Ansible keywords drover deliberately does not implement, with what to do instead.
/// Returns `None` when `key` is not such a keyword.
pub fn refused(key: &str) -> Option<&'static str> {
    Some(match key {
        "vars_prompt" => "drover never prompts; pass the values with `-e name=value`",
        "local_action" => {
            "write the module as usual and add `delegate_to: localhost` (drover does not support `local_action`)"
        }
        "action" => "write the module name as the task key (`command: ...`) instead of `action:`",
        "async" | "poll" | "async_val" => {
            "drover runs tasks synchronously; remove `async`/`poll` (long commands can use `wait_for` or `until`)"
        }
        "remote_user" | "port" | "connection" | "timeout" => {
            "set connection details in the inventory (`ansible_user`, `ansible_port`, ...)"
        }
        "become_method" | "become_exe" | "become_flags" => {
            "drover always becomes with `sudo -n`; remove this keyword"
        }
        "collections" | "module_defaults" => {
            "drover only implements `ansible.builtin` modules; remove this keyword"
        }
        "debugger" => "drover has no task debugger; remove this keyword",
        "delegate_facts" => "drover does not implement `delegate_facts`; remove it",
        "loop_with" => "use `loop:`",
        "order" | "force_handlers" | "fact_path" | "gather_subset" | "gather_timeout" => {
            "drover does not implement this play keyword; remove it"
        }
        "listen" => "`listen` is only valid on handlers",
        "notify" => "`notify` is only implemented on tasks; move it to the tasks of the block",
        "include" => "`include` was removed from Ansible; use `include_tasks` or `import_tasks`",
        _ => return None,
    })
}

/// `with_<lookup>` loops drover implements.
pub const WITH_LOOPS: &[&str] = &["with_items", "with_dict"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        assert!(is_task_keyword("register", false));
        assert!(!is_task_keyword("listen", false));
        assert!(is_task_keyword("listen", true));
        assert!(is_block_keyword("rescue"));
        assert!(!is_block_keyword("register"));
        assert!(refused("vars_prompt").is_some());
        assert!(refused("register").is_none());
        for k in PLAY {
            assert!(refused(k).is_none() || *k == "connection", "{k}");
        }
    }
}
