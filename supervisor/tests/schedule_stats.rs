//! Scheduled task statistics read through the library while the supervisor
//! runs. This is its own test binary because the supervisor installs
//! process-wide signal handlers and becomes a child subreaper.

use std::time::Duration;

use phpeek::config::{load_str, ProcessEnv};
use phpeek::output::{Output, OutputSettings, OutputTarget};
use phpeek::schedule::ScheduleStats;

#[test]
fn stats_count_runs_failures_and_skips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran-once");
    let config = format!(
        r#"
processes:
  flaky:
    command: ["sh", "-c", "[ -e {marker} ] && exit 3; touch {marker}"]
    schedule: "@every 1s"
  slow:
    command: ["sleep", "2.5"]
    schedule: "@every 1s"
"#,
        marker = marker.display()
    );
    let loaded = load_str(&config, "stats.yaml", &ProcessEnv).expect("valid config");
    let null = std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    let output = Output::start(OutputSettings {
        target: OutputTarget::Fd(null.into()),
        ..OutputSettings::default()
    })
    .expect("start output");
    let stats = ScheduleStats::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let reader = stats.clone();
    let (during, after) = runtime.block_on(async move {
        let supervisor = tokio::spawn(phpeek::supervisor::run_with_stats(
            loaded.config,
            output.handle(),
            stats,
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let flaky = reader.task("flaky").unwrap_or_default();
            let slow = reader.task("slow").unwrap_or_default();
            if flaky.runs >= 3 && flaky.running == 0 && slow.skips >= 1 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                reader.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let during = reader.snapshot();
        // SAFETY: kill only sends a signal to this process, whose SIGTERM
        // handler the supervisor installed.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        let code = supervisor.await.expect("join").expect("run");
        assert_eq!(code, phpeek::ExitCode::Success);
        (during, reader.snapshot())
    });

    let flaky = &during["flaky"];
    assert!(flaky.runs >= 3, "{flaky:?}");
    assert_eq!(flaky.successes, 1, "{flaky:?}");
    assert_eq!(flaky.failures, flaky.runs - 1, "{flaky:?}");
    assert_eq!(flaky.last_exit_code, Some(3));
    assert!(flaky.last_start.is_some());
    assert!(flaky
        .last_duration
        .is_some_and(|duration| duration < Duration::from_secs(2)));
    assert!(flaky.next_run.is_some());
    assert_eq!(flaky.skips, 0);

    let slow = &during["slow"];
    assert!(slow.skips >= 1, "{slow:?}");
    assert_eq!(after["flaky"].next_run, None);
    assert_eq!(after["slow"].running, 0);
}
