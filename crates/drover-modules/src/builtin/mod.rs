//! The built-in modules, one file each.

pub mod command;
pub mod copy;
