//! Formatting a child's output lines as JSON or text records.
//!
//! A JSON record reads
//! `{"time":"…","level":"INFO","msg":"…","process":"nginx","instance_id":"nginx-0","stream":"stdout"}`,
//! followed by the source's extra fields and, for a cut line,
//! `"truncated":true,"part":N`. A text record reads
//! `2024-01-15T10:30:45.123Z INFO  [nginx-0] message`, with `[nginx-0 stderr]`
//! for standard error and ` key=value` pairs after the message.
//!
//! Everything that stays the same for a source is formatted once, and the
//! timestamp once per chunk read, so a record costs little more than copying
//! and escaping its message.

use std::io::Write as _;
use std::time::SystemTime;

use super::clock::{Clock, STAMP_LEN};
use super::escape;
use super::lines::{LineSplitter, Piece};
use super::source::{level_name, Source, Stream};
use crate::config::LogFormat;

/// Turns the raw output of one child stream into formatted records.
#[derive(Debug)]
pub(crate) struct ChildRecords {
    splitter: LineSplitter,
    format: RecordFormat,
}

impl ChildRecords {
    /// Creates the formatter for `stream` of `source`.
    pub(crate) fn new(
        format: LogFormat,
        max_line_bytes: usize,
        source: &Source,
        stream: Stream,
    ) -> ChildRecords {
        ChildRecords {
            splitter: LineSplitter::new(max_line_bytes),
            format: RecordFormat::new(format, source, stream),
        }
    }

    /// Appends to `out` a record for every line or part that `chunk`
    /// completes, all stamped with `time`.
    pub(crate) fn push(&mut self, chunk: &[u8], time: SystemTime, out: &mut Vec<u8>) {
        self.format.set_time(time);
        let format = &self.format;
        self.splitter
            .push(chunk, &mut |piece| format.write(piece, out));
    }

    /// Appends the record of an unfinished last line, if any, at end of file.
    pub(crate) fn finish(&mut self, time: SystemTime, out: &mut Vec<u8>) {
        self.format.set_time(time);
        let format = &self.format;
        self.splitter.finish(&mut |piece| format.write(piece, out));
    }
}

/// The parts of a record that stay the same for one source and stream.
#[derive(Debug)]
struct RecordFormat {
    format: LogFormat,
    clock: Clock,
    /// Everything before the message, with the timestamp at `stamp_at`.
    head: Vec<u8>,
    stamp_at: usize,
    /// Everything after the message, before the truncation fields.
    tail: Vec<u8>,
}

impl RecordFormat {
    fn new(format: LogFormat, source: &Source, stream: Stream) -> RecordFormat {
        let level = level_name(stream.level());
        let placeholder = [b'0'; STAMP_LEN];
        let mut head = Vec::new();
        let mut tail = Vec::new();

        let stamp_at = match format {
            LogFormat::Json => {
                head.extend_from_slice(b"{\"time\":\"");
                let stamp_at = head.len();
                head.extend_from_slice(&placeholder);
                write!(head, "\",\"level\":\"{level}\",\"msg\":\"").ok();

                tail.push(b'"');
                push_json_field(&mut tail, "process", &source.process);
                push_json_field(&mut tail, "instance_id", &source.instance_id);
                push_json_field(&mut tail, "stream", stream.as_str());
                for (key, value) in &source.extra {
                    push_json_field(&mut tail, key, value);
                }
                stamp_at
            }
            LogFormat::Text => {
                head.extend_from_slice(&placeholder);
                write!(head, " {level:<5} [").ok();
                escape::text_str(&source.instance_id, false, &mut head);
                if stream == Stream::Stderr {
                    head.extend_from_slice(b" stderr");
                }
                head.extend_from_slice(b"] ");

                for (key, value) in &source.extra {
                    push_text_field(&mut tail, key, value);
                }
                0
            }
        };

        RecordFormat {
            format,
            clock: Clock::new(),
            head,
            stamp_at,
            tail,
        }
    }

    fn set_time(&mut self, time: SystemTime) {
        let stamp = self.clock.format(time);
        if let Some(slot) = self.head.get_mut(self.stamp_at..self.stamp_at + STAMP_LEN) {
            slot.copy_from_slice(stamp);
        }
    }

    /// Appends the record of `piece`, ending in `\n`.
    fn write(&self, piece: Piece<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);

