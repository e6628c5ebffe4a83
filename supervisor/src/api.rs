//! The management API: a small REST interface over the [`Controller`].
//!
//! It is off by default and binds 127.0.0.1 unless configured otherwise.
//! With a token, every request, unknown routes included, needs
//! `Authorization: Bearer <token>`, compared in constant time. Bodies are
//! limited to `api_max_request_body` bytes and every request to
//! [`REQUEST_TIMEOUT`]. Errors are JSON, see [`error`]. The routes are
//! listed in [`ROUTES`] and documented in `api/openapi.json`, which is served
//! at `/api/v1/openapi.json`; a unit test keeps the two in agreement.
//!
//! [`Controller`]: crate::supervisor::Controller

mod error;
mod extract;
mod logs;
mod processes;
mod schedule;
#[cfg(test)]
mod tests;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::logring::LogRings;
use crate::metrics::ControllerCell;
use crate::supervisor::Controller;
use error::ApiError;

/// Maximum time one request may take. Stop and restart wait less, see
/// [`processes::ACTION_WAIT`], and return 202 when the process needs longer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("api/openapi.json");

/// Shared state of the API handlers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ApiState(Arc<Inner>);

struct Inner {
    controller: ControllerCell,
    token: Option<Secret>,
    max_request_body: usize,
    rings: Option<Arc<LogRings>>,
}

/// Shared parts the API reads besides its settings.
pub struct ApiParts {
    /// The controller, once every process task exists.
    pub controller: ControllerCell,
    /// Recent output of each process, for the logs route.
    pub rings: Option<Arc<LogRings>>,
}

impl ApiState {
    fn controller(&self) -> Result<&Controller, ApiError> {
        self.0.controller.get().ok_or(ApiError::Starting)
    }

    fn max_request_body(&self) -> usize {
        self.0.max_request_body
    }

    fn rings(&self) -> Option<&LogRings> {
        self.0.rings.as_deref()
    }
}

/// An endpoint of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Health,
    OpenApi,
    List,
    Show,
    Start,
    Stop,
    Restart,
    Scale,
    Logs,
    Trigger,
    Pause,
    Resume,
}

/// Every route: method, path and endpoint. Each path has one method.
const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("GET", "/api/v1/health", Endpoint::Health),
    ("GET", "/api/v1/openapi.json", Endpoint::OpenApi),
    ("GET", "/api/v1/processes", Endpoint::List),
    ("GET", "/api/v1/processes/{name}", Endpoint::Show),
    ("POST", "/api/v1/processes/{name}/start", Endpoint::Start),
    ("POST", "/api/v1/processes/{name}/stop", Endpoint::Stop),
    (
        "POST",
        "/api/v1/processes/{name}/restart",
        Endpoint::Restart,
    ),
    ("POST", "/api/v1/processes/{name}/scale", Endpoint::Scale),
    ("GET", "/api/v1/processes/{name}/logs", Endpoint::Logs),
    (
        "POST",
        "/api/v1/processes/{name}/schedule/trigger",
        Endpoint::Trigger,
    ),
    (
        "POST",
        "/api/v1/processes/{name}/schedule/pause",
        Endpoint::Pause,
    ),
    (
        "POST",
        "/api/v1/processes/{name}/schedule/resume",
        Endpoint::Resume,
    ),
];

fn handler(endpoint: Endpoint) -> MethodRouter<ApiState> {
    match endpoint {
        Endpoint::Health => get(health),
        Endpoint::OpenApi => get(openapi),
        Endpoint::List => get(processes::list),
        Endpoint::Show => get(processes::show),
        Endpoint::Start => post(processes::start),
        Endpoint::Stop => post(processes::stop),
        Endpoint::Restart => post(processes::restart),
        Endpoint::Scale => post(processes::scale),
        Endpoint::Logs => get(logs::recent),
        Endpoint::Trigger => post(schedule::trigger),
        Endpoint::Pause => post(schedule::pause),
        Endpoint::Resume => post(schedule::resume),
    }
}

/// Builds the API's router.
pub fn router(parts: ApiParts, token: Option<Secret>, max_request_body: usize) -> Router {
    let state = ApiState(Arc::new(Inner {
        controller: parts.controller,
        token,
        max_request_body,
        rings: parts.rings,
    }));
    let mut router = Router::new();
    for (_, path, endpoint) in ROUTES {
        router = router.route(path, handler(*endpoint));
    }
    router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_request_body))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(limit_time))
        .with_state(state)
}

/// Rejects requests without the right bearer token, when one is set.
async fn authenticate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.0.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    let valid =
        given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())));
    if valid {
        return next.run(request).await;
    }
    let mut response = ApiError::Unauthorized.into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Returns 503 when a request runs past [`REQUEST_TIMEOUT`].
async fn limit_time(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

async fn no_route() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `GET /api/v1/health`: always 200 while the API runs. The body tells
/// whether every longrun is ready.
async fn health(State(state): State<ApiState>) -> Json<Value> {
    let version = env!("CARGO_PKG_VERSION");
    let Ok(controller) = state.controller() else {
        return Json(
            json!({"status": "starting", "ready": false, "not_ready": [], "version": version}),
        );
    };
    let failing = crate::readiness::not_ready(&controller.processes());
    let status = if controller.is_shutting_down() {
        "shutting_down"
    } else if failing.is_empty() {
        "ready"
    } else {
        "not_ready"
    };
    let ready = status == "ready";
    Json(json!({"status": status, "ready": ready, "not_ready": failing, "version": version}))
}

/// `GET /api/v1/openapi.json`.
async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
