//! Tests of the overlay through the loader: the variables of the PHPeek base
//! image documentation, precedence, values and problems.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::node::{Node, Value};
use crate::config::report::Problems;
use crate::config::{
    load_str, load_str_effective, parse_overlaid, to_yaml, Config, Loaded, LogLevel, Probe,
    Problem, Process, Report, Severity,
};

/// A Laravel stack like the base image's: web processes on, workers off.
const BASE: &str = "global:
  log_level: info
processes:
  php-fpm:
    command: [php-fpm, -F, -R]
    priority: 10
    health_check:
      type: tcp
      address: 127.0.0.1:9000
  nginx:
    command: [nginx, -g, 'daemon off;']
    priority: 20
    depends_on: [php-fpm]
    env:
      KEEP: kept
  horizon:
    enabled: false
    command: [php, artisan, horizon]
  reverb:
    enabled: false
    command: [php, artisan, reverb:start]
  queue-default:
    enabled: false
    command: [php, artisan, queue:work, --queue=default]
    scale: 2
  queue-high:
    enabled: false
    command: [php, artisan, queue:work, --queue=high]
";

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn load_with(yaml: &str, vars: &[(&str, &str)]) -> Result<Loaded, Report> {
    load_str(yaml, "phpeek-pm.yaml", &env(vars))
}

fn loaded(vars: &[(&str, &str)]) -> Loaded {
    load_with(BASE, vars).unwrap_or_else(|report| panic!("expected a load, got:\n{report}"))
}

fn config(vars: &[(&str, &str)]) -> Config {
    loaded(vars).config
}

fn errors_in(yaml: &str, vars: &[(&str, &str)]) -> Vec<Problem> {
    match load_with(yaml, vars) {
        Ok(loaded) => panic!("expected errors, but it loaded: {loaded:?}"),
        Err(report) => report.errors().cloned().collect(),
    }
}

fn only_error(vars: &[(&str, &str)]) -> Problem {
    let mut errors = errors_in(BASE, vars);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.remove(0)
}

fn process<'c>(config: &'c Config, name: &str) -> &'c Process {
    let found = config.processes.iter().find(|process| process.name == name);
    found.unwrap_or_else(|| panic!("no enabled process `{name}`"))
}

fn names(config: &Config) -> Vec<&str> {
    config.processes.iter().map(|p| p.name.as_str()).collect()
}

/// Returns the overlaid tree of [`BASE`], which must have no errors.
fn tree(vars: &[(&str, &str)]) -> Node {
    let mut problems = Problems::new("phpeek-pm.yaml");
    let (root, _) = parse_overlaid(BASE, &env(vars), &mut problems);
    assert!(!problems.has_errors(), "{:#?}", problems.into_vec());
    root.unwrap_or_else(|| panic!("no tree"))
}

/// Returns the text of the scalar at a dotted path of the tree.
fn text_at(root: &Node, path: &str) -> Option<String> {
    let mut node = root;
    for key in path.split('.') {
        let entries = node.entries()?;
        node = &entries.iter().find(|entry| entry.key == key)?.value;
    }
    match &node.value {
        Value::Scalar(scalar) => Some(scalar.text.clone()),
        _ => None,
    }
}

