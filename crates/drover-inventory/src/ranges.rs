//! Host addresses and host ranges, as Ansible's `parse_address` and `expand_hostname_range`
//! read them (`node[1:3]`, `node[01:10:2]`, `[a:c]`, `host:2222`, `[::1]:22`).

use std::sync::LazyLock;

use regex::Regex;

/// Upper bound on the hosts one pattern may expand to; Ansible has none, but a typo such as
/// `node[1:99999999]` should fail instead of exhausting memory.
pub const MAX_EXPANSION: usize = 100_000;

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

fn compile(pattern: &str) -> Regex {
    // The patterns are constants checked by the unit tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in address regex compiles")
}

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| compile(r"^\[(.+)\]:([0-9]+)$"));
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"));

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    compile(&format!(r"(?i)^(?:{c}\.){{3}}{c}$"))
});

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    // Python's verbose pattern is `^alt1|alt2|...|altN$`: `$` binds to the last alternative
    // only, so the others match a prefix. Kept as is, because Ansible behaves that way.
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}$"),
    ];
    compile(&format!("(?i)^(?:{})", alts.join("|")))
});

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?i)^(?:\w|{ALNUM_RANGE})(?:[\w-]|{ALNUM_RANGE})*$"
    ))
});

/// True when `name` looks like an IPv4 address (Ansible's `patterns['ipv4']`).
pub fn is_ipv4(name: &str) -> bool {
    IPV4.is_match(name)
}

/// True when `name` looks like an IPv6 address (Ansible's `patterns['ipv6']`, prefix quirk
/// included).
pub fn is_ipv6(name: &str) -> bool {
    IPV6.is_match(name)
}

fn is_hostname(name: &str) -> bool {
    // `label(\.label)*`, where a label may not end with `_` or `-`; ranges hold no dots, so
    // splitting on dots is exact.
    name.split('.')
        .all(|label| LABEL.is_match(label) && !label.ends_with('_') && !label.ends_with('-'))
}

/// Ansible's `parse_address(address, allow_ranges=True)`: the host part and an optional port,
/// or `None` when the text is not a host identifier.
pub fn parse_address(address: &str) -> Option<(String, Option<u64>)> {
    let mut address = address.to_string();
    let mut port_text: Option<String> = None;
    // Python loops over both patterns without breaking, so `[h]:1` is tried again as `h`.
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&address) {
            let host = c.get(1).map_or("", |m| m.as_str()).to_string();
            port_text = Some(c.get(2).map_or("", |m| m.as_str()).to_string());
            address = host;
        }
    }
    if !(is_ipv4(&address) || is_ipv6(&address) || is_hostname(&address)) {
        return None;
    }
    let port = match port_text {
        Some(p) => Some(p.parse::<u64>().ok()?),
        None => None,
    };
    Some((address, port))
}

