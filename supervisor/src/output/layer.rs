//! The `tracing` layer that writes phpeek-pm's own events as records.
//!
//! A JSON record reads `{"time":"…","level":"INFO","msg":"…",…}` with the
//! event's fields next, then the fields of its spans from the innermost
//! out. A field name already written is skipped, so the value recorded
//! closest to the event wins. A text record reads
//! `2024-01-15T10:30:45.123Z INFO  phpeek-pm: message key=value`.

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::clock::Clock;
use super::escape;
use super::fields::Fields;
use super::handle::OutputHandle;
use crate::config::{LogFormat, LogLevel};

/// Writes every event it sees to the output, without waiting: own events
/// bypass the in-flight bound that child records wait for.
#[derive(Debug)]
pub(crate) struct OwnEvents {
    output: OutputHandle,
}

/// The fields recorded on a span, stored in its extensions.
struct SpanFields(Fields);

impl OwnEvents {
    pub(crate) fn new(output: OutputHandle) -> OwnEvents {
        OwnEvents { output }
    }

    /// Formats one event with the inherited span fields as a whole line.
    fn format(&self, level: &Level, fields: &Fields) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let stamp = Clock::new().now().to_owned();
        let message = fields.message.as_deref().unwrap_or_default();

        match self.output.format() {
            LogFormat::Json => {
                out.extend_from_slice(b"{\"time\":\"");
                out.extend_from_slice(&stamp);
                out.extend_from_slice(b"\",\"level\":\"");
                out.extend_from_slice(level.as_str().as_bytes());
                out.extend_from_slice(b"\",\"msg\":\"");
                escape::json_str(message, &mut out);
                out.push(b'"');
                fields.write_json(&mut out);
                out.extend_from_slice(b"}\n");
            }
            LogFormat::Text => {
                out.extend_from_slice(&stamp);
                out.extend_from_slice(format!(" {:<5} phpeek-pm: ", level.as_str()).as_bytes());
                escape::text_str(message, false, &mut out);
                fields.write_text(&mut out);
                out.push(b'\n');
            }
        }
        out
    }
}

impl<S> Layer<S> for OwnEvents
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let Some(span) = context.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, context: Context<'_, S>) {
        let Some(span) = context.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);

        if let Some(scope) = context.event_scope(event) {
            for span in scope {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.inherit(span_fields);
                }
            }
        }

        let record = self.format(event.metadata().level(), &fields);
        self.output.send_unbounded(record);
    }
}

/// Returns the `tracing` level that [`LogLevel`] names.
pub(crate) fn tracing_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Trace => Level::TRACE,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    }
}
