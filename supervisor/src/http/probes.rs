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
use crate::own_thread;
use crate::readiness;

#[derive(Clone)]
struct ProbeState {
    metrics: Arc<Metrics>,
    controller: ControllerCell,
    /// Held while a scrape renders.
    render_turn: Arc<tokio::sync::Mutex<()>>,
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
            render_turn: Arc::default(),
        })
}

/// Serves the exposition. Rendering reads `/proc` for every instance,
/// which takes milliseconds with a thousand of them. So it runs on a thread
/// of its own while the runtime's one thread goes on reaping and forwarding
/// output. One scrape renders at a time, and concurrent scrapes wait their
/// turn without holding a thread.
async fn exposition(State(state): State<ProbeState>) -> Response {
    let _turn = state.render_turn.lock().await;
    let metrics = Arc::clone(&state.metrics);
    let (text, no_thread) = own_thread::run("metrics", move || {
        let text = metrics.render();
        return_free_memory();
        text
    })
    .await;
    if let Some(error) = no_thread {
        tracing::warn!(error = %error, "no thread for the metrics scrape; rendered inline");
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Gives free heap pages back to the kernel. A scrape allocates the whole
/// text, and a burst of clients leaves their buffers freed in the middle of
/// the heap, where glibc would keep them resident.
fn return_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases memory that is already free.
    unsafe {
        libc::malloc_trim(0);
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
