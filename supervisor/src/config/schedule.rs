//! Decoding the scheduling keys of `processes.<name>`: `schedule`,
//! `schedule_timezone`, `schedule_timeout`, `schedule_max_concurrent` and
//! `heartbeat`.
//!
//! A process with `schedule` is a scheduled task. The other keys only make
//! sense on such a process, so they are errors without it.

use chrono_tz::Tz;

use super::fields::{Decoder, Field, Fields};
use super::model::{Heartbeat, ScheduledTask};
use super::values;
use crate::schedule;

/// The scheduling keys of one process, read but not yet checked together.
pub(crate) struct ScheduleKeys<'n> {
    schedule: Option<Field<'n>>,
    timezone: Option<Field<'n>>,
    timeout: Option<Field<'n>>,
    max_concurrent: Option<Field<'n>>,
    heartbeat: Option<Field<'n>>,
}

impl<'n> ScheduleKeys<'n> {
    /// Takes the scheduling keys out of a process mapping.
    pub(crate) fn read(fields: &mut Fields<'n>) -> ScheduleKeys<'n> {
        ScheduleKeys {
            schedule: fields.get("schedule"),
            timezone: fields.get("schedule_timezone"),
            timeout: fields.get("schedule_timeout"),
            max_concurrent: fields.get("schedule_max_concurrent"),
            heartbeat: fields.get("heartbeat"),
        }
    }
}

/// Process keys that conflict with `schedule`, when they are set to a
/// conflicting value.
pub(crate) struct TaskFields<'a, 'n> {
    /// `type: oneshot`.
    pub(crate) kind: Option<&'a Field<'n>>,
    /// `scale` above 1.
    pub(crate) scale: Option<&'a Field<'n>>,
    /// `restart`, which has no effect.
    pub(crate) restart: Option<&'a Field<'n>>,
    /// `health_check`.
    pub(crate) health_check: Option<&'a Field<'n>>,
}

/// Reports settings that a scheduled task can't have: errors for a oneshot
/// type, a scale above 1 and a health check, a warning for `restart`.
pub(crate) fn check_task_fields(decoder: &mut Decoder<'_>, fields: &TaskFields<'_, '_>) {
    if let Some(field) = fields.kind {
        decoder
            .error(field, "a scheduled task can't be a oneshot")
            .set_hint("remove `type`: each firing already runs the command once");
    }
    if let Some(field) = fields.scale {
        decoder
            .error(field, "a scheduled task starts one run per firing")
            .set_hint("remove `scale`; to let runs overlap, set `schedule_max_concurrent`");
    }
    if let Some(field) = fields.health_check {
        decoder
            .error(field, "a scheduled task has no health check")
            .set_hint("remove `health_check`; use `heartbeat` to monitor the runs");
    }
    if let Some(field) = fields.restart {
        decoder
            .warning(field, "`restart` has no effect on a scheduled task")
            .set_hint("a failed run is not restarted; the next firing starts a new run");
    }
}

/// Decodes the scheduling keys. Returns none for a process without
/// `schedule`, after reporting any scheduling key it has anyway.
pub(crate) fn decode(decoder: &mut Decoder<'_>, keys: &ScheduleKeys<'_>) -> Option<ScheduledTask> {
    let Some(schedule_field) = &keys.schedule else {
        report_without_schedule(decoder, keys);
        return None;
    };
    let expression = decoder.nonempty_text(schedule_field);
    let schedule = expression.as_deref().and_then(|text| {
        let parsed = schedule::parse(text, |duration| {
            values::parse_duration(duration).map_err(|invalid| invalid.message)
        });
        parsed
            .map_err(|error| {
                let hint =
                    "write 5 fields like `*/15 * * * *`, or a macro like @daily or @every 5m";
                decoder.error(schedule_field, error.message).set_hint(hint);
            })
            .ok()
    });
    let timezone = read_timezone(decoder, keys.timezone.as_ref(), schedule_field);
    let timeout = keys
        .timeout
        .as_ref()
        .and_then(|field| decoder.positive_duration(field));
    let max_concurrent = match &keys.max_concurrent {
        Some(field) => read_max_concurrent(decoder, field)?,
        None => 1,
    };
    let heartbeat = keys
        .heartbeat
        .as_ref()
        .and_then(|field| decode_heartbeat(decoder, field));

    Some(ScheduledTask {
        expression: expression?,
        schedule: schedule?,
        timezone: timezone?,
        timeout,
        max_concurrent,
        heartbeat,
    })
}

fn report_without_schedule(decoder: &mut Decoder<'_>, keys: &ScheduleKeys<'_>) {
    let others = [
        ("schedule_timezone", &keys.timezone),
        ("schedule_timeout", &keys.timeout),
        ("schedule_max_concurrent", &keys.max_concurrent),
        ("heartbeat", &keys.heartbeat),
    ];
    for (key, field) in others {
        if let Some(field) = field {
            let message = format!("`{key}` only applies to a scheduled task");
            decoder
                .error(field, message)
                .set_hint("add `schedule`, or remove this key");
        }
    }
}

/// Reads `schedule_timezone`, defaulting to the `TZ` variable of
/// phpeek-pm's environment, else UTC. `Local` also means that default, as
/// in PHPeek PM 1.x.
fn read_timezone(
    decoder: &mut Decoder<'_>,
    field: Option<&Field<'_>>,
    schedule_field: &Field<'_>,
) -> Option<Tz> {
    let written = match field {
        Some(field) => Some((decoder.nonempty_text(field)?, field)),
        None => None,
    };
    match written {
        Some((name, field)) if !name.eq_ignore_ascii_case("local") => parse_timezone(&name)
            .or_else(|| {
                let message = format!("unknown time zone `{name}`");
                let hint = "use an IANA name such as Europe/Berlin or UTC";
                decoder.error(field, message).set_hint(hint);
                None
            }),
        _ => default_timezone(decoder, schedule_field),
    }
}

fn default_timezone(decoder: &mut Decoder<'_>, schedule_field: &Field<'_>) -> Option<Tz> {
    let Some(name) = decoder.env_var("TZ").filter(|name| !name.is_empty()) else {
        return Some(Tz::UTC);
    };
    // POSIX allows a leading colon before a zone name.
    let zone = name.strip_prefix(':').unwrap_or(&name);
    parse_timezone(zone).or_else(|| {
        let message = format!("the TZ environment variable names an unknown time zone `{name}`");
        let hint = "set `schedule_timezone` to an IANA name such as Europe/Berlin";
        decoder.error(schedule_field, message).set_hint(hint);
        None
    })
}

/// Parses an IANA zone name, also in the forms glibc accepts in `TZ`: a
/// path into the zone database (`/usr/share/zoneinfo/Europe/Berlin`) and
/// any case (`utc`).
fn parse_timezone(name: &str) -> Option<Tz> {
    let name = name.rsplit_once("zoneinfo/").map_or(name, |(_, zone)| zone);
    name.parse::<Tz>().ok().or_else(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|zone| zone.name().eq_ignore_ascii_case(name))
            .copied()
    })
}

