//! Writing a node tree back out as YAML text.
//!
//! The output uses block style with two-space indents and keeps key order.
//! Comments, anchors and the original quoting style are not kept. A scalar
//! is written plain when that reads back as the same text, and in double
//! quotes otherwise. A scalar that was quoted in the file stays quoted, so
//! that `'null'` stays a string. Parsing the output gives the same keys,
//! texts and nulls, so it decodes to the same configuration.

use std::fmt::Write as _;

use super::node::{Entry, Node, Value};

/// Maximum length of a key, in bytes, written without the explicit `? ` indicator.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Writes `root` as a YAML document.
pub(crate) fn emit(root: &Node) -> String {
    let mut out = String::new();
    match &root.value {
        Value::Mapping(entries) if !entries.is_empty() => {
            write_entries(&mut out, entries, 0, false)
        }
        Value::Sequence(items) if !items.is_empty() => write_items(&mut out, items, 0),
        _ => {
            write_inline(&mut out, root);
            out.push('\n');
        }
    }
    out
}

/// Writes the entries of a mapping, one per line at `indent`. With
/// `continues_line`, the first entry goes on the current line after `- `.
fn write_entries(out: &mut String, entries: &[Entry], indent: usize, continues_line: bool) {
    for (index, entry) in entries.iter().enumerate() {
        if index > 0 || !continues_line {
            push_indent(out, indent);
        }
        let mut key = String::new();
        write_scalar(&mut key, &entry.key, !is_plain_safe(&entry.key));
        // YAML limits a key without `?` to 1024 characters on one line.
        if key.len() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            push_indent(out, indent);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        write_value(out, &entry.value, indent);
    }
}

fn write_items(out: &mut String, items: &[Node], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match &item.value {
            Value::Mapping(entries) if !entries.is_empty() => {
                out.push(' ');
                write_entries(out, entries, indent + 2, true);
            }
            _ => write_value(out, item, indent),
        }
    }
}

/// Writes the value after `key:` or `-`, on the same line when it is a
/// scalar or empty, and below it otherwise.
fn write_value(out: &mut String, node: &Node, indent: usize) {
    match &node.value {
        Value::Mapping(entries) if !entries.is_empty() => {
            out.push('\n');
            write_entries(out, entries, indent + 2, false);
        }
        Value::Sequence(items) if !items.is_empty() => {
            out.push('\n');
            write_items(out, items, indent + 2);
        }
        _ => {
            out.push(' ');
            write_inline(out, node);
            out.push('\n');
        }
    }
}

/// Writes a scalar or an empty collection.
fn write_inline(out: &mut String, node: &Node) {
    match &node.value {
        Value::Mapping(_) => out.push_str("{}"),
        Value::Sequence(_) => out.push_str("[]"),
        // `~` reads back as a null, as do the other plain null spellings.
        Value::Scalar(scalar) if node.is_null() && !is_plain_safe(&scalar.text) => out.push('~'),
        Value::Scalar(scalar) => {
            let quote = scalar.quoted || !is_plain_safe(&scalar.text);
            write_scalar(out, &scalar.text, quote);
        }
    }
}

