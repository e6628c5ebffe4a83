//! The settings that `PHPEEK_PM_*` variables can set, in one table per section.
//!
//! A setting is written as its YAML path (`health_check.url`), and its
//! variable spelling is derived from that path (`HEALTH_CHECK_URL`), so adding
//! a setting is one line here.

/// Form of a variable's value, which decides the YAML node it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One scalar, which the decoder reads as the type of its field.
    Scalar,
    /// A list of strings: a JSON array, items separated by commas, or one item.
    List,
    /// A command: like [`Shape::List`], except that a value with neither `[`
    /// nor a comma is split into words as a POSIX shell would.
    Command,
    /// A mapping of names to strings. The variable name carries the key after
    /// the setting, as in `..._ENV_APP_KEY`.
    Map,
}

/// One setting that a variable can reach.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    /// Dotted YAML path inside its section, like `health_check.url`.
    pub(crate) path: &'static str,
    /// Form of the value.
    pub(crate) shape: Shape,
}

const fn scalar(path: &'static str) -> Setting {
    Setting {
        path,
        shape: Shape::Scalar,
    }
}

const fn shaped(path: &'static str, shape: Shape) -> Setting {
    Setting { path, shape }
}

/// Settings under `processes.<name>`, for `PHPEEK_PM_PROCESS_<NAME>_<SETTING>`.
///
/// The keys that PHPeek PM 1.x accepts and this version ignores are listed
/// too, so their variables load with the decoder's "no effect" warning rather
/// than fail as unknown variables.
pub(crate) const PROCESS_SETTINGS: &[Setting] = &[
    scalar("enabled"),
    scalar("type"),
    shaped("command", Shape::Command),
    scalar("priority"),
    shaped("depends_on", Shape::List),
    scalar("scale"),
    scalar("restart"),
    scalar("user"),
    scalar("group"),
    scalar("working_dir"),
    shaped("env", Shape::Map),
    scalar("health_check.type"),
    scalar("health_check.address"),
    scalar("health_check.url"),
    shaped("health_check.command", Shape::Command),
    scalar("health_check.initial_delay"),
    scalar("health_check.period"),
    scalar("health_check.timeout"),
    scalar("health_check.failure_threshold"),
    scalar("health_check.success_threshold"),
    scalar("health_check.expected_status"),
    scalar("health_check.mode"),
    scalar("shutdown.signal"),
    scalar("shutdown.timeout"),
    scalar("shutdown.kill_signal"),
    scalar("shutdown.graceful"),
    shaped("shutdown.pre_stop_hook.command", Shape::Command),
    scalar("shutdown.pre_stop_hook.timeout"),
    scalar("initial_state"),
    scalar("max_scale"),
    scalar("stdout"),
    scalar("stderr"),
    scalar("schedule"),
    scalar("schedule_timezone"),
    scalar("schedule_timeout"),
    scalar("schedule_max_concurrent"),
    scalar("heartbeat.url"),
    scalar("heartbeat.timeout"),
    scalar("heartbeat.enabled"),
    // PHPeek PM 1.x keys, loaded with a warning like in a file.
    scalar("heartbeat.interval"),
    scalar("heartbeat.grace"),
];

/// Settings under `global`, for `PHPEEK_PM_GLOBAL_<SETTING>`.
///
/// As with processes, the PHPeek PM 1.x keys that this version ignores are
/// listed so that their variables load with a warning.
pub(crate) const GLOBAL_SETTINGS: &[Setting] = &[
    scalar("shutdown_timeout"),
    scalar("log_level"),
    scalar("log_format"),
    scalar("log_max_line_bytes"),
    scalar("restart_policy"),
    scalar("max_restart_attempts"),
    scalar("restart_backoff"),
    scalar("restart_backoff_initial"),
    scalar("restart_backoff_max"),
    scalar("restart_reset_after"),
    scalar("dependency_timeout"),
    scalar("on_fatal"),
    scalar("metrics_enabled"),
    scalar("metrics_port"),
    scalar("metrics_path"),
    scalar("metrics_address"),
    scalar("api_enabled"),
    scalar("api_port"),
    scalar("api_auth"),
    scalar("api_address"),
    scalar("log_multiline.enabled"),
    scalar("log_multiline.pattern"),
    scalar("log_multiline.timeout"),
    scalar("log_multiline.max_lines"),
    scalar("log_redaction.enabled"),
    shaped("log_redaction.patterns", Shape::List),
    scalar("log_redaction.placeholder"),
    scalar("api_socket"),
    scalar("api_max_request_body"),
    scalar("log_timestamps"),
    scalar("health_check_interval"),
    scalar("health_check_strict"),
    scalar("resource_metrics_enabled"),
    scalar("resource_metrics_interval"),
    scalar("resource_metrics_max_samples"),
    scalar("audit_enabled"),
    scalar("tracing_enabled"),
    scalar("tracing_exporter"),
    scalar("tracing_endpoint"),
    scalar("tracing_sample_rate"),
    scalar("tracing_service_name"),
    scalar("tracing_use_tls"),
    scalar("readiness.enabled"),
    scalar("readiness.path"),
    scalar("readiness.mode"),
    scalar("schedule_history_size"),
    scalar("oneshot_history_max_entries"),
    scalar("oneshot_history_max_age"),
    scalar("process_start_timeout"),
    scalar("process_stop_timeout"),
    scalar("max_process_scale"),
    scalar("zombie_reap_interval"),
    scalar("autotune_memory_threshold"),
];

