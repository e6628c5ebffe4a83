//! Recent output of each process, kept in bounded memory for the management
//! API's logs endpoint.
//!
//! The output capture hands every batch of formatted records to
//! [`LogRings::push_batch`]; each record is one line, in the configured log
//! format, exactly as phpeek-pm wrote it to stdout. A ring keeps at most
//! [`MAX_RECORDS`] records and [`MAX_BYTES`] bytes per process and drops the
//! oldest first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// Records kept per process.
pub const MAX_RECORDS: usize = 1000;

/// Bytes of records kept per process.
pub const MAX_BYTES: usize = 256 * 1024;

/// Maximum size of a stored record. Longer ones are cut to this many bytes,
/// so one huge line cannot push out everything else.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// One ring of recent records per process name.
#[derive(Debug)]
pub struct LogRings {
    rings: HashMap<String, Mutex<Ring>>,
}

#[derive(Debug, Default)]
struct Ring {
    records: VecDeque<String>,
    bytes: usize,
}

impl LogRings {
    /// Creates an empty ring for each of `processes`. Records of other
    /// sources, such as global hooks, are not kept.
    pub fn new(processes: impl IntoIterator<Item = String>) -> LogRings {
        let rings = processes
            .into_iter()
            .map(|name| (name, Mutex::default()))
            .collect();
        LogRings { rings }
    }

    /// Appends the newline-terminated records in `batch` to the ring of
    /// `process`, dropping the oldest records past the bounds.
    pub fn push_batch(&self, process: &str, batch: &[u8]) {
        let Some(ring) = self.rings.get(process) else {
            return;
        };
        let mut ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
        for record in batch.split(|byte| *byte == b'\n') {
            if !record.is_empty() {
                ring.push(cut(record));
            }
        }
    }

    /// Returns up to `limit` of the newest records of `process`, oldest
    /// first, or none for a process that has no ring.
    pub fn recent(&self, process: &str, limit: usize) -> Option<Vec<String>> {
        let ring = self.rings.get(process)?;
        let ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
        let skip = ring.records.len().saturating_sub(limit);
        Some(ring.records.iter().skip(skip).cloned().collect())
    }
}

impl Ring {
    fn push(&mut self, record: String) {
        self.bytes += record.len();
        self.records.push_back(record);
        while self.records.len() > MAX_RECORDS || self.bytes > MAX_BYTES {
            match self.records.pop_front() {
                Some(oldest) => self.bytes -= oldest.len(),
                None => break,
            }
        }
    }
}

/// Converts a record to text, cut to [`MAX_RECORD_BYTES`] at a character
/// boundary.
fn cut(record: &[u8]) -> String {
    let text = String::from_utf8_lossy(record);
    if text.len() <= MAX_RECORD_BYTES {
        return text.into_owned();
    }
    let mut end = MAX_RECORD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rings() -> LogRings {
        LogRings::new(["web".to_owned()])
    }

    #[test]
    fn batch_splits_into_records() {
        let rings = rings();
        rings.push_batch("web", b"one\ntwo\n");
        rings.push_batch("web", b"three\n");

        assert_eq!(
            rings.recent("web", 10),
            Some(vec!["one".into(), "two".into(), "three".into()])
        );
        assert_eq!(rings.recent("web", 1), Some(vec!["three".into()]));
    }

    #[test]
    fn unknown_process_has_no_ring() {
        let rings = rings();
        rings.push_batch("other", b"x\n");

        assert_eq!(rings.recent("other", 10), None);
    }

    #[test]
    fn record_count_is_bounded() {
        let rings = rings();
        for number in 0..(MAX_RECORDS + 5) {
            rings.push_batch("web", format!("{number}\n").as_bytes());
        }
        let kept = rings.recent("web", usize::MAX).unwrap_or_default();

        assert_eq!(kept.len(), MAX_RECORDS);
        assert_eq!(kept[0], "5");
    }

    #[test]
    fn byte_size_is_bounded() {
        let rings = rings();
        let line = "x".repeat(MAX_RECORD_BYTES - 1) + "\n";
        for _ in 0..100 {
            rings.push_batch("web", line.as_bytes());
        }
        let kept = rings.recent("web", usize::MAX).unwrap_or_default();
        let bytes: usize = kept.iter().map(String::len).sum();

        assert!(bytes <= MAX_BYTES, "{bytes} bytes kept");
        assert_eq!(kept.len(), MAX_BYTES / (MAX_RECORD_BYTES - 1));
    }

    #[test]
    fn huge_record_is_cut_at_char_boundary() {
        let rings = rings();
        let record = "é".repeat(MAX_RECORD_BYTES) + "\n";
        rings.push_batch("web", record.as_bytes());
        let kept = rings.recent("web", 1).unwrap_or_default();

        assert_eq!(kept[0].len(), MAX_RECORD_BYTES);
        assert!(kept[0].chars().all(|c| c == 'é'));
    }
}
