//! The Prometheus collector that builds every family at scrape time.
//!
//! Nothing is stored between scrapes except the CPU counters: every value
//! is read from the controller's status, `/proc` and the statistics sources
//! when Prometheus asks, so a label set disappears as soon as its instance
//! does, and the current scale is the number of instances running at that
//! moment.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use prometheus::core::{Collector as PrometheusCollector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, GaugeVec, Opts};

use super::families::{self, Family, Kind};
use super::sources::unix_seconds;
use super::usage::CpuCounters;
use super::{ControllerCell, MetricSources};
use crate::procfs::ProcessTable;
use crate::supervisor::{InstanceState, Phase, ProcessView};

/// Builds the families from the controller and the sources.
pub(crate) struct Collector {
    controller: ControllerCell,
    sources: MetricSources,
    cpu: Mutex<CpuCounters>,
    descs: Vec<Desc>,
}

impl Collector {
    /// Creates a collector over `controller`, which may still be empty while
    /// pre-start hooks run.
    pub(crate) fn new(controller: ControllerCell, sources: MetricSources) -> Collector {
        let descs = families::ALL
            .iter()
            .filter_map(|family| {
                let labels = family
                    .labels
                    .iter()
                    .map(|label| label.to_string())
                    .collect();
                let desc = Desc::new(
                    family.name.to_owned(),
                    family.help.to_owned(),
                    labels,
                    Default::default(),
                );
                desc.ok()
            })
            .collect();
        Collector {
            controller,
            sources,
            cpu: Mutex::default(),
            descs,
        }
    }

    fn add_processes(&self, processes: &[ProcessView], out: &mut Vec<MetricFamily>) {
        let up = Sink::new(&families::PROCESS_UP);
        let restarts = Sink::new(&families::RESTARTS);
        let cpu_seconds = Sink::new(&families::CPU_SECONDS);
        let memory = Sink::new(&families::MEMORY_BYTES);
        let health = Sink::new(&families::HEALTH_STATUS);
        let desired = Sink::new(&families::DESIRED_SCALE);
        let current = Sink::new(&families::CURRENT_SCALE);
        let fatal = Sink::new(&families::FATAL);

        let any_pid = processes
            .iter()
            .flat_map(|process| &process.status.instances)
            .any(|instance| instance.pid.is_some());
        let table = if any_pid {
            ProcessTable::scan()
        } else {
            ProcessTable::default()
        };
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
            sink.collect_into(out);
        }
    }

    fn add_hooks(&self, out: &mut Vec<MetricFamily>) {
        let Some(controller) = self.controller.get() else {
            return;
        };
        let executions = Sink::new(&families::HOOK_EXECUTIONS);
        for run in controller.hook_runs() {
            let status = if run.success { "success" } else { "failure" };
            executions.set(&[&run.hook, run.stage, status], run.count as f64);
        }
        executions.collect_into(out);
    }

    fn add_tasks(&self, out: &mut Vec<MetricFamily>) {
        let Some(source) = &self.sources.tasks else {
            return;
        };
        let last_run = Sink::new(&families::TASK_LAST_RUN);
        let next_run = Sink::new(&families::TASK_NEXT_RUN);
        let last_exit = Sink::new(&families::TASK_LAST_EXIT);
        let duration = Sink::new(&families::TASK_DURATION);
        let runs = Sink::new(&families::TASK_RUNS);
        let skips = Sink::new(&families::TASK_SKIPS);
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
            sink.collect_into(out);
        }
    }

    fn add_heartbeats(&self, out: &mut Vec<MetricFamily>) {
        let Some(source) = &self.sources.heartbeats else {
            return;
        };
        let pings = Sink::new(&families::HEARTBEAT_PINGS);
        let last_success = Sink::new(&families::HEARTBEAT_LAST_SUCCESS);
        for heartbeat in source.heartbeat_stats() {
            let name = heartbeat.process.as_str();
            pings.set(&[name, "success"], heartbeat.successes as f64);
            pings.set(&[name, "failure"], heartbeat.failures as f64);
            if let Some(time) = heartbeat.last_success {
                last_success.set(&[name], unix_seconds(time));
            }
        }
        pings.collect_into(out);
        last_success.collect_into(out);
    }
}

impl PrometheusCollector for Collector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut out = Vec::with_capacity(families::ALL.len());
        let build = Sink::new(&families::BUILD_INFO);
        build.set(&[env!("CARGO_PKG_VERSION")], 1.0);
        build.collect_into(&mut out);

        if let Some(controller) = self.controller.get() {
            self.add_processes(&controller.processes(), &mut out);
        }
        self.add_hooks(&mut out);
        self.add_tasks(&mut out);
        self.add_heartbeats(&mut out);
        out
    }
}

/// A family being filled for one scrape.
enum Sink {
    Gauge(GaugeVec),
    Counter(CounterVec),
    /// The family could not be created, which only an invalid name in
    /// [`families`] could cause; its samples are dropped.
    Invalid,
}

impl Sink {
    fn new(family: &Family) -> Sink {
        let opts = Opts::new(family.name, family.help);
        let made = match family.kind {
            Kind::Gauge => GaugeVec::new(opts, family.labels).map(Sink::Gauge),
            Kind::Counter => CounterVec::new(opts, family.labels).map(Sink::Counter),
        };
        made.unwrap_or_else(|error| {
            tracing::debug!(metric = family.name, error = %error, "invalid metric family");
            Sink::Invalid
        })
    }

    /// Sets the sample with label values `labels`, given in the family's
    /// label order. Negative or non-finite counter values are dropped.
    fn set(&self, labels: &[&str], value: f64) {
        match self {
            Sink::Gauge(vec) => {
                if let Ok(gauge) = vec.get_metric_with_label_values(labels) {
                    gauge.set(value);
                }
            }
            Sink::Counter(vec) => {
                if let Ok(counter) = vec.get_metric_with_label_values(labels) {
                    if value.is_finite() && value > 0.0 {
                        counter.inc_by(value);
                    }
                }
            }
            Sink::Invalid => {}
        }
    }

    fn collect_into(self, out: &mut Vec<MetricFamily>) {
        match self {
            Sink::Gauge(vec) => out.extend(vec.collect()),
            Sink::Counter(vec) => out.extend(vec.collect()),
            Sink::Invalid => {}
        }
    }
}
