//! Every metric phpeek-pm exports: name, type, labels and help text.

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up, except when phpeek-pm restarts.
    Counter,
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// Metric name, as exposed.
    pub name: &'static str,
    /// Prometheus type.
    pub kind: Kind,
    /// Label names, in the order values are given.
    pub labels: &'static [&'static str],
    /// Help text.
    pub help: &'static str,
    /// Source of the values.
    pub origin: Origin,
}

/// Part of phpeek-pm that must exist for a family to have samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Always present, or present once any process or hook exists.
    Supervisor,
    /// Present only with the scheduler's statistics.
    Scheduler,
    /// Present only with the heartbeat sender's statistics.
    Heartbeat,
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Gauge,
        labels,
        help,
        origin: Origin::Supervisor,
    }
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind: Kind::Counter,
        labels,
        help,
        origin: Origin::Supervisor,
    }
}

const fn from(origin: Origin, family: Family) -> Family {
    Family { origin, ..family }
}

/// `phpeek_pm_build_info{version}`: always 1.
pub const BUILD_INFO: Family = gauge(
    "phpeek_pm_build_info",
    &["version"],
    "Always 1; the version label is phpeek-pm's version.",
);

/// `phpeek_pm_process_up{process,instance}`.
pub const PROCESS_UP: Family = gauge(
    "phpeek_pm_process_up",
    &["process", "instance"],
    "1 while the instance's leader process runs, else 0.",
);

/// `phpeek_pm_process_restarts_total{process,reason}`.
pub const RESTARTS: Family = counter(
    "phpeek_pm_process_restarts_total",
    &["process", "reason"],
    "Instance restarts by reason: crash, exit, health or manual.",
);

/// `phpeek_pm_process_cpu_seconds_total{process,instance}`.
pub const CPU_SECONDS: Family = counter(
    "phpeek_pm_process_cpu_seconds_total",
    &["process", "instance"],
    "User and system CPU time of the instance's process tree, reaped children included.",
);

/// `phpeek_pm_process_memory_bytes{process,instance}`.
pub const MEMORY_BYTES: Family = gauge(
    "phpeek_pm_process_memory_bytes",
    &["process", "instance"],
    "Resident set size summed over the instance's process tree.",
);

/// `phpeek_pm_health_check_status{process}`.
pub const HEALTH_STATUS: Family = gauge(
    "phpeek_pm_health_check_status",
    &["process"],
    "1 when the process's health check passes, 0 when it fails; only processes with a check.",
);

/// `phpeek_pm_process_desired_scale{process}`.
pub const DESIRED_SCALE: Family = gauge(
    "phpeek_pm_process_desired_scale",
    &["process"],
    "Instance count requested by the config or the latest scale.",
);

/// `phpeek_pm_process_current_scale{process}`.
pub const CURRENT_SCALE: Family = gauge(
    "phpeek_pm_process_current_scale",
    &["process"],
    "Instances whose leader runs at the time of the scrape.",
);

/// `phpeek_pm_process_fatal{process}`.
pub const FATAL: Family = gauge(
    "phpeek_pm_process_fatal",
    &["process"],
    "1 when the process ran out of restart attempts, else 0.",
);

/// `phpeek_pm_hook_executions_total{hook,stage,status}`.
pub const HOOK_EXECUTIONS: Family = counter(
    "phpeek_pm_hook_executions_total",
    &["hook", "stage", "status"],
    "Finished hook runs by stage and status (success or failure, after retries).",
);

/// `phpeek_pm_scheduled_task_last_run_timestamp{process}`.
pub const TASK_LAST_RUN: Family = from(
    Origin::Scheduler,
    gauge(
        "phpeek_pm_scheduled_task_last_run_timestamp",
        &["process"],
        "Start of the task's latest run, in seconds since the Unix epoch.",
    ),
);

/// `phpeek_pm_scheduled_task_next_run_timestamp{process}`.
pub const TASK_NEXT_RUN: Family = from(
    Origin::Scheduler,
    gauge(
        "phpeek_pm_scheduled_task_next_run_timestamp",
        &["process"],
        "Next planned start of the task, in seconds since the Unix epoch.",
    ),
);

/// `phpeek_pm_scheduled_task_last_exit_code{process}`.
pub const TASK_LAST_EXIT: Family = from(
    Origin::Scheduler,
    gauge(
        "phpeek_pm_scheduled_task_last_exit_code",
        &["process"],
        "Exit code of the task's latest finished run; 128 + N after signal N.",
    ),
);

/// `phpeek_pm_scheduled_task_duration_seconds{process}`.
pub const TASK_DURATION: Family = from(
    Origin::Scheduler,
    gauge(
        "phpeek_pm_scheduled_task_duration_seconds",
        &["process"],
        "Duration of the task's latest finished run.",
    ),
);

/// `phpeek_pm_scheduled_task_total{process,status}`.
pub const TASK_RUNS: Family = from(
    Origin::Scheduler,
    counter(
        "phpeek_pm_scheduled_task_total",
        &["process", "status"],
        "Finished runs of the task by status: success or failure.",
    ),
);

/// `phpeek_pm_scheduled_task_skipped_total{process}`.
pub const TASK_SKIPS: Family = from(
    Origin::Scheduler,
    counter(
        "phpeek_pm_scheduled_task_skipped_total",
        &["process"],
        "Planned runs of the task that did not start.",
    ),
);

/// `phpeek_pm_heartbeat_pings_total{process,status}`.
pub const HEARTBEAT_PINGS: Family = from(
    Origin::Heartbeat,
    counter(
        "phpeek_pm_heartbeat_pings_total",
        &["process", "status"],
        "Heartbeat pings sent for the process by status: success or failure.",
    ),
);

/// `phpeek_pm_heartbeat_last_success_timestamp{process}`.
pub const HEARTBEAT_LAST_SUCCESS: Family = from(
    Origin::Heartbeat,
    gauge(
        "phpeek_pm_heartbeat_last_success_timestamp",
        &["process"],
        "Time of the latest accepted heartbeat ping, in seconds since the Unix epoch.",
    ),
);

/// Every family, in the order of this file.
pub const ALL: &[Family] = &[
    BUILD_INFO,
    PROCESS_UP,
    RESTARTS,
    CPU_SECONDS,
    MEMORY_BYTES,
    HEALTH_STATUS,
    DESIRED_SCALE,
    CURRENT_SCALE,
    FATAL,
    HOOK_EXECUTIONS,
    TASK_LAST_RUN,
    TASK_NEXT_RUN,
    TASK_LAST_EXIT,
    TASK_DURATION,
    TASK_RUNS,
    TASK_SKIPS,
    HEARTBEAT_PINGS,
    HEARTBEAT_LAST_SUCCESS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<_> = ALL.iter().map(|family| family.name).collect();
        names.sort_unstable();
        names.dedup();

        assert_eq!(names.len(), ALL.len());
        assert!(names.iter().all(|name| name.starts_with("phpeek_pm_")));
    }

    #[test]
    fn counters_and_only_counters_end_in_total() {
        for family in ALL {
            let total = family.name.ends_with("_total");
            assert_eq!(total, family.kind == Kind::Counter, "{}", family.name);
        }
    }

    #[test]
    fn every_family_carries_process_or_is_global() {
        for family in ALL {
            let global = matches!(family.name, "phpeek_pm_build_info")
                || family.name == "phpeek_pm_hook_executions_total";
            assert_eq!(
                family.labels.contains(&"process"),
                !global,
                "{}",
                family.name
            );
        }
    }
}
