//! Everything phpeek-pm prints: child output lines and its own events, as
//! one JSON or text record per line on stdout.
//!
//! # How it works
//!
//! [`Output::start`] spawns one OS thread, the only writer of stdout. Its
//! blocking writes stall only that thread when stdout is slow, never the
//! Tokio runtime. Producers format records themselves and send the writer
//! whole lines in batches over a channel, so no write contains part of a record
//! and records never interleave.
//!
//! - [`OutputHandle::capture`] spawns a task per child pipe. It reads up to
//!   64 KiB at a time, splits lines, runs them through the source's
//!   [`Pipeline`] (multiline joining, filters, JSON parsing, level detection,
//!   minimum level, redaction), formats the records into batches of about
//!   128 KiB, and waits for room under the in-flight bound before sending
//!   each. When stdout falls behind, captures wait, the child's pipe fills
//!   and the child blocks in `write(2)`: output is slowed, never dropped.
//!   With `log_overflow: drop`, captures drop and count the batches that
//!   don't fit instead.
//! - [`Output::layer`] is a `tracing` layer for phpeek-pm's own events,
//!   filtered by the configured [`LogLevel`], with string fields redacted
//!   by the global [`Redactor`]. Its records skip the bound
//!   and go over an unbounded channel, so emitting an event never waits for
//!   the writer. There are few of them.
//! - [`Output::shutdown`] writes everything queued and stops the thread.
//!
//! If stdout is closed (`EPIPE`), the writer keeps receiving and discarding
//! records, so children never block on a reader that is gone. This relies
//! on `SIGPIPE` being ignored, as the Rust runtime does at start.
//!
//! # Example
//!
//! ```no_run
//! use std::process::{Command, Stdio};
//!
//! use phpeek::config::LogLevel;
//! use phpeek::output::{Output, OutputSettings, Source, Stream};
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let output = Output::start(OutputSettings::default())?;
//! tracing_subscriber::registry().with(output.layer(LogLevel::Info)).init();
//!
//! let mut child = Command::new("php-fpm")
//!     .stdout(Stdio::piped())
//!     .stderr(Stdio::piped())
//!     .spawn()?;
//! let source = Source::new("php-fpm", "php-fpm-0");
//! let handle = output.handle();
//! let mut captures = Vec::new();
//! if let Some(stdout) = child.stdout.take() {
//!     captures.push(handle.capture(source.clone(), Stream::Stdout, stdout.into()));
//! }
//! if let Some(stderr) = child.stderr.take() {
//!     captures.push(handle.capture(source, Stream::Stderr, stderr.into()));
//! }
//!
//! // At shutdown, once the children have exited: let every capture reach
//! // end of file, then write what is queued.
//! for capture in captures {
//!     capture.await?;
//! }
//! output.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod capture;
mod card;
mod child;
mod clock;
mod escape;
mod fields;
mod filter;
mod handle;
mod jsonline;
mod layer;
mod level;
mod lines;
mod multiline;
mod pipeline;
mod record;
mod redact;
mod source;
mod writer;

#[cfg(test)]
mod testing;

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, Semaphore};
use tracing::Subscriber;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub use handle::OutputHandle;
pub use pipeline::Pipeline;
pub use redact::Redactor;
pub use source::{Source, Stream};
pub use writer::OutputTarget;

use crate::config::{
    Global, LogFormat, LogLevel, LogOverflow, Multiline, ProcessLogging, Redaction,
};
use handle::HandleSettings;
use layer::{tracing_level, OwnEvents};
use lines::MIN_LINE_BYTES;

