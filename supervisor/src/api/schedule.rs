//! Routes for scheduled tasks: trigger, pause and resume.
//!
//! Requests go through the [`Controller`](crate::supervisor::Controller) to
//! the task that owns the schedule, so they are ordered with its firings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ProcessName;
use super::ApiState;

/// `POST /api/v1/processes/{name}/schedule/trigger`.
pub(crate) async fn trigger(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let controller = state.controller()?;
    require_scheduled(&state, &name)?;
    controller.trigger(&name).await?;
    let body = json!({"process": name, "status": "triggered"});
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// `POST /api/v1/processes/{name}/schedule/pause`.
pub(crate) async fn pause(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<Json<Value>, ApiError> {
    let controller = state.controller()?;
    require_scheduled(&state, &name)?;
    controller.set_paused(&name, true).await?;
    Ok(Json(json!({"process": name, "status": "paused"})))
}

/// `POST /api/v1/processes/{name}/schedule/resume`.
pub(crate) async fn resume(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<Json<Value>, ApiError> {
    let controller = state.controller()?;
    require_scheduled(&state, &name)?;
    controller.set_paused(&name, false).await?;
    Ok(Json(json!({"process": name, "status": "resumed"})))
}

/// Returns a 404 error unless `name` is a scheduled task.
fn require_scheduled(state: &ApiState, name: &str) -> Result<(), ApiError> {
    let controller = state.controller()?;
    match controller.process(name) {
        Some(view) if view.scheduled => Ok(()),
        _ => Err(ApiError::NotFound(format!(
            "`{name}` is not a scheduled task"
        ))),
    }
}
