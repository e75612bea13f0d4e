//! PyYAML's YAML 1.1 resolver and SafeConstructor for scalars, ported regex for regex.
//!
//! Ansible loads YAML with PyYAML's `SafeLoader` rules (its `AnsibleLoader` only adds `!unsafe`
//! and `!vault`). So `yes`/`on` are booleans, `0755` is octal 493, `1:30` is 90, `1e3` is a
//! string (no dot) and `1.0e3` too (unsigned exponent).

use crate::node::NodeValue;
use std::sync::LazyLock;

use regex::Regex;

fn re(pattern: &str) -> Regex {
    // The patterns are constants written below; a failure here is a programming error caught
    // by the unit tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in YAML resolver regex: {e}"))
}

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    re("^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:[-+]?0b[0-1_]+",
        r"|[-+]?0[0-7_]+",
        r"|[-+]?(?:0|[1-9][0-9_]*)",
        r"|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
    ))
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
        r"|\.[0-9_]+(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)",
        r"|\.(?:nan|NaN|NAN))$"
    ))
});
static NULL: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:~|null|Null|NULL|)$"));
/// PyYAML's `timestamp` resolver: a date with two-digit month and day, or a date (one or two
/// digits) with a time.
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
        r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?",
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"
    ))
});
/// PyYAML's `timestamp_regexp`, which its constructor reads the parts with.
static TIMESTAMP_PARTS: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?P<year>[0-9][0-9][0-9][0-9])-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)",
        r"(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9][0-9]):(?P<second>[0-9][0-9])",
        r"(?:\.(?P<fraction>[0-9]*))?",
        r"(?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)(?::(?P<tz_minute>[0-9][0-9]))?))?)?$"
    ))
});

/// What an untagged plain scalar resolves to, as PyYAML resolves it.
pub(crate) fn resolve_plain(text: &str) -> Result<NodeValue, String> {
    let first = text.chars().next();
    // PyYAML only tries a resolver when the first character is in its list.
    if matches!(
        first,
        Some('y' | 'Y' | 'n' | 'N' | 't' | 'T' | 'f' | 'F' | 'o' | 'O')
    ) && BOOL.is_match(text)
    {
        return Ok(NodeValue::Bool(matches!(
            text,
            "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON"
        )));
    }
    if matches!(first, None | Some('~' | 'n' | 'N')) && NULL.is_match(text) {
        return Ok(NodeValue::Null);
    }
    if first.is_some_and(|c| "-+0123456789".contains(c)) && INT.is_match(text) {
        return construct_int(text);
    }
    if first.is_some_and(|c| "-+0123456789.".contains(c)) && FLOAT.is_match(text) {
        return Ok(NodeValue::Float(construct_float(text)));
    }
    if first.is_some_and(|c| c.is_ascii_digit()) && TIMESTAMP.is_match(text) {
        return construct_timestamp(text).map(NodeValue::Str);
    }
    if text == "=" {
        return Err("a plain `=` is YAML's `value` type, which PyYAML (and so Ansible) cannot construct; quote it: '='".into());
    }
    Ok(NodeValue::Str(text.to_string()))
}

/// Applies an explicit core tag (`!!str`, `!!int`, …) to a scalar's text.
pub(crate) fn resolve_tagged(tag: &str, text: &str) -> Result<NodeValue, String> {
    match tag {
        "str" => Ok(NodeValue::Str(text.to_string())),
        "null" => Ok(NodeValue::Null),
        "bool" => match BOOL.is_match(text) {
            true => resolve_plain(text),
            false => Err(format!("`{text}` is not a boolean")),
        },
        "int" => construct_int(text),
        "float" => {
            let cleaned = text.replace('_', "");
            if FLOAT.is_match(text) || INT.is_match(text) {
                Ok(NodeValue::Float(construct_float(text)))
            } else {
                cleaned
                    .parse::<f64>()
                    .map(NodeValue::Float)
                    .map_err(|_| format!("`{text}` is not a float"))
            }
        }
        "timestamp" => match TIMESTAMP.is_match(text) {
            true => construct_timestamp(text).map(NodeValue::Str),
            false => Err(format!("`{text}` is not a timestamp")),
        },
        other => Err(format!(
            "the tag `!!{other}` is not supported by drover (Ansible's safe loader neither constructs binary, sets, pairs nor Python objects)"
        )),
    }
}

