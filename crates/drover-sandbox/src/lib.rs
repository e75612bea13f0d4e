//! drover-sandbox: a Pigsty-shaped sandbox of real Debian nodes (systemd,
//! sshd, apt) in Docker containers, built and run without any registry.
//!
//! - [`image`]: the node image, built offline from `sandbox/image/`
//!   (debootstrap + `docker import`) and tagged with a hash of the recipe.
//! - [`Sandbox`]: `up`/`down`/`status`, SSH access through ports published
//!   on 127.0.0.1 with strict host-key checking, and fault tools
//!   (`stop`/`start`, `isolate`/`heal`).
//! - [`inventory`]: the generated `ssh_config`, `connection.yml` and
//!   `inventory.yml` that point drover, Ansible and `ssh` at the nodes.
//! - [`testing`]: helpers for integration tests (Docker required under CI,
//!   sandboxes removed when a test ends, also when it fails).
//! - [`cli`]: the `drover sandbox ...` subcommands.

pub mod cli;
pub mod docker;
mod error;
pub mod image;
pub mod inventory;
pub mod keys;
mod sandbox;
pub mod state;
pub mod testing;
pub mod topology;

pub use error::{Error, Result};
pub use image::ImageVariant;
pub use sandbox::{
    LABEL, NODE_LABEL, NodeStatus, Power, Sandbox, UpOptions, UpTimings, default_state_root,
    package_cache, ssh_banner,
};
pub use topology::{DEFAULT_NAME, Subnet24};
