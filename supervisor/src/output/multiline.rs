//! Joining continuation lines, such as the frames of a stack trace, into
//! the record of the line they belong to.
//!
//! With a configured start pattern, every line that does not match it
//! continues the pending record. Without one, the built-in rules for PHP
//! and Laravel traces apply. These lines always continue a record:
//! `Stack trace:`, frames such as `#0 /app/x.php(12): f()` and Xdebug's
//! `PHP   1. {main}()`, indented `at …` lines, `thrown in …`,
//! `Next SomeException: …`, `Caused by: …`, Laravel's `[stacktrace]`,
//! `[previous exception]` and the `"}` that ends its context. Any other
//! indented line that states no level of its own continues a record only
//! once that record looks like an error: its first line has a detected level of WARN or above or contains
//! `Exception` or `Error`, or one of the lines above has joined it. So the
//! indented progress lines of `php artisan queue:work` stay separate. A
//! blank line after such a record is held back: it joins the record only
//! together with a continuation line after it, as PHP writes a blank line
//! before `Next …`, and is otherwise emitted as a record of its own.
//!
//! A record is emitted when a line arrives that does not continue it, when
//! it contains `max_lines` lines, when the next line would take it past the
//! line cap, or at its deadline: `timeout` after its first line was read.
//! The caller runs the timer and calls [`Assembler::flush`] then. The lines
//! that continue a record cut at `max_lines` form the next record, which
//! keeps the level of the first.

use std::time::{Duration, SystemTime};

use regex::Regex;
use tokio::time::Instant;

use super::level::detect_builtin;
use crate::config::{LineLevel, Multiline};

/// A record waiting for continuation lines.
#[derive(Debug)]
struct Pending {
    /// When its first line was read.
    time: SystemTime,
    /// When it is emitted at the latest.
    deadline: Instant,
    /// Level detected in its first line.
    level: Option<LineLevel>,
    lines: u32,
    /// Whether an indented line may continue it, once known.
    error_like: Option<bool>,
    /// Whether a blank line arrived after it and is not part of it yet.
    held_blank: bool,
}

/// A complete record handed to the caller: one line, or several joined with
/// `\n`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Joined<'a> {
    /// The lines joined with `\n`.
    pub(crate) text: &'a str,
    /// When the first line was read.
    pub(crate) time: SystemTime,
    /// Level detected in the first line.
    pub(crate) level: Option<LineLevel>,
}

/// Joins the lines of one stream into records.
#[derive(Debug)]
pub(crate) struct Assembler {
    start_pattern: Option<Regex>,
    timeout: Duration,
    max_lines: u32,
    max_bytes: usize,
    /// The pending record's text, kept allocated between records.
    text: String,
    pending: Option<Pending>,
    /// The record just emitted for reaching `max_lines`, which the next
    /// line may continue in a record of its own.
    carried: Option<Carried>,
    /// Whether the record that `start` begins continues a carried one.
    resumes: bool,
}

/// The level and kind of a record cut at `max_lines`, handed on to the
/// record that continues it.
#[derive(Debug, Clone, Copy)]
struct Carried {
    level: Option<LineLevel>,
    error_like: bool,
}

impl Assembler {
    /// Creates an assembler for `settings`, whose records never exceed
    /// `max_bytes`.
    pub(crate) fn new(settings: &Multiline, max_bytes: usize) -> Assembler {
        Assembler {
            start_pattern: settings.start_pattern.clone(),
            timeout: settings.timeout,
            max_lines: settings.max_lines.max(1),
            max_bytes,
            text: String::new(),
            pending: None,
            carried: None,
            resumes: false,
        }
    }

    /// Appends `line` to the pending record if it continues it, or holds it
    /// back if it is a blank line that may. Returns false if it does
    /// neither, and then the caller must flush before starting a record.
    pub(crate) fn join(&mut self, line: &str) -> bool {
        // A blank line is a record of its own.
        let Some(pending) = self.pending.as_ref().filter(|_| !self.text.is_empty()) else {
            return false;
        };
        let held_bytes = usize::from(pending.held_blank);
        let lines_after = pending.lines + 1 + u32::from(pending.held_blank);
        let fits = self.text.len() + held_bytes + 1 + line.len() <= self.max_bytes;
        if lines_after > self.max_lines || !fits {
            return false;
        }
        if line.is_empty() && !pending.held_blank && self.start_pattern.is_none() {
            let may_continue = self.is_error_like();
            if let Some(pending) = self.pending.as_mut().filter(|_| may_continue) {
                pending.held_blank = true;
            }
            return may_continue;
        }
        if !self.continues(line) {
            return false;
        }

        if let Some(pending) = &mut self.pending {
            if std::mem::take(&mut pending.held_blank) {
                self.text.push('\n');
            }
            pending.lines = lines_after;
        }
        self.text.push('\n');
        self.text.push_str(line);
        true
    }

