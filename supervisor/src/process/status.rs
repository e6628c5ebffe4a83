//! The status a process publishes, and dependency conditions on it.

use tokio::sync::watch;

use crate::config::{Dependency, DependencyCondition};

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its dependencies.
    #[default]
    Waiting,
    /// Instances are running or about to be restarted.
    Running,
    /// A oneshot that exited 0.
    Completed,
    /// A oneshot that failed, or a start that could not happen.
    Failed,
    /// Every instance exited and the restart policy keeps them down.
    Exited,
    /// An instance ran out of restart attempts.
    Fatal,
    /// Being stopped.
    Stopping,
    /// Stopped by request.
    Stopped,
}

impl Phase {
    /// Returns the lower-case name used in messages and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Running => "running",
            Phase::Completed => "completed",
            Phase::Failed => "failed",
            Phase::Exited => "exited",
            Phase::Fatal => "fatal",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

/// Restart counts of a process by reason, since phpeek-pm started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartCounts {
    /// After an exit with a non-zero code or a signal.
    pub crash: u64,
    /// After an exit with code 0 under `restart: always`.
    pub exit: u64,
    /// After the health check failed.
    pub health: u64,
    /// Requested through the management API.
    pub manual: u64,
}

/// The state of one instance slot, as shown in status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Not running and not scheduled to.
    Stopped,
    /// The leader is alive.
    Running,
    /// Being stopped, or its group is being emptied.
    Stopping,
    /// Waiting for the restart delay.
    Restarting,
    /// Exited for good under its restart policy.
    Exited,
    /// Out of restart attempts.
    Fatal,
}

impl InstanceState {
    /// Returns the lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Stopped => "stopped",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Restarting => "restarting",
            InstanceState::Exited => "exited",
            InstanceState::Fatal => "fatal",
        }
    }
}

/// A snapshot of one instance slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `<process>-<index>`.
    pub id: std::sync::Arc<str>,
    /// Current state.
    pub state: InstanceState,
    /// Leader pid while running or stopping.
    pub pid: Option<i32>,
    /// Wall-clock time of the latest spawn.
    pub started_at: Option<std::time::SystemTime>,
    /// Restarts of this slot.
    pub restarts: u32,
    /// How the previous leader ended.
    pub last_exit: Option<crate::reaper::ExitStatus>,
}

/// What a process publishes to its dependents and the supervisor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Current phase.
    pub phase: Phase,
    /// Every instance has been spawned at least once.
    pub started: bool,
    /// The health check has passed at least once since the start, or there
    /// is no health check and the process started. Never reset, because it
    /// only gates the start of dependents.
    pub became_healthy: bool,
    /// Whether the latest health verdict is healthy.
    pub healthy: bool,
    /// Instances requested by the config or the latest scale.
    pub desired_scale: u32,
    /// Every instance slot, in index order.
    pub instances: Vec<InstanceStatus>,
    /// Restart counts by reason.
    pub restarts: RestartCounts,
}

/// Returns the condition in the words used in messages.
pub(crate) fn describe(condition: DependencyCondition) -> &'static str {
    match condition {
        DependencyCondition::Started => "started",
        DependencyCondition::Healthy => "healthy",
        DependencyCondition::CompletedSuccessfully => "completed successfully",
    }
}

/// Waits until the status meets `dependency`'s condition.
///
/// # Errors
///
/// Fails as soon as the condition can no longer be met, for example when a
/// oneshot failed or a process became fatal before it was healthy.
pub(crate) async fn wait_for(
    status: &mut watch::Receiver<Status>,
    dependency: &Dependency,
) -> Result<(), String> {
    let mut verdict = Ok(());
    let waited = status
        .wait_for(|status| match check(status, dependency.condition) {
            Check::Met => true,
            Check::Pending => false,
            Check::Impossible(phase) => {
                verdict = Err(format!(
                    "dependency `{}` is {} and will not become {}",
                    dependency.name,
                    phase_word(phase),
                    describe(dependency.condition)
                ));
                true
            }
        })
        .await;
    match waited {
        Ok(_) => verdict,
        Err(_) => Err(format!("dependency `{}` is gone", dependency.name)),
    }
}

enum Check {
    Met,
    Pending,
    Impossible(Phase),
}

fn check(status: &Status, condition: DependencyCondition) -> Check {
    let met = match condition {
        DependencyCondition::Started => status.started,
        DependencyCondition::Healthy => status.became_healthy,
        DependencyCondition::CompletedSuccessfully => status.phase == Phase::Completed,
    };
    if met {
        return Check::Met;
    }
    match status.phase {
        Phase::Waiting | Phase::Running => Check::Pending,
        other => Check::Impossible(other),
    }
}

fn phase_word(phase: Phase) -> &'static str {
    phase.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: Phase, started: bool, became_healthy: bool) -> Status {
        Status {
            phase,
            started,
            became_healthy,
            healthy: became_healthy,
            ..Status::default()
        }
    }

    #[test]
    fn healthy_condition_waits_for_health_not_start() {
        let running = status(Phase::Running, true, false);
        assert!(matches!(
            check(&running, DependencyCondition::Healthy),
            Check::Pending
        ));
        assert!(matches!(
            check(&running, DependencyCondition::Started),
            Check::Met
        ));
    }

    #[test]
    fn failed_oneshot_can_never_complete() {
        let failed = status(Phase::Failed, true, true);
        let verdict = check(&failed, DependencyCondition::CompletedSuccessfully);
        assert!(matches!(verdict, Check::Impossible(Phase::Failed)));
    }

    #[test]
    fn fatal_before_healthy_is_impossible() {
        let fatal = status(Phase::Fatal, true, false);
        assert!(matches!(
            check(&fatal, DependencyCondition::Healthy),
            Check::Impossible(_)
        ));
    }
}
