//! Where an inventory-level variable's value is written: a position in an inventory or vars
//! file, or only the file (a JSON vars file, whose parser keeps no positions).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use drover_diag::Span;

/// Where one variable's value is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// The value in an inventory or vars file (the value node, or the `key=value` value in INI).
    Span(Span),
    /// A vars file, position unknown.
    File(PathBuf),
}

impl Origin {
    /// `path:line:col` for a position ([`Span::location`]), the path alone for a file.
    pub fn location(&self) -> String {
        match self {
            Origin::Span(span) => span.location(),
            Origin::File(path) => path.display().to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location())
    }
}

/// The origin of each variable of one variable map (variables without a known origin are
/// absent).
pub type Origins = HashMap<String, Origin>;

/// Records `key`'s origin, or forgets a stale one when the new value's origin is unknown.
pub fn record(origins: &mut Origins, key: &str, origin: Option<Origin>) {
    match origin {
        Some(o) => {
            origins.insert(key.to_string(), o);
        }
        None => {
            origins.remove(key);
        }
    }
}
