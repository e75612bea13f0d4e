//! SSH material of a sandbox: the controller's key pair, one host key per
//! node, and the pinned `known_hosts` built from those host keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Generates an ed25519 key pair at `path` (and `path.pub`), replacing any
/// existing one.
pub fn generate_ed25519(path: &Path, comment: &str) -> Result<()> {
    for p in [path.to_path_buf(), pub_path(path)] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p)(e)),
        }
    }
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            command: "ssh-keygen".to_owned(),
            detail: format!("{e} (install openssh-client)"),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("ssh-keygen -f {}", path.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// `path` with `.pub` appended.
pub fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// The `type base64` part of a public key file (drops the comment).
pub fn public_key_body(pub_file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(pub_file).map_err(Error::io(pub_file))?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind), Some(body)) => Ok(format!("{kind} {body}")),
        _ => Err(Error::Invalid(format!(
            "{}: not an OpenSSH public key",
            pub_file.display()
        ))),
    }
}

/// One `known_hosts` line pinning `key` for `[127.0.0.1]:port` and the
/// node's own names (never connected to, but they let a user's `ssh` config
/// use `HostKeyAlias`).
pub fn known_hosts_line(port: u16, aliases: &[String], key: &str) -> String {
    let mut names = vec![format!("[127.0.0.1]:{port}")];
    names.extend(aliases.iter().cloned());
    format!("{} {key}\n", names.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_format() {
        let line = known_hosts_line(2222, &["meta".to_owned()], "ssh-ed25519 AAAA");
        assert_eq!(line, "[127.0.0.1]:2222,meta ssh-ed25519 AAAA\n");
    }

    #[test]
    fn keygen_roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("id_ed25519");
        generate_ed25519(&key, "test").expect("ssh-keygen");
        let body = public_key_body(&pub_path(&key)).expect("pub");
        assert!(body.starts_with("ssh-ed25519 "));
        generate_ed25519(&key, "test").expect("regenerate replaces");
        assert_ne!(public_key_body(&pub_path(&key)).expect("pub"), body);
    }
}