/// Ansible's `_expand_hostpattern`: the host names a pattern stands for and the port that
/// applies to all of them.
pub fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u64>), String> {
    let (base, port) = match parse_address(pattern) {
        Some((host, port)) => (host, port),
        None => (pattern.to_string(), None),
    };
    let hosts = if base.contains('[') {
        let mut out = Vec::new();
        expand_hostname_range(&base, &mut out)?;
        out
    } else {
        vec![base]
    };
    Ok((hosts, port))
}

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Python's `int(text)` for the decimal strings a range may hold.
fn python_int(text: &str) -> Option<i64> {
    let t = text.trim_matches(|c: char| c.is_whitespace());
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let v: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Expands the first `[begin:end(:step)]` of `line` (one level of Ansible's recursion).
fn expand_first_range(line: &str) -> Result<Vec<String>, String> {
    // Python: line.replace('[', '|', 1).replace(']', '|', 1).split('|') must give 3 parts.
    let replaced = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = replaced.split('|').collect();
    let [head, nrange, tail] = parts[..] else {
        return Err(format!(
            "cannot expand host range in `{line}`: expected one `[begin:end]` range per bracket pair"
        ));
    };
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step_text = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        Some(beg.chars().count())
    } else {
        None
    };
    let bad_step = || format!("invalid host range step `{step_text}`: expected an integer");
    let seq: Vec<String> = match (ASCII_LETTERS.find(beg), ASCII_LETTERS.find(end)) {
        (Some(i_beg), Some(i_end)) => {
            if i_beg > i_end {
                return Err("host range must have begin <= end".into());
            }
            let step = python_int(step_text).ok_or_else(bad_step)?;
            python_slice(&ASCII_LETTERS[i_beg..=i_end], step)?
        }
        _ => {
            let b = python_int(beg)
                .ok_or_else(|| format!("invalid host range begin `{beg}`: expected an integer"))?;
            let e = python_int(end)
                .ok_or_else(|| format!("invalid host range end `{end}`: expected an integer"))?;
            let step = python_int(step_text).ok_or_else(bad_step)?;
            if step == 0 {
                return Err("host range step must not be zero".into());
            }
            let mut v = Vec::new();
            let mut i = b;
            while (step > 0 && i <= e) || (step < 0 && i > e.saturating_add(1)) {
                if v.len() >= MAX_EXPANSION {
                    return Err(too_many());
                }
                v.push(match width {
                    Some(w) => zfill(i, w),
                    None => i.to_string(),
                });
                i = match i.checked_add(step) {
                    Some(n) => n,
                    None => break,
                };
            }
            v
        }
    };
    Ok(seq
        .into_iter()
        .map(|item| format!("{head}{item}{tail}"))
        .collect())
}

/// Ansible's `expand_hostname_range`: expands every `[begin:end(:step)]` of `line`, left to
/// right, appending the names to `out` in Ansible's order (iteratively: no recursion).
pub fn expand_hostname_range(line: &str, out: &mut Vec<String>) -> Result<(), String> {
    let mut stack = vec![line.to_string()];
    while let Some(name) = stack.pop() {
        if !name.contains('[') {
            out.push(name);
            if out.len() > MAX_EXPANSION {
                return Err(too_many());
            }
            continue;
        }
        let names = expand_first_range(&name)?;
        if stack.len() + names.len() > MAX_EXPANSION {
            return Err(too_many());
        }
        stack.extend(names.into_iter().rev());
    }
    Ok(())
}

fn too_many() -> String {
    format!("host range expands to more than {MAX_EXPANSION} hosts")
}

/// Python's `str(x).zfill(width)`.
fn zfill(i: i64, width: usize) -> String {
    let digits = i.unsigned_abs().to_string();
    let sign = if i < 0 { "-" } else { "" };
    let pad = width.saturating_sub(digits.len() + sign.len());
    format!("{sign}{}{digits}", "0".repeat(pad))
}

/// Python's `letters[begin:end + 1:step]` for `begin <= end` (a negative step selects nothing).
fn python_slice(letters: &str, step: i64) -> Result<Vec<String>, String> {
    if step == 0 {
        return Err("host range step must not be zero".into());
    }
    if step < 0 {
        return Ok(Vec::new());
    }
    let stride = usize::try_from(step).unwrap_or(usize::MAX);
    Ok(letters
        .chars()
        .step_by(stride)
        .map(|c| c.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(p: &str) -> Vec<String> {
        expand_host_pattern(p).unwrap().0
    }

    #[test]
    fn numeric_alpha_padded_and_stride_ranges() {
        assert_eq!(expand("node[1:3]"), ["node1", "node2", "node3"]);
        assert_eq!(expand("node[01:03]"), ["node01", "node02", "node03"]);
        assert_eq!(expand("[a:c].x"), ["a.x", "b.x", "c.x"]);
        assert_eq!(expand("n[1:10:4]"), ["n1", "n5", "n9"]);
        assert_eq!(expand("n[:2]"), ["n0", "n1", "n2"]);
        assert_eq!(
            expand("db[1:2]-[a:b]"),
            ["db1-a", "db1-b", "db2-a", "db2-b"]
        );
        assert_eq!(expand("10.0.0.[1:3]"), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn ports_are_split_off_valid_addresses_only() {
        assert_eq!(
            expand_host_pattern("web:2222").unwrap(),
            (vec!["web".to_string()], Some(2222))
        );
        assert_eq!(
            expand_host_pattern("[::1]:22").unwrap(),
            (vec!["::1".to_string()], Some(22))
        );
        assert_eq!(expand_host_pattern("bad_:22").unwrap().1, None);
        assert_eq!(
            expand_host_pattern("node[1:2]:22").unwrap(),
            (vec!["node1".to_string(), "node2".to_string()], Some(22))
        );
    }

    #[test]
    fn bad_ranges_are_errors_not_panics() {
        assert!(expand_host_pattern("n[01:3]").is_err());
        assert!(expand_host_pattern("n[1]").is_err());
        assert!(expand_host_pattern("n[1:]").is_err());
        assert!(expand_host_pattern("n[c:a]").is_err());
        assert!(expand_host_pattern("n[1:2:0]").is_err());
        assert!(expand_host_pattern("n[1:9999999]").is_err());
        assert!(expand_host_pattern("n[1:3").is_err());
    }

    #[test]
    fn addresses_classify_like_ansible() {
        assert!(is_ipv4("10.10.10.10"));
        assert!(!is_ipv4("10.10.10"));
        assert!(is_ipv6("fe80::1"));
        assert!(parse_address("under_score.example.com").is_some());
        assert!(parse_address("-x").is_none());
        assert!(parse_address("a b").is_none());
    }
}
