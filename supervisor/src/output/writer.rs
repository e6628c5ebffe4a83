//! The writer thread: the only code that writes to the output target.
//!
//! It receives batches of whole records over a channel and writes them with
//! blocking writes, so a slow reader of stdout stalls only this thread. Each
//! batch goes to `write(2)` whole. A partial write is continued with the
//! rest of the batch in the next `write(2)`, and since nothing else writes
//! to the target, records never interleave. Small batches that arrive
//! together are gathered into one write.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use tokio::sync::{oneshot, Semaphore};

/// Batches below this size are gathered with others into one write.
const GATHER_BYTES: usize = 64 * 1024;

/// Destination of the writer thread's records.
pub enum OutputTarget {
    /// File descriptor 1. Nothing else in the process may write to it, or
    /// its writes can land inside a record.
    Stdout,
    /// Any file descriptor, such as a pipe or a file, written with
    /// `write(2)` like stdout.
    Fd(OwnedFd),
    /// Any writer, used through [`Write::write_all`] and flushed whenever
    /// the queue runs empty. It should block rather than return
    /// [`io::ErrorKind::WouldBlock`], which drops the batch being written.
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for OutputTarget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputTarget::Stdout => formatter.write_str("Stdout"),
            OutputTarget::Fd(fd) => formatter.debug_tuple("Fd").field(fd).finish(),
            OutputTarget::Writer(_) => formatter.write_str("Writer(..)"),
        }
    }
}

/// A message to the writer thread.
#[derive(Debug)]
pub(crate) enum Message {
    /// Whole records, and the in-flight permits to release once written.
    Records { bytes: Vec<u8>, permits: u32 },
    /// A request to write everything received before, flush, and stop.
    Stop,
}

/// Starts the writer thread. It stops after a [`Message::Stop`] or once
/// every sender is gone, then closes `in_flight` so captures waiting for
/// permits give up, and sends on `done`.
pub(crate) fn spawn(
    target: OutputTarget,
    messages: Receiver<Message>,
    in_flight: Arc<Semaphore>,
    done: oneshot::Sender<()>,
) -> io::Result<JoinHandle<()>> {
    let mut writer = Writer {
        sink: Sink::from(target),
        in_flight,
        gathered: Vec::new(),
        gathered_permits: 0,
        failing: false,
    };

    thread::Builder::new()
        .name("phpeek-output".to_owned())
        .spawn(move || {
            writer.run(&messages);
            drop(messages);
            // The receiver may be gone if the owner no longer waits.
            let _ = done.send(());
        })
}

struct Writer {
    sink: Sink,
    in_flight: Arc<Semaphore>,
    /// Small batches not written yet, and the permits they hold.
    gathered: Vec<u8>,
    gathered_permits: usize,
    /// Whether the last write failed, so a failure is reported only once.
    failing: bool,
}

impl Writer {
    fn run(&mut self, messages: &Receiver<Message>) {
        while let Ok(message) = messages.recv() {
            let mut stop = self.handle(message);

            // Write what is queued already before flushing, so a burst of
            // small batches costs one write.
            while !stop {
                match messages.try_recv() {
                    Ok(message) => stop = self.handle(message),
                    Err(_) => break,
                }
            }
            self.write_gathered();
            self.flush();

            if stop {
                break;
            }
        }

        self.in_flight.close();
    }

    /// Handles one message and returns whether it was a stop request.
    fn handle(&mut self, message: Message) -> bool {
        let (bytes, permits) = match message {
            Message::Records { bytes, permits } => (bytes, permits as usize),
            Message::Stop => return true,
        };

        if bytes.len() >= GATHER_BYTES {
            self.write_gathered();
            self.write(&bytes);
            self.in_flight.add_permits(permits);
            return false;
        }

        self.gathered.extend_from_slice(&bytes);
        self.gathered_permits += permits;
        if self.gathered.len() >= GATHER_BYTES {
            self.write_gathered();
        }
        false
    }

    fn write_gathered(&mut self) {
        if !self.gathered.is_empty() {
            let gathered = std::mem::take(&mut self.gathered);
            self.write(&gathered);
            self.gathered = gathered;
            self.gathered.clear();
        }
        self.in_flight
            .add_permits(std::mem::take(&mut self.gathered_permits));
    }

    /// Writes `bytes` whole, or drops them if the target fails.
    fn write(&mut self, bytes: &[u8]) {
        match self.sink.write_all(bytes) {
            Ok(()) => self.failing = false,
            Err(error) if is_closed(&error) => {
                report(format_args!(
                    "output closed ({error}); discarding records from now on"
                ));
                self.sink = Sink::Closed;
            }
            Err(error) => {
                if !self.failing {
                    report(format_args!(
                        "writing records failed ({error}); dropping them"
                    ));
                }
                self.failing = true;
            }
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.sink.flush() {
            if !self.failing {
                report(format_args!("flushing records failed ({error})"));
            }
            self.failing = true;
        }
    }
}

/// Returns whether `error` means the target can never be written again.
fn is_closed(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe || error.raw_os_error() == Some(libc::EBADF)
}

/// Tells the operator on stderr that records are lost. stderr may be closed
/// too, in which case nothing can be done.
fn report(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "phpeek-pm: {message}");
}

