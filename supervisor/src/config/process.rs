//! Decoding `processes.<name>`: one supervised program and its settings.
//!
//! Dependencies are kept as drafts with their origins, because their default
//! condition and their validity depend on the other processes; see
//! [`super::validate`].

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::decode::{decode_hook, restart_policy};
use super::fields::{join, Decoder, Field};
use super::logging::decode_logging;
use super::model::{
    DependencyCondition, Global, Process, ProcessKind, ProcessLogging, RestartPolicy, Shutdown,
};
use super::node::{Origin, Value};
use super::schedule::{self, ScheduleKeys};
use super::{credentials, health};

/// Go `processes.<name>` keys that are accepted with a warning.
const INERT_PROCESS_KEYS: &[&str] = &["initial_state", "stdout", "stderr"];

const PROCESS_KINDS: &[(&str, ProcessKind)] = &[
    ("longrun", ProcessKind::Longrun),
    ("oneshot", ProcessKind::Oneshot),
];

/// Spellings of dependency conditions, ours first, then Docker Compose's.
const CONDITIONS: &[(&str, DependencyCondition)] = &[
    ("started", DependencyCondition::Started),
    ("healthy", DependencyCondition::Healthy),
    (
        "completed_successfully",
        DependencyCondition::CompletedSuccessfully,
    ),
    ("service_started", DependencyCondition::Started),
    ("service_healthy", DependencyCondition::Healthy),
    (
        "service_completed_successfully",
        DependencyCondition::CompletedSuccessfully,
    ),
];

/// A decoded process with what validation needs to know about it.
pub(crate) struct ProcessDraft {
    /// The process; `depends_on` stays empty until validation resolves it.
    pub(crate) process: Process,
    /// Whether the process runs. Disabled processes are left out of the config.
    pub(crate) enabled: bool,
    /// The `depends_on` entries as written.
    pub(crate) dependencies: Vec<DependencyDraft>,
}

/// One `depends_on` entry before its target is checked.
pub(crate) struct DependencyDraft {
    /// Name of the process depended on.
    pub(crate) name: String,
    /// The condition, or none to use the default for the target's type.
    pub(crate) condition: Option<DependencyCondition>,
    /// Location of the entry.
    pub(crate) origin: Origin,
    /// Dotted path of the entry.
    pub(crate) path: String,
}

/// Decodes the `processes` mapping in file order. `global` gives the
/// defaults that processes inherit.
pub(crate) fn decode_all(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    global: &Global,
) -> Vec<ProcessDraft> {
    let Some(entries) = field.node.entries() else {
        let message = format!(
            "expected a mapping of process names, found {}",
            field.node.kind()
        );
        decoder.error(field, message);
        return Vec::new();
    };
    let mut drafts = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = join(&field.path, &entry.key);
        if !is_process_name(&entry.key) {
            let message = format!("invalid process name `{}`", entry.key);
            let hint = "use letters, digits, `-`, `_` and `.`, starting with a letter or digit";
            decoder
                .error_at(&entry.key_origin, &path, message)
                .set_hint(hint);
        }
        let item = Field {
            node: &entry.value,
            path,
        };
        let draft = decode_process(decoder, &entry.key, &entry.key_origin, &item, global);
        drafts.extend(draft);
    }
    drafts
}