fn read_max_concurrent(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<u32> {
    let limit = decoder.count(field, 0)?;
    if limit == 0 {
        let hint = "use 1 to skip a firing while the previous run is still going";
        decoder
            .error(field, "schedule_max_concurrent must be at least 1")
            .set_hint(hint);
        return None;
    }
    Some(limit)
}

/// Decodes `heartbeat: {url, timeout}`. PHPeek PM 1.x's `enabled`,
/// `interval` and `grace` are accepted; only `enabled: false` has an effect.
fn decode_heartbeat(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<Heartbeat> {
    let mut fields = decoder.fields(field.node, &field.path)?;
    let enabled = decoder
        .read(&mut fields, "enabled", Decoder::bool)
        .unwrap_or(true);
    let url_field = fields.get("url");
    let timeout = decoder.read(&mut fields, "timeout", Decoder::positive_duration);
    fields.finish(decoder, &["interval", "grace"]);
    if !enabled {
        return None;
    }

    // No URL, for example after an empty PHPEEK_PM_PROCESS_<NAME>_HEARTBEAT_URL
    // removed it, turns pings off like an empty one.
    let Some(url_field) = url_field else {
        let hint = "set `url`, like https://hc-ping.com/<uuid>, or remove `heartbeat`";
        decoder
            .warning(field, "heartbeat has no `url`, so no pings are sent")
            .set_hint(hint);
        return None;
    };
    // An empty URL, for example `${HEARTBEAT_URL:-}`, turns pings off.
    let url = decoder.text(&url_field)?;
    if url.is_empty() {
        return None;
    }
    match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            Some(Heartbeat { url, timeout })
        }
        _ => {
            let hint = "write a URL like https://hc-ping.com/<uuid>";
            decoder
                .error(&url_field, "heartbeat url is not an http or https URL")
                .set_hint(hint);
            None
        }
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
