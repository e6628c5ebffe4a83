//! Formatting one child output record as a JSON or text line.
//!
//! A JSON record reads
//! `{"time":"…","level":"INFO","msg":"…","process":"nginx","instance_id":"nginx-0","stream":"stdout"}`,
//! followed by the source's extra fields, the fields of a JSON line and, for
//! a cut line, `"truncated":true,"part":N`. A field of a JSON line whose key
//! the record already uses, such as `time`, is written as `field.time`.
//!
//! A text record reads `2024-01-15T10:30:45.123Z INFO  [nginx-0] message`,
//! with `[nginx-0 stderr]` for standard error and ` key=value` pairs for
//! the source's extra fields after the message. A JSON line is written as
//! `ERROR [nginx-0] [query_failed] Query failed (duration: 5000ms)`: a slug
//! of its message in brackets, then the message, then its fields.
//!
//! Everything that stays the same for a source is formatted once, so a
//! record costs little more than copying and escaping its message.

use std::io::Write as _;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::clock::Clock;
use super::escape;
use super::jsonline::{push_json_fields, push_slug, push_text_fields};
use super::source::{Source, Stream};
use crate::config::{LineLevel, LogFormat};

/// Keys of every child record, which fields of a JSON line may not take.
const RECORD_KEYS: [&str; 8] = [
    "time",
    "level",
    "msg",
    "process",
    "instance_id",
    "stream",
    "truncated",
    "part",
];

/// One record to format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    /// When the record's first bytes were read.
    pub(crate) time: SystemTime,
    pub(crate) level: LineLevel,
    /// The message, already redacted.
    pub(crate) msg: &'a str,
    /// The other fields of a JSON line, already redacted.
    pub(crate) fields: Option<&'a Map<String, Value>>,
    /// The 1-based part number of a cut line.
    pub(crate) part: Option<u64>,
}

/// The parts of a record that stay the same for one source and stream.
#[derive(Debug)]
pub(crate) struct RecordFormat {
    format: LogFormat,
    clock: Clock,
    /// JSON: everything after the message, before any JSON line fields.
    /// Text: the extra fields.
    tail: Vec<u8>,
    /// Text: `[nginx-0 stderr] `.
    text_source: Vec<u8>,
    /// Keys the record already uses, which fields of a JSON line are
    /// renamed from.
    reserved_keys: Vec<&'static str>,
}

impl RecordFormat {
    /// Prepares the fixed parts for `stream` of `source`.
    pub(crate) fn new(format: LogFormat, source: &Source, stream: Stream) -> RecordFormat {
        let mut tail = Vec::new();
        let mut text_source = Vec::new();
        match format {
            LogFormat::Json => {
                tail.push(b'"');
                push_json_field(&mut tail, "process", &source.process);
                push_json_field(&mut tail, "instance_id", &source.instance_id);
                push_json_field(&mut tail, "stream", stream.as_str());
                for (key, value) in &source.extra {
                    push_json_field(&mut tail, key, value);
                }
            }
            LogFormat::Text => {
                text_source.push(b'[');
                escape::text_str(&source.instance_id, false, &mut text_source);
                if stream == Stream::Stderr {
                    text_source.extend_from_slice(b" stderr");
                }
                text_source.extend_from_slice(b"] ");
                for (key, value) in &source.extra {
                    push_text_field(&mut tail, key, value);
                }
            }
        }
        let extra_keys = source.extra.iter().map(|(key, _)| *key);
        let reserved_keys = RECORD_KEYS.into_iter().chain(extra_keys).collect();

        RecordFormat {
            format,
            clock: Clock::new(),
            tail,
            text_source,
            reserved_keys,
        }
    }

    /// Appends `record` as one line ending in `\n`.
    pub(crate) fn write(&mut self, record: &Record<'_>, out: &mut Vec<u8>) {
        let stamp = self.clock.format(record.time);
        let level = record.level.as_str();

        match self.format {
            LogFormat::Json => {
                out.extend_from_slice(b"{\"time\":\"");
                out.extend_from_slice(stamp);
                out.extend_from_slice(b"\",\"level\":\"");
                out.extend_from_slice(level.as_bytes());
                out.extend_from_slice(b"\",\"msg\":\"");
                escape::json_str(record.msg, out);
                out.extend_from_slice(&self.tail);
                if let Some(fields) = record.fields {
                    push_json_fields(fields, &self.reserved_keys, out);
                }
                if let Some(part) = record.part {
                    write!(out, ",\"truncated\":true,\"part\":{part}").ok();
                }
                out.extend_from_slice(b"}\n");
            }
            LogFormat::Text => {
                out.extend_from_slice(stamp);
                out.push(b' ');
                out.extend_from_slice(level.as_bytes());
                out.extend_from_slice(&b"      "[..6 - level.len().min(5)]);
                out.extend_from_slice(&self.text_source);
                if let Some(fields) = record.fields {
                    push_slug_brackets(record.msg, out);
                    escape::text_str(record.msg, false, out);
                    push_text_fields(fields, out);
                } else {
                    escape::text_str(record.msg, false, out);
                }
                out.extend_from_slice(&self.tail);
                if let Some(part) = record.part {
                    write!(out, " truncated=true part={part}").ok();
                }
                out.push(b'\n');
            }
        }
    }
}

/// Appends `[slug] ` for a message that has one.
fn push_slug_brackets(msg: &str, out: &mut Vec<u8>) {
    out.push(b'[');
    if push_slug(msg, out) {
        out.extend_from_slice(b"] ");
    } else {
        out.pop();
    }
}

/// Appends `,"key":"value"` with both strings escaped.
fn push_json_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b",\"");
    escape::json_str(key, out);
    out.extend_from_slice(b"\":\"");
    escape::json_str(value, out);
    out.push(b'"');
}

/// Appends ` key=value`, quoting the value if it contains spaces or special
/// characters.
pub(crate) fn push_text_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b' ');
    escape::text_str(key, false, out);
    out.push(b'=');
    if escape::text_needs_quotes(value) {
        out.push(b'"');
        escape::text_str(value, true, out);
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}
