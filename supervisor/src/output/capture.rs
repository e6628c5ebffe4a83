//! Capturing a child's stdout or stderr pipe as records.

use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;
use std::time::SystemTime;

use tokio::net::unix::pipe;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use super::child::ChildRecords;
use super::handle::{OutputHandle, Sent};
use super::source::{Source, Stream};
use crate::logring::LogRings;

/// Maximum bytes requested in one read of a child's pipe, the default
/// capacity of a Linux pipe.
const READ_BYTES: usize = 64 * 1024;

/// Size at which a batch of records is sent to the writer.
const BATCH_BYTES: usize = 128 * 1024;

/// Input formatted between checks of the batch size. Empty lines format to
/// about 100 times their size, so a batch overshoots by at most about
/// 450 KiB.
const SLICE_BYTES: usize = 4 * 1024;

impl OutputHandle {
    /// Spawns a task that reads `pipe`, the read end of a child's stdout or
    /// stderr, and writes its lines as records until end of file.
    ///
    /// The source's [`Pipeline`](super::Pipeline), or the output's default
    /// one, decides how lines become records: joined, filtered, parsed,
    /// levelled and redacted. Lines without a level are INFO on stdout and
    /// WARN on stderr. The configured level of own events never filters
    /// them. The pipe is set to non-blocking mode. Read errors end the
    /// capture like end of file, after an own WARN event. A record's time
    /// is when its first bytes were read, so lines read together share a
    /// timestamp. A record waiting for continuation lines is written at its
    /// multiline deadline even if the child writes nothing more.
    ///
    /// While the writer is behind by more than the in-flight bound, the task
    /// stops reading, so the child blocks once its pipe is full and no line
    /// is dropped. With `log_overflow: drop` it keeps reading and drops the
    /// batches that don't fit, counting them. Awaiting the returned handle
    /// waits until every record of this pipe is queued, which
    /// [`Output::shutdown`](super::Output::shutdown) then writes. End of file comes only once every process holding the
    /// write end has closed it, which includes children of the child that
    /// inherited it. Aborting the task drops the unfinished line and closes
    /// the pipe. The task also ends, closing the pipe, once the output has
    /// shut down.
    ///
    /// # Panics
    ///
    /// Panics if called outside a Tokio runtime with I/O enabled.
    pub fn capture(&self, source: Source, stream: Stream, pipe: OwnedFd) -> JoinHandle<()> {
        let pipeline = source
            .pipeline
            .clone()
            .unwrap_or_else(|| self.default_pipeline().clone());
        let records = ChildRecords::new(pipeline, self.max_line_bytes(), &source, stream);
        let capture = Capture {
            output: self.clone(),
            source,
            stream,
            records,
            dropped: 0,
            recent: self.recent(),
        };

        // The receiver is made here, not in the task, so the runtime check
        // happens in the caller, as documented.
        let receiver = pipe::Receiver::from_owned_fd(pipe);
        let guard = self.track_capture();
        tokio::spawn(async move {
            capture.run(receiver).await;
            drop(guard);
        })
    }
}

/// The state of one running capture.
struct Capture {
    output: OutputHandle,
    source: Source,
    stream: Stream,
    records: ChildRecords,
    /// Records dropped since the last batch that was queued.
    dropped: u64,
    /// Rings of recent records that the management API reads, if enabled.
    recent: Option<std::sync::Arc<LogRings>>,
}

