//! Parsing YAML text into a [`Node`] tree with line and column positions.
//!
//! The event parser of `yaml-rust2` is driven in a loop rather than through
//! its recursive `load`, and the tree is built on an explicit stack. Deep
//! nesting in a hostile file therefore ends in an error, not a stack overflow.
//! Aliases are expanded into copies of their anchor, YAML 1.1 merge keys
//! (`<<: *defaults`) are applied, and duplicate keys are reported.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use super::node::{Entry, Node, Origin, Value};
use super::report::Problems;

/// Maximum nesting of mappings and lists. Real configurations use about six.
const MAX_DEPTH: usize = 64;

/// Maximum number of nodes after alias expansion, which stops the
/// "billion laughs" pattern of aliases that multiply each other.
const MAX_NODES: usize = 100_000;

/// Parses `text`, which must hold at most one YAML document.
///
/// Returns the root node, or none when the text has no document or a fatal
/// problem stopped the parse. Every problem found is added to `problems`.
pub(crate) fn parse(text: &str, problems: &mut Problems) -> Option<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = TreeBuilder::new(problems);

    while !builder.stopped {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => builder.on_event(event, mark),
            Err(error) => builder.scan_error(&error),
        }
    }
    if builder.stopped {
        return None;
    }
    builder.root
}

/// A finished node with the sizes that the limits need.
#[derive(Clone)]
struct Built {
    node: Node,
    /// Nodes in this subtree, itself included.
    size: usize,
    /// Levels in this subtree, 1 for a scalar.
    height: usize,
}

/// A collection that is still open.
struct Frame {
    origin: Origin,
    anchor: usize,
    size: usize,
    height: usize,
    kind: FrameKind,
}

enum FrameKind {
    Sequence(Vec<Node>),
    Mapping {
        entries: Vec<Entry>,
        /// The key whose value comes next, if a key was read.
        key: Option<PendingKey>,
        /// Values of `<<` keys, applied when the mapping ends.
        merges: Vec<Node>,
    },
}

struct PendingKey {
    /// None when the key was not a string; its value is then dropped.
    text: Option<String>,
    origin: Origin,
    /// A plain `<<`, which merges mappings instead of being a key.
    is_merge: bool,
}