fn is_process_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn decode_process(
    decoder: &mut Decoder<'_>,
    name: &str,
    origin: &Origin,
    field: &Field<'_>,
    global: &Global,
) -> Option<ProcessDraft> {
    let mut fields = decoder.fields(field.node, &field.path)?;

    let enabled = decoder
        .read(&mut fields, "enabled", Decoder::bool)
        .unwrap_or(true);
    let kind_field = fields.get("type");
    let kind = kind_field
        .as_ref()
        .and_then(|kind| decoder.choice(kind, "process type", PROCESS_KINDS));
    let kind = kind.unwrap_or(ProcessKind::Longrun);
    let command_field = fields.get("command");
    let owner = (origin, field.path.as_str());
    let command = decoder.required_command(command_field, owner, "process", "[php-fpm, -F]");
    let priority = decoder.read(&mut fields, "priority", |decoder, field| {
        decoder.int(field, i32::MIN.into(), i32::MAX.into())
    });
    let dependencies = fields
        .get("depends_on")
        .map(|list| decode_depends_on(decoder, &list));
    let scale_field = fields.get("scale");
    let scale = scale_field
        .as_ref()
        .and_then(|field| read_scale(decoder, field, kind));
    let restart_field = fields.get("restart");
    let restart = restart_field
        .as_ref()
        .and_then(|field| read_restart(decoder, field, kind));
    let max_scale_field = fields.get("max_scale");
    let max_scale = max_scale_field
        .as_ref()
        .and_then(|field| read_max_scale(decoder, field, kind, global.max_process_scale));
    if let (Some(field), Some(scale)) = (scale_field.as_ref(), scale) {
        check_scale_limit(decoder, field, scale, max_scale, global.max_process_scale);
    }
    let env = fields.get("env").map(|env| decoder.env_map(&env));
    let working_dir = decoder.optional_text(fields.get("working_dir").as_ref());
    let (user, group) = (fields.get("user"), fields.get("group"));
    // A disabled process never runs, so its account need not exist here.
    let user = enabled
        .then(|| credentials::resolve(decoder, user.as_ref(), group.as_ref()))
        .flatten();
    let health_field = fields.get("health_check");
    let health_check = health_field
        .as_ref()
        .and_then(|check| health::decode(decoder, check));
    let shutdown = match fields.get("shutdown") {
        Some(shutdown) => decode_shutdown(decoder, &shutdown, enabled),
        None => default_shutdown(),
    };
    let schedule_keys = ScheduleKeys::read(&mut fields);
    let scheduled = schedule::decode(decoder, &schedule_keys);
    let logging = match fields.get("logging") {
        Some(logging) => decode_logging(decoder, &logging, global),
        None => ProcessLogging::inherit(global),
    };
    fields.finish(decoder, INERT_PROCESS_KEYS);
    if scheduled.is_some() {
        let task_fields = schedule::TaskFields {
            kind: kind_field.as_ref().filter(|_| kind == ProcessKind::Oneshot),
            scale: scale_field
                .as_ref()
                .filter(|_| scale.is_some_and(|n| n > 1)),
            restart: restart_field.as_ref(),
            health_check: health_field.as_ref(),
        };
        schedule::check_task_fields(decoder, &task_fields);
    }

    let default_restart = match kind {
        ProcessKind::Longrun => global.restart_policy,
        ProcessKind::Oneshot => RestartPolicy::Never,
    };
    let process = Process {
        name: name.to_owned(),
        kind,
        command: command.unwrap_or_default(),
        priority: priority.and_then(|p| i32::try_from(p).ok()).unwrap_or(100),
        depends_on: Vec::new(),
        scale: scale.unwrap_or(1),
        max_scale,
        restart: restart.unwrap_or(default_restart),
        env: env.unwrap_or_default(),
        working_dir: working_dir.map(PathBuf::from),
        user,
        health_check,
        shutdown,
        schedule: scheduled,
        logging,
    };
    Some(ProcessDraft {
        process,
        enabled,
        dependencies: dependencies.unwrap_or_default(),
    })
}

/// Largest `scale` accepted. Each instance is a process with two pipes, so
/// a typo such as an extra zero fails here instead of exhausting the host.
const MAX_SCALE: u32 = 10_000;

fn read_scale(decoder: &mut Decoder<'_>, field: &Field<'_>, kind: ProcessKind) -> Option<u32> {
    let hint = format!(
        "use a number from 1 to {MAX_SCALE}; to keep the process from running, \
         set `enabled: false`"
    );
    let below = ("scale must be at least 1", hint.as_str());
    let scale = decoder.int_with_floor(field, 1, i64::from(MAX_SCALE), below)? as u32;
    if scale > 1 && kind == ProcessKind::Oneshot {
        let hint = "remove `scale`, or make the process a longrun";
        decoder
            .error(field, "a oneshot process runs a single instance")
            .set_hint(hint);
        return None;
    }
    Some(scale)
}

