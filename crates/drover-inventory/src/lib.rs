//! drover-inventory: see Cargo.toml description.