struct TreeBuilder<'p> {
    problems: &'p mut Problems,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Built>,
    documents: usize,
    nodes: usize,
    root: Option<Node>,
    /// Set after a problem that makes the rest of the stream meaningless.
    stopped: bool,
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let origin = origin_of(mark);
        match event {
            Event::DocumentStart => self.start_document(&origin),
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = style != TScalarStyle::Plain;
                if self.count_nodes(1, &origin) {
                    let node = Node::scalar(text, quoted, origin);
                    self.complete(
                        Built {
                            node,
                            size: 1,
                            height: 1,
                        },
                        anchor,
                    );
                }
            }
            Event::Alias(anchor) => self.alias(anchor, origin),
            Event::SequenceStart(anchor, _tag) => {
                self.open(origin, anchor, FrameKind::Sequence(Vec::new()));
            }
            Event::MappingStart(anchor, _tag) => {
                let kind = FrameKind::Mapping {
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                };
                self.open(origin, anchor, kind);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

impl<'p> TreeBuilder<'p> {
    fn new(problems: &'p mut Problems) -> Self {
        TreeBuilder {
            problems,
            stack: Vec::new(),
            anchors: HashMap::new(),
            documents: 0,
            nodes: 0,
            root: None,
            stopped: false,
        }
    }

    fn scan_error(&mut self, error: &ScanError) {
        let at = origin_of(*error.marker());
        self.problems
            .error(&at, "", format!("invalid YAML: {}", error.info()));
        self.stopped = true;
    }

    fn fail(&mut self, at: &Origin, message: &str, hint: &str) {
        self.problems
            .error(at, &self.path(), message)
            .set_hint(hint);
        self.stopped = true;
    }

    fn start_document(&mut self, at: &Origin) {
        self.documents += 1;
        if self.documents > 1 {
            self.fail(
                at,
                "the file contains more than one YAML document",
                "keep a single document: remove the second `---` and what follows it",
            );
        }
    }

    fn open(&mut self, origin: Origin, anchor: usize, kind: FrameKind) {
        if !self.count_nodes(1, &origin) {
            return;
        }
        if self.stack.len() >= MAX_DEPTH {
            let message = format!("values are nested more than {MAX_DEPTH} levels deep");
            self.fail(&origin, &message, "flatten the structure");
            return;
        }
        self.stack.push(Frame {
            origin,
            anchor,
            size: 1,
            height: 1,
            kind,
        });
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let value = match frame.kind {
            FrameKind::Sequence(items) => Value::Sequence(items),
            FrameKind::Mapping {
                entries, merges, ..
            } => Value::Mapping(self.merge(entries, merges)),
        };
        let node = Node {
            origin: frame.origin,
            value,
        };
        let built = Built {
            node,
            size: frame.size,
            height: frame.height,
        };
        self.complete(built, frame.anchor);
    }

    fn alias(&mut self, anchor: usize, at: Origin) {
        let Some(target) = self.anchors.get(&anchor) else {
            self.fail(
                &at,
                "alias refers to a value that contains it",
                "remove the alias",
            );
            return;
        };
        let copy = target.clone();
        if self.stack.len() + copy.height > MAX_DEPTH {
            let message = format!("values are nested more than {MAX_DEPTH} levels deep");
            self.fail(&at, &message, "flatten the structure");
            return;
        }
        if self.count_nodes(copy.size, &at) {
            self.complete(copy, 0);
        }
    }

    /// Adds `count` nodes to the total, and stops the parse when the total
    /// exceeds [`MAX_NODES`]. Returns whether the parse can go on.
    fn count_nodes(&mut self, count: usize, at: &Origin) -> bool {
        self.nodes = self.nodes.saturating_add(count);
        if self.nodes > MAX_NODES {
            let message = format!("the file has more than {MAX_NODES} values after aliases");
            self.fail(at, &message, "use fewer aliases");
        }
        !self.stopped
    }

    /// Attaches a finished node to its parent, or makes it the root.
    fn complete(&mut self, built: Built, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, built.clone());
        }

        let path = self.path();
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(built.node);
            return;
        };
        parent.size += built.size;
        parent.height = parent.height.max(built.height + 1);
        match &mut parent.kind {
            FrameKind::Sequence(items) => items.push(built.node),
            FrameKind::Mapping {
                entries,
                key,
                merges,
            } => match key.take() {
                None => {
                    let pending = read_key(built.node, self.problems, &path);
                    // The parser marks a block mapping after its first key, so
                    // the mapping starts where its first key does.
                    if position(&pending.origin) < position(&parent.origin) {
                        parent.origin = pending.origin.clone();
                    }
                    *key = Some(pending);
                }
                Some(pending) => {
                    insert_value(entries, merges, pending, built.node, self.problems, &path);
                }
            },
        }
    }

    /// Applies `<<` merges: keys written in the mapping win, then earlier merges.
    fn merge(&mut self, mut entries: Vec<Entry>, merges: Vec<Node>) -> Vec<Entry> {
        for source in merges {
            let sources = match source.value {
                Value::Sequence(items) => items,
                _ => vec![source],
            };
            for source in sources {
                let Value::Mapping(merged) = source.value else {
                    let message = format!("`<<` must merge a mapping, found {}", source.kind());
                    self.problems.error(&source.origin, &self.path(), message);
                    continue;
                };
                for entry in merged {
                    if !entries.iter().any(|existing| existing.key == entry.key) {
                        entries.push(entry);
                    }
                }
            }
        }
        entries
    }

    /// Builds the dotted path of the value that is being read.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match &frame.kind {
                FrameKind::Sequence(items) => path.push_str(&format!("[{}]", items.len())),
                FrameKind::Mapping {
                    key:
                        Some(PendingKey {
                            text: Some(key), ..
                        }),
                    ..
                } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                FrameKind::Mapping { .. } => {}
            }
        }
        path
    }
}

fn read_key(node: Node, problems: &mut Problems, path: &str) -> PendingKey {
    let origin = node.origin.clone();
    let kind = node.kind();
    match node.value {
        Value::Scalar(scalar) => PendingKey {
            is_merge: !scalar.quoted && scalar.text == "<<",
            text: Some(scalar.text),
            origin,
        },
        _ => {
            let message = format!("a key must be a string, found {kind}");
            problems.error(&origin, path, message);
            PendingKey {
                text: None,
                origin,
                is_merge: false,
            }
        }
    }
}

fn insert_value(
    entries: &mut Vec<Entry>,
    merges: &mut Vec<Node>,
    key: PendingKey,
    value: Node,
    problems: &mut Problems,
    path: &str,
) {
    let Some(text) = key.text else {
        return;
    };
    if key.is_merge {
        merges.push(value);
        return;
    }
    if let Some(first) = entries.iter().find(|entry| entry.key == text) {
        let message = format!("duplicate key `{text}`");
        let hint = match &first.key_origin {
            Origin::File { line, .. } => format!("it is already set on line {line}"),
            Origin::Env(name) => format!("it is already set by ${name}"),
        };
        problems.error(&key.origin, path, message).set_hint(hint);
        return;
    }
    entries.push(Entry {
        key: text,
        key_origin: key.origin,
        value,
    });
}

fn position(origin: &Origin) -> (usize, usize) {
    match origin {
        Origin::File { line, column } => (*line, *column),
        Origin::Env(_) => (usize::MAX, usize::MAX),
    }
}

