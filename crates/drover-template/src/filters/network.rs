//! `ipaddr` basics (the `ansible.utils.ipaddr` filter, which needs netaddr in Ansible): validating
//! and querying IPv4/IPv6 addresses and networks. Unsupported queries are errors naming them.

use std::net::IpAddr;

use ipnet::IpNet;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, Value};

use super::to_text;
use crate::environment::op_error;

const QUERIES: &str = "'' (validate), address, host, network, net, netmask, prefix, broadcast, size, cidr, private, public, ipv4, ipv6, or an integer index";

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("ipaddr", |v: &Value, q: Option<Value>| ipaddr(v, q, None));
    env.add_filter("ipv4", |v: &Value, q: Option<Value>| ipaddr(v, q, Some(4)));
    env.add_filter("ipv6", |v: &Value, q: Option<Value>| ipaddr(v, q, Some(6)));
}

fn ipaddr(value: &Value, query: Option<Value>, version: Option<u8>) -> Result<Value, Error> {
    let query = query.map(|q| {
        if q.kind() == ValueKind::Number {
            q.to_string()
        } else {
            to_text(&q)
        }
    });
    if value.kind() == ValueKind::Seq {
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let r = one(&item, query.as_deref().unwrap_or(""), version)?;
            if r.kind() != ValueKind::Bool || r.is_true() {
                out.push(r);
            }
        }
        return Ok(Value::from(out));
    }
    one(value, query.as_deref().unwrap_or(""), version)
}

fn parse(text: &str) -> Option<(IpNet, bool)> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some((net, true));
    }
    let ip: IpAddr = text.parse().ok()?;
    Some((IpNet::from(ip), false))
}

fn one(value: &Value, query: &str, version: Option<u8>) -> Result<Value, Error> {
    let no = Value::from(false);
    let text = to_text(value);
    let Some((net, had_prefix)) = parse(&text) else {
        return check_query(query).map(|_| no);
    };
    let v = if net.addr().is_ipv4() { 4 } else { 6 };
    if version.is_some_and(|want| want != v) {
        return check_query(query).map(|_| no);
    }
    let ip = net.addr();
    let network = net.network();
    let is_host = net.prefix_len() == net.max_prefix_len() || ip != network;
    Ok(match query {
        "" => Value::from(text.trim()),
        "address" => {
            if is_host {
                Value::from(ip.to_string())
            } else {
                no
            }
        }
        "host" => {
            if is_host {
                Value::from(format!("{ip}/{}", net.prefix_len()))
            } else {
                no
            }
        }
        "network" => Value::from(network.to_string()),
        "net" => {
            if had_prefix && !is_host {
                Value::from(net.trunc().to_string())
            } else {
                no
            }
        }
        "cidr" => Value::from(net.trunc().to_string()),
        "netmask" => Value::from(net.netmask().to_string()),
        "prefix" => Value::from(net.prefix_len()),
        "broadcast" => {
            if v == 4 && net.prefix_len() < 31 {
                Value::from(net.broadcast().to_string())
            } else {
                no
            }
        }
        "size" => {
            let bits = u32::from(net.max_prefix_len() - net.prefix_len());
            if bits >= 64 {
                return Err(op_error("`ipaddr('size')`: network too large"));
            }
            Value::from(1u64 << bits)
        }
        "private" => {
            if is_private(&ip) {
                Value::from(text.trim())
            } else {
                no
            }
        }
        "public" => {
            if !is_private(&ip) && !ip.is_loopback() && !ip.is_unspecified() {
                Value::from(text.trim())
            } else {
                no
            }
        }
        "ipv4" | "ipv6" => {
            if (query == "ipv4") == (v == 4) {
                Value::from(text.trim())
            } else {
                no
            }
        }
        q => match q.parse::<i64>() {
            Ok(index) => nth(&net, index)?,
            Err(_) => {
                return Err(op_error(format!(
                    "ipaddr query `{q}` is not supported by drover (supported: {QUERIES})"
                )));
            }
        },
    })
}

fn check_query(query: &str) -> Result<(), Error> {
    const KNOWN: &[&str] = &[
        "",
        "address",
        "host",
        "network",
        "net",
        "cidr",
        "netmask",
        "prefix",
        "broadcast",
        "size",
        "private",
        "public",
        "ipv4",
        "ipv6",
    ];
    if KNOWN.contains(&query) || query.parse::<i64>().is_ok() {
        Ok(())
    } else {
        Err(op_error(format!(
            "ipaddr query `{query}` is not supported by drover (supported: {QUERIES})"
        )))
    }
}

fn nth(net: &IpNet, index: i64) -> Result<Value, Error> {
    let size_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    match net.network() {
        IpAddr::V4(base) => {
            let size = 1u64 << size_bits;
            let offset = if index < 0 {
                size as i64 + index
            } else {
                index
            };
            if offset < 0 || offset as u64 >= size {
                return Ok(Value::from(false));
            }
            let addr = std::net::Ipv4Addr::from(u32::from(base).wrapping_add(offset as u32));
            Ok(Value::from(format!("{addr}/{}", net.prefix_len())))
        }
        IpAddr::V6(base) => {
            if index < 0 {
                return Err(op_error(
                    "negative ipaddr index on IPv6 is not supported by drover",
                ));
            }
            let addr = std::net::Ipv6Addr::from(u128::from(base).wrapping_add(index as u128));
            Ok(Value::from(format!("{addr}/{}", net.prefix_len())))
        }
    }
}

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn ipaddr_basics() {
        assert_eq!(
            eval("'10.10.10.10' | ipaddr", json!({})),
            Ok(json!("10.10.10.10"))
        );
        assert_eq!(eval("'pg-test' | ipaddr", json!({})), Ok(json!(false)));
        assert_eq!(
            eval("'10.10.10.10/8' | ipaddr('address')", json!({})),
            Ok(json!("10.10.10.10"))
        );
        assert_eq!(
            eval("'10.10.10.10/8' | ipaddr('network')", json!({})),
            Ok(json!("10.0.0.0"))
        );
        assert_eq!(
            eval("'10.10.10.10/8' | ipaddr('netmask')", json!({})),
            Ok(json!("255.0.0.0"))
        );
        assert_eq!(
            eval("'10.10.10.10/8' | ipaddr('prefix')", json!({})),
            Ok(json!("8"))
        );
        assert_eq!(
            eval("'192.168.1.0/24' | ipaddr('broadcast')", json!({})),
            Ok(json!("192.168.1.255"))
        );
        assert_eq!(
            eval("'192.168.1.0/24' | ipaddr(5)", json!({})),
            Ok(json!("192.168.1.5/24"))
        );
        assert_eq!(
            eval("'192.168.1.0/24' | ipaddr('net')", json!({})),
            Ok(json!("192.168.1.0/24"))
        );
        assert_eq!(
            eval(
                "['10.0.0.1', 'x', '8.8.8.8'] | ipaddr('private')",
                json!({})
            ),
            Ok(json!(["10.0.0.1"]))
        );
        assert_eq!(
            eval("['10.0.0.1', '::1'] | ipv4", json!({})),
            Ok(json!(["10.0.0.1"]))
        );
        assert!(
            eval("'10.0.0.1' | ipaddr('wrap')", json!({}))
                .unwrap_err()
                .contains("not supported")
        );
    }
}
