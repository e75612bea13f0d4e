//! Builds [`Node`]s from saphyr-parser events, with PyYAML's construction rules: merge keys
//! (`<<`), anchors and aliases, duplicate keys (last wins, with a warning), unhashable keys.

use std::collections::HashMap;
use std::sync::Arc;

use drover_diag::{Diagnostic, Source, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span as YSpan, StrInput, Tag};

use crate::node::{Mapping, Node, NodeValue};
use crate::resolve::{resolve_plain, resolve_tagged};

/// Deeper nesting than this is refused (it is never intended, and keeps recursion bounded).
const MAX_DEPTH: usize = 256;
/// Total nodes a file may expand to through aliases ("billion laughs" guard).
const MAX_NODES: usize = 2_000_000;

pub(crate) struct Composer<'a> {
    parser: Parser<'a, StrInput<'a>>,
    source: Arc<Source>,
    anchors: HashMap<usize, (Node, usize)>,
    pub(crate) warnings: Vec<Diagnostic>,
    nodes: usize,
}

/// One parsed node plus how many nodes it holds (for the alias budget) and whether the key of a
/// mapping entry was the merge key `<<`.
struct Built {
    node: Node,
    size: usize,
    is_merge_key: bool,
}

impl<'a> Composer<'a> {
    pub(crate) fn new(source: &'a Arc<Source>) -> Composer<'a> {
        Composer {
            parser: Parser::new_from_str(source.text()),
            source: source.clone(),
            anchors: HashMap::new(),
            warnings: Vec::new(),
            nodes: 0,
        }
    }

    /// Reads every document of the stream.
    pub(crate) fn documents(&mut self) -> Result<Vec<Node>, Diagnostic> {
        let mut docs = Vec::new();
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(_) => {
                    self.anchors.clear();
                    let (event, span) = self.next()?;
                    let built = self.node(event, span, 0)?;
                    docs.push(built.node);
                }
                other => {
                    return Err(self
                        .error(&span, format!("unexpected YAML event {other:?}"))
                        .with_help("this looks like a bug in drover's YAML reader; please report it with the file"));
                }
            }
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, YSpan), Diagnostic> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Err(Diagnostic::error("unexpected end of YAML stream")
                .with_span(Span::point(self.source.clone(), self.source.text().len()))),
        }
    }

    fn offset(&self, marker: &saphyr_parser::Marker) -> usize {
        self.source.offset_of(marker.line(), marker.col() + 1)
    }

    fn span(&self, span: &YSpan) -> Span {
        Span::new(
            self.source.clone(),
            self.offset(&span.start),
            self.offset(&span.end),
        )
    }

    fn error(&self, span: &YSpan, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(message).with_span(self.span(span))
    }

    fn scan_error(&self, e: &ScanError) -> Diagnostic {
        let offset = self.offset(e.marker());
        let span = Span::point(self.source.clone(), offset);
        let (line, _) = span.line_col();
        let text = self.source.line(line).to_string();
        let mut d = Diagnostic::error(format!("YAML syntax error: {}", e.info())).with_span(span);
        let help = if text.contains('\t') {
            "YAML does not allow tabs for indentation; indent with spaces".to_string()
        } else if unquoted_template_value(&text) {
            "a value that starts with `{{` must be quoted, e.g. `key: \"{{ var }}\"`".to_string()
        } else {
            "check the indentation and quoting on this line and the one before it".to_string()
        };
        d = d.with_help(help);
        d
    }

    fn count(&mut self, n: usize, span: &YSpan) -> Result<(), Diagnostic> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(self
                .error(
                    span,
                    "YAML document expands to too many nodes through aliases",
                )
                .with_help(
                    "this limit guards against alias bombs; reduce the use of `*alias` references",
                ));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: YSpan, depth: usize) -> Result<Built, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(self
                .error(
                    &span,
                    format!("YAML nesting is deeper than {MAX_DEPTH} levels"),
                )
                .with_help("flatten the structure"));
        }
        match event {
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    let (node, size) = (node.clone(), *size);
                    self.count(size, &span)?;
                    Ok(Built {
                        node,
                        size,
                        is_merge_key: false,
                    })
                }
                None => Err(self
                    .error(
                        &span,
                        "alias refers to an anchor that is not defined before it",
                    )
                    .with_help("define `&name` before using `*name`")),
            },
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, &span)?;
                let is_merge_key = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                let node_span = self.span(&span);
                let (value, local_tag) = match tag.as_deref() {
                    None if style == ScalarStyle::Plain => (
                        resolve_plain(&text).map_err(|m| self.error(&span, m))?,
                        None,
                    ),
                    None => (NodeValue::Str(text.to_string()), None),
                    Some(tag) => self.tagged_scalar(tag, &text, &span)?,
                };
                let node = Node {
                    span: node_span,
                    value,
                    tag: local_tag,
                };
                self.remember(anchor, &node, 1);
                Ok(Built {
                    node,
                    size: 1,
                    is_merge_key,
                })
            }
            Event::SequenceStart(anchor, tag) => {
                let local_tag = self.collection_tag(tag.as_deref(), "seq", &span)?;
                let mut items = Vec::new();
                let mut size = 1;
                let end = loop {
                    let (event, item_span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break item_span;
                    }
                    let built = self.node(event, item_span, depth + 1)?;
                    size += built.size;
                    items.push(built.node);
                };
                self.count(1, &span)?;
                let node = Node {
                    span: self.span(&YSpan::new(span.start, end.start)),
                    value: NodeValue::Seq(items),
                    tag: local_tag,
                };
                self.remember(anchor, &node, size);
                Ok(Built {
                    node,
                    size,
                    is_merge_key: false,
                })
            }
            Event::MappingStart(anchor, tag) => {
                let local_tag = self.collection_tag(tag.as_deref(), "map", &span)?;
                let (mapping, size, end) = self.mapping(depth)?;
                self.count(1, &span)?;
                let node = Node {
                    span: self.span(&YSpan::new(span.start, end.start)),
                    value: NodeValue::Map(mapping),
                    tag: local_tag,
                };
                self.remember(anchor, &node, size);
                Ok(Built {
                    node,
                    size,
                    is_merge_key: false,
                })
            }
            other => Err(self.error(&span, format!("unexpected YAML event {other:?}"))),
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
    }

    fn tagged_scalar(
        &self,
        tag: &Tag,
        text: &str,
        span: &YSpan,
    ) -> Result<(NodeValue, Option<String>), Diagnostic> {
        if let Some(core) = core_tag(tag) {
            let value = resolve_tagged(core, text).map_err(|m| self.error(span, m))?;
            return Ok((value, None));
        }
        match local_tag_name(tag).as_str() {
            "!unsafe" => Ok((NodeValue::Str(text.to_string()), Some("!unsafe".into()))),
            other => Err(self.unknown_tag(other, span)),
        }
    }

    fn collection_tag(
        &self,
        tag: Option<&Tag>,
        kind: &str,
        span: &YSpan,
    ) -> Result<Option<String>, Diagnostic> {
        let Some(tag) = tag else { return Ok(None) };
        if let Some(core) = core_tag(tag) {
            return if core == kind {
                Ok(None)
            } else {
                Err(self.error(span, format!("the tag `!!{core}` cannot be used here (drover supports `!!{kind}` on this node)")))
            };
        }
        match local_tag_name(tag).as_str() {
            "!unsafe" => Ok(Some("!unsafe".into())),
            other => Err(self.unknown_tag(other, span)),
        }
    }

    fn unknown_tag(&self, tag: &str, span: &YSpan) -> Diagnostic {
        if tag == "!vault" {
            return self
                .error(
                    span,
                    "`!vault` encrypted values are not supported by drover yet",
                )
                .with_help(
                    "decrypt the value (ansible-vault decrypt_string) or pass it with `-e @file`",
                );
        }
        self.error(span, format!("unknown YAML tag `{tag}`"))
            .with_help("Ansible's loader knows only the core `!!` tags, `!unsafe` and `!vault`")
    }

    /// Reads mapping entries up to MappingEnd and constructs the mapping like PyYAML's
    /// `flatten_mapping` + `construct_mapping`.
    fn mapping(&mut self, depth: usize) -> Result<(Mapping, usize, YSpan), Diagnostic> {
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut own: Vec<(Node, Node)> = Vec::new();
        let mut size = 1;
        let end = loop {
            let (event, key_span) = self.next()?;
            if let Event::MappingEnd = event {
                break key_span;
            }
            let key = self.node(event, key_span, depth + 1)?;
            let (event, value_span) = self.next()?;
            let value = self.node(event, value_span, depth + 1)?;
            size += key.size + value.size;
            if key.is_merge_key {
                merged.extend(self.merge_entries(&value.node)?);
            } else {
                if matches!(key.node.value, NodeValue::Seq(_) | NodeValue::Map(_)) {
                    return Err(unhashable_key(&key.node));
                }
                own.push((key.node, value.node));
            }
        };
        let mut mapping = Mapping::default();
        let mut index: HashMap<String, (usize, bool)> = HashMap::new();
        let merged_count = merged.len();
        for (i, (key, value)) in merged.into_iter().chain(own).enumerate() {
            let explicit = i >= merged_count;
            let norm = normalized_key(&key);
            match index.get(&norm).copied() {
                Some((pos, was_explicit)) => {
                    if explicit && was_explicit {
                        self.warnings
                            .push(duplicate_key_warning(&mapping.entries[pos].0, &key));
                    }
                    mapping.entries[pos].1 = value;
                    index.insert(norm, (pos, was_explicit || explicit));
                }
                None => {
                    index.insert(norm, (mapping.entries.len(), explicit));
                    mapping.entries.push((key, value));
                }
            }
        }
        Ok((mapping, size, end))
    }

    /// The entries a `<<` value contributes, in PyYAML's order (a list merges its mappings
    /// so that earlier ones win).
    fn merge_entries(&self, value: &Node) -> Result<Vec<(Node, Node)>, Diagnostic> {
        match &value.value {
            NodeValue::Map(m) => Ok(m.entries.clone()),
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items.iter().rev() {
                    match &item.value {
                        NodeValue::Map(m) => out.extend(m.entries.iter().cloned()),
                        _ => {
                            return Err(Diagnostic::error(format!(
                                "expected a mapping for merging, but found {}",
                                item.kind_name()
                            ))
                            .with_span(item.span.clone())
                            .with_help(
                                "`<<:` takes a mapping or a list of mappings (usually `*anchor`)",
                            ));
                        }
                    }
                }
                Ok(out)
            }
            _ => Err(Diagnostic::error(format!(
                "expected a mapping or list of mappings for merging, but found {}",
                value.kind_name()
            ))
            .with_span(value.span.clone())
            .with_help("`<<:` takes a mapping or a list of mappings (usually `*anchor`)")),
        }
    }
}

