//! Scheduled tasks run by the real binary: environment, heartbeats,
//! overlap, timeouts and shutdown.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{eventually, stat_field, time_ms, Dir, Pm};

const LONG: Duration = Duration::from_secs(15);

/// One request received by [`PingServer`].
#[derive(Debug, Clone)]
struct Ping {
    method: String,
    path: String,
    body: String,
}

/// A tiny HTTP server on 127.0.0.1 that records every request and responds
/// 200, or never responds at all.
struct PingServer {
    port: u16,
    pings: Arc<Mutex<Vec<Ping>>>,
}

impl PingServer {
    fn start(answer: bool) -> PingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind ping server");
        let port = listener.local_addr().expect("local addr").port();
        let pings = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&pings);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                if answer {
                    let recorded = Arc::clone(&recorded);
                    std::thread::spawn(move || serve(stream, &recorded));
                } else {
                    // Accept, never read or respond, and keep the connection open.
                    held.push(stream);
                }
            }
        });
        PingServer { port, pings }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn pings(&self) -> Vec<Ping> {
        self.pings.lock().expect("lock pings").clone()
    }

    /// Waits until at least `count` requests arrived and returns them all.
    fn wait_for(&self, count: usize) -> Vec<Ping> {
        eventually(LONG, || self.pings().len() >= count);
        self.pings()
    }
}

fn serve(stream: TcpStream, recorded: &Mutex<Vec<Ping>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    recorded
        .lock()
        .expect("lock pings")
        .push(Ping { method, path, body });
    let mut stream = reader.into_inner();
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
}

fn run_started(pm: &Pm, run: &str) -> Option<Value> {
    pm.stdout.wait_for_record(LONG, |record| {
        record["msg"] == "scheduled run started" && record["instance_id"] == run
    })
}

fn records_with_msg(pm: &Pm, msg: &str) -> Vec<Value> {
    pm.stdout
        .records()
        .into_iter()
        .filter(|record| record["msg"] == msg)
        .collect()
}

fn is_alive(pid: i32) -> bool {
    stat_field(pid, 0).is_some_and(|state| state != "Z")
}

