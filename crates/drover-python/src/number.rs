//! Numbers Python has and `serde_json` cannot hold: infinite and NaN floats (`.inf`, `.nan`,
//! `float('inf')`) and integers beyond 64 bits.
//!
//! They are carried in data as the one-key object `{"__drover_number": "<Python repr>"}`
//! (`"inf"`, `"-inf"`, `"nan"`, `"123456789012345678901234567890"`). The YAML loader and the
//! templar make them; the templar turns them back into an engine float or integer before any
//! template sees them, and [`crate::json::dumps`] prints them as Python's `json.dumps` does
//! (`Infinity`, `-Infinity`, `NaN`, the digits).

use serde_json::{Map, Number, Value};

use crate::float_repr;

/// The key of the one-key object holding such a number.
pub const NUMBER_KEY: &str = "__drover_number";

/// A number by its Python repr.
pub fn number_marker(repr: impl Into<String>) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(NUMBER_KEY.to_string(), Value::String(repr.into()));
    Value::Object(map)
}

/// The Python repr of a marked number, when `value` is one.
pub fn as_number_marker(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get(NUMBER_KEY)?.as_str(),
        _ => None,
    }
}

/// A float as data: a JSON number, or the marker for infinities and NaN.
pub fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| number_marker(float_repr(f)), Value::Number)
}

/// An integer as data: a JSON number within 64 bits, else the marker.
pub fn int_value(i: i128) -> Value {
    if let Ok(n) = i64::try_from(i) {
        Value::from(n)
    } else if let Ok(n) = u64::try_from(i) {
        Value::from(n)
    } else {
        number_marker(i.to_string())
    }
}

/// What a marked number is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Marked {
    /// An infinite or NaN float.
    Float(f64),
    /// An integer beyond 64 bits.
    Int(i128),
}

/// Reads a marker's repr.
pub fn parse_marker(repr: &str) -> Option<Marked> {
    match repr {
        "inf" => Some(Marked::Float(f64::INFINITY)),
        "-inf" => Some(Marked::Float(f64::NEG_INFINITY)),
        "nan" => Some(Marked::Float(f64::NAN)),
        digits => digits.parse::<i128>().ok().map(Marked::Int),
    }
}

/// Whether any marked number is in the tree.
pub fn contains_number_marker(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(contains_number_marker),
        Value::Object(map) => {
            as_number_marker(value).is_some() || map.values().any(contains_number_marker)
        }
        _ => false,
    }
}

/// The text Python's `json.dumps` writes for a marked number.
pub fn json_text(repr: &str) -> &str {
    match repr {
        "inf" => "Infinity",
        "-inf" => "-Infinity",
        "nan" => "NaN",
        digits => digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_json_cannot_hold_are_marked_and_read_back() {
        assert_eq!(float_value(1.5), json!(1.5));
        assert_eq!(
            float_value(f64::INFINITY),
            json!({"__drover_number": "inf"})
        );
        assert_eq!(
            float_value(f64::NEG_INFINITY),
            json!({"__drover_number": "-inf"})
        );
        assert_eq!(int_value(-5), json!(-5));
        assert_eq!(int_value(i128::from(u64::MAX)), json!(u64::MAX));
        let big = 123_456_789_012_345_678_901_234_567_890_i128;
        assert_eq!(
            int_value(big),
            json!({"__drover_number": "123456789012345678901234567890"})
        );
        assert_eq!(
            parse_marker("123456789012345678901234567890"),
            Some(Marked::Int(big))
        );
        assert_eq!(parse_marker("-inf"), Some(Marked::Float(f64::NEG_INFINITY)));
        assert!(matches!(parse_marker("nan"), Some(Marked::Float(f)) if f.is_nan()));
        assert!(contains_number_marker(
            &json!([1, {"a": float_value(f64::NAN)}])
        ));
        assert!(!contains_number_marker(&json!([1, {"a": 2}])));
        assert_eq!(json_text("-inf"), "-Infinity");
    }
}
