//! The cloneable handle that sends formatted records to the writer thread.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};

use tokio::sync::{watch, Semaphore, TryAcquireError};

use super::pipeline::Pipeline;
use super::redact::Redactor;
use super::writer::Message;
use crate::config::{LogFormat, LogOverflow};
use crate::logring::LogRings;

/// A cheap, cloneable handle for sending records to the output.
///
/// Get one from [`Output::handle`](super::Output::handle) and use it to
/// [`capture`](OutputHandle::capture) child output. Records sent after the
/// output has shut down are discarded.
#[derive(Debug, Clone)]
pub struct OutputHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    messages: Sender<Message>,
    /// Bytes of child records that may be queued or being written. Captures
    /// take permits before sending and the writer thread returns them after
    /// writing, so a slow target makes captures wait.
    in_flight: Arc<Semaphore>,
    /// Permits in `in_flight` when nothing is queued.
    in_flight_limit: u32,
    format: LogFormat,
    max_line_bytes: usize,
    /// What captures do while the in-flight bound is reached.
    overflow: LogOverflow,
    /// Child records dropped in [`LogOverflow::Drop`] mode.
    dropped: AtomicU64,
    /// The pipeline of sources that don't carry their own.
    default_pipeline: Arc<Pipeline>,
    /// Number of capture tasks still reading a pipe.
    active_captures: watch::Sender<usize>,
    /// Rings in which captures also keep each process's recent records,
    /// once set.
    recent: OnceLock<Arc<LogRings>>,
}

/// The settings an [`OutputHandle`] is created with.
pub(crate) struct HandleSettings {
    pub(crate) in_flight_limit: u32,
    pub(crate) format: LogFormat,
    pub(crate) max_line_bytes: usize,
    pub(crate) overflow: LogOverflow,
    pub(crate) default_pipeline: Arc<Pipeline>,
}

/// What became of a batch of child records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Queued for writing.
    Queued,
    /// Dropped because the writer was behind, with the number of records.
    Dropped(u64),
    /// The output has stopped, so nothing more will be written.
    Closed,
}

impl OutputHandle {
    pub(crate) fn new(
        messages: Sender<Message>,
        in_flight: Arc<Semaphore>,
        settings: HandleSettings,
    ) -> OutputHandle {
        OutputHandle {
            shared: Arc::new(Shared {
                messages,
                in_flight,
                in_flight_limit: settings.in_flight_limit,
                format: settings.format,
                max_line_bytes: settings.max_line_bytes,
                overflow: settings.overflow,
                dropped: AtomicU64::new(0),
                default_pipeline: settings.default_pipeline,
                active_captures: watch::channel(0).0,
                recent: OnceLock::new(),
            }),
        }
    }

    /// Returns the format of phpeek-pm's own events and of child records
    /// without a pipeline of their own.
    pub fn format(&self) -> LogFormat {
        self.shared.format
    }

    /// Returns the pipeline used for sources that don't carry their own.
    pub fn default_pipeline(&self) -> &Arc<Pipeline> {
        &self.shared.default_pipeline
    }

    /// Returns the redactor of the global settings, for text that phpeek-pm
    /// writes elsewhere, such as the body of a heartbeat request.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.shared.default_pipeline.redactor
    }

    /// Returns `text` with secrets replaced by the global redaction rules.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.redactor().redact(text)
    }

    /// Returns how many child records were dropped because the writer was
    /// behind, which happens only with `log_overflow: drop`.
    pub fn dropped_records(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Returns the longest child output line kept in one record, in bytes.
    pub fn max_line_bytes(&self) -> usize {
        self.shared.max_line_bytes
    }

    /// Queues child records once the in-flight bound allows, waiting while
    /// the writer is behind. Returns false if the output has stopped, so
    /// nothing more will be written.
    ///
    /// A batch larger than the whole bound waits until nothing else is in
    /// flight, so it can still pass.
    pub(crate) async fn send_bounded(&self, bytes: Vec<u8>) -> bool {
        if bytes.is_empty() {
            return true;
        }

        let size = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let permits = size.min(self.shared.in_flight_limit);
        match self.shared.in_flight.acquire_many(permits).await {
            // The writer thread adds the permits back after writing.
            Ok(taken) => taken.forget(),
            Err(_closed) => return false,
        }

        let message = Message::Records { bytes, permits };
        self.shared.messages.send(message).is_ok()
    }

    /// Queues child records by the overflow mode: waiting for room while the
    /// writer is behind, or dropping and counting them.
    pub(crate) async fn send_child(&self, bytes: Vec<u8>) -> Sent {
        if self.shared.overflow == LogOverflow::Block {
            let queued = self.send_bounded(bytes).await;
            return if queued { Sent::Queued } else { Sent::Closed };
        }
        if bytes.is_empty() {
            return Sent::Queued;
        }

        let size = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let permits = size.min(self.shared.in_flight_limit);
        match self.shared.in_flight.try_acquire_many(permits) {
            Ok(taken) => taken.forget(),
            Err(TryAcquireError::Closed) => return Sent::Closed,
            Err(TryAcquireError::NoPermits) => {
                let records = memchr::memchr_iter(b'\n', &bytes).count() as u64;
                self.shared.dropped.fetch_add(records, Ordering::Relaxed);
                return Sent::Dropped(records);
            }
        }
        let message = Message::Records { bytes, permits };
        match self.shared.messages.send(message) {
            Ok(()) => Sent::Queued,
            Err(_) => Sent::Closed,
        }
    }

    /// Queues records without waiting, for phpeek-pm's own events. The
    /// channel is unbounded, so sending never blocks the code that emits them.
    pub(crate) fn send_unbounded(&self, bytes: Vec<u8>) {
        let message = Message::Records { bytes, permits: 0 };
        // An error means the output has shut down, so the event is discarded.
        let _ = self.shared.messages.send(message);
    }

    /// Waits until every capture has reached end of file, or `limit` passed.
    ///
    /// Call it after the children are gone and before
    /// [`Output::shutdown`](super::Output::shutdown), so final lines without
    /// a newline are written. Returns false on timeout, which happens when
    /// a process outside phpeek-pm's control still holds a pipe open.
    pub async fn wait_for_captures(&self, limit: std::time::Duration) -> bool {
        let mut active = self.shared.active_captures.subscribe();
        let idle = tokio::time::timeout(limit, active.wait_for(|count| *count == 0)).await;
        matches!(idle, Ok(Ok(_)))
    }

    /// Counts a capture as running until the returned guard is dropped.
    pub(crate) fn track_capture(&self) -> CaptureGuard {
        self.shared.active_captures.send_modify(|count| *count += 1);
        CaptureGuard {
            handle: self.clone(),
        }
    }

    /// Makes captures started from now on also append their records to
    /// `rings`, for the management API. Only the first call has an effect.
    pub fn keep_recent(&self, rings: Arc<LogRings>) {
        let _ = self.shared.recent.set(rings);
    }

    /// Returns the rings set by [`keep_recent`](Self::keep_recent).
    pub(crate) fn recent(&self) -> Option<Arc<LogRings>> {
        self.shared.recent.get().cloned()
    }

    /// Asks the writer thread to stop after writing what is queued.
    pub(crate) fn send_stop(&self) {
        let _ = self.shared.messages.send(Message::Stop);
    }
}

/// Marks one capture as running; dropping it marks the capture as done.
pub(crate) struct CaptureGuard {
    handle: OutputHandle,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let active = &self.handle.shared.active_captures;
        active.send_modify(|count| *count = count.saturating_sub(1));
    }
}
