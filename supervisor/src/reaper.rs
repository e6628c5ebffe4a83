//! The reaper: the only code in phpeek-pm that waits on child processes.
//!
//! Every exit status is collected here, on each SIGCHLD, by draining
//! `waitpid(-1, WNOHANG)` until nothing is left, and handed to the owner
//! that registered the pid (an instance, a hook or a probe). Statuses of pids
//! nobody registered belong to orphans re-parented to us and are only logged.
//!
//! Nothing else may wait: `tokio::process` and std's `Child::wait` would race
//! with this loop and one side would lose the status. To close the gap between
//! `fork` and registration, [`Reaper::spawn`] holds the registry lock across
//! the spawn, and the drain loop takes the same lock before each `waitpid`.
//! std's `Command::spawn` itself calls `waitpid` on a child whose `exec`
//! failed, and the lock keeps the drain loop from stealing that status too.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{oneshot, watch};

/// Exit status of a reaped child: an exit code or a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl ExitStatus {
    /// Returns the shell-style exit code: the code itself, or 128 + N for a
    /// child killed by signal N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal as i32,
        }
    }

    /// Returns the signal name (`SIGKILL`) when a signal ended the child.
    pub fn signal_name(self) -> Option<&'static str> {
        match self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Signaled(signal) => Some(signal.as_str()),
        }
    }

    /// Returns true for exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit code {code}"),
            ExitStatus::Signaled(signal) => {
                write!(f, "exit code {} ({})", self.code(), signal.as_str())
            }
        }
    }
}

/// A child spawned through the reaper.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// Its pid, which is also its process group id when the command was
    /// put in a new process group.
    pub(crate) pid: Pid,
    /// Resolves with the exit status once the child has been reaped.
    pub(crate) exit: oneshot::Receiver<ExitStatus>,
}

/// Handle to the reaper; cheap to clone.
#[derive(Clone)]
pub(crate) struct Reaper {
    shared: Arc<Shared>,
}

struct Shared {
    waiters: Mutex<HashMap<Pid, oneshot::Sender<ExitStatus>>>,
    /// Counts every reaped child, registered or not, so code that waits for a
    /// process group to empty knows when to look again.
    reaped: watch::Sender<u64>,
}

impl Reaper {
    /// Installs the SIGCHLD handler and starts the drain task.
    ///
    /// Call this inside the tokio runtime before anything is spawned. When
    /// phpeek-pm is not PID 1 it also becomes a child subreaper, so orphans
    /// of its descendants are re-parented to it instead of to the real init.
    ///
    /// # Errors
    ///
    /// Fails when the signal handler cannot be installed.
    pub(crate) fn start() -> io::Result<Reaper> {
        if std::process::id() != 1 {
            if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
                tracing::warn!(error = %errno, "could not become a child subreaper");
            }
        }
        let mut sigchld = signal(SignalKind::child())?;
        let (reaped, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            waiters: Mutex::new(HashMap::new()),
            reaped,
        });

        let drain_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            // Children may have exited before the handler existed.
            drain_shared.drain();
            while sigchld.recv().await.is_some() {
                drain_shared.drain();
            }
        });
        Ok(Reaper { shared })
    }

    /// Spawns `command` and registers its pid before any status can be
    /// collected, so the exit status always reaches the returned receiver.
    ///
    /// # Errors
    ///
    /// Returns the error of [`Command::spawn`], such as a missing program.
    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<Spawned> {
        let mut waiters = self.shared.lock();
        let child = command.spawn()?;
        let pid = Pid::from_raw(child.id() as i32);
        // Dropping the Child neither waits nor kills; the status comes to us.
        drop(child);
        let (sender, exit) = oneshot::channel();
        waiters.insert(pid, sender);
        Ok(Spawned { pid, exit })
    }

    /// Returns a receiver that changes every time any child is reaped.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.reaped.subscribe()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<Pid, oneshot::Sender<ExitStatus>>> {
        // A poisoned lock only means a panic elsewhere; the map is still valid.
        self.waiters
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Collects every child that has exited, without blocking.
    fn drain(&self) {
        let mut count = 0u64;
        loop {
            let mut waiters = self.lock();
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Exited(code)),
                Ok(WaitStatus::Signaled(pid, signal, _core)) => (pid, ExitStatus::Signaled(signal)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Err(Errno::EINTR) => continue,
                // Stop and continue reports aren't requested, so nothing else
                // should come back; skip it rather than spin on it.
                Ok(_) => continue,
                Err(errno) => {
                    tracing::warn!(error = %errno, "waitpid failed");
                    break;
                }
            };
            count += 1;
            match waiters.remove(&pid) {
                // The receiver may be gone when its owner stopped caring.
                Some(sender) => drop(sender.send(status)),
                None => tracing::debug!(
                    pid = pid.as_raw(),
                    exit_code = status.code(),
                    "reaped orphan"
                ),
            }
        }
        if count > 0 {
            self.reaped.send_modify(|total| *total += count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_exit_maps_to_128_plus_number() {
        let status = ExitStatus::Signaled(Signal::SIGKILL);
        assert_eq!(status.code(), 137);
        assert_eq!(status.signal_name(), Some("SIGKILL"));
        assert_eq!(status.to_string(), "exit code 137 (SIGKILL)");
    }

    #[test]
    fn only_exit_zero_is_success() {
        assert!(ExitStatus::Exited(0).success());
        assert!(!ExitStatus::Exited(7).success());
        assert!(!ExitStatus::Signaled(Signal::SIGTERM).success());
    }
}
