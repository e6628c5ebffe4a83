//! Turning the raw output of one child stream into formatted records, by
//! the steps of its [`Pipeline`].

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::jsonline::JsonLine;
use super::lines::{LineSplitter, Piece};
use super::multiline::{Assembler, Joined};
use super::pipeline::Pipeline;
use super::record::{Record, RecordFormat};
use super::source::{Source, Stream};
use crate::config::LineLevel;

/// The state of one child stream: the unfinished line, the record waiting
/// for continuation lines, and the formatter.
#[derive(Debug)]
pub(crate) struct ChildRecords {
    splitter: LineSplitter,
    assembler: Option<Assembler>,
    emitter: Emitter,
}

impl ChildRecords {
    /// Creates the state for `stream` of `source`, processed by `pipeline`.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        max_line_bytes: usize,
        source: &Source,
        stream: Stream,
    ) -> ChildRecords {
        let assembler = pipeline
            .multiline
            .as_ref()
            .map(|settings| Assembler::new(settings, max_line_bytes));
        ChildRecords {
            splitter: LineSplitter::new(max_line_bytes),
            assembler,
            emitter: Emitter {
                format: RecordFormat::new(pipeline.format, source, stream),
                default_level: stream.level(),
                pipeline,
                cut_line_level: None,
                held_part: None,
            },
        }
    }

    /// Appends to `out` a record for every record that `chunk` completes.
    /// `time` and `now` are when the chunk was read.
    pub(crate) fn push(&mut self, chunk: &[u8], time: SystemTime, now: Instant, out: &mut Vec<u8>) {
        let ChildRecords {
            splitter,
            assembler,
            emitter,
        } = self;
        splitter.push(chunk, &mut |piece| {
            on_piece(assembler, emitter, piece, time, now, out);
        });
    }

    /// Returns when the record waiting for continuation lines is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.assembler.as_ref().and_then(Assembler::deadline)
    }

    /// Appends the waiting record if its deadline is at or before `now`.
    pub(crate) fn flush_due(&mut self, now: Instant, out: &mut Vec<u8>) {
        if self.deadline().is_some_and(|deadline| deadline <= now) {
            flush(&mut self.assembler, &mut self.emitter, out);
        }
    }

    /// Appends the waiting record and the unfinished last line, if any, at
    /// end of file.
    pub(crate) fn finish(&mut self, time: SystemTime, out: &mut Vec<u8>) {
        let ChildRecords {
            splitter,
            assembler,
            emitter,
        } = self;
        let now = Instant::now();
        splitter.finish(&mut |piece| on_piece(assembler, emitter, piece, time, now, out));
        emitter.release_held_part(out);
        flush(assembler, emitter, out);
    }
}

fn on_piece(
    assembler: &mut Option<Assembler>,
    emitter: &mut Emitter,
    piece: Piece<'_>,
    time: SystemTime,
    now: Instant,
    out: &mut Vec<u8>,
) {
    // `from_utf8` checks valid input faster than `from_utf8_lossy` does.
    let text = match std::str::from_utf8(piece.bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(piece.bytes),
    };
    if let Some(part) = piece.part {
        flush(assembler, emitter, out);
        emitter.emit_part(&text, time, part, piece.more, out);
        return;
    }
    let Some(assembler) = assembler else {
        let level = emitter.pipeline.detector.detect(&text);
        emitter.emit(&text, time, level, None, out);
        return;
    };

    if assembler.join(&text) {
        if assembler.is_full() {
            assembler.flush_full(|joined| emitter.emit_joined(joined, out));
        }
        return;
    }
    assembler.flush(|joined| emitter.emit_joined(joined, out));
    // The rest of a trace cut at `max_lines` keeps the trace's level.
    let level = assembler
        .take_carried(&text)
        .unwrap_or_else(|| emitter.pipeline.detector.detect(&text));
    assembler.start(&text, time, now, level);
    if assembler.is_full() {
        assembler.flush_full(|joined| emitter.emit_joined(joined, out));
    }
}

fn flush(assembler: &mut Option<Assembler>, emitter: &mut Emitter, out: &mut Vec<u8>) {
    if let Some(assembler) = assembler {
        assembler.flush(|joined| emitter.emit_joined(joined, out));
    }
}

