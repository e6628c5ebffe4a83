//! Handlers of the process routes: list, show, start, stop, restart and
//! scale.
//!
//! No route takes a command: the API acts only on processes defined in the
//! configuration.

use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{JsonBody, ProcessName};
use super::views::ProcessJson;
use super::ApiState;
use crate::supervisor::{Controller, InstanceState, Phase, Status};

/// Time that stop and restart wait for the processes to get there before
/// returning 202 with the state so far. It is shorter than the request
/// timeout, so the response always comes from the handler.
pub(crate) const ACTION_WAIT: Duration = Duration::from_secs(25);

/// `GET /api/v1/processes`.
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let controller = state.controller()?;
    let now = SystemTime::now();
    let processes: Vec<ProcessJson> = controller
        .processes()
        .iter()
        .map(|view| ProcessJson::new(view, now))
        .collect();
    Ok(Json(json!({ "processes": processes })))
}

/// `GET /api/v1/processes/{name}`.
pub(crate) async fn show(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<Json<Value>, ApiError> {
    let controller = state.controller()?;
    Ok(Json(json!({ "process": process_json(controller, &name)? })))
}

/// `POST /api/v1/processes/{name}/start`.
pub(crate) async fn start(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<Json<Value>, ApiError> {
    let controller = state.controller()?;
    controller.start(&name).await?;
    Ok(Json(action_body("started", controller, &name)?))
}

/// `POST /api/v1/processes/{name}/stop`: waits up to [`ACTION_WAIT`] for
/// every instance to stop.
pub(crate) async fn stop(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let controller = state.controller()?;
    let (status, word) = match tokio::time::timeout(ACTION_WAIT, controller.stop(&name)).await {
        Ok(result) => {
            result?;
            (StatusCode::OK, "stopped")
        }
        // The stop goes on in the process task; only the wait ends.
        Err(_) => (StatusCode::ACCEPTED, "stopping"),
    };
    Ok((status, Json(action_body(word, controller, &name)?)))
}

/// `POST /api/v1/processes/{name}/restart`: waits up to [`ACTION_WAIT`] for
/// every instance to run again.
pub(crate) async fn restart(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let controller = state.controller()?;
    let requested_at = SystemTime::now();
    controller.restart(&name).await?;

    let mut updates = controller
        .status_updates(&name)
        .ok_or_else(|| ApiError::unknown_process(&name))?;
    let waited = updates.wait_for(|status| restart_settled(status, requested_at));
    let (status, word) = match tokio::time::timeout(ACTION_WAIT, waited).await {
        Ok(Ok(_)) => (StatusCode::OK, "restarted"),
        Ok(Err(_)) | Err(_) => (StatusCode::ACCEPTED, "restarting"),
    };
    Ok((status, Json(action_body(word, controller, &name)?)))
}

/// Returns true once every instance runs again since `requested_at`, or the
/// process left the running phase, so waiting longer is pointless.
fn restart_settled(status: &Status, requested_at: SystemTime) -> bool {
    if status.phase != Phase::Running {
        return true;
    }
    status.instances.iter().all(|instance| {
        instance.state == InstanceState::Running
            && instance
                .started_at
                .is_some_and(|started| started >= requested_at)
    })
}

/// Body of `POST /api/v1/processes/{name}/scale`: exactly one field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScaleRequest {
    /// The new instance count, as in PHPeek PM's documentation.
    replicas: Option<i64>,
    /// The new instance count, as PHPeek PM 1.x accepts it.
    desired: Option<i64>,
    /// A change of the current desired count, positive or negative.
    delta: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ScaleAnswer {
    status: &'static str,
    previous_scale: u32,
    process: ProcessJson,
}

/// `POST /api/v1/processes/{name}/scale`.
pub(crate) async fn scale(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
    JsonBody(request): JsonBody<ScaleRequest>,
) -> Result<Json<ScaleAnswer>, ApiError> {
    let controller = state.controller()?;
    let view = controller
        .process(&name)
        .ok_or_else(|| ApiError::unknown_process(&name))?;
    if view.scheduled {
        let message = "a scheduled task runs one instance per run and can't be scaled";
        return Err(ApiError::unprocessable("not_scalable", message));
    }

    let target = match (request.replicas, request.desired, request.delta) {
        (Some(count), None, None) | (None, Some(count), None) => count,
        (None, None, Some(delta)) => i64::from(view.status.desired_scale).saturating_add(delta),
        _ => {
            let message = "give exactly one of `replicas`, `desired` or `delta`";
            return Err(ApiError::BadRequest(message.to_owned()));
        }
    };
    let replicas = u32::try_from(target)
        .ok()
        .filter(|replicas| (1..=view.max_scale).contains(replicas))
        .ok_or_else(|| {
            let message = format!(
                "replicas must be between 1 and {}, got {target}; use stop to stop every instance",
                view.max_scale
            );
            ApiError::unprocessable("out_of_range", message)
        })?;

    let previous_scale = controller.scale(&name, replicas).await?;
    Ok(Json(ScaleAnswer {
        status: "scaled",
        previous_scale,
        process: process_json(controller, &name)?,
    }))
}

fn process_json(controller: &Controller, name: &str) -> Result<ProcessJson, ApiError> {
    let view = controller
        .process(name)
        .ok_or_else(|| ApiError::unknown_process(name))?;
    Ok(ProcessJson::new(&view, SystemTime::now()))
}

fn action_body(word: &str, controller: &Controller, name: &str) -> Result<Value, ApiError> {
    let process = process_json(controller, name)?;
    Ok(json!({ "status": word, "process": process }))
}
