//! The HTTP listeners beside the supervisor: metrics with `/healthz` and
//! `/readyz`, and the management API.
//!
//! Both are bound before any process starts, so a taken port fails the
//! start at once, and both serve from the start: until every process task
//! exists, `/readyz` returns 503 and the API returns 503 `starting`. They
//! stop accepting when shutdown begins, driven by the supervisor's shutdown
//! signal, and connections run as tasks on the same single-threaded runtime
//! as the supervisor. Connection limits and timeouts are on [`serve`].

mod probes;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{self, JoinHandle, JoinSet};

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
///
/// Each connection is served by hyper with the limits a public port needs.
/// At most [`MAX_CONNECTIONS`] are served at once. When a new one arrives
/// at the limit, the connection idle for longest (no request in flight) is
/// closed to make room, and only when every connection has a request in
/// flight is the new one closed instead. A client has
/// [`HEADER_READ_TIMEOUT`] to send a request's headers, which also ends a
/// kept-alive connection idle that long. After [`CONNECTION_LIFETIME`], a
/// connection finishes its request in flight and closes. When `stop` turns
/// true, connections finish their requests in flight and close.
fn serve(
    listener: TcpListener,
    router: Router,
    name: &'static str,
    stop: watch::Receiver<bool>,
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
    tokio::spawn(accept_loop(listener, router, name, stop))
}

/// Most connections one listener serves at once.
const MAX_CONNECTIONS: usize = 64;

/// Time a client has to send a request's headers, counted from the
/// connection's start or the end of the previous response.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Age at which a connection is closed after its request in flight.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// Time a connection gets to finish its request in flight at shutdown.
/// Shutdown itself waits at most [`SERVER_DRAIN`] per listener.
const CONNECTION_DRAIN: Duration = Duration::from_secs(5);

/// Time a connection gets to finish its request in flight once it reaches
/// [`CONNECTION_LIFETIME`]: longer than the API's slowest request, a stop
/// or restart that waits up to 30 s.
const LIFETIME_DRAIN: Duration = Duration::from_secs(60);

/// Pause after a failed accept, such as too many open files, so the loop
/// doesn't spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut open: HashMap<task::Id, Arc<Activity>> = HashMap::new();
    let mut evicted = 0u64;
    let mut rejected = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            // Finished connections are collected as they end, so `open`
            // holds only live ones.
            Some(ended) = connections.join_next_with_id(), if !connections.is_empty() => {
                let id = match ended {
                    Ok((id, ())) => id,
                    Err(error) => error.id(),
                };
                open.remove(&id);
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(listener = name, error = %error, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        if open.len() >= MAX_CONNECTIONS {
            // The first time and then one in a thousand are logged, so a
            // flood of connections can't flood the log.
            if let Some(id) = longest_idle(&open) {
                if let Some(activity) = open.remove(&id) {
                    activity.evict.notify_one();
                }
                evicted += 1;
                if evicted % 1000 == 1 {
                    tracing::warn!(
                        listener = name,
                        limit = MAX_CONNECTIONS,
                        evicted,
                        "too many open connections; closing the longest idle one"
                    );
                }
            } else {
                rejected += 1;
                if rejected % 1000 == 1 {
                    tracing::warn!(
                        listener = name,
                        limit = MAX_CONNECTIONS,
                        rejected,
                        "too many connections with requests in flight; closing new ones"
                    );
                }
                drop(stream);
                continue;
            }
        }
        let activity = Arc::new(Activity::new());
        let service = Tracked {
            inner: TowerToHyperService::new(router.clone()),
            activity: Arc::clone(&activity),
        };
        let handle = connections.spawn(serve_connection(
            stream,
            service,
            stop.clone(),
            Arc::clone(&activity),
        ));
        open.insert(handle.id(), activity);
    }
    // Connections saw `stop` too and are finishing their requests.
    let _ = tokio::time::timeout(CONNECTION_DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// Returns the connection in `open` without a request in flight that has
/// been idle for longest, if any.
fn longest_idle(open: &HashMap<task::Id, Arc<Activity>>) -> Option<task::Id> {
    open.iter()
        .filter(|(_, activity)| activity.in_flight.load(Ordering::Acquire) == 0)
        .min_by_key(|(_, activity)| activity.idle_since())
        .map(|(id, _)| *id)
}

async fn serve_connection(
    stream: TcpStream,
    service: Tracked,
    mut stop: watch::Receiver<bool>,
    activity: Arc<Activity>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let drain = tokio::select! {
        // Errors here are the client's doing (a reset, a timeout, bytes
        // that aren't HTTP), and hyper has responded to them where it could.
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|stopped| *stopped) => CONNECTION_DRAIN,
        () = tokio::time::sleep(CONNECTION_LIFETIME) => LIFETIME_DRAIN,
        () = activity.evict.notified() => {
            if activity.in_flight.load(Ordering::Acquire) == 0 {
                // Closed to make room for a new connection.
                return;
            }
            // A request arrived after this connection was chosen.
            LIFETIME_DRAIN
        }
    };
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(drain, connection).await;
}

/// The state of one open connection that the accept loop reads.
#[derive(Debug)]
struct Activity {
    /// Requests whose responses are not fully written yet.
    in_flight: AtomicUsize,
    /// When the connection opened or last finished writing a response.
    idle_since: Mutex<Instant>,
    /// Wakes the connection's task to close it.
    evict: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            evict: Notify::new(),
        }
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Counts one request in flight from the call of the service until hyper
/// drops the response body, which it does once the body is written or the
/// connection ends.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .0
                .idle_since
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()) = Instant::now();
        }
    }
}

/// The router as a hyper service that updates its connection's [`Activity`].
#[derive(Debug)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(&self.activity);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that ends its request's [`InFlight`] when dropped.
#[derive(Debug)]
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
