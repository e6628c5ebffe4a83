//! Child output lines that hold one JSON object, as JSON loggers write them.
//!
//! The level comes from the first of `level_name`, `level`, `severity`,
//! `lvl`, `loglevel` and `log.level` that holds a level name or number, and
//! every one of those keys that holds a level is consumed. Numbers are read
//! on three scales: 0 to 7 as syslog severities, 10 to 60 as pino and
//! bunyan levels, and 100 and above as Monolog levels. The message comes
//! from `msg`, else `message`, when it is a string. Every other key is kept
//! as a field, in key order.

use serde_json::{Map, Value};

use super::escape;
use super::level::word_level;
use super::redact::Redactor;
use crate::config::LineLevel;

/// Keys that may hold the level, most specific first.
const LEVEL_KEYS: &[&str] = &[
    "level_name",
    "level",
    "severity",
    "lvl",
    "loglevel",
    "log.level",
];

/// Keys that may hold the message, in order of preference.
const MESSAGE_KEYS: &[&str] = &["msg", "message"];

/// Longest slug shown in text records, in bytes.
const MAX_SLUG_BYTES: usize = 40;

/// A parsed JSON object line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonLine {
    /// The level its level keys state.
    pub(crate) level: Option<LineLevel>,
    /// The message, empty if it had none.
    pub(crate) msg: String,
    /// Every other key.
    pub(crate) fields: Map<String, Value>,
}

impl JsonLine {
    /// Parses `text` if it is a JSON object, with optional whitespace around.
    pub(crate) fn parse(text: &str) -> Option<JsonLine> {
        let trimmed = text.trim_ascii();
        if !trimmed.starts_with('{') || !trimmed.ends_with('}') {
            return None;
        }
        let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(trimmed) else {
            return None;
        };

        let mut level = None;
        for key in LEVEL_KEYS {
            let found = fields.get(*key).and_then(json_level);
            if found.is_some() {
                fields.remove(*key);
                level = level.or(found);
            }
        }
        let msg = MESSAGE_KEYS.iter().find_map(|key| match fields.get(*key) {
            Some(Value::String(_)) => match fields.remove(*key) {
                Some(Value::String(msg)) => Some(msg),
                _ => None,
            },
            _ => None,
        });

        Some(JsonLine {
            level,
            msg: msg.unwrap_or_default(),
            fields,
        })
    }

    /// Redacts the message and every field: the whole value of a secret key,
    /// and secrets inside every other string.
    pub(crate) fn redact(&mut self, redactor: &Redactor) {
        if !redactor.is_enabled() {
            return;
        }
        if let std::borrow::Cow::Owned(msg) = redactor.redact(&self.msg) {
            self.msg = msg;
        }
        redact_map(&mut self.fields, redactor);
    }
}

fn redact_map(fields: &mut Map<String, Value>, redactor: &Redactor) {
    for (key, value) in fields.iter_mut() {
        if redactor.is_secret_key(key) && !value.is_null() {
            *value = Value::String(redactor.placeholder().to_owned());
        } else {
            redact_value(value, redactor);
        }
    }
}

fn redact_value(value: &mut Value, redactor: &Redactor) {
    match value {
        Value::String(text) => {
            if let std::borrow::Cow::Owned(redacted) = redactor.redact(text) {
                *text = redacted;
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_value(item, redactor);
            }
        }
        Value::Object(fields) => redact_map(fields, redactor),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Reads a level from a JSON value: a name, or a number on the syslog, pino
/// or Monolog scale.
fn json_level(value: &Value) -> Option<LineLevel> {
    match value {
        Value::String(name) => word_level(name.trim().as_bytes()),
        Value::Number(number) => number.as_u64().and_then(numeric_level),
        _ => None,
    }
}

fn numeric_level(number: u64) -> Option<LineLevel> {
    Some(match number {
        // Syslog severities: 0 emergency to 7 debug.
        0..=2 => LineLevel::Fatal,
        3 => LineLevel::Error,
        4 => LineLevel::Warn,
        5 | 6 => LineLevel::Info,
        7 => LineLevel::Debug,
        // pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
        10 => LineLevel::Trace,
        20 => LineLevel::Debug,
        30 => LineLevel::Info,
        40 => LineLevel::Warn,
        50 => LineLevel::Error,
        60 => LineLevel::Fatal,
        // Monolog: 100 debug, 200 info, 250 notice, 300 warning, 400 error,
        // 500 critical, 550 alert, 600 emergency.
        // NOTE: Google Cloud's numeric severities use other steps (300
        // notice, 400 warning, 500 error), so from 300 up they read one level
        // high. Its usual string form is read correctly.
        100..=199 => LineLevel::Debug,
        200..=299 => LineLevel::Info,
        300..=399 => LineLevel::Warn,
        400..=499 => LineLevel::Error,
        500..=999 => LineLevel::Fatal,
        _ => return None,
    })
}

/// Appends a slug of `msg` for text records: its ASCII letters and digits in
/// lower case, with one `_` for each run of other characters, at most
/// [`MAX_SLUG_BYTES`] long. "Query failed" becomes `query_failed`.
pub(crate) fn push_slug(msg: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut gap = false;
    for byte in msg.bytes() {
        if !byte.is_ascii_alphanumeric() {
            gap = true;
            continue;
        }
        let underscore = gap && out.len() > start;
        if out.len() - start + usize::from(underscore) + 1 > MAX_SLUG_BYTES {
            break;
        }
        if underscore {
            out.push(b'_');
        }
        out.push(byte.to_ascii_lowercase());
        gap = false;
    }
    out.len() > start
}

/// Appends the fields as ` (key: value, key: value)` for text records.
/// Numbers under `duration` or a key ending in `_ms` are milliseconds, so
/// they get an `ms` suffix. Nested values are written as compact JSON.
pub(crate) fn push_text_fields(fields: &Map<String, Value>, out: &mut Vec<u8>) {
    if fields.is_empty() {
        return;
    }
    out.extend_from_slice(b" (");
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b", ");
        }
        escape::text_str(key, false, out);
        out.extend_from_slice(b": ");
        match value {
            Value::String(text) => escape::text_str(text, false, out),
            Value::Number(number) => {
                out.extend_from_slice(number.to_string().as_bytes());
                if key == "duration" || key.ends_with("_ms") {
                    out.extend_from_slice(b"ms");
                }
            }
            other => escape::text_str(&other.to_string(), false, out),
        }
    }
    out.push(b')');
}

