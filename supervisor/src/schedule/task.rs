//! The task that owns one scheduled process: it waits for the process's
//! dependencies, then starts a run at each firing until shutdown.
//!
//! It speaks the same protocol as a process task ([`Control`] in, [`Status`]
//! and [`Report`] out), so the supervisor starts, signals and stops it like
//! any process. Forwarded signals are not passed on to runs: a reload
//! signal meant for php-fpm would end a cron job.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::clock::{Clock, Firings, SystemClock};
use super::heartbeat::{Event, Pinger};
use super::run::{self, Run};
use super::stats::ScheduleStats;
use crate::config::{Dependency, Process, ScheduledTask};
use crate::output::OutputHandle;
use crate::process::status::{describe, wait_for};
use crate::process::{self, Control, ControlError, Handle, Phase, Report, Shared, Status};
use crate::reaper::Reaper;

/// The parts every scheduled task shares.
pub(crate) struct Scheduler {
    stats: ScheduleStats,
    pinger: Option<Pinger>,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    /// Creates the shared parts. The HTTP client is only built when
    /// `heartbeats` is true; if that fails, pings are off and it is logged.
    pub(crate) fn new(stats: ScheduleStats, heartbeats: bool) -> Scheduler {
        let pinger = heartbeats
            .then(|| match Pinger::new(stats.clone()) {
                Ok(pinger) => Some(pinger),
                Err(error) => {
                    tracing::error!(error = %crate::exec::error_chain(&error),
                        "could not set up the HTTP client; heartbeat pings are off");
                    None
                }
            })
            .flatten();
        Scheduler {
            stats,
            pinger,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Scheduler {
    /// Returns the shared statistics of every scheduled task.
    pub(crate) fn stats(&self) -> ScheduleStats {
        self.stats.clone()
    }
}

/// The settings and handles that one task's runs use.
pub(crate) struct TaskContext {
    /// Process name.
    pub(crate) name: Arc<str>,
    /// The process; its `schedule` is set.
    pub(crate) process: Process,
    /// Collects the runs' exit statuses.
    pub(crate) reaper: Reaper,
    /// Receives the runs' output.
    pub(crate) output: OutputHandle,
    /// The statistics that runs update.
    pub(crate) stats: ScheduleStats,
    /// Sends heartbeat pings, when any task has a heartbeat.
    pub(crate) pinger: Option<Pinger>,
    /// The wall clock.
    pub(crate) clock: Arc<dyn Clock>,
}

impl TaskContext {
    /// Starts the ping sequence of one run, when the task has a heartbeat.
    pub(crate) fn heartbeat_sender(
        &self,
        instance_id: &str,
    ) -> Option<mpsc::UnboundedSender<Event>> {
        let heartbeat = self.process.schedule.as_ref()?.heartbeat.as_ref()?;
        self.pinger
            .as_ref()?
            .start_run(&heartbeat.url, &self.name, instance_id)
    }
}

/// Starts the task for the scheduled `process`. `dependencies` pairs each
/// `depends_on` entry with the status of the process it names.
pub(crate) fn start(
    shared: Arc<Shared>,
    scheduler: &Scheduler,
    process: Process,
    dependencies: Vec<(Dependency, watch::Receiver<Status>)>,
    reports: mpsc::Sender<Report>,
) -> Handle {
    let (status_sender, status) = watch::channel(Status::default());
    let (control_sender, control) = mpsc::channel(16);
    let (ended, ended_inbox) = mpsc::unbounded_channel();
    let name: Arc<str> = Arc::from(process.name.as_str());
    scheduler.stats.update(&name, |_| {});
    let context = Arc::new(TaskContext {
        name: Arc::clone(&name),
        process,
        reaper: shared.reaper.clone(),
        output: shared.output.clone(),
        stats: scheduler.stats.clone(),
        pinger: scheduler.pinger.clone(),
        clock: Arc::clone(&scheduler.clock),
    });
    let task = Task {
        context,
        shared,
        status: status_sender,
        reports,
        runs: BTreeMap::new(),
        runs_started: 0,
        ended,
        stop_done: None,
        stopping: false,
        paused: false,
    };
    tokio::spawn(task.run(dependencies, control, ended_inbox));
    Handle {
        name: name.to_string(),
        status,
        control: control_sender,
    }
}

struct Task {
    context: Arc<TaskContext>,
    shared: Arc<Shared>,
    status: watch::Sender<Status>,
    reports: mpsc::Sender<Report>,
    /// Runs going now, by run number.
    runs: BTreeMap<u64, Run>,
    runs_started: u64,
    ended: mpsc::UnboundedSender<u64>,
    stop_done: Option<oneshot::Sender<()>>,
    stopping: bool,
    /// Paused through the management API.
    paused: bool,
}

impl Task {
    async fn run(
        mut self,
        dependencies: Vec<(Dependency, watch::Receiver<Status>)>,
        mut control: mpsc::Receiver<Control>,
        mut ended: mpsc::UnboundedReceiver<u64>,
    ) {
        if let Err(reason) = self.wait_for_dependencies(dependencies, &mut control).await {
            self.fail_start(reason, &mut control).await;
            return;
        }
        let Some(settings) = self.context.process.schedule.clone() else {
            return;
        };
        if !self.stopping {
            self.fire_until_stopped(&settings, &mut control, &mut ended)
                .await;
        }
        self.set_phase(Phase::Stopped);
        self.context
            .stats
            .update(&self.context.name, |stats| stats.next_run = None);
        tracing::info!(process = &*self.context.name, "scheduled task stopped");
        if let Some(done) = self.stop_done.take() {
            let _ = done.send(());
        }
    }

    async fn fire_until_stopped(
        &mut self,
        settings: &ScheduledTask,
        control: &mut mpsc::Receiver<Control>,
        ended: &mut mpsc::UnboundedReceiver<u64>,
    ) {
        let clock = Arc::clone(&self.context.clock);
        let mut firings = Firings::arm(settings.schedule.clone(), settings.timezone, clock);
        self.status.send_modify(|status| {
            status.phase = Phase::Running;
            status.started = true;
        });
        tracing::info!(process = &*self.context.name, schedule = %settings.expression,
            timezone = settings.timezone.name(), "scheduled task armed");
        let mut shutdown = self.shared.shutdown.clone();
        let mut force = self.shared.force.clone();

        while !(self.stopping && self.runs.is_empty()) {
            let accepting = !self.stopping && !*shutdown.borrow();
            let next = accepting.then(|| firings.upcoming()).flatten();
            self.context
                .stats
                .update(&self.context.name, |stats| stats.next_run = next);
            tokio::select! {
                () = firings.sleep_until(next.unwrap_or_default()), if next.is_some() => {
                    self.on_fire(settings);
                }
                Some(number) = ended.recv() => {
                    self.runs.remove(&number);
                }
                request = control.recv() => self.on_control(request, settings),
                Ok(()) = shutdown.changed() => {}
                Ok(()) = force.changed() => self.on_force(),
            }
        }
    }

    /// Starts a run, or skips the firing while `max_concurrent` runs go on.
    fn on_fire(&mut self, settings: &ScheduledTask) {
        if *self.shared.shutdown.borrow() {
            return;
        }
        if self.paused {
            tracing::debug!(process = &*self.context.name, "firing ignored while paused");
            return;
        }
        let name = &*self.context.name;
        let running = self.runs.len();
        if running >= settings.max_concurrent as usize {
            let mut skips = 0;
            self.context.stats.update(name, |stats| {
                stats.skips += 1;
                skips = stats.skips;
            });
            tracing::warn!(
                process = name,
                running,
                max_concurrent = settings.max_concurrent,
                skips,
                "scheduled run skipped because earlier runs are still going"
            );
            return;
        }
        self.start_run();
    }

    fn on_control(&mut self, request: Option<Control>, settings: &ScheduledTask) {
        let deadline = match request {
            Some(Control::Trigger { reply }) => {
                let _ = reply.send(self.on_trigger(settings));
                return;
            }
            Some(Control::Pause { reply }) => {
                let _ = reply.send(self.set_paused(true));
                return;
            }
            Some(Control::Resume { reply }) => {
                let _ = reply.send(self.set_paused(false));
                return;
            }
            Some(Control::Stop { deadline, done }) => {
                self.stop_done = Some(done);
                deadline
            }
            Some(Control::Signal(signal)) => {
                tracing::debug!(
                    process = &*self.context.name,
                    signal = signal.as_str(),
                    "not forwarding signal to scheduled runs"
                );
                return;
            }
            Some(request) => {
                process::reject(request, ControlError::Scheduled);
                return;
            }
            // The supervisor is gone; stop within the task's own timeout.
            None => Instant::now() + self.context.process.shutdown.timeout,
        };
        self.stopping = true;
        self.set_phase(Phase::Stopping);
        for run in self.runs.values() {
            run.stop(deadline);
        }
    }

    /// Starts a run now, outside the schedule, within the concurrency limit.
    fn on_trigger(&mut self, settings: &ScheduledTask) -> Result<(), ControlError> {
        if self.stopping || *self.shared.shutdown.borrow() {
            return Err(ControlError::ShuttingDown);
        }
        if self.runs.len() >= settings.max_concurrent as usize {
            return Err(ControlError::RunLimitReached);
        }
        tracing::info!(
            process = &*self.context.name,
            "scheduled run triggered on request"
        );
        self.start_run();
        Ok(())
    }

    fn set_paused(&mut self, paused: bool) -> Result<(), ControlError> {
        if self.paused == paused {
            return Err(ControlError::AlreadyInState(if paused {
                "paused"
            } else {
                "running"
            }));
        }
        self.paused = paused;
        self.context
            .stats
            .update(&self.context.name, |stats| stats.paused = paused);
        let message = if paused {
            "scheduled task paused"
        } else {
            "scheduled task resumed"
        };
        tracing::info!(process = &*self.context.name, "{}", message);
        Ok(())
    }

    fn start_run(&mut self) {
        self.runs_started += 1;
        let number = self.runs_started;
        let run = run::start(Arc::clone(&self.context), number, self.ended.clone());
        self.runs.insert(number, run);
    }

    /// Kills every run at once after a second shutdown signal.
    fn on_force(&mut self) {
        if !*self.shared.force.borrow() {
            return;
        }
        for run in self.runs.values() {
            run.stop(Instant::now());
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.status.send_modify(|status| status.phase = phase);
    }

    /// Waits until every dependency meets its condition, each bounded by
    /// `global.dependency_timeout`. A stop request ends the wait at once.
    async fn wait_for_dependencies(
        &mut self,
        dependencies: Vec<(Dependency, watch::Receiver<Status>)>,
        control: &mut mpsc::Receiver<Control>,
    ) -> Result<(), String> {
        let limit = self.shared.global.dependency_timeout;
        for (dependency, mut status) in dependencies {
            let deadline = Instant::now() + limit;
            let outcome = loop {
                tokio::select! {
                    outcome = wait_for(&mut status, &dependency) => break outcome,
                    request = control.recv() => {
                        if self.accept_early_request(request) {
                            return Ok(());
                        }
                    }
                    () = sleep_until(deadline) => break Err(format!(
                        "timed out after {}s waiting for `{}` to be {}",
                        limit.as_secs_f64(), dependency.name, describe(dependency.condition)
                    )),
                }
            };
            outcome?;
        }
        Ok(())
    }

    /// Handles a request before the task is armed. Returns true for a stop.
    fn accept_early_request(&mut self, request: Option<Control>) -> bool {
        match request {
            Some(Control::Stop { done, .. }) => {
                self.stop_done = Some(done);
                self.stopping = true;
                true
            }
            Some(Control::Signal(_)) => false,
            Some(request) => {
                process::reject(request, ControlError::Scheduled);
                false
            }
            None => {
                self.stopping = true;
                true
            }
        }
    }

    async fn fail_start(&mut self, reason: String, control: &mut mpsc::Receiver<Control>) {
        tracing::error!(process = &*self.context.name, reason = %reason,
            "scheduled task could not start");
        self.set_phase(Phase::Failed);
        let report = Report::StartFailed {
            process: self.context.name.to_string(),
            reason,
        };
        let _ = self.reports.send(report).await;
        while let Some(request) = control.recv().await {
            if self.accept_early_request(Some(request)) {
                break;
            }
        }
        if let Some(done) = self.stop_done.take() {
            let _ = done.send(());
        }
    }
}
