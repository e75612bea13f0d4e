//! The built-in modules, one file each, in two groups with their own dispatch:
//! [`files`] (content on the node) and [`system`] (commands, packages, services, users, network).

pub mod files;
pub mod system;