/// Short names for global settings, as the PHPeek base image documentation
/// spells them, with the `global` path each one sets.
pub(crate) const SHORT_NAMES: &[(&str, &str)] = &[
    ("PHPEEK_PM_LOG_LEVEL", "log_level"),
    ("PHPEEK_PM_LOG_FORMAT", "log_format"),
    ("PHPEEK_PM_METRICS_ENABLED", "metrics_enabled"),
    ("PHPEEK_PM_METRICS_PORT", "metrics_port"),
    ("PHPEEK_PM_API_ENABLED", "api_enabled"),
    ("PHPEEK_PM_API_PORT", "api_port"),
    ("PHPEEK_PM_API_TOKEN", "api_auth"),
    // PHPeek PM 1.x reads its API client's token from this name.
    ("PHPEEK_PM_API_AUTH", "api_auth"),
    ("PHPEEK_PM_MAX_RESTART_ATTEMPTS", "max_restart_attempts"),
    ("PHPEEK_PM_RESTART_BACKOFF", "restart_backoff"),
    ("PHPEEK_PM_SHUTDOWN_TIMEOUT", "shutdown_timeout"),
    ("PHPEEK_PM_LOG_MULTILINE_ENABLED", "log_multiline.enabled"),
    ("PHPEEK_PM_LOG_MULTILINE_PATTERN", "log_multiline.pattern"),
    ("PHPEEK_PM_LOG_MULTILINE_TIMEOUT", "log_multiline.timeout"),
    (
        "PHPEEK_PM_LOG_MULTILINE_MAX_LINES",
        "log_multiline.max_lines",
    ),
    ("PHPEEK_PM_LOG_REDACTION_ENABLED", "log_redaction.enabled"),
    ("PHPEEK_PM_LOG_REDACTION_PATTERNS", "log_redaction.patterns"),
    (
        "PHPEEK_PM_LOG_REDACTION_PLACEHOLDER",
        "log_redaction.placeholder",
    ),
];

/// Short names whose bare whole numbers are milliseconds, as PHPeek's
/// integration guide documents them, while the setting they set reads a
/// bare number as seconds. A value with a unit, like `2s`, is kept.
pub(crate) const MILLISECOND_NAMES: &[&str] = &["PHPEEK_PM_LOG_MULTILINE_TIMEOUT"];

/// `PHPEEK_PM_*` names that are not settings. phpeek-pm and PHPeek PM 1.x
/// set most of them on children, and a child may run phpeek-pm itself.
/// `phpeek-entrypoint` reads the binary and runtime config paths, `phpeek-pm
/// ctl` reads the API URL, and PHPeek PM 1.x read `READ_ONLY_ROOT`.
pub(crate) const NOT_SETTINGS: &[&str] = &[
    "PHPEEK_PM_CONFIG",
    "PHPEEK_PM_BIN",
    "PHPEEK_PM_RUNTIME_CONFIG",
    "PHPEEK_PM_API_URL",
    "PHPEEK_PM_READ_ONLY_ROOT",
    "PHPEEK_PM_PROCESS",
    "PHPEEK_PM_PROCESS_NAME",
    "PHPEEK_PM_INSTANCE_ID",
    "PHPEEK_PM_SCHEDULED",
    "PHPEEK_PM_SCHEDULE",
    "PHPEEK_PM_START_TIME",
    "PHPEEK_PM_HOOK_NAME",
    "PHPEEK_PM_HOOK_STAGE",
];

/// Spells a setting path the way variable names do: `health_check.url`
/// becomes `HEALTH_CHECK_URL`.
pub(crate) fn env_form(path: &str) -> String {
    path.to_ascii_uppercase().replace('.', "_")
}

/// Finds the global setting whose variable spelling is `name`, ignoring case.
pub(crate) fn global_setting(name: &str) -> Option<&'static Setting> {
    GLOBAL_SETTINGS
        .iter()
        .find(|setting| env_form(setting.path).eq_ignore_ascii_case(name))
}

/// Finds the global setting at `path`.
pub(crate) fn global_setting_at(path: &str) -> Option<&'static Setting> {
    GLOBAL_SETTINGS.iter().find(|setting| setting.path == path)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn variable_spellings_are_unique() {
        for table in [PROCESS_SETTINGS, GLOBAL_SETTINGS] {
            let mut seen = HashSet::new();
            for setting in table {
                assert!(seen.insert(env_form(setting.path)), "{}", setting.path);
            }
        }
    }

    #[test]
    fn short_names_reach_global_settings() {
        for (name, path) in SHORT_NAMES {
            assert!(global_setting_at(path).is_some(), "{name} -> {path}");
        }
    }

    #[test]
    fn env_form_upper_cases_and_joins() {
        assert_eq!(env_form("health_check.url"), "HEALTH_CHECK_URL");
        assert_eq!(env_form("depends_on"), "DEPENDS_ON");
    }

    #[test]
    fn global_setting_ignores_case() {
        let setting = global_setting("log_multiline_enabled");

        assert_eq!(setting.map(|s| s.path), Some("log_multiline.enabled"));
        assert_eq!(global_setting("LOG_MULTILINE"), None);
    }
}
