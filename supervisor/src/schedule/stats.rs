//! Run statistics of scheduled tasks, kept in memory for readers such as a
//! metrics endpoint or the management API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Counters and latest values of one scheduled task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// Runs started, including runs whose program could not be executed.
    pub runs: u64,
    /// Runs that exited with code 0 within `schedule_timeout`.
    pub successes: u64,
    /// Runs that exited non-zero, were killed by a signal, ran over
    /// `schedule_timeout` or could not be started.
    pub failures: u64,
    /// Firings skipped because `schedule_max_concurrent` runs were going.
    pub skips: u64,
    /// Runs going right now.
    pub running: u32,
    /// Exit code of the latest finished run: 128 + N for signal N, 127
    /// when the program could not be executed.
    pub last_exit_code: Option<i32>,
    /// Start of the latest run.
    pub last_start: Option<DateTime<Utc>>,
    /// Duration of the latest finished run.
    pub last_duration: Option<Duration>,
    /// Next firing, or none while the task is not armed (waiting for its
    /// dependencies, or after shutdown began).
    pub next_run: Option<DateTime<Utc>>,
    /// Heartbeat pings that failed after every retry.
    pub heartbeat_failures: u64,
    /// Heartbeat pings the monitoring service accepted.
    pub heartbeat_successes: u64,
    /// Time of the latest accepted heartbeat ping.
    pub last_heartbeat_success: Option<DateTime<Utc>>,
    /// Paused through the management API: firings start no run.
    pub paused: bool,
}

/// Statistics of every scheduled task by process name; cheap to clone.
///
/// Each clone reads and updates the same data. Readers get copies, so
/// holding a snapshot never blocks the scheduler.
#[derive(Debug, Clone, Default)]
pub struct ScheduleStats {
    tasks: Arc<Mutex<BTreeMap<String, TaskStats>>>,
}

impl ScheduleStats {
    /// Creates an empty set of statistics.
    pub fn new() -> ScheduleStats {
        ScheduleStats::default()
    }

    /// Returns a copy of every task's statistics, by process name.
    pub fn snapshot(&self) -> BTreeMap<String, TaskStats> {
        self.lock().clone()
    }

    /// Returns a copy of one task's statistics, when the task exists.
    pub fn task(&self, name: &str) -> Option<TaskStats> {
        self.lock().get(name).cloned()
    }

    /// Changes the statistics of `name`, creating them when missing.
    pub(crate) fn update(&self, name: &str, change: impl FnOnce(&mut TaskStats)) {
        let mut tasks = self.lock();
        match tasks.get_mut(name) {
            Some(stats) => change(stats),
            None => change(tasks.entry(name.to_owned()).or_default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, TaskStats>> {
        // A poisoned lock only means a panic elsewhere; the counters are
        // still usable.
        self.tasks
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_updates() {
        let stats = ScheduleStats::new();
        let writer = stats.clone();
        writer.update("backup", |task| task.runs += 1);
        writer.update("backup", |task| task.skips += 2);

        let task = stats.task("backup").unwrap_or_default();
        assert_eq!(task.runs, 1);
        assert_eq!(task.skips, 2);
        assert_eq!(stats.task("other"), None);
        assert_eq!(stats.snapshot().len(), 1);
    }
}