#[test]
fn run_sees_environment_and_pings_success() {
    let dir = Dir::new();
    let server = PingServer::start(true);
    let config = format!(
        r#"
processes:
  job:
    command: ["sh", "-c", "echo \"vars $PHPEEK_PM_PROCESS_NAME $PHPEEK_PM_INSTANCE_ID $PHPEEK_PM_SCHEDULED [$PHPEEK_PM_SCHEDULE] $PHPEEK_PM_START_TIME $CONTAINER_VAR $TASK_VAR\""]
    schedule: "@every 1s"
    env:
      TASK_VAR: from-task
    heartbeat:
      url: "{}"
"#,
        server.url("/ping/abc")
    );
    let path = dir.write("phpeek-pm.yaml", &config);
    let mut pm = Pm::start_with(
        std::process::Command::new(support::binary())
            .arg("-c")
            .arg(path)
            .env("CONTAINER_VAR", "from-container"),
    );

    let line = pm
        .stdout
        .wait_for_record(LONG, |record| {
            record["msg"]
                .as_str()
                .is_some_and(|msg| msg.starts_with("vars "))
        })
        .unwrap_or_else(|| panic!("no output\n{}", pm.transcript()));
    let words: Vec<&str> = line["msg"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .collect();
    assert_eq!(
        words[1..5],
        ["job", "job-run-1", "true", "[@every"],
        "{line}"
    );
    assert_eq!(words[5], "1s]");
    let start_time: i64 = words[6].parse().expect("PHPEEK_PM_START_TIME is a number");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    assert!(
        (now - start_time).abs() < 30,
        "start time {start_time}, now {now}"
    );
    assert_eq!(words[7..], ["from-container", "from-task"]);
    assert_eq!(line["process"], "job");
    assert_eq!(line["instance_id"], "job-run-1");

    let pings = server.wait_for(2);
    assert_eq!(pings[0].method, "GET", "{pings:?}");
    assert_eq!(pings[0].path, "/ping/abc/start", "{pings:?}");
    assert_eq!(pings[1].method, "GET", "{pings:?}");
    assert_eq!(pings[1].path, "/ping/abc", "{pings:?}");
    pm.terminate(LONG);
}

#[test]
fn failed_run_pings_fail() {
    let dir = Dir::new();
    let server = PingServer::start(true);
    let config = format!(
        r#"
processes:
  job:
    command: ["sh", "-c", "echo last words; exit 3"]
    schedule: "* * * * * *"
    heartbeat:
      url: "{}"
"#,
        server.url("/hc/uuid")
    );
    let mut pm = Pm::start(&dir, &config);

    let pings = server.wait_for(2);
    assert_eq!(pings[0].path, "/hc/uuid/start", "{pings:?}");
    assert_eq!(pings[1].method, "POST", "{pings:?}");
    assert_eq!(pings[1].path, "/hc/uuid/fail", "{pings:?}");
    assert!(
        pings[1].body.starts_with("exited with exit code 3\n"),
        "{pings:?}"
    );
    assert!(pings[1].body.contains("last words"), "{pings:?}");
    let failed = pm.wait_event("scheduled run failed", Some("job"), LONG);
    assert_eq!(
        failed.map(|record| record["exit_code"].clone()),
        Some(Value::from(3))
    );
    pm.terminate(LONG);
}

#[test]
fn silent_ping_server_does_not_delay_runs() {
    let dir = Dir::new();
    let server = PingServer::start(false);
    let config = format!(
        r#"
processes:
  job:
    command: ["true"]
    schedule: "@every 1s"
    heartbeat:
      url: "{}"
"#,
        server.url("/never")
    );
    let mut pm = Pm::start(&dir, &config);

    let first = run_started(&pm, "job-run-1").unwrap_or_else(|| panic!("{}", pm.transcript()));
    let third = run_started(&pm, "job-run-3").unwrap_or_else(|| panic!("{}", pm.transcript()));
    let gap = time_ms(&third) - time_ms(&first);
    assert!(
        (1500..4000).contains(&gap),
        "runs 1 and 3 are {gap} ms apart"
    );
    pm.terminate(LONG);
}

#[test]
fn overlapping_firings_are_skipped_and_counted() {
    let dir = Dir::new();
    let lock = dir.join("lock");
    let config = format!(
        r#"
processes:
  job:
    command: ["sh", "-c", "mkdir {lock} || {{ echo OVERLAP; exit 1; }}; sleep 2.5; rmdir {lock}"]
    schedule: "@every 1s"
"#,
        lock = lock.display()
    );
    let mut pm = Pm::start(&dir, &config);

    run_started(&pm, "job-run-2").unwrap_or_else(|| panic!("{}", pm.transcript()));
    pm.terminate(LONG);

    assert_eq!(pm.stdout.count(|record| record["msg"] == "OVERLAP"), 0);
    let skips = records_with_msg(
        &pm,
        "scheduled run skipped because earlier runs are still going",
    );
    assert!(skips.len() >= 2, "{}", pm.transcript());
    let counts: Vec<i64> = skips
        .iter()
        .map(|record| record["skips"].as_i64().unwrap_or_default())
        .collect();
    let expected: Vec<i64> = (1..=skips.len() as i64).collect();
    assert_eq!(counts, expected);
    assert!(skips.iter().all(|record| record["process"] == "job"));
    let finished = records_with_msg(&pm, "scheduled run finished");
    assert!(
        finished.iter().all(|record| record["exit_code"] == 0),
        "{}",
        pm.transcript()
    );
}

#[test]
fn timeout_kills_run_and_grandchild() {
    let dir = Dir::new();
    let pid_file = dir.join("grandchild.pid");
    let config = format!(
        r#"
processes:
  job:
    command: ["sh", "-c", "sleep 300 & echo $! > {pid_file}; wait"]
    schedule: "@every 1s"
    schedule_timeout: 500ms
    shutdown:
      timeout: 1s
"#,
        pid_file = pid_file.display()
    );
    let mut pm = Pm::start(&dir, &config);

    let failed = pm
        .stdout
        .wait_for_record(LONG, |record| {
            record["msg"] == "scheduled run failed" && record["instance_id"] == "job-run-1"
        })
        .unwrap_or_else(|| panic!("{}", pm.transcript()));
    assert!(failed["reason"]
        .as_str()
        .is_some_and(|reason| reason.contains("timed out")));
    assert_eq!(failed["exit_code"], 143);
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .expect("read grandchild pid")
        .trim()
        .parse()
        .expect("pid");
    assert!(eventually(Duration::from_secs(3), || !is_alive(grandchild)));
    pm.terminate(LONG);
}

#[test]
fn shutdown_stops_running_task_in_time() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
global:
  shutdown_timeout: 5s
processes:
  polite:
    command: ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo polite-running; while true; do sleep 0.1; done"]
    schedule: "@every 1s"
  stubborn:
    command: ["sh", "-c", "trap '' TERM; echo stubborn-running; while true; do sleep 0.1; done"]
    schedule: "@every 1s"
    shutdown:
      timeout: 1s
"#,
    );
    for line in ["polite-running", "stubborn-running"] {
        assert!(
            pm.stdout
                .wait_for_record(LONG, |record| record["msg"] == line)
                .is_some(),
            "{}",
            pm.transcript()
        );
    }

    let signalled = Instant::now();
    pm.signal(libc::SIGTERM);
    assert_eq!(
        pm.wait(Duration::from_secs(5)),
        Some(0),
        "{}",
        pm.transcript()
    );
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let got_term = pm
        .stdout
        .wait_for_record(Duration::from_secs(2), |record| record["msg"] == "got-term");
    assert!(got_term.is_some(), "{}", pm.transcript());

    let records = pm.stdout.records();
    let shutdown_at = records
        .iter()
        .position(|record| record["msg"] == "shutdown started")
        .unwrap_or_else(|| panic!("{}", pm.transcript()));
    let late_starts = records[shutdown_at..]
        .iter()
        .filter(|record| record["msg"] == "scheduled run started")
        .count();
    assert_eq!(late_starts, 0, "{}", pm.transcript());
    // The reader thread may still be behind the exit, so wait for the line.
    let stubborn_end = pm.stdout.wait_for_record(Duration::from_secs(2), |record| {
        record["msg"] == "scheduled run failed" && record["process"] == "stubborn"
    });
    assert_eq!(
        stubborn_end.map(|record| record["exit_code"].clone()),
        Some(Value::from(137)),
        "{}",
        pm.transcript()
    );
}

