//! Who is in a sandbox: node hostnames and addresses, laid out like Pigsty's
//! Vagrant sandbox (meta at .10, node-1.. at .11 upwards).

use std::net::Ipv4Addr;

use crate::error::{Error, Result};

/// Name of the default sandbox; it gets Pigsty's own subnet 10.10.10.0/24.
pub const DEFAULT_NAME: &str = "pigsty";
/// Host part of the first node's address (meta is 10.10.10.10).
const FIRST_HOST: u8 = 10;
/// Most nodes a /24 holds from .10 up to .254.
pub const MAX_NODES: usize = 245;

/// A /24 IPv4 network, written `a.b.c.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet24 {
    /// The first three octets.
    pub prefix: [u8; 3],
}

impl Subnet24 {
    /// Pigsty's sandbox network, 10.10.10.0/24.
    pub const PIGSTY: Subnet24 = Subnet24 {
        prefix: [10, 10, 10],
    };

    /// Parses `a.b.c.0/24` (only /24 networks are supported).
    pub fn parse(text: &str) -> Result<Subnet24> {
        let bad = || {
            Error::Invalid(format!(
                "invalid subnet `{text}`: expected a /24 such as 10.10.10.0/24"
            ))
        };
        let (addr, bits) = text.split_once('/').ok_or_else(bad)?;
        if bits != "24" {
            return Err(bad());
        }
        let ip: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let o = ip.octets();
        if o[3] != 0 {
            return Err(bad());
        }
        Ok(Subnet24 {
            prefix: [o[0], o[1], o[2]],
        })
    }

    /// The address `.host` in this network.
    pub fn host(self, host: u8) -> Ipv4Addr {
        let [a, b, c] = self.prefix;
        Ipv4Addr::new(a, b, c, host)
    }

    /// The gateway docker puts on the host side (`.1`).
    pub fn gateway(self) -> Ipv4Addr {
        self.host(1)
    }
}

impl std::fmt::Display for Subnet24 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.prefix;
        write!(f, "{a}.{b}.{c}.0/24")
    }
}

/// One sandbox node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeSpec {
    /// Hostname as in Pigsty's Vagrantfile: `meta`, `node-1`, `node-2`, ...
    pub hostname: String,
    /// Its address on the sandbox network (its identity in the inventory).
    pub address: Ipv4Addr,
    /// Docker container name.
    pub container: String,
}

/// Checks that a sandbox name is usable in docker object names.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid sandbox name `{name}`: use 1-40 lowercase letters, digits and `-`"
        )))
    }
}

/// Docker network name of sandbox `name`.
pub fn network_name(name: &str) -> String {
    format!("drover-{name}")
}

/// The nodes of an `n`-node sandbox: `meta` then `node-1` .. `node-(n-1)`.
pub fn nodes(name: &str, n: usize, subnet: Subnet24) -> Result<Vec<NodeSpec>> {
    if n == 0 || n > MAX_NODES {
        return Err(Error::Invalid(format!(
            "a sandbox has 1 to {MAX_NODES} nodes, not {n}"
        )));
    }
    Ok((0..n)
        .map(|i| {
            let hostname = if i == 0 {
                "meta".to_owned()
            } else {
                format!("node-{i}")
            };
            // i < MAX_NODES, so FIRST_HOST + i <= 254.
            let host = FIRST_HOST + u8::try_from(i).unwrap_or(0);
            NodeSpec {
                container: format!("drover-{name}-{hostname}"),
                address: subnet.host(host),
                hostname,
            }
        })
        .collect())
}

/// Candidate subnets for a sandbox: Pigsty's own for the default name, else
/// 10.10.11.0/24 .. 10.10.254.0/24, skipping `used` (docker's subnets).
pub fn subnet_candidates(name: &str, used: &[String]) -> Vec<Subnet24> {
    if name == DEFAULT_NAME {
        return vec![Subnet24::PIGSTY];
    }
    (11..=254u8)
        .map(|c| Subnet24 {
            prefix: [10, 10, c],
        })
        .filter(|s| !used.iter().any(|u| u == &s.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_nodes_match_pigsty_vagrantfile() {
        let n = nodes("pigsty", 4, Subnet24::PIGSTY).expect("nodes");
        let got: Vec<(String, String)> = n
            .iter()
            .map(|n| (n.hostname.clone(), n.address.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("meta", "10.10.10.10"),
                ("node-1", "10.10.10.11"),
                ("node-2", "10.10.10.12"),
                ("node-3", "10.10.10.13")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(n[0].container, "drover-pigsty-meta");
    }

    #[test]
    fn node_count_is_bounded() {
        assert!(nodes("x", 0, Subnet24::PIGSTY).is_err());
        assert!(nodes("x", 246, Subnet24::PIGSTY).is_err());
        let all = nodes("x", 245, Subnet24::PIGSTY).expect("245 nodes");
        assert_eq!(all[244].address.to_string(), "10.10.10.254");
    }

    #[test]
    fn subnets() {
        assert_eq!(
            Subnet24::parse("10.10.10.0/24").expect("ok"),
            Subnet24::PIGSTY
        );
        assert!(Subnet24::parse("10.10.10.0/16").is_err());
        assert!(Subnet24::parse("10.10.10.5/24").is_err());
        let c = subnet_candidates("t1", &["10.10.11.0/24".to_owned()]);
        assert_eq!(c[0].to_string(), "10.10.12.0/24");
        assert_eq!(subnet_candidates("pigsty", &[]), vec![Subnet24::PIGSTY]);
    }

    #[test]
    fn names() {
        assert!(validate_name("pigsty").is_ok());
        assert!(validate_name("t-1").is_ok());
        assert!(validate_name("Bad").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
    }
}
