//! The metrics endpoint of the real binary: values follow real events, the
//! exposition passes promtool, and /readyz follows php-fpm's health.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::prom::{self, Sample};
use support::{api_json, free_port, wait_for_port, Dir, PhpStack, Pm};

const LONG: Duration = Duration::from_secs(20);

struct Running {
    pm: Pm,
    metrics: u16,
    api: u16,
    _dir: Dir,
}

fn start(processes: &str) -> Running {
    let dir = Dir::new();
    let (metrics, api) = (free_port(), free_port());
    let config = format!(
        "global:\n  shutdown_timeout: 10\n  restart_backoff_initial: 500ms\n  \
         metrics_enabled: true\n  metrics_address: 127.0.0.1\n  metrics_port: {metrics}\n  \
         api_enabled: true\n  api_port: {api}\nprocesses:\n{processes}"
    );
    let pm = Pm::start(&dir, &config);
    assert!(wait_for_port(metrics, LONG), "{}", pm.transcript());
    Running {
        pm,
        metrics,
        api,
        _dir: dir,
    }
}

fn scrape(running: &Running) -> Vec<Sample> {
    prom::scrape(running.metrics, "/metrics").1
}

fn gauge(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    prom::value(samples, name, labels)
}

/// Polls the scrape until `condition` holds; returns the last samples.
fn scrape_until(running: &Running, condition: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + LONG;
    loop {
        let samples = scrape(running);
        if condition(&samples) || Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(mut running: Running) {
    running.pm.signal(libc::SIGTERM);
    assert_eq!(
        running.pm.wait(LONG),
        Some(0),
        "{}",
        running.pm.transcript()
    );
}

#[test]
fn kill_counts_crash_and_flips_up() {
    let running = start("  worker:\n    command: [sleep, '1000']\n");
    let up = [("process", "worker"), ("instance", "worker-0")];
    let crash = [("process", "worker"), ("reason", "crash")];
    let samples = scrape_until(&running, |samples| {
        gauge(samples, "phpeek_pm_process_up", &up) == Some(1.0)
    });
    assert_eq!(gauge(&samples, "phpeek_pm_process_up", &up), Some(1.0));
    let crashes_before = gauge(&samples, "phpeek_pm_process_restarts_total", &crash);
    assert_eq!(crashes_before, Some(0.0));

    let (_, body) = api_json(running.api, "GET", "/api/v1/processes/worker", None, None);
    let pid = body["process"]["instances"][0]["pid"]
        .as_i64()
        .expect("worker pid") as i32;
    // SAFETY: kill(2) takes two integers and reads no memory; the pid is a process this test's child started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    let mut seen = vec![1.0];
    let deadline = Instant::now() + LONG;
    while Instant::now() < deadline {
        let samples = scrape(&running);
        let value = gauge(&samples, "phpeek_pm_process_up", &up).expect("up sample");
        if seen.last() != Some(&value) {
            seen.push(value);
        }
        if seen == [1.0, 0.0, 1.0] {
            let crashes = gauge(&samples, "phpeek_pm_process_restarts_total", &crash);
            assert_eq!(crashes, Some(1.0));
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(seen, [1.0, 0.0, 1.0], "{}", running.pm.transcript());
    stop(running);
}

#[test]
fn current_scale_follows_scaling_and_old_series_vanish() {
    let running = start("  queue-default:\n    command: [sleep, '1000']\n    max_scale: 4\n");
    let process = [("process", "queue-default")];
    let scale_to = |replicas: u32| {
        let body = format!("{{\"replicas\": {replicas}}}");
        let path = "/api/v1/processes/queue-default/scale";
        let (status, answer) = api_json(running.api, "POST", path, None, Some(&body));
        assert_eq!(status, 200, "{answer}");
    };
    let current = |samples: &[Sample]| gauge(samples, "phpeek_pm_process_current_scale", &process);
    let samples = scrape_until(&running, |samples| current(samples) == Some(1.0));
    assert_eq!(current(&samples), Some(1.0));

    scale_to(3);
    let samples = scrape_until(&running, |samples| current(samples) == Some(3.0));
    assert_eq!(current(&samples), Some(3.0), "{}", running.pm.transcript());
    let desired = gauge(&samples, "phpeek_pm_process_desired_scale", &process);
    assert_eq!(desired, Some(3.0));
    let up_series = |samples: &[Sample]| {
        samples
            .iter()
            .filter(|sample| sample.name == "phpeek_pm_process_up")
            .count()
    };
    assert_eq!(up_series(&samples), 3);

    scale_to(1);
    let samples = scrape_until(&running, |samples| {
        current(samples) == Some(1.0) && up_series(samples) == 1
    });
    assert_eq!(current(&samples), Some(1.0));
    assert_eq!(up_series(&samples), 1, "a removed instance kept its series");
    let removed = [("instance", "queue-default-2")];
    assert_eq!(
        gauge(&samples, "phpeek_pm_process_cpu_seconds_total", &removed),
        None
    );
    stop(running);
}

#[test]
fn exposition_passes_promtool() {
    let running = start(
        "  web:\n    command: [sleep, '1000']\n    health_check:\n      type: exec\n      \
         command: ['true']\n      period: 1\n  queue:\n    command: [sleep, '1000']\n    scale: 2\n",
    );
    let (text, _) = prom::scrape(running.metrics, "/metrics");
    assert!(text.contains("phpeek_pm_health_check_status"), "{text}");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool; install the Debian package `prometheus`");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write scrape");
    let output = promtool.wait_with_output().expect("promtool output");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    stop(running);
}

#[test]
fn failing_scheduled_run_counts_as_failure() {
    let running =
        start("  backup:\n    command: [sh, -c, 'exit 3']\n    schedule: '* * * * * *'\n");
    let failure = [("process", "backup"), ("status", "failure")];
    let samples = scrape_until(&running, |samples| {
        gauge(samples, "phpeek_pm_scheduled_task_total", &failure).is_some_and(|runs| runs >= 1.0)
    });

    let runs = gauge(&samples, "phpeek_pm_scheduled_task_total", &failure);
    assert!(runs.is_some_and(|runs| runs >= 1.0), "{runs:?}");
    let code = gauge(
        &samples,
        "phpeek_pm_scheduled_task_last_exit_code",
        &[("process", "backup")],
    );
    assert_eq!(code, Some(3.0));
    stop(running);
}

#[test]
fn readyz_is_503_until_fpm_is_healthy() {
    let stack = PhpStack::render();
    let port = free_port();
    let global =
        format!("  metrics_enabled: true\n  metrics_address: 127.0.0.1\n  metrics_port: {port}");
    // A delay before the first probe keeps php-fpm unhealthy long enough to
    // observe.
    let config = stack.config(&global).replace(
        "      period: 1\n",
        "      period: 1\n      initial_delay: 1s\n",
    );
    let mut pm = Pm::start(&stack.dir, &config);
    assert!(wait_for_port(port, LONG), "{}", pm.transcript());

    let (status, body) = api_json(port, "GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    let failing: Vec<&str> = body["not_ready"]
        .as_array()
        .expect("not_ready list")
        .iter()
        .filter_map(|entry| entry["process"].as_str())
        .collect();
    assert!(failing.contains(&"php-fpm"), "{body}");

    let (status, body) = api_json(port, "GET", "/healthz", None, None);
    assert_eq!(status, 200, "{body}");

    let ready = support::eventually(LONG, || {
        api_json(port, "GET", "/readyz", None, None).0 == 200
    });
    assert!(ready, "{}", pm.transcript());
    let healthy = Command::new(support::binary())
        .args([
            "health",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
        ])
        .output()
        .expect("run phpeek-pm health");
    assert!(healthy.status.success(), "{healthy:?}");

    pm.terminate(LONG);
    let unreachable = Command::new(support::binary())
        .args([
            "health",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
        ])
        .output()
        .expect("run phpeek-pm health");
    assert_eq!(unreachable.status.code(), Some(1));
}
