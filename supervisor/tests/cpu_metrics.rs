//! CPU seconds of php-fpm under a request load: the metric covers the
//! workers, not only the master, and agrees with /proc.

mod support;

use std::time::Duration;

use support::{free_port, http_get, own_ticks, prom, tree_ticks, wait_for_port, PhpStack, Pm};

const LONG: Duration = Duration::from_secs(30);

/// Hashing rounds per request: about 0.2 s of CPU on the AMD EPYC build
/// machine, measured with the PHP CLI.
const ROUNDS: u32 = 1_000_000;
const REQUESTS: usize = 10;

fn fpm_cpu_seconds(port: u16) -> f64 {
    let (_, samples) = prom::scrape(port, "/metrics");
    let labels = [("process", "php-fpm"), ("instance", "php-fpm-0")];
    prom::value(&samples, "phpeek_pm_process_cpu_seconds_total", &labels)
        .expect("php-fpm CPU sample")
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(ticks > 0, "sysconf(_SC_CLK_TCK) failed");
    ticks as f64
}

#[test]
fn fpm_cpu_grows_by_what_workers_used() {
    let stack = PhpStack::render();
    let port = free_port();
    let global =
        format!("  metrics_enabled: true\n  metrics_address: 127.0.0.1\n  metrics_port: {port}");
    let mut pm = Pm::start(&stack.dir, &stack.config(&global));
    assert!(wait_for_port(port, LONG), "{}", pm.transcript());
    let page = stack.wait_for_page("/burn.php?n=1", LONG);
    assert!(page.is_some(), "{}", pm.transcript());
    let started = pm
        .wait_event("process started", Some("php-fpm"), LONG)
        .expect("php-fpm started");
    let master = started["pid"].as_i64().expect("pid") as i32;

    let metric_before = fpm_cpu_seconds(port);
    let tree_before = tree_ticks(master);
    let master_before = own_ticks(master);
    for _ in 0..REQUESTS {
        let path = format!("/burn.php?n={ROUNDS}");
        let (status, body) = http_get(stack.http_port, &path, LONG).expect("burn request");
        assert_eq!(status, 200, "{body}");
    }
    let tree_after = tree_ticks(master);
    let master_after = own_ticks(master);
    let metric_after = fpm_cpu_seconds(port);

    let ticks = clock_ticks();
    let metric_delta = metric_after - metric_before;
    let proc_delta = (tree_after - tree_before) as f64 / ticks;
    let master_delta = (master_after - master_before) as f64 / ticks;
    let report = format!(
        "metric {metric_before:.2} -> {metric_after:.2} (+{metric_delta:.2} s), \
         /proc tree +{proc_delta:.2} s, master alone +{master_delta:.2} s"
    );
    assert!(proc_delta > 0.5, "the load used too little CPU: {report}");
    let tolerance = 0.1 + 0.1 * proc_delta;
    assert!(
        (metric_delta - proc_delta).abs() <= tolerance,
        "metric and /proc disagree: {report}"
    );
    assert!(
        master_delta < 0.25 * metric_delta,
        "the growth is not the workers': {report}"
    );

    pm.terminate(LONG);
}
