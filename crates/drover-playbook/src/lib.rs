//! drover-playbook: Ansible playbooks, roles, blocks, imports/includes and tag selection,
//! loaded into typed structures that keep the source span of every play, task and expression.
//!
//! Entry points: [`load_playbook`] (load + validate; unknown keywords and modules are errors),
//! [`select_tasks`] (what runs for a [`TagFilter`]), the [`listing`] printers for
//! `--list-tasks/--list-tags/--list-hosts`, and [`vars`] for variable precedence.

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
pub use scope::{Keywords, Spanned, VarsBlock};
pub use select::{SelectedItem, TagTemplater, select_tasks};
pub use tags::TagFilter;
pub use task::{IncludeContext, LoopControl, LoopSpec, Task};

/// Handlers are tasks (with `listen` topics); see [`validate::handler_matches`].
pub type Handler = Task;
