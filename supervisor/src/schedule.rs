//! The built-in scheduler: cron without a cron daemon, with heartbeats.

mod cron;
mod next;

pub use cron::{parse, CronError, CronFields, Schedule};