#[test]
fn backgrounded_grandchild_does_not_hold_up_next_run() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
processes:
  job:
    command: ["sh", "-c", "sleep 5 & echo backgrounded; exit 0"]
    schedule: "@every 1s"
"#,
    );

    let first = run_started(&pm, "job-run-1").unwrap_or_else(|| panic!("{}", pm.transcript()));
    let finished = pm
        .stdout
        .wait_for_record(LONG, |record| {
            record["msg"] == "scheduled run finished" && record["instance_id"] == "job-run-1"
        })
        .unwrap_or_else(|| panic!("{}", pm.transcript()));
    assert_eq!(finished["exit_code"], 0);
    let second = run_started(&pm, "job-run-2").unwrap_or_else(|| panic!("{}", pm.transcript()));
    let gap = time_ms(&second) - time_ms(&first);
    assert!(
        (500..2500).contains(&gap),
        "runs 1 and 2 are {gap} ms apart"
    );
    pm.terminate(LONG);
}

#[test]
fn heartbeat_timeout_fails_without_stopping_run() {
    let dir = Dir::new();
    let server = PingServer::start(true);
    let config = format!(
        r#"
processes:
  job:
    command: ["sh", "-c", "echo working; sleep 2; echo done"]
    schedule: "@every 1s"
    heartbeat:
      url: "{}"
      timeout: 1
"#,
        server.url("/hc/slow")
    );
    let mut pm = Pm::start(&dir, &config);

    let finished = pm
        .stdout
        .wait_for_record(LONG, |record| {
            record["msg"] == "scheduled run finished" && record["instance_id"] == "job-run-1"
        })
        .unwrap_or_else(|| panic!("{}", pm.transcript()));
    assert_eq!(finished["exit_code"], 0);
    pm.terminate(LONG);

    let pings = server.pings();
    assert!(pings.len() >= 2, "{pings:?}");
    assert_eq!(pings[0].path, "/hc/slow/start", "{pings:?}");
    assert_eq!(pings[1].method, "POST", "{pings:?}");
    assert_eq!(pings[1].path, "/hc/slow/fail", "{pings:?}");
    assert!(
        pings[1].body.contains("heartbeat timeout of 1s"),
        "{pings:?}"
    );
    assert!(pings[1].body.contains("working"), "{pings:?}");
    let success = pings.iter().filter(|ping| ping.path == "/hc/slow").count();
    assert_eq!(success, 0, "{pings:?}");
}

#[test]
fn first_run_waits_for_dependencies() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
processes:
  migrate:
    type: oneshot
    command: ["sh", "-c", "sleep 1.5; echo migrated"]
  job:
    command: ["true"]
    schedule: "@every 1s"
    depends_on: [migrate]
"#,
    );

    let first = run_started(&pm, "job-run-1").unwrap_or_else(|| panic!("{}", pm.transcript()));
    let migrated = pm
        .stdout
        .records()
        .into_iter()
        .find(|record| record["msg"] == "migrated")
        .unwrap_or_else(|| panic!("{}", pm.transcript()));
    assert!(
        time_ms(&first) >= time_ms(&migrated) + 900,
        "{}",
        pm.transcript()
    );
    pm.terminate(LONG);
}

#[test]
fn missing_program_counts_as_failed_run() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
processes:
  job:
    command: ["/nonexistent/phpeek-test-program"]
    schedule: "@every 1s"
"#,
    );

    let failed = pm
        .wait_event("scheduled run failed", Some("job"), LONG)
        .unwrap_or_else(|| panic!("{}", pm.transcript()));
    assert_eq!(failed["exit_code"], 127);
    assert_eq!(
        pm.stdout
            .count(|record| record["msg"] == "could not start scheduled run"),
        1
    );
    pm.terminate(LONG);
}
