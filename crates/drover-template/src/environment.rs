//! The one minijinja [`Environment`] drover renders with, configured like Ansible's Jinja2.

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, Value};

use crate::{filters, lookups, tests};

/// Nesting limit for macro calls, includes and nested expressions.
pub const RECURSION_LIMIT: usize = 64;

/// Builds the environment: `trim_blocks`, Jinja2's trailing-newline handling (the callers restore
/// newlines the way Ansible does), strict undefined, no auto-escaping, Python-style rendering with
/// `None` printed as an empty string (Ansible's `finalize`), pycompat methods, Ansible's filters,
/// tests and lookups.
pub fn build() -> Environment<'static> {
    let mut env = Environment::new();
    // Must come before any template is added: the escape mode is fixed at load time.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    match SyntaxConfig::builder()
        .trim_blocks(true)
        .keep_trailing_newline(false)
        .build()
    {
        Ok(syntax) => env.set_syntax(syntax),
        Err(e) => unreachable_config(e),
    }
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Deep macro recursion must end in an error, not a stack overflow, even on 2 MiB worker
    // threads in debug builds (Python's own recursion limit stops Jinja2 at a similar depth).
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_debug(true);
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else if value.as_str().is_some() {
            minijinja::escape_formatter(out, state, value)
        } else {
            out.write_str(&crate::value::python_str(value))
                .map_err(minijinja::Error::from)
        }
    });
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    filters::register(&mut env);
    tests::register(&mut env);
    lookups::register(&mut env);
    env
}

/// The default syntax configuration always builds; keep the function total without panicking.
fn unreachable_config(e: Error) {
    debug_assert!(false, "syntax config rejected: {e}");
}

/// Names of every filter the environment knows, for "did you mean" hints.
pub fn filter_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = filters::NAMES.to_vec();
    names.extend(BUILTIN_FILTERS);
    names
}

/// Names of every test the environment knows.
pub fn test_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = tests::NAMES.to_vec();
    names.extend(BUILTIN_TESTS);
    names
}

/// minijinja's built-in filters kept as they are (their semantics match Jinja2's).
const BUILTIN_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "capitalize",
    "count",
    "dictsort",
    "e",
    "escape",
    "first",
    "groupby",
    "indent",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "sum",
    "title",
    "tojson",
    "trim",
    "upper",
    "zip",
    "chain",
    "format",
    "lines",
];

const BUILTIN_TESTS: &[&str] = &[
    "boolean",
    "divisibleby",
    "endingwith",
    "eq",
    "equalto",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lower",
    "lt",
    "mapping",
    "ne",
    "number",
    "odd",
    "safe",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "test",
    "true",
    "upper",
];

/// A plain "invalid operation" error with a message, the shape every filter error takes.
pub fn op_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Whether a value is a map (including drover's lazy variable objects).
pub fn is_map(value: &Value) -> bool {
    value.kind() == minijinja::value::ValueKind::Map
}
