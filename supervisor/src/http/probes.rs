//! The metrics listener's routes: the Prometheus exposition, `/healthz`
//! (phpeek-pm is alive) and `/readyz` (every enabled longrun is running and
//! healthy).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::{ControllerCell, Metrics, CONTENT_TYPE};
use crate::readiness;

#[derive(Clone)]
struct ProbeState {
    metrics: Arc<Metrics>,
    controller: ControllerCell,
}

/// Builds the router with the exposition at `metrics_path`.
pub(super) fn router(
    metrics: Arc<Metrics>,
    controller: ControllerCell,
    metrics_path: &str,
) -> Router {
    Router::new()
        .route(metrics_path, get(exposition))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ProbeState {
            metrics,
            controller,
        })
}

/// Renders the exposition on a blocking thread, since reading `/proc` for
/// a thousand instances takes milliseconds that the runtime's one thread
/// needs for reaping and forwarding output.
async fn exposition(State(state): State<ProbeState>) -> Response {
    let metrics = Arc::clone(&state.metrics);
    match tokio::task::spawn_blocking(move || metrics.render()).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "metrics scrape failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to render the metrics; see phpeek-pm's log\n",
            )
                .into_response()
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "alive"}))
}

/// 200 when every enabled longrun is ready, else 503 listing the failing
/// processes.
async fn readyz(State(state): State<ProbeState>) -> (StatusCode, Json<serde_json::Value>) {
    let Some(controller) = state.controller.get() else {
        let body = json!({"status": "starting", "not_ready": []});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    };
    if controller.is_shutting_down() {
        let body = json!({"status": "shutting_down", "not_ready": []});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let failing = readiness::not_ready(&controller.processes());
    if failing.is_empty() {
        return (StatusCode::OK, Json(json!({"status": "ready"})));
    }
    let body = json!({"status": "not_ready", "not_ready": failing});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body))
}
