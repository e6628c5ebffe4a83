//! Real php-fpm and nginx from Debian packages under phpeek-pm.

mod support;

use std::time::Duration;

use support::{http_get, pids_with_cmdline, time_ms, PhpStack, Pm};

const LONG: Duration = Duration::from_secs(20);

fn start(stack: &PhpStack, global: &str) -> Pm {
    Pm::start(&stack.dir, &stack.config(global))
}

fn event_time(pm: &Pm, msg: &str, process: &str) -> i64 {
    let record = pm
        .wait_event(msg, Some(process), LONG)
        .unwrap_or_else(|| panic!("no `{msg}` for {process}\n{}", pm.transcript()));
    time_ms(&record)
}

#[test]
fn php_page_served_after_fpm_healthy() {
    let stack = PhpStack::render();
    let mut pm = start(&stack, "  shutdown_timeout: 20");
    let body = stack.wait_for_page("/index.php", LONG);
    assert!(
        body.as_deref()
            .is_some_and(|body| body.contains("hello from phpeek")),
        "page body {body:?}\n{}",
        pm.transcript()
    );

    let fpm_healthy = event_time(&pm, "process is healthy", "php-fpm");
    let nginx_started = event_time(&pm, "process started", "nginx");
    assert!(
        nginx_started >= fpm_healthy,
        "nginx started before php-fpm was healthy"
    );
    let records = pm.stdout.records();
    let position = |msg: &str, process: &str| {
        records
            .iter()
            .position(|record| record["msg"] == msg && record["process"] == process)
    };
    assert!(position("process is healthy", "php-fpm") < position("process started", "nginx"));

    pm.terminate(LONG);
}

#[test]
fn killed_fpm_master_is_restarted_and_serves_again() {
    let stack = PhpStack::render();
    let mut pm = start(&stack, "  restart_backoff_initial: 200ms");
    assert!(
        stack.wait_for_page("/index.php", LONG).is_some(),
        "{}",
        pm.transcript()
    );

    let started = pm
        .wait_event("process started", Some("php-fpm"), LONG)
        .expect("fpm started");
    let master = started["pid"].as_i64().expect("pid") as i32;
    // SAFETY: kill(2) takes two integers and reads no memory; the pid is a process this test's child started.
    assert_eq!(unsafe { libc::kill(master, libc::SIGKILL) }, 0);

    let restart = pm.stdout.wait_for_record(LONG, |record| {
        record["msg"] == "restart scheduled" && record["process"] == "php-fpm"
    });
    let restart = restart.unwrap_or_else(|| panic!("no restart logged\n{}", pm.transcript()));
    assert_eq!(restart["reason"], "crash");
    assert_eq!(restart["delay_ms"], 200);
    let exited = pm
        .stdout
        .records()
        .into_iter()
        .find(|record| record["msg"] == "process exited" && record["process"] == "php-fpm");
    let exited = exited.expect("exit logged");
    assert_eq!(exited["exit_code"], 137);
    assert_eq!(exited["signal"], "SIGKILL");

    let restarted = support::eventually(LONG, || {
        pm.stdout
            .count(|record| record["msg"] == "process started" && record["process"] == "php-fpm")
            == 2
    });
    assert!(restarted, "php-fpm not started again\n{}", pm.transcript());
    assert!(
        stack.wait_for_page("/index.php", LONG).is_some(),
        "page down after restart"
    );

    pm.terminate(LONG);
}

/// Sends `signal` to phpeek-pm while a one-second request is in flight.
fn graceful_stop_keeps_request(signal: i32) {
    let stack = PhpStack::render();
    let mut pm = start(&stack, "  shutdown_timeout: 30");
    assert!(
        stack.wait_for_page("/index.php", LONG).is_some(),
        "{}",
        pm.transcript()
    );

    let port = stack.http_port;
    let request = std::thread::spawn(move || http_get(port, "/slow.php?ms=1000", LONG));
    // The request is in flight once a php-fpm worker has accepted it. Wait
    // for that through /proc instead of sleeping a fixed time.
    let busy = support::eventually(LONG, || fpm_worker_busy(&pm));
    assert!(busy, "request never reached php-fpm\n{}", pm.transcript());
    pm.signal(signal);

    let (status, body) = request
        .join()
        .expect("request thread")
        .expect("slow request");
    assert_eq!(status, 200, "in-flight request cut off: {body}");
    assert!(body.contains("slow done"));
    assert_eq!(pm.wait(LONG), Some(0), "{}", pm.transcript());

    let stopping: Vec<serde_json::Value> = pm
        .stdout
        .records()
        .into_iter()
        .filter(|record| record["msg"] == "stopping process")
        .collect();
    let order: Vec<&str> = stopping
        .iter()
        .filter_map(|record| record["process"].as_str())
        .collect();
    assert_eq!(order, ["nginx", "php-fpm"], "stop order");
    assert!(stopping.iter().all(|record| record["signal"] == "SIGQUIT"));
    let prefix = stack.dir.join("prefix").display().to_string();
    assert!(
        pids_with_cmdline(&prefix).is_empty(),
        "processes of the tree left behind"
    );
}

/// True when some php-fpm worker of this test's stack is running a script:
/// idle workers sleep in accept, busy ones in the PHP sleep (state S either
/// way), so look at the worker's open TCP connection count instead.
fn fpm_worker_busy(pm: &Pm) -> bool {
    let Some(started) = pm
        .stdout
        .records()
        .into_iter()
        .find(|record| record["msg"] == "process started" && record["process"] == "php-fpm")
    else {
        return false;
    };
    let master = started["pid"].as_i64().unwrap_or_default() as i32;
    support::children_of(master).into_iter().any(|worker| {
        // A worker serving a request has one more socket open than an idle one.
        std::fs::read_dir(format!("/proc/{worker}/fd"))
            .map(|fds| {
                fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                    .filter(|target| target.to_string_lossy().starts_with("socket:"))
                    .count()
                    >= 2
            })
            .unwrap_or(false)
    })
}

#[test]
fn sigterm_lets_request_in_flight_finish() {
    graceful_stop_keeps_request(libc::SIGTERM);
}

#[test]
fn sigquit_lets_request_in_flight_finish() {
    graceful_stop_keeps_request(libc::SIGQUIT);
}
