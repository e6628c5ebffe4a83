//! Decoding the log pipeline settings: `global.log_multiline`,
//! `global.log_redaction` and `processes.<name>.logging`.
//!
//! A process's `multiline` and `redaction` blocks start from the global
//! settings, so a key left out keeps the global value. Every regular
//! expression is compiled here, and an invalid one is an error at its value.

use std::borrow::Cow;

use regex::Regex;

use super::fields::{join, Decoder, Field};
use super::model::{
    Global, LevelDetection, LineFilters, LineLevel, Multiline, ProcessLogging, Redaction,
    RedactionPattern,
};
use super::node::Value;
use super::values::parse_choice;

/// Spellings of child output levels, canonical names first.
pub(crate) const LINE_LEVELS: &[(&str, LineLevel)] = &[
    ("trace", LineLevel::Trace),
    ("debug", LineLevel::Debug),
    ("info", LineLevel::Info),
    ("warn", LineLevel::Warn),
    ("error", LineLevel::Error),
    ("fatal", LineLevel::Fatal),
    ("notice", LineLevel::Info),
    ("warning", LineLevel::Warn),
    ("critical", LineLevel::Fatal),
    ("alert", LineLevel::Fatal),
    ("emergency", LineLevel::Fatal),
];

/// Go `logging` keys that are accepted with a warning.
const INERT_LOGGING_KEYS: &[&str] = &["stdout", "stderr", "labels"];

/// Go `logging.json` keys that are accepted with a warning: a line is parsed
/// only when it starts with `{`, and its level, message and other fields are
/// always taken.
const INERT_JSON_KEYS: &[&str] = &[
    "detect_auto",
    "extract_level",
    "extract_message",
    "merge_fields",
];

/// Decodes `processes.<name>.logging`, starting from the global settings.
pub(crate) fn decode_logging(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    global: &Global,
) -> ProcessLogging {
    let mut logging = ProcessLogging::inherit(global);
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return logging;
    };
    let fields = &mut fields;

    if let Some(format) = decoder.read(fields, "format", super::decode::log_format) {
        logging.format = format;
    }
    if let Some(level) = decoder.read(fields, "min_level", line_level) {
        logging.min_level = level;
    }
    if let Some(multiline) = fields.get("multiline") {
        logging.multiline = decode_multiline(decoder, &multiline, &global.log_multiline);
    }
    if let Some(redaction) = fields.get("redaction") {
        logging.redaction = decode_redaction(decoder, &redaction, &global.log_redaction);
    }
    if let Some(detection) = fields.get("level_detection") {
        logging.level_detection = decode_level_detection(decoder, &detection);
    }
    if let Some(json) = fields.get("json") {
        logging.json = decode_json(decoder, &json);
    }
    if let Some(filters) = fields.get("filters") {
        logging.filters = decode_filters(decoder, &filters);
    }
    fields.finish(decoder, INERT_LOGGING_KEYS);
    logging
}

/// Decodes a multiline block. Keys left out keep their value in `defaults`.
pub(crate) fn decode_multiline(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    defaults: &Multiline,
) -> Multiline {
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return defaults.clone();
    };
    let fields = &mut fields;

    let enabled = decoder.read(fields, "enabled", Decoder::bool);
    let pattern = decoder.read(fields, "pattern", regex);
    let timeout = decoder.read(fields, "timeout", Decoder::positive_duration);
    let max_lines = decoder.read(fields, "max_lines", |decoder, field| {
        decoder.count(field, 1)
    });
    fields.finish(decoder, &[]);

    Multiline {
        enabled: enabled.unwrap_or(defaults.enabled),
        start_pattern: pattern.or_else(|| defaults.start_pattern.clone()),
        timeout: timeout.unwrap_or(defaults.timeout),
        max_lines: max_lines.unwrap_or(defaults.max_lines),
    }
}

/// Decodes a redaction block. Keys left out keep their value in `defaults`,
/// so a process's `patterns` replace the global ones.
pub(crate) fn decode_redaction(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    defaults: &Redaction,
) -> Redaction {
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return defaults.clone();
    };
    let fields = &mut fields;

    let enabled = decoder.read(fields, "enabled", Decoder::bool);
    let patterns = decoder.read(fields, "patterns", redaction_patterns);
    let placeholder = decoder.read(fields, "placeholder", Decoder::text);
    fields.finish(decoder, &[]);

    Redaction {
        enabled: enabled.unwrap_or(defaults.enabled),
        patterns: patterns.unwrap_or_else(|| defaults.patterns.clone()),
        placeholder: placeholder.unwrap_or_else(|| defaults.placeholder.clone()),
    }
}

