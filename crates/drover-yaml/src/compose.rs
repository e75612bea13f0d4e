//! Builds [`Node`]s from saphyr-parser events, with PyYAML's construction rules: merge keys
//! (`<<`), anchors and aliases, duplicate keys (last wins, with a warning), unhashable keys.
//!
//! Merge keys follow PyYAML 6.0.4 (the version a fresh `pip install ansible-core` brings), whose
//! `flatten_mapping` differs from 6.0.3 and earlier:
//! - a mapping's flattened pair list is the merged pairs, then its own pairs; the dict is built
//!   from that list in order, so a later pair overrides an earlier one in the position of the
//!   first (own keys always win over merged ones);
//! - the merged pairs are the `<<` sources in source order (a list: its mappings in order, each
//!   one's whole flattened list, duplicates included), skipping a pair whose key is the *same
//!   Python string object* as one already merged into this mapping;
//! - "the same object" is the same key node (an anchored mapping merged twice), or a string
//!   CPython caches: the empty string and one-character strings below U+0100. So in
//!   `<<: [*a, *b]` the first mapping wins for `x` but the last one wins for `xx`, with Ansible's
//!   duplicate-key warning. Upstream calls this a regression (yaml/pyyaml#953); drover follows
//!   what Ansible does with it until the pinned reference moves (scripts/ansible-reference.txt).

use std::collections::{HashMap, HashSet};
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
    anchors: HashMap<usize, Built>,
    pub(crate) warnings: Vec<Diagnostic>,
    nodes: usize,
    /// Counter for [`KeyIdentity::Node`].
    next_identity: u64,
}

/// One parsed node plus how many nodes it holds (for the alias budget), whether the key of a
/// mapping entry was the merge key `<<`, and what PyYAML's merge would see of it.
#[derive(Clone)]
struct Built {
    node: Node,
    size: usize,
    is_merge_key: bool,
    /// The node's identity as a mapping key (an alias shares its anchor's).
    identity: KeyIdentity,
    /// The node's flattened pairs, kept where a `<<` may use them (anchored nodes, `<<` values).
    flat: Flat,
}

/// Which Python object a mapping key's value string is: PyYAML 6.0.4 skips a merged pair whose
/// key is the same object (`id()`) as one merged before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum KeyIdentity {
    /// A string CPython caches as a singleton: `""` (None) or one character below U+0100.
    Cached(Option<char>),
    /// One key node (and every alias of it).
    Node(u64),
}

/// A mapping node's pair list after PyYAML's `flatten_mapping` (merged pairs, then its own).
#[derive(Clone, Default)]
enum Flat {
    /// Not kept (nothing can merge this node), or not a collection.
    #[default]
    None,
    /// A mapping's flattened pairs.
    Map(Arc<[FlatPair]>),
    /// A sequence's items, for `<<: [*a, *b]`.
    Seq(Arc<[Flat]>),
}

/// One entry of a flattened pair list.
#[derive(Clone)]
struct FlatPair {
    identity: KeyIdentity,
    key: Node,
    value: Node,
    /// The `<<` key of the mapping this pair was merged into (None: the mapping's own pair).
    merged_at: Option<Span>,
}