/// Steps 2 to 7 of the pipeline for one stream: filter, JSON, level,
/// minimum level, redaction and formatting.
#[derive(Debug)]
struct Emitter {
    pipeline: Arc<Pipeline>,
    format: RecordFormat,
    /// The stream's level for records without one.
    default_level: LineLevel,
    /// The level detected in the first part of the line being cut.
    cut_line_level: Option<LineLevel>,
    /// The latest part of the line being cut, kept until the next part
    /// arrives while redaction is on.
    held_part: Option<HeldPart>,
}

/// A part of a cut line that is not emitted yet.
#[derive(Debug)]
struct HeldPart {
    text: String,
    time: SystemTime,
    part: u64,
}

impl Emitter {
    fn emit_joined(&mut self, joined: Joined<'_>, out: &mut Vec<u8>) {
        self.emit(joined.text, joined.time, joined.level, None, out);
    }

    /// Emits one part of a cut line, which later parts take the level of.
    /// `more` is true when other parts follow.
    ///
    /// While redaction is on, each part but the last waits for the next
    /// one. The two are then searched together for a secret that the cut
    /// splits, such as a key at the end of one part and its value in the
    /// next.
    // NOTE: a secret value longer than the line cap, one that spans three
    // parts, is redacted in the first two only.
    fn emit_part(
        &mut self,
        text: &str,
        time: SystemTime,
        part: u64,
        more: bool,
        out: &mut Vec<u8>,
    ) {
        if part == 1 {
            self.cut_line_level = self.pipeline.detector.detect(text);
        }
        if !self.pipeline.redactor.is_enabled() {
            self.emit(text, time, self.cut_line_level, Some(part), out);
            return;
        }

        let text = match self.held_part.take() {
            Some(held) => {
                let (before, after) = self.pipeline.redactor.redact_across(&held.text, text);
                self.emit(
                    &before,
                    held.time,
                    self.cut_line_level,
                    Some(held.part),
                    out,
                );
                after.into_owned()
            }
            None => text.to_owned(),
        };
        if more {
            self.held_part = Some(HeldPart { text, time, part });
        } else {
            self.emit(&text, time, self.cut_line_level, Some(part), out);
        }
    }

    /// Emits the held part of a cut line, if any. The splitter marks the
    /// last part of every line, so only a stream that ends early leaves one.
    fn release_held_part(&mut self, out: &mut Vec<u8>) {
        if let Some(held) = self.held_part.take() {
            self.emit(
                &held.text,
                held.time,
                self.cut_line_level,
                Some(held.part),
                out,
            );
        }
    }

    /// Emits a record of `text` unless a filter or the minimum level drops
    /// it. `detected` is the level found in its first line.
    fn emit(
        &mut self,
        text: &str,
        time: SystemTime,
        detected: Option<LineLevel>,
        part: Option<u64>,
        out: &mut Vec<u8>,
    ) {
        let pipeline = &*self.pipeline;
        if pipeline.filter.is_active() && !pipeline.filter.keeps(text) {
            pipeline.count_filtered();
            return;
        }

        let is_object = text.trim_ascii_start().starts_with('{');
        let json = (pipeline.json && part.is_none() && is_object)
            .then(|| JsonLine::parse(text))
            .flatten();
        let stated = match &json {
            Some(line) => line.level.or_else(|| pipeline.detector.detect(&line.msg)),
            None => detected,
        };
        let level = stated
            .or(pipeline.detector.default_level())
            .unwrap_or(self.default_level);
        if level < pipeline.min_level {
            pipeline.count_below_min_level();
            return;
        }

        let mut record = Record {
            time,
            level,
            msg: "",
            fields: None,
            part,
        };
        match json {
            Some(mut line) => {
                line.redact(&pipeline.redactor);
                record.msg = &line.msg;
                record.fields = Some(&line.fields);
                self.format.write(&record, out);
            }
            None => {
                let msg: Cow<'_, str> = pipeline.redactor.redact(text);
                record.msg = &msg;
                self.format.write(&record, out);
            }
        }
    }
}

#[cfg(test)]
#[path = "child_tests.rs"]
mod tests;
