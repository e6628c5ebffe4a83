//! Process groups: signalling them and waiting until they are empty.
//!
//! Each child leads its own group, so a signal to the group also reaches the
//! workers of php-fpm or nginx and any script the child forked. A process
//! counts as stopped only once nothing is left in its group.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often an otherwise idle wait looks at the group again. Most changes
/// are seen at once through the reaper; this catches members that were
/// reaped by another group member instead of by us.
const RECHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Sends `signal` to the process group `pgid`.
///
/// Returns false when the group no longer exists (ESRCH), which callers treat
/// as already stopped. Other errors are logged and also return false.
pub(crate) fn signal_group(pgid: Pid, signal: Signal) -> bool {
    match killpg(pgid, signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(errno) => {
            tracing::warn!(pgid = pgid.as_raw(), signal = signal.as_str(), error = %errno,
                "could not signal the process group");
            false
        }
    }
}

/// Returns true while at least one process, zombies included, is in the group.
pub(crate) fn group_exists(pgid: Pid) -> bool {
    // Signal 0 checks for existence without delivering anything. EPERM means
    // a member exists but belongs to another user.
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}

/// Waits until the group `pgid` is empty or `deadline` passes.
///
/// `reaped` is the reaper's counter; every change triggers a new look.
/// Returns true when the group emptied in time.
pub(crate) async fn wait_group_empty(
    pgid: Pid,
    reaped: &mut watch::Receiver<u64>,
    deadline: Instant,
) -> bool {
    loop {
        if !group_exists(pgid) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let pause = RECHECK_INTERVAL.min(deadline - now);
        // A reap or the pause passing are both reasons to look again.
        if let Ok(Err(_closed)) = tokio::time::timeout(pause, reaped.changed()).await {
            tokio::time::sleep(pause).await;
        }
    }
}
