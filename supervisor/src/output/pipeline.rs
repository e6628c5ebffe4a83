//! The compiled log settings of one process, shared by the captures of all
//! its instances.
//!
//! Each line a capture reads goes through these steps, in order:
//!
//! 1. Multiline: continuation lines join the pending record (see
//!    [`multiline`](super::multiline)). A line cut at the line cap is never
//!    joined, and each of its parts is its own record.
//! 2. Filters: the record's text, before redaction, is checked against the
//!    include and exclude patterns.
//! 3. JSON: a record that is one JSON object gives its level, message and
//!    fields (see [`jsonline`](super::jsonline)).
//! 4. Level: the JSON level, else the level detected in the first line,
//!    else the configured default level, else the stream's: INFO for stdout
//!    and WARN for stderr. The later parts of a cut line take the level of
//!    its first part.
//! 5. Minimum level: records below it are dropped.
//! 6. Redaction of the message and of every field.
//! 7. Formatting as JSON or text.
//!
//! Records dropped in steps 2 and 5 are counted here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::filter::LineFilter;
use super::level::LevelDetector;
use super::redact::Redactor;
use crate::config::{LineLevel, LogFormat, Multiline, ProcessLogging};

/// The compiled settings that turn one process's output lines into records.
///
/// Build one per process with [`Pipeline::new`], wrap it in an [`Arc`] and
/// pass it to every capture of the process through
/// [`Source::with_pipeline`](super::Source::with_pipeline). Sources without
/// one use the output's default pipeline, built from the global settings.
#[derive(Debug)]
pub struct Pipeline {
    pub(crate) format: LogFormat,
    pub(crate) min_level: LineLevel,
    pub(crate) detector: LevelDetector,
    /// Multiline settings, if joining is enabled.
    pub(crate) multiline: Option<Multiline>,
    pub(crate) json: bool,
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) filter: LineFilter,
    filtered: AtomicU64,
    below_min_level: AtomicU64,
}

impl Pipeline {
    /// Compiles a process's logging settings.
    pub fn new(logging: &ProcessLogging) -> Pipeline {
        let multiline = logging.multiline.enabled.then(|| logging.multiline.clone());
        Pipeline {
            format: logging.format,
            min_level: logging.min_level,
            detector: LevelDetector::new(&logging.level_detection),
            multiline,
            json: logging.json,
            redactor: Arc::new(Redactor::new(&logging.redaction)),
            filter: LineFilter::new(&logging.filters),
            filtered: AtomicU64::new(0),
            below_min_level: AtomicU64::new(0),
        }
    }

    /// Returns the redactor, for redacting other text the same way.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Returns the format of this process's records.
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// Returns how many records the include and exclude filters dropped.
    pub fn filtered_records(&self) -> u64 {
        self.filtered.load(Ordering::Relaxed)
    }

    /// Returns how many records were dropped for being below `min_level`.
    pub fn below_min_level_records(&self) -> u64 {
        self.below_min_level.load(Ordering::Relaxed)
    }

    pub(crate) fn count_filtered(&self) {
        self.filtered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_below_min_level(&self) {
        self.below_min_level.fetch_add(1, Ordering::Relaxed);
    }
}
