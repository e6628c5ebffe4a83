//! Decoding the top level, `global` and `hooks` sections into the model.
//!
//! Keys follow PHPeek PM 1.x so its files keep loading. Keys that 1.x accepts
//! but this version doesn't implement produce warnings, not errors.

use std::path::PathBuf;
use std::time::Duration;

use super::credentials;
use super::endpoints;
use super::fields::{Decoder, Field, Fields};
use super::logging::{decode_multiline, decode_redaction};
use super::model::{
    ApiSettings, FatalAction, Global, Hook, Hooks, LogFormat, LogLevel, LogOverflow,
    MetricsSettings, Multiline, Redaction, RestartPolicy,
};
use super::node::{Node, Value};
use super::process::{self, ProcessDraft};

/// Spellings of the restart policies.
pub(crate) const RESTART_POLICIES: &[(&str, RestartPolicy)] = &[
    ("always", RestartPolicy::Always),
    ("on-failure", RestartPolicy::OnFailure),
    ("never", RestartPolicy::Never),
];

/// Go `global` keys that are accepted with a warning.
const INERT_GLOBAL_KEYS: &[&str] = &[
    "metrics_*",
    "api_*",
    "resource_metrics_*",
    "audit_enabled",
    "tracing_*",
    "readiness",
    "health_check_interval",
    "health_check_strict",
    "schedule_history_size",
    "oneshot_history_*",
    "process_start_timeout",
    "process_stop_timeout",
    "zombie_reap_interval",
    "log_timestamps",
    "autotune_memory_threshold",
];

/// Everything read from the file, before the checks that span processes.
pub(crate) struct Draft {
    pub(crate) global: Global,
    pub(crate) hooks: Hooks,
    pub(crate) processes: Vec<ProcessDraft>,
}

/// Decodes the root node. Returns none when the root is not a mapping.
pub(crate) fn decode(root: &Node, decoder: &mut Decoder<'_>) -> Option<Draft> {
    if !matches!(root.value, Value::Mapping(_)) {
        let message = format!("expected a mapping at the top level, found {}", root.kind());
        let hint = "start the file with `processes:`";
        decoder.error_at(&root.origin, "", message).set_hint(hint);
        return None;
    }
    let mut fields = decoder.fields(root, "")?;

    // `version` is accepted and ignored, as PHPeek PM 1.x never checks it.
    let _ = fields.get("version");
    let global = match fields.get("global") {
        Some(field) => decode_global(decoder, &field),
        None => default_global(),
    };
    let hooks = match fields.get("hooks") {
        Some(field) => decode_hooks(decoder, &field),
        None => Hooks::default(),
    };
    let processes = match fields.get("processes") {
        Some(field) => process::decode_all(decoder, &field, &global),
        None => Vec::new(),
    };

    // `x-` keys hold YAML anchors for reuse, as in Docker Compose files.
    fields.skip_prefixed("x-");
    fields.finish(decoder, &[]);
    Some(Draft {
        global,
        hooks,
        processes,
    })
}

/// Returns the `global` section with every key at its default.
fn default_global() -> Global {
    Global {
        shutdown_timeout: Duration::from_secs(30),
        log_level: LogLevel::Info,
        log_format: LogFormat::Json,
        log_max_line_bytes: 64 * 1024,
        restart_policy: RestartPolicy::Always,
        max_restart_attempts: 3,
        restart_backoff_initial: Duration::from_secs(1),
        restart_backoff_max: Duration::from_secs(60),
        restart_reset_after: Duration::from_secs(60),
        dependency_timeout: Duration::from_secs(5 * 60),
        on_fatal: FatalAction::Shutdown,
        log_overflow: LogOverflow::Block,
        log_multiline: Multiline::default(),
        log_redaction: Redaction::default(),
        metrics: MetricsSettings::default(),
        api: ApiSettings::default(),
        max_process_scale: 100,
    }
}

const LOG_LEVELS: &[(&str, LogLevel)] = &[
    ("trace", LogLevel::Trace),
    ("debug", LogLevel::Debug),
    ("info", LogLevel::Info),
    ("warn", LogLevel::Warn),
    ("error", LogLevel::Error),
];

const LOG_FORMATS: &[(&str, LogFormat)] = &[("json", LogFormat::Json), ("text", LogFormat::Text)];

const LOG_OVERFLOWS: &[(&str, LogOverflow)] =
    &[("block", LogOverflow::Block), ("drop", LogOverflow::Drop)];

