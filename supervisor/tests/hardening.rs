//! Cases found by trying to break phpeek-pm: signals, probes, limits and
//! exit codes at the edges.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{binary, eventually, pids_with_cmdline, Dir, Pm};

const LONG: Duration = Duration::from_secs(10);

fn marker() -> u64 {
    support::unique_marker()
}

#[test]
fn forwarded_signal_reaches_only_the_main_process() {
    let dir = Dir::new();
    let config = format!(
        r#"
processes:
  master:
    command:
      - sh
      - -c
      - |
        sh -c 'trap "touch {worker}" HUP; while true; do sleep 0.05; done' &
        trap 'touch {main}' HUP
        while true; do sleep 0.05; done
"#,
        worker = dir.join("worker-got-hup").display(),
        main = dir.join("main-got-hup").display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(pm
        .wait_event("process started", Some("master"), LONG)
        .is_some());
    let seen = eventually(LONG, || {
        pm.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(50));
        dir.join("main-got-hup").exists()
    });
    assert!(
        seen,
        "HUP never reached the main process\n{}",
        pm.transcript()
    );
    assert!(
        !dir.join("worker-got-hup").exists(),
        "HUP reached a worker too"
    );
    pm.terminate(LONG);
}

#[test]
fn signal_flood_does_not_delay_shutdown() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        "processes:\n  idle:\n    command: [sleep, \"60\"]\n    shutdown:\n      signal: KILL\n",
    );
    assert!(pm
        .wait_event("process started", Some("idle"), LONG)
        .is_some());
    for _ in 0..50 {
        pm.signal(libc::SIGUSR1);
    }
    let sent = Instant::now();
    pm.terminate(LONG);
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
}

#[test]
fn sigterm_interrupts_hook_retry_delay() {
    let dir = Dir::new();
    let config = r#"
hooks:
  pre-start:
    - name: waits-for-db
      command: ["false"]
      retry: 5
      retry_delay: 30s
processes:
  web:
    command: ["sleep", "60"]
"#;
    let mut pm = Pm::start(&dir, config);
    let failed = pm
        .stdout
        .wait_for_record(LONG, |record| record["msg"] == "hook failed");
    assert!(failed.is_some(), "{}", pm.transcript());
    let sent = Instant::now();
    pm.terminate(LONG);
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(pm.stdout.count(|record| record["msg"] == "hook started"), 1);
}

#[test]
fn unread_stdout_does_not_keep_phpeek_pm_alive() {
    let dir = Dir::new();
    let path = dir.write(
        "phpeek-pm.yaml",
        "processes:\n  flood:\n    command: [yes, flood]\n",
    );
    // stdout is a pipe nobody reads, so it fills up and stays full.
    let mut child = Command::new(binary())
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) takes two integers and reads no memory; the pid is our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut exited = false;
    while Instant::now() < deadline && !exited {
        exited = matches!(child.try_wait(), Ok(Some(_)));
        std::thread::sleep(Duration::from_millis(10));
    }
    if !exited {
        let _ = child.kill();
    }
    let _ = child.wait();
    assert!(exited, "phpeek-pm did not exit while its stdout was full");
}

#[test]
fn probe_with_background_child_keeps_checking() {
    let dir = Dir::new();
    let mark = marker();
    let config = format!(
        r#"
processes:
  svc:
    command: ["sleep", "60"]
    restart: never
    health_check:
      type: exec
      command: ["sh", "-c", "sleep {mark}1 & exit 1"]
      period: 100ms
      timeout: 1s
      failure_threshold: 2
  quiet:
    command: ["sleep", "60"]
    health_check:
      type: exec
      command: ["sh", "-c", "sleep {mark}2 & exit 0"]
      period: 100ms
"#
    );
    let mut pm = Pm::start(&dir, &config);
    let failed = pm.wait_event("health check failed", Some("svc"), LONG);
    assert!(
        failed.is_some(),
        "probe stuck after its first run\n{}",
        pm.transcript()
    );
    assert!(pm
        .wait_event("process is healthy", Some("quiet"), LONG)
        .is_some());
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        pids_with_cmdline(&format!("sleep {mark}2")).len() <= 1,
        "probes leave processes behind"
    );
    assert!(
        pids_with_cmdline(&format!("sleep {mark}1")).len() <= 1,
        "probes leave processes behind"
    );
    pm.terminate(LONG);
}