/// Reads redaction patterns: a list, or one string of comma-separated items
/// as `PHPEEK_PM_LOG_REDACTION_PATTERNS` gives them. Each item is a key name
/// when it has only letters, digits, `_`, `-` and `.`, and a regular
/// expression otherwise. A list item may also be PHPeek PM 1.x's mapping
/// `{name, pattern, replacement}`.
fn redaction_patterns(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
) -> Option<Vec<RedactionPattern>> {
    let mut patterns = Vec::new();
    match &field.node.value {
        Value::Scalar(_) => {
            let text = decoder.text(field)?;
            for item in text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
            {
                patterns.extend(redaction_pattern(decoder, field, item));
            }
        }
        Value::Sequence(items) => {
            for (index, node) in items.iter().enumerate() {
                let item = Field {
                    node,
                    path: format!("{}[{index}]", field.path),
                };
                let pattern = if node.entries().is_some() {
                    mapped_redaction_pattern(decoder, &item)
                } else {
                    let text = decoder.nonempty_text(&item);
                    text.and_then(|text| redaction_pattern(decoder, &item, &text))
                };
                patterns.extend(pattern);
            }
        }
        Value::Mapping(_) => {
            let message = format!(
                "expected a list or a comma-separated string, found {}",
                field.node.kind()
            );
            let hint = "write key names or regular expressions, like [password, 'sk_live_\\w+']";
            decoder.error(field, message).set_hint(hint);
            return None;
        }
    }
    Some(patterns)
}

fn redaction_pattern(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    text: &str,
) -> Option<RedactionPattern> {
    if is_key_name(text) {
        return Some(RedactionPattern::Key(text.to_owned()));
    }
    let regex = compile(decoder, field, text)?;
    Some(RedactionPattern::Regex {
        regex,
        replacement: None,
    })
}

/// Reads the PHPeek PM 1.x form `{name, pattern, replacement}`. The name
/// only labels the pattern.
fn mapped_redaction_pattern(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
) -> Option<RedactionPattern> {
    let mut fields = decoder.fields(field.node, &field.path)?;
    let _ = decoder.read(&mut fields, "name", Decoder::text);
    let pattern_field = fields.get("pattern");
    let replacement = decoder.read(&mut fields, "replacement", Decoder::text);
    fields.finish(decoder, &[]);

    let Some(pattern_field) = pattern_field else {
        let hint = "give the regular expression, like {pattern: 'sk_live_\\w+'}";
        decoder
            .error(field, "redaction pattern has no `pattern`")
            .set_hint(hint);
        return None;
    };
    let regex = regex(decoder, &pattern_field)?;
    Some(RedactionPattern::Regex { regex, replacement })
}

/// Tells whether a redaction item names a key rather than a regular expression.
pub(crate) fn is_key_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

fn decode_level_detection(decoder: &mut Decoder<'_>, field: &Field<'_>) -> LevelDetection {
    let mut detection = LevelDetection::default();
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return detection;
    };
    let fields = &mut fields;

    if let Some(enabled) = decoder.read(fields, "enabled", Decoder::bool) {
        detection.enabled = enabled;
    }
    if let Some(patterns) = fields.get("patterns") {
        detection.patterns = level_patterns(decoder, &patterns);
    }
    detection.default_level = decoder.read(fields, "default_level", line_level);
    fields.finish(decoder, &[]);
    detection
}

/// Reads a mapping from level names to regular expressions, sorted most
/// severe first.
fn level_patterns(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Vec<(LineLevel, Regex)> {
    let Some(entries) = field.node.entries() else {
        let message = format!(
            "expected a mapping of levels to patterns, found {}",
            field.node.kind()
        );
        let hint = "write it like {error: '^E ', warn: '^W '}";
        decoder.error(field, message).set_hint(hint);
        return Vec::new();
    };

    let mut patterns = Vec::with_capacity(entries.len());
    for entry in entries {
        let item = Field {
            node: &entry.value,
            path: join(&field.path, &entry.key),
        };
        let level = match parse_choice(&entry.key, "log level", LINE_LEVELS) {
            Ok(level) => Some(level),
            Err(invalid) => {
                let problem = decoder.error_at(&entry.key_origin, &item.path, invalid.message);
                if let Some(hint) = invalid.hint {
                    problem.set_hint(hint);
                }
                None
            }
        };
        let regex = regex(decoder, &item);
        if let (Some(level), Some(regex)) = (level, regex) {
            patterns.push((level, regex));
        }
    }
    patterns.sort_by_key(|(level, _)| std::cmp::Reverse(*level));
    patterns
}

fn decode_json(decoder: &mut Decoder<'_>, field: &Field<'_>) -> bool {
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return true;
    };
    let enabled = decoder.read(&mut fields, "enabled", Decoder::bool);
    fields.finish(decoder, INERT_JSON_KEYS);
    enabled.unwrap_or(true)
}

