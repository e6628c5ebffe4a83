//! One instance slot of a process and the states it moves through.

use std::sync::Arc;
use std::time::SystemTime;

use nix::unistd::Pid;
use tokio::time::Instant;

use crate::config::Global;
use crate::reaper::ExitStatus;
use crate::restart::Backoff;

/// What happens once a stopping instance's process group is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Start it again, not before this time.
    Restart(Instant),
    /// Leave it stopped.
    Stop,
    /// Mark it fatal: it ran out of restart attempts after `0` restarts.
    Fatal(u32),
}

/// The state of one instance slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Not running and not scheduled: before the start or after a stop.
    Idle,
    /// The leader is alive.
    Running {
        /// Leader pid, also the process group id.
        pid: Pid,
        /// When it was spawned.
        since: Instant,
    },
    /// A signal was sent, or the leader died and left members behind; the
    /// slot waits for the group to empty.
    Draining {
        /// Process group id.
        pgid: Pid,
        /// When SIGKILL goes to the group, or when to give up after it.
        kill_at: Instant,
        /// SIGKILL was already sent.
        killed: bool,
        /// The leader has been reaped.
        leader_gone: bool,
        /// Next step once the group is empty.
        then: After,
    },
    /// Waiting for the restart delay to pass.
    Restarting {
        /// When to spawn.
        at: Instant,
    },
    /// Exited for good under its restart policy.
    Done,
    /// Out of restart attempts.
    Fatal,
}

/// An instance slot: its id, state and restart history.
#[derive(Debug)]
pub(crate) struct Instance {
    /// `<process>-<index>`.
    pub(crate) id: Arc<str>,
    /// Current state.
    pub(crate) slot: Slot,
    /// Crash count and next delay.
    pub(crate) backoff: Backoff,
    /// Restarts of this slot since phpeek-pm started, for any reason.
    pub(crate) restarts: u32,
    /// How the previous leader ended.
    pub(crate) last_exit: Option<ExitStatus>,
    /// Wall-clock time of the latest spawn, for status and uptime.
    pub(crate) started_at: Option<SystemTime>,
    /// Set when a scale-down removes this slot once it has stopped.
    pub(crate) retiring: bool,
    /// The slot's program was executed at least once.
    pub(crate) spawned: bool,
}

impl Instance {
    /// Creates slot `index` of `process`, not yet started.
    pub(crate) fn new(process: &str, index: u32, global: &Global) -> Instance {
        Instance {
            id: Arc::from(format!("{process}-{index}")),
            slot: Slot::Idle,
            backoff: Backoff::new(global),
            restarts: 0,
            last_exit: None,
            started_at: None,
            retiring: false,
            spawned: false,
        }
    }

    /// Returns true when nothing about this slot is still in flight.
    pub(crate) fn is_settled(&self) -> bool {
        matches!(self.slot, Slot::Idle | Slot::Done | Slot::Fatal)
    }

    /// Returns the running leader's pid.
    pub(crate) fn running_pid(&self) -> Option<Pid> {
        match self.slot {
            Slot::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }
}