/// Settings for [`Output::start`].
#[derive(Debug)]
pub struct OutputSettings {
    /// Format of phpeek-pm's own events and of child records whose source
    /// has no [`Pipeline`].
    pub format: LogFormat,
    /// Maximum length of a child output line written as one record, in bytes
    /// of raw output, raised to 4 if smaller. A longer line is cut at a UTF-8
    /// character boundary at or below the cap into records marked with
    /// `"truncated": true` and a 1-based `"part"`, so no byte is lost.
    pub max_line_bytes: usize,
    /// Maximum bytes of formatted child records queued or being written,
    /// raised to 1 if smaller. Captures stop reading while it is reached.
    /// Captures send batches of about 128 KiB (at most about 600 KiB), and
    /// a batch larger than the bound waits until nothing else is in flight.
    pub max_in_flight_bytes: usize,
    /// What captures do while the in-flight bound is reached: wait, or drop
    /// and count the records.
    pub overflow: LogOverflow,
    /// Multiline settings of the default pipeline.
    pub multiline: Multiline,
    /// Redaction settings of the default pipeline and of own events.
    pub redaction: Redaction,
    /// Destination of every record.
    pub target: OutputTarget,
}

impl OutputSettings {
    /// Creates settings for stdout from the `global` configuration section,
    /// with the default in-flight bound.
    pub fn from_config(global: &Global) -> OutputSettings {
        OutputSettings {
            format: global.log_format,
            max_line_bytes: global.log_max_line_bytes,
            overflow: global.log_overflow,
            multiline: global.log_multiline.clone(),
            redaction: global.log_redaction.clone(),
            ..OutputSettings::default()
        }
    }

    /// Returns the pipeline for sources without their own: these settings'
    /// format, multiline and redaction, and every other default.
    fn default_pipeline(&self) -> Pipeline {
        Pipeline::new(&ProcessLogging {
            format: self.format,
            multiline: self.multiline.clone(),
            redaction: self.redaction.clone(),
            ..ProcessLogging::default()
        })
    }
}

impl Default for OutputSettings {
    /// JSON on stdout, lines up to 64 KiB, 4 MiB in flight with blocking
    /// captures, and the default multiline and redaction settings.
    fn default() -> OutputSettings {
        OutputSettings {
            format: LogFormat::Json,
            max_line_bytes: 64 * 1024,
            max_in_flight_bytes: 4 * 1024 * 1024,
            overflow: LogOverflow::Block,
            multiline: Multiline::default(),
            redaction: Redaction::default(),
            target: OutputTarget::Stdout,
        }
    }
}

/// An error starting the output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Spawning the writer thread failed.
    #[error("failed to spawn the output writer thread")]
    SpawnWriter(#[source] std::io::Error),
}

/// The running output: the writer thread and the way to stop it.
///
/// Dropping it without [`shutdown`](Output::shutdown) sends the thread a
/// stop request, so it stops after writing what is queued. Drop does not
/// wait for that.
#[derive(Debug)]
pub struct Output {
    handle: OutputHandle,
    thread: Option<JoinHandle<()>>,
    /// Fires when the writer thread has written everything and is ending.
    stopped: Option<oneshot::Receiver<()>>,
}

impl Output {
    /// Starts the writer thread.
    ///
    /// # Errors
    ///
    /// Returns [`OutputError::SpawnWriter`] if the thread cannot be spawned.
    pub fn start(settings: OutputSettings) -> Result<Output, OutputError> {
        let (sender, receiver) = mpsc::channel();
        let (stopped_sender, stopped) = oneshot::channel();

        let limit = settings
            .max_in_flight_bytes
            .clamp(1, Semaphore::MAX_PERMITS);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let in_flight = Arc::new(Semaphore::new(limit as usize));
        let handle_settings = HandleSettings {
            in_flight_limit: limit,
            format: settings.format,
            max_line_bytes: settings.max_line_bytes.max(MIN_LINE_BYTES),
            overflow: settings.overflow,
            default_pipeline: Arc::new(settings.default_pipeline()),
        };

        let thread = writer::spawn(settings.target, receiver, in_flight.clone(), stopped_sender)
            .map_err(OutputError::SpawnWriter)?;
        let handle = OutputHandle::new(sender, in_flight, handle_settings);

        Ok(Output {
            handle,
            thread: Some(thread),
            stopped: Some(stopped),
        })
    }

    /// Returns a handle for capturing child output.
    pub fn handle(&self) -> OutputHandle {
        self.handle.clone()
    }

