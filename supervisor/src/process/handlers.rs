//! Event handlers of a process task: spawns, exits, health, timers, stops.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::Duration;

use tokio::time::Instant;

use super::instance::{After, Slot};
use super::{instance_env, Phase, Report, Task, DRAIN_RECHECK, KILL_WAIT};
use crate::config::RestartPolicy;
use crate::exec::error_chain;
use crate::group::{group_exists, signal_group};
use crate::health::HealthEvent;
use crate::output::{Source, Stream};
use crate::reaper::ExitStatus;
use crate::restart::Decision;
use crate::spawn::{spawn, ChildSpec};

/// Exit code recorded when the program could not be executed at all, as a
/// shell reports a command that was not found.
const NOT_STARTED_CODE: i32 = 127;

impl Task {
    /// Spawns every instance for the first time.
    pub(super) fn start_all(&mut self) {
        self.set_phase(Phase::Running);
        for index in 0..self.instances.len() {
            self.spawn_instance(index);
        }
    }

    /// Marks the process started once every instance was spawned at least
    /// once, and healthy as well when it has no health check. A program
    /// that can't be executed never counts as started.
    fn note_spawned(&mut self, index: usize) {
        self.instances[index].spawned = true;
        if !self.instances.iter().all(|instance| instance.spawned) {
            return;
        }
        let has_check = self.process.health_check.is_some();
        self.status.send_if_modified(|status| {
            let changed = !status.started || (!has_check && !status.became_healthy);
            status.started = true;
            if !has_check {
                status.became_healthy = true;
                status.healthy = true;
            }
            changed
        });
    }

    /// Spawns instance `index`, unless shutdown has begun.
    pub(super) fn spawn_instance(&mut self, index: usize) {
        if *self.shared.shutdown.borrow() {
            self.instances[index].slot = Slot::Idle;
            return;
        }
        let id = std::sync::Arc::clone(&self.instances[index].id);
        let env = instance_env(&self.process, &id);
        let spec = ChildSpec {
            command: &self.process.command,
            env: &env,
            working_dir: self.process.working_dir.as_deref(),
            user: self.process.user.as_ref(),
        };
        match spawn(&self.shared.reaper, spec) {
            Ok(child) => {
                let source = Source::new(
                    std::sync::Arc::clone(&self.name),
                    std::sync::Arc::clone(&id),
                )
                .with_pipeline(std::sync::Arc::clone(&self.pipeline));
                self.shared
                    .output
                    .capture(source.clone(), Stream::Stdout, child.stdout);
                self.shared
                    .output
                    .capture(source, Stream::Stderr, child.stderr);
                let exits = self.exits.clone();
                let pid = child.pid;
                tokio::spawn(async move {
                    if let Ok(status) = child.exit.await {
                        let _ = exits.send((index, pid, status));
                    }
                });
                tracing::info!(
                    process = &*self.name,
                    instance_id = &*id,
                    pid = pid.as_raw(),
                    "process started"
                );
                self.instances[index].started_at = Some(std::time::SystemTime::now());
                self.note_spawned(index);
                self.instances[index].slot = Slot::Running {
                    pid,
                    since: Instant::now(),
                };
                self.start_health_monitor();
            }
            Err(error) => {
                tracing::error!(process = &*self.name, instance_id = &*id,
                    error = %error_chain(&error), "could not start process");
                let status = ExitStatus::Exited(NOT_STARTED_CODE);
                self.after_exit(index, status, Instant::now());
            }
        }
    }

    /// Handles the reaped leader of instance `index`.
    pub(super) fn on_exit(&mut self, index: usize, pid: Pid, status: ExitStatus) {
        let Some(instance) = self.instances.get_mut(index) else {
            return;
        };
        match &mut instance.slot {
            Slot::Running {
                pid: running,
                since,
            } if *running == pid => {
                let since = *since;
                instance.last_exit = Some(status);
                log_exit(&self.name, &instance.id, pid, status, false);
                self.after_exit(index, status, since);
            }
            Slot::Draining {
                pgid, leader_gone, ..
            } if *pgid == pid => {
                *leader_gone = true;
                instance.last_exit = Some(status);
                log_exit(&self.name, &instance.id, pid, status, true);
                self.check_groups();
            }
            // A status for an instance that was already replaced.
            _ => {}
        }
        if !self
            .instances
            .iter()
            .any(|instance| instance.running_pid().is_some())
        {
            self.stop_health_monitor();
        }
    }