/// Reads `max_scale`, which must not exceed `global.max_process_scale`.
fn read_max_scale(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    kind: ProcessKind,
    global_cap: u32,
) -> Option<u32> {
    let max_scale = decoder.count(field, 1)?;
    if max_scale > 1 && kind == ProcessKind::Oneshot {
        let hint = "remove `max_scale`, or make the process a longrun";
        decoder
            .error(field, "a oneshot process runs a single instance")
            .set_hint(hint);
        return None;
    }
    if max_scale > global_cap {
        let message =
            format!("max_scale {max_scale} exceeds global.max_process_scale {global_cap}");
        let hint = "raise global.max_process_scale or lower max_scale";
        decoder.error(field, message).set_hint(hint);
        return None;
    }
    Some(max_scale)
}

/// Reports a `scale` above the process's limit.
fn check_scale_limit(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    scale: u32,
    max_scale: Option<u32>,
    global_cap: u32,
) {
    let (limit, key) = match max_scale {
        Some(max_scale) => (max_scale, "max_scale"),
        None => (global_cap, "global.max_process_scale"),
    };
    if scale > limit {
        let message = format!("scale {scale} exceeds {key} {limit}");
        decoder
            .error(field, message)
            .set_hint(format!("raise {key} or lower scale"));
    }
}

fn read_restart(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    kind: ProcessKind,
) -> Option<RestartPolicy> {
    let policy = restart_policy(decoder, field)?;
    if policy == RestartPolicy::Always && kind == ProcessKind::Oneshot {
        let hint = "use on-failure to retry a failed run, or never";
        decoder
            .error(field, "a oneshot process can't use restart `always`")
            .set_hint(hint);
        return None;
    }
    Some(policy)
}