    /// Returns a `tracing` layer that writes events at `level` and above,
    /// with secrets in string fields redacted by the global rules.
    ///
    /// Install it once, typically with
    /// `tracing_subscriber::registry().with(output.layer(level)).init()`.
    /// Events emitted after shutdown are discarded.
    pub fn layer<S>(&self, level: LogLevel) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    {
        let filter = LevelFilter::from_level(tracing_level(level));
        OwnEvents::new(self.handle()).with_filter(filter)
    }

    /// Writes everything queued so far, then stops the writer thread.
    ///
    /// Records of a capture are all queued once its task has finished, so
    /// await the [`capture`](OutputHandle::capture) handles first to keep
    /// their last lines. A capture still running loses whatever it sends
    /// after this call, and then ends. This waits as long as stdout takes to
    /// accept the queued records; wrap it in `tokio::time::timeout` to bound
    /// that.
    pub async fn shutdown(mut self) {
        self.handle.send_stop();
        if let Some(stopped) = self.stopped.take() {
            // An error means the thread ended without sending, which is
            // just as final.
            let _ = stopped.await;
        }
        self.join_thread();
    }

    /// Does what [`shutdown`](Output::shutdown) does, blocking the calling
    /// thread. Use it outside a Tokio runtime.
    pub fn shutdown_blocking(mut self) {
        self.handle.send_stop();
        self.join_thread();
    }

