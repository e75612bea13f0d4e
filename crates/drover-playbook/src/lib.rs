//! drover-playbook: see Cargo.toml description.
