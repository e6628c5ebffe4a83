//! The last lines a run wrote, for the body of a failure ping.
//!
//! Each of the run's pipes is relayed through a task that keeps a copy of
//! the latest bytes and passes everything on, unchanged, to a second pipe
//! that the output module captures. The run's records are therefore the
//! same as any process's.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use crate::output::{OutputHandle, Source, Stream};

/// Most bytes of output kept.
pub(crate) const TAIL_BYTES: usize = 10 * 1024;

/// Most lines of output put in a failure body.
pub(crate) const TAIL_LINES: usize = 20;

/// The latest output of one run, stdout and stderr in the order read.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    bytes: Mutex<VecDeque<u8>>,
}

impl Tail {
    fn push(&self, chunk: &[u8]) {
        let mut bytes = self
            .bytes
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        bytes.extend(chunk);
        let excess = bytes.len().saturating_sub(TAIL_BYTES);
        bytes.drain(..excess);
    }

    /// Returns the last [`TAIL_LINES`] lines, at most [`TAIL_BYTES`] bytes,
    /// with invalid UTF-8 replaced.
    pub(crate) fn text(&self) -> String {
        let bytes: Vec<u8> = {
            let bytes = self
                .bytes
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            bytes.iter().copied().collect()
        };
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\n');
        let start = text
            .rmatch_indices('\n')
            .nth(TAIL_LINES - 1)
            .map_or(0, |(index, _)| index + 1);
        text[start..].to_owned()
    }
}

/// Relays `pipe`, a read end of the run's output, to the output module as
/// `source` and `stream`, keeping a copy in `tail`.
///
/// The returned task ends at end of file, which comes only once every
/// process holding the write end has closed it. When the relay pipe can't
/// be set up, `pipe` is captured directly and the tail stays empty.
pub(crate) fn relay(
    output: &OutputHandle,
    source: Source,
    stream: Stream,
    pipe: OwnedFd,
    tail: Arc<Tail>,
) -> JoinHandle<()> {
    let relay_pipe = pipe2(OFlag::O_CLOEXEC)
        .ok()
        .and_then(|(read, write)| Some((read, pipe::Sender::from_owned_fd(write).ok()?)));
    let Some((relay_read, writer)) = relay_pipe else {
        tracing::warn!(
            process = &*source.process,
            instance_id = &*source.instance_id,
            "could not relay run output; failure pings carry no output"
        );
        return output.capture(source, stream, pipe);
    };
    output.capture(source, stream, relay_read);
    tokio::spawn(async move {
        // Registering the pipe only fails outside a runtime with I/O.
        if let Ok(reader) = pipe::Receiver::from_owned_fd(pipe) {
            copy(reader, writer, tail).await;
        }
    })
}

async fn copy(mut reader: pipe::Receiver, mut writer: pipe::Sender, tail: Arc<Tail>) {
    let mut chunk = vec![0; 16 * 1024];
    let mut forwarding = true;
    loop {
        let read = match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        tail.push(&chunk[..read]);
        // If the capture is gone, keep draining so the run never blocks.
        if forwarding && writer.write_all(&chunk[..read]).await.is_err() {
            forwarding = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_last_twenty_lines() {
        let tail = Tail::default();
        for number in 1..=30 {
            tail.push(format!("line {number}\n").as_bytes());
        }
        let text = tail.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.first(), Some(&"line 11"));
        assert_eq!(lines.last(), Some(&"line 30"));
    }

    #[test]
    fn keeps_last_ten_kib() {
        let tail = Tail::default();
        tail.push(&vec![b'a'; 3 * TAIL_BYTES]);
        tail.push(b"end");
        let text = tail.text();
        assert_eq!(text.len(), TAIL_BYTES);
        assert!(text.ends_with("aend"));
    }

    #[test]
    fn short_output_is_kept_whole() {
        let tail = Tail::default();
        tail.push(b"only\nthis");
        assert_eq!(tail.text(), "only\nthis");
    }
}
