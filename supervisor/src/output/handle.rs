//! The cloneable handle that sends formatted records to the writer thread.

use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};

use tokio::sync::{watch, Semaphore};

use super::writer::Message;
use crate::config::LogFormat;
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
    /// Number of capture tasks still reading a pipe.
    active_captures: watch::Sender<usize>,
    /// Rings in which captures also keep each process's recent records,
    /// once set.
    recent: OnceLock<Arc<LogRings>>,
}

impl OutputHandle {
    pub(crate) fn new(
        messages: Sender<Message>,
        in_flight: Arc<Semaphore>,
        in_flight_limit: u32,
        format: LogFormat,
        max_line_bytes: usize,
    ) -> OutputHandle {
        OutputHandle {
            shared: Arc::new(Shared {
                messages,
                in_flight,
                in_flight_limit,
                format,
                max_line_bytes,
                active_captures: watch::channel(0).0,
                recent: OnceLock::new(),
            }),
        }
    }

    /// Returns the format that records are written in.
    pub fn format(&self) -> LogFormat {
        self.shared.format
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