    /// Starts a new pending record with `line`. Flush the previous one first,
    /// or it is lost.
    pub(crate) fn start(
        &mut self,
        line: &str,
        time: SystemTime,
        now: Instant,
        level: Option<LineLevel>,
    ) {
        self.text.clear();
        self.text.push_str(line);
        self.pending = Some(Pending {
            time,
            deadline: now + self.timeout,
            level,
            lines: 1,
            error_like: std::mem::take(&mut self.resumes).then_some(true),
            held_blank: false,
        });
    }

    /// Returns the level of the record that was cut at `max_lines` right
    /// before `line`, if `line` continues it. Call it before [`start`], which
    /// then lets indented lines join the new record if the cut one looked
    /// like an error.
    ///
    /// [`start`]: Assembler::start
    pub(crate) fn take_carried(&mut self, line: &str) -> Option<Option<LineLevel>> {
        let carried = self.carried.take()?;
        let continues = match &self.start_pattern {
            Some(pattern) => !pattern.is_match(line),
            None => {
                is_trace_line(line)
                    || (carried.error_like
                        && line.starts_with([' ', '\t'])
                        && detect_builtin(line).is_none())
            }
        };
        self.resumes = continues && carried.error_like;
        continues.then_some(carried.level)
    }

    /// Emits the pending record, which has reached `max_lines`, like
    /// [`flush`](Assembler::flush), and remembers it for the lines that
    /// continue it.
    pub(crate) fn flush_full(&mut self, emit: impl FnMut(Joined<'_>)) {
        let error_like = self.is_error_like();
        self.carried = self.pending.as_ref().map(|pending| Carried {
            level: pending.level,
            error_like,
        });
        self.flush(emit);
    }

    /// Returns whether the pending record has reached `max_lines`.
    pub(crate) fn is_full(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|pending| pending.lines >= self.max_lines)
    }

    /// Returns when the pending record is due, if there is one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|pending| pending.deadline)
    }

    /// Passes the pending record, if any, to `emit` and clears it. A blank
    /// line held back after it is passed as a record of its own.
    pub(crate) fn flush(&mut self, mut emit: impl FnMut(Joined<'_>)) {
        if let Some(pending) = self.pending.take() {
            emit(Joined {
                text: &self.text,
                time: pending.time,
                level: pending.level,
            });
            if pending.held_blank {
                emit(Joined {
                    text: "",
                    time: pending.time,
                    level: None,
                });
            }
        }
    }

    fn continues(&mut self, line: &str) -> bool {
        if let Some(pattern) = &self.start_pattern {
            return !pattern.is_match(line);
        }
        if is_trace_line(line) {
            if let Some(pending) = &mut self.pending {
                pending.error_like = Some(true);
            }
            return true;
        }
        // An indented line that states its own level, like Laravel's
        // `   WARN  Deprecated`, is a new message.
        line.starts_with([' ', '\t']) && self.is_error_like() && detect_builtin(line).is_none()
    }

    /// Tells whether the pending record looks like an error, deciding once
    /// per record and only when an indented line asks.
    fn is_error_like(&mut self) -> bool {
        let Some(pending) = &mut self.pending else {
            return false;
        };
        if let Some(known) = pending.error_like {
            return known;
        }
        let first_line = self.text.split('\n').next().unwrap_or_default();
        let known = pending.level.is_some_and(|level| level >= LineLevel::Warn)
            || memchr::memmem::find(first_line.as_bytes(), b"Exception").is_some()
            || memchr::memmem::find(first_line.as_bytes(), b"Error").is_some();
        pending.error_like = Some(known);
        known
    }
}

/// Tells whether `line` is one that always continues a trace.
fn is_trace_line(line: &str) -> bool {
    let indented = line.starts_with([' ', '\t']);
    let text = line.trim_start();
    let bytes = text.as_bytes();

    match bytes.first() {
        Some(b'#') => bytes.get(1).is_some_and(u8::is_ascii_digit),
        Some(b'a') => indented && text.starts_with("at "),
        Some(b't') => text.starts_with("thrown in "),
        Some(b'S') => text.starts_with("Stack trace:"),
        Some(b'C') => text.starts_with("Caused by: "),
        Some(b'"') => text.starts_with("\"}"),
        Some(b'[') => text.starts_with("[stacktrace]") || text.starts_with("[previous exception]"),
        Some(b'N') => is_next_exception(text),
        Some(b'P') => is_php_trace_line(text),
        _ => false,
    }
}

/// Matches PHP's chained exception line, `Next RuntimeException: …`.
fn is_next_exception(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("Next ") else {
        return false;
    };
    let name = rest.split([' ', ':']).next().unwrap_or_default();
    name.contains("Exception") || name.contains("Error")
}

/// Matches `PHP Stack trace:` and Xdebug's frames, `PHP   1. {main}() …`.
fn is_php_trace_line(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("PHP ") else {
        return false;
    };
    let rest = rest.trim_start();
    if rest.starts_with("Stack trace:") {
        return true;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && rest.as_bytes().get(digits) == Some(&b'.')
}

#[cfg(test)]
#[path = "multiline_tests.rs"]
mod tests;
