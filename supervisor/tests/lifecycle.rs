//! Process lifecycle of the real binary: restarts, stops, exit statuses.

mod support;

use std::time::Duration;

use support::{eventually, pids_with_cmdline, time_ms, Dir, Pm};

const LONG: Duration = Duration::from_secs(10);

fn started_times(pm: &Pm, process: &str) -> Vec<i64> {
    pm.stdout
        .records()
        .iter()
        .filter(|record| record["msg"] == "process started" && record["process"] == process)
        .map(time_ms)
        .collect()
}

#[test]
fn crash_loop_backs_off_then_goes_fatal() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
global:
  restart_backoff_initial: 100ms
  restart_backoff_max: 400ms
  max_restart_attempts: 4
  restart_reset_after: 30s
processes:
  crasher:
    command: ["sh", "-c", "exit 1"]
"#,
    );
    let fatal = pm.wait_event(
        "process is fatal: out of restart attempts",
        Some("crasher"),
        LONG,
    );
    assert!(fatal.is_some(), "never fatal\n{}", pm.transcript());
    assert_eq!(
        pm.wait(LONG),
        Some(3),
        "exit code after a fatal process\n{}",
        pm.transcript()
    );

    let starts = started_times(&pm, "crasher");
    assert_eq!(
        starts.len(),
        5,
        "one start plus four restarts\n{}",
        pm.transcript()
    );
    let gaps: Vec<i64> = starts.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let expected = [100, 200, 400, 400];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            *gap >= want,
            "gap {gap} ms shorter than backoff {want} ms: {gaps:?}"
        );
        assert!(
            *gap < want + 150,
            "gap {gap} ms much longer than backoff {want} ms: {gaps:?}"
        );
    }
}

#[test]
fn long_runs_between_crashes_never_go_fatal() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
global:
  restart_backoff_initial: 50ms
  restart_backoff_max: 50ms
  max_restart_attempts: 1
  restart_reset_after: 200ms
processes:
  flaky:
    command: ["sh", "-c", "sleep 0.3; exit 1"]
"#,
    );
    let enough = eventually(LONG, || started_times(&pm, "flaky").len() >= 5);
    assert!(enough, "fewer than 5 starts\n{}", pm.transcript());
    let fatal = pm
        .stdout
        .count(|record| record["msg"] == "process is fatal: out of restart attempts");
    assert_eq!(fatal, 0, "became fatal\n{}", pm.transcript());
    pm.terminate(LONG);
}

#[test]
fn exit_status_is_recorded_every_time() {
    let dir = Dir::new();
    let pm = Pm::start(
        &dir,
        r#"
global:
  restart_backoff_initial: 10ms
  restart_backoff_max: 10ms
  max_restart_attempts: 0
processes:
  seven:
    command: ["sh", "-c", "exit 7"]
"#,
    );
    let codes = pm.stdout.exit_codes("seven", 30, LONG);

    let codes = codes.unwrap_or_else(|| panic!("fewer than 30 exits\n{}", pm.transcript()));
    assert!(codes.iter().all(|code| *code == 7), "codes: {codes:?}");
}

#[test]
fn term_ignoring_tree_is_killed_after_stop_timeout() {
    let dir = Dir::new();
    let marker = support::unique_marker().to_string();
    let config = format!(
        r#"
global:
  shutdown_timeout: 20
processes:
  stubborn:
    command: ["sh", "-c", "trap '' TERM; sh -c 'trap \"\" TERM; exec sleep {marker}1' & exec sleep {marker}2"]
    shutdown:
      signal: TERM
      timeout: 1s
"#
    );
    let mut pm = Pm::start(&dir, &config);
    let both_up = eventually(LONG, || {
        pids_with_cmdline(&format!("sleep {marker}")).len() == 2
    });
    assert!(both_up, "tree never started\n{}", pm.transcript());

    let stop_sent = std::time::Instant::now();
    pm.terminate(LONG);
    let took = stop_sent.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "exited before the stop timeout: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1800),
        "exited long after the stop timeout: {took:?}"
    );
    assert!(
        pids_with_cmdline(&format!("sleep {marker}")).is_empty(),
        "survivors left"
    );
}

#[test]
fn output_lines_arrive_whole_and_in_order() {
    let dir = Dir::new();
    let config = r#"
processes:
  talker:
    type: oneshot
    command:
      - sh
      - -c
      - |
        seq 1 100000
        printf '\377\376 broken utf8\n'
        head -c 1048576 /dev/zero | tr '\0' a; echo
        printf 'no newline at the end'
"#;
    let mut pm = Pm::start(&dir, config);
    assert_eq!(
        pm.wait(Duration::from_secs(60)),
        Some(0),
        "{}",
        pm.transcript()
    );

    let records = pm.stdout.records();
    let child: Vec<&serde_json::Value> = records
        .iter()
        .filter(|record| record["process"] == "talker")
        .collect();
    let numbers: Vec<String> = child
        .iter()
        .filter(|record| record["stream"] == "stdout")
        .map(|record| record["msg"].as_str().expect("msg").to_owned())
        .take(100_000)
        .collect();
    let expected: Vec<String> = (1..=100_000).map(|n| n.to_string()).collect();
    assert_eq!(
        numbers, expected,
        "numbered lines lost, duplicated or reordered"
    );

    let broken = child.iter().find(|record| {
        record["msg"]
            .as_str()
            .is_some_and(|msg| msg.ends_with(" broken utf8"))
    });
    assert!(broken.is_some(), "invalid UTF-8 line was dropped");
    let long_total: usize = child
        .iter()
        .filter(|record| record["truncated"] == true)
        .map(|record| record["msg"].as_str().expect("msg").len())
        .sum();
    assert_eq!(long_total, 1_048_576, "the 1 MiB line lost bytes");
    let last = child
        .iter()
        .rev()
        .find(|record| record["stream"] == "stdout")
        .expect("records");
    assert_eq!(last["msg"], "no newline at the end");
}