#[test]
fn absurd_scale_is_a_config_error() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        "processes:\n  a:\n    command: [sleep, \"1\"]\n    scale: 4000000000\n",
    );
    assert_eq!(pm.wait(LONG), Some(2));
    let stderr = pm.stderr.all().join("\n");
    assert!(stderr.contains("processes.a.scale"), "{stderr}");
    assert!(stderr.contains("from 1 to 10000"), "{stderr}");
}

#[test]
fn huge_health_timings_do_not_crash() {
    let dir = Dir::new();
    let config = r#"
processes:
  a:
    command: ["sleep", "60"]
    health_check:
      type: tcp
      address: 127.0.0.1:1
      period: 876000h
      failure_threshold: 4000000000
"#;
    let mut pm = Pm::start(&dir, config);
    assert!(
        pm.wait_event("process started", Some("a"), LONG).is_some(),
        "{}",
        pm.transcript()
    );
    pm.terminate(LONG);
}

#[test]
fn failed_instance_among_several_sets_exit_code() {
    let dir = Dir::new();
    let config = r#"
processes:
  mixed:
    command: ["sh", "-c", "[ \"$PHPEEK_PM_INSTANCE_ID\" = mixed-0 ] && exit 7; exit 0"]
    scale: 2
    restart: never
"#;
    let mut pm = Pm::start(&dir, config);
    assert_eq!(pm.wait(LONG), Some(3), "{}", pm.transcript());
}

#[test]
fn fatal_instance_with_continue_keeps_siblings() {
    let dir = Dir::new();
    let config = r#"
global:
  on_fatal: continue
  max_restart_attempts: 1
  restart_backoff_initial: 10ms
processes:
  half:
    command: ["sh", "-c", "[ \"$PHPEEK_PM_INSTANCE_ID\" = half-0 ] && exit 1; exec sleep 60"]
    scale: 2
"#;
    let mut pm = Pm::start(&dir, config);
    let fatal = pm.wait_event(
        "process is fatal: out of restart attempts",
        Some("half"),
        LONG,
    );
    assert!(fatal.is_some(), "{}", pm.transcript());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        pm.child.try_wait().expect("try_wait"),
        None,
        "phpeek-pm exited\n{}",
        pm.transcript()
    );
    let stopped = pm
        .stdout
        .count(|record| record["msg"] == "stopping process");
    assert_eq!(stopped, 0, "the healthy instance was stopped");
    pm.terminate(LONG);
}

