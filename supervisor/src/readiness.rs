//! Readiness: whether every enabled longrun is up, for `/readyz`, the API's
//! health endpoint and `phpeek-pm health`.
//!
//! A longrun is ready when its phase is running, its latest health verdict
//! is healthy (a process without a health check is healthy once started),
//! and every one of its instances runs. Oneshots never hold readiness back:
//! whatever waits for them is a longrun that depends on them. Scheduled
//! tasks are ignored too: between runs nothing of theirs is running.

use serde::Serialize;

use crate::config::ProcessKind;
use crate::supervisor::{InstanceState, Phase, ProcessView};

/// A longrun that is not ready, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotReady {
    /// Process name.
    pub process: String,
    /// The first condition that failed, as a short phrase.
    pub reason: String,
}

/// Returns every longrun in `processes` that is not ready; empty when all
/// are.
pub fn not_ready(processes: &[ProcessView]) -> Vec<NotReady> {
    processes
        .iter()
        .filter(|process| process.kind == ProcessKind::Longrun && !process.scheduled)
        .filter_map(|process| {
            reason(process).map(|reason| NotReady {
                process: process.name.clone(),
                reason,
            })
        })
        .collect()
}

fn reason(process: &ProcessView) -> Option<String> {
    let status = &process.status;
    if status.phase != Phase::Running {
        return Some(format!("process is {}", status.phase.as_str()));
    }
    if !status.healthy {
        return Some("health check is failing".to_owned());
    }
    let idle = status
        .instances
        .iter()
        .find(|instance| instance.state != InstanceState::Running);
    idle.map(|instance| format!("instance {} is {}", instance.id, instance.state.as_str()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::supervisor::{InstanceStatus, Status};

    fn instance(id: &str, state: InstanceState) -> InstanceStatus {
        InstanceStatus {
            id: Arc::from(id),
            state,
            pid: None,
            started_at: None,
            restarts: 0,
            last_exit: None,
        }
    }

    fn view(name: &str, kind: ProcessKind, phase: Phase, healthy: bool) -> ProcessView {
        ProcessView {
            scheduled: false,
            name: name.to_owned(),
            kind,
            max_scale: 100,
            health_check: true,
            status: Status {
                phase,
                healthy,
                instances: vec![instance(&format!("{name}-0"), InstanceState::Running)],
                ..Status::default()
            },
        }
    }

    #[test]
    fn running_healthy_longruns_are_ready() {
        let processes = [view("web", ProcessKind::Longrun, Phase::Running, true)];
        assert_eq!(not_ready(&processes), []);
    }

    #[test]
    fn unhealthy_and_waiting_longruns_are_listed() {
        let processes = [
            view("php-fpm", ProcessKind::Longrun, Phase::Running, false),
            view("nginx", ProcessKind::Longrun, Phase::Waiting, false),
        ];
        let failing = not_ready(&processes);

        assert_eq!(failing.len(), 2);
        assert_eq!(failing[0].process, "php-fpm");
        assert_eq!(failing[0].reason, "health check is failing");
        assert_eq!(failing[1].reason, "process is waiting");
    }

    #[test]
    fn restarting_instance_is_not_ready() {
        let mut web = view("web", ProcessKind::Longrun, Phase::Running, true);
        web.status
            .instances
            .push(instance("web-1", InstanceState::Restarting));
        let failing = not_ready(&[web]);

        assert_eq!(failing[0].reason, "instance web-1 is restarting");
    }

    #[test]
    fn scheduled_tasks_are_ignored() {
        let mut task = view("backup", ProcessKind::Longrun, Phase::Running, false);
        task.scheduled = true;
        assert!(not_ready(&[task]).is_empty());
    }

    #[test]
    fn oneshots_are_ignored() {
        let processes = [view("migrate", ProcessKind::Oneshot, Phase::Failed, false)];
        assert_eq!(not_ready(&processes), []);
    }
}
