//! One run of a scheduled task, from spawn to its recorded outcome.
//!
//! A run ends when its leader exits, as reported by the reaper. What it
//! left in its process group keeps running, because some tasks outlive the
//! run on purpose: Laravel's `runInBackground()` starts the command with
//! `&` (`Illuminate\Console\Scheduling\CommandBuilder`) and lets it report
//! back later through `schedule:finish`. A run that is stopped (by
//! `schedule_timeout` or shutdown) is different: its whole group gets the
//! stop signal, then SIGKILL after `shutdown.timeout`, and the run ends
//! once the group is empty.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::heartbeat::{failure_body, Event};
use super::supervise::{Ending, Supervision};
use super::tail::{relay, Tail};
use super::task::TaskContext;
use crate::exec::error_chain;
use crate::output::{Source, Stream};
use crate::spawn::{spawn, ChildSpec};

/// Wait after the leader exits for the last output to reach the tail.
const TAIL_WAIT: Duration = Duration::from_millis(200);

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
            let supervision =
                Supervision::new(context, child.pid, started, &tail, &send, stop_requests);
            let result = supervision.wait(child.exit).await;
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
        let body = failure_body(&reason, &tail.text(), context.output.redactor());
        send(Event::Failure { exit_code, body });
    }
}
