//! Capturing a child's stdout or stderr pipe as records.

use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;
use std::time::SystemTime;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::handle::OutputHandle;
use super::record::ChildRecords;
use super::source::{Source, Stream};

/// Bytes asked for in one read of a child's pipe, the default capacity of a
/// Linux pipe.
const READ_BYTES: usize = 64 * 1024;

impl OutputHandle {
    /// Spawns a task that reads `pipe`, the read end of a child's stdout or
    /// stderr, and writes each line as a record until end of file.
    ///
    /// Lines from stdout are recorded at INFO and lines from stderr at WARN.
    /// They are never filtered by the configured log level. The pipe is set
    /// to non-blocking mode. Read errors end the capture like end of file,
    /// after an own WARN event.
    ///
    /// While the writer is behind by more than the in-flight bound, the task
    /// stops reading, so the child blocks once its pipe is full and no line
    /// is dropped. Awaiting the returned handle waits until every record of
    /// this pipe is queued, which [`Output::shutdown`](super::Output::shutdown)
    /// then writes. Aborting the task drops the unfinished line and closes
    /// the pipe. The task also ends, closing the pipe, once the output has
    /// shut down.
    ///
    /// # Panics
    ///
    /// Panics if called outside a Tokio runtime with I/O enabled.
    pub fn capture(&self, source: Source, stream: Stream, pipe: OwnedFd) -> JoinHandle<()> {
        let records = ChildRecords::new(self.format(), self.max_line_bytes(), &source, stream);
        let capture = Capture {
            output: self.clone(),
            source,
            stream,
            records,
        };

        // The receiver is made here, not in the task, so the runtime check
        // happens in the caller, as documented.
        let receiver = pipe::Receiver::from_owned_fd(pipe);
        tokio::spawn(capture.run(receiver))
    }
}

/// The state of one running capture.
struct Capture {
    output: OutputHandle,
    source: Source,
    stream: Stream,
    records: ChildRecords,
}

impl Capture {
    async fn run(mut self, receiver: io::Result<pipe::Receiver>) {
        let mut receiver = match receiver {
            Ok(receiver) => receiver,
            Err(error) => {
                tracing::warn!(
                    process = &*self.source.process,
                    instance_id = &*self.source.instance_id,
                    stream = self.stream.as_str(),
                    error = %error,
                    "child output is not a readable pipe; not captured"
                );
                return;
            }
        };

        let mut chunk = vec![0; READ_BYTES];
        let mut batch_capacity = 0;
        loop {
            let read = match receiver.read(&mut chunk).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(
                        process = &*self.source.process,
                        instance_id = &*self.source.instance_id,
                        stream = self.stream.as_str(),
                        error = %error,
                        "reading child output failed; capture ended"
                    );
                    break;
                }
            };

            // Records take about twice the bytes of short lines, so the
            // last batch's size is the best guess for the next one.
            let mut batch = Vec::with_capacity(batch_capacity.max(2 * read));
            self.records
                .push(&chunk[..read], SystemTime::now(), &mut batch);
            batch_capacity = batch.len();
            if !self.output.send_bounded(batch).await {
                return;
            }
        }

        let mut batch = Vec::new();
        self.records.finish(SystemTime::now(), &mut batch);
        self.output.send_bounded(batch).await;
    }
}
