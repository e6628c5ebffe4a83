//! One run of a scheduled task, from spawn to its recorded outcome.
//!
//! A run ends when its leader exits, as reported by the reaper. What it
//! left in its process group keeps running: Laravel's `runInBackground()`
//! tasks, for example, outlive `schedule:run` on purpose. A run that is
//! stopped (by `schedule_timeout` or shutdown) is different: its whole
//! group gets the stop signal, then SIGKILL after `shutdown.timeout`, and
//! the run ends once the group is empty.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::heartbeat::{failure_body, Event};
use super::tail::{relay, Tail};
use super::task::TaskContext;
use crate::exec::error_chain;
use crate::group::{signal_group, wait_group_empty};
use crate::output::{Source, Stream};
use crate::reaper::ExitStatus;
use crate::spawn::{spawn, ChildSpec};

/// Wait after the leader exits for the last output to reach the tail.
const TAIL_WAIT: Duration = Duration::from_millis(200);

/// Wait after SIGKILL for a group to empty before giving up on it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Exit code recorded when the program could not be executed, as a shell
/// reports a command that was not found.
const NOT_STARTED_CODE: i32 = 127;

/// The task's handle on one run.
pub(crate) struct Run {
    /// Latest time for SIGKILL once a stop was requested.
    stop: watch::Sender<Option<Instant>>,
}

impl Run {
    /// Asks the run to stop: its group gets the stop signal now and SIGKILL
    /// at `kill_at` at the latest. An earlier `kill_at` than before wins.
    pub(crate) fn stop(&self, kill_at: Instant) {
        self.stop.send_modify(|current| {
            *current = Some(current.map_or(kill_at, |current| current.min(kill_at)));
        });
    }
}

/// The way a run ended.
enum Ending {
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
    fn exit_code(&self) -> i32 {
        match self {
            Ending::Exited(status) | Ending::TimedOut(status) | Ending::Stopped(status) => {
                status.code()
            }
            Ending::NotStarted(_) => NOT_STARTED_CODE,
        }
    }

    fn success(&self) -> bool {
        matches!(self, Ending::Exited(status) if status.success())
    }