/// The open target, or `Closed` once it reported a broken pipe.
enum Sink {
    Stdout(io::Stdout),
    Fd(OwnedFd),
    Writer(Box<dyn Write + Send>),
    Closed,
}

impl From<OutputTarget> for Sink {
    fn from(target: OutputTarget) -> Sink {
        match target {
            OutputTarget::Stdout => Sink::Stdout(io::stdout()),
            OutputTarget::Fd(fd) => Sink::Fd(fd),
            OutputTarget::Writer(writer) => Sink::Writer(writer),
        }
    }
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            // Written with write(2) directly: `io::Stdout` has its own buffer.
            Sink::Stdout(stdout) => write_fd(stdout.as_fd(), bytes),
            Sink::Fd(fd) => write_fd(fd.as_fd(), bytes),
            Sink::Writer(writer) => writer.write_all(bytes),
            Sink::Closed => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Writer(writer) => writer.flush(),
            Sink::Stdout(_) | Sink::Fd(_) | Sink::Closed => Ok(()),
        }
    }
}

/// Writes all of `bytes` to `fd`, continuing after partial writes and
/// `EINTR`, and waiting in `poll(2)` if the descriptor is non-blocking and
/// full.
fn write_fd(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = bytes.get(written..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => wait_writable(fd)?,
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

fn wait_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    match nix::poll::poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsRawFd as _;
    use std::sync::mpsc;
    use std::sync::Mutex;

    use nix::fcntl::{fcntl, FcntlArg, OFlag};

    use super::*;

    /// A writer that stores everything in memory, shared with the test.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u8>>>);

    impl Write for Memory {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut stored = self.0.lock().map_err(|_| io::ErrorKind::Other)?;
            stored.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Runs the writer thread over `messages` and waits for it to stop.
    fn run(target: OutputTarget, messages: Vec<Message>, in_flight: &Arc<Semaphore>) {
        let (sender, receiver) = mpsc::channel();
        let (done, _) = oneshot::channel();
        let thread = spawn(target, receiver, in_flight.clone(), done).expect("spawn writer");
        for message in messages {
            sender.send(message).expect("writer is running");
        }
        sender.send(Message::Stop).expect("writer is running");
        thread.join().expect("writer thread does not panic");
    }

    fn records(text: &str, permits: u32) -> Message {
        Message::Records {
            bytes: text.as_bytes().to_vec(),
            permits,
        }
    }

    #[test]
    fn writes_batches_in_order_and_releases_permits() {
        let memory = Memory::default();
        let in_flight = Arc::new(Semaphore::new(0));
        let messages = vec![records("a\n", 2), records("b\nc\n", 4)];

        run(
            OutputTarget::Writer(Box::new(memory.clone())),
            messages,
            &in_flight,
        );

        assert_eq!(*memory.0.lock().expect("not poisoned"), b"a\nb\nc\n");
        assert!(in_flight.is_closed());
    }

    #[test]
    fn stop_writes_everything_queued_before() {
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let in_flight = Arc::new(Semaphore::new(0));
        let big = "x".repeat(GATHER_BYTES) + "\n";

        let writer = thread::spawn({
            let in_flight = in_flight.clone();
            let big = big.clone();
            move || {
                run(
                    OutputTarget::Fd(write_end),
                    vec![records("a\n", 1), records(&big, 0)],
                    &in_flight,
                )
            }
        });
        let mut output = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut output)
            .expect("read pipe");
        writer.join().expect("writer thread does not panic");

        assert_eq!(output, format!("a\n{big}"));
    }

    #[test]
    fn closed_pipe_is_drained_without_error() {
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        drop(read_end);
        let in_flight = Arc::new(Semaphore::new(0));
        let messages = (0..100).map(|_| records("lost\n", 1)).collect();

        run(OutputTarget::Fd(write_end), messages, &in_flight);

        // Closing the semaphore keeps its permits countable.
        assert_eq!(in_flight.available_permits(), 100);
    }

    #[test]
    fn non_blocking_pipe_is_written_whole() {
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let flags = fcntl(write_end.as_fd().as_raw_fd(), FcntlArg::F_GETFL).expect("get flags");
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(write_end.as_fd().as_raw_fd(), FcntlArg::F_SETFL(flags)).expect("set flags");
        let in_flight = Arc::new(Semaphore::new(0));
        let big = "y".repeat(1024 * 1024) + "\n";

        let writer = thread::spawn({
            let big = big.clone();
            move || {
                run(
                    OutputTarget::Fd(write_end),
                    vec![records(&big, 0)],
                    &in_flight,
                )
            }
        });
        let mut output = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut output)
            .expect("read pipe");
        writer.join().expect("writer thread does not panic");

        assert_eq!(output.len(), big.len());
    }
}