#[test]
fn missing_program_never_counts_as_started() {
    let dir = Dir::new();
    let ran = dir.join("dependent-ran");
    let config = format!(
        r#"
global:
  dependency_timeout: 500ms
processes:
  broken:
    command: ["/nonexistent/program"]
  dependent:
    command: ["touch", "{}"]
    depends_on:
      broken: started
"#,
        ran.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert_eq!(pm.wait(LONG), Some(1), "{}", pm.transcript());
    assert!(
        !ran.exists(),
        "dependent started although its dependency never ran"
    );
}

#[test]
fn oneshot_on_failure_is_retried() {
    let dir = Dir::new();
    let tries = dir.join("tries");
    let config = format!(
        r#"
global:
  restart_backoff_initial: 10ms
processes:
  migrate:
    type: oneshot
    restart: on-failure
    command: ["sh", "-c", "echo x >> {tries}; [ $(wc -l < {tries}) -ge 3 ]"]
"#,
        tries = tries.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert_eq!(pm.wait(LONG), Some(0), "{}", pm.transcript());
    let count = std::fs::read_to_string(&tries)
        .expect("tries")
        .lines()
        .count();
    assert_eq!(count, 3);
}

#[test]
fn unhealthy_process_with_restart_never_keeps_running() {
    let dir = Dir::new();
    let config = r#"
processes:
  api:
    command: ["sleep", "60"]
    restart: never
    health_check:
      type: exec
      command: ["false"]
      period: 50ms
      failure_threshold: 2
"#;
    let mut pm = Pm::start(&dir, config);
    assert!(pm
        .wait_event("health check failed", Some("api"), LONG)
        .is_some());
    std::thread::sleep(Duration::from_millis(500));
    let starts = pm.stdout.count(|record| record["msg"] == "process started");
    assert_eq!(starts, 1, "{}", pm.transcript());
    pm.terminate(LONG);
}

#[test]
fn health_restarts_use_backoff_and_attempt_limit() {
    let dir = Dir::new();
    let config = r#"
global:
  max_restart_attempts: 2
  restart_backoff_initial: 50ms
processes:
  api:
    command: ["sleep", "60"]
    health_check:
      type: exec
      command: ["false"]
      period: 50ms
      failure_threshold: 1
"#;
    let mut pm = Pm::start(&dir, config);
    assert_eq!(pm.wait(LONG), Some(3), "{}", pm.transcript());
    let restarts: Vec<serde_json::Value> = pm
        .stdout
        .records()
        .into_iter()
        .filter(|record| record["msg"] == "restart scheduled")
        .collect();
    assert_eq!(restarts.len(), 2, "{}", pm.transcript());
    assert!(restarts.iter().all(|record| record["reason"] == "health"));
    assert_eq!(restarts[1]["delay_ms"], 100);
}

#[test]
fn clean_exits_never_make_a_process_fatal() {
    let dir = Dir::new();
    let config = r#"
global:
  max_restart_attempts: 1
  restart_backoff_initial: 10ms
processes:
  worker:
    command: ["true"]
"#;
    let mut pm = Pm::start(&dir, config);
    let enough = eventually(LONG, || {
        pm.stdout.count(|record| record["msg"] == "process started") >= 10
    });
    assert!(enough, "{}", pm.transcript());
    let fatal = pm
        .stdout
        .count(|record| record["msg"] == "process is fatal: out of restart attempts");
    assert_eq!(fatal, 0);
    pm.terminate(LONG);
}

#[test]
fn stopped_child_still_stops_promptly() {
    let dir = Dir::new();
    let config =
        "processes:\n  paused:\n    command: [sleep, \"60\"]\n    shutdown:\n      timeout: 20\n";
    let mut pm = Pm::start(&dir, config);
    let started = pm
        .wait_event("process started", Some("paused"), LONG)
        .expect("started");
    let pid = started["pid"].as_i64().expect("pid") as i32;
    // SAFETY: kill(2) takes two integers and reads no memory; the pid is a process our child started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let sent = Instant::now();
    pm.terminate(LONG);
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
}

#[test]
fn stop_signal_that_pauses_is_rejected() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        "processes:\n  a:\n    command: [sleep, \"1\"]\n    shutdown:\n      signal: STOP\n",
    );
    assert_eq!(pm.wait(LONG), Some(2));
    assert!(pm
        .stderr
        .all()
        .join("\n")
        .contains("processes.a.shutdown.signal"));
}

#[test]
fn missing_working_dir_is_named() {
    let dir = Dir::new();
    let config = "global:\n  max_restart_attempts: 1\n  restart_backoff_initial: 10ms\nprocesses:\n  a:\n    command: [pwd]\n    working_dir: /nonexistent/dir\n";
    let mut pm = Pm::start(&dir, config);
    assert_eq!(pm.wait(LONG), Some(3), "{}", pm.transcript());
    let named = pm.stdout.count(|record| {
        record["msg"] == "could not start process"
            && record["error"]
                .as_str()
                .is_some_and(|error| error.contains("/nonexistent/dir"))
    });
    assert!(named >= 1, "{}", pm.transcript());
}

/// A pids cgroup (v1) of its own that phpeek-pm is moved into, removed on
/// drop after the process left it.
struct PidsCgroup {
    path: std::path::PathBuf,
}