    fn reason(&self, timeout: Option<Duration>) -> String {
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

/// Starts run `number` of the task; `ended` receives the number once the
/// run is over and its statistics are recorded.
pub(crate) fn start(
    context: Arc<TaskContext>,
    number: u64,
    ended: mpsc::UnboundedSender<u64>,
) -> Run {
    let (stop, stop_requests) = watch::channel(None);
    tokio::spawn(async move {
        execute(&context, number, stop_requests).await;
        let _ = ended.send(number);
    });
    Run { stop }
}

async fn execute(
    context: &TaskContext,
    number: u64,
    stop_requests: watch::Receiver<Option<Instant>>,
) {
    let name = &*context.name;
    let instance_id = format!("{name}-run-{number}");
    let started_at = context.clock.now();
    let started = Instant::now();
    context.stats.update(name, |stats| {
        stats.runs += 1;
        stats.running += 1;
        stats.last_start = Some(started_at);
    });
    let pings = context.heartbeat_sender(&instance_id);
    let send = |event: Event| {
        if let Some(pings) = &pings {
            let _ = pings.send(event);
        }
    };
    send(Event::Start);

    let env = run_env(context, &instance_id, started_at.timestamp());
    let spec = ChildSpec {
        command: &context.process.command,
        env: &env,
        working_dir: context.process.working_dir.as_deref(),
        user: context.process.user.as_ref(),
    };
    let tail = Arc::new(Tail::default());
    let (ending, heartbeat_failed) = match spawn(&context.reaper, spec) {
        Ok(child) => {
            tracing::info!(
                process = name,
                instance_id = &*instance_id,
                pid = child.pid.as_raw(),
                "scheduled run started"
            );
            let source = Source::new(Arc::clone(&context.name), instance_id.as_str());
            let output = &context.output;
            let relays = [
                relay(
                    output,
                    source.clone(),
                    Stream::Stdout,
                    child.stdout,
                    Arc::clone(&tail),
                ),
                relay(
                    output,
                    source,
                    Stream::Stderr,
                    child.stderr,
                    Arc::clone(&tail),
                ),
            ];
            let mut watch = Supervision {
                context,
                pid: child.pid,
                started,
                tail: &tail,
                send: &send,
                stop_requests,
            };
            let result = watch.wait(child.exit).await;
            let _ = tokio::time::timeout(TAIL_WAIT, async {
                for relay in relays {
                    let _ = relay.await;
                }
            })
            .await;
            result
        }
        Err(error) => {
            let reason = error_chain(&error);
            tracing::error!(process = name, instance_id = &*instance_id, error = %reason,
                "could not start scheduled run");
            (Ending::NotStarted(reason), false)
        }
    };
    finish(
        context,
        &instance_id,
        started,
        &ending,
        heartbeat_failed,
        &tail,
        &send,
    );
}

/// Builds the environment of a run: the task's `env`, then the variables
/// that identify the run, which win over anything the config sets.
fn run_env(context: &TaskContext, instance_id: &str, start_time: i64) -> Vec<(String, String)> {
    let mut env = context.process.env.clone();
    let expression = context
        .process
        .schedule
        .as_ref()
        .map(|task| task.expression.clone())
        .unwrap_or_default();
    env.push((
        "PHPEEK_PM_PROCESS_NAME".to_owned(),
        context.name.to_string(),
    ));
    env.push(("PHPEEK_PM_INSTANCE_ID".to_owned(), instance_id.to_owned()));
    env.push(("PHPEEK_PM_SCHEDULED".to_owned(), "true".to_owned()));
    env.push(("PHPEEK_PM_SCHEDULE".to_owned(), expression));
    env.push(("PHPEEK_PM_START_TIME".to_owned(), start_time.to_string()));
    env
}

/// Records the outcome: statistics, the log event and the final ping.
fn finish(
    context: &TaskContext,
    instance_id: &str,
    started: Instant,
    ending: &Ending,
    heartbeat_failed: bool,
    tail: &Tail,
    send: &impl Fn(Event),
) {
    let duration = started.elapsed();
    let exit_code = ending.exit_code();
    let success = ending.success();
    context.stats.update(&context.name, |stats| {
        stats.running = stats.running.saturating_sub(1);
        if success {
            stats.successes += 1;
        } else {
            stats.failures += 1;
        }
        stats.last_exit_code = Some(exit_code);
        stats.last_duration = Some(duration);
    });

    let process = &*context.name;
    let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let timeout = context
        .process
        .schedule
        .as_ref()
        .and_then(|task| task.timeout);
    let reason = ending.reason(timeout);
    if success {
        tracing::info!(
            process,
            instance_id,
            exit_code,
            duration_ms,
            "scheduled run finished"
        );
    } else {
        tracing::warn!(process, instance_id, exit_code, duration_ms, reason = %reason,
            "scheduled run failed");
    }

    // A failure already reported by the heartbeat timeout is not reported
    // again, so each run sends at most one outcome.
    if heartbeat_failed {
        return;
    }
    if success {
        send(Event::Success);
    } else {
        let exit_code = (!matches!(ending, Ending::NotStarted(_))).then_some(exit_code);
        let body = failure_body(&reason, &tail.text());
        send(Event::Failure { exit_code, body });
    }
}

/// Waits for one run's leader, stopping the group when asked or when
/// `schedule_timeout` passes, and sends the heartbeat-timeout failure.
struct Supervision<'a, F: Fn(Event)> {
    context: &'a TaskContext,
    pid: Pid,
    started: Instant,
    tail: &'a Tail,
    send: &'a F,
    stop_requests: watch::Receiver<Option<Instant>>,
}

/// The stop in progress: its cause and when SIGKILL is due.
struct Stopping {
    kill_at: Instant,
    killed: bool,
    timed_out: bool,
}

impl<F: Fn(Event)> Supervision<'_, F> {
    /// Returns how the run ended and whether the heartbeat timeout already
    /// reported it as failed.
    async fn wait(&mut self, mut exit: oneshot::Receiver<ExitStatus>) -> (Ending, bool) {
        let task = self.context.process.schedule.as_ref();
        let timeout_at = task
            .and_then(|task| task.timeout)
            .map(|limit| self.started + limit);
        let heartbeat_timeout = task
            .and_then(|task| task.heartbeat.as_ref())
            .and_then(|heartbeat| heartbeat.timeout);
        let heartbeat_at = heartbeat_timeout.map(|limit| self.started + limit);
        let mut heartbeat_failed = false;
        let mut stopping: Option<Stopping> = None;
        let requested = *self.stop_requests.borrow_and_update();
        if let Some(kill_at) = requested {
            stopping = Some(self.begin_stop(kill_at, false));
        }

        let status = loop {
            let kill_at = stopping
                .as_ref()
                .filter(|stop| !stop.killed)
                .map(|stop| stop.kill_at);
            tokio::select! {
                status = &mut exit => break status.ok(),
                () = sleep_until(timeout_at.unwrap_or_else(Instant::now)),
                    if timeout_at.is_some() && stopping.is_none() => {
                    tracing::warn!(process = &*self.context.name, pid = self.pid.as_raw(),
                        "scheduled run timed out; stopping it");
                    let kill_at = Instant::now() + self.context.process.shutdown.timeout;
                    stopping = Some(self.begin_stop(kill_at, true));
                }
                () = sleep_until(heartbeat_at.unwrap_or_else(Instant::now)),
                    if heartbeat_at.is_some() && !heartbeat_failed => {
                    heartbeat_failed = true;
                    let seconds = heartbeat_timeout.unwrap_or_default().as_secs_f64();
                    let reason = format!("still running after the heartbeat timeout of {seconds}s");
                    let body = failure_body(&reason, &self.tail.text());
                    (self.send)(Event::Failure { exit_code: None, body });
                }
                Ok(()) = self.stop_requests.changed() => {
                    let requested = *self.stop_requests.borrow_and_update();
                    if let Some(kill_at) = requested {
                        match &mut stopping {
                            Some(stop) => stop.kill_at = stop.kill_at.min(kill_at),
                            None => stopping = Some(self.begin_stop(kill_at, false)),
                        }
                    }
                }
                () = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                    self.kill();
                    if let Some(stop) = &mut stopping {
                        stop.killed = true;
                    }
                }
            }
        };
        // The reaper never drops a registered sender, so a missing status
        // can't happen; record it as killed if it ever does.
        let status = status.unwrap_or(ExitStatus::Signaled(Signal::SIGKILL));
        let Some(stop) = stopping else {
            return (Ending::Exited(status), heartbeat_failed);
        };
        self.drain_group(&stop).await;
        let ending = if stop.timed_out {
            Ending::TimedOut(status)
        } else {
            Ending::Stopped(status)
        };
        (ending, heartbeat_failed)
    }

    fn begin_stop(&self, kill_at: Instant, timed_out: bool) -> Stopping {
        let signal = self.context.process.shutdown.signal;
        tracing::debug!(
            process = &*self.context.name,
            pid = self.pid.as_raw(),
            signal = signal.as_str(),
            "sending stop signal to scheduled run"
        );
        signal_group(self.pid, signal);
        let latest = Instant::now() + self.context.process.shutdown.timeout;
        Stopping {
            kill_at: kill_at.min(latest),
            killed: false,
            timed_out,
        }
    }

    fn kill(&self) {
        tracing::warn!(
            process = &*self.context.name,
            pid = self.pid.as_raw(),
            "stop timeout passed; sending SIGKILL to the scheduled run's group"
        );
        signal_group(self.pid, Signal::SIGKILL);
    }

    /// Waits until nothing is left in a stopped run's group, sending
    /// SIGKILL at the kill time if needed.
    async fn drain_group(&self, stop: &Stopping) {
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