    /// Decides what follows an exit that phpeek-pm did not cause.
    fn after_exit(&mut self, index: usize, status: ExitStatus, since: Instant) {
        let pgid = self.instances[index].running_pid();
        if self.is_oneshot() && status.success() {
            self.instances[index].slot = Slot::Done;
            self.finish_if_settled();
            return;
        }
        let policy = match (self.is_oneshot(), self.process.restart) {
            // A oneshot is retried only on failure, whatever the policy says.
            (true, RestartPolicy::Never) => RestartPolicy::Never,
            (true, _) => RestartPolicy::OnFailure,
            (false, policy) => policy,
        };
        let decision = self.instances[index]
            .backoff
            .on_exit(policy, status, since.elapsed());
        match decision {
            Decision::Restart { delay, attempt } => {
                let reason = if status.success() { "exit" } else { "crash" };
                self.schedule_restart(index, reason, delay, attempt);
                let at = Instant::now() + delay;
                self.instances[index].slot = match pgid.filter(|pgid| group_exists(*pgid)) {
                    Some(pgid) => self.drain_leftovers(pgid, After::Restart(at)),
                    None => Slot::Restarting { at },
                };
            }
            Decision::Stay => {
                self.instances[index].slot = Slot::Done;
                self.finish_if_settled();
            }
            Decision::Fatal { attempts } => {
                self.instances[index].slot = Slot::Fatal;
                self.declare_fatal(index, attempts);
            }
        }
    }

    fn schedule_restart(
        &mut self,
        index: usize,
        reason: &'static str,
        delay: Duration,
        attempt: u32,
    ) {
        self.count_restart(index, reason);
        tracing::warn!(
            process = &*self.name,
            instance_id = &*self.instances[index].id,
            reason,
            delay_ms = delay.as_millis() as u64,
            attempt,
            "restart scheduled"
        );
    }

    /// Logs and reports an instance that ran out of restart attempts.
    fn declare_fatal(&mut self, index: usize, attempts: u32) {
        let exit_code = self.instances[index].last_exit.map(ExitStatus::code);
        tracing::error!(
            process = &*self.name,
            instance_id = &*self.instances[index].id,
            attempts,
            exit_code,
            "process is fatal: out of restart attempts"
        );
        if !self.is_oneshot() {
            self.set_phase(Phase::Fatal);
        }
        self.report(Report::Fatal {
            process: self.name.to_string(),
        });
        self.finish_if_settled();
    }

    /// Reports the process finished once every instance ended for good.
    fn finish_if_settled(&mut self) {
        let ended = |instance: &super::instance::Instance| {
            matches!(instance.slot, Slot::Done | Slot::Fatal)
        };
        if !self.instances.iter().all(ended) {
            return;
        }
        let success = self.instances.iter().all(|instance| {
            instance.slot == Slot::Done && instance.last_exit.is_none_or(ExitStatus::success)
        });
        let any_fatal = self
            .instances
            .iter()
            .any(|instance| instance.slot == Slot::Fatal);
        let phase = match (self.is_oneshot(), success) {
            (true, true) => Phase::Completed,
            (true, false) => Phase::Failed,
            (false, _) if any_fatal => Phase::Fatal,
            (false, _) => Phase::Exited,
        };
        self.set_phase(phase);
        self.report(Report::Finished {
            process: self.name.to_string(),
            success,
        });
    }

    /// Sends the stop signal to what a dead leader left in its group.
    fn drain_leftovers(&self, pgid: Pid, then: After) -> Slot {
        tracing::info!(
            process = &*self.name,
            pgid = pgid.as_raw(),
            "stopping what the exited process left in its group"
        );
        signal_group(pgid, self.process.shutdown.signal);
        Slot::Draining {
            pgid,
            kill_at: Instant::now() + self.process.shutdown.timeout,
            killed: false,
            leader_gone: true,
            then,
        }
    }