/// Decodes `depends_on`: a list of names, or a mapping from names to a
/// condition, either as a plain value or Docker Compose's `{condition: X}`.
fn decode_depends_on(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Vec<DependencyDraft> {
    let mut dependencies = Vec::new();
    match &field.node.value {
        Value::Sequence(items) => {
            for (index, node) in items.iter().enumerate() {
                let item = Field {
                    node,
                    path: format!("{}[{index}]", field.path),
                };
                if let Some(name) = decoder.nonempty_text(&item) {
                    let origin = node.origin.clone();
                    let path = field.path.clone();
                    dependencies.push(DependencyDraft {
                        name,
                        condition: None,
                        origin,
                        path,
                    });
                }
            }
        }
        Value::Mapping(entries) => {
            for entry in entries {
                let item = Field {
                    node: &entry.value,
                    path: join(&field.path, &entry.key),
                };
                let condition = read_condition(decoder, &item);
                dependencies.push(DependencyDraft {
                    name: entry.key.clone(),
                    condition,
                    origin: entry.key_origin.clone(),
                    path: field.path.clone(),
                });
            }
        }
        Value::Scalar(_) => {
            let hint = "write a list of process names, like [php-fpm]";
            let message = format!("expected a list or a mapping, found {}", field.node.kind());
            decoder.error(field, message).set_hint(hint);
        }
    }
    dependencies
}

fn read_condition(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<DependencyCondition> {
    if field.node.is_null() {
        return None;
    }
    if let Value::Mapping(_) = field.node.value {
        let mut fields = decoder.fields(field.node, &field.path)?;
        let condition = decoder.read(&mut fields, "condition", |decoder, field| {
            decoder.choice(field, "dependency condition", CONDITIONS)
        });
        fields.finish(decoder, &[]);
        return condition;
    }
    decoder.choice(field, "dependency condition", CONDITIONS)
}

fn default_shutdown() -> Shutdown {
    Shutdown {
        signal: Signal::SIGTERM,
        timeout: Duration::from_secs(30),
        pre_stop_hook: None,
    }
}

/// Decodes `shutdown`. The hook's account is looked up only for an enabled process.
fn decode_shutdown(decoder: &mut Decoder<'_>, field: &Field<'_>, enabled: bool) -> Shutdown {
    let defaults = default_shutdown();
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return defaults;
    };

    let signal = decoder.read(&mut fields, "signal", Decoder::signal);
    let timeout = decoder.read(&mut fields, "timeout", Decoder::positive_duration);
    let pre_stop_hook = decoder.read(&mut fields, "pre_stop_hook", |decoder, field| {
        decode_hook(decoder, field, enabled)
    });
    fields.finish(decoder, &["kill_signal", "graceful"]);

    Shutdown {
        signal: signal.unwrap_or(defaults.signal),
        timeout: timeout.unwrap_or(defaults.timeout),
        pre_stop_hook,
    }
}

#[cfg(test)]
mod tests {
    use nix::unistd::{Gid, Uid};

    use super::super::model::Dependency;
    use super::super::testing::{config, errors, only_error, position};
    use super::*;

    fn process(yaml: &str) -> Process {
        let mut processes = config(yaml).processes;
        assert_eq!(processes.len(), 1);
        processes.remove(0)
    }

    #[test]
    fn process_defaults_apply() {
        let web = process("processes:\n  web:\n    command: [nginx, -g, daemon off;]\n");

        assert_eq!(web.name, "web");
        assert_eq!(web.kind, ProcessKind::Longrun);
        assert_eq!(web.command, ["nginx", "-g", "daemon off;"]);
        assert_eq!(web.priority, 100);
        assert_eq!(web.scale, 1);
        assert_eq!(web.restart, RestartPolicy::Always);
        assert!(web.env.is_empty());
        assert_eq!(web.working_dir, None);
        assert_eq!(web.user, None);
        assert!(web.health_check.is_none());
        assert_eq!(web.shutdown.signal, Signal::SIGTERM);
        assert_eq!(web.shutdown.timeout, Duration::from_secs(30));
    }

    #[test]
    fn process_is_enabled_unless_disabled() {
        let yaml = "processes:\n  a:\n    command: [a]\n  b:\n    enabled: off\n    command: [b]\n";

        assert_eq!(config(yaml).processes.len(), 1);
        assert_eq!(config(yaml).processes[0].name, "a");
    }

    #[test]
    fn string_command_is_split_like_a_shell() {
        let web = process("processes:\n  web:\n    command: php -r 'echo \"a b\";' --x=\"1 2\"\n");

        assert_eq!(web.command, ["php", "-r", "echo \"a b\";", "--x=1 2"]);
    }

    #[test]
    fn string_command_with_open_quote_is_an_error() {
        let error = only_error("processes:\n  web:\n    command: php -r 'echo\n");

        assert_eq!(error.message, "command has an unclosed quote");
        assert_eq!(position(&error), (Some(3), Some(14)));
    }

    #[test]
    fn empty_command_is_an_error() {
        for command in ["[]", "''", "['']", "${EMPTY:-}"] {
            let error = only_error(&format!("processes:\n  web:\n    command: {command}\n"));

            assert_eq!(error.message, "command is empty", "{command}");
            assert_eq!(error.path, "processes.web.command");
        }
    }

    #[test]
    fn missing_command_points_at_process_name() {
        let error = only_error("processes:\n  web:\n    scale: 2\n");

        assert_eq!(error.message, "process has no `command`");
        assert_eq!(error.path, "processes.web");
        assert_eq!(position(&error), (Some(2), Some(3)));
    }

    #[test]
    fn command_arguments_are_substituted() {
        let web = process("processes:\n  web:\n    command: [php-fpm, '--port=${FPM_PORT}']\n");

        assert_eq!(web.command, ["php-fpm", "--port=9000"]);
    }

    #[test]
    fn env_values_become_strings() {
        let yaml = "processes:\n  web:\n    command: [a]\n    env:\n      \
                    DEBUG: false\n      WORKERS: 4\n      MODE: ${APP_ENV}\n      NONE:\n";
        let env = process(yaml).env;
        let expected = [
            ("DEBUG", "false"),
            ("WORKERS", "4"),
            ("MODE", "production"),
            ("NONE", ""),
        ];

        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn env_as_list_is_an_error() {
        let error = only_error("processes:\n  web:\n    command: [a]\n    env: [A=1]\n");

        assert_eq!(error.path, "processes.web.env");
        assert_eq!(
            error.message,
            "expected a mapping of names to values, found a list"
        );
    }

    #[test]
    fn max_scale_is_read() {
        let web = process("processes:\n  web:\n    command: [a]\n    max_scale: 8\n");
        assert_eq!(web.max_scale, Some(8));
    }

    #[test]
    fn scale_above_max_scale_is_rejected() {
        let yaml = "processes:\n  web:\n    command: [a]\n    scale: 3\n    max_scale: 2\n";
        let error = only_error(yaml);
        assert_eq!(error.path, "processes.web.scale");
        assert_eq!(error.message, "scale 3 exceeds max_scale 2");
    }

    #[test]
    fn scale_above_global_cap_is_rejected() {
        let yaml =
            "global:\n  max_process_scale: 4\nprocesses:\n  web:\n    command: [a]\n    scale: 5\n";
        let error = only_error(yaml);
        assert_eq!(error.path, "processes.web.scale");
        assert_eq!(error.message, "scale 5 exceeds global.max_process_scale 4");
    }

    #[test]
    fn max_scale_above_global_cap_is_rejected() {
        let yaml = "processes:\n  web:\n    command: [a]\n    max_scale: 101\n";
        let error = only_error(yaml);
        assert_eq!(error.path, "processes.web.max_scale");
    }

    #[test]
    fn negative_scale_gets_the_same_floor() {
        let error = only_error("processes:\n  web:\n    command: [a]\n    scale: -1\n");

        assert_eq!(error.message, "scale must be at least 1");
        assert!(error
            .hint
            .as_deref()
            .is_some_and(|hint| hint.contains("from 1 to 10000")));
    }

    #[test]
    fn scale_zero_suggests_disabling() {
        let error = only_error("processes:\n  web:\n    command: [a]\n    scale: 0\n");

        assert_eq!(error.message, "scale must be at least 1");
        assert_eq!(
            error.hint.as_deref(),
            Some("use a number from 1 to 10000; to keep the process from running, set `enabled: false`")
        );
        assert_eq!(position(&error), (Some(4), Some(12)));
    }

    #[test]
    fn oneshot_with_several_instances_is_an_error() {
        let yaml = "processes:\n  migrate:\n    type: oneshot\n    command: [a]\n    scale: 2\n";
        let error = only_error(yaml);

        assert_eq!(error.path, "processes.migrate.scale");
        assert_eq!(error.message, "a oneshot process runs a single instance");
    }

    #[test]
    fn oneshot_defaults_to_no_restart_and_rejects_always() {
        let yaml = "processes:\n  migrate:\n    type: oneshot\n    command: [a]\n";
        assert_eq!(process(yaml).restart, RestartPolicy::Never);

        let error = only_error(&format!("{yaml}    restart: always\n"));
        assert_eq!(error.path, "processes.migrate.restart");
    }

    #[test]
    fn invalid_process_name_is_an_error() {
        let error = only_error("processes:\n  'my web':\n    command: [a]\n");

        assert_eq!(error.message, "invalid process name `my web`");
        assert_eq!(position(&error), (Some(2), Some(3)));
    }

    #[test]
    fn depends_on_accepts_list_and_mapping_forms() {
        let yaml = "processes:\n  a:\n    command: [a]\n  b:\n    command: [b]\n  \
                    c:\n    command: [c]\n  d:\n    command: [d]\n  \
                    list:\n    command: [x]\n    depends_on: [a, b]\n  \
                    map:\n    command: [x]\n    depends_on:\n      a: started\n      \
                    b: service_healthy\n      c: {condition: service_started}\n      d:\n";
        let processes = config(yaml).processes;
        let find = |name: &str| {
            processes
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.depends_on.clone())
        };
        let dependency = |name: &str, condition| Dependency {
            name: name.to_owned(),
            condition,
        };

        assert_eq!(
            find("list"),
            Some(vec![
                dependency("a", DependencyCondition::Healthy),
                dependency("b", DependencyCondition::Healthy),
            ])
        );
        assert_eq!(
            find("map"),
            Some(vec![
                dependency("a", DependencyCondition::Started),
                dependency("b", DependencyCondition::Healthy),
                dependency("c", DependencyCondition::Started),
                dependency("d", DependencyCondition::Healthy),
            ])
        );
    }

    #[test]
    fn invalid_condition_is_an_error() {
        let yaml = "processes:\n  a:\n    command: [a]\n  b:\n    command: [b]\n    \
                    depends_on:\n      a: {condition: ready}\n";
        let error = only_error(yaml);

        assert_eq!(error.path, "processes.b.depends_on.a.condition");
        assert_eq!(error.message, "invalid dependency condition `ready`");
        assert_eq!(position(&error), (Some(7), Some(22)));
    }

    #[test]
    fn depends_on_as_string_is_an_error() {
        let error = only_error("processes:\n  a:\n    command: [a]\n    depends_on: b\n");

        assert_eq!(
            error.message,
            "expected a list or a mapping, found a string"
        );
    }

    #[test]
    fn shutdown_settings_are_read() {
        let yaml = "processes:\n  horizon:\n    command: [php, artisan, horizon]\n    \
                    shutdown:\n      signal: quit\n      timeout: 2m\n      \
                    pre_stop_hook:\n        command: php artisan horizon:terminate\n";
        let shutdown = process(yaml).shutdown;

        assert_eq!(shutdown.signal, Signal::SIGQUIT);
        assert_eq!(shutdown.timeout, Duration::from_secs(120));
        let hook = shutdown.pre_stop_hook.map(|hook| (hook.name, hook.command));
        let command = vec![
            "php".to_owned(),
            "artisan".to_owned(),
            "horizon:terminate".to_owned(),
        ];
        assert_eq!(hook, Some(("php".to_owned(), command)));
    }

    #[test]
    fn unknown_signal_and_zero_timeout_are_both_reported() {
        let yaml = "processes:\n  web:\n    command: [a]\n    shutdown:\n      \
                    signal: SIGTREM\n      timeout: 0\n      graceful: true\n";
        let report = load_errors_and_warnings(yaml);

        assert_eq!(
            report.0,
            [
                "processes.web.shutdown.signal",
                "processes.web.shutdown.timeout"
            ]
        );
        assert_eq!(report.1, ["processes.web.shutdown.graceful"]);
    }

    fn load_errors_and_warnings(yaml: &str) -> (Vec<String>, Vec<String>) {
        match super::super::testing::load(yaml) {
            Ok(loaded) => panic!("expected errors, got {loaded:?}"),
            Err(report) => (
                report.errors().map(|p| p.path.clone()).collect(),
                report.warnings().map(|p| p.path.clone()).collect(),
            ),
        }
    }

    #[test]
    fn named_user_resolves_ids_and_groups() {
        let web = process("processes:\n  web:\n    command: [a]\n    user: root\n");
        let user = web.user.unwrap_or_else(|| panic!("no credentials"));

        assert_eq!(user.user_name, "root");
        assert_eq!(user.uid, Uid::from_raw(0));
        assert_eq!(user.gid, Gid::from_raw(0));
        assert!(user.groups.contains(&Gid::from_raw(0)));
    }

    #[test]
    fn numeric_user_without_account_uses_same_gid() {
        let yaml = "processes:\n  web:\n    command: [a]\n    user: '48213'\n";
        let user = process(yaml)
            .user
            .unwrap_or_else(|| panic!("no credentials"));

        assert_eq!(user.uid, Uid::from_raw(48213));
        assert_eq!(user.gid, Gid::from_raw(48213));
        assert!(user.groups.is_empty());
    }

    #[test]
    fn group_overrides_primary_gid() {
        let yaml = "processes:\n  web:\n    command: [a]\n    user: 1000\n    group: root\n";
        let user = process(yaml)
            .user
            .unwrap_or_else(|| panic!("no credentials"));

        assert_eq!(user.uid, Uid::from_raw(1000));
        assert_eq!(user.gid, Gid::from_raw(0));
    }

    #[test]
    fn unknown_user_and_group_are_errors() {
        let yaml = "processes:\n  web:\n    command: [a]\n    user: no-such-user-x7\n    \
                    group: no-such-group-x7\n";
        let errors = errors(yaml);

        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].message, "user `no-such-user-x7` does not exist");
        assert_eq!(position(&errors[0]), (Some(4), Some(11)));
        assert_eq!(errors[1].message, "group `no-such-group-x7` does not exist");
    }

    #[test]
    fn disabled_process_account_is_not_looked_up() {
        let yaml = "processes:\n  a:\n    command: [a]\n  b:\n    enabled: false\n    \
                    command: [b]\n    user: no-such-user-x7\n";

        assert_eq!(config(yaml).processes.len(), 1);
    }
}