const FATAL_ACTIONS: &[(&str, FatalAction)] = &[
    ("shutdown", FatalAction::Shutdown),
    ("continue", FatalAction::Continue),
];

fn decode_global(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Global {
    let defaults = default_global();
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return defaults;
    };

    let fields = &mut fields;
    let shutdown_timeout = decoder.read(fields, "shutdown_timeout", Decoder::positive_duration);
    let log_level = decoder.read(fields, "log_level", |decoder, field| {
        decoder.choice(field, "log level", LOG_LEVELS)
    });
    let log_format = decoder.read(fields, "log_format", log_format);
    let log_max_line_bytes = decoder.read(fields, "log_max_line_bytes", positive_size);
    let log_overflow = decoder.read(fields, "log_overflow", |decoder, field| {
        decoder.choice(field, "log overflow mode", LOG_OVERFLOWS)
    });
    let log_multiline = fields
        .get("log_multiline")
        .map(|field| decode_multiline(decoder, &field, &defaults.log_multiline));
    let log_redaction = fields
        .get("log_redaction")
        .map(|field| decode_redaction(decoder, &field, &defaults.log_redaction));
    let restart_policy = decoder.read(fields, "restart_policy", restart_policy);
    let max_restart_attempts = decoder.read(fields, "max_restart_attempts", |decoder, field| {
        decoder.count(field, 0)
    });
    let (backoff_initial, backoff_max) = decode_backoff(decoder, fields, &defaults);
    let restart_reset_after = decoder.read(fields, "restart_reset_after", Decoder::duration);
    let dependency_timeout = decoder.read(fields, "dependency_timeout", Decoder::positive_duration);
    let on_fatal = decoder.read(fields, "on_fatal", |decoder, field| {
        decoder.choice(field, "fatal action", FATAL_ACTIONS)
    });
    let (metrics, api) = endpoints::decode(decoder, fields);
    let max_process_scale = decoder.read(fields, "max_process_scale", |decoder, field| {
        decoder.count(field, 1)
    });
    fields.finish(decoder, INERT_GLOBAL_KEYS);

    Global {
        shutdown_timeout: shutdown_timeout.unwrap_or(defaults.shutdown_timeout),
        log_level: log_level.unwrap_or(defaults.log_level),
        log_format: log_format.unwrap_or(defaults.log_format),
        log_max_line_bytes: log_max_line_bytes.unwrap_or(defaults.log_max_line_bytes),
        restart_policy: restart_policy.unwrap_or(defaults.restart_policy),
        max_restart_attempts: max_restart_attempts.unwrap_or(defaults.max_restart_attempts),
        restart_backoff_initial: backoff_initial,
        restart_backoff_max: backoff_max,
        restart_reset_after: restart_reset_after.unwrap_or(defaults.restart_reset_after),
        dependency_timeout: dependency_timeout.unwrap_or(defaults.dependency_timeout),
        on_fatal: on_fatal.unwrap_or(defaults.on_fatal),
        log_overflow: log_overflow.unwrap_or(defaults.log_overflow),
        log_multiline: log_multiline.unwrap_or(defaults.log_multiline),
        log_redaction: log_redaction.unwrap_or(defaults.log_redaction),
        metrics,
        api,
        max_process_scale: max_process_scale.unwrap_or(defaults.max_process_scale),
    }
}

