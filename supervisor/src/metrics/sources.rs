//! Statistics that other parts of phpeek-pm hand to the metrics: scheduled
//! task runs and heartbeat pings.
//!
//! The scheduler and the heartbeat sender keep their own counters; an
//! adapter implements these traits over them, and the collector takes a
//! snapshot at every scrape.

use std::time::{Duration, SystemTime};

/// Counters and latest run of one scheduled task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskStats {
    /// Process name of the task.
    pub process: String,
    /// Start of the latest run.
    pub last_run: Option<SystemTime>,
    /// Next planned start; none while paused or when nothing is planned.
    pub next_run: Option<SystemTime>,
    /// Exit code of the latest finished run, 128 + N for a signal.
    pub last_exit_code: Option<i32>,
    /// Duration of the latest finished run.
    pub last_duration: Option<Duration>,
    /// Runs that exited 0.
    pub successes: u64,
    /// Runs that failed: non-zero exit, signal, timeout or spawn failure.
    pub failures: u64,
    /// Planned runs that did not start, for example because the previous
    /// run was still going.
    pub skips: u64,
}

/// Source of [`TaskStats`], implemented over the scheduler.
pub trait TaskStatsSource: Send + Sync {
    /// Returns the statistics of every scheduled task.
    fn task_stats(&self) -> Vec<TaskStats>;
}

/// Counters of the heartbeat pings of one process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatStats {
    /// Process name whose heartbeat this is.
    pub process: String,
    /// Pings that the monitoring service accepted.
    pub successes: u64,
    /// Pings that failed: an error status, a timeout or no connection.
    pub failures: u64,
    /// Time of the latest accepted ping.
    pub last_success: Option<SystemTime>,
}

/// Source of [`HeartbeatStats`], implemented over the heartbeat sender.
pub trait HeartbeatSource: Send + Sync {
    /// Returns the statistics of every configured heartbeat.
    fn heartbeat_stats(&self) -> Vec<HeartbeatStats>;
}

/// Seconds since the Unix epoch, for `_timestamp` gauges.
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// Reads both kinds of statistics from the scheduler's shared counters.
impl TaskStatsSource for crate::schedule::ScheduleStats {
    fn task_stats(&self) -> Vec<TaskStats> {
        self.snapshot()
            .into_iter()
            .map(|(process, stats)| TaskStats {
                process,
                last_run: stats.last_start.map(SystemTime::from),
                next_run: stats.next_run.map(SystemTime::from),
                last_exit_code: stats.last_exit_code,
                last_duration: stats.last_duration,
                successes: stats.successes,
                failures: stats.failures,
                skips: stats.skips,
            })
            .collect()
    }
}

impl HeartbeatSource for crate::schedule::ScheduleStats {
    fn heartbeat_stats(&self) -> Vec<HeartbeatStats> {
        self.snapshot()
            .into_iter()
            .filter(|(_, stats)| stats.heartbeat_successes + stats.heartbeat_failures > 0)
            .map(|(process, stats)| HeartbeatStats {
                process,
                successes: stats.heartbeat_successes,
                failures: stats.heartbeat_failures,
                last_success: stats.last_heartbeat_success.map(SystemTime::from),
            })
            .collect()
    }
}
