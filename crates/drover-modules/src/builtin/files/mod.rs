//! File modules: `blockinfile`, `copy`, `fetch`, `file`, `lineinfile`, `slurp`, `stat`,
//! `template`.

pub mod blockinfile;
pub(crate) mod common;
#[cfg(test)]
mod compat;
pub mod copy;
pub mod fetch;
pub mod file;
pub mod lineinfile;
pub mod slurp;
pub mod stat;
pub mod template;
