//! The supervisor: start order, the main event loop and ordered shutdown.
//!
//! Start: pre-start hooks run in order, then one task per process is started
//! in start order; each waits for its own dependencies, so independent
//! processes start concurrently. Scheduled tasks get a scheduler task
//! instead, which starts runs at the scheduled times. Post-start hooks run
//! once every process has been spawned. Shutdown: pre-stop hooks, then the
//! scheduled tasks stop, then the other processes stop in waves, dependents
//! first and higher priority first within a level, then post-stop hooks,
//! then a final sweep of anything left.

mod order;
mod sweep;

use std::collections::HashMap;
use std::sync::Arc;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::{Config, FatalAction, ProcessKind};
pub use crate::hooks::HookRunCount;
use crate::hooks::{HookRunner, Stage};
use crate::output::OutputHandle;
use crate::process::{self, Control, Handle, Report, Shared};
pub use crate::process::{
    ControlError, InstanceState, InstanceStatus, Phase, RestartCounts, Status,
};
pub use crate::reaper::ExitStatus;
use crate::reaper::Reaper;
use crate::schedule::{self, ScheduleStats, Scheduler};
use crate::signals::{self, Switches};
use crate::ExitCode;

/// Extra wait, past the shutdown deadline, for process tasks to confirm
/// their stop after the SIGKILL they sent at the deadline.
const STOP_CONFIRM_GRACE: std::time::Duration = std::time::Duration::from_secs(6);

/// Blocks the signals phpeek-pm handles until [`run`] installs handlers.
///
/// Call it first in `main`, before any thread exists, so a SIGTERM that
/// arrives while the config loads is kept pending instead of dropped.
pub fn hold_signals() {
    signals::hold();
}

/// Runs `config` until shutdown and returns phpeek-pm's exit code.
///
/// Call inside a tokio runtime. `output` receives every child's output.
///
/// # Errors
///
/// Fails only when signal handling cannot be installed; every later problem
/// is logged and turned into an exit code.
pub async fn run(config: Config, output: OutputHandle) -> std::io::Result<ExitCode> {
    run_with_stats(config, output, ScheduleStats::new()).await
}

/// Does what [`run`] does, and records scheduled task statistics in
/// `stats`, which the caller can read while it runs.
///
/// # Errors
///
/// Fails only when signal handling cannot be installed.
pub async fn run_with_stats(
    config: Config,
    output: OutputHandle,
    stats: ScheduleStats,
) -> std::io::Result<ExitCode> {
    run_with_controller(config, output, stats, |_| {}).await
}

/// Does what [`run_with_stats`] does, and hands `on_start` a [`Controller`]
/// once every process task exists, before any of them is waited for.
///
/// # Errors
///
/// Fails only when signal handling cannot be installed.
pub async fn run_with_controller(
    config: Config,
    output: OutputHandle,
    stats: ScheduleStats,
    on_start: impl FnOnce(Controller) + Send + 'static,
) -> std::io::Result<ExitCode> {
    let reaper = Reaper::start()?;
    let (shutdown, shutdown_seen) = watch::channel(false);
    let (force, force_seen) = watch::channel(false);
    let forwarded = signals::start(Switches {
        shutdown: shutdown.clone(),
        force: force.clone(),
    })?;
    let hooks = HookRunner::new(reaper.clone(), output.clone());
    let shared = Arc::new(Shared {
        reaper,
        output,
        hooks: hooks.clone(),
        global: config.global.clone(),
        shutdown: shutdown_seen.clone(),
        force: force_seen,
        pipelines: std::sync::Mutex::default(),
    });
    let heartbeats = config.processes.iter().any(|process| {
        process
            .schedule
            .as_ref()
            .is_some_and(|task| task.heartbeat.is_some())
    });
    let supervisor = Supervisor {
        scheduler: Scheduler::new(stats, heartbeats),
        config,
        shared,
        hooks,
        shutdown,
        force,
        shutdown_seen,
        handles: Vec::new(),
    };
    Ok(supervisor.run(forwarded, on_start).await)
}

struct Supervisor {
    scheduler: Scheduler,
    config: Config,
    shared: Arc<Shared>,
    hooks: HookRunner,
    shutdown: watch::Sender<bool>,
    force: watch::Sender<bool>,
    shutdown_seen: watch::Receiver<bool>,
    handles: Vec<Handle>,
}

