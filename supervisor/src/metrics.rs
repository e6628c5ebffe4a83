//! Prometheus metrics: every family phpeek-pm exports and the text
//! exposition served at `global.metrics_path`.
//!
//! # How it works
//!
//! At every scrape, one collector reads the [`Controller`]'s status of each
//! process, scans `/proc` for the CPU time and memory of each instance's
//! process tree, and queries the optional [`MetricSources`] for scheduler and
//! heartbeat statistics. Nothing samples in the background.
//!
//! Every family is listed in [`families`], with the label `process` on all
//! per-process families and `instance` on per-instance ones.

mod collector;
pub mod families;
mod sources;
mod text;
mod usage;

use std::sync::{Arc, OnceLock};

pub use sources::{HeartbeatSource, HeartbeatStats, TaskStats, TaskStatsSource};

use crate::supervisor::Controller;

/// The controller, set once every process task exists. Before that, while
/// pre-start hooks run, the metrics hold only the build info.
pub type ControllerCell = Arc<OnceLock<Controller>>;

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Optional statistics from other parts of phpeek-pm.
#[derive(Clone, Default)]
pub struct MetricSources {
    /// Scheduled task runs; without it the `phpeek_pm_scheduled_task_*`
    /// families are absent.
    pub tasks: Option<Arc<dyn TaskStatsSource>>,
    /// Heartbeat pings; without it the `phpeek_pm_heartbeat_*` families are
    /// absent.
    pub heartbeats: Option<Arc<dyn HeartbeatSource>>,
}

/// Renders phpeek-pm's metrics.
pub struct Metrics {
    collector: collector::Collector,
}

impl Metrics {
    /// Creates the metrics over `controller` and `sources`.
    pub fn new(controller: ControllerCell, sources: MetricSources) -> Metrics {
        Metrics {
            collector: collector::Collector::new(controller, sources),
        }
    }

    /// Reads every value and returns the text exposition.
    pub fn render(&self) -> String {
        self.collector.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OneTask;

    impl TaskStatsSource for OneTask {
        fn task_stats(&self) -> Vec<TaskStats> {
            vec![TaskStats {
                process: "backup".to_owned(),
                last_run: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(100)),
                last_exit_code: Some(1),
                successes: 2,
                failures: 1,
                ..TaskStats::default()
            }]
        }
    }

    #[test]
    fn without_controller_only_build_info_is_exported() {
        let metrics = Metrics::new(ControllerCell::default(), MetricSources::default());
        let text = metrics.render();

        let version = env!("CARGO_PKG_VERSION");
        assert!(text.contains(&format!("phpeek_pm_build_info{{version=\"{version}\"}} 1")));
        assert!(!text.contains("phpeek_pm_process_up"));
    }

    #[test]
    fn task_stats_become_scheduled_task_families() {
        let sources = MetricSources {
            tasks: Some(Arc::new(OneTask)),
            heartbeats: None,
        };
        let text = Metrics::new(ControllerCell::default(), sources).render();

        assert!(text
            .contains("phpeek_pm_scheduled_task_total{process=\"backup\",status=\"failure\"} 1"));
        assert!(text
            .contains("phpeek_pm_scheduled_task_total{process=\"backup\",status=\"success\"} 2"));
        assert!(
            text.contains("phpeek_pm_scheduled_task_last_run_timestamp{process=\"backup\"} 100")
        );
        assert!(text.contains("phpeek_pm_scheduled_task_last_exit_code{process=\"backup\"} 1"));
        assert!(!text.contains("phpeek_pm_scheduled_task_next_run_timestamp{"));
    }
}
