//! Restart decisions: policy, exponential backoff and the fatal limit.
//!
//! Pure logic with no clock of its own, so it can be tested with made-up
//! uptimes. One [`Backoff`] belongs to each instance slot.

use std::time::Duration;

use crate::config::{Global, RestartPolicy};
use crate::reaper::ExitStatus;

/// What to do after an instance exited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start it again after `delay`; this is restart number `attempt` since
    /// the last reset.
    Restart {
        /// Wait before the new start.
        delay: Duration,
        /// 1 for the first restart after a reset.
        attempt: u32,
    },
    /// The policy says to leave it stopped.
    Stay,
    /// Out of attempts: the instance is fatal.
    Fatal {
        /// Restarts already made since the last reset.
        attempts: u32,
    },
}

/// Restart state of one instance slot.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
    max_attempts: u32,
    attempts: u32,
    next_delay: Duration,
}

impl Backoff {
    /// Creates the state from the global restart settings.
    pub(crate) fn new(global: &Global) -> Backoff {
        Backoff {
            initial: global.restart_backoff_initial,
            max: global.restart_backoff_max,
            reset_after: global.restart_reset_after,
            max_attempts: global.max_restart_attempts,
            attempts: 0,
            next_delay: global.restart_backoff_initial,
        }
    }

    /// Decides what follows an exit with `status` after `uptime` of running.
    ///
    /// An instance that stayed up for `restart_reset_after` starts over with
    /// the initial delay and a fresh attempt count. A clean exit (code 0)
    /// under `restart: always` restarts after the initial delay without
    /// counting as an attempt, so a worker that exits 0 by design, like a
    /// Laravel queue worker with `--max-jobs`, never becomes fatal.
    pub(crate) fn on_exit(
        &mut self,
        policy: RestartPolicy,
        status: ExitStatus,
        uptime: Duration,
    ) -> Decision {
        self.reset_if_stable(uptime);
        let failed = !status.success();
        let wanted = match policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Never => false,
        };
        if !wanted {
            return Decision::Stay;
        }
        if !failed {
            return Decision::Restart {
                delay: self.initial,
                attempt: self.attempts,
            };
        }
        self.count_failure()
    }

    /// Decides what follows a failed health check after `uptime` of running.
    /// It counts like a crash, so it gets the backoff and the attempt limit,
    /// and `restart: never` leaves the instance running but unhealthy.
    pub(crate) fn on_unhealthy(&mut self, policy: RestartPolicy, uptime: Duration) -> Decision {
        self.reset_if_stable(uptime);
        if policy == RestartPolicy::Never {
            return Decision::Stay;
        }
        self.count_failure()
    }

    fn reset_if_stable(&mut self, uptime: Duration) {
        if uptime >= self.reset_after {
            self.reset();
        }
    }

    fn count_failure(&mut self) -> Decision {
        if self.max_attempts > 0 && self.attempts >= self.max_attempts {
            return Decision::Fatal {
                attempts: self.attempts,
            };
        }
        self.attempts += 1;
        let delay = self.next_delay;
        self.next_delay = self.next_delay.saturating_mul(2).min(self.max);
        Decision::Restart {
            delay,
            attempt: self.attempts,
        }
    }

    /// Forgets past crashes, as after a manual start or restart.
    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
        self.next_delay = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FatalAction, LogFormat, LogLevel, LogOverflow, Multiline, Redaction};
    use nix::sys::signal::Signal;

    fn global(max_attempts: u32) -> Global {
        Global {
            shutdown_timeout: Duration::from_secs(30),
            log_level: LogLevel::Info,
            log_format: LogFormat::Json,
            log_max_line_bytes: 65536,
            restart_policy: RestartPolicy::Always,
            max_restart_attempts: max_attempts,
            restart_backoff_initial: Duration::from_millis(100),
            restart_backoff_max: Duration::from_millis(400),
            restart_reset_after: Duration::from_secs(60),
            dependency_timeout: Duration::from_secs(300),
            on_fatal: FatalAction::Shutdown,
            log_overflow: LogOverflow::Block,
            log_multiline: Multiline::default(),
            log_redaction: Redaction::default(),
            metrics: Default::default(),
            api: Default::default(),
            max_process_scale: 100,
        }
    }

    const CRASH: ExitStatus = ExitStatus::Exited(1);
    const SHORT: Duration = Duration::from_millis(10);

    fn delay_of(decision: Decision) -> Duration {
        match decision {
            Decision::Restart { delay, .. } => delay,
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(&global(0));
        let delays: Vec<u64> = (0..5)
            .map(|_| {
                delay_of(backoff.on_exit(RestartPolicy::Always, CRASH, SHORT)).as_millis() as u64
            })
            .collect();
        assert_eq!(delays, [100, 200, 400, 400, 400]);
    }

    #[test]
    fn fatal_after_max_attempts() {
        let mut backoff = Backoff::new(&global(3));
        for attempt in 1..=3 {
            let decision = backoff.on_exit(RestartPolicy::Always, CRASH, SHORT);
            assert!(matches!(decision, Decision::Restart { attempt: a, .. } if a == attempt));
        }
        assert_eq!(
            backoff.on_exit(RestartPolicy::Always, CRASH, SHORT),
            Decision::Fatal { attempts: 3 }
        );
    }

    #[test]
    fn long_uptime_resets_attempts_and_delay() {
        let mut backoff = Backoff::new(&global(2));
        backoff.on_exit(RestartPolicy::Always, CRASH, SHORT);
        backoff.on_exit(RestartPolicy::Always, CRASH, SHORT);
        let decision = backoff.on_exit(RestartPolicy::Always, CRASH, Duration::from_secs(61));
        assert_eq!(
            decision,
            Decision::Restart {
                delay: Duration::from_millis(100),
                attempt: 1
            }
        );
    }

    #[test]
    fn on_failure_leaves_clean_exits_alone() {
        let mut backoff = Backoff::new(&global(3));
        let clean = backoff.on_exit(RestartPolicy::OnFailure, ExitStatus::Exited(0), SHORT);
        assert_eq!(clean, Decision::Stay);
        let killed = ExitStatus::Signaled(Signal::SIGKILL);
        let crashed = backoff.on_exit(RestartPolicy::OnFailure, killed, SHORT);
        assert!(matches!(crashed, Decision::Restart { .. }));
    }

    #[test]
    fn clean_exits_never_go_fatal() {
        let mut backoff = Backoff::new(&global(2));
        for _ in 0..10 {
            let decision = backoff.on_exit(RestartPolicy::Always, ExitStatus::Exited(0), SHORT);
            assert_eq!(
                decision,
                Decision::Restart {
                    delay: Duration::from_millis(100),
                    attempt: 0
                }
            );
        }
    }

    #[test]
    fn unhealthy_counts_like_a_crash() {
        let mut backoff = Backoff::new(&global(1));
        let first = backoff.on_unhealthy(RestartPolicy::Always, SHORT);
        assert!(matches!(first, Decision::Restart { attempt: 1, .. }));
        let second = backoff.on_unhealthy(RestartPolicy::Always, SHORT);
        assert_eq!(second, Decision::Fatal { attempts: 1 });
    }

    #[test]
    fn unhealthy_with_never_policy_stays() {
        let mut backoff = Backoff::new(&global(3));
        assert_eq!(
            backoff.on_unhealthy(RestartPolicy::Never, SHORT),
            Decision::Stay
        );
    }

    #[test]
    fn never_policy_stays_down() {
        let mut backoff = Backoff::new(&global(3));
        assert_eq!(
            backoff.on_exit(RestartPolicy::Never, CRASH, SHORT),
            Decision::Stay
        );
    }
}
