//! Helpers shared by the output tests: pipes, outputs written to a file,
//! and parsing what they wrote.

use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use serde_json::Value;
use tempfile::NamedTempFile;

use super::{Output, OutputSettings, OutputTarget};
use crate::config::LogFormat;

/// Creates a pipe that children spawned by other tests don't inherit.
pub(crate) fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("create pipe")
}

/// An output writing to a temporary file, and that file.
pub(crate) struct FileOutput {
    pub(crate) output: Output,
    file: NamedTempFile,
}

impl FileOutput {
    pub(crate) fn start(format: LogFormat, max_line_bytes: usize) -> FileOutput {
        FileOutput::with_settings(OutputSettings {
            format,
            max_line_bytes,
            ..OutputSettings::default()
        })
    }

    /// Starts an output with `settings`, whose target is replaced by the file.
    pub(crate) fn with_settings(settings: OutputSettings) -> FileOutput {
        let file = NamedTempFile::new().expect("create temporary file");
        let target = file.reopen().expect("reopen temporary file");
        let output = Output::start(OutputSettings {
            target: OutputTarget::Fd(target.into()),
            ..settings
        })
        .expect("start output");
        FileOutput { output, file }
    }

    /// Returns what the output has written so far.
    pub(crate) fn written(&self) -> String {
        std::fs::read_to_string(self.file.path()).expect("output is UTF-8")
    }

    /// Shuts the output down and returns everything it wrote.
    pub(crate) async fn finish(self) -> String {
        self.output.shutdown().await;
        std::fs::read_to_string(self.file.path()).expect("output is UTF-8")
    }

    /// Shuts the output down from outside a runtime and returns its text.
    pub(crate) fn finish_blocking(self) -> String {
        self.output.shutdown_blocking();
        std::fs::read_to_string(self.file.path()).expect("output is UTF-8")
    }
}

/// Parses every line of `output` as a JSON object.
pub(crate) fn parse_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{line:?}: {error}"));
            assert!(record.is_object(), "not an object: {line:?}");
            record
        })
        .collect()
}