    /// Records a health verdict; an unhealthy process is restarted once.
    pub(super) fn on_health(&mut self, event: HealthEvent) {
        match event {
            HealthEvent::Healthy => {
                self.unhealthy_reported = false;
                tracing::info!(process = &*self.name, "process is healthy");
                self.status.send_modify(|status| {
                    status.became_healthy = true;
                    status.healthy = true;
                });
            }
            HealthEvent::Unhealthy { reason } => {
                self.status.send_modify(|status| status.healthy = false);
                if self.stopping() {
                    return;
                }
                // With restart: never the process stays up and is probed
                // again, so only the first failure until it recovers is a
                // warning.
                if self.unhealthy_reported {
                    tracing::debug!(process = &*self.name, reason = %reason, "health check failed");
                    self.start_health_monitor();
                    return;
                }
                tracing::warn!(process = &*self.name, reason = %reason, "health check failed");
                for index in 0..self.instances.len() {
                    self.restart_unhealthy(index);
                }
                self.unhealthy_reported = self.process.restart == RestartPolicy::Never;
                if self
                    .monitor
                    .as_ref()
                    .is_none_or(|monitor| monitor.is_finished())
                {
                    self.monitor = None;
                }
                // Without a restart nothing starts a new monitor, so keep
                // probing to see the process recover.
                if self.process.restart == RestartPolicy::Never {
                    self.start_health_monitor();
                }
            }
        }
    }

    /// Restarts a running instance after a failed health check, under the
    /// same backoff and attempt limit as a crash.
    fn restart_unhealthy(&mut self, index: usize) {
        let Slot::Running { since, .. } = self.instances[index].slot else {
            return;
        };
        let policy = self.process.restart;
        let decision = self.instances[index]
            .backoff
            .on_unhealthy(policy, since.elapsed());
        let kill_at = Instant::now() + self.process.shutdown.timeout;
        match decision {
            Decision::Restart { delay, attempt } => {
                self.schedule_restart(index, "health", delay, attempt);
                let at = Instant::now() + delay;
                self.begin_instance_stop(index, kill_at, After::Restart(at));
            }
            Decision::Stay => tracing::warn!(
                process = &*self.name,
                instance_id = &*self.instances[index].id,
                "unhealthy instance left running because of restart: never"
            ),
            Decision::Fatal { attempts } => {
                self.begin_instance_stop(index, kill_at, After::Fatal(attempts));
            }
        }
    }

    /// Signals a running instance and moves it to draining.
    pub(super) fn begin_instance_stop(&mut self, index: usize, kill_at: Instant, then: After) {
        let signal = self.process.shutdown.signal;
        let instance = &mut self.instances[index];
        match &mut instance.slot {
            Slot::Running { pid, .. } => {
                let pid = *pid;
                tracing::debug!(
                    process = &*self.name,
                    instance_id = &*instance.id,
                    pid = pid.as_raw(),
                    signal = signal.as_str(),
                    "sending stop signal"
                );
                signal_group(pid, signal);
                // A stopped (SIGSTOP) process can't act on the signal until
                // it runs again.
                signal_group(pid, Signal::SIGCONT);
                instance.slot = Slot::Draining {
                    pgid: pid,
                    kill_at,
                    killed: false,
                    leader_gone: false,
                    then,
                };
            }
            Slot::Draining {
                kill_at: current,
                then: current_then,
                killed,
                ..
            } => {
                if !*killed && kill_at < *current {
                    *current = kill_at;
                }
                if then == After::Stop {
                    *current_then = After::Stop;
                }
            }
            Slot::Restarting { .. } if then == After::Stop => instance.slot = Slot::Idle,
            _ => {}
        }
    }

    /// Starts the graceful stop of every instance.
    pub(super) async fn begin_stop(
        &mut self,
        deadline: Instant,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        self.stop_done = done;
        if self.terminating {
            return;
        }
        self.terminating = true;
        self.fail_pending_halts();
        let already_stopping = self.stopping();
        self.set_phase(Phase::Stopping);
        if already_stopping {
            // An API stop is under way: only tighten its deadline.
            for index in 0..self.instances.len() {
                self.begin_instance_stop(index, deadline, After::Stop);
            }
            return;
        }
        self.stop_health_monitor();
        let any_running = self
            .instances
            .iter()
            .any(|instance| instance.running_pid().is_some());
        if any_running {
            tracing::info!(
                process = &*self.name,
                signal = self.process.shutdown.signal.as_str(),
                "stopping process"
            );
            self.run_pre_stop_hook().await;
        }
        let kill_at = deadline.min(Instant::now() + self.process.shutdown.timeout);
        for index in 0..self.instances.len() {
            self.begin_instance_stop(index, kill_at, After::Stop);
        }
        if *self.shared.force.borrow() {
            self.on_force();
        }
    }

