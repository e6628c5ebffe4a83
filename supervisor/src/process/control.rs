//! Requests from the management API: stop, start, restart and scale, plus
//! the status snapshot the task publishes after every event.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::instance::{After, Instance, Slot};
use super::{ControlError, InstanceState, InstanceStatus, Phase, Task};

impl Task {
    /// Stops every instance gracefully and replies once all groups are
    /// empty. The process stays known and can be started again.
    pub(super) async fn on_halt(&mut self, reply: oneshot::Sender<Result<(), ControlError>>) {
        if self.terminating {
            let _ = reply.send(Err(ControlError::ShuttingDown));
            return;
        }
        if self.instances.iter().all(|instance| instance.is_settled()) && !self.stopping() {
            let _ = reply.send(Err(ControlError::AlreadyStopped));
            return;
        }
        self.pending_halts.push(reply);
        if self.stopping() {
            return;
        }

        tracing::info!(
            process = &*self.name,
            signal = self.process.shutdown.signal.as_str(),
            "stopping process on request"
        );
        self.set_phase(Phase::Stopping);
        self.stop_health_monitor();
        self.run_pre_stop_hook().await;
        let kill_at = Instant::now() + self.process.shutdown.timeout;
        for index in 0..self.instances.len() {
            self.begin_instance_stop(index, kill_at, After::Stop);
        }
    }

    /// Starts every instance that isn't running.
    pub(super) fn on_start(&mut self) -> Result<(), ControlError> {
        self.check_accepting()?;
        let idle: Vec<usize> = (0..self.instances.len())
            .filter(|index| self.instances[*index].is_settled())
            .collect();
        if idle.is_empty() {
            return Err(ControlError::AlreadyRunning);
        }
        tracing::info!(process = &*self.name, "starting process on request");
        self.set_phase(Phase::Running);
        for index in idle {
            self.instances[index].backoff.reset();
            self.spawn_instance(index);
        }
        Ok(())
    }

    /// Restarts every instance: running ones are stopped gracefully and
    /// started again once their group is empty, the rest start at once.
    pub(super) fn on_restart(&mut self) -> Result<(), ControlError> {
        self.check_accepting()?;
        tracing::info!(process = &*self.name, "restarting process on request");
        self.set_phase(Phase::Running);
        let now = Instant::now();
        for index in 0..self.instances.len() {
            self.instances[index].backoff.reset();
            self.count_restart(index, "manual");
            match self.instances[index].slot {
                Slot::Running { .. } => {
                    let kill_at = now + self.process.shutdown.timeout;
                    self.begin_instance_stop(index, kill_at, After::Restart(now));
                }
                Slot::Draining { .. } => {}
                _ => self.spawn_instance(index),
            }
        }
        Ok(())
    }

    /// Changes the instance count and returns the previous one.
    pub(super) fn on_scale(&mut self, replicas: u32) -> Result<u32, ControlError> {
        self.check_accepting()?;
        if self.is_oneshot() {
            return Err(ControlError::OneshotScale);
        }
        let max = self.max_scale();
        if replicas == 0 || replicas > max {
            return Err(ControlError::ScaleOutOfRange {
                requested: replicas,
                max,
            });
        }
        if self.instances.iter().any(|instance| instance.retiring) {
            return Err(ControlError::ScaleInProgress);
        }
        let previous = self.instances.len() as u32;
        let wanted = replicas as usize;
        tracing::info!(
            process = &*self.name,
            from = previous,
            to = replicas,
            "scaling process"
        );

        if wanted > self.instances.len() {
            let running = self.status.borrow().phase == Phase::Running;
            for index in self.instances.len()..wanted {
                let instance = Instance::new(&self.name, index as u32, &self.shared.global);
                self.instances.push(instance);
                if running {
                    self.spawn_instance(index);
                }
            }
        } else {
            let kill_at = Instant::now() + self.process.shutdown.timeout;
            for index in wanted..self.instances.len() {
                self.instances[index].retiring = true;
                self.begin_instance_stop(index, kill_at, After::Stop);
                if matches!(self.instances[index].slot, Slot::Done | Slot::Fatal) {
                    self.instances[index].slot = Slot::Idle;
                }
            }
        }
        self.desired = replicas;
        Ok(previous)
    }

    /// Returns the largest instance count allowed: `max_scale`, else
    /// `global.max_process_scale`.
    pub(super) fn max_scale(&self) -> u32 {
        self.process
            .max_scale
            .unwrap_or(self.shared.global.max_process_scale)
    }

    fn check_accepting(&self) -> Result<(), ControlError> {
        if self.terminating || *self.shared.shutdown.borrow() {
            return Err(ControlError::ShuttingDown);
        }
        Ok(())
    }

    /// Counts a restart of instance `index` for `reason`.
    pub(super) fn count_restart(&mut self, index: usize, reason: &str) {
        self.instances[index].restarts = self.instances[index].restarts.saturating_add(1);
        let counts = &mut self.restart_counts;
        match reason {
            "crash" => counts.crash += 1,
            "exit" => counts.exit += 1,
            "health" => counts.health += 1,
            _ => counts.manual += 1,
        }
    }

    /// Completes what waits on instances settling: API stops, and the
    /// removal of slots retired by a scale-down.
    pub(super) fn settle(&mut self) {
        while self
            .instances
            .last()
            .is_some_and(|last| last.retiring && last.is_settled())
        {
            self.instances.pop();
        }
        if self.pending_halts.is_empty() || self.terminating {
            return;
        }
        if self.instances.iter().all(Instance::is_settled) {
            self.set_phase(Phase::Stopped);
            tracing::info!(process = &*self.name, "process stopped");
            for reply in self.pending_halts.drain(..) {
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// Answers waiting API stops when shutdown takes over.
    pub(super) fn fail_pending_halts(&mut self) {
        for reply in self.pending_halts.drain(..) {
            let _ = reply.send(Err(ControlError::ShuttingDown));
        }
    }

    /// Publishes the instances and counters in the status channel.
    pub(super) fn publish(&self) {
        let instances: Vec<InstanceStatus> = self.instances.iter().map(snapshot).collect();
        let counts = self.restart_counts;
        let desired = self.desired;
        self.status.send_if_modified(|status| {
            let changed = status.instances != instances
                || status.restarts != counts
                || status.desired_scale != desired;
            status.instances = instances;
            status.restarts = counts;
            status.desired_scale = desired;
            changed
        });
    }
}

fn snapshot(instance: &Instance) -> InstanceStatus {
    let (state, pid) = match &instance.slot {
        Slot::Idle => (InstanceState::Stopped, None),
        Slot::Running { pid, .. } => (InstanceState::Running, Some(pid.as_raw())),
        Slot::Draining {
            pgid, leader_gone, ..
        } => (
            InstanceState::Stopping,
            (!leader_gone).then_some(pgid.as_raw()),
        ),
        Slot::Restarting { .. } => (InstanceState::Restarting, None),
        Slot::Done => (InstanceState::Exited, None),
        Slot::Fatal => (InstanceState::Fatal, None),
    };
    InstanceStatus {
        id: Arc::clone(&instance.id),
        state,
        pid,
        started_at: instance.started_at,
        restarts: instance.restarts,
        last_exit: instance.last_exit,
    }
}