fn core_tag(tag: &Tag) -> Option<&str> {
    if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
        Some(tag.suffix.as_str())
    } else {
        None
    }
}

fn local_tag_name(tag: &Tag) -> String {
    if tag.handle == "!" {
        format!("!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// Python dict key identity: `1`, `1.0` and `True` are the same key.
fn normalized_key(key: &Node) -> String {
    match &key.value {
        NodeValue::Null => "null".into(),
        NodeValue::Bool(b) => format!("n:{}", i64::from(*b)),
        NodeValue::Int(i) => format!("n:{i}"),
        NodeValue::Float(f) if f.fract() == 0.0 && f.is_finite() => format!("n:{}", *f as i64),
        NodeValue::Float(f) => format!("f:{f}"),
        NodeValue::Str(s) => format!("s:{s}"),
        NodeValue::Seq(_) | NodeValue::Map(_) => format!("x:{}", key.to_json()),
    }
}

fn unhashable_key(key: &Node) -> Diagnostic {
    let mut d = Diagnostic::error(format!(
        "found unhashable key: a mapping key cannot be {}",
        key.kind_name()
    ))
    .with_span(key.span.clone());
    let line = key.span.source.line(key.span.line_col().0);
    if line.contains("{{") {
        d = d.with_help("a value that starts with `{{` must be quoted, e.g. `key: \"{{ var }}\"`");
    } else {
        d = d.with_help("use a string as the key");
    }
    d
}

fn duplicate_key_warning(first: &Node, again: &Node) -> Diagnostic {
    Diagnostic::warning(format!(
        "duplicate mapping key `{}` (first defined at {}); using the last value only",
        again.key_string(),
        first.span.location()
    ))
    .with_span(again.span.clone())
    .with_help("remove one of the two keys")
}

/// True when the line looks like `key: {{ ... }}` (an unquoted template value).
fn unquoted_template_value(line: &str) -> bool {
    let trimmed = line.trim_start().trim_start_matches("- ");
    match trimmed.split_once(':') {
        Some((_, rest)) => rest.trim_start().starts_with("{{"),
        None => trimmed.starts_with("{{"),
    }
}
