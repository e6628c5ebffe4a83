//! The HTTP listeners beside the supervisor: metrics with `/healthz` and
//! `/readyz`, and the management API.
//!
//! Both are bound before any process starts, so a taken port fails the
//! start at once, and both serve from the start: until every process task
//! exists, `/readyz` returns 503 and the API returns 503 `starting`. They
//! stop accepting when shutdown begins, through axum's graceful shutdown
//! driven by the supervisor's shutdown signal, and connections run as tasks
//! on the same single-threaded runtime as the supervisor.

mod probes;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiParts};
use crate::config::{ApiSettings, Config, Global, MetricsSettings};
use crate::logring::LogRings;
use crate::metrics::{ControllerCell, MetricSources, Metrics};
use crate::output::OutputHandle;
use crate::schedule::ScheduleStats;
use crate::ExitCode;

/// Maximum wait at exit for open HTTP connections to finish.
const SERVER_DRAIN: Duration = Duration::from_secs(2);

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("failed to listen on {address} for the {listener} (set {keys})")]
pub struct BindError {
    /// Listener name: "metrics endpoint" or "management API".
    pub listener: &'static str,
    /// Address and port that were requested.
    pub address: SocketAddr,
    /// Config keys that choose the address.
    pub keys: &'static str,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// The bound listeners, before they serve.
pub struct Listeners {
    metrics: Option<(TcpListener, MetricsSettings)>,
    api: Option<(TcpListener, ApiSettings)>,
}

impl Listeners {
    /// Binds the listeners that `global` enables.
    ///
    /// # Errors
    ///
    /// Fails when an address is taken or can't be bound.
    pub async fn bind(global: &Global) -> Result<Listeners, BindError> {
        let metrics = match &global.metrics {
            settings if settings.enabled => {
                let address = SocketAddr::new(settings.address, settings.port);
                let keys = "global.metrics_address and global.metrics_port";
                let listener = bind(address, "metrics endpoint", keys).await?;
                Some((listener, settings.clone()))
            }
            _ => None,
        };
        let api = match &global.api {
            settings if settings.enabled => {
                let address = SocketAddr::new(settings.address, settings.port);
                let keys = "global.api_address and global.api_port";
                let listener = bind(address, "management API", keys).await?;
                Some((listener, settings.clone()))
            }
            _ => None,
        };
        Ok(Listeners { metrics, api })
    }

    /// Returns the local address of the metrics listener, if bound.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref()?.0.local_addr().ok()
    }

    /// Returns the local address of the API listener, if bound.
    pub fn api_address(&self) -> Option<SocketAddr> {
        self.api.as_ref()?.0.local_addr().ok()
    }
}

async fn bind(
    address: SocketAddr,
    listener: &'static str,
    keys: &'static str,
) -> Result<TcpListener, BindError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| BindError {
            listener,
            address,
            keys,
            source,
        })
}

/// Runs `config` under the supervisor with the HTTP listeners serving
/// beside it, and returns phpeek-pm's exit code.
///
/// # Errors
///
/// Fails only when signal handling cannot be installed.
pub async fn run_supervised(
    config: Config,
    output: OutputHandle,
    listeners: Listeners,
) -> io::Result<ExitCode> {
    let controller = ControllerCell::default();
    let stats = ScheduleStats::new();
    let (stop, stopped) = watch::channel(false);
    let mut servers = Vec::new();

    if let Some((listener, settings)) = listeners.metrics {
        let sources = MetricSources {
            tasks: Some(Arc::new(stats.clone())),
            heartbeats: Some(Arc::new(stats.clone())),
        };
        let metrics = Metrics::new(controller.clone(), sources);
        let router = probes::router(Arc::new(metrics), controller.clone(), &settings.path);
        servers.push(serve(listener, router, "metrics endpoint", stopped.clone()));
    }
    if let Some((listener, settings)) = listeners.api {
        let rings = Arc::new(LogRings::new(
            config.processes.iter().map(|process| process.name.clone()),
        ));
        output.keep_recent(Arc::clone(&rings));
        let parts = ApiParts {
            controller: controller.clone(),
            rings: Some(rings),
        };
        let router = api::router(parts, settings.token.clone(), settings.max_request_body);
        servers.push(serve(listener, router, "management API", stopped.clone()));
    }

    let cell = controller.clone();
    let stop_on_shutdown = stop.clone();
    let code = crate::supervisor::run_with_controller(config, output, stats, move |controller| {
        let _ = cell.set(controller.clone());
        tokio::spawn(async move {
            controller.shutdown_started().await;
            stop_on_shutdown.send_replace(true);
        });
    })
    .await;

    // Covers a shutdown before the controller existed.
    stop.send_replace(true);
    for server in servers {
        let _ = tokio::time::timeout(SERVER_DRAIN, server).await;
    }
    code
}

/// Serves `router` on `listener` until `stop` turns true.
fn serve(
    listener: TcpListener,
    router: Router,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let address = listener
        .local_addr()
        .ok()
        .map(|address| address.to_string());
    tracing::info!(
        listener = name,
        address = address.as_deref(),
        "HTTP listener ready"
    );
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = served {
            tracing::error!(listener = name, error = %error, "HTTP listener failed");
        }
    })
}
