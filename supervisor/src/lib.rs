//! phpeek: the supervision library behind `phpeek-pm`.
//!
//! `phpeek-pm` runs as PID 1 in PHP containers and keeps php-fpm, nginx,
//! queue workers and the rest alive. This crate contains all of its logic; the
//! binary only parses arguments, loads the config and calls
//! [`supervisor::run`].
//!
//! # How it works
//!
//! - [`config`] reads the YAML file, substitutes `${VAR}` references and
//!   checks everything before anything starts.
//! - The reaper is the only place that waits on children: on every SIGCHLD
//!   it drains `waitpid` and routes each exit status by pid to its owner.
//! - One task owns each process and all its instances. It waits for its
//!   dependencies, spawns each instance in a new session (so its pid is its
//!   process group id), restarts with exponential backoff, and stops the
//!   whole group: stop signal, timeout, then SIGKILL.
//! - A process with a `schedule` is a scheduled task instead: [`schedule`]
//!   starts one run at each firing, skips firings while earlier runs are
//!   still going, and can report runs to a heartbeat monitor.
//! - [`output`] turns every line a child writes into one JSON or text record
//!   on stdout, written by a single writer so records never interleave.

pub mod api;
pub mod config;
pub mod ctl;
mod exec;
mod group;
mod health;
mod hooks;
pub mod http;
pub mod logring;
pub mod metrics;
pub mod output;
mod own_thread;
mod process;
mod procfs;
pub mod readiness;
mod reaper;
mod resolve;
mod restart;
pub mod schedule;
mod signals;
mod spawn;
pub mod supervisor;

/// Exit codes of `phpeek-pm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Clean shutdown after a signal, or every process finished with exit 0.
    Success = 0,
    /// The start failed: a pre-start hook failed or a dependency was never
    /// met.
    StartFailed = 1,
    /// The configuration is invalid; nothing was started.
    InvalidConfig = 2,
    /// A process ran out of restart attempts, or a process finished with a
    /// non-zero exit code and nothing else was left running.
    Fatal = 3,
}