fn decode_filters(decoder: &mut Decoder<'_>, field: &Field<'_>) -> LineFilters {
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return LineFilters::default();
    };
    let include = decoder.read(&mut fields, "include", regex_list);
    let exclude = decoder.read(&mut fields, "exclude", regex_list);
    fields.finish(decoder, &[]);
    LineFilters {
        include: include.unwrap_or_default(),
        exclude: exclude.unwrap_or_default(),
    }
}

/// Reads a child output level such as `warn` or `critical`.
pub(crate) fn line_level(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<LineLevel> {
    decoder.choice(field, "log level", LINE_LEVELS)
}

/// Reads a regular expression.
fn regex(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<Regex> {
    let text = decoder.text(field)?;
    compile(decoder, field, &text)
}

fn regex_list(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<Vec<Regex>> {
    let Value::Sequence(items) = &field.node.value else {
        let message = format!(
            "expected a list of regular expressions, found {}",
            field.node.kind()
        );
        decoder
            .error(field, message)
            .set_hint("write it like ['GET /health ']");
        return None;
    };
    let mut regexes = Vec::with_capacity(items.len());
    for (index, node) in items.iter().enumerate() {
        let item = Field {
            node,
            path: format!("{}[{index}]", field.path),
        };
        regexes.extend(regex(decoder, &item));
    }
    Some(regexes)
}

/// Compiles `text`, reporting an invalid expression at `field`. A `{` that
/// starts no repetition is a literal, as in Go's regular expressions, which
/// PHPeek PM 1.x used: its guide's multiline pattern `^\[|^\d{4}-|^{"`
/// relies on that.
fn compile(decoder: &mut Decoder<'_>, field: &Field<'_>, text: &str) -> Option<Regex> {
    match Regex::new(&literal_braces(text)) {
        Ok(regex) => Some(regex),
        Err(error) => {
            let message = format!("invalid regular expression `{text}`: {}", reason(&error));
            let hint = "write it in the syntax of the Rust regex crate, which has no \
                        look-around or backreferences";
            decoder.error(field, message).set_hint(hint);
            None
        }
    }
}

/// Returns `pattern` with a backslash before each `{` that starts no
/// counted repetition (`{2}`, `{2,}` or `{2,5}`), outside character classes.
fn literal_braces(pattern: &str) -> Cow<'_, str> {
    let bytes = pattern.as_bytes();
    let mut escaped = String::new();
    let mut copied = 0;
    let mut class_depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            // Skips the escaped character. When that one is multibyte, `at`
            // lands inside it, which is harmless: only ASCII bytes match.
            b'\\' => at += 1,
            b'[' => {
                class_depth += 1;
                // A `]` right after `[` or `[^` is a literal member.
                if bytes.get(at + 1) == Some(&b'^') {
                    at += 1;
                }
                if bytes.get(at + 1) == Some(&b']') {
                    at += 1;
                }
            }
            b']' if class_depth > 0 => class_depth -= 1,
            b'{' if class_depth == 0 && !starts_repetition(&bytes[at..]) => {
                escaped.push_str(&pattern[copied..at]);
                escaped.push_str("\\{");
                copied = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    if copied == 0 {
        return Cow::Borrowed(pattern);
    }
    escaped.push_str(&pattern[copied..]);
    Cow::Owned(escaped)
}

/// Returns whether `text`, which starts with `{`, starts with `{n}`, `{n,}`
/// or `{n,m}`.
fn starts_repetition(text: &[u8]) -> bool {
    let digits = |from: usize| {
        text.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|byte| byte.is_ascii_digit()).count()
        })
    };
    let first = digits(1);
    if first == 0 {
        return false;
    }
    let mut at = 1 + first;
    if text.get(at) == Some(&b',') {
        at += 1 + digits(at + 1);
    }
    text.get(at) == Some(&b'}')
}

/// Returns the one-line reason of a regex error, without the pattern and
/// caret lines that its `Display` form puts first.
fn reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().rev().find(|line| !line.trim().is_empty());
    let last = last.unwrap_or(&text);
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

#[cfg(test)]
#[path = "logging_tests.rs"]
mod tests;