/// Appends `,"key":value` for every field. A key that the record already
/// uses, listed in `reserved_keys`, is written as `field.key`.
pub(crate) fn push_json_fields(
    fields: &Map<String, Value>,
    reserved_keys: &[&str],
    out: &mut Vec<u8>,
) {
    for (key, value) in fields {
        out.extend_from_slice(b",\"");
        if reserved_keys.contains(&key.as_str()) {
            out.extend_from_slice(b"field.");
        }
        escape::json_str(key, out);
        out.extend_from_slice(b"\":");
        // Serializing a `Value` into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Redaction;

    fn parse(text: &str) -> JsonLine {
        JsonLine::parse(text).unwrap_or_else(|| panic!("not parsed: {text}"))
    }

    #[test]
    fn level_msg_and_fields_are_split() {
        let line =
            parse(r#"{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000}"#);

        assert_eq!(line.level, Some(LineLevel::Error));
        assert_eq!(line.msg, "Query failed");
        assert_eq!(
            Value::Object(line.fields),
            json!({"query": "SELECT *", "duration": 5000})
        );
    }

    #[test]
    fn monolog_json_consumes_both_level_keys() {
        let text = r#"{"message":"Slow","context":{},"level":300,"level_name":"WARNING","channel":"local"}"#;
        let line = parse(text);

        assert_eq!(line.level, Some(LineLevel::Warn));
        assert_eq!(line.msg, "Slow");
        assert_eq!(
            Value::Object(line.fields),
            json!({"context": {}, "channel": "local"})
        );
    }

    #[test]
    fn numeric_levels_use_three_scales() {
        let cases = [
            (3, LineLevel::Error),
            (50, LineLevel::Error),
            (400, LineLevel::Error),
        ];
        for (number, expected) in cases {
            let line = parse(&format!(r#"{{"level":{number},"msg":"x"}}"#));

            assert_eq!(line.level, Some(expected), "{number}");
        }
        assert_eq!(parse(r#"{"level":9999}"#).level, None);
    }

    #[test]
    fn severity_key_is_read() {
        assert_eq!(
            parse(r#"{"severity":"CRITICAL"}"#).level,
            Some(LineLevel::Fatal)
        );
    }

    #[test]
    fn unknown_level_stays_a_field() {
        let line = parse(r#"{"level":"loud","message":42}"#);

        assert_eq!(line.level, None);
        assert_eq!(line.msg, "");
        assert_eq!(
            Value::Object(line.fields),
            json!({"level": "loud", "message": 42})
        );
    }

    #[test]
    fn non_objects_are_not_parsed() {
        for text in ["[1]", "{", "{\"a\":1} trailing", "\"x\"", "{'a':1}", ""] {
            assert_eq!(JsonLine::parse(text), None, "{text}");
        }
    }

    #[test]
    fn secret_keys_are_redacted_at_any_depth() {
        let redactor = Redactor::new(&Redaction::default());
        let text = r#"{"msg":"login token=abc","user":{"password":"x","name":"bob"},"list":["mysql://u:p@h/db"],"api_key":null}"#;
        let mut line = parse(text);

        line.redact(&redactor);

        assert_eq!(line.msg, "login token=***REDACTED***");
        let expected = json!({
            "user": {"password": "***REDACTED***", "name": "bob"},
            "list": ["mysql://u:***REDACTED***@h/db"],
            "api_key": null,
        });
        assert_eq!(Value::Object(line.fields), expected);
    }

    #[test]
    fn slug_joins_words_with_underscores() {
        let mut out = Vec::new();

        assert!(push_slug("Query failed!", &mut out));
        assert_eq!(out, b"query_failed");
        out.clear();
        assert!(!push_slug("¿?", &mut out));
    }

    #[test]
    fn slug_is_capped() {
        let mut out = Vec::new();
        push_slug(&"word ".repeat(40), &mut out);

        assert!(out.len() <= MAX_SLUG_BYTES);
    }

    #[test]
    fn text_fields_mark_milliseconds() {
        let line = parse(r#"{"msg":"x","query":"SELECT *","duration":5000,"ok":true}"#);
        let mut out = Vec::new();

        push_text_fields(&line.fields, &mut out);

        assert_eq!(out, b" (duration: 5000ms, ok: true, query: SELECT *)");
    }

    #[test]
    fn json_fields_rename_taken_keys() {
        let line = parse(r#"{"msg":"x","time":"t","process":"p","a":[1]}"#);
        let mut out = Vec::new();

        push_json_fields(&line.fields, &["time", "process"], &mut out);

        assert_eq!(out, br#","a":[1],"field.process":"p","field.time":"t""#);
    }
}