/// Converts a parser mark, whose column counts from 0, to a 1-based origin.
fn origin_of(mark: Marker) -> Origin {
    Origin::File {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::report::Problem;

    fn parse_text(text: &str) -> (Option<Node>, Vec<Problem>) {
        let mut problems = Problems::new("test.yaml");
        let node = parse(text, &mut problems);
        (node, problems.into_vec())
    }

    fn lookup<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
        let entries = node.entries()?;
        entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| &entry.value)
    }

    fn text_of(node: Option<&Node>) -> Option<&str> {
        match &node?.value {
            Value::Scalar(scalar) => Some(&scalar.text),
            _ => None,
        }
    }

    #[test]
    fn scalars_carry_line_and_column() {
        let (root, problems) = parse_text("global:\n  log_level: debug\n");
        let root = root.unwrap_or_else(|| panic!("no root: {problems:?}"));
        let level = lookup(&root, "global").and_then(|g| lookup(g, "log_level"));

        assert_eq!(text_of(level), Some("debug"));
        assert_eq!(
            level.map(|n| n.origin.clone()),
            Some(Origin::File {
                line: 2,
                column: 14
            })
        );
    }

    #[test]
    fn quoted_scalars_are_marked() {
        let (root, _) = parse_text("a: 'null'\nb: null\nc: |\n  x\n");
        let root = root.unwrap_or_else(|| panic!("no root"));

        assert_eq!(lookup(&root, "a").map(Node::is_null), Some(false));
        assert_eq!(lookup(&root, "b").map(Node::is_null), Some(true));
        assert_eq!(text_of(lookup(&root, "c")), Some("x\n"));
    }

    #[test]
    fn keys_keep_file_order() {
        let (root, _) = parse_text("zeta: 1\nalpha: 2\nmid: 3\n");
        let keys: Vec<&str> = root
            .as_ref()
            .and_then(Node::entries)
            .unwrap_or_default()
            .iter()
            .map(|entry| entry.key.as_str())
            .collect();

        assert_eq!(keys, ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn duplicate_keys_are_all_reported() {
        let text = "processes:\n  a:\n    command: x\n    command: y\n  a: {}\n";
        let (_, problems) = parse_text(text);

        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].path, "processes.a.command");
        assert_eq!((problems[0].line, problems[0].column), (Some(4), Some(5)));
        assert_eq!(
            problems[0].hint.as_deref(),
            Some("it is already set on line 3")
        );
        assert_eq!(problems[1].path, "processes.a");
        assert_eq!(problems[1].line, Some(5));
    }

    #[test]
    fn alias_copies_anchored_value() {
        let text = "base: &cmd [php, artisan]\nother: *cmd\n";
        let (root, problems) = parse_text(text);
        let root = root.unwrap_or_else(|| panic!("no root: {problems:?}"));

        assert_eq!(
            lookup(&root, "base").map(|n| &n.value),
            lookup(&root, "other").map(|n| &n.value)
        );
    }

    #[test]
    fn merge_key_fills_missing_keys_only() {
        let text = "defaults: &d {user: www-data, scale: 1}\nweb:\n  <<: *d\n  scale: 4\n";
        let (root, problems) = parse_text(text);
        let root = root.unwrap_or_else(|| panic!("no root: {problems:?}"));
        let web = lookup(&root, "web");

        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(text_of(web.and_then(|w| lookup(w, "scale"))), Some("4"));
        assert_eq!(
            text_of(web.and_then(|w| lookup(w, "user"))),
            Some("www-data")
        );
        assert!(web.and_then(|w| lookup(w, "<<")).is_none());
    }

    #[test]
    fn second_document_is_an_error() {
        let (root, problems) = parse_text("a: 1\n---\nb: 2\n");

        assert!(root.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(2));
        assert!(problems[0].message.contains("more than one YAML document"));
    }

    #[test]
    fn tab_indentation_reports_position() {
        let (root, problems) = parse_text("a:\n\tb: 1\n");

        assert!(root.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(2));
        assert!(
            problems[0].message.starts_with("invalid YAML: "),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn mapping_key_that_is_a_list_is_an_error() {
        let (_, problems) = parse_text("? [a, b]\n: 1\n");

        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("key must be a string"));
    }

    #[test]
    fn empty_text_has_no_root() {
        for text in ["", "# only a comment\n", "\n\n"] {
            let (root, problems) = parse_text(text);

            assert!(root.is_none(), "{text:?}");
            assert!(problems.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let (root, problems) = parse_text(&text);

        assert!(root.is_none());
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn large_flat_list_is_accepted() {
        let text = format!("items:\n{}", "- x\n".repeat(90_000));
        let (root, problems) = parse_text(&text);

        assert!(problems.is_empty(), "{:?}", problems.first());
        assert!(root.is_some());
    }

    #[test]
    fn alias_bomb_is_rejected() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let previous = format!("*a{}", level - 1);
            let items = vec![previous; 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let (root, problems) = parse_text(&text);

        assert!(root.is_none());
        assert!(
            problems[0].message.contains("after aliases"),
            "{:?}",
            problems
        );
    }
}
