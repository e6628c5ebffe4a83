//! Decoding `processes.<name>`: one supervised program and its settings.
//!
//! Dependencies are kept as drafts with their origins, because their default
//! condition and their validity depend on the other processes; see
//! [`super::validate`].

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::decode::{decode_hook, restart_policy, set};
use super::fields::{join, Decoder, Field};
use super::model::{DependencyCondition, Process, ProcessKind, RestartPolicy, Shutdown};
use super::node::{Origin, Value};
use super::{credentials, health};

/// Go `processes.<name>` keys that are accepted with a warning.
const INERT_PROCESS_KEYS: &[&str] = &[
    "initial_state",
    "stdout",
    "stderr",
    "max_scale",
    "logging",
    "schedule",
    "schedule_timezone",
    "schedule_timeout",
    "schedule_max_concurrent",
    "heartbeat",
];

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
    /// Where the entry was written.
    pub(crate) origin: Origin,
    /// Dotted path of the entry.
    pub(crate) path: String,
}

/// Decodes the `processes` mapping in file order.
pub(crate) fn decode_all(
    decoder: &mut Decoder<'_>,
    field: &Field<'_>,
    default_restart: RestartPolicy,
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
        let draft = decode_process(
            decoder,
            &entry.key,
            &entry.key_origin,
            &item,
            default_restart,
        );
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
    default_restart: RestartPolicy,
) -> Option<ProcessDraft> {
    let mut fields = decoder.fields(field.node, &field.path)?;
    let f = &mut fields;

    let enabled = decoder.read(f, "enabled", Decoder::bool).unwrap_or(true);
    let kind_field = f.get("type");
    let kind = kind_field
        .as_ref()
        .and_then(|k| decoder.choice(k, "process type", PROCESS_KINDS));
    let kind = kind.unwrap_or(ProcessKind::Longrun);
    let command = match f.get("command") {
        Some(command) => decoder.command(&command),
        None => {
            let hint = "give the program and its arguments, like [php-fpm, -F]";
            let message = "process has no `command`".to_owned();
            decoder
                .error_at(origin, &field.path, message)
                .set_hint(hint);
            None
        }
    };
    let priority = decoder.read(f, "priority", |d, f| {
        d.int(f, i32::MIN.into(), i32::MAX.into())
    });
    let dependencies = f.get("depends_on").map(|d| decode_depends_on(decoder, &d));
    let scale = decoder.read(f, "scale", |d, f| read_scale(d, f, kind));
    let restart = decoder.read(f, "restart", |d, f| read_restart(d, f, kind));
    let env = f.get("env").map(|env| decoder.env_map(&env));
    let working_dir = decoder.optional_text(f.get("working_dir").as_ref());
    let (user, group) = (f.get("user"), f.get("group"));
    // A disabled process never runs, so its account need not exist here.
    let user = enabled
        .then(|| credentials::resolve(decoder, user.as_ref(), group.as_ref()))
        .flatten();
    let health_check = f
        .get("health_check")
        .and_then(|h| health::decode(decoder, &h));
    let shutdown = match f.get("shutdown") {
        Some(shutdown) => decode_shutdown(decoder, &shutdown, enabled),
        None => default_shutdown(),
    };
    warn_unimplemented_schedule(decoder, f.get("schedule"));
    fields.finish(decoder, INERT_PROCESS_KEYS);

    let default_restart = match kind {
        ProcessKind::Longrun => default_restart,
        ProcessKind::Oneshot => RestartPolicy::Never,
    };
    let process = Process {
        name: name.to_owned(),
        kind,
        command: command.unwrap_or_default(),
        priority: priority.and_then(|p| i32::try_from(p).ok()).unwrap_or(100),
        depends_on: Vec::new(),
        scale: scale.unwrap_or(1),
        restart: restart.unwrap_or(default_restart),
        env: env.unwrap_or_default(),
        working_dir: working_dir.map(PathBuf::from),
        user,
        health_check,
        shutdown,
    };
    Some(ProcessDraft {
        process,
        enabled,
        dependencies: dependencies.unwrap_or_default(),
    })
}

fn read_scale(decoder: &mut Decoder<'_>, field: &Field<'_>, kind: ProcessKind) -> Option<u32> {
    let scale = decoder.count(field, 0)?;
    if scale == 0 {
        let hint = "to keep the process from running, set `enabled: false`";
        decoder
            .error(field, "scale must be at least 1")
            .set_hint(hint);
        return None;
    }
    if scale > 1 && kind == ProcessKind::Oneshot {
        let hint = "remove `scale`, or make the process a longrun";
        decoder
            .error(field, "a oneshot process runs a single instance")
            .set_hint(hint);
        return None;
    }
    Some(scale)
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

/// Warns that `schedule` is ignored, because such a process now runs at once
/// instead of at the scheduled times.
fn warn_unimplemented_schedule(decoder: &mut Decoder<'_>, field: Option<Field<'_>>) {
    let Some(field) = field else {
        return;
    };
    let message = "`schedule` is accepted for compatibility with PHPeek PM 1.x \
                   but has no effect in this version";
    let hint = "the process starts at once like any other; set `enabled: false` to keep it \
                from running";
    decoder.warning(&field, message).set_hint(hint);
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
        let condition = decoder.read(&mut fields, "condition", |d, f| {
            d.choice(f, "dependency condition", CONDITIONS)
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

fn decode_shutdown(decoder: &mut Decoder<'_>, field: &Field<'_>, enabled: bool) -> Shutdown {
    let mut shutdown = default_shutdown();
    let Some(mut fields) = decoder.fields(field.node, &field.path) else {
        return shutdown;
    };
    let f = &mut fields;

    set(
        &mut shutdown.signal,
        decoder.read(f, "signal", Decoder::signal),
    );
    set(
        &mut shutdown.timeout,
        decoder.read(f, "timeout", Decoder::positive_duration),
    );
    shutdown.pre_stop_hook = decoder.read(f, "pre_stop_hook", |d, f| decode_hook(d, f, enabled));

    fields.finish(decoder, &["kill_signal", "graceful"]);
    shutdown
}