/// Reads a record format, `json` or `text`.
pub(crate) fn log_format(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<LogFormat> {
    decoder.choice(field, "log format", LOG_FORMATS)
}

/// Reads the initial and maximum restart backoff.
///
/// The legacy `restart_backoff` sets the initial delay to its value and the
/// maximum to 12 times that, as in PHPeek PM 1.x, unless the newer keys are
/// given.
fn decode_backoff(
    decoder: &mut Decoder<'_>,
    fields: &mut Fields<'_>,
    defaults: &Global,
) -> (Duration, Duration) {
    let legacy = decoder.read(fields, "restart_backoff", Decoder::positive_duration);
    let initial_field = fields.get("restart_backoff_initial");
    let initial = initial_field
        .as_ref()
        .and_then(|field| decoder.positive_duration(field));
    let max_field = fields.get("restart_backoff_max");
    let max = max_field
        .as_ref()
        .and_then(|field| decoder.positive_duration(field));

    let initial = initial
        .or(legacy)
        .unwrap_or(defaults.restart_backoff_initial);
    let max = max
        .or(legacy.map(|legacy| legacy.saturating_mul(12)))
        .unwrap_or(defaults.restart_backoff_max);
    if max < initial {
        let message = "restart_backoff_max is shorter than restart_backoff_initial";
        let hint = "make restart_backoff_max at least as long";
        if let Some(field) = max_field.or(initial_field) {
            decoder.error(&field, message).set_hint(hint);
        }
    }
    (initial, max)
}

fn positive_size(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<usize> {
    let size = decoder.size(field)?;
    if size == 0 {
        decoder.error(field, "must be greater than 0");
        return None;
    }
    Some(size)
}

/// Reads a restart policy.
pub(crate) fn restart_policy(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
) -> Option<RestartPolicy> {
    decoder.choice(field, "restart policy", RESTART_POLICIES)
}

fn decode_hooks(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Hooks {
    let mut hooks = Hooks::default();
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return hooks;
    };
    let lists = [
        (&mut hooks.pre_start, "pre-start", "pre_start"),
        (&mut hooks.post_start, "post-start", "post_start"),
        (&mut hooks.pre_stop, "pre-stop", "pre_stop"),
        (&mut hooks.post_stop, "post-stop", "post_stop"),
    ];
    for (target, key, other) in lists {
        if let Some(list) = fields.get_either(decoder, key, other) {
            *target = decode_hook_list(decoder, &list);
        }
    }
    fields.finish(decoder, &[]);
    hooks
}

fn decode_hook_list(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Vec<Hook> {
    let Value::Sequence(items) = &field.node.value else {
        let message = format!("expected a list of hooks, found {}", field.node.kind());
        decoder.error(field, message);
        return Vec::new();
    };
    let mut hooks = Vec::with_capacity(items.len());
    for (index, node) in items.iter().enumerate() {
        let item = Field {
            node,
            path: format!("{}[{index}]", field.path),
        };
        hooks.extend(decode_hook(decoder, &item, true));
    }
    hooks
}

/// Decodes one hook. Accounts are looked up only when `resolve_user` is set,
/// so a disabled process doesn't need its user to exist.
pub(crate) fn decode_hook(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    resolve_user: bool,
) -> Option<Hook> {
    let mut fields = decoder.fields(field.node, &field.path)?;

    let name = decoder.read(&mut fields, "name", Decoder::nonempty_text);
    let command_field = fields.get("command");
    let example = "[php, artisan, migrate]";
    let owner = (&field.node.origin, field.path.as_str());
    let command = decoder.required_command(command_field, owner, "hook", example);
    let timeout = decoder.read(&mut fields, "timeout", Decoder::positive_duration);
    let retry = decoder.read(&mut fields, "retry", |decoder, field| {
        decoder.count(field, 0)
    });
    let retry_delay = decoder.read(&mut fields, "retry_delay", Decoder::duration);
    let continue_on_error = decoder.read(&mut fields, "continue_on_error", Decoder::bool);
    let env = decoder.read(&mut fields, "env", |decoder, field| {
        Some(decoder.env_map(field))
    });
    let working_dir = decoder.optional_text(fields.get("working_dir").as_ref());
    let (user, group) = (fields.get("user"), fields.get("group"));
    let user = if resolve_user {
        credentials::resolve(decoder, user.as_ref(), group.as_ref())
    } else {
        None
    };
    fields.finish(decoder, &[]);

    let command = command?;
    Some(Hook {
        name: name.unwrap_or_else(|| program_name(&command)),
        command,
        timeout: timeout.unwrap_or(Duration::from_secs(30)),
        retry: retry.unwrap_or(0),
        retry_delay: retry_delay.unwrap_or(Duration::from_secs(1)),
        continue_on_error: continue_on_error.unwrap_or(false),
        env: env.unwrap_or_default(),
        working_dir: working_dir.map(PathBuf::from),
        user,
    })
}

/// Returns the base name of the program in `command`, for a default hook name.
fn program_name(command: &[String]) -> String {
    let program = command.first().map(String::as_str).unwrap_or_default();
    program.rsplit('/').next().unwrap_or(program).to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{config, errors, loaded, only_error, position};
    use super::*;

    const WEB: &str = "processes:\n  web:\n    command: [nginx]\n";

    #[test]
    fn global_defaults_apply_without_section() {
        let global = config(WEB).global;

        assert_eq!(global.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(global.log_level, LogLevel::Info);
        assert_eq!(global.log_format, LogFormat::Json);
        assert_eq!(global.log_max_line_bytes, 65536);
        assert_eq!(global.restart_policy, RestartPolicy::Always);
        assert_eq!(global.max_restart_attempts, 3);
        assert_eq!(global.restart_backoff_initial, Duration::from_secs(1));
        assert_eq!(global.restart_backoff_max, Duration::from_secs(60));
        assert_eq!(global.restart_reset_after, Duration::from_secs(60));
        assert_eq!(global.dependency_timeout, Duration::from_secs(300));
        assert_eq!(global.on_fatal, FatalAction::Shutdown);
    }

    #[test]
    fn global_values_are_read_by_type() {
        let yaml = format!(
            "global:\n  shutdown_timeout: 1m30s\n  log_level: DEBUG\n  log_format: text\n  \
             log_max_line_bytes: 1MiB\n  restart_policy: on-failure\n  max_restart_attempts: 0\n  \
             restart_backoff_initial: 500ms\n  restart_backoff_max: '10'\n  \
             restart_reset_after: 0\n  dependency_timeout: 1.5s\n  on_fatal: continue\n{WEB}"
        );
        let global = config(&yaml).global;

        assert_eq!(global.shutdown_timeout, Duration::from_secs(90));
        assert_eq!(global.log_level, LogLevel::Debug);
        assert_eq!(global.log_format, LogFormat::Text);
        assert_eq!(global.log_max_line_bytes, 1 << 20);
        assert_eq!(global.restart_policy, RestartPolicy::OnFailure);
        assert_eq!(global.max_restart_attempts, 0);
        assert_eq!(global.restart_backoff_initial, Duration::from_millis(500));
        assert_eq!(global.restart_backoff_max, Duration::from_secs(10));
        assert_eq!(global.restart_reset_after, Duration::ZERO);
        assert_eq!(global.dependency_timeout, Duration::from_millis(1500));
        assert_eq!(global.on_fatal, FatalAction::Continue);
    }

    #[test]
    fn legacy_backoff_sets_initial_and_twelvefold_max() {
        let global = config(&format!("global:\n  restart_backoff: 5\n{WEB}")).global;

        assert_eq!(global.restart_backoff_initial, Duration::from_secs(5));
        assert_eq!(global.restart_backoff_max, Duration::from_secs(60));
    }

    #[test]
    fn explicit_backoff_keys_override_legacy_key() {
        let yaml = format!("global:\n  restart_backoff: 5\n  restart_backoff_max: 2m\n{WEB}");
        let global = config(&yaml).global;

        assert_eq!(global.restart_backoff_initial, Duration::from_secs(5));
        assert_eq!(global.restart_backoff_max, Duration::from_secs(120));
    }

    #[test]
    fn backoff_max_below_initial_is_an_error() {
        let yaml =
            format!("global:\n  restart_backoff_initial: 10s\n  restart_backoff_max: 5s\n{WEB}");
        let error = only_error(&yaml);

        assert_eq!(error.path, "global.restart_backoff_max");
        assert_eq!(position(&error), (Some(3), Some(24)));
    }

    #[test]
    fn zero_shutdown_timeout_is_an_error() {
        let error = only_error(&format!("global:\n  shutdown_timeout: 0\n{WEB}"));

        assert_eq!(error.path, "global.shutdown_timeout");
        assert_eq!(error.message, "must be greater than 0");
        assert_eq!(position(&error), (Some(2), Some(21)));
    }

    #[test]
    fn invalid_duration_names_text_and_formats() {
        let error = only_error(&format!("global:\n  dependency_timeout: 5 minutes\n{WEB}"));

        assert_eq!(error.message, "`5 minutes` is not a duration");
        assert!(error.hint.is_some_and(|hint| hint.contains("1m30s")));
    }

    #[test]
    fn invalid_choice_suggests_close_spelling() {
        let error = only_error(&format!("global:\n  log_level: warning\n{WEB}"));

        assert_eq!(error.message, "invalid log level `warning`");
        assert_eq!(error.hint.as_deref(), Some("did you mean `warn`?"));
    }

    #[test]
    fn unknown_global_key_suggests_known_key() {
        let error = only_error(&format!("global:\n  shutdown_timout: 10\n{WEB}"));

        assert_eq!(error.path, "global.shutdown_timout");
        assert_eq!(error.message, "unknown key `shutdown_timout`");
        assert_eq!(
            error.hint.as_deref(),
            Some("did you mean `shutdown_timeout`?")
        );
        assert_eq!(position(&error), (Some(2), Some(3)));
    }

    #[test]
    fn unknown_key_far_from_any_key_has_no_hint() {
        let error = only_error(&format!("global:\n  colour: blue\n{WEB}"));

        assert_eq!(error.message, "unknown key `colour`");
        assert_eq!(error.hint, None);
    }

    #[test]
    fn go_only_global_keys_are_warnings() {
        let yaml = format!(
            "global:\n  metrics_tls: {{}}\n  api_socket: /run/pm.sock\n  tracing_exporter: otlp\n  \
             zombie_reap_interval: 1s\n{WEB}"
        );
        let warnings = loaded(&yaml).warnings;

        assert_eq!(warnings.len(), 4);
        assert_eq!(warnings[0].path, "global.metrics_tls");
        assert!(warnings[0]
            .message
            .contains("has no effect in this version"));
        assert_eq!(position(&warnings[3]), (Some(5), Some(3)));
    }

    #[test]
    fn version_and_extension_keys_are_accepted() {
        let yaml = format!("version: '1.0'\nx-common: &cmd [nginx]\n{WEB}");

        assert!(loaded(&yaml).warnings.is_empty());
    }

    #[test]
    fn unknown_top_level_key_is_an_error() {
        let error = only_error(&format!("proceses: {{}}\n{WEB}"));

        assert_eq!(error.path, "proceses");
        assert_eq!(error.hint.as_deref(), Some("did you mean `processes`?"));
    }

    #[test]
    fn top_level_list_is_an_error() {
        let error = only_error("- web\n- worker\n");

        assert_eq!(
            error.message,
            "expected a mapping at the top level, found a list"
        );
        assert_eq!(position(&error), (Some(1), Some(1)));
    }

    #[test]
    fn hooks_accept_both_spellings_and_default_names() {
        let yaml = format!(
            "hooks:\n  pre-start:\n    - command: [/usr/bin/php, artisan, migrate]\n      \
             timeout: 2m\n      retry: 2\n  post_stop:\n    - name: bye\n      \
             command: echo bye\n      continue_on_error: yes\n      env: {{A: 1}}\n{WEB}"
        );
        let hooks = config(&yaml).hooks;

        assert_eq!(hooks.pre_start.len(), 1);
        assert_eq!(hooks.pre_start[0].name, "php");
        assert_eq!(hooks.pre_start[0].timeout, Duration::from_secs(120));
        assert_eq!(hooks.pre_start[0].retry, 2);
        assert_eq!(hooks.pre_start[0].retry_delay, Duration::from_secs(1));
        assert_eq!(hooks.post_stop[0].name, "bye");
        assert_eq!(hooks.post_stop[0].command, ["echo", "bye"]);
        assert!(hooks.post_stop[0].continue_on_error);
        assert_eq!(hooks.post_stop[0].env, [("A".to_owned(), "1".to_owned())]);
        assert!(hooks.post_start.is_empty());
    }

    #[test]
    fn hook_spelled_both_ways_is_an_error() {
        let yaml = format!("hooks:\n  pre-stop: []\n  pre_stop: []\n{WEB}");
        let error = only_error(&yaml);

        assert_eq!(error.message, "both `pre-stop` and `pre_stop` are set");
        assert_eq!(error.line, Some(3));
    }

    #[test]
    fn hook_without_command_is_an_error() {
        let error = only_error(&format!("hooks:\n  pre-start:\n    - name: migrate\n{WEB}"));

        assert_eq!(error.path, "hooks.pre-start[0]");
        assert_eq!(error.message, "hook has no `command`");
        assert_eq!(position(&error), (Some(3), Some(7)));
    }

    #[test]
    fn hook_with_zero_timeout_is_an_error() {
        let yaml = format!("hooks:\n  pre-start:\n    - command: [true]\n      timeout: 0s\n{WEB}");
        let error = only_error(&yaml);

        assert_eq!(error.path, "hooks.pre-start[0].timeout");
        assert_eq!(position(&error), (Some(4), Some(16)));
    }

    #[test]
    fn several_global_errors_are_all_reported() {
        let yaml = format!(
            "global:\n  log_format: xml\n  max_restart_attempts: -1\n  on_fatal: panic\n{WEB}"
        );
        let paths: Vec<String> = errors(&yaml).into_iter().map(|error| error.path).collect();

        assert_eq!(
            paths,
            [
                "global.log_format",
                "global.max_restart_attempts",
                "global.on_fatal"
            ]
        );
    }
}