/// PyYAML's `construct_yaml_int`.
fn construct_int(text: &str) -> Result<NodeValue, String> {
    let cleaned = text.replace('_', "");
    let (sign, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (-1i128, rest),
        None => (1, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    // Python's ints are unbounded, drover carries 128 bits: refuse rather than round.
    // Quoting keeps the digits as a string.
    let too_big = || {
        format!(
            "the integer `{text}` does not fit in 128 bits, which drover cannot carry (Ansible can); quote it to keep it as a string: '{text}'"
        )
    };
    let magnitude: i128 = if digits == "0" {
        0
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).map_err(|_| too_big())?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).map_err(|_| too_big())?
    } else if let Some(oct) = digits.strip_prefix('0') {
        i128::from_str_radix(oct, 8).map_err(|_| too_big())?
    } else if digits.contains(':') {
        let mut value: i128 = 0;
        for part in digits.split(':') {
            value = value * 60 + part.parse::<i128>().map_err(|_| too_big())?;
        }
        value
    } else {
        digits.parse::<i128>().map_err(|_| too_big())?
    };
    sign.checked_mul(magnitude)
        .map(NodeValue::Int)
        .ok_or_else(too_big)
}

/// PyYAML's `construct_yaml_float`.
fn construct_float(text: &str) -> f64 {
    let cleaned = text.replace('_', "").to_lowercase();
    let (sign, body) = match cleaned.strip_prefix('-') {
        Some(rest) => (-1.0, rest.to_string()),
        None => (1.0, cleaned.trim_start_matches('+').to_string()),
    };
    if body == ".inf" {
        return sign * f64::INFINITY;
    }
    if body == ".nan" {
        return f64::NAN;
    }
    if body.contains(':') {
        let mut value = 0.0;
        for part in body.split(':') {
            value = value * 60.0 + part.parse::<f64>().unwrap_or(0.0);
        }
        return sign * value;
    }
    sign * body.parse::<f64>().unwrap_or(0.0)
}

