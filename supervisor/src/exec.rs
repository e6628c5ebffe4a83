//! Short-lived commands: hooks and exec probes.
//!
//! A command runs in its own process group with a time limit. When the limit
//! passes, or the caller cancels, the whole group gets SIGTERM, then SIGKILL
//! after [`KILL_GRACE`], so a hung hook can't hold up start or shutdown.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::config::Credentials;
use crate::group::{signal_group, wait_group_empty};
use crate::output::{OutputHandle, Source, Stream};
use crate::reaper::{ExitStatus, Reaper};
use crate::spawn::{spawn, ChildSpec, SpawnError};

/// Time between SIGTERM and SIGKILL for a command that ran over its limit.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(1);

/// Maximum wait for a probe's pipes to close after it exited.
const PROBE_TAIL_WAIT: Duration = Duration::from_millis(200);

/// Maximum tail of probe output kept for the failure message.
const PROBE_OUTPUT_TAIL: usize = 512;

/// Environment, directory and account of the commands of one process.
#[derive(Clone)]
pub(crate) struct ExecContext {
    /// The reaper that collects the commands' exit statuses.
    pub(crate) reaper: Reaper,
    /// Variables on top of the container environment.
    pub(crate) env: Vec<(String, String)>,
    /// Working directory; inherited when `None`.
    pub(crate) working_dir: Option<PathBuf>,
    /// Account to run as; inherited when `None`.
    pub(crate) user: Option<Credentials>,
}

/// Outcome of a command.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It exited on its own.
    Exited(ExitStatus),
    /// It ran over its limit and was killed.
    TimedOut,
    /// The caller cancelled it and it was killed.
    Cancelled,
    /// It could not be started.
    NotStarted(SpawnError),
}

impl Outcome {
    /// Returns `Ok` for exit code 0, else a short reason.
    ///
    /// # Errors
    ///
    /// Every outcome other than exit code 0 is an error.
    pub(crate) fn into_result(self) -> Result<(), String> {
        match self {
            Outcome::Exited(status) if status.success() => Ok(()),
            Outcome::Exited(status) => Err(format!("exited with {status}")),
            Outcome::TimedOut => Err("timed out".to_owned()),
            Outcome::Cancelled => Err("cancelled by shutdown".to_owned()),
            Outcome::NotStarted(error) => Err(error_chain(&error)),
        }
    }
}

/// Formats an error with its sources, `outer: inner: innermost`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Runs a probe command and discards its output except for the failure
/// message, which carries the output's tail.
pub(crate) async fn run(
    context: &ExecContext,
    command: &[String],
    label: &str,
    limit: Duration,
) -> Outcome {
    let child = match spawn(&context.reaper, spec(context, command)) {
        Ok(child) => child,
        Err(error) => return Outcome::NotStarted(error),
    };
    let mut tail = tokio::spawn(read_tail(child.stdout, child.stderr));
    let never = watch::channel(false).1;
    let outcome = supervise(&context.reaper, child.pid, child.exit, limit, never).await;
    // A probe must not leave processes behind: a background child would hold
    // the pipes open and pile up with every probe.
    signal_group(child.pid, Signal::SIGKILL);
    let output = match tokio::time::timeout(PROBE_TAIL_WAIT, &mut tail).await {
        Ok(Ok(output)) => output,
        _ => {
            // Something outside the group still has the pipes open.
            tail.abort();
            String::new()
        }
    };
    if let Outcome::Exited(status) = &outcome {
        if !status.success() {
            tracing::debug!(command = label, exit_code = status.code(), output = %output,
                "probe command failed");
        }
    }
    outcome
}

/// Runs a command whose output goes to the log as `source`, until it exits,
/// `limit` passes or `cancel` becomes true.
pub(crate) async fn run_logged(
    context: &ExecContext,
    command: &[String],
    output: &OutputHandle,
    source: Source,
    limit: Duration,
    cancel: watch::Receiver<bool>,
) -> Outcome {
    let child = match spawn(&context.reaper, spec(context, command)) {
        Ok(child) => child,
        Err(error) => return Outcome::NotStarted(error),
    };
    output.capture(source.clone(), Stream::Stdout, child.stdout);
    output.capture(source, Stream::Stderr, child.stderr);
    supervise(&context.reaper, child.pid, child.exit, limit, cancel).await
}

fn spec<'a>(context: &'a ExecContext, command: &'a [String]) -> ChildSpec<'a> {
    ChildSpec {
        command,
        env: &context.env,
        working_dir: context.working_dir.as_deref(),
        user: context.user.as_ref(),
    }
}

/// Waits for the child's exit, killing its group on timeout or cancel.
async fn supervise(
    reaper: &Reaper,
    pid: Pid,
    mut exit: oneshot::Receiver<ExitStatus>,
    limit: Duration,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let cancelled = async {
        // A dropped sender means nobody can cancel any more.
        if cancel.wait_for(|cancelled| *cancelled).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let ending = tokio::select! {
        status = &mut exit => return status.map_or(Outcome::TimedOut, Outcome::Exited),
        () = tokio::time::sleep(limit) => Outcome::TimedOut,
        () = cancelled => Outcome::Cancelled,
    };

    let mut reaped = reaper.subscribe();
    signal_group(pid, Signal::SIGTERM);
    if !wait_group_empty(pid, &mut reaped, Instant::now() + KILL_GRACE).await {
        signal_group(pid, Signal::SIGKILL);
        wait_group_empty(pid, &mut reaped, Instant::now() + KILL_GRACE).await;
    }
    // Collect the status so the pid isn't left registered.
    let _ = tokio::time::timeout(KILL_GRACE, exit).await;
    ending
}

/// Reads both pipes to the end and returns the last bytes written.
async fn read_tail(stdout: OwnedFd, stderr: OwnedFd) -> String {
    let (out, err) = tokio::join!(read_pipe(stdout), read_pipe(stderr));
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push_str(&String::from_utf8_lossy(&err));
    let text = text.trim();
    let start = text.len().saturating_sub(PROBE_OUTPUT_TAIL);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

async fn read_pipe(fd: OwnedFd) -> Vec<u8> {
    let mut kept = Vec::new();
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return kept;
    };
    let mut buffer = [0u8; 4096];
    while let Ok(read) = pipe.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..read]);
        if kept.len() > 2 * PROBE_OUTPUT_TAIL {
            kept.drain(..kept.len() - PROBE_OUTPUT_TAIL);
        }
    }
    kept
}
