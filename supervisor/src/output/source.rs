//! The origin of a captured line: the process instance and the stream.

use std::sync::Arc;

use crate::config::LogLevel;

/// The process instance whose output is captured, as named in its records.
///
/// Cloning is cheap while `extra` is empty, because the names are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Process name from the configuration, written as `process`.
    pub process: Arc<str>,
    /// Instance name, such as `nginx-0`, written as `instance_id`.
    pub instance_id: Arc<str>,
    /// Further fields written after `stream` in every record of this source,
    /// such as `("hook", "pre-start")` for hook output. Keys must not repeat
    /// the standard record keys (`time`, `level`, `msg`, `process`,
    /// `instance_id`, `stream`, `truncated`, `part`), or the record contains
    /// that key twice.
    pub extra: Vec<(&'static str, String)>,
}

impl Source {
    /// Creates a source with no extra fields.
    pub fn new(process: impl Into<Arc<str>>, instance_id: impl Into<Arc<str>>) -> Source {
        Source {
            process: process.into(),
            instance_id: instance_id.into(),
            extra: Vec::new(),
        }
    }

    /// Adds a field that every record of this source carries.
    pub fn with_field(mut self, key: &'static str, value: impl Into<String>) -> Source {
        self.extra.push((key, value.into()));
        self
    }
}

/// The child's output stream that a pipe is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output, recorded at INFO.
    Stdout,
    /// Standard error, recorded at WARN.
    Stderr,
}

impl Stream {
    /// Returns the stream's name as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// Returns the level that lines of this stream are recorded at.
    pub fn level(self) -> LogLevel {
        match self {
            Stream::Stdout => LogLevel::Info,
            Stream::Stderr => LogLevel::Warn,
        }
    }
}

/// Returns a level's name as written in records: upper case, like `WARN`.
pub(crate) fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "TRACE",
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO",
        LogLevel::Warn => "WARN",
        LogLevel::Error => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_map_to_info_and_warn() {
        assert_eq!(level_name(Stream::Stdout.level()), "INFO");
        assert_eq!(level_name(Stream::Stderr.level()), "WARN");
    }

    #[test]
    fn with_field_keeps_insertion_order() {
        let source = Source::new("php", "php-0")
            .with_field("hook", "pre-start")
            .with_field("attempt", "2");

        assert_eq!(
            source.extra,
            vec![
                ("hook", "pre-start".to_owned()),
                ("attempt", "2".to_owned())
            ]
        );
    }
}
