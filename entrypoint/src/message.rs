//! Messages on stderr: one plain line per step, each starting with
//! `phpeek-entrypoint: `.
//!
//! stdout is left to the programs the entrypoint runs and replaces itself
//! with. A failed write to stderr is ignored, because there is nowhere left
//! to report it.

use std::fmt::Display;
use std::io::Write;

/// Prints one line about a step.
pub(crate) fn info(text: impl Display) {
    let _ = writeln!(std::io::stderr(), "phpeek-entrypoint: {text}");
}

/// Prints one line about an error that stops the start.
pub(crate) fn error(text: impl Display) {
    let _ = writeln!(std::io::stderr(), "phpeek-entrypoint: error: {text}");
}

/// Copies a validator's output to stderr byte for byte.
pub(crate) fn passthrough(output: &[u8]) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(output);
    let _ = stderr.flush();
}
