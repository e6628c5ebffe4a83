//! The built-in scheduler: cron without a cron daemon, with heartbeats.
//!
//! A process with `schedule` is a scheduled task. It is not started at boot
//! and never restarted; each firing of its schedule starts one run instead.
//!
//! # How it works
//!
//! - [`parse`] turns the expression into a [`Schedule`], and
//!   [`Schedule::next_after`] computes firing times from explicit instants
//!   in the task's time zone, including the daylight saving rules.
//! - One task per scheduled process waits for its dependencies, then sleeps
//!   until each firing. A firing starts a run unless
//!   `schedule_max_concurrent` runs are still going, in which case it is
//!   skipped, logged and counted.
//! - Each run is spawned through the reaper in its own process group, with
//!   its output relayed to the normal log path. `schedule_timeout` stops the
//!   group like a shutdown: stop signal, then SIGKILL after
//!   `shutdown.timeout`.
//! - Heartbeat pings go out in the background and never delay a run.
//! - [`ScheduleStats`] keeps each task's counters for readers such as a
//!   metrics endpoint.
//! - At shutdown no firing starts a run any more; scheduled tasks are the
//!   first to be stopped, before any other process.

mod clock;
mod cron;
mod heartbeat;
mod next;
mod run;
mod stats;
mod supervise;
mod tail;
mod task;

pub use cron::{parse, CronError, CronFields, Schedule};
pub use stats::{ScheduleStats, TaskStats};

pub(crate) use task::{start, Scheduler};
