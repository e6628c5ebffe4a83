//! One supervised process: its instances, restarts, health and stop.
//!
//! A single task owns each process and all of its state. Everything else
//! talks to it through messages: the supervisor sends [`Control`] requests,
//! the task publishes its [`Status`] on a watch channel for dependents, and
//! reports events that need the supervisor's attention as [`Report`]s.
//! Instance exits, health events, timers and reaper ticks all arrive in the
//! one `select!` loop in [`Task::run`], whose branches only dispatch.

mod control;
mod handlers;
mod instance;
pub(crate) mod status;

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use crate::config::{Dependency, Global, Process, ProcessKind};
use crate::exec::ExecContext;
use crate::health::{self, HealthEvent};
use crate::hooks::{HookRunner, Stage};
use crate::output::{OutputHandle, Pipeline};
use crate::reaper::{ExitStatus, Reaper};

use instance::Instance;
pub use status::{InstanceState, InstanceStatus, Phase, RestartCounts, Status};

/// Wait after SIGKILL for a group to empty before giving up on it. Only a
/// process stuck in uninterruptible sleep takes this long.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How often a group that outlived its leader is checked again.
const DRAIN_RECHECK: Duration = Duration::from_millis(20);

/// State shared by every process task.
pub(crate) struct Shared {
    /// Collects exit statuses.
    pub(crate) reaper: Reaper,
    /// Receives child output.
    pub(crate) output: OutputHandle,
    /// Runs per-process hooks.
    pub(crate) hooks: HookRunner,
    /// Restart and timing settings.
    pub(crate) global: Global,
    /// Becomes true when shutdown begins; nothing is spawned after that.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Becomes true when remaining waits must be skipped and groups killed.
    pub(crate) force: watch::Receiver<bool>,
    /// Compiled log pipelines by their settings, so processes with the same
    /// `logging` share one set of compiled patterns.
    pub(crate) pipelines: std::sync::Mutex<std::collections::HashMap<String, Arc<Pipeline>>>,
}

impl Shared {
    /// Returns the log pipeline for `logging`, compiling it only once for
    /// every process with the same settings.
    pub(crate) fn pipeline(&self, logging: &crate::config::ProcessLogging) -> Arc<Pipeline> {
        // The settings hold compiled regexes, which have no equality; their
        // debug form lists every setting and pattern, so it is the key.
        let key = format!("{logging:?}");
        let mut pipelines = self
            .pipelines
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        Arc::clone(
            pipelines
                .entry(key)
                .or_insert_with(|| Arc::new(Pipeline::new(logging))),
        )
    }
}