impl PidsCgroup {
    /// Creates the cgroup, or returns none when this machine has no pids
    /// controller at /sys/fs/cgroup/pids or the test isn't root.
    fn create(name: &str) -> Option<PidsCgroup> {
        let root = std::path::Path::new("/sys/fs/cgroup/pids");
        if !root.join("cgroup.procs").exists() || unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let path = root.join(name);
        std::fs::create_dir(&path).ok()?;
        Some(PidsCgroup { path })
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.path.join(file), value)
            .unwrap_or_else(|error| panic!("write {value} to {file}: {error}"));
    }

    fn current(&self) -> u64 {
        std::fs::read_to_string(self.path.join("pids.current"))
            .expect("pids.current")
            .trim()
            .parse()
            .expect("a number")
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[test]
fn pids_limit_keeps_scrapes_and_probes() {
    let name = format!("phpeek-test-{}", marker());
    let Some(cgroup) = PidsCgroup::create(&name) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI needs root and the cgroup v1 pids controller for this test"
        );
        eprintln!("skipped: needs root and /sys/fs/cgroup/pids");
        return;
    };
    let dir = Dir::new();
    let port = support::free_port();
    let config = format!(
        "global:\n  shutdown_timeout: 10\n  metrics_enabled: true\n  \
         metrics_address: 127.0.0.1\n  metrics_port: {port}\n\
         processes:\n  idle:\n    command: [\"sleep\", \"600\"]\n    scale: 2\n    \
         health_check:\n      type: tcp\n      address: localhost:{port}\n      \
         initial_delay: 1s\n      period: 1s\n"
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(support::wait_for_port(port, LONG), "{}", pm.transcript());

    // Only phpeek-pm moves; its children stay where they are. Then no
    // thread or process can be added to it.
    cgroup.write("cgroup.procs", &pm.pid().to_string());
    cgroup.write("pids.max", &cgroup.current().to_string());

    for _ in 0..3 {
        let (status, body) = support::http_get(port, "/metrics", LONG)
            .unwrap_or_else(|error| panic!("scrape failed: {error}\n{}", pm.transcript()));
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("phpeek_pm_process_current_scale{process=\"idle\"} 2"),
            "{body}"
        );
    }
    assert!(pm.transcript().contains("no thread for the metrics scrape"));
    // The first probe runs after the limit is set and resolves `localhost`.
    let healthy = pm.wait_event("process is healthy", Some("idle"), LONG);
    assert!(healthy.is_some(), "{}", pm.transcript());

    cgroup.write("pids.max", "max");
    pm.terminate(LONG);
}

#[test]
fn silent_dns_does_not_delay_exit() {
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["unshare", "ip", "python3"].iter().all(|tool| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if !root || !tools {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI needs root, unshare, ip and python3 for this test"
        );
        eprintln!("skipped: needs root, unshare, ip and python3");
        return;
    }
    let dir = Dir::new();
    // A name server on 127.0.0.1 that never responds, so each lookup of the
    // health check's host waits out the resolver's 15 s of retries.
    dir.write(
        "resolv.conf",
        "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n",
    );
    let config = dir.write(
        "phpeek-pm.yaml",
        "processes:\n  idle:\n    command: [\"sleep\", \"600\"]\n    health_check:\n      \
         type: http\n      url: http://phpeek-silent-dns.test:18081/\n      period: 1s\n      \
         timeout: 1s\n      failure_threshold: 100\n",
    );
    let script = r#"
        set -e
        ip link set lo up
        mount --bind "$1/resolv.conf" /etc/resolv.conf
        python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
time.sleep(60)' &
        silent=$!
        sleep 0.3
        "$2" -c "$3" >"$1/out.log" 2>&1 &
        pm=$!
        sleep 2.5
        start=$(date +%s%N)
        kill -TERM "$pm"
        rc=0
        wait "$pm" || rc=$?
        end=$(date +%s%N)
        kill "$silent"
        echo "exit_ms=$(( (end - start) / 1000000 )) rc=$rc"
    "#;
    let output = Command::new("unshare")
        .args(["--net", "--mount", "sh", "-c", script, "sh"])
        .arg(dir.join(""))
        .arg(binary())
        .arg(&config)
        .output()
        .expect("run unshare");
    let text = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(dir.join("out.log")).unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        let start = text.find(&format!("{name}="))? + name.len() + 1;
        text[start..].split_whitespace().next()?.parse().ok()
    };
    assert_eq!(field("rc"), Some(0), "{text}\n{log}");
    let took = field("exit_ms").unwrap_or(u64::MAX);
    assert!(took < 3000, "exit took {took} ms after SIGTERM\n{log}");
}
