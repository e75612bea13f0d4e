//! "A role runs once per play": Ansible skips a role's tasks on a host where a role with the
//! same identity ([`RoleInstance::key`]: name, path, params, tags, when, vars, `*_from`) has
//! already completed, unless the role allows duplicates (`meta/main.yml`
//! `allow_duplicates: true`, or `import_role`/`include_role`, whose `allow_duplicates`
//! defaults to true). A role run completes at its [`crate::Item::RoleComplete`] marker.

use std::collections::HashSet;

use crate::role::RoleInstance;
use crate::task::Task;

/// Which role runs completed on which hosts, for one play.
#[derive(Clone, Debug, Default)]
pub struct RoleRuns {
    done: HashSet<(String, String)>,
}

impl RoleRuns {
    /// True when `task` must be skipped on `host` because its role already ran there.
    pub fn already_ran(&self, host: &str, task: &Task) -> bool {
        task.role.as_ref().is_some_and(|role| {
            !role.allow_duplicates && self.done.contains(&(host.to_string(), role.key.clone()))
        })
    }

    /// Records that `host` reached the end of a run of `role`.
    pub fn complete(&mut self, host: &str, role: &RoleInstance) {
        self.done.insert((host.to_string(), role.key.clone()));
    }
}
