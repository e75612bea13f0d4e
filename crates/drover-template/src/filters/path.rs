//! Path filters with Python `os.path` semantics: `basename`, `dirname`, `realpath`, `expanduser`,
//! `path_join`, `splitext`.

use std::path::{Component, Path, PathBuf};

use minijinja::{Environment, Error, Value};

use super::to_text;
use crate::environment::op_error;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("basename", |v: &Value| basename(&to_text(v)).to_string());
    env.add_filter("dirname", |v: &Value| dirname(&to_text(v)));
    env.add_filter("realpath", |v: &Value| realpath(&to_text(v)));
    env.add_filter("expanduser", |v: &Value| expanduser(&to_text(v)));
    env.add_filter("path_join", path_join);
    env.add_filter("splitext", |v: &Value| {
        let (root, ext) = splitext(&to_text(v));
        Value::from(vec![Value::from(root), Value::from(ext)])
    });
}

/// `os.path.basename`: everything after the last `/`.
pub fn basename(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// `os.path.dirname`: everything before the last `/`, trailing slashes removed unless it is all
/// slashes.
pub fn dirname(p: &str) -> String {
    let head = match p.rfind('/') {
        Some(i) => &p[..i + 1],
        None => "",
    };
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `os.path.realpath` (non-strict): symlinks of the existing part resolved, the rest normalised.
fn realpath(p: &str) -> String {
    let path = Path::new(p);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut resolved = PathBuf::from("/");
    let components = absolute.components().peekable();
    for c in components {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                let next = resolved.join(name);
                resolved = std::fs::canonicalize(&next).unwrap_or(next);
            }
        }
    }
    resolved.display().to_string()
}

fn expanduser(p: &str) -> String {
    if (p == "~" || p.starts_with("~/"))
        && let Ok(home) = std::env::var("HOME")
    {
        let home = if home.len() > 1 {
            home.trim_end_matches('/').to_string()
        } else {
            home
        };
        return format!("{home}{}", &p[1..]);
    }
    p.to_string()
}

/// `os.path.join` over a list (or a single string).
fn path_join(value: &Value) -> Result<String, Error> {
    if let Some(s) = value.as_str() {
        return Ok(s.to_string());
    }
    let parts: Vec<String> = value
        .try_iter()
        .map_err(|_| {
            op_error(format!(
                "|path_join expects string or sequence, got {}",
                value.kind()
            ))
        })?
        .map(|v| to_text(&v))
        .collect();
    let mut out = String::new();
    for part in parts {
        if part.starts_with('/') {
            out = part;
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(&part);
        } else {
            out.push('/');
            out.push_str(&part);
        }
    }
    Ok(out)
}

/// `os.path.splitext`.
fn splitext(p: &str) -> (String, String) {
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    let base = &p[base_start..];
    let leading_dots = base.chars().take_while(|c| *c == '.').count();
    match base.rfind('.') {
        Some(i) if i >= leading_dots && i > 0 => {
            let at = base_start + i;
            (p[..at].to_string(), p[at..].to_string())
        }
        _ => (p.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::eval;
    use serde_json::json;

    #[test]
    fn python_os_path_semantics() {
        assert_eq!(
            eval("'/etc/consul.d/consul.json' | basename", json!({})),
            Ok(json!("consul.json"))
        );
        assert_eq!(
            eval("'/etc/consul.d/' | basename", json!({})),
            Ok(json!(""))
        );
        assert_eq!(
            eval("'/etc/consul.d/consul.json' | dirname", json!({})),
            Ok(json!("/etc/consul.d"))
        );
        assert_eq!(eval("'/etc' | dirname", json!({})), Ok(json!("/")));
        assert_eq!(eval("'a' | dirname", json!({})), Ok(json!("")));
        assert_eq!(eval("'/a/b/../c' | realpath", json!({})), Ok(json!("/a/c")));
        assert_eq!(
            eval("['/etc', 'prometheus', 'targets'] | path_join", json!({})),
            Ok(json!("/etc/prometheus/targets"))
        );
        assert_eq!(
            eval("'a/b.tar.gz' | splitext", json!({})),
            Ok(json!(["a/b.tar", ".gz"]))
        );
        assert_eq!(
            eval("'.bashrc' | splitext", json!({})),
            Ok(json!([".bashrc", ""]))
        );
    }
}