/// PyYAML builds a `date` or `datetime`; Ansible prints it as Python's `str()` does
/// (`2024-01-02`, `2024-01-02 03:04:05`, `2001-12-14 21:59:43.100000-05:00`), in `debug` and in
/// templated text alike. drover keeps that text as a string. (Ansible's `to_json` writes
/// `isoformat()`, with a `T`, which a string cannot tell apart; see the crate docs.)
///
/// An impossible date or time is an error, as Python's `datetime` raises one.
fn construct_timestamp(text: &str) -> Result<String, String> {
    let Some(c) = TIMESTAMP_PARTS.captures(text) else {
        return Ok(text.to_string());
    };
    let num = |name: &str| -> u32 {
        c.name(name)
            .and_then(|m| m.as_str().parse().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (num("year"), num("month"), num("day"));
    if !(1..=12).contains(&month) {
        return Err(format!(
            "`{text}` is not a valid timestamp: month must be in 1..12"
        ));
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year == 0 {
        return Err(format!(
            "`{text}` is not a valid timestamp: year 0 is out of range"
        ));
    }
    if !(1..=days).contains(&day) {
        return Err(format!(
            "`{text}` is not a valid timestamp: day is out of range for month"
        ));
    }
    let mut out = format!("{year:04}-{month:02}-{day:02}");
    if c.name("hour").is_none() {
        return Ok(out);
    }
    let (hour, minute, second) = (num("hour"), num("minute"), num("second"));
    for (value, name, max) in [
        (hour, "hour", 23),
        (minute, "minute", 59),
        (second, "second", 59),
    ] {
        if value > max {
            return Err(format!(
                "`{text}` is not a valid timestamp: {name} must be in 0..{max}"
            ));
        }
    }
    out.push_str(&format!(" {hour:02}:{minute:02}:{second:02}"));
    if let Some(fraction) = c.name("fraction") {
        let mut digits: String = fraction.as_str().chars().take(6).collect();
        while digits.len() < 6 {
            digits.push('0');
        }
        if digits != "000000" {
            out.push('.');
            out.push_str(&digits);
        }
    }
    if let Some(sign) = c.name("tz_sign") {
        let minutes = num("tz_hour") * 60 + num("tz_minute");
        // `timezone(-timedelta(0))` is `+00:00`
        let sign = if minutes == 0 { "+" } else { sign.as_str() };
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    } else if c.name("tz").is_some() {
        out.push_str("+00:00");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        match resolve_plain(s) {
            Ok(NodeValue::Null) => "null".into(),
            Ok(NodeValue::Bool(b)) => format!("bool:{b}"),
            Ok(NodeValue::Int(i)) => format!("int:{i}"),
            Ok(NodeValue::Float(f)) => format!("float:{f}"),
            Ok(NodeValue::Str(s)) => format!("str:{s}"),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("err:{e}"),
        }
    }

    #[test]
    fn pyyaml_scalar_table() {
        let cases = [
            ("yes", "bool:true"),
            ("No", "bool:false"),
            ("ON", "bool:true"),
            ("off", "bool:false"),
            ("True", "bool:true"),
            ("y", "str:y"),
            ("n", "str:n"),
            ("yEs", "str:yEs"),
            ("NO", "bool:false"),
            ("~", "null"),
            ("", "null"),
            ("Null", "null"),
            ("nULL", "str:nULL"),
            ("0755", "int:493"),
            ("0", "int:0"),
            ("-0", "int:0"),
            ("08", "str:08"),
            ("0x1F", "int:31"),
            ("0b101", "int:5"),
            ("1_000", "int:1000"),
            ("1:30", "int:90"),
            ("+12", "int:12"),
            ("1.5", "float:1.5"),
            ("1.", "float:1"),
            ("1e3", "str:1e3"),
            ("1.0e3", "str:1.0e3"),
            ("1.0e+3", "float:1000"),
            (".5", "float:0.5"),
            ("-.5", "str:-.5"),
            (".inf", "float:inf"),
            ("-.Inf", "float:-inf"),
            ("2001-12-14", "str:2001-12-14"),
            // timestamps as Python's str() of PyYAML's datetime (ansible-core 2.18.19)
            (
                "2001-12-14 21:59:43.10 -5",
                "str:2001-12-14 21:59:43.100000-05:00",
            ),
            ("2001-12-14t21:59:43Z", "str:2001-12-14 21:59:43+00:00"),
            ("2024-01-02 03:04:05", "str:2024-01-02 03:04:05"),
            ("2024-01-02T03:04:05Z", "str:2024-01-02 03:04:05+00:00"),
            ("2024-01-02T03:04:05.5", "str:2024-01-02 03:04:05.500000"),
            ("2024-01-02 03:04:05.000", "str:2024-01-02 03:04:05"),
            (
                "2024-01-02t03:04:05.1234567Z",
                "str:2024-01-02 03:04:05.123456+00:00",
            ),
            (
                "2024-01-02   03:04:05 +05:30",
                "str:2024-01-02 03:04:05+05:30",
            ),
            ("2024-01-02T03:04:05-0", "str:2024-01-02 03:04:05+00:00"),
            ("2024-1-2 3:04:05", "str:2024-01-02 03:04:05"),
            ("2024-1-2", "str:2024-1-2"),
            ("2024-02-29", "str:2024-02-29"),
            (
                "2024-02-30",
                "err:`2024-02-30` is not a valid timestamp: day is out of range for month",
            ),
            (
                "2023-02-29",
                "err:`2023-02-29` is not a valid timestamp: day is out of range for month",
            ),
            (
                "2024-13-01",
                "err:`2024-13-01` is not a valid timestamp: month must be in 1..12",
            ),
            (
                "2024-01-02 25:00:00",
                "err:`2024-01-02 25:00:00` is not a valid timestamp: hour must be in 0..23",
            ),
            ("10.10.10.10", "str:10.10.10.10"),
            ("5432", "int:5432"),
            ("15s", "str:15s"),
        ];
        for (input, want) in cases {
            assert_eq!(plain(input), want, "input {input:?}");
        }
    }

    #[test]
    fn tagged_scalars() {
        assert!(matches!(resolve_tagged("str", "0755"), Ok(NodeValue::Str(s)) if s == "0755"));
        assert!(matches!(
            resolve_tagged("int", "0755"),
            Ok(NodeValue::Int(493))
        ));
        assert!(matches!(resolve_tagged("float", "1"), Ok(NodeValue::Float(f)) if f == 1.0));
        assert!(resolve_tagged("binary", "aGk=").is_err());
        assert!(resolve_tagged("int", "abc").is_err());
    }
}
