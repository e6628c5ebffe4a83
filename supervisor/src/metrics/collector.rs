//! The Prometheus collector that builds every family at scrape time.
//!
//! Nothing is stored between scrapes except the CPU counters. Every value
//! is read from the controller's status, `/proc` and the statistics sources
//! at scrape time, so a label set disappears as soon as its instance
//! does, and the current scale is the number of instances running at that
//! moment.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use super::families;
use super::sources::unix_seconds;
use super::text::Sink;
use super::usage::CpuCounters;
use super::{ControllerCell, MetricSources};
use crate::procfs::ProcessTable;
use crate::supervisor::{InstanceState, Phase, ProcessView};

/// Builds the families from the controller and the sources.
pub(crate) struct Collector {
    controller: ControllerCell,
    sources: MetricSources,
    cpu: Mutex<CpuCounters>,
}

impl Collector {
    /// Creates a collector over `controller`, which may still be empty while
    /// pre-start hooks run.
    pub(crate) fn new(controller: ControllerCell, sources: MetricSources) -> Collector {
        Collector {
            controller,
            sources,
            cpu: Mutex::default(),
        }
    }

    /// Reads every value and returns the text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let mut build = Sink::new(&families::BUILD_INFO);
        build.set(&[env!("CARGO_PKG_VERSION")], 1.0);
        build.append_to(&mut out);

        if let Some(controller) = self.controller.get() {
            // /proc is read before the status, so an instance that exits
            // meanwhile shows as down rather than up without memory.
            let table = ProcessTable::scan();
            self.add_processes(&controller.processes(), &table, &mut out);
        }
        self.add_hooks(&mut out);
        self.add_tasks(&mut out);
        self.add_heartbeats(&mut out);
        out
    }

    fn add_processes(&self, processes: &[ProcessView], table: &ProcessTable, out: &mut String) {
        let mut up = Sink::new(&families::PROCESS_UP);
        let mut restarts = Sink::new(&families::RESTARTS);
        let mut cpu_seconds = Sink::new(&families::CPU_SECONDS);
        let mut memory = Sink::new(&families::MEMORY_BYTES);
        let mut health = Sink::new(&families::HEALTH_STATUS);
        let mut desired = Sink::new(&families::DESIRED_SCALE);
        let mut current = Sink::new(&families::CURRENT_SCALE);
        let mut fatal = Sink::new(&families::FATAL);

        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let mut instance_ids = HashSet::new();

        for process in processes {
            let name = process.name.as_str();
            let status = &process.status;
            let mut running = 0u32;
            for instance in &status.instances {
                let id = &*instance.id;
                instance_ids.insert(id);
                let is_running = instance.state == InstanceState::Running;
                running += u32::from(is_running);
                up.set(&[name, id], f64::from(u8::from(is_running)));

                let usage = instance.pid.and_then(|pid| table.tree_usage(pid));
                let seconds = cpu.observe(
                    &instance.id,
                    instance.pid,
                    usage.map(|usage| usage.cpu_seconds),
                );
                cpu_seconds.set(&[name, id], seconds);
                if let Some(usage) = usage {
                    memory.set(&[name, id], usage.rss_bytes as f64);
                }
            }

            let counts = status.restarts;
            for (reason, count) in [
                ("crash", counts.crash),
                ("exit", counts.exit),
                ("health", counts.health),
                ("manual", counts.manual),
            ] {
                restarts.set(&[name, reason], count as f64);
            }
            if process.health_check {
                health.set(&[name], f64::from(u8::from(status.healthy)));
            }
            desired.set(&[name], f64::from(status.desired_scale));
            current.set(&[name], f64::from(running));
            fatal.set(&[name], f64::from(u8::from(status.phase == Phase::Fatal)));
        }
        cpu.retain(|id| instance_ids.contains(id));

        for sink in [
            up,
            restarts,
            cpu_seconds,
            memory,
            health,
            desired,
            current,
            fatal,
        ] {
            sink.append_to(out);
        }
    }

    fn add_hooks(&self, out: &mut String) {
        let Some(controller) = self.controller.get() else {
            return;
        };
        let mut executions = Sink::new(&families::HOOK_EXECUTIONS);
        for run in controller.hook_runs() {
            let status = if run.success { "success" } else { "failure" };
            executions.set(&[&run.hook, run.stage, status], run.count as f64);
        }
        executions.append_to(out);
    }

    fn add_tasks(&self, out: &mut String) {
        let Some(source) = &self.sources.tasks else {
            return;
        };
        let mut last_run = Sink::new(&families::TASK_LAST_RUN);
        let mut next_run = Sink::new(&families::TASK_NEXT_RUN);
        let mut last_exit = Sink::new(&families::TASK_LAST_EXIT);
        let mut duration = Sink::new(&families::TASK_DURATION);
        let mut runs = Sink::new(&families::TASK_RUNS);
        let mut skips = Sink::new(&families::TASK_SKIPS);
        for task in source.task_stats() {
            let name = task.process.as_str();
            if let Some(time) = task.last_run {
                last_run.set(&[name], unix_seconds(time));
            }
            if let Some(time) = task.next_run {
                next_run.set(&[name], unix_seconds(time));
            }
            if let Some(code) = task.last_exit_code {
                last_exit.set(&[name], f64::from(code));
            }
            if let Some(took) = task.last_duration {
                duration.set(&[name], took.as_secs_f64());
            }
            runs.set(&[name, "success"], task.successes as f64);
            runs.set(&[name, "failure"], task.failures as f64);
            skips.set(&[name], task.skips as f64);
        }
        for sink in [last_run, next_run, last_exit, duration, runs, skips] {
            sink.append_to(out);
        }
    }

    fn add_heartbeats(&self, out: &mut String) {
        let Some(source) = &self.sources.heartbeats else {
            return;
        };
        let mut pings = Sink::new(&families::HEARTBEAT_PINGS);
        let mut last_success = Sink::new(&families::HEARTBEAT_LAST_SUCCESS);
        for heartbeat in source.heartbeat_stats() {
            let name = heartbeat.process.as_str();
            pings.set(&[name, "success"], heartbeat.successes as f64);
            pings.set(&[name, "failure"], heartbeat.failures as f64);
            if let Some(time) = heartbeat.last_success {
                last_success.set(&[name], unix_seconds(time));
            }
        }
        pings.append_to(out);
        last_success.append_to(out);
    }
}
