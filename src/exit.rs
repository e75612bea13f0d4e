//! Exit codes, the same as ansible-playbook's (measured against ansible-core 2.18):
//! 0 ok, 1 error (e.g. a missing file), 2 a host failed (and bad command-line arguments, as
//! argparse does), 4 a host unreachable or a playbook/inventory parse error, 5 invalid option
//! values, 99 interrupted.

use std::process::ExitCode;

use drover_diag::Diagnostic;

/// A general error (a file that cannot be read, a missing role).
pub const ERROR: u8 = 1;
/// A YAML, playbook or inventory parse error (ansible-playbook's AnsibleParserError).
pub const PARSE_ERROR: u8 = 4;
/// An option value that is invalid (ansible-playbook's AnsibleOptionsError).
pub const OPTIONS_ERROR: u8 = 5;

/// Prints a diagnostic to stderr and returns its own exit code if it has one (ansible-playbook's
/// code for that error), else `code`, the command's default for its kind of error.
pub fn fail(diag: &Diagnostic, code: u8) -> ExitCode {
    eprint!("{diag}");
    ExitCode::from(diag.exit_code.unwrap_or(code))
}

/// Prints warnings to stderr.
pub fn warn_all(warnings: &[Diagnostic]) {
    for w in warnings {
        eprint!("{w}");
    }
}
