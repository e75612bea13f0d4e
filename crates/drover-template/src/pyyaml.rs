//! PyYAML's `yaml.dump` (SafeDumper, as Ansible's `to_yaml` and `to_nice_yaml` call it);
//! `json.dumps` for `to_json` and `to_nice_json` is drover-python's.
//!
//! This is a port of PyYAML's representer (sorted keys, flow style for collections of
//! scalars when `default_flow_style=None`) and emitter (scalar analysis, plain/single/double
//! quoting, folding at 80 columns) as libyaml's CSafeDumper behaves, which Ansible uses.

use drover_python::float_repr;
use serde_json::Value;

/// Options of `yaml.dump` that Ansible's filters pass.
#[derive(Clone, Debug)]
pub struct YamlOptions {
    /// `indent` (PyYAML's best_indent, 2..=9).
    pub indent: usize,
    /// `default_flow_style`: `None` = flow for collections of scalars only.
    pub default_flow_style: Option<bool>,
    /// `width` (default 80).
    pub width: usize,
    /// `sort_keys` (default true).
    pub sort_keys: bool,
    /// `explicit_start` (`---`).
    pub explicit_start: bool,
    /// `explicit_end` (`...`).
    pub explicit_end: bool,
}

impl Default for YamlOptions {
    fn default() -> YamlOptions {
        YamlOptions {
            indent: 2,
            default_flow_style: None,
            width: 80,
            sort_keys: true,
            explicit_start: false,
            explicit_end: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// yaml.dump

enum Node {
    Scalar {
        value: String,
        implicit: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        flow: bool,
    },
}

/// PyYAML's `yaml.dump(value, Dumper=SafeDumper, allow_unicode=True, ...)`.
pub fn yaml_dump(value: &Value, options: &YamlOptions) -> String {
    let node = represent(value, options, 0);
    let mut e = Emitter::new(options);
    if options.explicit_start {
        e.write_indent();
        e.write_indicator("---", true, false, false);
    }
    e.expect_node(&node, true, false, false, false);
    // document end
    e.write_indent();
    // Ansible dumps with libyaml's CSafeDumper, which (unlike pure-Python PyYAML) writes no `...`
    // after an open-ended root scalar.
    if options.explicit_end {
        e.write_indicator("...", true, false, false);
        e.write_indent();
    }
    e.out
}

fn represent(value: &Value, options: &YamlOptions, depth: usize) -> Node {
    let scalar = |value: String, implicit: bool| Node::Scalar { value, implicit };
    if depth > 400 {
        return scalar("...".into(), false);
    }
    match value {
        Value::Null => scalar("null".into(), true),
        Value::Bool(b) => scalar(if *b { "true" } else { "false" }.into(), true),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                let mut v = float_repr(f);
                if f.is_nan() {
                    v = ".nan".into();
                } else if f.is_infinite() {
                    v = if f > 0.0 {
                        ".inf".into()
                    } else {
                        "-.inf".into()
                    };
                } else if !v.contains('.') && v.contains('e') {
                    v = v.replacen('e', ".0e", 1);
                }
                scalar(v, true)
            } else {
                scalar(n.to_string(), true)
            }
        }
        Value::String(s) => scalar(s.clone(), resolves_to_str(s)),
        Value::Array(items) => {
            let items: Vec<Node> = items
                .iter()
                .map(|v| represent(v, options, depth + 1))
                .collect();
            let best = items.iter().all(|n| matches!(n, Node::Scalar { .. }));
            Node::Seq {
                flow: options.default_flow_style.unwrap_or(best),
                items,
            }
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if options.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            let pairs: Vec<(Node, Node)> = entries
                .into_iter()
                .map(|(k, v)| {
                    (
                        scalar(k.clone(), resolves_to_str(k)),
                        represent(v, options, depth + 1),
                    )
                })
                .collect();
            let best = pairs.iter().all(|(_, v)| matches!(v, Node::Scalar { .. }));
            Node::Map {
                flow: options.default_flow_style.unwrap_or(best),
                pairs,
            }
        }
    }
}

/// Whether a plain scalar `s` would be read back as a string by PyYAML's resolver.
fn resolves_to_str(s: &str) -> bool {
    !(is_yaml_bool(s)
        || is_yaml_null(s)
        || is_yaml_int(s)
        || is_yaml_float(s)
        || is_yaml_timestamp(s)
        || s == "<<"
        || s == "=")
}

fn is_yaml_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_yaml_null(s: &str) -> bool {
    matches!(s, "~" | "null" | "Null" | "NULL" | "")
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn all(s: &str, f: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().all(f)
}

fn is_yaml_int(s: &str) -> bool {
    let u = strip_sign(s);
    if let Some(b) = u.strip_prefix("0b") {
        return all(b, |c| c == '0' || c == '1' || c == '_');
    }
    if let Some(h) = u.strip_prefix("0x") {
        return all(h, |c| c.is_ascii_hexdigit() || c == '_');
    }
    if u == "0" {
        return true;
    }
    if let Some(o) = u.strip_prefix('0') {
        return all(o, |c| ('0'..='7').contains(&c) || c == '_');
    }
    if u.starts_with(|c: char| ('1'..='9').contains(&c)) {
        if all(u, |c| c.is_ascii_digit() || c == '_') {
            return true;
        }
        // sexagesimal: [1-9][0-9_]*(:[0-5]?[0-9])+
        let mut parts = u.split(':');
        let head = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        return all(head, |c| c.is_ascii_digit() || c == '_')
            && !rest.is_empty()
            && rest.iter().all(|p| sexagesimal_part(p));
    }
    false
}

fn sexagesimal_part(p: &str) -> bool {
    let b = p.as_bytes();
    match b.len() {
        1 => b[0].is_ascii_digit(),
        2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
        _ => false,
    }
}

fn is_yaml_float(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let u = strip_sign(s);
    if matches!(u, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    // exponent part: [eE][-+][0-9]+
    let split_exp = |t: &str| -> Option<(String, bool)> {
        match t.find(['e', 'E']) {
            Some(i) => {
                let exp = &t[i + 1..];
                let digits = exp.strip_prefix(['-', '+'])?;
                if exp.len() == digits.len() || !all(digits, |c| c.is_ascii_digit()) {
                    return None;
                }
                Some((t[..i].to_string(), true))
            }
            None => Some((t.to_string(), false)),
        }
    };
    // .[0-9][0-9_]*(exp)?  (no sign)
    if let Some(rest) = s.strip_prefix('.') {
        let Some((body, _)) = split_exp(rest) else {
            return false;
        };
        return body.starts_with(|c: char| c.is_ascii_digit())
            && all(&body, |c| c.is_ascii_digit() || c == '_');
    }
    let Some((body, has_exp)) = split_exp(u) else {
        return false;
    };
    if let Some(dot) = body.find('.') {
        let (int_part, frac) = (&body[..dot], &body[dot + 1..]);
        if int_part.contains(':') {
            if has_exp {
                return false;
            }
            let mut parts = int_part.split(':');
            let head = parts.next().unwrap_or("");
            let rest: Vec<&str> = parts.collect();
            return head.starts_with(|c: char| c.is_ascii_digit())
                && all(head, |c| c.is_ascii_digit() || c == '_')
                && !rest.is_empty()
                && rest.iter().all(|p| sexagesimal_part(p))
                && frac.chars().all(|c| c.is_ascii_digit() || c == '_');
        }
        return int_part.starts_with(|c: char| c.is_ascii_digit())
            && all(int_part, |c| c.is_ascii_digit() || c == '_')
            && frac.chars().all(|c| c.is_ascii_digit() || c == '_');
    }
    false
}

fn is_yaml_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() == 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
    {
        return true;
    }
    // the long form: YYYY-M(M)-D(D)(T| )H(H):MM:SS(.f)?(tz)?
    if b.len() < 14 || !digits(0..4) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let Some((month, rest)) = rest.split_once('-') else {
        return false;
    };
    if !(1..=2).contains(&month.len()) || !all(month, |c| c.is_ascii_digit()) {
        return false;
    }
    let day_len = rest.chars().take_while(char::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return false;
    }
    let rest = &rest[day_len..];
    let rest = if let Some(r) = rest.strip_prefix(['T', 't']) {
        r
    } else {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if trimmed.len() == rest.len() {
            return false;
        }
        trimmed
    };
    let hour_len = rest.chars().take_while(char::is_ascii_digit).count();
    if !(1..=2).contains(&hour_len) {
        return false;
    }
    let rest = &rest[hour_len..];
    let rb = rest.as_bytes();
    if rb.len() < 6
        || rb[0] != b':'
        || !rb[1].is_ascii_digit()
        || !rb[2].is_ascii_digit()
        || rb[3] != b':'
        || !rb[4].is_ascii_digit()
        || !rb[5].is_ascii_digit()
    {
        return false;
    }
    let mut rest = &rest[6..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest == "Z" {
        return true;
    }
    let Some(tz) = rest.strip_prefix(['-', '+']) else {
        return false;
    };
    let h = tz.chars().take_while(char::is_ascii_digit).count();
    if !(1..=2).contains(&h) {
        return false;
    }
    let tz = &tz[h..];
    tz.is_empty() || (tz.len() == 3 && tz.starts_with(':') && all(&tz[1..], |c| c.is_ascii_digit()))
}

struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

/// libyaml's IS_BREAK.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's IS_PRINTABLE (0.2.5): no C0/C1 controls but `\n`, no surrogates, no BOM, and no
/// characters outside the BMP.
fn printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

fn is_ws_or_nul(c: char) -> bool {
    matches!(
        c,
        '\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn analyze(text: &[char]) -> Analysis {
    if text.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let starts = |p: &str| text.len() >= 3 && text[..3].iter().collect::<String>() == p;
    if starts("---") || starts("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_ws = true;
    let mut followed_by_ws = text.len() == 1 || is_ws_or_nul(text[1]);
    let (mut previous_space, mut previous_break) = (false, false);
    let n = text.len();
    for (index, &ch) in text.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                if followed_by_ws {
                    block_indicators = true;
                }
            }
            if ch == '-' && followed_by_ws {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                if followed_by_ws {
                    block_indicators = true;
                }
            }
            if ch == '#' && preceded_by_ws {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if !printable(ch) {
            special = true;
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == n - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            if index == 0 {
                leading_break = true;
            }
            if index == n - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_ws_or_nul(ch);
        followed_by_ws = index + 2 >= n || is_ws_or_nul(text[index + 2]);
    }
    let mut a = Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: true,
        allow_block_plain: true,
        allow_single_quoted: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if break_space {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if space_break || special {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if line_breaks {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if flow_indicators {
        a.allow_flow_plain = false;
    }
    if block_indicators {
        a.allow_block_plain = false;
    }
    a
}

struct Emitter {
    out: String,
    best_indent: usize,
    best_width: usize,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    simple_key_context: bool,
    mapping_context: bool,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Emitter {
    fn new(options: &YamlOptions) -> Emitter {
        let best_indent = if options.indent > 1 && options.indent < 10 {
            options.indent
        } else {
            2
        };
        let best_width = if options.width > best_indent * 2 {
            options.width
        } else {
            80
        };
        Emitter {
            out: String::new(),
            best_indent,
            best_width,
            indent: None,
            indents: Vec::new(),
            flow_level: 0,
            simple_key_context: false,
            mapping_context: false,
            column: 0,
            whitespace: true,
            indention: true,
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        match self.indent {
            None => self.indent = Some(if flow { self.best_indent } else { 0 }),
            Some(i) if !indentless => self.indent = Some(i + self.best_indent),
            Some(_) => {}
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(None);
    }

    fn expect_node(
        &mut self,
        node: &Node,
        _root: bool,
        _sequence: bool,
        mapping: bool,
        simple_key: bool,
    ) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match node {
            Node::Scalar { value, implicit } => {
                self.increase_indent(true, false);
                self.process_scalar(value, *implicit);
                self.pop_indent();
            }
            Node::Seq { items, flow } => {
                if self.flow_level > 0 || *flow || items.is_empty() {
                    self.write_indicator("[", true, true, false);
                    self.flow_level += 1;
                    self.increase_indent(true, false);
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.write_indicator(",", false, false, false);
                        }
                        if self.column > self.best_width {
                            self.write_indent();
                        }
                        self.expect_node(item, false, true, false, false);
                    }
                    self.pop_indent();
                    self.flow_level -= 1;
                    self.write_indicator("]", false, false, false);
                } else {
                    let indentless = self.mapping_context && !self.indention;
                    self.increase_indent(false, indentless);
                    for item in items {
                        self.write_indent();
                        self.write_indicator("-", true, false, true);
                        self.expect_node(item, false, true, false, false);
                    }
                    self.pop_indent();
                }
            }
            Node::Map { pairs, flow } => {
                if self.flow_level > 0 || *flow || pairs.is_empty() {
                    self.write_indicator("{", true, true, false);
                    self.flow_level += 1;
                    self.increase_indent(true, false);
                    for (i, (k, v)) in pairs.iter().enumerate() {
                        if i > 0 {
                            self.write_indicator(",", false, false, false);
                        }
                        if self.column > self.best_width {
                            self.write_indent();
                        }
                        if check_simple_key(k) {
                            self.expect_node(k, false, false, true, true);
                            self.write_indicator(":", false, false, false);
                        } else {
                            self.write_indicator("?", true, false, false);
                            self.expect_node(k, false, false, true, false);
                            if self.column > self.best_width {
                                self.write_indent();
                            }
                            self.write_indicator(":", true, false, false);
                        }
                        self.expect_node(v, false, false, true, false);
                    }
                    self.pop_indent();
                    self.flow_level -= 1;
                    self.write_indicator("}", false, false, false);
                } else {
                    self.increase_indent(false, false);
                    for (k, v) in pairs {
                        self.write_indent();
                        if check_simple_key(k) {
                            self.expect_node(k, false, false, true, true);
                            self.write_indicator(":", false, false, false);
                        } else {
                            self.write_indicator("?", true, false, true);
                            self.expect_node(k, false, false, true, false);
                            self.write_indent();
                            self.write_indicator(":", true, false, true);
                        }
                        self.expect_node(v, false, false, true, false);
                    }
                    self.pop_indent();
                }
            }
        }
    }

    fn process_scalar(&mut self, value: &str, implicit: bool) {
        let text: Vec<char> = value.chars().collect();
        let a = analyze(&text);
        let split = !self.simple_key_context;
        let plain = implicit
            && !(self.simple_key_context && (a.empty || a.multiline))
            && ((self.flow_level > 0 && a.allow_flow_plain)
                || (self.flow_level == 0 && a.allow_block_plain));
        if plain {
            self.write_plain(&text, split);
        } else if a.allow_single_quoted && !(self.simple_key_context && a.multiline) {
            self.write_single_quoted(&text, split);
        } else {
            self.write_double_quoted(&text, split);
        }
    }

    fn write(&mut self, data: &str) {
        self.column += data.chars().count();
        self.out.push_str(data);
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        whitespace: bool,
        indention: bool,
    ) {
        let data = if self.whitespace || !need_whitespace {
            indicator.to_string()
        } else {
            format!(" {indicator}")
        };
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
        self.write(&data);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break(None);
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.write(&pad);
        }
    }

    fn write_line_break(&mut self, data: Option<char>) {
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
        self.out.push(data.unwrap_or('\n'));
    }

    fn write_breaks(&mut self, text: &[char]) {
        for &br in text {
            if br == '\n' {
                self.write_line_break(None);
            } else {
                self.write_line_break(Some(br));
            }
        }
    }

    fn write_plain(&mut self, text: &[char], split: bool) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0, 0);
        while end <= text.len() {
            let ch = text.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        let data: String = text[start..end].iter().collect();
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    if text[start] == '\n' {
                        self.write_line_break(None);
                    }
                    self.write_breaks(&text[start..end]);
                    self.write_indent();
                    self.whitespace = false;
                    self.indention = false;
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                let data: String = text[start..end].iter().collect();
                self.write(&data);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
    }

    fn write_single_quoted(&mut self, text: &[char], split: bool) {
        self.write_indicator("'", true, false, false);
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0, 0);
        while end <= text.len() {
            let ch = text.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != text.len()
                    {
                        self.write_indent();
                    } else {
                        let data: String = text[start..end].iter().collect();
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    if text[start] == '\n' {
                        self.write_line_break(None);
                    }
                    self.write_breaks(&text[start..end]);
                    self.write_indent();
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c) || c == '\'') && start < end {
                let data: String = text[start..end].iter().collect();
                self.write(&data);
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
        self.write_indicator("'", false, false, false);
    }

    /// libyaml's double-quoted writer: escapes, and folds only at single spaces past the width
    /// (escaping a following space with `\\`).
    fn write_double_quoted(&mut self, text: &[char], split: bool) {
        self.write_indicator("\"", true, false, false);
        let n = text.len();
        let mut spaces = false;
        for (i, &c) in text.iter().enumerate() {
            if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                let data = match c {
                    '\0' => "\\0".to_string(),
                    '\x07' => "\\a".into(),
                    '\x08' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\x0b' => "\\v".into(),
                    '\x0c' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\x1b' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{A0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.write(&data);
                spaces = false;
            } else if c == ' ' {
                if split && !spaces && self.column > self.best_width && i != 0 && i != n - 1 {
                    self.write_indent();
                    if text.get(i + 1) == Some(&' ') {
                        self.write("\\");
                    }
                } else {
                    self.write(" ");
                }
                spaces = true;
            } else {
                let mut buf = [0u8; 4];
                self.write(c.encode_utf8(&mut buf));
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
    }
}

fn check_simple_key(node: &Node) -> bool {
    match node {
        Node::Scalar { value, .. } => {
            let text: Vec<char> = value.chars().collect();
            let a = analyze(&text);
            value.len() <= 128 && !a.multiline
        }
        Node::Seq { items, .. } => items.is_empty(),
        Node::Map { pairs, .. } => pairs.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nice(v: Value) -> String {
        yaml_dump(
            &v,
            &YamlOptions {
                indent: 4,
                default_flow_style: Some(false),
                ..YamlOptions::default()
            },
        )
    }

    #[test]
    fn yaml_dump_flow_and_block() {
        let v = json!({"name": "pg-test", "members": ["10.10.10.11", "10.10.10.12"], "vars": {"port": 5432}});
        assert_eq!(
            yaml_dump(&v, &YamlOptions::default()),
            "members: [10.10.10.11, 10.10.10.12]\nname: pg-test\nvars: {port: 5432}\n"
        );
        assert_eq!(
            nice(v),
            "members:\n- 10.10.10.11\n- 10.10.10.12\nname: pg-test\nvars:\n    port: 5432\n"
        );
        assert_eq!(
            nice(json!([{"a": 1, "b": [1, 2]}])),
            "-   a: 1\n    b:\n    - 1\n    - 2\n"
        );
        assert_eq!(yaml_dump(&json!("abc"), &YamlOptions::default()), "abc\n");
        assert_eq!(yaml_dump(&json!("yes"), &YamlOptions::default()), "'yes'\n");
        assert_eq!(
            yaml_dump(&json!({"a": ""}), &YamlOptions::default()),
            "{a: ''}\n"
        );
        assert_eq!(
            yaml_dump(&json!({"a": "x\ny"}), &YamlOptions::default()),
            "{a: 'x\n\n    y'}\n"
        );
        assert_eq!(
            yaml_dump(
                &json!(["a: b", "- c", "1.5", "0755"]),
                &YamlOptions::default()
            ),
            "['a: b', '- c', '1.5', '0755']\n"
        );
    }
}