impl Supervisor {
    async fn run(
        mut self,
        mut forwarded: mpsc::Receiver<Signal>,
        on_start: impl FnOnce(Controller),
    ) -> ExitCode {
        tracing::info!(
            processes = self.config.processes.len(),
            "phpeek-pm starting"
        );
        let pre_start = &self.config.hooks.pre_start;
        if let Err(error) = self
            .hooks
            .run_all(pre_start, Stage::PreStart, &self.shutdown_seen)
            .await
        {
            if *self.shutdown_seen.borrow() {
                return self.shut_down(ExitCode::Success).await;
            }
            tracing::error!(error = %error, "pre-start hook failed; not starting");
            return self.shut_down(ExitCode::StartFailed).await;
        }

        let (reports_sender, mut reports) = mpsc::channel(64);
        self.start_processes(reports_sender);
        on_start(self.controller());
        self.spawn_post_start_hooks();

        let mut unfinished: HashMap<String, ()> = self
            .handles
            .iter()
            .map(|handle| (handle.name.clone(), ()))
            .collect();
        let mut all_succeeded = true;
        let mut shutdown_seen = self.shutdown_seen.clone();
        let exit_code = loop {
            tokio::select! {
                Some(report) = reports.recv() => {
                    if let Some(code) = self.on_report(report, &mut unfinished, &mut all_succeeded) {
                        break code;
                    }
                }
                Some(signal) = forwarded.recv() => self.forward(signal).await,
                true = async { shutdown_seen.wait_for(|requested| *requested).await.is_ok() } => {
                    break ExitCode::Success;
                }
            }
        };
        self.shut_down(exit_code).await
    }

    /// Starts one task per process, in start order.
    fn start_processes(&mut self, reports: mpsc::Sender<Report>) {
        let mut statuses = HashMap::new();
        for process in self.config.processes.clone() {
            let dependencies = process
                .depends_on
                .iter()
                .filter_map(|dependency| {
                    let status = statuses.get(&dependency.name)?;
                    Some((dependency.clone(), watch::Receiver::clone(status)))
                })
                .collect();
            let shared = Arc::clone(&self.shared);
            let handle = if process.schedule.is_some() {
                schedule::start(
                    shared,
                    &self.scheduler,
                    process,
                    dependencies,
                    reports.clone(),
                )
            } else {
                process::start(shared, process, dependencies, reports.clone())
            };
            statuses.insert(handle.name.clone(), handle.status.clone());
            self.handles.push(handle);
        }
    }

    fn controller(&self) -> Controller {
        let entries = self
            .handles
            .iter()
            .zip(&self.config.processes)
            .map(|(handle, process)| ProcessEntry {
                name: handle.name.clone(),
                kind: process.kind,
                scheduled: process.schedule.is_some(),
                max_scale: process
                    .max_scale
                    .unwrap_or(self.config.global.max_process_scale),
                health_check: process.health_check.is_some(),
                status: handle.status.clone(),
                control: handle.control.clone(),
            })
            .collect();
        Controller {
            schedule_stats: self.scheduler.stats(),
            processes: Arc::new(entries),
            shutdown: self.shutdown_seen.clone(),
            hook_runs: self.hooks.runs(),
        }
    }

    /// Runs the post-start hooks once every process has started, without
    /// holding up the event loop.
    fn spawn_post_start_hooks(&self) {
        let hooks = self.config.hooks.post_start.clone();
        if hooks.is_empty() {
            return;
        }
        let statuses: Vec<_> = self
            .handles
            .iter()
            .map(|handle| handle.status.clone())
            .collect();
        let runner = self.hooks.clone();
        let cancel = self.shutdown_seen.clone();
        tokio::spawn(async move {
            for mut status in statuses {
                let settled = status
                    .wait_for(|status| status.started || status.phase != process::Phase::Waiting)
                    .await;
                if settled.is_err() || *cancel.borrow() {
                    return;
                }
            }
            if let Err(error) = runner.run_all(&hooks, Stage::PostStart, &cancel).await {
                tracing::error!(error = %error, "post-start hook failed");
            }
        });
    }

    /// Acts on a process report; returns an exit code when it ends the run.
    fn on_report(
        &self,
        report: Report,
        unfinished: &mut HashMap<String, ()>,
        all_succeeded: &mut bool,
    ) -> Option<ExitCode> {
        match report {
            Report::StartFailed { .. } => Some(ExitCode::StartFailed),
            Report::Fatal { process } => match self.config.global.on_fatal {
                FatalAction::Shutdown => {
                    tracing::error!(process = %process, "shutting down because a process is fatal");
                    Some(ExitCode::Fatal)
                }
                // The process reports `Finished` once all of its instances
                // have ended; until then its healthy instances keep running.
                FatalAction::Continue => None,
            },
            Report::Finished { process, success } => {
                unfinished.remove(&process);
                *all_succeeded &= success;
                self.all_done(unfinished, *all_succeeded)
            }
        }
    }

