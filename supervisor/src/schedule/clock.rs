//! The wall clock the scheduler reads, and waiting for firing times.
//!
//! Firing times are wall-clock instants, but timers run on the monotonic
//! clock. [`Firings::sleep_until`] bridges the two: it sleeps in slices of
//! at most [`RECHECK`] and reads the wall clock again after each, so a clock
//! that is stepped (NTP, a resumed VM) is noticed within a minute.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::cron::Schedule;

/// Maximum sleep before the wall clock is read again.
const RECHECK: Duration = Duration::from_secs(60);

/// A source of the current wall-clock time.
pub(crate) trait Clock: Send + Sync {
    /// Returns the current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's real-time clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(SystemTime::now())
    }
}

/// The firing times of one task, read against a clock.
pub(crate) struct Firings {
    schedule: Schedule,
    timezone: Tz,
    clock: Arc<dyn Clock>,
    /// When the task was armed; `@every` counts from here.
    anchor: DateTime<Utc>,
    /// The latest firing handed out, so it is never handed out twice.
    last: DateTime<Utc>,
}

impl Firings {
    /// Arms `schedule` now: the first firing is the first one after now.
    pub(crate) fn arm(schedule: Schedule, timezone: Tz, clock: Arc<dyn Clock>) -> Firings {
        let now = clock.now();
        Firings {
            schedule,
            timezone,
            clock,
            anchor: now,
            last: now,
        }
    }

    /// Returns the next firing after both the previous firing and now.
    ///
    /// Firings missed while the clock jumped forward are not caught up:
    /// only the next one after the current time counts.
    pub(crate) fn upcoming(&self) -> Option<DateTime<Utc>> {
        let after = self.last.max(self.clock.now());
        self.schedule.next_after(after, self.timezone, self.anchor)
    }

    /// Sleeps until the wall clock reaches `at`, then records `at` as the
    /// latest firing. Cancel-safe: dropping the future records nothing.
    pub(crate) async fn sleep_until(&mut self, at: DateTime<Utc>) {
        loop {
            let left = (at - self.clock.now()).to_std().unwrap_or_default();
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(RECHECK)).await;
        }
        self.last = at;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use chrono_tz::America::New_York;

    use super::*;

    /// A clock that starts at a fixed time and advances with tokio's
    /// (paused) time, so a whole day passes in an instant.
    struct TokioClock {
        start: DateTime<Utc>,
        origin: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> DateTime<Utc> {
            let elapsed = self.origin.elapsed();
            self.start + TimeDelta::from_std(elapsed).unwrap_or_default()
        }
    }

    fn every_minute() -> Schedule {
        crate::schedule::parse("* * * * *", |_| Err(String::new()))
            .unwrap_or_else(|error| panic!("{error}"))
    }

    #[tokio::test(start_paused = true)]
    async fn firings_follow_real_minutes_through_fall_back() {
        // 2026-11-01 04:00 UTC is midnight EDT, two hours before New York
        // falls back.
        let start = DateTime::from_timestamp(1_793_505_600, 0).unwrap_or_default();
        let clock = Arc::new(TokioClock {
            start,
            origin: tokio::time::Instant::now(),
        });
        let mut firings = Firings::arm(every_minute(), New_York, clock.clone());

        let mut fired = Vec::new();
        while let Some(next) = firings.upcoming() {
            if next >= start + TimeDelta::hours(6) {
                break;
            }
            firings.sleep_until(next).await;
            fired.push(clock.now());
        }

        assert_eq!(fired.len(), 6 * 60 - 1);
        for pair in fired.windows(2) {
            assert_eq!(pair[1] - pair[0], TimeDelta::minutes(1), "at {}", pair[0]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn firing_is_handed_out_once() {
        let start = DateTime::from_timestamp(1_793_505_600, 0).unwrap_or_default();
        let clock = Arc::new(TokioClock {
            start,
            origin: tokio::time::Instant::now(),
        });
        let mut firings = Firings::arm(every_minute(), New_York, clock.clone());
        let first = firings.upcoming().unwrap_or_default();

        firings.sleep_until(first).await;
        assert!(clock.now() >= first);
        assert_eq!(firings.upcoming(), Some(first + TimeDelta::minutes(1)));
    }
}
