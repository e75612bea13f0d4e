//! Ansible's colors (ansible-core 2.18 defaults) and when to use them.
//!
//! The escape sequences are byte-for-byte those of `ansible.utils.color.stringc`: each line of a
//! multi-line text is wrapped separately, `ESC[<code>m<line>ESC[0m`.

use std::ffi::OsStr;

/// A color of Ansible's palette, named after its `COLOR_*` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// `COLOR_OK`: green.
    Ok,
    /// `COLOR_CHANGED`: yellow.
    Changed,
    /// `COLOR_SKIP`: cyan.
    Skip,
    /// `COLOR_ERROR`: red.
    Error,
    /// `COLOR_UNREACHABLE`: bright red.
    Unreachable,
    /// `COLOR_WARN`: bright purple.
    Warn,
    /// `COLOR_DEBUG`: dark gray.
    Debug,
    /// `COLOR_DIFF_ADD`: green.
    DiffAdd,
    /// `COLOR_DIFF_REMOVE`: red.
    DiffRemove,
    /// `COLOR_DIFF_LINES`: cyan.
    DiffLines,
}

impl Color {
    /// The SGR parameters Ansible uses for this color (`constants.COLOR_CODES`).
    pub fn sgr(self) -> &'static str {
        match self {
            Color::Ok | Color::DiffAdd => "0;32",
            Color::Changed => "0;33",
            Color::Skip | Color::DiffLines => "0;36",
            Color::Error | Color::DiffRemove => "0;31",
            Color::Unreachable => "1;31",
            Color::Warn => "1;35",
            Color::Debug => "1;30",
        }
    }
}

/// Whether to color output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Color when stdout is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always color (like `ANSIBLE_FORCE_COLOR`).
    Always,
    /// Never color.
    Never,
}

impl ColorChoice {
    /// Resolves the choice: `Auto` colors only on a terminal and when `NO_COLOR` (the
    /// <https://no-color.org> convention, which Ansible also honours) is absent or empty.
    pub fn enabled(self, stdout_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// Wraps `text` in `color` like Ansible's `stringc`: every `\n`-separated line separately.
/// Returns `text` unchanged when coloring is off.
pub fn stringc(text: &str, color: Color, enabled: bool) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = color.sgr();
    text.split('\n')
        .map(|line| format!("\x1b[{code}m{line}\x1b[0m"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `lead=num` padded like Ansible's recap columns (`%s=%-4s`), colored when `num` is not zero.
pub fn colorize(lead: &str, num: u32, color: Option<Color>, enabled: bool) -> String {
    let text = format!("{lead}={num:<4}");
    match color {
        Some(c) if num != 0 && enabled => stringc(&text, c, true),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stringc_wraps_each_line_like_ansible() {
        assert_eq!(
            stringc("a\nb", Color::Ok, true),
            "\x1b[0;32ma\x1b[0m\n\x1b[0;32mb\x1b[0m"
        );
        assert_eq!(
            stringc("+x\n", Color::DiffAdd, true),
            "\x1b[0;32m+x\x1b[0m\n\x1b[0;32m\x1b[0m"
        );
        assert_eq!(stringc("a\nb", Color::Ok, false), "a\nb");
    }

    #[test]
    fn colorize_pads_and_colors_only_nonzero() {
        assert_eq!(
            colorize("ok", 3, Some(Color::Ok), true),
            "\x1b[0;32mok=3   \x1b[0m"
        );
        assert_eq!(colorize("ok", 0, Some(Color::Ok), true), "ok=0   ");
        assert_eq!(colorize("changed", 12345, None, true), "changed=12345");
    }

    #[test]
    fn auto_respects_terminal_and_no_color() {
        let auto = ColorChoice::Auto;
        assert!(auto.enabled(true, None));
        assert!(!auto.enabled(false, None));
        assert!(!auto.enabled(true, Some(OsStr::new("1"))));
        assert!(auto.enabled(true, Some(OsStr::new(""))));
        assert!(ColorChoice::Always.enabled(false, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Never.enabled(true, None));
    }
}
