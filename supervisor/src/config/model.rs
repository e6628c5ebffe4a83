//! The validated configuration: what the rest of the crate runs from.
//!
//! Every value here has passed validation, so durations are parsed, signals
//! are known, users exist and dependencies form a DAG of enabled processes.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};
use regex::Regex;

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
    /// Maximum child output line kept in one record, in bytes. Default 64 KiB.
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
    /// Maximum wait for each dependency condition at start. Default 5 min.
    pub dependency_timeout: Duration,
    /// Action taken when a process becomes fatal. Default shutdown.
    pub on_fatal: FatalAction,
    /// Behaviour of captures while the output is behind. Default block.
    pub log_overflow: LogOverflow,
    /// Joining of continuation lines, for processes that don't set their own.
    pub log_multiline: Multiline,
    /// Redaction of secrets, for hooks and processes that don't set their own.
    pub log_redaction: Redaction,
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

/// Level of a child output record, from least to most severe.
///
/// Levels from other scales map onto it: NOTICE is INFO, and CRITICAL,
/// ALERT and EMERGENCY are FATAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineLevel {
    /// Finest detail.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation, and notices.
    Info,
    /// Something unexpected that was handled.
    Warn,
    /// A failed operation.
    Error,
    /// A failure that stops the program or needs action at once: fatal,
    /// critical, alert and emergency.
    Fatal,
}

impl LineLevel {
    /// Returns the level's name as written in records: upper case, like `WARN`.
    pub fn as_str(self) -> &'static str {
        match self {
            LineLevel::Trace => "TRACE",
            LineLevel::Debug => "DEBUG",
            LineLevel::Info => "INFO",
            LineLevel::Warn => "WARN",
            LineLevel::Error => "ERROR",
            LineLevel::Fatal => "FATAL",
        }
    }
}

/// What a capture does while the writer is behind by the in-flight bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOverflow {
    /// Stop reading, so the child blocks once its pipe is full. Nothing is lost.
    Block,
    /// Keep reading and drop the records that don't fit, counting them.
    Drop,
}

/// Joining of continuation lines, such as a stack trace, into one record.
#[derive(Debug, Clone)]
pub struct Multiline {
    /// Whether lines are joined. Default true.
    pub enabled: bool,
    /// A line that matches starts a new record and any other line continues
    /// the current one. When unset, the built-in rules for PHP and Laravel
    /// traces decide which lines continue a record.
    pub start_pattern: Option<Regex>,
    /// Maximum time a record waits for more lines, counted from its first
    /// line. Default 500 ms.
    pub timeout: Duration,
    /// Maximum lines in one record. Default 100.
    pub max_lines: u32,
}

impl Default for Multiline {
    fn default() -> Multiline {
        Multiline {
            enabled: true,
            start_pattern: None,
            timeout: Duration::from_millis(500),
            max_lines: 100,
        }
    }
}

/// Redaction of secrets in child output and in phpeek-pm's own events.
#[derive(Debug, Clone)]
pub struct Redaction {
    /// Whether anything is redacted. Default true.
    pub enabled: bool,
    /// Patterns on top of the built-in rules, which always apply while
    /// redaction is enabled.
    pub patterns: Vec<RedactionPattern>,
    /// Text written in place of a secret. Default `***REDACTED***`.
    pub placeholder: String,
}

impl Default for Redaction {
    fn default() -> Redaction {
        Redaction {
            enabled: true,
            patterns: Vec::new(),
            placeholder: "***REDACTED***".to_owned(),
        }
    }
}

/// One configured redaction pattern.
#[derive(Debug, Clone)]
pub enum RedactionPattern {
    /// A key name, such as `client_secret`, whose values are redacted in the
    /// same forms as the built-in keys.
    Key(String),
    /// A regular expression. Its first capture group is replaced, or the
    /// whole match when it has no group.
    Regex {
        /// The expression.
        regex: Regex,
        /// Text written instead of the placeholder, if set.
        replacement: Option<String>,
    },
}

