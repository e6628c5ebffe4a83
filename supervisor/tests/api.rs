//! The management API of the real binary: authentication, the refusal of
//! a public bind without a token, scaling through the API and through
//! `phpeek-pm ctl`, and recent logs.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::{api_json, eventually, free_port, pids_with_cmdline, wait_for_port, Dir, Pm};

const LONG: Duration = Duration::from_secs(20);
const TOKEN: &str = "test-token-0123";

struct Running {
    pm: Pm,
    api: u16,
    dir: Dir,
}

fn start(token: Option<&str>, processes: &str) -> Running {
    let dir = Dir::new();
    let api = free_port();
    let auth = token
        .map(|token| format!("  api_auth: {token}\n"))
        .unwrap_or_default();
    let config = format!(
        "global:\n  shutdown_timeout: 10\n  metrics_enabled: false\n  api_enabled: true\n  \
         api_port: {api}\n{auth}processes:\n{processes}"
    );
    let pm = Pm::start(&dir, &config);
    assert!(wait_for_port(api, LONG), "{}", pm.transcript());
    Running { pm, api, dir }
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
fn token_is_required_and_compared() {
    let running = start(Some(TOKEN), "  web:\n    command: [sleep, '1000']\n");
    let path = "/api/v1/processes";

    let (status, body) = api_json(running.api, "GET", path, None, None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized");
    let (status, _) = api_json(running.api, "GET", path, Some("test-token-0124"), None);
    assert_eq!(status, 401);
    let (status, body) = api_json(running.api, "GET", path, Some(TOKEN), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["processes"][0]["name"], "web");
    stop(running);
}

#[test]
fn public_bind_without_token_does_not_start() {
    let dir = Dir::new();
    let config = "global:\n  api_enabled: true\n  api_address: 0.0.0.0\n  api_port: 9180\n\
                  processes:\n  web:\n    command: [sleep, '1000']\n";
    let mut pm = Pm::start(&dir, config);

    assert_eq!(pm.wait(LONG), Some(2), "{}", pm.transcript());
    let stderr = pm.stderr.all().join("\n");
    assert!(stderr.contains("global.api_address"), "{stderr}");
    assert!(stderr.contains("api_auth"), "{stderr}");
    assert!(stderr.contains("PHPEEK_PM_API_TOKEN"), "{stderr}");
}

/// Returns the config of a queue worker: a shell that records its TERM in
/// `<dir>/stopped-<id>`.
fn queue_config(dir: &Path, marker: &str) -> String {
    format!(
        "  queue-default:\n    command: [sh, -c, 'trap \"echo term > {dir}/stopped-$PHPEEK_PM_INSTANCE_ID; \
         exit 0\" TERM; while :; do sleep 0.05; done', {marker}]\n    max_scale: 5\n    \
         shutdown:\n      timeout: 5\n",
        dir = dir.display()
    )
}

fn instances(running: &Running) -> Vec<Value> {
    let path = "/api/v1/processes/queue-default";
    let (status, body) = api_json(running.api, "GET", path, Some(TOKEN), None);
    assert_eq!(status, 200, "{body}");
    body["process"]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Checks that exactly `count` instances run, in the API and in /proc.
fn assert_running(running: &Running, marker: &str, count: usize) {
    let settled = eventually(LONG, || {
        let listed = instances(running);
        listed.len() == count
            && listed.iter().all(|instance| instance["state"] == "running")
            && pids_with_cmdline(marker)
                .iter()
                .filter(|pid| support::stat_field(**pid, 0).as_deref() != Some("Z"))
                .count()
                == count
    });
    let listed = instances(running);
    assert!(
        settled,
        "want {count}: {listed:?}\n{}",
        running.pm.transcript()
    );
    let shells = pids_with_cmdline(marker);
    for instance in &listed {
        let pid = instance["pid"].as_i64().expect("pid") as i32;
        assert!(shells.contains(&pid), "{pid} not in {shells:?}");
    }
    let ids: Vec<&str> = listed.iter().filter_map(|i| i["id"].as_str()).collect();
    let expected: Vec<String> = (0..count).map(|i| format!("queue-default-{i}")).collect();
    assert_eq!(ids, expected);
}

fn stopped_files(dir: &Dir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&dir.path)
        .expect("read test dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("stopped-"))
        .collect();
    names.sort();
    names
}

fn clear_stopped_files(dir: &Dir) {
    for name in stopped_files(dir) {
        std::fs::remove_file(dir.join(&name)).expect("remove marker file");
    }
}

fn ctl(running: &Running, args: &[&str]) -> Output {
    Command::new(support::binary())
        .arg("ctl")
        .args(args)
        .env(
            "PHPEEK_PM_API_URL",
            format!("http://127.0.0.1:{}", running.api),
        )
        .env("PHPEEK_PM_API_TOKEN", TOKEN)
        .output()
        .expect("run phpeek-pm ctl")
}

#[test]
fn scale_through_api_and_ctl_stops_highest_instances() {
    let marker = format!("queue-marker-{}", free_port());
    let dir = Dir::new();
    let processes = queue_config(&dir.path, &marker);
    let mut running = start(Some(TOKEN), &processes);
    running.dir = dir;
    assert_running(&running, &marker, 1);

    let scale = |replicas: u32| {
        let body = format!("{{\"replicas\": {replicas}}}");
        let path = "/api/v1/processes/queue-default/scale";
        api_json(running.api, "POST", path, Some(TOKEN), Some(&body))
    };
    let (status, body) = scale(3);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous_scale"], 1);
    assert_running(&running, &marker, 3);

    let (status, body) = scale(1);
    assert_eq!(status, 200, "{body}");
    assert_running(&running, &marker, 1);
    let expected = ["stopped-queue-default-1", "stopped-queue-default-2"];
    assert!(eventually(LONG, || stopped_files(&running.dir) == expected));
    assert_eq!(stopped_files(&running.dir), expected);
    clear_stopped_files(&running.dir);

    let output = ctl(&running, &["scale", "queue-default", "3"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout, "queue-default: scaled from 1 to 3\n");
    assert_running(&running, &marker, 3);
    let output = ctl(&running, &["status"]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("queue-default-2"), "{table}");

    let output = ctl(&running, &["scale", "queue-default", "-2"]);
    assert!(output.status.success(), "{output:?}");
    assert_running(&running, &marker, 1);
    assert!(eventually(LONG, || stopped_files(&running.dir) == expected));
    assert_eq!(stopped_files(&running.dir), expected);

    let output = ctl(&running, &["scale", "queue-default", "9"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("between 1 and 5"), "{stderr}");
    assert!(stderr.contains("422"), "{stderr}");
    stop(running);
}

#[test]
fn stop_start_restart_and_errors() {
    let running = start(
        Some(TOKEN),
        "  web:\n    command: [sleep, '1000']\n  migrate:\n    type: oneshot\n    command: ['true']\n",
    );
    let post =
        |path: &str, body: Option<&str>| api_json(running.api, "POST", path, Some(TOKEN), body);

    let (status, body) = post("/api/v1/processes/web/stop", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["process"]["state"], "stopped");
    let (status, body) = post("/api/v1/processes/web/stop", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "already_stopped");
    let (status, body) = post("/api/v1/processes/web/start", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = post("/api/v1/processes/web/start", None);
    assert_eq!(
        (status, body["code"].clone()),
        (409, "already_running".into())
    );
    let (status, body) = post("/api/v1/processes/web/restart", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["process"]["restarts"]["manual"], 1);

    let (status, body) = post("/api/v1/processes/nope/stop", None);
    assert_eq!((status, body["code"].clone()), (404, "not_found".into()));
    let (status, body) = post("/api/v1/processes/migrate/scale", Some("{\"replicas\": 2}"));
    assert_eq!((status, body["code"].clone()), (422, "not_scalable".into()));
    let (status, body) = post("/api/v1/processes/web/scale", Some("{\"replicas\": 0}"));
    assert_eq!((status, body["code"].clone()), (422, "out_of_range".into()));
    let (status, _) = post("/api/v1/processes/web/scale", Some("{\"replicas\": "));
    assert_eq!(status, 400);
    let (status, _) = post("/api/v1/processes/web/scale", Some("{\"count\": 2}"));
    assert_eq!(status, 400);
    let (status, body) = api_json(
        running.api,
        "DELETE",
        "/api/v1/processes/web",
        Some(TOKEN),
        None,
    );
    assert_eq!(
        (status, body["code"].clone()),
        (405, "method_not_allowed".into())
    );
    stop(running);
}

#[test]
fn logs_return_recent_output() {
    let running = start(
        None,
        "  talker:\n    command: [sh, -c, 'for i in 1 2 3 4 5; do echo line-$i; done; exec sleep 1000']\n",
    );
    let path = "/api/v1/processes/talker/logs?limit=2";
    let arrived = eventually(LONG, || {
        let (_, body) = api_json(running.api, "GET", path, None, None);
        body["count"] == 2
            && body["lines"][1]
                .as_str()
                .is_some_and(|l| l.contains("line-5"))
    });
    let (status, body) = api_json(running.api, "GET", path, None, None);
    assert!(arrived, "{body}");
    assert_eq!(status, 200);
    let record: Value =
        serde_json::from_str(body["lines"][0].as_str().expect("line")).expect("JSON record");
    assert_eq!(record["msg"], "line-4");
    assert_eq!(record["process"], "talker");

    let output = Command::new(support::binary())
        .args(["ctl", "logs", "talker", "-n", "1"])
        .env(
            "PHPEEK_PM_API_URL",
            format!("http://127.0.0.1:{}", running.api),
        )
        .output()
        .expect("run phpeek-pm ctl");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("line-5"),
        "{output:?}"
    );
    stop(running);
}

#[test]
fn schedule_trigger_pause_and_resume() {
    let dir_marker = support::unique_marker();
    let running = start(
        Some(TOKEN),
        &format!(
            "  web:\n    command: [sleep, '1000']\n  report:\n    \
             command: [sh, -c, 'touch /tmp/phpeek-trigger-{dir_marker}']\n    \
             schedule: '@every 1h'\n"
        ),
    );
    let ran = std::path::PathBuf::from(format!("/tmp/phpeek-trigger-{dir_marker}"));
    let post = |path: &str| api_json(running.api, "POST", path, Some(TOKEN), None);

    let (status, body) = api_json(
        running.api,
        "GET",
        "/api/v1/processes/report",
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["process"]["type"], "scheduled", "{body}");
    let (status, body) = post("/api/v1/processes/report/schedule/trigger");
    assert_eq!(status, 202, "{body}");
    assert!(
        support::eventually(LONG, || ran.exists()),
        "triggered run never ran"
    );
    let _ = std::fs::remove_file(&ran);

    let (status, body) = post("/api/v1/processes/report/schedule/pause");
    assert_eq!(status, 200, "{body}");
    let (status, body) = post("/api/v1/processes/report/schedule/pause");
    assert_eq!(
        (status, body["code"].clone()),
        (409, "already_paused".into())
    );
    let (status, body) = post("/api/v1/processes/report/schedule/resume");
    assert_eq!(status, 200, "{body}");
    let (status, body) = post("/api/v1/processes/web/schedule/trigger");
    assert_eq!(status, 404, "{body}");
    let (status, body) = post("/api/v1/processes/report/scale");
    assert!(status == 400 || status == 422, "{status} {body}");

    // Without --url and --token, ctl takes both from the config file.
    let status = Command::new(support::binary())
        .args(["ctl", "-c"])
        .arg(running.dir.join("phpeek-pm.yaml"))
        .args(["status", "--json"])
        .env_remove("PHPEEK_PM_API_URL")
        .env_remove("PHPEEK_PM_API_TOKEN")
        .output()
        .expect("run phpeek-pm ctl");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("\"report\""));
    stop(running);
}