        match self.format {
            LogFormat::Json => {
                escape::json_lossy(piece.bytes, out);
                out.extend_from_slice(&self.tail);
                if let Some(part) = piece.part {
                    write!(out, ",\"truncated\":true,\"part\":{part}").ok();
                }
                out.extend_from_slice(b"}\n");
            }
            LogFormat::Text => {
                escape::text_lossy(piece.bytes, false, out);
                out.extend_from_slice(&self.tail);
                if let Some(part) = piece.part {
                    write!(out, " truncated=true part={part}").ok();
                }
                out.push(b'\n');
            }
        }
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    fn time() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_705_314_645_123)
    }

    fn records(format: LogFormat, source: &Source, stream: Stream, input: &[u8]) -> String {
        let mut records = ChildRecords::new(format, 8, source, stream);
        let mut out = Vec::new();
        records.push(input, time(), &mut out);
        records.finish(time(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn parse_lines(output: &str) -> Vec<Value> {
        output
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{line:?}: {error}"))
            })
            .collect()
    }

    #[test]
    fn json_record_has_all_fields() {
        let source = Source::new("nginx", "nginx-0");

        let output = records(LogFormat::Json, &source, Stream::Stdout, b"ready\n");

        let expected = json!({
            "time": "2024-01-15T10:30:45.123Z",
            "level": "INFO",
            "msg": "ready",
            "process": "nginx",
            "instance_id": "nginx-0",
            "stream": "stdout",
        });
        assert_eq!(parse_lines(&output), vec![expected]);
    }

    #[test]
    fn json_keys_come_in_fixed_order() {
        let source = Source::new("nginx", "nginx-0");

        let output = records(LogFormat::Json, &source, Stream::Stdout, b"ready\n");

        assert!(output.starts_with(r#"{"time":"2024-01-15T10:30:45.123Z","level":"INFO","#));
        assert!(output.ends_with("\"instance_id\":\"nginx-0\",\"stream\":\"stdout\"}\n"));
    }

    #[test]
    fn json_stderr_is_warn_with_extra_fields() {
        let source = Source::new("setup", "setup").with_field("hook", "pre-start");

        let output = records(LogFormat::Json, &source, Stream::Stderr, b"oops\n");

        let record = &parse_lines(&output)[0];
        assert_eq!(record["level"], "WARN");
        assert_eq!(record["stream"], "stderr");
        assert_eq!(record["hook"], "pre-start");
    }

    #[test]
    fn json_cut_line_is_marked_truncated() {
        let source = Source::new("php", "php-0");

        let output = records(LogFormat::Json, &source, Stream::Stdout, b"0123456789\n");

        let parsed = parse_lines(&output);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["msg"], "01234567");
        assert_eq!(parsed[0]["truncated"], true);
        assert_eq!(parsed[0]["part"], 1);
        assert_eq!(parsed[1]["msg"], "89");
        assert_eq!(parsed[1]["part"], 2);
    }

    #[test]
    fn json_escapes_source_names() {
        let source = Source::new("we\"ird", "we\"ird-0");

        let output = records(LogFormat::Json, &source, Stream::Stdout, b"x\n");

        assert_eq!(parse_lines(&output)[0]["instance_id"], "we\"ird-0");
    }

    #[test]
    fn text_record_shape() {
        let source = Source::new("nginx", "nginx-0");

        let output = records(LogFormat::Text, &source, Stream::Stdout, b"ready\n");

        assert_eq!(output, "2024-01-15T10:30:45.123Z INFO  [nginx-0] ready\n");
    }

    #[test]
    fn text_record_names_stderr_and_fields() {
        let source = Source::new("setup", "setup-0").with_field("hook", "pre start");

        let output = records(LogFormat::Text, &source, Stream::Stderr, b"a\tb\n");

        assert_eq!(
            output,
            "2024-01-15T10:30:45.123Z WARN  [setup-0 stderr] a\\tb hook=\"pre start\"\n"
        );
    }

    #[test]
    fn text_cut_line_is_marked_truncated() {
        let source = Source::new("php", "php-0");

        let output = records(LogFormat::Text, &source, Stream::Stdout, b"0123456789");

        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("] 01234567 truncated=true part=1"));
        assert!(lines[1].ends_with("] 89 truncated=true part=2"));
    }

    proptest! {
        #[test]
        fn json_records_rebuild_any_input(
            input in proptest::collection::vec(any::<u8>(), 0..400),
            mut cuts in proptest::collection::vec(0usize..400, 0..10),
            max in 4usize..40,
        ) {
            cuts.sort_unstable();
            let source = Source::new("fuzz", "fuzz-0");
            let mut records = ChildRecords::new(LogFormat::Json, max, &source, Stream::Stdout);
            let mut out = Vec::new();
            let mut start = 0;
            for cut in cuts {
                let end = cut.clamp(start, input.len());
                records.push(&input[start..end], time(), &mut out);
                start = end;
            }
            records.push(&input[start..], time(), &mut out);
            records.finish(time(), &mut out);

            let output = String::from_utf8(out)
                .map_err(|error| TestCaseError::fail(format!("output is not UTF-8: {error}")))?;
            let mut pieces = Vec::new();
            for line in output.lines() {
                let record: Value = serde_json::from_str(line)
                    .map_err(|error| TestCaseError::fail(format!("{line:?}: {error}")))?;
                let msg = record["msg"].as_str().unwrap_or_default().to_owned();
                pieces.push((msg, record["part"].as_u64()));
            }

            // A part is continued by the next record when that one has the
            // next part number. Every other record ends a line.
            let mut text = String::new();
            for (index, (msg, part)) in pieces.iter().enumerate() {
                text.push_str(msg);
                let next_part = pieces.get(index + 1).and_then(|(_, part)| *part);
                let continues = part.is_some_and(|part| next_part == Some(part + 1));
                if !continues {
                    text.push('\n');
                }
            }

            let expected = String::from_utf8_lossy(&input).replace("\r\n", "\n");
            let expected = if expected.ends_with('\n') || expected.is_empty() {
                expected
            } else {
                expected + "\n"
            };
            prop_assert_eq!(text, expected);
        }
    }
}