    fn join_thread(&mut self) {
        if let Some(thread) = self.thread.take() {
            // The writer thread has no panicking code path, and there is
            // nothing left to do for it if it did panic.
            let _ = thread.join();
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.send_stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::{Read as _, Write as _};
    use std::os::fd::AsRawFd as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use nix::fcntl::{fcntl, FcntlArg};

    use super::*;
    use testing::{parse_lines, pipe};

    const LINE_BYTES: usize = 100;

    /// Waits until `counter` has not changed for 300 ms and returns it.
    async fn wait_until_stalled(counter: &AtomicUsize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = counter.load(Ordering::SeqCst);
        let mut unchanged_since = Instant::now();
        while unchanged_since.elapsed() < Duration::from_millis(300) {
            assert!(Instant::now() < deadline, "producer never stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = counter.load(Ordering::SeqCst);
            if now != last {
                last = now;
                unchanged_since = Instant::now();
            }
        }
        last
    }

    #[tokio::test]
    async fn slow_target_stalls_producer_and_loses_nothing() {
        const LINES: usize = 40_000;
        const TOTAL: usize = LINES * LINE_BYTES;

        let (target_read, target_write) = pipe();
        // The smallest pipe Linux allows: one page.
        fcntl(target_write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(4096)).expect("shrink pipe");
        let output = Output::start(OutputSettings {
            max_in_flight_bytes: 64 * 1024,
            target: OutputTarget::Fd(target_write),
            ..OutputSettings::default()
        })
        .expect("start output");

        let (child_read, child_write) = pipe();
        let written = Arc::new(AtomicUsize::new(0));
        let producer = thread::spawn({
            let written = written.clone();
            move || {
                let mut pipe = File::from(child_write);
                for number in 0..LINES {
                    let line = format!("{number:09}{}\n", "x".repeat(LINE_BYTES - 10));
                    pipe.write_all(line.as_bytes())?;
                    written.fetch_add(LINE_BYTES, Ordering::SeqCst);
                }
                std::io::Result::Ok(())
            }
        });
        let source = Source::new("flood", "flood-0");
        let capture = output.handle().capture(source, Stream::Stdout, child_read);

        // The test does not read the target yet, so everything stops once the
        // child pipe, one read, the in-flight bound and the target pipe are full.
        let stalled_at = wait_until_stalled(&written).await;
        assert!(
            stalled_at < 512 * 1024,
            "producer wrote {stalled_at} bytes unread"
        );

        let reader = thread::spawn(move || {
            let mut text = String::new();
            File::from(target_read)
                .read_to_string(&mut text)
                .map(|_| text)
        });
        capture.await.expect("capture task");
        producer
            .join()
            .expect("producer thread")
            .expect("write lines");
        assert_eq!(written.load(Ordering::SeqCst), TOTAL);
        output.shutdown().await;
        let text = reader.join().expect("reader thread").expect("read target");

        let records = parse_lines(&text);
        assert_eq!(records.len(), LINES);
        for (number, record) in records.iter().enumerate() {
            let msg = record["msg"].as_str().expect("msg is a string");
            assert_eq!(msg.get(..9), Some(format!("{number:09}").as_str()));
        }
    }

    #[tokio::test]
    async fn capture_after_shutdown_ends() {
        let (target_read, target_write) = pipe();
        let output = Output::start(OutputSettings {
            target: OutputTarget::Fd(target_write),
            ..OutputSettings::default()
        })
        .expect("start output");
        let handle = output.handle();
        output.shutdown().await;

        let (child_read, child_write) = pipe();
        File::from(child_write)
            .write_all(b"too late\n")
            .expect("write line");
        let source = Source::new("late", "late-0");
        handle
            .capture(source, Stream::Stdout, child_read)
            .await
            .expect("capture task");

        let mut text = String::new();
        File::from(target_read)
            .read_to_string(&mut text)
            .expect("read target");
        assert_eq!(text, "");
    }

    #[test]
    fn dropping_output_stops_writer_after_queued_records() {
        let (target_read, target_write) = pipe();
        let output = Output::start(OutputSettings {
            target: OutputTarget::Fd(target_write),
            ..OutputSettings::default()
        })
        .expect("start output");
        let handle = output.handle();

        handle.send_unbounded(b"queued\n".to_vec());
        drop(output);

        // End of file shows that the thread stopped and closed the target.
        let mut text = String::new();
        File::from(target_read)
            .read_to_string(&mut text)
            .expect("read target");
        assert_eq!(text, "queued\n");
    }

    /// Measures lines per second through capture and writer into /dev/null.
    /// Run with `cargo test --release -- --ignored --nocapture throughput`.
    #[tokio::test]
    #[ignore = "benchmark; only meaningful in release builds"]
    async fn throughput_of_100_byte_lines() {
        const LINES: usize = 5_000_000;
        const LINES_PER_WRITE: usize = 640;

        let null = File::options()
            .write(true)
            .open("/dev/null")
            .expect("open /dev/null");
        let output = Output::start(OutputSettings {
            target: OutputTarget::Fd(null.into()),
            ..OutputSettings::default()
        })
        .expect("start output");
        let (child_read, child_write) = pipe();
        let line = format!("{}\n", "x".repeat(LINE_BYTES - 1));
        let block = line.repeat(LINES_PER_WRITE);

        let started = Instant::now();
        let cpu_before = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .expect("getrusage");
        let producer = thread::spawn(move || {
            let mut pipe = File::from(child_write);
            for _ in 0..LINES / LINES_PER_WRITE {
                pipe.write_all(block.as_bytes())?;
            }
            std::io::Result::Ok(())
        });
        let source = Source::new("bench", "bench-0");
        output
            .handle()
            .capture(source, Stream::Stdout, child_read)
            .await
            .expect("capture");
        output.shutdown().await;
        let elapsed = started.elapsed();
        let cpu_after = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .expect("getrusage");
        producer
            .join()
            .expect("producer thread")
            .expect("write lines");

        let cpu = |usage: nix::sys::resource::Usage| {
            let user = usage.user_time();
            let system = usage.system_time();
            Duration::new(user.tv_sec() as u64, user.tv_usec() as u32 * 1000)
                + Duration::new(system.tv_sec() as u64, system.tv_usec() as u32 * 1000)
        };
        let cpu_used = cpu(cpu_after) - cpu(cpu_before);
        let lines = (LINES / LINES_PER_WRITE * LINES_PER_WRITE) as f64;
        println!(
            "{lines} lines in {elapsed:?}: {:.0} lines/s wall, {:.0} lines per CPU second \
             (CPU {cpu_used:?}, producer included)",
            lines / elapsed.as_secs_f64(),
            lines / cpu_used.as_secs_f64(),
        );
    }
}
