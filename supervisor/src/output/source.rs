//! The origin of a captured line: the process instance and the stream.

use std::sync::Arc;

use super::pipeline::Pipeline;
use crate::config::LineLevel;

/// The process instance whose output is captured, as named in its records.
///
/// Cloning is cheap while `extra` is empty, because the names and the
/// pipeline are shared.
#[derive(Debug, Clone)]
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
    /// How the lines become records. When unset, the output's default
    /// pipeline, built from the global settings, is used.
    pub pipeline: Option<Arc<Pipeline>>,
}

impl Source {
    /// Creates a source with no extra fields.
    pub fn new(process: impl Into<Arc<str>>, instance_id: impl Into<Arc<str>>) -> Source {
        Source {
            process: process.into(),
            instance_id: instance_id.into(),
            extra: Vec::new(),
            pipeline: None,
        }
    }

    /// Sets the pipeline that turns this source's lines into records.
    pub fn with_pipeline(mut self, pipeline: Arc<Pipeline>) -> Source {
        self.pipeline = Some(pipeline);
        self
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
    /// Standard output, whose lines without a level are INFO.
    Stdout,
    /// Standard error, whose lines without a level are WARN.
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

    /// Returns the level of this stream's lines that state none.
    pub fn level(self) -> LineLevel {
        match self {
            Stream::Stdout => LineLevel::Info,
            Stream::Stderr => LineLevel::Warn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_map_to_info_and_warn() {
        assert_eq!(Stream::Stdout.level().as_str(), "INFO");
        assert_eq!(Stream::Stderr.level().as_str(), "WARN");
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
