use std::collections::HashMap;
use std::time::Duration;

use super::super::testing::{config, env, errors, loaded, only_error, FILE};
use super::super::{load_str, Process};
use super::*;

fn task(yaml: &str) -> ScheduledTask {
    let process: Process = config(yaml).processes.remove(0);
    process
        .schedule
        .unwrap_or_else(|| panic!("{} is not scheduled", process.name))
}

#[test]
fn scheduling_keys_are_read() {
    let yaml = "processes:\n  backup:\n    command: [backup]\n    \
                schedule: '0 2 * * *'\n    schedule_timezone: Europe/Berlin\n    \
                schedule_timeout: 5m\n    schedule_max_concurrent: 2\n    \
                heartbeat:\n      url: https://hc-ping.com/abc\n      timeout: 300\n";
    let task = task(yaml);

    assert_eq!(task.expression, "0 2 * * *");
    assert_eq!(task.timezone, Tz::Europe__Berlin);
    assert_eq!(task.timeout, Some(Duration::from_secs(300)));
    assert_eq!(task.max_concurrent, 2);
    let heartbeat = Heartbeat {
        url: "https://hc-ping.com/abc".to_owned(),
        timeout: Some(Duration::from_secs(300)),
    };
    assert_eq!(task.heartbeat, Some(heartbeat));
}

#[test]
fn laravel_scheduler_entry_loads() {
    let yaml = "processes:\n  scheduler:\n    command: [php, artisan, schedule:run]\n    \
                schedule: '* * * * *'\n";
    let task = task(yaml);

    assert_eq!(task.expression, "* * * * *");
    assert_eq!(task.timezone, Tz::UTC);
    assert_eq!(task.timeout, None);
    assert_eq!(task.max_concurrent, 1);
    assert_eq!(task.heartbeat, None);
}

#[test]
fn timezone_defaults_to_tz_variable() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@hourly'\n";
    let mut env = env();
    env.insert("TZ".to_owned(), ":America/New_York".to_owned());
    let loaded = load_str(yaml, FILE, &env).map(|loaded| loaded.config.processes[0].clone());
    let zone = loaded
        .ok()
        .and_then(|process| process.schedule)
        .map(|task| task.timezone);

    assert_eq!(zone, Some(Tz::America__New_York));
}

#[test]
fn local_timezone_means_the_default() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@hourly'\n    \
                schedule_timezone: Local\n";
    assert_eq!(task(yaml).timezone, Tz::UTC);
}

#[test]
fn invalid_expression_names_field_and_value() {
    let yaml = "processes:\n  backup:\n    command: [a]\n    schedule: '0 2 * * 8'\n";
    let error = only_error(yaml);

    assert_eq!(error.path, "processes.backup.schedule");
    assert_eq!(error.message, "day-of-week value 8 is out of range 0-7");
    assert!(error
        .to_string()
        .contains("processes.backup.schedule: day-of-week value 8 is out of range 0-7"));
}

#[test]
fn every_uses_config_durations() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@every 1m30s'\n";
    assert_eq!(
        task(yaml).schedule,
        crate::schedule::Schedule::Every(Duration::from_secs(90))
    );
    let error = only_error("processes:\n  job:\n    command: [a]\n    schedule: '@every soon'\n");
    assert_eq!(error.message, "`soon` is not a duration");
}

#[test]
fn unknown_timezones_are_errors() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    \
                schedule_timezone: Mars/Olympus\n";
    let error = only_error(yaml);
    assert_eq!(error.path, "processes.job.schedule_timezone");
    assert_eq!(error.message, "unknown time zone `Mars/Olympus`");

    let env: HashMap<String, String> = [("TZ".to_owned(), "Nowhere/Land".to_owned())].into();
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n";
    let report = load_str(yaml, FILE, &env)
        .err()
        .map(|report| report.to_string());
    assert!(report.is_some_and(|text| text.contains("unknown time zone `Nowhere/Land`")));
}