impl<'a> Composer<'a> {
    /// A composer over `text`: the source's text, or that text after [`crate::tabs::prepare`]
    /// (same length, so spans computed from the parser's markers point into the source).
    pub(crate) fn new(source: &Arc<Source>, text: &'a str) -> Composer<'a> {
        Composer {
            parser: Parser::new_from_str(text),
            source: source.clone(),
            anchors: HashMap::new(),
            warnings: Vec::new(),
            nodes: 0,
            next_identity: 0,
        }
    }

    fn new_identity(&mut self) -> KeyIdentity {
        self.next_identity += 1;
        KeyIdentity::Node(self.next_identity)
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
                    let built = self.node(event, span, 0, false)?;
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

    /// Builds one node; `keep_flat` keeps what a `<<` would merge of it (see [`Flat`]).
    fn node(
        &mut self,
        event: Event<'a>,
        span: YSpan,
        depth: usize,
        keep_flat: bool,
    ) -> Result<Built, Diagnostic> {
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
                Some(anchored) => {
                    let built = anchored.clone();
                    self.count(built.size, &span)?;
                    Ok(built)
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
                let mut chars = text.chars();
                let identity = match (chars.next(), chars.next()) {
                    (None, _) => KeyIdentity::Cached(None),
                    (Some(c), None) if u32::from(c) < 0x100 => KeyIdentity::Cached(Some(c)),
                    _ => self.new_identity(),
                };
                let built = Built {
                    node,
                    size: 1,
                    is_merge_key,
                    identity,
                    flat: Flat::None,
                };
                self.remember(anchor, &built);
                Ok(built)
            }
            Event::SequenceStart(anchor, tag) => {
                let local_tag = self.collection_tag(tag.as_deref(), "seq", &span)?;
                let keep_flat = keep_flat || anchor != 0;
                let mut items = Vec::new();
                let mut flats = Vec::new();
                let mut size = 1;
                let end = loop {
                    let (event, item_span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break item_span;
                    }
                    let built = self.node(event, item_span, depth + 1, keep_flat)?;
                    size += built.size;
                    items.push(built.node);
                    if keep_flat {
                        flats.push(built.flat);
                    }
                };
                self.count(1, &span)?;
                let node = Node {
                    span: self.span(&YSpan::new(span.start, end.start)),
                    value: NodeValue::Seq(items),
                    tag: local_tag,
                };
                let built = Built {
                    node,
                    size,
                    is_merge_key: false,
                    identity: self.new_identity(),
                    flat: if keep_flat {
                        Flat::Seq(flats.into())
                    } else {
                        Flat::None
                    },
                };
                self.remember(anchor, &built);
                Ok(built)
            }
            Event::MappingStart(anchor, tag) => {
                let local_tag = self.collection_tag(tag.as_deref(), "map", &span)?;
                let keep_flat = keep_flat || anchor != 0;
                let (mapping, size, end, flat) = self.mapping(depth, keep_flat)?;
                self.count(1, &span)?;
                let node = Node {
                    span: self.span(&YSpan::new(span.start, end.start)),
                    value: NodeValue::Map(mapping),
                    tag: local_tag,
                };
                let built = Built {
                    node,
                    size,
                    is_merge_key: false,
                    identity: self.new_identity(),
                    flat,
                };
                self.remember(anchor, &built);
                Ok(built)
            }
            other => Err(self.error(&span, format!("unexpected YAML event {other:?}"))),
        }
    }

    fn remember(&mut self, anchor: usize, built: &Built) {
        if anchor != 0 {
            self.anchors.insert(anchor, built.clone());
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

    /// Reads mapping entries up to MappingEnd and constructs the mapping like PyYAML 6.0.4's
    /// `flatten_mapping` + Ansible's `construct_mapping` (see the module docs). Returns the
    /// flattened pairs too when `keep_flat` (a `<<` may merge this mapping).
    fn mapping(
        &mut self,
        depth: usize,
        keep_flat: bool,
    ) -> Result<(Mapping, usize, YSpan, Flat), Diagnostic> {
        let mut merged: Vec<FlatPair> = Vec::new();
        let mut merged_ids: HashSet<KeyIdentity> = HashSet::new();
        let mut own: Vec<FlatPair> = Vec::new();
        let mut size = 1;
        let end = loop {
            let (event, key_span) = self.next()?;
            if let Event::MappingEnd = event {
                break key_span;
            }
            let key = self.node(event, key_span, depth + 1, false)?;
            let (event, value_span) = self.next()?;
            let value = self.node(event, value_span, depth + 1, key.is_merge_key)?;
            size += key.size + value.size;
            if key.is_merge_key {
                for pair in merge_sources(&value)? {
                    if merged_ids.insert(pair.identity) {
                        merged.push(FlatPair {
                            merged_at: Some(key.node.span.clone()),
                            ..pair.clone()
                        });
                    }
                }
            } else {
                if matches!(key.node.value, NodeValue::Seq(_) | NodeValue::Map(_)) {
                    return Err(unhashable_key(&key.node));
                }
                own.push(FlatPair {
                    identity: key.identity,
                    key: key.node,
                    value: value.node,
                    merged_at: None,
                });
            }
        };
        merged.extend(own);
        let flat = merged;
        let mut mapping = Mapping::default();
        // where each key is in `mapping`, and the pair that put it there first
        let mut index: HashMap<String, (usize, usize)> = HashMap::new();
        for (i, pair) in flat.iter().enumerate() {
            let norm = normalized_key(&pair.key);
            match index.get(&norm).copied() {
                Some((pos, first)) => {
                    self.warnings
                        .push(duplicate_key_warning(&flat[first], pair));
                    mapping.entries[pos].1 = pair.value.clone();
                }
                None => {
                    index.insert(norm, (mapping.entries.len(), i));
                    mapping.entries.push((pair.key.clone(), pair.value.clone()));
                }
            }
        }
        let flat = if keep_flat {
            Flat::Map(flat.into())
        } else {
            Flat::None
        };
        Ok((mapping, size, end, flat))
    }
}

/// The pairs a `<<` value contributes, in order: a mapping's flattened pairs, or those of each
/// mapping of a list in turn (the caller skips keys already merged).
fn merge_sources(value: &Built) -> Result<Vec<&FlatPair>, Diagnostic> {
    let shape_error = |node: &Node, message: String| {
        Diagnostic::error(message)
            .with_span(node.span.clone())
            .with_help("`<<:` takes a mapping or a list of mappings (usually `*anchor`)")
    };
    match (&value.node.value, &value.flat) {
        (NodeValue::Map(_), Flat::Map(pairs)) => Ok(pairs.iter().collect()),
        (NodeValue::Seq(items), Flat::Seq(flats)) => {
            let mut out = Vec::new();
            for (item, flat) in items.iter().zip(flats.iter()) {
                match (&item.value, flat) {
                    (NodeValue::Map(_), Flat::Map(pairs)) => out.extend(pairs.iter()),
                    _ => {
                        return Err(shape_error(
                            item,
                            format!(
                                "expected a mapping for merging, but found {}",
                                item.kind_name()
                            ),
                        ));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(shape_error(
            &value.node,
            format!(
                "expected a mapping or list of mappings for merging, but found {}",
                value.node.kind_name()
            ),
        )),
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

/// Ansible warns for every key that comes again in a mapping's flattened pair list: a repeated
/// key, an own key overriding a merged one, or a key two merged mappings share.
fn duplicate_key_warning(first: &FlatPair, again: &FlatPair) -> Diagnostic {
    let key = again.key.key_string();
    let first_at = first.key.span.location();
    match &again.merged_at {
        None => Diagnostic::warning(format!(
            "duplicate mapping key `{key}` (first defined at {first_at}); using the last value only"
        ))
        .with_span(again.key.span.clone())
        .with_help(if first.merged_at.is_some() {
            "Ansible warns when a key overrides one merged by `<<`; leave the key out of the merged mapping to silence it"
        } else {
            "remove one of the two keys"
        }),
        Some(merge_key) => Diagnostic::warning(format!(
            "duplicate mapping key `{key}` merged by `<<` (first defined at {first_at}, again at {}); using the last value only",
            again.key.span.location()
        ))
        .with_span(merge_key.clone())
        .with_help(
            "with PyYAML 6.0.4 (Ansible's loader) a later merged mapping wins for keys longer than one character; keep the key in one merged mapping only",
        ),
    }
}

/// True when the line looks like `key: {{ ... }}` (an unquoted template value).
fn unquoted_template_value(line: &str) -> bool {
    let trimmed = line.trim_start().trim_start_matches("- ");
    match trimmed.split_once(':') {
        Some((_, rest)) => rest.trim_start().starts_with("{{"),
        None => trimmed.starts_with("{{"),
    }
}
