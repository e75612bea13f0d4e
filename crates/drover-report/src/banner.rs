//! Banner lines (`PLAY [x] ****`) and the width they fill, as Ansible's `Display.banner`.

use unicode_width::UnicodeWidthStr;

/// Ansible's display width: `max(79, terminal columns - 1)` when stdout is a terminal, else 79.
/// Ansible reads the size with `TIOCGWINSZ` on stdout and ignores `COLUMNS`; so does this.
pub fn display_columns(terminal_columns: Option<usize>) -> usize {
    match terminal_columns {
        Some(c) => c.saturating_sub(1).max(79),
        None => 79,
    }
}

/// The width of stdout's terminal when stdout is one (0 when the terminal reports no size,
/// as a fresh pty does), `None` when stdout is not a terminal.
pub fn stdout_terminal_columns() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let cols = console::Term::stdout()
        .size_checked()
        .map_or(0, |(_rows, cols)| cols);
    Some(usize::from(cols))
}

/// A banner: a blank line, then `msg` and at least three stars filling up to `columns`
/// (text width counted in terminal cells, as Ansible's `get_text_width`). No trailing newline.
pub fn banner(msg: &str, columns: usize) -> String {
    let msg = msg.trim();
    let stars = columns.saturating_sub(msg.width()).max(3);
    format!("\n{msg} {}", "*".repeat(stars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_fills_eighty_columns() {
        let b = banner("PLAY [Main play]", 79);
        assert_eq!(b.len(), 81); // newline + 80 visible
        assert!(b.starts_with("\nPLAY [Main play] ****"));
    }

    #[test]
    fn long_and_wide_titles() {
        let long = "x".repeat(100);
        assert_eq!(banner(&long, 79), format!("\n{long} ***"));
        // Wide characters take two cells each.
        assert_eq!(banner("TASK [配置]", 20), "\nTASK [配置] *********");
    }

    #[test]
    fn columns_like_ansible() {
        assert_eq!(display_columns(None), 79);
        assert_eq!(display_columns(Some(40)), 79);
        assert_eq!(display_columns(Some(200)), 199);
    }
}