/// Returns the texts of the list at a dotted path of the tree.
fn list_at(root: &Node, path: &str) -> Vec<String> {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let mut node = root;
    for part in parent.split('.').filter(|part| !part.is_empty()) {
        let Some(entry) = node
            .entries()
            .and_then(|e| e.iter().find(|e| e.key == part))
        else {
            return Vec::new();
        };
        node = &entry.value;
    }
    let entry = node.entries().and_then(|e| e.iter().find(|e| e.key == key));
    match entry.map(|entry| &entry.value.value) {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|item| match &item.value {
                Value::Scalar(scalar) => Some(scalar.text.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

const LARAVEL_STACK: &[(&str, &str)] = &[
    ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
    ("LARAVEL_OPTIMIZE_CONFIG", "true"),
    ("LARAVEL_MIGRATE_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_REVERB_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "3"),
    ("PHPEEK_PM_PROCESS_QUEUE_HIGH_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_QUEUE_HIGH_SCALE", "2"),
];

#[test]
fn quick_start_enables_horizon_and_scales_queue() {
    let config = config(&[
        ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
        ("LARAVEL_OPTIMIZE_ROUTE", "true"),
        ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "3"),
    ]);

    assert!(names(&config).contains(&"horizon"));
    assert_eq!(process(&config, "queue-default").scale, 3);
    assert!(!names(&config).contains(&"reverb"));
}

#[test]
fn full_laravel_stack_enables_every_worker() {
    let Loaded { config, warnings } = loaded(LARAVEL_STACK);

    assert_eq!(
        names(&config),
        [
            "php-fpm",
            "nginx",
            "horizon",
            "queue-default",
            "queue-high",
            "reverb"
        ]
    );
    assert_eq!(process(&config, "queue-default").scale, 3);
    assert_eq!(process(&config, "queue-high").scale, 2);
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn scheduled_tasks_define_new_processes() {
    let vars = [
        ("PHPEEK_PM_PROCESS_CACHE_WARMUP_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_CACHE_WARMUP_COMMAND",
            "php,artisan,cache:warm",
        ),
        ("PHPEEK_PM_PROCESS_CACHE_WARMUP_SCHEDULE", "*/15 * * * *"),
        ("PHPEEK_PM_PROCESS_DB_BACKUP_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_DB_BACKUP_COMMAND",
            "php,artisan,backup:run",
        ),
        ("PHPEEK_PM_PROCESS_DB_BACKUP_SCHEDULE", "0 2 * * *"),
        (
            "PHPEEK_PM_PROCESS_DB_BACKUP_HEARTBEAT_URL",
            "https://hc-ping.com/backup-uuid",
        ),
        ("PHPEEK_PM_PROCESS_REPORTS_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_REPORTS_COMMAND",
            "php,artisan,reports:generate",
        ),
        ("PHPEEK_PM_PROCESS_REPORTS_SCHEDULE", "0 8 * * 1-5"),
    ];
    let config = config(&vars);
    let root = tree(&vars);

    assert_eq!(
        process(&config, "cache-warmup").command,
        ["php", "artisan", "cache:warm"]
    );
    assert_eq!(
        process(&config, "db-backup").command,
        ["php", "artisan", "backup:run"]
    );
    assert_eq!(
        process(&config, "reports").command,
        ["php", "artisan", "reports:generate"]
    );
    let schedule = text_at(&root, "processes.cache-warmup.schedule");
    assert_eq!(schedule.as_deref(), Some("*/15 * * * *"));
    let schedule = text_at(&root, "processes.reports.schedule");
    assert_eq!(schedule.as_deref(), Some("0 8 * * 1-5"));
    let url = text_at(&root, "processes.db-backup.heartbeat.url");
    assert_eq!(url.as_deref(), Some("https://hc-ping.com/backup-uuid"));
}

#[test]
fn heartbeat_variables_set_heartbeat_keys() {
    let root = tree(&[
        ("PHPEEK_PM_PROCESS_CRITICAL_BACKUP_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_CRITICAL_BACKUP_COMMAND",
            "php,artisan,backup:critical",
        ),
        ("PHPEEK_PM_PROCESS_CRITICAL_BACKUP_SCHEDULE", "0 3 * * *"),
        (
            "PHPEEK_PM_PROCESS_CRITICAL_BACKUP_HEARTBEAT_URL",
            "https://hc-ping.com/your-uuid-here",
        ),
        ("PHPEEK_PM_PROCESS_CRITICAL_BACKUP_HEARTBEAT_TIMEOUT", "300"),
    ]);
    let at = |key: &str| text_at(&root, &format!("processes.critical-backup.{key}"));

    assert_eq!(
        at("heartbeat.url").as_deref(),
        Some("https://hc-ping.com/your-uuid-here")
    );
    assert_eq!(at("heartbeat.timeout").as_deref(), Some("300"));
    assert_eq!(at("schedule").as_deref(), Some("0 3 * * *"));
    assert_eq!(at("enabled").as_deref(), Some("true"));
}

#[test]
fn troubleshooting_variables_set_globals() {
    let config = config(&[
        ("PHPEEK_PM_LOG_LEVEL", "debug"),
        ("PHPEEK_DEBUG", "true"),
        ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "false"),
        ("PHPEEK_PM_MAX_RESTART_ATTEMPTS", "10"),
        ("PHPEEK_PM_RESTART_BACKOFF", "10"),
    ]);

    assert_eq!(config.global.log_level, LogLevel::Debug);
    assert_eq!(config.global.max_restart_attempts, 10);
    assert_eq!(
        config.global.restart_backoff_initial,
        Duration::from_secs(10)
    );
    assert_eq!(config.global.restart_backoff_max, Duration::from_secs(120));
    assert!(!names(&config).contains(&"horizon"));
}

#[test]
fn logging_variables_set_global_sections() {
    let root = tree(&[
        ("PHPEEK_PM_LOG_MULTILINE_ENABLED", "true"),
        ("PHPEEK_PM_LOG_MULTILINE_PATTERN", r#"^\[|^\d{4}-|^{""#),
        ("PHPEEK_PM_LOG_MULTILINE_TIMEOUT", "500"),
        ("PHPEEK_PM_LOG_MULTILINE_MAX_LINES", "100"),
        ("PHPEEK_PM_LOG_REDACTION_ENABLED", "true"),
        (
            "PHPEEK_PM_LOG_REDACTION_PATTERNS",
            "password,api_key,secret,token",
        ),
        ("PHPEEK_PM_LOG_REDACTION_PLACEHOLDER", "***REDACTED***"),
    ]);
    let at = |key: &str| text_at(&root, &format!("global.{key}"));

    assert_eq!(at("log_multiline.enabled").as_deref(), Some("true"));
    assert_eq!(
        at("log_multiline.pattern").as_deref(),
        Some(r#"^\[|^\d{4}-|^{""#)
    );
    assert_eq!(at("log_multiline.timeout").as_deref(), Some("500ms"));
    assert_eq!(at("log_multiline.max_lines").as_deref(), Some("100"));
    assert_eq!(at("log_redaction.enabled").as_deref(), Some("true"));
    assert_eq!(
        list_at(&root, "global.log_redaction.patterns"),
        strings(&["password", "api_key", "secret", "token"])
    );
    assert_eq!(
        at("log_redaction.placeholder").as_deref(),
        Some("***REDACTED***")
    );
}

#[test]
fn observability_short_names_set_globals() {
    let root = tree(&[
        ("PHPEEK_PM_METRICS_ENABLED", "true"),
        ("PHPEEK_PM_METRICS_PORT", "9090"),
        ("PHPEEK_PM_API_ENABLED", "true"),
        ("PHPEEK_PM_API_PORT", "9180"),
        ("PHPEEK_PM_API_TOKEN", "s3cret"),
        ("PHPEEK_PM_LOG_FORMAT", "text"),
        ("PHPEEK_PM_SHUTDOWN_TIMEOUT", "45"),
    ]);
    let at = |key: &str| text_at(&root, &format!("global.{key}"));

    assert_eq!(at("metrics_enabled").as_deref(), Some("true"));
    assert_eq!(at("metrics_port").as_deref(), Some("9090"));
    assert_eq!(at("api_enabled").as_deref(), Some("true"));
    assert_eq!(at("api_port").as_deref(), Some("9180"));
    assert_eq!(at("api_auth").as_deref(), Some("s3cret"));
    assert_eq!(at("log_format").as_deref(), Some("text"));
    assert_eq!(at("shutdown_timeout").as_deref(), Some("45"));
}

#[test]
fn phpeek_debug_yields_to_log_level() {
    let alone = config(&[("PHPEEK_DEBUG", "1")]);
    let Loaded { config, warnings } =
        loaded(&[("PHPEEK_DEBUG", "true"), ("PHPEEK_PM_LOG_LEVEL", "warn")]);
    let off = config_level(&[("PHPEEK_DEBUG", "false")]);

    assert_eq!(alone.global.log_level, LogLevel::Debug);
    assert_eq!(config.global.log_level, LogLevel::Warn);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(off, LogLevel::Info);
}

fn config_level(vars: &[(&str, &str)]) -> LogLevel {
    config(vars).global.log_level
}

#[test]
fn invalid_phpeek_debug_is_an_error() {
    let error = only_error(&[("PHPEEK_DEBUG", "loud")]);

    assert_eq!(
        error.to_string(),
        "$PHPEEK_DEBUG: `loud` is not a boolean (use true or false)"
    );
}

#[test]
fn longest_setting_wins_over_longer_name() {
    let config = config(&[
        ("PHPEEK_PM_PROCESS_PHP_FPM_HEALTH_CHECK_TYPE", "http"),
        (
            "PHPEEK_PM_PROCESS_PHP_FPM_HEALTH_CHECK_URL",
            "http://127.0.0.1:9001/ping",
        ),
        ("PHPEEK_PM_PROCESS_PHP_FPM_SHUTDOWN_TIMEOUT", "5"),
        ("PHPEEK_PM_PROCESS_QUEUE_HIGH_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_QUEUE_HIGH_SCALE", "4"),
    ]);
    let fpm = process(&config, "php-fpm");
    let probe = fpm.health_check.as_ref().map(|check| check.probe.clone());

    assert!(
        matches!(&probe, Some(Probe::Http { url, .. }) if url == "http://127.0.0.1:9001/ping"),
        "{probe:?}"
    );
    assert_eq!(fpm.shutdown.timeout, Duration::from_secs(5));
    assert_eq!(process(&config, "queue-high").scale, 4);
    assert_eq!(names(&config).len(), 3);
}

#[test]
fn process_of_file_wins_over_longest_setting() {
    let yaml = "processes:\n  queue-max:\n    command: [work]\n";
    let loaded = load_with(yaml, &[("PHPEEK_PM_PROCESS_QUEUE_MAX_SCALE", "4")]);
    let scale = loaded.map(|loaded| loaded.config.processes[0].scale);

    assert_eq!(scale, Ok(4));
}

#[test]
fn env_variables_keep_case_and_literal_values() {
    let config = config(&[
        ("PHPEEK_PM_PROCESS_NGINX_ENV_App_Key", "base64:abc"),
        ("PHPEEK_PM_PROCESS_NGINX_ENV_MODE", "null"),
        ("PHPEEK_PM_PROCESS_NGINX_ENV_HOME_REF", "${HOME}"),
        ("PHPEEK_PM_PROCESS_NGINX_ENV_EMPTY", ""),
    ]);
    let env: HashMap<&str, &str> = process(&config, "nginx")
        .env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    assert_eq!(env.get("KEEP"), Some(&"kept"));
    assert_eq!(env.get("App_Key"), Some(&"base64:abc"));
    assert_eq!(env.get("MODE"), Some(&"null"));
    assert_eq!(env.get("HOME_REF"), Some(&"${HOME}"));
    assert_eq!(env.get("EMPTY"), Some(&""));
}

#[test]
fn env_split_prefers_process_of_file() {
    let yaml = "processes:\n  my-env:\n    command: [a]\n  env-check:\n    command: [b]\n";
    let loaded = load_with(
        yaml,
        &[
            ("PHPEEK_PM_PROCESS_MY_ENV_ENV_X", "1"),
            ("PHPEEK_PM_PROCESS_ENV_CHECK_ENV_APP_ENV_NAME", "2"),
        ],
    );
    let envs: Vec<Vec<(String, String)>> = loaded
        .map(|loaded| loaded.config.processes.into_iter().map(|p| p.env).collect())
        .unwrap_or_default();

    assert_eq!(
        envs,
        [
            vec![("APP_ENV_NAME".to_owned(), "2".to_owned())],
            vec![("X".to_owned(), "1".to_owned())],
        ]
    );
}

#[test]
fn env_split_of_new_process_uses_first_marker() {
    let root = tree(&[("PHPEEK_PM_PROCESS_WORKER_ENV_APP_ENV_NAME", "x")]);

    assert_eq!(
        text_at(&root, "processes.worker.env.APP_ENV_NAME").as_deref(),
        Some("x")
    );
}

#[test]
fn new_process_without_command_names_its_variables() {
    let error = only_error(&[
        ("PHPEEK_PM_PROCESS_DB_BACKUP_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_DB_BACKUP_SCHEDULE", "0 2 * * *"),
    ]);

    assert_eq!(error.path, "processes.db-backup");
    assert_eq!(error.message, "process has no `command`");
    assert_eq!(
        error.variable.as_deref(),
        Some("PHPEEK_PM_PROCESS_DB_BACKUP_ENABLED")
    );
    assert_eq!(
        error.hint.as_deref(),
        Some(
            "the process is defined only by $PHPEEK_PM_PROCESS_DB_BACKUP_ENABLED, \
             $PHPEEK_PM_PROCESS_DB_BACKUP_SCHEDULE, so set \
             $PHPEEK_PM_PROCESS_DB_BACKUP_COMMAND too, like php,artisan,cache:warm"
        )
    );
}

#[test]
fn rejected_command_of_new_process_is_reported_once() {
    let error = only_error(&[(
        "PHPEEK_PM_PROCESS_CACHE_WARMUP_COMMAND",
        "[\"php\", artisan]",
    )]);

    assert_eq!(error.path, "processes.cache-warmup.command");
    assert!(
        error.message.contains("is not a JSON array of strings"),
        "{}",
        error.message
    );
}

#[test]
fn scale_one_is_a_number() {
    let config = config(&[
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "1"),
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "1"),
    ]);

    assert_eq!(process(&config, "queue-default").scale, 1);
}

#[test]
fn scale_zero_names_variable() {
    let error = only_error(&[
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "0"),
    ]);

    assert_eq!(
        error.variable.as_deref(),
        Some("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE")
    );
    assert!(
        error.to_string().starts_with(
            "$PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE: processes.queue-default.scale: \
             scale must be at least 1"
        ),
        "{error}"
    );
}

#[test]
fn booleans_accept_yes_no_on_off() {
    let config = config(&[
        ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "yes"),
        ("PHPEEK_PM_PROCESS_REVERB_ENABLED", "ON"),
        ("PHPEEK_PM_PROCESS_QUEUE_HIGH_ENABLED", "off"),
        ("PHPEEK_PM_PROCESS_NGINX_ENABLED", "no"),
    ]);

    assert_eq!(names(&config), ["php-fpm", "horizon", "reverb"]);
}

#[test]
fn commands_accept_json_commas_and_shell_words() {
    let config = config(&[
        ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_HORIZON_COMMAND",
            r#"["php", "artisan", "horizon", "--a=1,2"]"#,
        ),
        ("PHPEEK_PM_PROCESS_REVERB_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_REVERB_COMMAND",
            "php, artisan, reverb:start",
        ),
        ("PHPEEK_PM_PROCESS_QUEUE_HIGH_ENABLED", "true"),
        (
            "PHPEEK_PM_PROCESS_QUEUE_HIGH_COMMAND",
            "php artisan queue:work --name='high queue'",
        ),
        ("PHPEEK_PM_PROCESS_NGINX_DEPENDS_ON", "php-fpm"),
    ]);

    assert_eq!(
        process(&config, "horizon").command,
        ["php", "artisan", "horizon", "--a=1,2"]
    );
    assert_eq!(
        process(&config, "reverb").command,
        ["php", "artisan", "reverb:start"]
    );
    assert_eq!(
        process(&config, "queue-high").command,
        ["php", "artisan", "queue:work", "--name=high queue"]
    );
    assert_eq!(process(&config, "nginx").depends_on[0].name, "php-fpm");
}

#[test]
fn bad_value_names_variable_value_and_form() {
    let scale = only_error(&[("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "three")]);
    let command = only_error(&[("PHPEEK_PM_PROCESS_HORIZON_COMMAND", "php,,artisan")]);

    assert_eq!(
        scale.to_string(),
        "$PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE: processes.queue-default.scale: \
         `three` is not an integer (write a whole number such as 3)"
    );
    assert_eq!(
        command.to_string(),
        "$PHPEEK_PM_PROCESS_HORIZON_COMMAND: processes.horizon.command: \
         `php,,artisan` has an empty item between commas (remove the extra comma, or write \
         a JSON array like [\"php\",\"artisan\",\"queue:work\"], or items separated by \
         commas like php,artisan,queue:work)"
    );
}

#[test]
fn unknown_variables_get_suggestions() {
    let cases = [
        (
            "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCAEL",
            "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE",
        ),
        (
            "PHPEEK_PM_PROCESS_HORIZON_ENABLE",
            "PHPEEK_PM_PROCESS_HORIZON_ENABLED",
        ),
        ("PHPEEK_PM_LOG_LEVL", "PHPEEK_PM_LOG_LEVEL"),
        ("PHPEEK_PM_GLOBAL_LOG_LEVL", "PHPEEK_PM_GLOBAL_LOG_LEVEL"),
        (
            "PHPEEK_PM_HORIZON_ENABLED",
            "PHPEEK_PM_PROCESS_HORIZON_ENABLED",
        ),
        (
            "PHPEEK_PM_RESTART_BACKOFF_MAX",
            "PHPEEK_PM_GLOBAL_RESTART_BACKOFF_MAX",
        ),
    ];
    for (variable, suggestion) in cases {
        let error = only_error(&[(variable, "1")]);

        assert_eq!(error.variable.as_deref(), Some(variable));
        assert_eq!(
            error.hint,
            Some(format!("did you mean `{suggestion}`?")),
            "{variable}"
        );
    }
}

#[test]
fn unknown_variable_without_match_is_an_error() {
    let error = only_error(&[("PHPEEK_PM_XYZZY", "1")]);
    let nameless = only_error(&[("PHPEEK_PM_PROCESS_SCALE", "2")]);

    assert_eq!(error.to_string(), "$PHPEEK_PM_XYZZY: unknown phpeek-pm variable (use PHPEEK_PM_GLOBAL_<SETTING> or PHPEEK_PM_PROCESS_<NAME>_<SETTING>, or unset it)");
    assert_eq!(nameless.message, "the variable names no process");
}

#[test]
fn variables_set_on_children_are_ignored() {
    let vars = [
        ("PHPEEK_PM_CONFIG", "/etc/phpeek-pm/phpeek-pm.yaml"),
        ("PHPEEK_PM_API_URL", "http://127.0.0.1:9180"),
        ("PHPEEK_PM_BIN", "/usr/local/bin/phpeek-pm"),
        ("PHPEEK_PM_PROCESS", "nginx"),
        ("PHPEEK_PM_PROCESS_NAME", "nginx"),
        ("PHPEEK_PM_INSTANCE_ID", "nginx-0"),
        ("PHPEEK_PM_SCHEDULED", "true"),
        ("PHPEEK_PM_SCHEDULE", "* * * * *"),
        ("PHPEEK_PM_START_TIME", "1732141200"),
        ("PHPEEK_PM_HOOK_NAME", "migrate"),
        ("PHPEEK_PM_HOOK_STAGE", "pre-start"),
        ("PATH", "/usr/bin"),
    ];
    let Loaded { config, warnings } = loaded(&vars);

    assert_eq!(names(&config), ["php-fpm", "nginx"]);
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn environment_wins_over_file() {
    let config = config(&[
        ("PHPEEK_PM_GLOBAL_LOG_LEVEL", "error"),
        ("PHPEEK_PM_GLOBAL_RESTART_BACKOFF_INITIAL", "2s"),
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_PHP_FPM_PRIORITY", "30"),
    ]);

    assert_eq!(config.global.log_level, LogLevel::Error);
    assert_eq!(
        config.global.restart_backoff_initial,
        Duration::from_secs(2)
    );
    assert_eq!(process(&config, "queue-default").scale, 2);
    assert_eq!(process(&config, "php-fpm").priority, 30);
}

#[test]
fn empty_value_resets_setting_to_default() {
    let config = config(&[
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true"),
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", ""),
    ]);

    assert_eq!(process(&config, "queue-default").scale, 1);
}

#[test]
fn global_spelling_wins_over_short_name_with_warning() {
    let Loaded { config, warnings } = loaded(&[
        ("PHPEEK_PM_LOG_LEVEL", "debug"),
        ("PHPEEK_PM_GLOBAL_LOG_LEVEL", "warn"),
    ]);

    assert_eq!(config.global.log_level, LogLevel::Warn);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(
        warnings[0].to_string(),
        "$PHPEEK_PM_LOG_LEVEL: warning: global.log_level: \
         the value is overridden by $PHPEEK_PM_GLOBAL_LOG_LEVEL"
    );
}

#[test]
fn equal_names_with_different_values_are_an_error() {
    let error = only_error(&[
        ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "3"),
        ("PHPEEK_PM_PROCESS_queue_default_SCALE", "4"),
    ]);
    let same = config(&[("PHPEEK_PM_API_TOKEN", "t"), ("PHPEEK_PM_API_AUTH", "t")]);

    assert_eq!(
        error.variable.as_deref(),
        Some("PHPEEK_PM_PROCESS_queue_default_SCALE")
    );
    assert_eq!(
        error.message,
        "$PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE sets the same setting to a different value"
    );
    assert_eq!(names(&same), ["php-fpm", "nginx"]);
}

#[test]
fn value_under_non_mapping_is_an_error() {
    let yaml = "processes:\n  web:\n    command: [a]\n    health_check: [tcp]\n";
    let errors = errors_in(
        yaml,
        &[("PHPEEK_PM_PROCESS_WEB_HEALTH_CHECK_URL", "http://x/")],
    );
    let overlay_error = errors.iter().find(|error| error.variable.is_some());

    assert_eq!(
        overlay_error.map(|error| error.message.as_str()),
        Some(
            "can't set `processes.web.health_check.url`, because \
             `processes.web.health_check` is not a mapping"
        )
    );
}

#[test]
fn variables_alone_can_define_configuration() {
    let vars = [
        ("PHPEEK_PM_PROCESS_WEB_COMMAND", "nginx -g 'daemon off;'"),
        ("PHPEEK_PM_GLOBAL_LOG_FORMAT", "text"),
    ];
    let loaded = load_with("", &vars).map(|loaded| loaded.config.processes[0].command.clone());

    assert_eq!(loaded, Ok(strings(&["nginx", "-g", "daemon off;"])));
}

#[test]
fn effective_yaml_loads_to_same_configuration() {
    let mut vars = LARAVEL_STACK.to_vec();
    vars.push((
        "PHPEEK_PM_PROCESS_CACHE_WARMUP_COMMAND",
        "php,artisan,cache:warm",
    ));
    vars.push(("PHPEEK_PM_PROCESS_NGINX_ENV_LITERAL", "${NOT_SET}"));
    let env = env(&vars);
    let (first, yaml) = load_str_effective(BASE, "phpeek-pm.yaml", &env)
        .unwrap_or_else(|report| panic!("{report}"));
    let without_env = load_str(&yaml, "effective.yaml", &HashMap::new());
    let with_env = load_str(&yaml, "effective.yaml", &env);

    for again in [without_env, with_env] {
        let again = again.unwrap_or_else(|report| panic!("{report}\n{yaml}"));
        assert_eq!(names(&again.config), names(&first.config), "{yaml}");
        for (a, b) in again.config.processes.iter().zip(&first.config.processes) {
            assert_eq!(a.command, b.command);
            assert_eq!(a.scale, b.scale);
            assert_eq!(a.env, b.env);
        }
    }
}

#[test]
fn to_yaml_output_parses_back_to_overlaid_tree() {
    let vars = [
        ("PHPEEK_PM_PROCESS_CACHE_WARMUP_SCHEDULE", "*/15 * * * *"),
        (
            "PHPEEK_PM_PROCESS_CACHE_WARMUP_COMMAND",
            "php,artisan,cache:warm",
        ),
        ("PHPEEK_PM_GLOBAL_API_AUTH", "a: b # c"),
    ];
    let yaml = to_yaml(BASE, "phpeek-pm.yaml", &env(&vars)).unwrap_or_else(|r| panic!("{r}"));
    let mut problems = Problems::new("effective.yaml");
    let (reparsed, _) = parse_overlaid(&yaml, &HashMap::new(), &mut problems);
    let reparsed = reparsed.unwrap_or_else(|| panic!("no tree in:\n{yaml}"));
    let original = tree(&vars);

    assert!(problems.into_vec().is_empty());
    for path in [
        "processes.cache-warmup.schedule",
        "global.api_auth",
        "global.log_level",
    ] {
        assert_eq!(text_at(&reparsed, path), text_at(&original, path), "{path}");
    }
    assert_eq!(
        list_at(&reparsed, "processes.cache-warmup.command"),
        strings(&["php", "artisan", "cache:warm"])
    );
    assert!(
        yaml.starts_with("global:\n  log_level: info\n  api_auth: \"a: b # c\"\n"),
        "{yaml}"
    );
}

#[test]
fn to_yaml_reports_unknown_variable() {
    let report = to_yaml(BASE, "phpeek-pm.yaml", &env(&[("PHPEEK_PM_NOPE", "1")]));

    assert!(report.is_err_and(|report| report.errors().count() == 1));
}

#[test]
fn random_variable_names_never_panic() {
    const PARTS: &[&str] = &[
        "PHPEEK_PM_",
        "PROCESS_",
        "GLOBAL_",
        "ENV_",
        "_",
        "PHP_FPM",
        "HEALTH_CHECK_",
        "URL",
        "é",
        "SCALE",
        "COMMAND",
        "[",
        ",",
        "LOG_",
        "Q",
        "_ENV_",
        "\u{301}",
    ];
    // A fixed-seed linear congruential generator keeps the test repeatable.
    let mut state: u64 = 0x853c_49e6_748f_ea9b;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap_or_default()
    };
    for _ in 0..2000 {
        let mut name = String::new();
        for _ in 0..next() % 8 {
            name.push_str(PARTS[next() % PARTS.len()]);
        }
        let value = PARTS[next() % PARTS.len()];
        let _ = load_with(BASE, &[(name.as_str(), value)]);
    }
}

#[test]
fn multiline_timeout_short_name_reads_milliseconds() {
    let cases = [
        ("500", Duration::from_millis(500)),
        ("2s", Duration::from_secs(2)),
        ("250ms", Duration::from_millis(250)),
    ];
    for (value, expected) in cases {
        let loaded = loaded(&[("PHPEEK_PM_LOG_MULTILINE_TIMEOUT", value)]);

        assert_eq!(
            loaded.config.global.log_multiline.timeout, expected,
            "{value}"
        );
    }
}

#[test]
fn multiline_timeout_long_name_reads_seconds() {
    let loaded = loaded(&[("PHPEEK_PM_GLOBAL_LOG_MULTILINE_TIMEOUT", "2")]);

    assert_eq!(
        loaded.config.global.log_multiline.timeout,
        Duration::from_secs(2)
    );
}

#[test]
fn typo_in_process_name_suggests_existing_process() {
    let error = only_error(&[("PHPEEK_PM_PROCESS_QUEUE_DEFALUT_SCALE", "3")]);

    assert_eq!(error.path, "processes.queue-defalut");
    assert_eq!(
        error.hint.as_deref(),
        Some(
            "the config has no process `queue-defalut`; did you mean `queue-default`, \
             as in $PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE? For a new process, set \
             $PHPEEK_PM_PROCESS_QUEUE_DEFALUT_COMMAND too"
        )
    );
}

#[test]
fn regex_split_at_comma_names_json_array_form() {
    for value in [r"sk_live_\w{3,}", r"token,\d{2,4}-x"] {
        let error = only_error(&[("PHPEEK_PM_LOG_REDACTION_PATTERNS", value)]);

        assert_eq!(error.path, "global.log_redaction.patterns");
        assert!(
            error.message.contains("cuts the repetition"),
            "{}",
            error.message
        );
        let hint = error.hint.unwrap_or_default();
        assert!(hint.contains(r#"["sk_live_\\w{3,}", "token"]"#), "{hint}");
    }
}

#[test]
fn regex_in_json_array_keeps_its_comma() {
    let config = config(&[("PHPEEK_PM_LOG_REDACTION_PATTERNS", r#"["sk_live_\\w{3,}"]"#)]);

    assert_eq!(config.global.log_redaction.patterns.len(), 1);
}
