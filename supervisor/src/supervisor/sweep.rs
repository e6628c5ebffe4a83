//! The final sweep: ending whatever outlived the ordered stop.
//!
//! As PID 1, phpeek-pm signals every process in the namespace with
//! `kill(-1, …)`: SIGTERM, a short grace, then SIGKILL. That catches
//! grandchildren that left their process group with `setsid`. When it is
//! not PID 1, `kill(-1)` would reach every process of the user, so it signals
//! only its own remaining children, which as a subreaper include orphaned
//! descendants.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

use crate::reaper::Reaper;

/// Wait after SIGTERM before SIGKILL in the sweep.
const SWEEP_GRACE: Duration = Duration::from_secs(2);

/// Wait after SIGKILL for the last processes to be reaped.
const SWEEP_KILL_WAIT: Duration = Duration::from_secs(1);

const RECHECK: Duration = Duration::from_millis(10);

/// Terminates every process left after the ordered stop.
pub(crate) async fn final_sweep(reaper: &Reaper, deadline: Instant) {
    let pid_one = std::process::id() == 1;
    let remaining = || {
        if pid_one {
            anyone_left()
        } else {
            !own_children().is_empty()
        }
    };
    if !remaining() {
        return;
    }
    tracing::info!(
        pid_one,
        "sending SIGTERM to processes left after the ordered stop"
    );
    signal_rest(pid_one, Signal::SIGTERM);
    let grace_end = (Instant::now() + SWEEP_GRACE).min(deadline.max(Instant::now()));
    if wait_until_gone(reaper, &remaining, grace_end).await {
        return;
    }
    tracing::warn!("sending SIGKILL to processes that ignored SIGTERM");
    signal_rest(pid_one, Signal::SIGKILL);
    if !wait_until_gone(reaper, &remaining, Instant::now() + SWEEP_KILL_WAIT).await {
        tracing::error!("some processes survived SIGKILL");
    }
}

fn signal_rest(pid_one: bool, signal: Signal) {
    if pid_one {
        // -1 means every process this one may signal, except itself.
        let _ = kill(Pid::from_raw(-1), signal);
        return;
    }
    for pid in own_children() {
        let _ = kill(pid, signal);
    }
}

/// Returns true while some other process exists in our PID namespace.
fn anyone_left() -> bool {
    !matches!(kill(Pid::from_raw(-1), None), Err(Errno::ESRCH))
}

/// Lists the pids whose parent is this process, from /proc.
fn own_children() -> Vec<Pid> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(me))
        .map(|pid| Pid::from_raw(pid as i32))
        .collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces, so the
    // fields are counted from the last closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" {
        // A zombie is already dead; the reaper will collect it.
        return None;
    }
    fields.next()?.parse().ok()
}

async fn wait_until_gone(reaper: &Reaper, remaining: &impl Fn() -> bool, until: Instant) -> bool {
    let mut reaped = reaper.subscribe();
    loop {
        if !remaining() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        let _ = tokio::time::timeout(RECHECK, reaped.changed()).await;
    }
}
