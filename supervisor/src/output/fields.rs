//! Structured fields of phpeek-pm's own events and spans, kept with their
//! types so JSON records write numbers as numbers and bools as bools.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use tracing::field::{Field, Visit};

use super::escape;
use super::record::push_text_field;
use super::redact::Redactor;

/// Field names that the record itself uses. An event or span field with one
/// of these names is written with a `field.` prefix, such as `field.time`,
/// so no JSON record contains a key twice.
const RESERVED: [&str; 3] = ["time", "level", "msg"];

/// One field value, in the type it was recorded with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Bool(bool),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    /// A string, or the `Debug` or `Display` form of any other value.
    Str(String),
}

/// The fields of one event or span, in the order they were recorded.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// The event's `message` field, the text written as `msg`.
    pub(crate) message: Option<String>,
    pub(crate) values: Vec<(&'static str, FieldValue)>,
}

impl Fields {
    /// Sets field `name`, replacing an earlier value of the same name.
    fn set(&mut self, name: &'static str, value: FieldValue) {
        if name == "message" && self.message.is_none() {
            if let FieldValue::Str(text) = value {
                self.message = Some(text);
                return;
            }
        }

        match self.values.iter_mut().find(|(known, _)| *known == name) {
            Some((_, old)) => *old = value,
            None => self.values.push((name, value)),
        }
    }

    /// Replaces secrets in every string value, the message included.
    pub(crate) fn redact(&mut self, redactor: &Redactor) {
        if !redactor.is_enabled() {
            return;
        }
        if let Some(message) = &mut self.message {
            if let Cow::Owned(redacted) = redactor.redact(message) {
                *message = redacted;
            }
        }
        for (_, value) in &mut self.values {
            if let FieldValue::Str(text) = value {
                if let Cow::Owned(redacted) = redactor.redact(text) {
                    *text = redacted;
                }
            }
        }
    }

    /// Adds the fields of `other` whose names are not set here yet, so
    /// values recorded closer to the event win.
    pub(crate) fn inherit(&mut self, other: &Fields) {
        for (name, value) in &other.values {
            if !self.values.iter().any(|(known, _)| known == name) {
                self.values.push((name, value.clone()));
            }
        }
    }

    /// Appends `,"name":value` for every field.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.values {
            out.extend_from_slice(b",\"");
            if RESERVED.contains(name) {
                out.extend_from_slice(b"field.");
            }
            escape::json_str(name, out);
            out.extend_from_slice(b"\":");
            value.write_json(out);
        }
    }

    /// Appends ` name=value` for every field.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        for (name, value) in &self.values {
            text.clear();
            let text = match value {
                FieldValue::Str(value) => value,
                other => {
                    other.write_plain(&mut text);
                    &text
                }
            };
            if RESERVED.contains(name) {
                push_text_field(out, &format!("field.{name}"), text);
            } else {
                push_text_field(out, name, text);
            }
        }
    }
}

impl FieldValue {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            FieldValue::Str(text) => {
                out.push(b'"');
                escape::json_str(text, out);
                out.push(b'"');
            }
            // JSON has no NaN or infinity, so those are written as strings.
            FieldValue::F64(number) if !number.is_finite() => {
                write!(out, "\"{number}\"").ok();
            }
            other => {
                let mut text = String::new();
                other.write_plain(&mut text);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }

    /// Writes a non-string value the way both formats show it.
    fn write_plain(&self, out: &mut String) {
        use fmt::Write as _;

        // `fmt::Write` for `String` never returns an error.
        let _ = match self {
            FieldValue::Bool(value) => write!(out, "{value}"),
            FieldValue::I64(value) => write!(out, "{value}"),
            FieldValue::U64(value) => write!(out, "{value}"),
            FieldValue::I128(value) => write!(out, "{value}"),
            FieldValue::U128(value) => write!(out, "{value}"),
            // `Display` never uses an exponent, so finite values are valid
            // JSON numbers.
            FieldValue::F64(value) => write!(out, "{value}"),
            FieldValue::Str(value) => write!(out, "{value}"),
        };
    }
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), FieldValue::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), FieldValue::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.set(field.name(), FieldValue::I128(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field.name(), FieldValue::U128(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), FieldValue::F64(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), FieldValue::Str(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain, since the caller recorded the error once, here.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.set(field.name(), FieldValue::Str(text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), FieldValue::Str(format!("{value:?}")));
    }
}
