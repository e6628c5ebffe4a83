//! Routes for scheduled tasks: trigger, pause and resume.
//!
//! The scheduler implements [`ScheduleControl`]; without it every name is
//! "not a scheduled task".

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ProcessName;
use super::ApiState;

/// Rejection of a schedule request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No scheduled task has that name.
    #[error("`{0}` is not a scheduled task")]
    NotScheduled(String),
    /// Trigger while a run is in progress, or pause during a run when the
    /// scheduler can't pause then.
    #[error("the task is running")]
    Running,
    /// Pause of a paused task.
    #[error("the task is already paused")]
    AlreadyPaused,
    /// Resume of a task that isn't paused.
    #[error("the task is not paused")]
    NotPaused,
    /// phpeek-pm is shutting down.
    #[error("phpeek-pm is shutting down")]
    ShuttingDown,
}

/// Control over scheduled tasks, implemented by the scheduler.
///
/// Calls come from request handlers on the runtime's only thread, so they
/// must return at once: queue the request and let the scheduler act on it.
pub trait ScheduleControl: Send + Sync {
    /// Returns true when `name` is a scheduled task. Such processes cannot
    /// be scaled.
    fn is_scheduled(&self, name: &str) -> bool;

    /// Starts a run of `name` now, outside its schedule.
    ///
    /// # Errors
    ///
    /// See [`ScheduleError`].
    fn trigger(&self, name: &str) -> Result<(), ScheduleError>;

    /// Stops planning runs of `name` until it is resumed.
    ///
    /// # Errors
    ///
    /// See [`ScheduleError`].
    fn pause(&self, name: &str) -> Result<(), ScheduleError>;

    /// Plans runs of a paused `name` again.
    ///
    /// # Errors
    ///
    /// See [`ScheduleError`].
    fn resume(&self, name: &str) -> Result<(), ScheduleError>;
}

impl From<ScheduleError> for ApiError {
    fn from(error: ScheduleError) -> ApiError {
        let message = error.to_string();
        let code = match error {
            ScheduleError::NotScheduled(_) => return ApiError::NotFound(message),
            ScheduleError::Running => "task_running",
            ScheduleError::AlreadyPaused => "already_paused",
            ScheduleError::NotPaused => "not_paused",
            ScheduleError::ShuttingDown => "shutting_down",
        };
        ApiError::Conflict { code, message }
    }
}

/// `POST /api/v1/processes/{name}/schedule/trigger`.
pub(crate) async fn trigger(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    act(&state, &name, |control| control.trigger(&name))?;
    let body = json!({"process": name, "status": "triggered"});
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// `POST /api/v1/processes/{name}/schedule/pause`.
pub(crate) async fn pause(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<Json<Value>, ApiError> {
    act(&state, &name, |control| control.pause(&name))?;
    Ok(Json(json!({"process": name, "status": "paused"})))
}

/// `POST /api/v1/processes/{name}/schedule/resume`.
pub(crate) async fn resume(
    State(state): State<ApiState>,
    ProcessName(name): ProcessName,
) -> Result<Json<Value>, ApiError> {
    act(&state, &name, |control| control.resume(&name))?;
    Ok(Json(json!({"process": name, "status": "resumed"})))
}

fn act(
    state: &ApiState,
    name: &str,
    request: impl FnOnce(&dyn ScheduleControl) -> Result<(), ScheduleError>,
) -> Result<(), ApiError> {
    match state.schedules() {
        Some(control) if control.is_scheduled(name) => Ok(request(control)?),
        _ => Err(ScheduleError::NotScheduled(name.to_owned()).into()),
    }
}
