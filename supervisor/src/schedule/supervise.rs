//! Supervising a started run: its timeouts, stop requests and the way it
//! ended.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::{oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::heartbeat::{failure_body, Event};
use super::tail::Tail;
use super::task::TaskContext;
use crate::group::{signal_group, wait_group_empty};
use crate::reaper::ExitStatus;

/// Wait after SIGKILL for a group to empty before giving up on it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Exit code recorded when the program could not be executed, as a shell
/// reports a command that was not found.
const NOT_STARTED_CODE: i32 = 127;

/// The way a run ended.
pub(super) enum Ending {
    /// The leader exited without being stopped.
    Exited(ExitStatus),
    /// It ran over `schedule_timeout` and was stopped.
    TimedOut(ExitStatus),
    /// Shutdown stopped it.
    Stopped(ExitStatus),
    /// The program could not be started; the reason.
    NotStarted(String),
}

impl Ending {
    pub(super) fn exit_code(&self) -> i32 {
        match self {
            Ending::Exited(status) | Ending::TimedOut(status) | Ending::Stopped(status) => {
                status.code()
            }
            Ending::NotStarted(_) => NOT_STARTED_CODE,
        }
    }

    pub(super) fn success(&self) -> bool {
        matches!(self, Ending::Exited(status) if status.success())
    }

    pub(super) fn reason(&self, timeout: Option<Duration>) -> String {
        match self {
            Ending::Exited(status) => format!("exited with {status}"),
            Ending::TimedOut(status) => format!(
                "timed out after {}s and was stopped ({status})",
                timeout.unwrap_or_default().as_secs_f64()
            ),
            Ending::Stopped(status) => format!("stopped by shutdown ({status})"),
            Ending::NotStarted(reason) => format!("could not start: {reason}"),
        }
    }
}

/// Waits for one run's leader, stopping the group when asked or when
/// `schedule_timeout` passes, and sends the heartbeat-timeout failure.
pub(super) struct Supervision<'a, F: Fn(Event)> {
    pub(super) context: &'a TaskContext,
    pub(super) pid: Pid,
    pub(super) started: Instant,
    pub(super) tail: &'a Tail,
    pub(super) send: &'a F,
    pub(super) stop_requests: watch::Receiver<Option<Instant>>,
    stopping: Option<Stopping>,
    heartbeat_failed: bool,
}

/// The stop in progress: its cause and when SIGKILL is due.
struct Stopping {
    kill_at: Instant,
    killed: bool,
    timed_out: bool,
}

impl<'a, F: Fn(Event)> Supervision<'a, F> {
    /// Prepares to supervise the run led by `pid`.
    pub(super) fn new(
        context: &'a TaskContext,
        pid: Pid,
        started: Instant,
        tail: &'a Tail,
        send: &'a F,
        stop_requests: watch::Receiver<Option<Instant>>,
    ) -> Self {
        Supervision {
            context,
            pid,
            started,
            tail,
            send,
            stop_requests,
            stopping: None,
            heartbeat_failed: false,
        }
    }

    /// Returns how the run ended and whether the heartbeat timeout already
    /// reported it as failed.
    pub(super) async fn wait(mut self, mut exit: oneshot::Receiver<ExitStatus>) -> (Ending, bool) {
        let task = self.context.process.schedule.as_ref();
        let timeout_at = task
            .and_then(|task| task.timeout)
            .map(|limit| self.started + limit);
        let heartbeat_timeout = task
            .and_then(|task| task.heartbeat.as_ref())
            .and_then(|heartbeat| heartbeat.timeout);
        let heartbeat_at = heartbeat_timeout.map(|limit| self.started + limit);
        self.on_stop_request();

        let status = loop {
            let kill_at = self
                .stopping
                .as_ref()
                .filter(|stop| !stop.killed)
                .map(|stop| stop.kill_at);
            tokio::select! {
                status = &mut exit => break status.ok(),
                () = sleep_until(timeout_at.unwrap_or_else(Instant::now)),
                    if timeout_at.is_some() && self.stopping.is_none() => self.on_timeout(),
                () = sleep_until(heartbeat_at.unwrap_or_else(Instant::now)),
                    if heartbeat_at.is_some() && !self.heartbeat_failed => {
                    self.on_heartbeat_timeout(heartbeat_timeout.unwrap_or_default());
                }
                Ok(()) = self.stop_requests.changed() => self.on_stop_request(),
                () = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                    self.kill();
                }
            }
        };
        // The reaper never drops a registered sender, so a missing status
        // can't happen; record it as killed if it ever does.
        let status = status.unwrap_or(ExitStatus::Signaled(Signal::SIGKILL));
        let ending = match self.stopping.take() {
            None => Ending::Exited(status),
            Some(stop) => {
                self.drain_group(&stop).await;
                if stop.timed_out {
                    Ending::TimedOut(status)
                } else {
                    Ending::Stopped(status)
                }
            }
        };
        (ending, self.heartbeat_failed)
    }

    fn on_timeout(&mut self) {
        tracing::warn!(
            process = &*self.context.name,
            pid = self.pid.as_raw(),
            "scheduled run timed out; stopping it"
        );
        let kill_at = Instant::now() + self.context.process.shutdown.timeout;
        self.begin_stop(kill_at, true);
    }

    fn on_heartbeat_timeout(&mut self, limit: Duration) {
        self.heartbeat_failed = true;
        let seconds = limit.as_secs_f64();
        let reason = format!("still running after the heartbeat timeout of {seconds}s");
        let body = failure_body(&reason, &self.tail.text(), self.context.output.redactor());
        (self.send)(Event::Failure {
            exit_code: None,
            body,
        });
    }

    fn on_stop_request(&mut self) {
        let requested = *self.stop_requests.borrow_and_update();
        let Some(kill_at) = requested else {
            return;
        };
        match &mut self.stopping {
            Some(stop) => stop.kill_at = stop.kill_at.min(kill_at),
            None => self.begin_stop(kill_at, false),
        }
    }

    fn begin_stop(&mut self, kill_at: Instant, timed_out: bool) {
        let signal = self.context.process.shutdown.signal;
        tracing::debug!(
            process = &*self.context.name,
            pid = self.pid.as_raw(),
            signal = signal.as_str(),
            "sending stop signal to scheduled run"
        );
        signal_group(self.pid, signal);
        let latest = Instant::now() + self.context.process.shutdown.timeout;
        self.stopping = Some(Stopping {
            kill_at: kill_at.min(latest),
            killed: false,
            timed_out,
        });
    }

    fn kill(&mut self) {
        tracing::warn!(
            process = &*self.context.name,
            pid = self.pid.as_raw(),
            "stop timeout passed; sending SIGKILL to the scheduled run's group"
        );
        signal_group(self.pid, Signal::SIGKILL);
        if let Some(stop) = &mut self.stopping {
            stop.killed = true;
        }
    }

    /// Waits until nothing is left in a stopped run's group, sending
    /// SIGKILL at the kill time if needed.
    async fn drain_group(&mut self, stop: &Stopping) {
        let mut reaped = self.context.reaper.subscribe();
        if !stop.killed {
            if wait_group_empty(self.pid, &mut reaped, stop.kill_at).await {
                return;
            }
            self.kill();
        }
        if !wait_group_empty(self.pid, &mut reaped, Instant::now() + KILL_WAIT).await {
            tracing::error!(
                process = &*self.context.name,
                pgid = self.pid.as_raw(),
                "process group still not empty after SIGKILL; giving up on it"
            );
        }
    }
}
