//! The one error type of the management API and its JSON response.
//!
//! Every failure is returned as `{"error": <message>, "code": <code>}`, where
//! `code` is a stable snake_case word that clients can match on and `error`
//! a sentence for people.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::supervisor::ControlError;

/// Failure of an API request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// The body is not valid JSON or has missing, unknown or mistyped
    /// fields, or a query parameter is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The bearer token is missing or wrong.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// No such process or route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than `api_max_request_body`.
    #[error("the request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// The request conflicts with the process's state.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Sentence for people.
        message: String,
    },
    /// The JSON is valid but a value is not acceptable.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Sentence for people.
        message: String,
    },
    /// Pre-start hooks are still running, so no process exists yet.
    #[error("phpeek-pm is starting; try again shortly")]
    Starting,
    /// The request took longer than the API's request timeout.
    #[error("the request timed out")]
    Timeout,
}

impl ApiError {
    /// Returns the HTTP status and the stable code.
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
        }
    }

    /// Creates a 404 for an unknown process name.
    pub(crate) fn unknown_process(name: &str) -> ApiError {
        ApiError::NotFound(format!("process `{name}` is not defined"))
    }

    /// Creates a 422 with `code`.
    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> ApiError {
        let message = error.to_string();
        let conflict = |code| ApiError::Conflict {
            code,
            message: message.clone(),
        };
        match error {
            ControlError::NotFound(name) => ApiError::unknown_process(&name),
            ControlError::Gone | ControlError::ShuttingDown => conflict("shutting_down"),
            ControlError::NotStarted => conflict("not_started"),
            ControlError::ScaleInProgress => conflict("scale_in_progress"),
            ControlError::AlreadyRunning => conflict("already_running"),
            ControlError::AlreadyStopped => conflict("already_stopped"),
            ControlError::OneshotScale | ControlError::Scheduled => {
                ApiError::unprocessable("not_scalable", message)
            }
            ControlError::NotScheduled => ApiError::NotFound(message),
            ControlError::RunLimitReached => conflict("task_running"),
            ControlError::AlreadyInState(state) => conflict(if state == "paused" {
                "already_paused"
            } else {
                "not_paused"
            }),
            ControlError::ScaleOutOfRange { .. } => {
                ApiError::unprocessable("out_of_range", message)
            }
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                code,
                "management API request failed"
            );
        }
        let body = Body {
            error: &message,
            code,
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_errors_map_to_statuses() {
        let cases = [
            (ControlError::NotFound("x".into()), 404, "not_found"),
            (ControlError::ShuttingDown, 409, "shutting_down"),
            (ControlError::Gone, 409, "shutting_down"),
            (ControlError::AlreadyRunning, 409, "already_running"),
            (ControlError::AlreadyStopped, 409, "already_stopped"),
            (ControlError::ScaleInProgress, 409, "scale_in_progress"),
            (ControlError::NotStarted, 409, "not_started"),
            (ControlError::OneshotScale, 422, "not_scalable"),
            (
                ControlError::ScaleOutOfRange {
                    requested: 0,
                    max: 4,
                },
                422,
                "out_of_range",
            ),
        ];
        for (error, status, code) in cases {
            let (actual_status, actual_code) = ApiError::from(error.clone()).status_and_code();
            assert_eq!(actual_status.as_u16(), status, "{error:?}");
            assert_eq!(actual_code, code, "{error:?}");
        }
    }

    #[tokio::test]
    async fn body_carries_message_and_code() {
        let response = ApiError::unknown_process("web").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON body");
        assert_eq!(body["error"], "process `web` is not defined");
        assert_eq!(body["code"], "not_found");
    }
}
