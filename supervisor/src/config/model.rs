//! The validated configuration: what the rest of the crate runs from.
//!
//! Every value here has passed validation, so durations are parsed, signals
//! are known, users exist and dependencies form a DAG of enabled processes.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};

/// A whole, validated configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from, if any.
    pub source: Option<PathBuf>,
    /// Settings that apply to the supervisor as a whole.
    pub global: Global,
    /// Lifecycle hooks run around start and shutdown.
    pub hooks: Hooks,
    /// Enabled processes, sorted by start order (dependencies first, then
    /// priority, then name). Disabled processes are left out.
    pub processes: Vec<Process>,
}

/// The `global` section.
#[derive(Debug, Clone)]
pub struct Global {
    /// Upper bound on the whole ordered shutdown. Default 30 s.
    pub shutdown_timeout: Duration,
    /// Minimum level of phpeek-pm's own events. Default info.
    pub log_level: LogLevel,
    /// Output format of every record. Default json.
    pub log_format: LogFormat,
    /// Longest child output line kept in one record, in bytes. Default 64 KiB.
    pub log_max_line_bytes: usize,
    /// Restart policy for processes that don't set one. Default always.
    pub restart_policy: RestartPolicy,
    /// Restarts allowed within `restart_reset_after` before a process is
    /// fatal. 0 means unlimited. Default 3.
    pub max_restart_attempts: u32,
    /// First restart delay; it doubles after each crash. Default 1 s.
    pub restart_backoff_initial: Duration,
    /// Cap on the restart delay. Default 60 s.
    pub restart_backoff_max: Duration,
    /// Uptime after which an instance's backoff and attempt count reset.
    /// Default 60 s.
    pub restart_reset_after: Duration,
    /// Longest wait for each dependency condition at start. Default 5 min.
    pub dependency_timeout: Duration,
    /// What phpeek-pm does when a process becomes fatal. Default shutdown.
    pub on_fatal: FatalAction,
    /// The Prometheus endpoint with `/healthz` and `/readyz`.
    pub metrics: MetricsSettings,
    /// The management API.
    pub api: ApiSettings,
    /// Upper bound on any process's instance count, from the config or the
    /// API. Default 100.
    pub max_process_scale: u32,
}

/// The HTTP listener for `/metrics`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Whether the listener runs at all (`metrics_enabled`). Default false,
    /// as PHPeek PM 1.x documented; images turn it on where they want it.
    pub enabled: bool,
    /// Address to bind (`metrics_address`). Default 0.0.0.0, because
    /// Prometheus scrapes from another container.
    pub address: IpAddr,
    /// TCP port (`metrics_port`). Default 9090.
    pub port: u16,
    /// Path of the exposition (`metrics_path`). Default `/metrics`.
    pub path: String,
}

/// The management API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// Whether the API runs (`api_enabled`). Default false.
    pub enabled: bool,
    /// Address to bind (`api_address`). Default 127.0.0.1. Any other
    /// address requires a token.
    pub address: IpAddr,
    /// TCP port (`api_port`). Default 9180.
    pub port: u16,
    /// Bearer token every request must carry (`api_auth`, or
    /// `PHPEEK_PM_API_TOKEN`); none when unset or empty.
    pub token: Option<Secret>,
    /// Largest request body accepted, in bytes (`api_max_request_body`).
    /// Default 64 KiB.
    pub max_request_body: usize,
}

impl Default for MetricsSettings {
    fn default() -> MetricsSettings {
        MetricsSettings {
            enabled: false,
            address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 9090,
            path: "/metrics".to_owned(),
        }
    }
}

impl Default for ApiSettings {
    fn default() -> ApiSettings {
        ApiSettings {
            enabled: false,
            address: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: 9180,
            token: None,
            max_request_body: 64 * 1024,
        }
    }
}

/// A secret string whose `Debug` output hides the value, so it never ends
/// up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Returns the secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(***)")
    }
}

/// Level threshold for phpeek-pm's own events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-probe and reaper details.
    Trace,
    /// Debug and above.
    Debug,
    /// Lifecycle events and above.
    Info,
    /// Handled failures and above.
    Warn,
    /// Errors only.
    Error,
}

/// Output format of log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// A readable line per record.
    Text,
}

/// When a process's instances are restarted after they exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// After every exit.
    Always,
    /// After an exit with a non-zero code or a signal.
    OnFailure,
    /// Never.
    Never,
}

/// What happens once a process is fatal (out of restart attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalAction {
    /// Stop everything gracefully and exit with [`crate::ExitCode::Fatal`].
    Shutdown,
    /// Leave the process fatal and keep the others running.
    Continue,
}