impl Capture {
    async fn run(mut self, receiver: io::Result<pipe::Receiver>) {
        let receiver = match receiver {
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

        loop {
            let deadline = self.records.deadline();
            // Waiting for readiness is cancel safe, so the timer may win
            // without losing bytes.
            let ready = tokio::select! {
                ready = receiver.readable() => ready,
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    if !self.send_due().await {
                        return;
                    }
                    continue;
                }
            };
            // The buffer exists only while there is something to read, so an
            // idle capture holds no memory: with two pipes per child, a
            // buffer kept for each pipe's whole life was most of phpeek-pm's
            // idle memory.
            let mut chunk = Vec::with_capacity(READ_BYTES);
            let result = ready.and_then(|()| receiver.try_read_buf(&mut chunk));
            let read = match result {
                Ok(0) => break,
                Ok(read) => read,
                Err(error)
                    if matches!(error.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) =>
                {
                    continue
                }
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

            if !self.send_records(&chunk[..read]).await {
                return;
            }
        }

        let mut batch = Vec::new();
        self.records.finish(SystemTime::now(), &mut batch);
        self.send(batch).await;
    }

    /// Sends the records whose multiline deadline has passed. Returns false
    /// if the output has stopped.
    async fn send_due(&mut self) -> bool {
        let mut batch = Vec::new();
        self.records.flush_due(Instant::now(), &mut batch);
        self.send(batch).await
    }

    /// Sends one batch by the overflow mode, keeping a copy in the ring of
    /// recent records. Returns false if the output has stopped.
    async fn send(&mut self, batch: Vec<u8>) -> bool {
        if let Some(recent) = &self.recent {
            recent.push_batch(&self.source.process, &batch);
        }
        match self.output.send_child(batch).await {
            Sent::Queued => {
                if self.dropped > 0 {
                    tracing::warn!(
                        process = &*self.source.process,
                        instance_id = &*self.source.instance_id,
                        stream = self.stream.as_str(),
                        dropped = self.dropped,
                        "child output dropped while the output was behind"
                    );
                    self.dropped = 0;
                }
                true
            }
            Sent::Dropped(records) => {
                self.dropped += records;
                true
            }
            Sent::Closed => false,
        }
    }

    /// Formats the records of `chunk` and sends them in batches of about
    /// [`BATCH_BYTES`]. Returns false if the output has stopped.
    ///
    /// The chunk is formatted a slice at a time so a batch never grows much
    /// past `BATCH_BYTES`, even when tiny lines make records many times
    /// larger than their input.
    async fn send_records(&mut self, chunk: &[u8]) -> bool {
        let time = SystemTime::now();
        let now = Instant::now();
        // Records of short lines take about twice the bytes of the input.
        let mut batch = Vec::with_capacity((2 * chunk.len()).min(BATCH_BYTES));

        for slice in chunk.chunks(SLICE_BYTES) {
            self.records.push(slice, time, now, &mut batch);
            if batch.len() >= BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_BYTES));
                if !self.send(full).await {
                    return false;
                }
            }
        }
        self.send(batch).await
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::thread;

    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use nix::fcntl::{fcntl, FcntlArg};
    use serde_json::Value;

    use super::*;
    use crate::config::{LineFilters, LogFormat, LogLevel, LogOverflow, Multiline, ProcessLogging};
    use crate::output::testing::{parse_lines, pipe, FileOutput};
    use crate::output::{Output, OutputSettings, OutputTarget, Pipeline};

    /// Runs `program` with `args`, captures its `stream` as `source`, and
    /// returns the records.
    async fn capture_child(
        program: &str,
        args: &[&str],
        stream: Stream,
        source: Source,
        max_line_bytes: usize,
    ) -> Vec<Value> {
        let output = FileOutput::start(LogFormat::Json, max_line_bytes);
        let mut command = Command::new(program);
        command.args(args);
        match stream {
            Stream::Stdout => command.stdout(Stdio::piped()),
            Stream::Stderr => command.stderr(Stdio::piped()),
        };
        let mut child = command.spawn().expect("spawn the child");
        let pipe: OwnedFd = match stream {
            Stream::Stdout => child.stdout.take().expect("stdout is piped").into(),
            Stream::Stderr => child.stderr.take().expect("stderr is piped").into(),
        };

        let handle = output.output.handle();
        handle
            .capture(source, stream, pipe)
            .await
            .expect("capture task");
        child.wait().expect("wait for the child");

        parse_lines(&output.finish().await)
    }

    /// Runs `script` in `sh`, captures its stdout, and returns the records.
    async fn capture_script(script: &str, max_line_bytes: usize) -> Vec<Value> {
        let source = Source::new("script", "script-0");
        capture_child(
            "sh",
            &["-c", script],
            Stream::Stdout,
            source,
            max_line_bytes,
        )
        .await
    }

    fn messages(records: &[Value]) -> Vec<&str> {
        records
            .iter()
            .map(|record| record["msg"].as_str().unwrap_or("<missing>"))
            .collect()
    }

    #[tokio::test]
    async fn seq_lines_arrive_once_in_order() {
        let source = Source::new("counter", "counter-0");
        let records = capture_child("seq", &["1", "100000"], Stream::Stdout, source, 65536).await;

        assert_eq!(records.len(), 100_000);
        for (index, record) in records.iter().enumerate() {
            let expected = (index + 1).to_string();
            assert_eq!(record["msg"], expected.as_str(), "record {index}");
            assert_eq!(record["level"], "INFO", "record {index}");
            assert_eq!(record["process"], "counter", "record {index}");
            assert_eq!(record["instance_id"], "counter-0", "record {index}");
            assert_eq!(record["stream"], "stdout", "record {index}");
            assert!(record["time"].as_str().is_some_and(|time| time.len() == 24));
            assert_eq!(record.as_object().map(|object| object.len()), Some(6));
        }
    }

    #[tokio::test]
    async fn last_line_without_newline_arrives() {
        let records = capture_script("printf 'first\\nlast'", 65536).await;

        assert_eq!(messages(&records), ["first", "last"]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_and_kept() {
        let records = capture_script("printf 'a\\377b\\300\\n\\376\\n'", 65536).await;

        assert_eq!(messages(&records), ["a\u{FFFD}b\u{FFFD}", "\u{FFFD}"]);
    }

    #[tokio::test]
    async fn crlf_loses_cr() {
        let records = capture_script("printf 'a\\r\\nb\\r\\r\\n'", 65536).await;

        assert_eq!(messages(&records), ["a", "b\r"]);
    }

    #[tokio::test]
    async fn empty_lines_are_records() {
        let records = capture_script("printf '\\n\\nx\\n\\n'", 65536).await;

        assert_eq!(messages(&records), ["", "", "x", ""]);
    }

    #[tokio::test]
    async fn stderr_lines_are_warn() {
        let source = Source::new("worker", "worker-1").with_field("hook", "pre-start");
        let script = ["-c", "echo broken >&2"];
        let records = capture_child("sh", &script, Stream::Stderr, source, 65536).await;

        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["msg"], "broken");
        assert_eq!(records[0]["level"], "WARN");
        assert_eq!(records[0]["stream"], "stderr");
        assert_eq!(records[0]["hook"], "pre-start");
    }

    #[tokio::test]
    async fn mib_line_is_cut_into_consecutive_parts() {
        let output = FileOutput::start(LogFormat::Json, 65536);
        let (read_end, write_end) = pipe();
        // Two- and three-byte characters put some cuts inside a character.
        let line = "0123456789abcdé€".repeat(1024 * 1024 / 19);
        let writer = thread::spawn({
            let line = line.clone();
            move || File::from(write_end).write_all(format!("{line}\nnext\n").as_bytes())
        });

        let source = Source::new("big", "big-0");
        let handle = output.output.handle();
        handle
            .capture(source, Stream::Stdout, read_end)
            .await
            .expect("capture task");
        writer.join().expect("writer thread").expect("write line");
        let records = parse_lines(&output.finish().await);

        let (last, parts) = records.split_last().expect("records");
        assert_eq!(last["msg"], "next");
        assert!(last.get("truncated").is_none());
        assert_eq!(parts.len(), line.len().div_ceil(65536));
        let mut joined = String::new();
        for (index, part) in parts.iter().enumerate() {
            let msg = part["msg"].as_str().expect("msg is a string");
            assert!(msg.len() <= 65536, "part {index} has {} bytes", msg.len());
            assert_eq!(part["truncated"], true, "part {index}");
            assert_eq!(part["part"], index + 1, "part {index}");
            joined.push_str(msg);
        }
        assert_eq!(joined, line);
    }

    #[tokio::test]
    async fn concurrent_producers_never_mix_lines() {
        const PRODUCERS: usize = 8;
        const LINES: usize = 300;
        const LINE_BYTES: usize = 10 * 1024;

        let output = FileOutput::start(LogFormat::Json, 65536);
        let handle = output.output.handle();
        // Every step of the pipeline is on, and the filter keeps everything.
        let logging = ProcessLogging {
            filters: LineFilters {
                include: vec![regex::Regex::new(":").expect("valid pattern")],
                exclude: vec![regex::Regex::new("^never$").expect("valid pattern")],
            },
            ..ProcessLogging::default()
        };
        let pipeline = Arc::new(Pipeline::new(&logging));
        let mut captures = Vec::new();
        let mut writers = Vec::new();
        for producer in 0..PRODUCERS {
            let (read_end, write_end) = pipe();
            let source = Source::new("producer", format!("producer-{producer}"))
                .with_pipeline(pipeline.clone());
            captures.push(handle.capture(source, Stream::Stdout, read_end));
            writers.push(thread::spawn(move || {
                let mut pipe = File::from(write_end);
                for number in 0..LINES {
                    let marker = char::from(b'a' + producer as u8).to_string();
                    let head = format!("{producer}:{number:05}:");
                    let line = head.clone() + &marker.repeat(LINE_BYTES - head.len()) + "\n";
                    pipe.write_all(line.as_bytes())?;
                }
                std::io::Result::Ok(())
            }));
        }
        for capture in captures {
            capture.await.expect("capture task");
        }
        for writer in writers {
            writer.join().expect("writer thread").expect("write lines");
        }
        let records = parse_lines(&output.finish().await);

        assert_eq!(records.len(), PRODUCERS * LINES);
        let mut next_number = [0; PRODUCERS];
        for record in &records {
            let msg = record["msg"].as_str().expect("msg is a string");
            let mut fields = msg.splitn(3, ':');
            let producer: usize = fields.next().and_then(|id| id.parse().ok()).expect("id");
            let number: usize = fields.next().and_then(|n| n.parse().ok()).expect("number");
            let filler = fields.next().expect("filler");
            let marker = char::from(b'a' + producer as u8);

            assert_eq!(msg.len(), LINE_BYTES, "line {producer}:{number}");
            assert!(
                filler.chars().all(|c| c == marker),
                "line {producer}:{number}"
            );
            assert_eq!(record["instance_id"], format!("producer-{producer}"));
            assert_eq!(record["level"], "INFO");
            assert_eq!(
                number, next_number[producer],
                "producer {producer} out of order"
            );
            next_number[producer] += 1;
        }
        assert_eq!(pipeline.filtered_records(), 0);
    }

    #[tokio::test]
    async fn source_without_pipeline_is_redacted_by_global_rules() {
        // Hooks capture their output like this, with no pipeline of their own.
        let source = Source::new("migrate", "migrate").with_field("hook", "pre-start");
        let script = ["-c", "echo 'migrating with DB_PASSWORD=hunter2'"];
        let records = capture_child("sh", &script, Stream::Stdout, source, 65536).await;

        assert_eq!(
            messages(&records),
            ["migrating with DB_PASSWORD=***REDACTED***"]
        );
        assert_eq!(records[0]["hook"], "pre-start");
    }

    #[tokio::test]
    async fn multiline_deadline_emits_trace_while_pipe_stays_open() {
        let output = FileOutput::with_settings(OutputSettings {
            multiline: Multiline {
                timeout: Duration::from_millis(50),
                ..Multiline::default()
            },
            ..OutputSettings::default()
        });
        let (read_end, write_end) = pipe();
        let mut child = File::from(write_end);
        // A trace that stops mid-way: no `thrown in` line follows.
        child
            .write_all(
                b"PHP Fatal error:  Uncaught Exception: x\nStack trace:\n#0 /app/a.php(3): f()\n",
            )
            .expect("write trace");

        let source = Source::new("php", "php-0");
        let capture = output
            .output
            .handle()
            .capture(source, Stream::Stderr, read_end);
        let deadline = Instant::now() + Duration::from_secs(10);
        while output.written().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the pending trace was never written"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        assert!(
            !capture.is_finished(),
            "capture ended although the pipe is open"
        );
        drop(child);
        capture.await.expect("capture task");
        let records = parse_lines(&output.finish().await);
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0]["msg"],
            "PHP Fatal error:  Uncaught Exception: x\nStack trace:\n#0 /app/a.php(3): f()"
        );
        assert_eq!(records[0]["level"], "FATAL");
    }

    #[tokio::test]
    async fn drop_mode_never_blocks_the_child_and_counts_drops() {
        const LINES: usize = 20_000;

        let (target_read, target_write) = pipe();
        // The smallest pipe Linux allows: one page, never read until the end.
        fcntl(target_write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(4096)).expect("shrink pipe");
        let output = Output::start(OutputSettings {
            max_in_flight_bytes: 16 * 1024,
            overflow: LogOverflow::Drop,
            target: OutputTarget::Fd(target_write),
            ..OutputSettings::default()
        })
        .expect("start output");
        let handle = output.handle();

        let (read_end, write_end) = pipe();
        let producer = thread::spawn(move || {
            let mut pipe = File::from(write_end);
            for number in 0..LINES {
                writeln!(pipe, "line {number:06} {}", "x".repeat(80))?;
            }
            std::io::Result::Ok(())
        });
        let source = Source::new("flood", "flood-0");
        handle
            .capture(source, Stream::Stdout, read_end)
            .await
            .expect("capture task");
        // The child finished although nobody read the output.
        producer.join().expect("producer").expect("write lines");
        let dropped = handle.dropped_records();

        let reader = thread::spawn(move || {
            let mut text = String::new();
            File::from(target_read)
                .read_to_string(&mut text)
                .map(|_| text)
        });
        output.shutdown().await;
        let text = reader.join().expect("reader thread").expect("read target");
        let records = parse_lines(&text);

        assert!(dropped > 0, "nothing was dropped");
        assert_eq!(records.len() as u64 + dropped, LINES as u64);
        let numbers: Vec<&str> = records
            .iter()
            .filter_map(|record| record["msg"].as_str()?.get(5..11))
            .collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(numbers, sorted, "records were reordered");
    }

    #[tokio::test]
    async fn non_pipe_is_reported_not_captured() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let output = FileOutput::start(LogFormat::Json, 65536);
        let layer = output.output.layer(LogLevel::Info);
        // The runtime of this test has one thread, so the capture task also
        // runs with this default subscriber.
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let file = tempfile::tempfile().expect("temporary file");

        let source = Source::new("odd", "odd-0");
        let handle = output.output.handle();
        handle
            .capture(source, Stream::Stdout, file.into())
            .await
            .expect("capture task");
        let records = parse_lines(&output.finish().await);

        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["level"], "WARN");
        assert_eq!(
            records[0]["msg"],
            "child output is not a readable pipe; not captured"
        );
        assert_eq!(records[0]["instance_id"], "odd-0");
    }
}
