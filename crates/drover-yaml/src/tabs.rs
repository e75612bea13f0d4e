//! Tabs between tokens, as Ansible's YAML loader takes them.
//!
//! Ansible loads YAML with PyYAML's C loader (`AnsibleLoader` derives from `yaml.CParser`, i.e.
//! libyaml 0.2.5). libyaml's scanner skips a tab between two tokens only where a simple key
//! could not start there: inside `[...]`/`{...}`, or after a token that cannot be followed by a
//! key on the same line (a mapping key's `:`, a scalar, an anchor, a tag, an alias, `---`). So
//! `msg:<TAB>hello` and `- key:<TAB>value` load, while `-<TAB>item`, `?<TAB>key`, a tab after
//! `:` of a `? key`, and a tab at the start of a line (indentation, or a blank line's only
//! character) are "found character that cannot start any token".
//!
//! saphyr-parser follows YAML 1.2 and refuses `key:<TAB>value` but takes `-<TAB>item`. This pass
//! walks the text with libyaml's token rules (flow level, whether a simple key is allowed, the
//! block indentation stack, and the extent of every scalar, comment, anchor and tag), and:
//! - replaces every tab libyaml skips between tokens with a space. A tab and a space are one
//!   byte and one column each, so every offset, line and column (and so every span) is
//!   unchanged, and such a tab is never part of a value;
//! - refuses the tabs libyaml refuses, at libyaml's position and with its words.
//!
//! Tabs inside scalars and comments are left to saphyr-parser, except: the blanks starting a
//! quoted scalar's continuation line, which libyaml drops (tabs too) and saphyr refuses when
//! they are tabs, become spaces too; and the two indentation errors libyaml reports (a tab
//! indenting a plain scalar's continuation line below its indentation, or a block scalar's
//! line) are reported here.
//!
//! Where the text stops being YAML libyaml would scan (a character that cannot start a token,
//! an unterminated quote), the pass stops and leaves the rest to saphyr-parser, which reports
//! the error.

use std::borrow::Cow;

/// A tab libyaml refuses: its byte offset and libyaml's description.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TabError {
    pub(crate) offset: usize,
    pub(crate) problem: &'static str,
}

/// What [`prepare`] makes of a text.
pub(crate) struct Prepared<'a> {
    /// The text with the tabs libyaml takes as token separators turned into spaces (borrowed
    /// when there are none).
    pub(crate) text: Cow<'a, str>,
    /// The first tab libyaml refuses. libyaml scans lazily, so an error its parser finds
    /// earlier in the text is the one Ansible reports: the caller reports whichever comes first.
    pub(crate) refused: Option<TabError>,
}

/// Turns the tabs libyaml skips between tokens into spaces and finds the first one it refuses.
pub(crate) fn prepare(text: &str) -> Prepared<'_> {
    if !text.contains('\t') {
        return Prepared {
            text: Cow::Borrowed(text),
            refused: None,
        };
    }
    let mut scan = Scan::new(text.as_bytes());
    let refused = scan.run().err();
    let text = if scan.tabs.is_empty() {
        Cow::Borrowed(text)
    } else {
        let mut bytes = text.as_bytes().to_vec();
        for at in scan.tabs {
            bytes[at] = b' ';
        }
        // Only ASCII tabs were replaced by ASCII spaces, so the text is still UTF-8.
        Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| text.to_string()))
    };
    Prepared { text, refused }
}

/// Where libyaml's scanner would stop with an error that saphyr-parser reports too (the pass
/// stops emulating there).
struct Stop;

enum Halt {
    Tab(TabError),
    Stop,
}

impl From<Stop> for Halt {
    fn from(_: Stop) -> Halt {
        Halt::Stop
    }
}

#[derive(Clone, Copy, Default)]
struct SimpleKey {
    possible: bool,
    line: usize,
    offset: usize,
    col: isize,
}

struct Scan<'a> {
    b: &'a [u8],
    pos: usize,
    line: usize,
    /// Column in characters, as libyaml counts them.
    col: isize,
    flow_level: usize,
    simple_key_allowed: bool,
    indent: isize,
    indents: Vec<isize>,
    /// One slot per flow level (the first for the block context).
    simple_keys: Vec<SimpleKey>,
    /// Offsets of the tabs to turn into spaces.
    tabs: Vec<usize>,
}

fn is_break(c: Option<u8>) -> bool {
    matches!(c, Some(b'\n' | b'\r'))
}