fn write_scalar(out: &mut String, text: &str, quote: bool) {
    if !quote {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                let _ = if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Tells whether a character must be escaped inside double quotes: control
/// characters, the byte order mark, and the Unicode line and paragraph
/// separators, which YAML 1.1 counts as line breaks.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

/// Tells whether `text` reads back as itself when written as a plain scalar
/// in block context. This is stricter than YAML needs, because quoting any
/// text reads back the same and so costs nothing but looks.
fn is_plain_safe(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let second = chars.next();
    let first_ok = first.is_ascii_alphanumeric()
        || matches!(first, '/' | '_' | '$')
        || (first == '-' && second.is_some_and(|c| c.is_ascii_alphanumeric()));
    if !first_ok {
        return false;
    }
    let has_bad_char = text
        .chars()
        .any(|c| c == '\t' || c == '\u{a0}' || needs_escape(c));
    !has_bad_char
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.ends_with(' ')
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::node::{Origin, Scalar};
    use crate::config::report::Problems;
    use crate::config::yaml;

    /// Tree contents that decoding depends on: keys in order, texts, and nulls.
    #[derive(Debug, PartialEq)]
    enum Shape {
        Null,
        Text(String),
        List(Vec<Shape>),
        Map(Vec<(String, Shape)>),
    }

    fn shape(node: &Node) -> Shape {
        match &node.value {
            Value::Scalar(_) if node.is_null() => Shape::Null,
            Value::Scalar(Scalar { text, .. }) => Shape::Text(text.clone()),
            Value::Sequence(items) => Shape::List(items.iter().map(shape).collect()),
            Value::Mapping(entries) => Shape::Map(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), shape(&entry.value)))
                    .collect(),
            ),
        }
    }

    fn parse(text: &str) -> Node {
        let mut problems = Problems::new("test.yaml");
        let root = yaml::parse(text, &mut problems);
        let problems = problems.into_vec();
        assert!(problems.is_empty(), "{text}\n{problems:#?}");
        root.unwrap_or_else(|| panic!("no document in:\n{text}"))
    }

    fn assert_round_trip(root: &Node) {
        let text = emit(root);

        assert_eq!(shape(&parse(&text)), shape(root), "emitted:\n{text}");
    }

    fn plain(text: &str) -> Node {
        Node::scalar(text, false, Origin::START)
    }

    fn mapping(entries: Vec<(&str, Node)>) -> Node {
        let entries = entries
            .into_iter()
            .map(|(key, value)| Entry {
                key: key.to_owned(),
                key_origin: Origin::START,
                value,
            })
            .collect();
        Node {
            origin: Origin::START,
            value: Value::Mapping(entries),
        }
    }

    #[test]
    fn file_round_trips_with_key_order() {
        let text = "zeta: 1\nglobal:\n  log_level: debug\nprocesses:\n  web:\n    \
                    command: [nginx, -g, 'daemon off;']\n    env: {A: 'null', B: ~, C: ''}\n    \
                    depends_on:\n      php-fpm: {condition: healthy}\n    empty: {}\n    \
                    none: []\nhooks:\n  pre-start:\n    - command: [a]\n      name: x\n    \
                    - [nested, list]\n";
        let root = parse(text);

        assert_round_trip(&root);
        assert!(emit(&root).starts_with("zeta: 1\nglobal:\n  log_level: debug\n"));
    }

    #[test]
    fn plain_and_quoted_scalars_are_written_as_expected() {
        let root = mapping(vec![
            ("cron", plain("*/15 * * * *")),
            ("url", plain("http://127.0.0.1:80/health")),
            ("word", plain("queue:work")),
            ("flag", plain("--nodaemonize")),
            ("null", plain("")),
            ("colon", plain("a: b")),
        ]);

        let text = emit(&root);

        assert!(text.contains("cron: \"*/15 * * * *\"\n"), "{text}");
        assert!(text.contains("url: http://127.0.0.1:80/health\n"), "{text}");
        assert!(text.contains("word: queue:work\n"), "{text}");
        assert!(text.contains("null: ~\n"), "{text}");
        assert!(text.contains("colon: \"a: b\"\n"), "{text}");
        assert_round_trip(&root);
    }

    #[test]
    fn tricky_texts_round_trip() {
        let texts = [
            "",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "#c",
            "- x",
            "-",
            "--x",
            "---",
            "...",
            "?",
            "&a",
            "*a",
            "!tag",
            "%d",
            "@x",
            "`x",
            "'q'",
            "\"q\"",
            "[a]",
            "{a}",
            "a, b",
            "|",
            ">",
            "<<",
            "~",
            "null",
            "true",
            "0x1F",
            "1e3",
            "line\nbreak",
            "tab\there",
            "bell\u{7}",
            "bom\u{feff}",
            "sep\u{2028}",
            "é",
            "emoji 😀",
            "back\\slash",
            "${HOME}",
            "$${x}",
            "a:",
            "nbsp\u{a0}x",
            "\r",
        ];
        for text in texts {
            for quoted in [false, true] {
                let value = Node::scalar(text, quoted, Origin::START);
                let root = mapping(vec![(text, value.clone())]);
                let list = Node {
                    origin: Origin::START,
                    value: Value::Sequence(vec![value]),
                };

                assert_round_trip(&mapping(vec![("k", root), ("l", list)]));
            }
        }
    }

    #[test]
    fn random_trees_round_trip() {
        const ATOMS: &[&str] = &[
            "a", " ", ":", "#", "-", "'", "\"", "\n", "{", "[", ",", "~", "é",
        ];
        // A fixed-seed linear congruential generator keeps the test repeatable.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap_or_default()
        };
        for _ in 0..500 {
            let mut text = String::new();
            for _ in 0..next() % 6 {
                text.push_str(ATOMS[next() % ATOMS.len()]);
            }
            let value = Node::scalar(text.clone(), next() % 2 == 0, Origin::START);
            let inner = mapping(vec![(text.as_str(), value)]);

            assert_round_trip(&mapping(vec![("outer", inner)]));
        }
    }

    #[test]
    fn long_keys_and_values_round_trip() {
        let long = "k".repeat(2000);
        let quoted = format!("{long}: x");
        let root = mapping(vec![
            (long.as_str(), plain(&long)),
            (quoted.as_str(), plain(&quoted)),
        ]);
        let item = Node {
            origin: Origin::START,
            value: Value::Sequence(vec![root.clone()]),
        };

        assert_round_trip(&root);
        assert_round_trip(&mapping(vec![("list", item)]));
    }

    #[test]
    fn scalar_root_is_written_alone() {
        assert_eq!(emit(&plain("text")), "text\n");
    }
}
