//! drover-playbook: Ansible playbooks, roles, blocks, imports/includes and tag selection,
//! loaded into typed structures that keep the source span of every play, task and expression.
//!
//! # Using it (what `drover play` needs)
//!
//! - Load: [`load_playbook`]`(path, `[`LoadOptions`]`)` reads the playbook, its
//!   `import_playbook`s, roles (`roles/` beside the playbook, `DROVER_ROLES_PATH` via
//!   [`LoadOptions::from_env`], or a path) and `import_tasks`/`import_role` files. Unknown or
//!   unsupported keywords and modules are [`drover_diag::Diagnostic`] errors pointing at the
//!   YAML. `--syntax-check` prints [`listing::syntax_check`] after a successful load.
//! - Select: [`TagFilter::new`]`(&tags, &skip_tags)` (each CLI value may hold `a,b`), then
//!   [`select_tasks`] per play gives the tasks to run, per section (`pre_tasks`, `roles`,
//!   `tasks`, `post_tasks`; handlers flush between them).
//! - List: [`listing::render`] prints `--list-tasks`/`--list-tags`/`--list-hosts` exactly like
//!   ansible-playbook; it asks a [`listing::ListContext`] for each play's hosts (inventory +
//!   `-l`) and for the templater and variables used on templated tags.
//! - Run: dynamic includes are expanded when they run with [`expand_include`]; variables for a
//!   host and task come from [`vars::task_vars`] (Ansible's precedence), [`vars::load_vars_files`]
//!   and [`vars::magic_vars`]; handlers match notifications with
//!   [`validate::handler_matches`]; a role's [`RoleInstance::key`] and `allow_duplicates` say
//!   whether a role already ran on a host.

pub mod block;
pub mod error;
pub mod include;
pub mod keywords;
pub mod kv;
pub mod listing;
pub mod loader;
pub mod modules;
pub mod play;
pub mod role;
pub mod roles_run;
pub mod scope;
pub mod select;
pub mod tags;
pub mod task;
pub mod validate;
pub mod vars;

pub use block::{Block, Item};
pub use error::LoadResult;
pub use include::{Included, expand_include};
pub use loader::{ExtraVarsTemplater, LoadOptions, LoadTemplater, Loader};
pub use play::{Play, Playbook, load_playbook};
pub use role::{RoleInstance, RoleLayer};
pub use roles_run::RoleRuns;
pub use scope::{Keywords, Spanned, VarsBlock};
pub use select::{SelectedItem, TagTemplater, select_tasks};
pub use tags::TagFilter;
pub use task::{IncludeContext, LoopControl, LoopSpec, Task};

/// Handlers are tasks (with `listen` topics); see [`validate::handler_matches`].
pub type Handler = Task;