/// A request to a process task.
#[derive(Debug)]
pub(crate) enum Control {
    /// Stop every instance gracefully, SIGKILL what is left at `deadline`,
    /// and send `()` on `done` once every process group is empty.
    Stop {
        /// Latest time for the SIGKILL.
        deadline: Instant,
        /// Receives `()` when the process has stopped.
        done: oneshot::Sender<()>,
    },
    /// Send a signal to every running instance's process group.
    Signal(Signal),
    /// Stop every instance gracefully but keep the process, so it can be
    /// started again. The reply comes once every process group is empty.
    Halt {
        /// Receives the outcome.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Start every instance of a stopped, exited or fatal process.
    Start {
        /// Receives the outcome.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Stop every running instance gracefully and start it again at once,
    /// with a fresh restart count.
    Restart {
        /// Receives the outcome once the stops have been requested.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Start a run of a scheduled task now, outside its schedule.
    Trigger {
        /// Receives the outcome.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Stop starting runs of a scheduled task until it is resumed. Runs
    /// going on are not stopped.
    Pause {
        /// Receives the outcome.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Let a paused scheduled task fire again.
    Resume {
        /// Receives the outcome.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Change the number of instances. New instances start at once; a
    /// scale-down stops the highest-numbered instances gracefully.
    Scale {
        /// The new instance count.
        replicas: u32,
        /// Receives the previous count.
        reply: oneshot::Sender<Result<u32, ControlError>>,
    },
}

/// Why a control request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No process has that name.
    #[error("process `{0}` is not defined")]
    NotFound(String),
    /// The process task has ended, which happens only during shutdown.
    #[error("the process is no longer supervised")]
    Gone,
    /// phpeek-pm is shutting down.
    #[error("phpeek-pm is shutting down")]
    ShuttingDown,
    /// The process never started because a dependency failed.
    #[error("the process did not start: a dependency was not met")]
    NotStarted,
    /// Oneshots run once and can't be scaled.
    #[error("a oneshot process can't be scaled")]
    OneshotScale,
    /// Scheduled tasks run on their schedule; they are triggered, paused
    /// and resumed instead of started, stopped or scaled.
    #[error("a scheduled task can't be started, stopped, restarted or scaled")]
    Scheduled,
    /// A scale-down is still stopping instances.
    #[error("a scale-down is still in progress")]
    ScaleInProgress,
    /// The requested instance count is below 1 or above the process's limit.
    #[error("replicas must be between 1 and {max}, got {requested}")]
    ScaleOutOfRange {
        /// The requested count.
        requested: u32,
        /// `max_scale`, else `global.max_process_scale`.
        max: u32,
    },
    /// Start was requested while instances run.
    #[error("the process is already running")]
    AlreadyRunning,
    /// Stop was requested while nothing runs.
    #[error("the process is already stopped")]
    AlreadyStopped,
    /// Trigger, pause or resume on a process without a schedule.
    #[error("the process is not a scheduled task")]
    NotScheduled,
    /// A trigger while `schedule_max_concurrent` runs are going.
    #[error("the scheduled task already runs its maximum number of concurrent runs")]
    RunLimitReached,
    /// Pause of a paused task, or resume of one that isn't paused.
    #[error("the scheduled task is already {0}")]
    AlreadyInState(&'static str),
}

/// An event the supervisor must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// A dependency wait failed, so the process never started.
    StartFailed {
        /// Process name.
        process: String,
        /// Reason for the failure.
        reason: String,
    },
    /// An instance ran out of restart attempts.
    Fatal {
        /// Process name.
        process: String,
    },
    /// Every instance ended for good: a oneshot finished or the restart
    /// policy let a longrun stay down.
    Finished {
        /// Process name.
        process: String,
        /// True when every instance's last exit code was 0.
        success: bool,
    },
}

/// The supervisor's handle on one process task.
pub(crate) struct Handle {
    /// Process name.
    pub(crate) name: String,
    /// Latest status.
    pub(crate) status: watch::Receiver<Status>,
    /// Requests to the task.
    pub(crate) control: mpsc::Sender<Control>,
}

/// Starts the task for `process`. `dependencies` pairs each `depends_on`
/// entry with the status of the process it names.
pub(crate) fn start(
    shared: Arc<Shared>,
    process: Process,
    dependencies: Vec<(Dependency, watch::Receiver<Status>)>,
    reports: mpsc::Sender<Report>,
) -> Handle {
    let (status_sender, status) = watch::channel(Status::default());
    let (control_sender, control) = mpsc::channel(16);
    let name = process.name.clone();
    let (task, inbox) = Task::new(shared, process, status_sender, reports);
    tokio::spawn(task.run(inbox, dependencies, control));
    Handle {
        name,
        status,
        control: control_sender,
    }
}

struct Task {
    shared: Arc<Shared>,
    process: Process,
    name: Arc<str>,
    exec: Arc<ExecContext>,
    /// How the output of every instance becomes records.
    pipeline: Arc<Pipeline>,
    status: watch::Sender<Status>,
    reports: mpsc::Sender<Report>,
    instances: Vec<Instance>,
    exits: mpsc::UnboundedSender<(usize, nix::unistd::Pid, ExitStatus)>,
    health: mpsc::Sender<HealthEvent>,
    monitor: Option<tokio::task::JoinHandle<()>>,
    /// Set when a failed health check was logged at WARN and the process
    /// stayed up, so that later failures before it recovers are logged at
    /// DEBUG.
    unhealthy_reported: bool,
    stop_done: Option<oneshot::Sender<()>>,
    /// Set once the supervisor's shutdown stop arrived; the task ends when
    /// every instance has settled.
    terminating: bool,
    /// Replies to API stops that wait for every group to empty.
    pending_halts: Vec<oneshot::Sender<Result<(), ControlError>>>,
    /// Restart counts by reason.
    restart_counts: RestartCounts,
    /// Instance count requested by the config or the latest scale.
    desired: u32,
}

/// Receiving ends of the task's own channels, kept apart from [`Task`] so
/// the loop can borrow them while handlers borrow the task.
struct Inbox {
    exits: mpsc::UnboundedReceiver<(usize, nix::unistd::Pid, ExitStatus)>,
    health: mpsc::Receiver<HealthEvent>,
    reaped: watch::Receiver<u64>,
    force: watch::Receiver<bool>,
}

impl Task {
    fn new(
        shared: Arc<Shared>,
        process: Process,
        status: watch::Sender<Status>,
        reports: mpsc::Sender<Report>,
    ) -> (Task, Inbox) {
        let name: Arc<str> = Arc::from(process.name.as_str());
        let desired = process.scale;
        let instances = (0..process.scale)
            .map(|index| Instance::new(&name, index, &shared.global))
            .collect();
        let exec = Arc::new(ExecContext {
            reaper: shared.reaper.clone(),
            env: process.env.clone(),
            working_dir: process.working_dir.clone(),
            user: process.user.clone(),
        });
        let pipeline = shared.pipeline(&process.logging);
        let (exits, exits_inbox) = mpsc::unbounded_channel();
        let (health, health_inbox) = mpsc::channel(4);
        let inbox = Inbox {
            exits: exits_inbox,
            health: health_inbox,
            reaped: shared.reaper.subscribe(),
            force: shared.force.clone(),
        };
        let task = Task {
            shared,
            process,
            name,
            exec,
            pipeline,
            status,
            reports,
            instances,
            exits,
            health,
            monitor: None,
            unhealthy_reported: false,
            stop_done: None,
            terminating: false,
            pending_halts: Vec::new(),
            restart_counts: RestartCounts::default(),
            desired,
        };
        (task, inbox)
    }
}

impl Task {
    /// Waits for the dependencies, starts the instances, then handles events
    /// until a stop request has been carried out.
    async fn run(
        mut self,
        mut inbox: Inbox,
        dependencies: Vec<(Dependency, watch::Receiver<Status>)>,
        mut control: mpsc::Receiver<Control>,
    ) {
        if let Err(reason) = self.wait_for_dependencies(dependencies, &mut control).await {
            self.fail_start(reason, &mut control).await;
            return;
        }
        if self.stop_done.is_none() {
            self.start_all();
        }
        self.publish();

        while !self.stop_complete() {
            let wake_at = self.next_deadline();
            tokio::select! {
                Some((index, pid, status)) = inbox.exits.recv() => self.on_exit(index, pid, status),
                Some(event) = inbox.health.recv() => self.on_health(event),
                request = control.recv() => self.on_control(request).await,
                () = sleep_until(wake_at.unwrap_or_else(Instant::now)), if wake_at.is_some() => {
                    self.on_timer();
                }
                Ok(()) = inbox.reaped.changed(), if self.draining() => self.check_groups(),
                Ok(()) = inbox.force.changed() => self.on_force(),
            }
            self.settle();
            self.publish();
        }
    }

    /// Waits until every dependency meets its condition, bounded by
    /// `global.dependency_timeout` per dependency. A stop request during the
    /// wait is carried out at once, since nothing runs yet.
    async fn wait_for_dependencies(
        &mut self,
        dependencies: Vec<(Dependency, watch::Receiver<Status>)>,
        control: &mut mpsc::Receiver<Control>,
    ) -> Result<(), String> {
        let limit = self.shared.global.dependency_timeout;
        for (dependency, mut status) in dependencies {
            tracing::debug!(process = &*self.name, dependency = %dependency.name,
                condition = ?dependency.condition, "waiting for dependency");
            let deadline = Instant::now() + limit;
            let outcome = loop {
                tokio::select! {
                    outcome = status::wait_for(&mut status, &dependency) => break outcome,
                    request = control.recv() => {
                        if self.accept_early_request(request) {
                            return Ok(());
                        }
                    }
                    () = sleep_until(deadline) => break Err(format!(
                        "timed out after {}s waiting for `{}` to be {}",
                        limit.as_secs_f64(), dependency.name, status::describe(dependency.condition)
                    )),
                }
            };
            outcome?;
        }
        Ok(())
    }

    /// Handles a request that arrives before any instance exists. Returns
    /// true when it was a stop, which is already complete.
    fn accept_early_request(&mut self, request: Option<Control>) -> bool {
        match request {
            Some(Control::Stop { done, .. }) => {
                self.set_phase(Phase::Stopped);
                let _ = done.send(());
                self.stop_done = None;
                true
            }
            // Nothing runs yet, so there is nobody to forward a signal to.
            Some(Control::Signal(_)) => false,
            Some(request) => {
                reject(request, ControlError::NotStarted);
                false
            }
            None => true,
        }
    }

    /// Reports a failed start and handles requests until the stop arrives.
    async fn fail_start(&mut self, reason: String, control: &mut mpsc::Receiver<Control>) {
        tracing::error!(process = &*self.name, reason = %reason, "process could not start");
        self.set_phase(Phase::Failed);
        let report = Report::StartFailed {
            process: self.name.to_string(),
            reason,
        };
        let _ = self.reports.send(report).await;
        while let Some(request) = control.recv().await {
            if self.accept_early_request(Some(request)) {
                return;
            }
        }
    }

    async fn on_control(&mut self, request: Option<Control>) {
        match request {
            Some(Control::Stop { deadline, done }) => self.begin_stop(deadline, Some(done)).await,
            Some(Control::Signal(signal)) => self.forward(signal),
            Some(Control::Halt { reply }) => self.on_halt(reply).await,
            Some(Control::Start { reply }) => {
                let _ = reply.send(self.on_start());
            }
            Some(Control::Restart { reply }) => {
                let _ = reply.send(self.on_restart());
            }
            Some(Control::Scale { replicas, reply }) => {
                let _ = reply.send(self.on_scale(replicas));
            }
            Some(
                request
                @ (Control::Trigger { .. } | Control::Pause { .. } | Control::Resume { .. }),
            ) => {
                reject(request, ControlError::NotScheduled);
            }
            // The supervisor is gone; stop within the process's own timeout.
            None => {
                let deadline = Instant::now() + self.process.shutdown.timeout;
                self.begin_stop(deadline, None).await;
            }
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.status.send_modify(|status| status.phase = phase);
    }

    fn is_oneshot(&self) -> bool {
        self.process.kind == ProcessKind::Oneshot
    }

    fn start_health_monitor(&mut self) {
        let running = self
            .monitor
            .as_ref()
            .is_some_and(|monitor| !monitor.is_finished());
        if running {
            return;
        }
        if let Some(check) = &self.process.health_check {
            self.monitor = Some(health::spawn_monitor(
                check.clone(),
                Arc::clone(&self.exec),
                Arc::clone(&self.name),
                self.health.clone(),
            ));
        }
    }

    fn stop_health_monitor(&mut self) {
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
    }

    async fn run_pre_stop_hook(&self) {
        let Some(hook) = &self.process.shutdown.pre_stop_hook else {
            return;
        };
        let result = self
            .shared
            .hooks
            .run(
                hook,
                Stage::ProcessPreStop,
                Some(&self.name),
                self.shared.force.clone(),
            )
            .await;
        if let Err(error) = result {
            tracing::warn!(process = &*self.name, error = %error,
                "pre-stop hook failed; stopping anyway");
        }
    }

    /// Returns true when there is nothing left to wait for after a stop.
    fn stop_complete(&mut self) -> bool {
        if !self.terminating {
            return false;
        }
        if !self.instances.iter().all(Instance::is_settled) {
            return false;
        }
        self.set_phase(Phase::Stopped);
        tracing::info!(process = &*self.name, "process stopped");
        if let Some(done) = self.stop_done.take() {
            let _ = done.send(());
        }
        true
    }

    /// Returns true while some instance waits for its group to empty.
    fn draining(&self) -> bool {
        self.instances
            .iter()
            .any(|instance| matches!(instance.slot, instance::Slot::Draining { .. }))
    }

    fn stopping(&self) -> bool {
        self.status.borrow().phase == Phase::Stopping
    }
}

/// Answers an API request with `error`. Stops and signals carry no reply
/// and are left alone.
pub(crate) fn reject(request: Control, error: ControlError) {
    match request {
        Control::Halt { reply }
        | Control::Start { reply }
        | Control::Restart { reply }
        | Control::Trigger { reply }
        | Control::Pause { reply }
        | Control::Resume { reply } => {
            let _ = reply.send(Err(error));
        }
        Control::Scale { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Control::Stop { .. } | Control::Signal(_) => {}
    }
}

/// Builds the environment of one instance: the process's `env`, then the
/// two identifying variables, which win over anything the config sets.
fn instance_env(process: &Process, instance_id: &str) -> Vec<(String, String)> {
    let mut env = process.env.clone();
    env.push(("PHPEEK_PM_PROCESS_NAME".to_owned(), process.name.clone()));
    env.push(("PHPEEK_PM_INSTANCE_ID".to_owned(), instance_id.to_owned()));
    env
}
