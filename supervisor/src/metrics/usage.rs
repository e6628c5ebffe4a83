//! Keeping each instance's CPU counter monotonic across worker recycling
//! and restarts.
//!
//! The CPU time of a process tree read from `/proc` can go down: a php-fpm
//! worker that exits takes its time with it until its parent reaps it, and
//! an instance that restarts begins again at zero. A Prometheus counter must
//! not go down, so each instance keeps the largest value seen for its
//! current leader, and when the leader changes, the last value of the old
//! leader becomes a base that the new one adds to.
//!
//! CPU used between the last scrape and the death of a leader is not
//! counted, because the leader's tree is gone before it can be read.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    /// Leader pid that `peak` belongs to.
    leader: Option<i32>,
    /// Seconds of earlier leaders.
    base: f64,
    /// Largest reading of the current leader.
    peak: f64,
}

/// Monotonic CPU seconds per instance id.
#[derive(Debug, Default)]
pub(crate) struct CpuCounters {
    instances: HashMap<Arc<str>, Counter>,
}

impl CpuCounters {
    /// Records a reading for `instance` and returns its counter value.
    ///
    /// `leader` is the instance's running leader pid, if any, and `seconds`
    /// the CPU time of its tree, if it could be read. Without either, the
    /// last value is returned unchanged.
    pub(crate) fn observe(
        &mut self,
        instance: &Arc<str>,
        leader: Option<i32>,
        seconds: Option<f64>,
    ) -> f64 {
        let counter = self.instances.entry(Arc::clone(instance)).or_default();
        if let (Some(leader), Some(seconds)) = (leader, seconds) {
            if counter.leader != Some(leader) {
                counter.base += counter.peak;
                counter.peak = 0.0;
                counter.leader = Some(leader);
            }
            if seconds.is_finite() && seconds > counter.peak {
                counter.peak = seconds;
            }
        }
        counter.base + counter.peak
    }

    /// Forgets instances that `keep` rejects, such as slots removed by a
    /// scale-down.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.instances.retain(|id, _| keep(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Arc<str> {
        Arc::from("web-0")
    }

    #[test]
    fn reading_that_drops_keeps_the_peak() {
        let mut counters = CpuCounters::default();

        assert_eq!(counters.observe(&id(), Some(10), Some(5.0)), 5.0);
        assert_eq!(counters.observe(&id(), Some(10), Some(3.0)), 5.0);
        assert_eq!(counters.observe(&id(), Some(10), Some(6.5)), 6.5);
    }

    #[test]
    fn new_leader_adds_to_the_old_total() {
        let mut counters = CpuCounters::default();
        counters.observe(&id(), Some(10), Some(5.0));

        assert_eq!(counters.observe(&id(), Some(11), Some(0.5)), 5.5);
        assert_eq!(counters.observe(&id(), Some(11), Some(2.0)), 7.0);
    }

    #[test]
    fn stopped_instance_keeps_its_value() {
        let mut counters = CpuCounters::default();
        counters.observe(&id(), Some(10), Some(4.0));

        assert_eq!(counters.observe(&id(), None, None), 4.0);
        assert_eq!(counters.observe(&id(), Some(12), Some(1.0)), 5.0);
    }

    #[test]
    fn retain_forgets_removed_instances() {
        let mut counters = CpuCounters::default();
        counters.observe(&id(), Some(10), Some(4.0));
        counters.retain(|instance| instance != "web-0");

        assert_eq!(counters.observe(&id(), Some(10), Some(1.0)), 1.0);
    }
}