/// How a process's output lines become records: `processes.<name>.logging`.
#[derive(Debug, Clone)]
pub struct ProcessLogging {
    /// Format of the records. Default `global.log_format`.
    pub format: LogFormat,
    /// Records below this level are dropped. Default trace, which keeps all.
    pub min_level: LineLevel,
    /// Joining of continuation lines. Default `global.log_multiline`.
    pub multiline: Multiline,
    /// Redaction of secrets. Default `global.log_redaction`.
    pub redaction: Redaction,
    /// How a line's level is found.
    pub level_detection: LevelDetection,
    /// Whether a line holding a JSON object is parsed into fields. Default true.
    pub json: bool,
    /// Patterns that select the lines kept.
    pub filters: LineFilters,
}

impl ProcessLogging {
    /// Returns the settings of a process without a `logging` section: the
    /// global format, multiline and redaction settings, and every default.
    pub fn inherit(global: &Global) -> ProcessLogging {
        ProcessLogging {
            format: global.log_format,
            multiline: global.log_multiline.clone(),
            redaction: global.log_redaction.clone(),
            ..ProcessLogging::default()
        }
    }
}

impl Default for ProcessLogging {
    /// JSON records, no minimum level, detection and JSON parsing on, no
    /// filters, and the default multiline and redaction settings.
    fn default() -> ProcessLogging {
        ProcessLogging {
            format: LogFormat::Json,
            min_level: LineLevel::Trace,
            multiline: Multiline::default(),
            redaction: Redaction::default(),
            level_detection: LevelDetection::default(),
            json: true,
            filters: LineFilters::default(),
        }
    }
}

/// How the level of a child output line is found.
#[derive(Debug, Clone)]
pub struct LevelDetection {
    /// Whether levels are detected at all. Default true. Without detection
    /// every line gets the default level.
    pub enabled: bool,
    /// Configured patterns, most severe level first. They are tried before
    /// the built-in rules, and the first match decides.
    pub patterns: Vec<(LineLevel, Regex)>,
    /// Level of lines that no rule matches. When unset, INFO for stdout and
    /// WARN for stderr.
    pub default_level: Option<LineLevel>,
}

impl Default for LevelDetection {
    fn default() -> LevelDetection {
        LevelDetection {
            enabled: true,
            patterns: Vec::new(),
            default_level: None,
        }
    }
}

/// Patterns that drop child output records.
#[derive(Debug, Clone, Default)]
pub struct LineFilters {
    /// When not empty, only records that match one of these are kept.
    pub include: Vec<Regex>,
    /// Records that match any of these are dropped, even if included.
    pub exclude: Vec<Regex>,
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

/// Action once a process is fatal (out of restart attempts).
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
    /// How output lines become records.
    pub logging: ProcessLogging,
    /// When set, the process is a scheduled task: it is not started at
    /// boot nor restarted, and each firing of the schedule starts one run.
    pub schedule: Option<ScheduledTask>,
}

/// The scheduling settings of a scheduled task.
#[derive(Debug, Clone)]
pub struct ScheduledTask {
    /// The `schedule` expression as written, passed to runs as
    /// `PHPEEK_PM_SCHEDULE`.
    pub expression: String,
    /// The parsed expression.
    pub schedule: crate::schedule::Schedule,
    /// Zone whose wall clock the cron fields follow: `schedule_timezone`,
    /// else the `TZ` variable of phpeek-pm, else UTC.
    pub timezone: chrono_tz::Tz,
    /// Maximum run time before the run is stopped like a process at
    /// shutdown. None means no limit.
    pub timeout: Option<Duration>,
    /// Runs allowed at once; a firing beyond it is skipped. Default 1.
    pub max_concurrent: u32,
    /// The monitor that run start, success and failure are reported to.
    pub heartbeat: Option<Heartbeat>,
}

/// A heartbeat monitor that a scheduled task pings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Base ping URL, such as `https://hc-ping.com/<uuid>`.
    pub url: String,
    /// Run time after which the run is reported as failed, even while it
    /// goes on.
    pub timeout: Option<Duration>,
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