/// The `hooks` section: commands run around start and shutdown.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// Run in order before any process starts; a failure aborts the start.
    pub pre_start: Vec<Hook>,
    /// Run after every process has been started.
    pub post_start: Vec<Hook>,
    /// Run when shutdown begins, before any process is stopped.
    pub pre_stop: Vec<Hook>,
    /// Run after every process has stopped.
    pub post_stop: Vec<Hook>,
}

/// One hook command.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Name used in logs.
    pub name: String,
    /// Program and arguments, executed without a shell.
    pub command: Vec<String>,
    /// Limit on one attempt. Default 30 s.
    pub timeout: Duration,
    /// Extra attempts after a failure. Default 0.
    pub retry: u32,
    /// Pause between attempts. Default 1 s.
    pub retry_delay: Duration,
    /// Treat a failure as success.
    pub continue_on_error: bool,
    /// Variables added to the container environment.
    pub env: Vec<(String, String)>,
    /// Working directory; the supervisor's own when unset.
    pub working_dir: Option<PathBuf>,
    /// Account the hook runs as; the supervisor's own when unset.
    pub user: Option<Credentials>,
}

/// A supervised program: one or more instances of the same command.
#[derive(Debug, Clone)]
pub struct Process {
    /// Key under `processes`.
    pub name: String,
    /// Longrun or oneshot.
    pub kind: ProcessKind,
    /// Program and arguments, executed without a shell.
    pub command: Vec<String>,
    /// Start order among processes that don't depend on each other; lower
    /// starts first and stops last. Default 100.
    pub priority: i32,
    /// Processes that must meet a condition before this one starts.
    pub depends_on: Vec<Dependency>,
    /// Number of instances. Default 1.
    pub scale: u32,
    /// Largest instance count the API may scale to; `global.max_process_scale`
    /// when unset.
    pub max_scale: Option<u32>,
    /// Restart policy, the global one when unset in the file.
    pub restart: RestartPolicy,
    /// Variables added to the container environment.
    pub env: Vec<(String, String)>,
    /// Working directory; the supervisor's own when unset.
    pub working_dir: Option<PathBuf>,
    /// Account the instances run as; the supervisor's own when unset.
    pub user: Option<Credentials>,
    /// Probe that decides health; none means healthy once started.
    pub health_check: Option<HealthCheck>,
    /// How instances are stopped.
    pub shutdown: Shutdown,
}

/// Longrun processes are kept running; oneshots run once to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// Kept running and restarted by its policy.
    Longrun,
    /// Runs once; exit 0 completes it.
    Oneshot,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Name of the process depended on.
    pub name: String,
    /// What that process must reach first.
    pub condition: DependencyCondition,
}

/// The state a dependency must reach before a dependent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyCondition {
    /// Every instance has been spawned.
    Started,
    /// The health check passed `success_threshold` times in a row, or the
    /// process has no health check and has started.
    Healthy,
    /// A oneshot that exited 0.
    CompletedSuccessfully,
}

/// A resolved user and group to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name, or the number as written.
    pub user_name: String,
    /// Numeric user id.
    pub uid: Uid,
    /// Primary group: the `group` key, else the user's own group.
    pub gid: Gid,
    /// Supplementary groups of the user, from the group database.
    pub groups: Vec<Gid>,
}

/// A health check with its timing.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// What is probed.
    pub probe: Probe,
    /// Wait after a start before the first probe. Default 0 s.
    pub initial_delay: Duration,
    /// Time between probes once healthy. Default 10 s.
    pub period: Duration,
    /// Limit on one probe; a probe that runs longer fails. Default 3 s.
    pub timeout: Duration,
    /// Consecutive failures that make the process unhealthy. Default 3.
    pub failure_threshold: u32,
    /// Consecutive successes that make the process healthy. Default 1.
    pub success_threshold: u32,
}

/// The kinds of health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connect to `host:port`.
    Tcp {
        /// Address as written, `host:port`.
        address: String,
    },
    /// An HTTP/1.1 GET that must answer `expected_status`.
    Http {
        /// The URL as written.
        url: String,
        /// Host and port to connect to.
        authority: String,
        /// Path and query sent in the request line.
        path: String,
        /// Status that counts as healthy. Default 200.
        expected_status: u16,
    },
    /// A command that must exit 0.
    Exec {
        /// Program and arguments.
        command: Vec<String>,
    },
}

/// How the instances of a process are stopped.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Signal sent to the process group first. Default SIGTERM.
    pub signal: Signal,
    /// Wait after the signal before SIGKILL to the group. Default 30 s.
    pub timeout: Duration,
    /// Command run before the signal, for example `horizon:terminate`.
    pub pre_stop_hook: Option<Hook>,
}
