//! JSON shapes of the management API's responses, as documented in
//! `openapi.json`.

use std::time::SystemTime;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::ProcessKind;
use crate::supervisor::{ExitStatus, InstanceState, InstanceStatus, ProcessView};

/// One process.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessJson {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'static str,
    healthy: bool,
    health_check: bool,
    desired_scale: u32,
    current_scale: u32,
    max_scale: u32,
    restarts: RestartsJson,
    instances: Vec<InstanceJson>,
}

#[derive(Debug, Serialize)]
struct RestartsJson {
    total: u64,
    crash: u64,
    exit: u64,
    health: u64,
    manual: u64,
}

#[derive(Debug, Serialize)]
struct InstanceJson {
    id: String,
    state: &'static str,
    pid: Option<i32>,
    started_at: Option<String>,
    uptime_seconds: Option<f64>,
    restarts: u32,
    last_exit: Option<ExitJson>,
}

#[derive(Debug, Serialize)]
struct ExitJson {
    code: i32,
    signal: Option<&'static str>,
}

impl ProcessJson {
    /// Builds the JSON of `view` as of `now`.
    pub(crate) fn new(view: &ProcessView, now: SystemTime) -> ProcessJson {
        let status = &view.status;
        let counts = status.restarts;
        let current_scale = status
            .instances
            .iter()
            .filter(|instance| instance.state == InstanceState::Running)
            .count();
        ProcessJson {
            name: view.name.clone(),
            kind: match view.kind {
                _ if view.scheduled => "scheduled",
                ProcessKind::Longrun => "longrun",
                ProcessKind::Oneshot => "oneshot",
            },
            state: status.phase.as_str(),
            healthy: status.healthy,
            health_check: view.health_check,
            desired_scale: status.desired_scale,
            current_scale: u32::try_from(current_scale).unwrap_or(u32::MAX),
            max_scale: view.max_scale,
            restarts: RestartsJson {
                total: counts.crash + counts.exit + counts.health + counts.manual,
                crash: counts.crash,
                exit: counts.exit,
                health: counts.health,
                manual: counts.manual,
            },
            instances: status
                .instances
                .iter()
                .map(|instance| InstanceJson::new(instance, now))
                .collect(),
        }
    }
}

impl InstanceJson {
    fn new(instance: &InstanceStatus, now: SystemTime) -> InstanceJson {
        let running = instance.state == InstanceState::Running;
        let started_at = instance.started_at.filter(|_| running);
        InstanceJson {
            id: instance.id.to_string(),
            state: instance.state.as_str(),
            pid: instance.pid,
            started_at: started_at.and_then(rfc3339),
            uptime_seconds: started_at
                .and_then(|start| now.duration_since(start).ok())
                .map(|uptime| uptime.as_secs_f64()),
            restarts: instance.restarts,
            last_exit: instance.last_exit.map(ExitJson::new),
        }
    }
}

impl ExitJson {
    fn new(status: ExitStatus) -> ExitJson {
        ExitJson {
            code: status.code(),
            signal: status.signal_name(),
        }
    }
}

fn rfc3339(time: SystemTime) -> Option<String> {
    OffsetDateTime::from(time).format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::supervisor::{Phase, RestartCounts, Status};

    #[test]
    fn process_json_has_scale_uptime_and_exit() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let view = ProcessView {
            scheduled: false,
            name: "queue".to_owned(),
            kind: ProcessKind::Longrun,
            max_scale: 5,
            health_check: false,
            status: Status {
                phase: Phase::Running,
                healthy: true,
                desired_scale: 2,
                restarts: RestartCounts {
                    crash: 2,
                    manual: 1,
                    ..RestartCounts::default()
                },
                instances: vec![
                    InstanceStatus {
                        id: Arc::from("queue-0"),
                        state: InstanceState::Running,
                        pid: Some(42),
                        started_at: Some(start),
                        restarts: 3,
                        last_exit: Some(ExitStatus::Exited(1)),
                    },
                    InstanceStatus {
                        id: Arc::from("queue-1"),
                        state: InstanceState::Restarting,
                        pid: None,
                        started_at: Some(start),
                        restarts: 0,
                        last_exit: None,
                    },
                ],
                ..Status::default()
            },
        };
        let json = serde_json::to_value(ProcessJson::new(&view, start + Duration::from_secs(90)))
            .expect("serializes");

        assert_eq!(json["type"], "longrun");
        assert_eq!(json["state"], "running");
        assert_eq!(json["current_scale"], 1);
        assert_eq!(json["desired_scale"], 2);
        assert_eq!(json["restarts"]["total"], 3);
        assert_eq!(json["instances"][0]["pid"], 42);
        assert_eq!(json["instances"][0]["uptime_seconds"], 90.0);
        assert_eq!(json["instances"][0]["started_at"], "2023-11-14T22:13:20Z");
        assert_eq!(json["instances"][0]["last_exit"]["code"], 1);
        assert_eq!(
            json["instances"][1]["uptime_seconds"],
            serde_json::Value::Null
        );
    }
}
