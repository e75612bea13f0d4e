//! The on-disk record of a running sandbox (`<state_root>/<name>/state.json`)
//! and the paths of the files generated beside it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::ImageVariant;
use crate::topology::{NodeSpec, Subnet24};

/// A node as started: its spec and the SSH port published on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeState {
    /// Hostname, address and container name.
    #[serde(flatten)]
    pub spec: NodeSpec,
    /// SSH port on 127.0.0.1.
    pub ssh_port: u16,
}

/// Everything needed to find a sandbox's docker objects and files again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SandboxState {
    /// Sandbox name.
    pub name: String,
    /// Docker network name.
    pub network: String,
    /// The network's subnet.
    pub subnet: Subnet24,
    /// Node image `name:tag`.
    pub image: String,
    /// Which image variant.
    pub variant: ImageVariant,
    /// The nodes, meta first.
    pub nodes: Vec<NodeState>,
    /// The controller's package cache for the nodes' local repo
    /// (`<repo>/.cache/sandbox/repo`, see `sandbox/packages/fetch-packages`).
    pub package_cache: PathBuf,
}

/// Where a sandbox keeps its files.
#[derive(Debug, Clone)]
pub struct SandboxPaths {
    /// `<state_root>/<name>`.
    pub dir: PathBuf,
}

impl SandboxPaths {
    /// Paths of sandbox `name` under `state_root` (e.g. `<repo>/.sandbox`).
    pub fn new(state_root: &Path, name: &str) -> SandboxPaths {
        SandboxPaths {
            dir: state_root.join(name),
        }
    }
    /// `state.json`.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// The controller's private key (`id_ed25519`).
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    /// The pinned `known_hosts`.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    /// OpenSSH client config (`ssh -F`).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
    /// Ansible-format connection inventory.
    pub fn connection_inventory(&self) -> PathBuf {
        self.dir.join("connection.yml")
    }
    /// The Pigsty-shaped inventory on this sandbox's subnet.
    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory.yml")
    }
    /// Host key of node `hostname`.
    pub fn host_key(&self, hostname: &str) -> PathBuf {
        self.dir
            .join("hostkeys")
            .join(hostname)
            .join("ssh_host_ed25519_key")
    }

    /// Loads `state.json`; [`Error::NotUp`] when there is none.
    pub fn load(&self, name: &str) -> Result<SandboxState> {
        let path = self.state();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotUp {
                    name: name.to_owned(),
                    dir: self.dir.clone(),
                });
            }
            Err(e) => return Err(Error::io(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|source| Error::State { path, source })
    }

    /// Writes `state.json`.
    pub fn save(&self, state: &SandboxState) -> Result<()> {
        let path = self.state();
        let text = serde_json::to_string_pretty(state).map_err(|source| Error::State {
            path: path.clone(),
            source,
        })?;
        write_file(&path, &text)
    }
}

/// Writes `text` to `path`, creating parent directories.
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::write(path, text).map_err(Error::io(path))
}
