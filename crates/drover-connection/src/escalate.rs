//! Privilege escalation: `become` through `sudo -n` (never prompts; a password prompt is an
//! error that says what to do).

use crate::shell::quote;

/// Who a command runs as.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Become {
    /// Whether to escalate at all (`become: true`).
    pub enabled: bool,
    /// Target user (`become_user`), root when `None`.
    pub user: Option<String>,
}

impl Become {
    /// Escalate to root.
    pub fn root() -> Become {
        Become {
            enabled: true,
            user: None,
        }
    }

    /// Wraps a shell script so it runs under sudo as the target user (or unchanged when
    /// become is off).
    pub fn wrap(&self, script: &str) -> String {
        if !self.enabled {
            return script.to_string();
        }
        let user = self.user.as_deref().unwrap_or("root");
        format!(
            "sudo -n -H -u {} -- /bin/sh -c {}",
            quote(user),
            quote(script)
        )
    }
}

impl Become {
    /// A command line (words already quoted) that runs `command` as the target user, without
    /// an intermediate shell (or unchanged when become is off).
    pub(crate) fn wrap_command(&self, command: &str) -> String {
        if !self.enabled {
            return command.to_string();
        }
        let user = self.user.as_deref().unwrap_or("root");
        format!("sudo -n -H -u {} -- {command}", quote(user))
    }
}

/// True when stderr shows that sudo wanted a password (`sudo -n` refuses to prompt).
pub fn needs_password(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.contains("sudo: a password is required") || text.contains("sudo: a terminal is required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_only_when_enabled() {
        assert_eq!(Become::default().wrap("id -u"), "id -u");
        assert_eq!(
            Become::root().wrap("id -u"),
            "sudo -n -H -u root -- /bin/sh -c 'id -u'"
        );
        let b = Become {
            enabled: true,
            user: Some("consul".into()),
        };
        assert_eq!(
            b.wrap("echo 'x'"),
            r"sudo -n -H -u consul -- /bin/sh -c 'echo '\''x'\'''"
        );
    }

    #[test]
    fn detects_password_prompt() {
        assert!(needs_password(b"sudo: a password is required\n"));
        assert!(!needs_password(b"permission denied"));
    }
}