    /// Ends the run once no process is left that could still run.
    fn all_done(&self, unfinished: &HashMap<String, ()>, all_succeeded: bool) -> Option<ExitCode> {
        if !unfinished.is_empty() {
            return None;
        }
        tracing::info!("every process has finished");
        Some(if all_succeeded {
            ExitCode::Success
        } else {
            ExitCode::Fatal
        })
    }

    async fn forward(&self, signal: Signal) {
        tracing::info!(
            signal = signal.as_str(),
            "forwarding signal to every process"
        );
        for handle in &self.handles {
            let _ = handle.control.send(Control::Signal(signal)).await;
        }
    }

    /// Stops everything in order and returns `exit_code`.
    async fn shut_down(self, exit_code: ExitCode) -> ExitCode {
        self.shutdown.send_replace(true);
        let timeout = self.config.global.shutdown_timeout;
        let deadline = Instant::now() + timeout;
        tracing::info!(timeout_s = timeout.as_secs_f64(), "shutdown started");

        // At the deadline every remaining wait is skipped, as after a second
        // signal.
        let force = self.force.clone();
        let deadline_guard = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            if !*force.borrow() {
                tracing::warn!("shutdown timeout reached; killing what is left");
                force.send_replace(true);
            }
        });

        let cancel = self.shared.force.clone();
        if let Err(error) = self
            .hooks
            .run_all(&self.config.hooks.pre_stop, Stage::PreStop, &cancel)
            .await
        {
            tracing::warn!(error = %error, "pre-stop hook failed; stopping anyway");
        }
        // Scheduled tasks stop first: nothing depends on them, and their
        // runs may use the services that stop later.
        let (scheduled, services): (Vec<_>, Vec<_>) = self
            .config
            .processes
            .iter()
            .cloned()
            .partition(|process| process.schedule.is_some());
        let scheduled: Vec<String> = scheduled.into_iter().map(|process| process.name).collect();
        self.stop_wave(&scheduled, deadline).await;
        for wave in order::stop_waves(&services) {
            self.stop_wave(&wave, deadline).await;
        }
        if let Err(error) = self
            .hooks
            .run_all(&self.config.hooks.post_stop, Stage::PostStop, &cancel)
            .await
        {
            tracing::warn!(error = %error, "post-stop hook failed");
        }
        sweep::final_sweep(&self.shared.reaper, deadline).await;
        deadline_guard.abort();
        tracing::info!(exit_code = exit_code as i32, "shutdown finished");
        exit_code
    }

    /// Stops the named processes concurrently and waits for all of them.
    async fn stop_wave(&self, names: &[String], deadline: Instant) {
        let mut confirmations = Vec::new();
        for handle in self
            .handles
            .iter()
            .filter(|handle| names.contains(&handle.name))
        {
            let (done, confirmed) = oneshot::channel();
            if handle
                .control
                .send(Control::Stop { deadline, done })
                .await
                .is_ok()
            {
                confirmations.push(confirmed);
            }
        }
        let limit = deadline + STOP_CONFIRM_GRACE;
        for confirmed in confirmations {
            // An error means the task is gone, which is as good as stopped.
            let _ = tokio::time::timeout_at(limit, confirmed).await;
        }
    }
}

/// A handle on the running processes, for the management API and metrics.
///
/// Cheap to clone. Requests go to the task that owns each process, so they
/// are handled in order with its other events.
#[derive(Clone)]
pub struct Controller {
    processes: Arc<Vec<ProcessEntry>>,
    schedule_stats: ScheduleStats,
    shutdown: watch::Receiver<bool>,
    hook_runs: Arc<crate::hooks::HookRuns>,
}

struct ProcessEntry {
    name: String,
    kind: ProcessKind,
    scheduled: bool,
    max_scale: u32,
    health_check: bool,
    status: watch::Receiver<Status>,
    control: mpsc::Sender<Control>,
}

/// A process's name, kind and latest status.
#[derive(Debug, Clone)]
pub struct ProcessView {
    /// Process name.
    pub name: String,
    /// Longrun or oneshot.
    pub kind: ProcessKind,
    /// True for a scheduled task.
    pub scheduled: bool,
    /// Largest instance count a scale may request.
    pub max_scale: u32,
    /// Whether a health check decides `status.healthy`; without one a
    /// process counts as healthy once started.
    pub health_check: bool,
    /// Latest published status.
    pub status: Status,
}

