//! Typed module parameters with Ansible's loose argument typing.
//!
//! Modules declare a `#[derive(Deserialize)] #[serde(deny_unknown_fields)]` struct and read it
//! with [`parse`]. The newtypes here accept what Ansible's argument spec accepts: booleans as
//! `yes`/`no`/`true`/`1` strings, integers as strings, and file modes as octal strings or as the
//! integer YAML makes of `0644`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::{Map, Value};

use crate::ModuleError;

/// Reads a module's arguments into its parameter struct; errors name the module and the
/// parameter.
pub fn parse<T: DeserializeOwned>(
    module: &str,
    args: &Map<String, Value>,
) -> Result<T, ModuleError> {
    serde_json::from_value(Value::Object(args.clone()))
        .map_err(|e| ModuleError::params(format!("module `{module}`: {e}")))
}

/// A boolean the way Ansible's `boolean()` reads it: `yes/on/true/1/y/t` and `no/off/false/0/n/f`
/// (any case), or a real boolean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bool(pub bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bool, D::Error> {
        let value = Value::deserialize(d)?;
        to_bool(&value).map(Bool).ok_or_else(|| {
            de::Error::custom(format!(
                "`{value}` is not a valid boolean; use true/false (or yes/no)"
            ))
        })
    }
}

/// Ansible's `boolean()` on a JSON value; `None` when the value is not a boolean.
pub fn to_bool(value: &Value) -> Option<bool> {
    drover_python::boolean(value)
}

/// An integer given as a number or a numeric string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Int, D::Error> {
        let value = Value::deserialize(d)?;
        let parsed = match &value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        parsed
            .map(Int)
            .ok_or_else(|| de::Error::custom(format!("`{value}` is not an integer")))
    }
}

/// A file mode (permission bits).
///
/// YAML reads `mode: 0644` as the integer 420, which Ansible uses as is; strings are octal
/// (`"0644"`, `"644"`, `"01777"`). Symbolic modes (`u=rw,g=r`) and `preserve` are refused with a
/// clear message rather than guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        struct ModeVisitor;
        impl Visitor<'_> for ModeVisitor {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an octal file mode such as \"0644\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Mode, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .map(Mode)
                    .ok_or_else(|| E::custom(format!("mode {v} is out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Mode, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("mode {v} is negative"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mode, E> {
                let t = v.trim();
                if !t.is_empty() && t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return u32::from_str_radix(t, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .map(Mode)
                        .ok_or_else(|| E::custom(format!("mode `{v}` is out of range")));
                }
                Err(E::custom(format!(
                    "mode `{v}` is not supported: drover takes octal modes such as \"0644\" (symbolic modes and `preserve` are not implemented)"
                )))
            }
        }
        d.deserialize_any(ModeVisitor)
    }
}

/// A value that may be one string or a list of strings (`name: nginx` or `name: [a, b]`);
/// a comma-separated string is split, as Ansible's `list` argument type does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StringList, D::Error> {
        let value = Value::deserialize(d)?;
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match &value {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    scalar(v).ok_or_else(|| de::Error::custom(format!("`{v}` is not a string")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(StringList),
            Value::String(s) => Ok(StringList(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
            )),
            other => scalar(other)
                .map(|s| StringList(vec![s]))
                .ok_or_else(|| de::Error::custom(format!("`{other}` is not a string or a list"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct P {
        force: Option<Bool>,
        mode: Option<Mode>,
        port: Option<Int>,
        name: Option<StringList>,
    }

    fn p(v: Value) -> Result<P, ModuleError> {
        parse("test", v.as_object().unwrap())
    }

    #[test]
    fn ansible_loose_types() {
        let got = p(json!({"force": "yes", "mode": 420, "port": "8500", "name": "a, b"})).unwrap();
        assert_eq!(got.force, Some(Bool(true)));
        assert_eq!(got.mode, Some(Mode(0o644)));
        assert_eq!(got.port, Some(Int(8500)));
        assert_eq!(got.name, Some(StringList(vec!["a".into(), "b".into()])));
        assert_eq!(p(json!({"mode": "0755"})).unwrap().mode, Some(Mode(0o755)));
        assert_eq!(p(json!({"mode": "644"})).unwrap().mode, Some(Mode(0o644)));
        assert_eq!(Mode(0o644).to_string(), "0644");
    }

    #[test]
    fn clear_errors() {
        let e = p(json!({"forse": true})).unwrap_err().to_string();
        assert!(e.starts_with("module `test`: unknown field `forse`"), "{e}");
        let e = p(json!({"force": "maybe"})).unwrap_err().to_string();
        assert!(e.contains("not a valid boolean"), "{e}");
        let e = p(json!({"mode": "u=rw"})).unwrap_err().to_string();
        assert!(e.contains("symbolic modes"), "{e}");
    }
}