fn is_blank(c: Option<u8>) -> bool {
    matches!(c, Some(b' ' | b'\t'))
}

fn is_blankz(c: Option<u8>) -> bool {
    c.is_none() || is_blank(c) || is_break(c)
}

impl<'a> Scan<'a> {
    fn new(b: &'a [u8]) -> Scan<'a> {
        Scan {
            b,
            pos: 0,
            line: 0,
            col: 0,
            flow_level: 0,
            simple_key_allowed: true,
            indent: -1,
            indents: Vec::new(),
            simple_keys: vec![SimpleKey::default()],
            tabs: Vec::new(),
        }
    }

    fn run(&mut self) -> Result<(), TabError> {
        match self.tokens() {
            Ok(()) | Err(Halt::Stop) => Ok(()),
            Err(Halt::Tab(e)) => Err(e),
        }
    }

    fn peek(&self, n: usize) -> Option<u8> {
        self.b.get(self.pos + n).copied()
    }

    /// Moves over one character (not a line break).
    fn advance(&mut self) {
        if let Some(&c) = self.b.get(self.pos) {
            self.pos += match c {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            self.col += 1;
        }
    }

    /// Moves over one line break (`\r\n` is one).
    fn skip_break(&mut self) {
        if self.peek(0) == Some(b'\r') && self.peek(1) == Some(b'\n') {
            self.pos += 2;
        } else {
            self.pos += 1;
        }
        self.line += 1;
        self.col = 0;
    }

    fn skip_to_break(&mut self) {
        while !matches!(self.peek(0), None | Some(b'\n' | b'\r')) {
            self.advance();
        }
    }

    fn at_document_indicator(&self) -> bool {
        self.col == 0
            && (self.b[self.pos..].starts_with(b"---") || self.b[self.pos..].starts_with(b"..."))
            && is_blankz(self.peek(3))
    }

    fn tab_error(&self, problem: &'static str) -> Halt {
        Halt::Tab(TabError {
            offset: self.pos,
            problem,
        })
    }

    /// libyaml's `yaml_parser_fetch_next_token`, keeping only what decides where tokens are.
    fn tokens(&mut self) -> Result<(), Halt> {
        if self.b.starts_with("\u{feff}".as_bytes()) {
            self.pos = 3;
        }
        loop {
            self.skip_to_next_token();
            self.stale_simple_keys();
            self.unroll_indent(self.col);
            let Some(c) = self.peek(0) else {
                return Ok(());
            };
            let next = self.peek(1);
            if c == b'\t' {
                return Err(self.tab_error("found character that cannot start any token"));
            }
            if self.col == 0 && c == b'%' {
                self.unroll_indent(-1);
                self.remove_simple_key();
                self.simple_key_allowed = false;
                self.skip_to_break();
                continue;
            }
            if self.at_document_indicator() {
                self.unroll_indent(-1);
                self.remove_simple_key();
                self.simple_key_allowed = false;
                self.pos += 3;
                self.col += 3;
                continue;
            }
            match c {
                b'[' | b'{' => {
                    self.save_simple_key();
                    self.flow_level += 1;
                    self.simple_keys.push(SimpleKey::default());
                    self.simple_key_allowed = true;
                    self.advance();
                }
                b']' | b'}' => {
                    self.remove_simple_key();
                    if self.flow_level > 0 {
                        self.flow_level -= 1;
                        self.simple_keys.pop();
                    }
                    self.simple_key_allowed = false;
                    self.advance();
                }
                b',' => {
                    self.remove_simple_key();
                    self.simple_key_allowed = true;
                    self.advance();
                }
                b'-' if is_blankz(next) => {
                    if self.flow_level == 0 {
                        if !self.simple_key_allowed {
                            return Err(Stop.into());
                        }
                        self.roll_indent(self.col);
                    }
                    self.remove_simple_key();
                    self.simple_key_allowed = true;
                    self.advance();
                }
                b'?' if self.flow_level > 0 || is_blankz(next) => {
                    if self.flow_level == 0 {
                        if !self.simple_key_allowed {
                            return Err(Stop.into());
                        }
                        self.roll_indent(self.col);
                    }
                    self.remove_simple_key();
                    self.simple_key_allowed = self.flow_level == 0;
                    self.advance();
                }
                b':' if self.flow_level > 0 || is_blankz(next) => self.value()?,
                b'*' | b'&' => {
                    self.save_simple_key();
                    self.simple_key_allowed = false;
                    self.advance();
                    while matches!(
                        self.peek(0),
                        Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'-')
                    ) {
                        self.advance();
                    }
                }
                b'!' => {
                    self.save_simple_key();
                    self.simple_key_allowed = false;
                    self.advance();
                    if self.peek(0) == Some(b'<') {
                        while !matches!(self.peek(0), None | Some(b'>')) && !is_blankz(self.peek(0))
                        {
                            self.advance();
                        }
                    }
                    while !is_blankz(self.peek(0))
                        && !matches!(self.peek(0), Some(b',' | b'[' | b']' | b'{' | b'}'))
                    {
                        self.advance();
                    }
                }
                b'|' | b'>' if self.flow_level == 0 => {
                    self.remove_simple_key();
                    self.simple_key_allowed = true;
                    self.block_scalar()?;
                }
                b'\'' | b'"' => {
                    self.save_simple_key();
                    self.simple_key_allowed = false;
                    self.quoted(c)?;
                }
                b'-' | b'?' | b':' | b'#' | b'|' | b'>' | b'%' | b'@' | b'`' => {
                    if matches!(c, b'-' | b'?' | b':') && !is_blankz(next) {
                        self.save_simple_key();
                        self.simple_key_allowed = false;
                        self.plain()?;
                    } else {
                        // libyaml: "found character that cannot start any token".
                        return Err(Stop.into());
                    }
                }
                _ => {
                    self.save_simple_key();
                    self.simple_key_allowed = false;
                    self.plain()?;
                }
            }
        }
    }

    /// libyaml's `yaml_parser_scan_to_next_token`: spaces always, tabs where no simple key may
    /// start, comments and line breaks.
    fn skip_to_next_token(&mut self) {
        loop {
            loop {
                match self.peek(0) {
                    Some(b' ') => self.advance(),
                    Some(b'\t') if self.flow_level > 0 || !self.simple_key_allowed => {
                        self.tabs.push(self.pos);
                        self.advance();
                    }
                    _ => break,
                }
            }
            if self.peek(0) == Some(b'#') {
                self.skip_to_break();
            }
            if is_break(self.peek(0)) {
                self.skip_break();
                if self.flow_level == 0 {
                    self.simple_key_allowed = true;
                }
            } else {
                return;
            }
        }
    }

    fn stale_simple_keys(&mut self) {
        let (line, pos) = (self.line, self.pos);
        for key in &mut self.simple_keys {
            if key.possible && (key.line < line || key.offset + 1024 < pos) {
                key.possible = false;
            }
        }
    }

    fn save_simple_key(&mut self) {
        if self.simple_key_allowed {
            let key = SimpleKey {
                possible: true,
                line: self.line,
                offset: self.pos,
                col: self.col,
            };
            if let Some(slot) = self.simple_keys.last_mut() {
                *slot = key;
            }
        }
    }

    fn remove_simple_key(&mut self) {
        if let Some(slot) = self.simple_keys.last_mut() {
            slot.possible = false;
        }
    }

    fn roll_indent(&mut self, col: isize) {
        if self.flow_level == 0 && self.indent < col {
            self.indents.push(self.indent);
            self.indent = col;
        }
    }

    fn unroll_indent(&mut self, col: isize) {
        if self.flow_level > 0 {
            return;
        }
        while self.indent > col {
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    /// `:` (libyaml's `yaml_parser_fetch_value`).
    fn value(&mut self) -> Result<(), Halt> {
        let key = self.simple_keys.last().copied().unwrap_or_default();
        if key.possible {
            self.roll_indent(key.col);
            self.remove_simple_key();
            self.simple_key_allowed = false;
        } else {
            if self.flow_level == 0 {
                if !self.simple_key_allowed {
                    return Err(Stop.into());
                }
                self.roll_indent(self.col);
            }
            self.simple_key_allowed = self.flow_level == 0;
        }
        self.advance();
        Ok(())
    }

    /// A plain scalar (libyaml's `yaml_parser_scan_plain_scalar`), its blanks and line breaks
    /// included.
    fn plain(&mut self) -> Result<(), Halt> {
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            if self.at_document_indicator() || self.peek(0) == Some(b'#') {
                break;
            }
            while !is_blankz(self.peek(0)) {
                let c = self.peek(0);
                let next = self.peek(1);
                if self.flow_level > 0
                    && c == Some(b':')
                    && matches!(next, Some(b',' | b'?' | b'[' | b']' | b'{' | b'}'))
                {
                    return Err(Stop.into());
                }
                if (c == Some(b':') && is_blankz(next))
                    || (self.flow_level > 0 && matches!(c, Some(b',' | b'[' | b']' | b'{' | b'}')))
                {
                    break;
                }
                self.advance();
            }
            if !(is_blank(self.peek(0)) || is_break(self.peek(0))) {
                break;
            }
            while is_blank(self.peek(0)) || is_break(self.peek(0)) {
                if is_blank(self.peek(0)) {
                    if leading_blanks && self.col < indent && self.peek(0) == Some(b'\t') {
                        return Err(
                            self.tab_error("found a tab character that violates indentation")
                        );
                    }
                    self.advance();
                } else {
                    self.skip_break();
                    leading_blanks = true;
                }
            }
            if self.flow_level == 0 && self.col < indent {
                break;
            }
        }
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(())
    }

    /// A single- or double-quoted scalar (libyaml's `yaml_parser_scan_flow_scalar`).
    fn quoted(&mut self, quote: u8) -> Result<(), Halt> {
        self.advance();
        loop {
            if self.at_document_indicator() {
                return Err(Stop.into());
            }
            match self.peek(0) {
                None => return Err(Stop.into()),
                Some(b'\'') if quote == b'\'' && self.peek(1) == Some(b'\'') => {
                    self.advance();
                    self.advance();
                }
                Some(b'\\') if quote == b'"' => {
                    self.advance();
                    if is_break(self.peek(0)) {
                        self.skip_break();
                        self.quoted_line_start();
                    } else if self.peek(0).is_some() {
                        self.advance();
                    }
                }
                Some(c) if c == quote => {
                    self.advance();
                    return Ok(());
                }
                Some(b'\n' | b'\r') => {
                    self.skip_break();
                    self.quoted_line_start();
                }
                Some(_) => self.advance(),
            }
        }
    }

    /// The blanks that start a quoted scalar's continuation line: libyaml drops them, tabs
    /// included, where saphyr-parser refuses a tab; as spaces they are dropped the same way.
    fn quoted_line_start(&mut self) {
        while is_blank(self.peek(0)) {
            if self.peek(0) == Some(b'\t') {
                self.tabs.push(self.pos);
            }
            self.advance();
        }
    }

    /// A `|` or `>` scalar (libyaml's `yaml_parser_scan_block_scalar`).
    fn block_scalar(&mut self) -> Result<(), Halt> {
        self.advance();
        let mut increment: isize = 0;
        let digit = |c: Option<u8>| match c {
            Some(d @ b'1'..=b'9') => Some(isize::from(d - b'0')),
            _ => None,
        };
        if matches!(self.peek(0), Some(b'+' | b'-')) {
            self.advance();
            if let Some(d) = digit(self.peek(0)) {
                increment = d;
                self.advance();
            }
        } else if let Some(d) = digit(self.peek(0)) {
            increment = d;
            self.advance();
            if matches!(self.peek(0), Some(b'+' | b'-')) {
                self.advance();
            }
        }
        while is_blank(self.peek(0)) {
            self.advance();
        }
        if self.peek(0) == Some(b'#') {
            self.skip_to_break();
        }
        if !is_blankz(self.peek(0)) {
            return Err(Stop.into());
        }
        if is_break(self.peek(0)) {
            self.skip_break();
        }
        let mut indent = match increment {
            0 => 0,
            n if self.indent >= 0 => self.indent + n,
            n => n,
        };
        self.block_scalar_breaks(&mut indent)?;
        while self.col == indent && self.peek(0).is_some() {
            self.skip_to_break();
            if self.peek(0).is_none() {
                break;
            }
            self.skip_break();
            self.block_scalar_breaks(&mut indent)?;
        }
        Ok(())
    }

    /// The indentation and empty lines before a block scalar's next line
    /// (`yaml_parser_scan_block_scalar_breaks`); settles the indentation when not given.
    fn block_scalar_breaks(&mut self, indent: &mut isize) -> Result<(), Halt> {
        let mut max_indent = 0;
        loop {
            while (*indent == 0 || self.col < *indent) && self.peek(0) == Some(b' ') {
                self.advance();
            }
            max_indent = max_indent.max(self.col);
            if (*indent == 0 || self.col < *indent) && self.peek(0) == Some(b'\t') {
                return Err(
                    self.tab_error("found a tab character where an indentation space is expected")
                );
            }
            if !is_break(self.peek(0)) {
                break;
            }
            self.skip_break();
        }
        if *indent == 0 {
            *indent = max_indent.max(self.indent + 1).max(1);
        }
        Ok(())
    }
}