    /// Forwards `signal` to every running instance's group.
    pub(super) fn forward(&self, signal: Signal) {
        for instance in &self.instances {
            if let Some(pid) = instance.running_pid() {
                tracing::debug!(
                    process = &*self.name,
                    instance_id = &*instance.id,
                    signal = signal.as_str(),
                    "forwarding signal"
                );
                // Only the main process: php-fpm's and nginx's masters act on
                // HUP, USR1 and USR2, while their workers would die of them.
                if let Err(errno) = nix::sys::signal::kill(pid, signal) {
                    tracing::debug!(process = &*self.name, error = %errno, "signal not delivered");
                }
            }
        }
    }

    /// Kills every draining group at once after a second shutdown signal.
    pub(super) fn on_force(&mut self) {
        if !*self.shared.force.borrow() {
            return;
        }
        let now = Instant::now();
        for index in 0..self.instances.len() {
            self.begin_instance_stop(index, now, After::Stop);
        }
        self.on_timer();
    }

    /// Returns the earliest time the loop must wake up for a timer.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(|instance| match instance.slot {
                Slot::Restarting { at } => Some(at),
                Slot::Draining {
                    kill_at,
                    leader_gone,
                    ..
                } => {
                    let recheck = Instant::now() + DRAIN_RECHECK;
                    Some(if leader_gone {
                        kill_at.min(recheck)
                    } else {
                        kill_at
                    })
                }
                _ => None,
            })
            .min()
    }

    /// Spawns due restarts and SIGKILLs groups whose time ran out.
    pub(super) fn on_timer(&mut self) {
        let now = Instant::now();
        for index in 0..self.instances.len() {
            match self.instances[index].slot.clone() {
                Slot::Restarting { at } if at <= now => self.spawn_instance(index),
                Slot::Draining {
                    pgid,
                    kill_at,
                    killed,
                    leader_gone,
                    then,
                } if kill_at <= now => {
                    self.on_kill_time(index, pgid, killed, leader_gone, then);
                }
                _ => {}
            }
        }
        self.check_groups();
    }

    fn on_kill_time(
        &mut self,
        index: usize,
        pgid: Pid,
        killed: bool,
        leader_gone: bool,
        then: After,
    ) {
        let instance = &mut self.instances[index];
        if killed {
            tracing::error!(
                process = &*self.name,
                instance_id = &*instance.id,
                pgid = pgid.as_raw(),
                "process group still not empty after SIGKILL; giving up on it"
            );
            instance.slot = Slot::Draining {
                pgid,
                kill_at: Instant::now(),
                killed,
                leader_gone: true,
                then,
            };
            self.finish_drain(index, then);
            return;
        }
        tracing::warn!(
            process = &*self.name,
            instance_id = &*instance.id,
            pgid = pgid.as_raw(),
            "stop timeout passed; sending SIGKILL to the process group"
        );
        signal_group(pgid, Signal::SIGKILL);
        instance.slot = Slot::Draining {
            pgid,
            kill_at: Instant::now() + KILL_WAIT,
            killed: true,
            leader_gone,
            then,
        };
    }

    /// Completes drains whose leader is gone and whose group is empty.
    pub(super) fn check_groups(&mut self) {
        for index in 0..self.instances.len() {
            if let Slot::Draining {
                pgid,
                leader_gone: true,
                then,
                ..
            } = self.instances[index].slot
            {
                if !group_exists(pgid) {
                    self.finish_drain(index, then);
                }
            }
        }
    }

    fn finish_drain(&mut self, index: usize, then: After) {
        match then {
            After::Stop => self.instances[index].slot = Slot::Idle,
            After::Fatal(attempts) => {
                self.instances[index].slot = Slot::Fatal;
                self.declare_fatal(index, attempts);
            }
            After::Restart(at) if at <= Instant::now() => self.spawn_instance(index),
            After::Restart(at) => self.instances[index].slot = Slot::Restarting { at },
        }
    }

    fn report(&self, report: Report) {
        // The supervisor drains reports until it exits; a full channel means
        // it is shutting down, when reports no longer matter.
        let _ = self.reports.try_send(report);
    }
}

/// Logs an instance's exit: info for a clean or requested stop, warn else.
fn log_exit(process: &str, instance_id: &str, pid: Pid, status: ExitStatus, requested: bool) {
    let pid = pid.as_raw();
    let exit_code = status.code();
    let signal = status.signal_name();
    if requested || status.success() {
        tracing::info!(
            process,
            instance_id,
            pid,
            exit_code,
            signal,
            "process exited"
        );
    } else {
        tracing::warn!(
            process,
            instance_id,
            pid,
            exit_code,
            signal,
            "process exited"
        );
    }
}