impl Controller {
    /// Returns every process in start order.
    pub fn processes(&self) -> Vec<ProcessView> {
        self.processes.iter().map(ProcessEntry::view).collect()
    }

    /// Returns one process by name.
    pub fn process(&self, name: &str) -> Option<ProcessView> {
        self.entry(name).ok().map(ProcessEntry::view)
    }

    /// Stops every instance of `name` gracefully and waits until they are
    /// gone. The process can be started again.
    ///
    /// # Errors
    ///
    /// Fails for an unknown name, during shutdown, or when nothing runs.
    pub async fn stop(&self, name: &str) -> Result<(), ControlError> {
        let entry = self.entry(name)?;
        let (reply, answer) = oneshot::channel();
        entry.send(Control::Halt { reply }).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    /// Starts the instances of `name` that aren't running.
    ///
    /// # Errors
    ///
    /// Fails for an unknown name, during shutdown, or when all instances run.
    pub async fn start(&self, name: &str) -> Result<(), ControlError> {
        let entry = self.entry(name)?;
        let (reply, answer) = oneshot::channel();
        entry.send(Control::Start { reply }).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    /// Restarts every instance of `name` with the graceful stop sequence.
    ///
    /// # Errors
    ///
    /// Fails for an unknown name or during shutdown.
    pub async fn restart(&self, name: &str) -> Result<(), ControlError> {
        let entry = self.entry(name)?;
        let (reply, answer) = oneshot::channel();
        entry.send(Control::Restart { reply }).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    /// Sets the instance count of `name` and returns the previous count.
    ///
    /// # Errors
    ///
    /// Fails for an unknown name, a oneshot, a count below 1 or above the
    /// process's `max_scale`, during shutdown, or while a previous
    /// scale-down is still stopping instances.
    pub async fn scale(&self, name: &str, replicas: u32) -> Result<u32, ControlError> {
        let entry = self.entry(name)?;
        let (reply, answer) = oneshot::channel();
        entry.send(Control::Scale { replicas, reply }).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    /// Starts a run of the scheduled task `name` now.
    ///
    /// # Errors
    ///
    /// Fails for an unknown name, a process without a schedule, during
    /// shutdown, or while `schedule_max_concurrent` runs are going.
    pub async fn trigger(&self, name: &str) -> Result<(), ControlError> {
        let entry = self.entry(name)?;
        let (reply, answer) = oneshot::channel();
        entry.send(Control::Trigger { reply }).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    /// Pauses (`true`) or resumes (`false`) the scheduled task `name`.
    ///
    /// # Errors
    ///
    /// Fails for an unknown name, a process without a schedule, or when the
    /// task is already in that state.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<(), ControlError> {
        let entry = self.entry(name)?;
        let (reply, answer) = oneshot::channel();
        let request = if paused {
            Control::Pause { reply }
        } else {
            Control::Resume { reply }
        };
        entry.send(request).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    /// Returns the statistics of every scheduled task.
    pub fn schedule_stats(&self) -> &ScheduleStats {
        &self.schedule_stats
    }

    /// Returns a receiver of the status of `name`, which changes with every
    /// event of the process, or none for an unknown name.
    pub fn status_updates(&self, name: &str) -> Option<watch::Receiver<Status>> {
        self.entry(name).ok().map(|entry| entry.status.clone())
    }

    /// Returns true once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Waits until shutdown begins, after a signal or when the run ends on
    /// its own. Returns at once when it already has.
    pub async fn shutdown_started(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the supervisor is gone, which is past shutdown too.
        let _ = shutdown.wait_for(|started| *started).await;
    }

    /// Returns how often each hook ran, by stage and outcome.
    pub fn hook_runs(&self) -> Vec<HookRunCount> {
        self.hook_runs.snapshot()
    }

    fn entry(&self, name: &str) -> Result<&ProcessEntry, ControlError> {
        self.processes
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| ControlError::NotFound(name.to_owned()))
    }
}

impl ProcessEntry {
    fn view(&self) -> ProcessView {
        ProcessView {
            name: self.name.clone(),
            kind: self.kind,
            scheduled: self.scheduled,
            max_scale: self.max_scale,
            health_check: self.health_check,
            status: self.status.borrow().clone(),
        }
    }

    async fn send(&self, request: Control) -> Result<(), ControlError> {
        self.control
            .send(request)
            .await
            .map_err(|_| ControlError::Gone)
    }
}
