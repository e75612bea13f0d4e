//! Python-compatible value handling, shared by every crate that has to read or print values
//! exactly as Ansible's Python does:
//!
//! - [`literal_eval`]: `ast.literal_eval` (INI inventory values, `ansible_eval_concat` in
//!   templating), producing a [`Literal`] that converts to JSON data the way each caller needs
//!   ([`JsonView`]);
//! - [`json`]: `json.dumps` with `indent`, `sort_keys`, `separators` and `ensure_ascii`;
//! - [`float_repr`]: Python's `repr(float)`;
//! - [`shlex_split`]: `shlex.split` (POSIX mode, with or without comments);
//! - [`text`]: `str.isspace`, `str.strip` and `str.splitlines`;
//! - [`boolean`]: Ansible's strict `boolean()`, the one conversion of keywords, connection
//!   variables and module arguments.

mod boolean;
pub mod json;
mod literal;
pub mod number;
mod repr;
mod shlex;
pub mod text;

pub use boolean::boolean;
pub use literal::{Dialect, JsonView, Literal, literal_eval, literal_eval_with};
pub use repr::float_repr;
pub use shlex::{ShlexError, shlex_split};
