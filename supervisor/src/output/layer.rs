//! The `tracing` layer that writes phpeek-pm's own events as records.
//!
//! A JSON record reads `{"time":"…","level":"INFO","msg":"…",…}` with the
//! event's fields next, then the fields of its spans from the innermost
//! out. A field name already written is skipped, so the value recorded
//! closest to the event wins. A text record reads
//! `2024-01-15T10:30:45.123Z INFO  phpeek-pm: message key=value`.
//!
//! String field values, from events and spans alike, are redacted by the
//! global redaction rules before they are written, because fields may hold
//! commands, environments or request bodies.
//!
//! The level filter applies to spans too: fields of a span below the level
//! are not recorded, so events inside it don't inherit them. Fields that
//! events of every level need belong on spans at the lowest level in use.

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

/// A layer that writes every event passed to it to the output without
/// waiting, because own events bypass the in-flight bound of child records.
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

        fields.redact(self.output.redactor());
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

#[cfg(test)]
mod tests {
    use std::fmt;

    use regex::Regex;
    use serde_json::{json, Value};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::output::testing::{parse_lines, FileOutput};

    /// Runs `emit` with the layer of a new output installed for this thread,
    /// and returns everything the output wrote.
    fn emitted(format: LogFormat, level: LogLevel, emit: impl FnOnce()) -> String {
        let output = FileOutput::start(format, 65536);
        let subscriber = tracing_subscriber::registry().with(output.output.layer(level));
        tracing::subscriber::with_default(subscriber, emit);
        output.finish_blocking()
    }

    #[derive(Debug)]
    struct Outer;

    impl fmt::Display for Outer {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("spawn failed")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&Inner)
        }
    }

    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Inner {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("no such file")
        }
    }

    impl std::error::Error for Inner {}

    #[test]
    fn event_fields_keep_json_types() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            tracing::info!(
                process = "nginx",
                pid = 42_u32,
                exit_code = -1,
                clean = false,
                load = 0.5,
                signal = ?nix::sys::signal::Signal::SIGTERM,
                "child exited"
            );
        });

        let records = parse_lines(&output);
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record["level"], "INFO");
        assert_eq!(record["msg"], "child exited");
        assert_eq!(record["process"], "nginx");
        assert_eq!(record["pid"], 42);
        assert_eq!(record["exit_code"], -1);
        assert_eq!(record["clean"], false);
        assert_eq!(record["load"], 0.5);
        assert_eq!(record["signal"], "SIGTERM");
    }

    #[test]
    fn json_keys_start_with_time_level_msg() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            tracing::warn!(pid = 7, "restart scheduled");
        });

        let pattern = r#"^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"WARN","msg":"restart scheduled","pid":7\}\n$"#;
        let shape = Regex::new(pattern).expect("valid pattern");
        assert!(shape.is_match(&output), "{output:?}");
    }

    #[test]
    fn span_fields_are_inherited() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            let process = tracing::info_span!("process", process = "php", instance_id = "php-0");
            let _process = process.enter();
            let attempt = tracing::info_span!("attempt", attempt = 1, instance_id = "php-1");
            let _attempt = attempt.enter();
            tracing::info!(pid = 9, "started");
        });

        let record = &parse_lines(&output)[0];
        assert_eq!(record["process"], "php");
        assert_eq!(record["instance_id"], "php-1");
        assert_eq!(record["attempt"], 1);
        assert_eq!(record["pid"], 9);
    }

    #[test]
    fn span_fields_recorded_later_are_seen() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            let span = tracing::info_span!("child", pid = tracing::field::Empty);
            span.record("pid", 31);
            let _entered = span.enter();
            tracing::info!("running");
        });

        assert_eq!(parse_lines(&output)[0]["pid"], 31);
    }

    #[test]
    fn level_filter_drops_lower_events() {
        let output = emitted(LogFormat::Json, LogLevel::Warn, || {
            tracing::debug!("hidden");
            tracing::info!("hidden too");
            tracing::warn!("shown");
            tracing::error!("shown too");
        });

        let levels: Vec<Value> = parse_lines(&output)
            .iter()
            .map(|r| r["level"].clone())
            .collect();
        assert_eq!(levels, [json!("WARN"), json!("ERROR")]);
    }

    #[test]
    fn trace_level_keeps_everything() {
        let output = emitted(LogFormat::Json, LogLevel::Trace, || {
            tracing::trace!("probe");
        });

        assert_eq!(parse_lines(&output)[0]["level"], "TRACE");
    }

    #[test]
    fn strings_and_errors_are_escaped() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            let error: &(dyn std::error::Error + 'static) = &Outer;
            tracing::error!(command = "echo \"hi\"\n\u{2028}", error, "hook failed");
        });

        let record = &parse_lines(&output)[0];
        assert_eq!(record["command"], "echo \"hi\"\n\u{2028}");
        assert_eq!(record["error"], "spawn failed: no such file");
    }

    #[test]
    fn reserved_field_names_are_prefixed() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            tracing::info!(time = 5, level = "x", "renamed");
        });

        let record = &parse_lines(&output)[0];
        assert_eq!(record["field.time"], 5);
        assert_eq!(record["field.level"], "x");
        assert_eq!(record["level"], "INFO");
    }

    #[test]
    fn string_fields_are_redacted() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            let span = tracing::info_span!("hook", env = "DB_PASSWORD=hunter2");
            let _entered = span.enter();
            tracing::warn!(
                command = "mysql --password=hunter2 -h db",
                body = ?"token: abc123",
                count = 4111_1111_1111_1111_u64,
                "heartbeat failed"
            );
        });

        let record = &parse_lines(&output)[0];
        assert_eq!(record["command"], "mysql --password=***REDACTED*** -h db");
        assert_eq!(record["body"], "\"token: ***REDACTED***\"");
        assert_eq!(record["env"], "DB_PASSWORD=***REDACTED***");
        assert!(!output.contains("hunter2"), "{output}");
        // Numbers are not strings, so they are written as recorded.
        assert_eq!(record["count"], 4_111_111_111_111_111_u64);
    }

    #[test]
    fn non_finite_floats_are_strings() {
        let output = emitted(LogFormat::Json, LogLevel::Info, || {
            tracing::info!(ratio = f64::NAN, "odd");
        });

        assert_eq!(parse_lines(&output)[0]["ratio"], "NaN");
    }

    #[test]
    fn text_event_shape() {
        let output = emitted(LogFormat::Text, LogLevel::Info, || {
            tracing::info!(
                process = "nginx",
                pid = 42,
                reason = "exit code 1",
                "child exited"
            );
        });

        let pattern = r#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  phpeek-pm: child exited process=nginx pid=42 reason="exit code 1"\n$"#;
        let shape = Regex::new(pattern).expect("valid pattern");
        assert!(shape.is_match(&output), "{output:?}");
    }

    #[test]
    fn text_event_stays_on_one_line() {
        let output = emitted(LogFormat::Text, LogLevel::Info, || {
            tracing::error!(detail = "two\nlines", "bad\r\ninput");
        });

        assert_eq!(output.lines().count(), 1);
        assert!(output.contains("ERROR phpeek-pm: bad\\r\\ninput detail=\"two\\nlines\""));
    }
}