#[test]
fn scheduling_keys_need_schedule() {
    let yaml = "processes:\n  web:\n    command: [a]\n    schedule_timeout: 5m\n    \
                heartbeat: {url: 'https://hc-ping.com/x'}\n";
    let messages: Vec<String> = errors(yaml).into_iter().map(|e| e.message).collect();

    assert_eq!(
        messages,
        [
            "`schedule_timeout` only applies to a scheduled task",
            "`heartbeat` only applies to a scheduled task",
        ]
    );
}

#[test]
fn max_concurrent_must_be_positive() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    \
                schedule_max_concurrent: 0\n";
    assert_eq!(
        only_error(yaml).message,
        "schedule_max_concurrent must be at least 1"
    );
}

#[test]
fn heartbeat_needs_http_url() {
    let base = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    heartbeat: ";
    let without_url = loaded(&format!("{base}{{timeout: 5}}\n"));
    let messages: Vec<&str> = without_url
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(messages, ["heartbeat has no `url`, so no pings are sent"]);
    assert_eq!(
        only_error(&format!("{base}{{url: 'ftp://x'}}\n")).message,
        "heartbeat url is not an http or https URL"
    );
    let disabled = task(&format!("{base}{{enabled: false, url: 'https://x'}}\n"));
    assert_eq!(disabled.heartbeat, None);
    let empty = task(&format!("{base}{{url: '${{EMPTY}}'}}\n"));
    assert_eq!(empty.heartbeat, None);
}

#[test]
fn tz_accepts_zoneinfo_paths_and_any_case() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    \
                schedule_timezone: europe/berlin\n";
    assert_eq!(task(yaml).timezone, chrono_tz::Europe::Berlin);
    let path = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    \
                schedule_timezone: /usr/share/zoneinfo/America/New_York\n";
    assert_eq!(task(path).timezone, chrono_tz::America::New_York);
}

#[test]
fn go_heartbeat_keys_are_warnings() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    \
                heartbeat: {url: 'https://x', interval: 60, grace: 10}\n";
    let paths: Vec<String> = loaded(yaml).warnings.into_iter().map(|w| w.path).collect();
    assert_eq!(
        paths,
        [
            "processes.job.heartbeat.interval",
            "processes.job.heartbeat.grace"
        ]
    );
}

#[test]
fn scheduled_task_is_no_dependency_target() {
    let yaml = "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n  \
                web:\n    command: [b]\n    depends_on:\n      job: started\n";
    let error = only_error(yaml);
    assert_eq!(error.path, "processes.web.depends_on");
    assert_eq!(
        error.message,
        "process `job` is a scheduled task, so nothing can wait for it"
    );
}

#[test]
fn scheduled_task_may_depend_on_longrun() {
    let yaml = "processes:\n  db:\n    command: [db]\n  \
                job:\n    command: [a]\n    schedule: '@daily'\n    depends_on: [db]\n";
    let config = config(yaml);
    let job = config
        .processes
        .iter()
        .find(|process| process.name == "job");
    assert_eq!(job.map(|job| job.depends_on.len()), Some(1));
}

#[test]
fn conflicting_process_settings_are_reported() {
    let yaml = "processes:\n  job:\n    type: oneshot\n    command: [a]\n    \
                schedule: '@daily'\n    health_check: {type: tcp, address: 'x:1'}\n  \
                many:\n    command: [a]\n    schedule: '@daily'\n    scale: 2\n";
    let messages: Vec<String> = errors(yaml).into_iter().map(|e| e.message).collect();
    assert_eq!(
        messages,
        [
            "a scheduled task can't be a oneshot",
            "a scheduled task has no health check",
            "a scheduled task starts one run per firing",
        ]
    );

    let yaml =
        "processes:\n  job:\n    command: [a]\n    schedule: '@daily'\n    restart: always\n";
    let warnings = loaded(yaml).warnings;
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].message,
        "`restart` has no effect on a scheduled task"
    );
}
