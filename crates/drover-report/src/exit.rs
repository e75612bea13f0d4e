//! ansible-playbook's exit codes.

use drover_events::HostStats;

/// Every host ok (failures ignored or rescued count as ok).
pub const EXIT_OK: u8 = 0;
/// A host failed (`TaskQueueManager.RUN_FAILED_HOSTS`).
pub const EXIT_FAILED_HOSTS: u8 = 2;
/// A host was unreachable (`RUN_UNREACHABLE_HOSTS`); wins over failed hosts, as in Ansible's
/// strategy (`StrategyBase.run` checks unreachable hosts first).
pub const EXIT_UNREACHABLE_HOSTS: u8 = 4;
/// The user interrupted the run (Ctrl-C): `ansible.cli.CLI.cli_executor` returns 99.
pub const EXIT_INTERRUPTED: u8 = 99;

/// The exit code for a finished run, from the recap's per-host totals: 99 when interrupted,
/// else 4 if any host is unreachable, else 2 if any host failed, else 0. Ignored failures and
/// ignored unreachables are not counted in `failed`/`unreachable` (they are in `ignored`), and
/// rescued failures are not either, so those runs exit 0 like ansible-playbook.
pub fn exit_code(hosts: &[HostStats], interrupted: bool) -> u8 {
    if interrupted {
        EXIT_INTERRUPTED
    } else if hosts.iter().any(|h| h.unreachable > 0) {
        EXIT_UNREACHABLE_HOSTS
    } else if hosts.iter().any(|h| h.failed > 0) {
        EXIT_FAILED_HOSTS
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, failed: u32, unreachable: u32) -> HostStats {
        HostStats {
            host: name.into(),
            failed,
            unreachable,
            ..Default::default()
        }
    }

    /// Codes observed with ansible-playbook 2.18.19 (see tests/fixtures/README.md):
    /// failed.yml → 2, unreachable.yml → 4, a run with one failed and one unreachable host → 4,
    /// rescued-only → 0, ignore_unreachable → 0 (recap: unreachable=0 ignored=1).
    #[test]
    fn codes_like_ansible_playbook() {
        assert_eq!(exit_code(&[host("a", 0, 0)], false), 0);
        assert_eq!(exit_code(&[host("a", 1, 0), host("b", 0, 0)], false), 2);
        assert_eq!(exit_code(&[host("a", 0, 1)], false), 4);
        assert_eq!(exit_code(&[host("h1", 1, 0), host("u1", 0, 1)], false), 4);
        assert_eq!(exit_code(&[host("a", 1, 1)], true), 99);
        assert_eq!(exit_code(&[], false), 0);
    }
}
