//! Start order, dependencies, hooks, health checks and signals.

mod support;

use std::time::{Duration, Instant};

use support::{eventually, pids_with_cmdline, Dir, Pm};

const LONG: Duration = Duration::from_secs(10);

fn index_of(pm: &Pm, msg: &str, process: &str) -> usize {
    pm.stdout
        .records()
        .iter()
        .position(|record| record["msg"] == msg && record["process"] == process)
        .unwrap_or_else(|| panic!("no `{msg}` for {process}\n{}", pm.transcript()))
}

#[test]
fn oneshot_dependency_must_complete_first() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
processes:
  migrate:
    type: oneshot
    command: ["sh", "-c", "sleep 0.3; echo migrated"]
  web:
    command: ["sleep", "60"]
    depends_on: [migrate]
"#,
    );
    assert!(
        pm.wait_event("process started", Some("web"), LONG)
            .is_some(),
        "{}",
        pm.transcript()
    );
    let migrated = pm
        .stdout
        .records()
        .iter()
        .position(|record| record["msg"] == "migrated");
    assert!(migrated.is_some_and(|at| at < index_of(&pm, "process started", "web")));
    pm.terminate(LONG);
}

#[test]
fn failed_oneshot_dependency_fails_the_start() {
    let dir = Dir::new();
    let marker = dir.join("web-ran");
    let config = format!(
        r#"
processes:
  migrate:
    type: oneshot
    command: ["sh", "-c", "exit 4"]
  web:
    command: ["touch", "{}"]
    depends_on: [migrate]
"#,
        marker.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert_eq!(pm.wait(LONG), Some(1), "{}", pm.transcript());
    assert!(
        !marker.exists(),
        "dependent ran although its dependency failed"
    );
}

#[test]
fn dependency_timeout_fails_the_start() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
global:
  dependency_timeout: 300ms
processes:
  db:
    command: ["sleep", "60"]
    health_check:
      type: exec
      command: ["false"]
      period: 100ms
      failure_threshold: 100
  app:
    command: ["sleep", "60"]
    depends_on:
      db: healthy
"#,
    );
    assert_eq!(pm.wait(LONG), Some(1), "{}", pm.transcript());
    let failed = pm.stdout.count(|record| {
        record["msg"] == "process could not start"
            && record["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("timed out"))
    });
    assert_eq!(failed, 1, "{}", pm.transcript());
    assert_eq!(
        pm.stdout
            .count(|record| record["msg"] == "process started" && record["process"] == "app"),
        0
    );
}

#[test]
fn priority_orders_independent_starts_and_reverses_stops() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
processes:
  late:
    command: ["sleep", "60"]
    priority: 30
  early:
    command: ["sleep", "60"]
    priority: 10
  middle:
    command: ["sleep", "60"]
    priority: 20
"#,
    );
    assert!(pm
        .wait_event("process started", Some("late"), LONG)
        .is_some());
    let starts = [
        index_of(&pm, "process started", "early"),
        index_of(&pm, "process started", "middle"),
        index_of(&pm, "process started", "late"),
    ];
    assert!(
        starts[0] < starts[1] && starts[1] < starts[2],
        "start order {starts:?}"
    );
    pm.terminate(LONG);
    let stops = [
        index_of(&pm, "stopping process", "late"),
        index_of(&pm, "stopping process", "middle"),
        index_of(&pm, "stopping process", "early"),
    ];
    assert!(
        stops[0] < stops[1] && stops[1] < stops[2],
        "stop order {stops:?}"
    );
}

#[test]
fn failing_pre_start_hook_aborts_before_any_process() {
    let dir = Dir::new();
    let marker = dir.join("web-ran");
    let config = format!(
        r#"
hooks:
  pre-start:
    - name: flaky
      command: ["sh", "-c", "echo attempt >> {attempts}; exit 5"]
      retry: 2
      retry_delay: 10ms
processes:
  web:
    command: ["touch", "{marker}"]
"#,
        attempts = dir.join("attempts").display(),
        marker = marker.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert_eq!(pm.wait(LONG), Some(1), "{}", pm.transcript());
    assert!(!marker.exists());
    let attempts = std::fs::read_to_string(dir.join("attempts")).expect("attempts file");
    assert_eq!(attempts.lines().count(), 3, "one try plus two retries");
}

#[test]
fn continue_on_error_hook_lets_start_go_on() {
    let dir = Dir::new();
    let mut pm = Pm::start(
        &dir,
        r#"
hooks:
  pre-start:
    - name: optional
      command: ["false"]
      continue_on_error: true
processes:
  web:
    command: ["sleep", "60"]
"#,
    );
    assert!(
        pm.wait_event("process started", Some("web"), LONG)
            .is_some(),
        "{}",
        pm.transcript()
    );
    pm.terminate(LONG);
}

#[test]
fn hung_hook_is_killed_at_its_timeout() {
    let dir = Dir::new();
    let marker = support::unique_marker();
    let config = format!(
        r#"
hooks:
  pre-start:
    - name: hangs
      command: ["sleep", "{marker}"]
      timeout: 300ms
processes:
  web:
    command: ["sleep", "60"]
"#
    );
    let started = Instant::now();
    let mut pm = Pm::start(&dir, &config);
    assert_eq!(pm.wait(LONG), Some(1), "{}", pm.transcript());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(pids_with_cmdline(&format!("sleep {marker}")).is_empty());
}

#[test]
fn environment_reaches_instances() {
    let dir = Dir::new();
    let out = dir.join("env-");
    let config = format!(
        r#"
processes:
  worker:
    command: ["sh", "-c", "echo \"$PHPEEK_PM_PROCESS_NAME $PHPEEK_PM_INSTANCE_ID $FROM_CONFIG $FROM_CONTAINER\" > {out}$PHPEEK_PM_INSTANCE_ID; sleep 60"]
    scale: 2
    env:
      FROM_CONFIG: config-value
"#,
        out = out.display()
    );
    let path = dir.write("phpeek-pm.yaml", &config);
    let mut pm = Pm::start_with(
        std::process::Command::new(support::binary())
            .arg("-c")
            .arg(path)
            .env("FROM_CONTAINER", "container-value"),
    );
    let both = eventually(LONG, || {
        dir.join("env-worker-1").exists() && dir.join("env-worker-0").exists()
    });
    assert!(both, "{}", pm.transcript());
    let first = std::fs::read_to_string(dir.join("env-worker-0")).expect("read");
    assert_eq!(first.trim(), "worker worker-0 config-value container-value");
    let second = std::fs::read_to_string(dir.join("env-worker-1")).expect("read");
    assert_eq!(
        second.trim(),
        "worker worker-1 config-value container-value"
    );
    pm.terminate(LONG);
}

#[test]
fn api_token_is_not_inherited_by_children() {
    let dir = Dir::new();
    let out = dir.join("seen-");
    let port = support::free_port();
    // `$${` keeps the config loader from substituting the references.
    let show = "echo \\\"$${PHPEEK_PM_API_TOKEN-none} $${PHPEEK_PM_API_AUTH-none} $${PHPEEK_PM_GLOBAL_API_AUTH-none}\\\"";
    let config = format!(
        r#"
global:
  api_enabled: true
  api_port: {port}
processes:
  web:
    command: ["sh", "-c", "{show} > {out}web; sleep 60"]
  ctl-user:
    command: ["sh", "-c", "{show} > {out}ctl-user; sleep 60"]
    env:
      PHPEEK_PM_API_TOKEN: given-in-config
"#,
        out = out.display()
    );
    let path = dir.write("phpeek-pm.yaml", &config);
    let mut pm = Pm::start_with(
        std::process::Command::new(support::binary())
            .arg("-c")
            .arg(path)
            .env("PHPEEK_PM_API_TOKEN", "from-container-1")
            .env("PHPEEK_PM_API_AUTH", "from-container-1")
            .env("PHPEEK_PM_GLOBAL_API_AUTH", "from-container-1"),
    );
    let both = eventually(LONG, || {
        dir.join("seen-web").exists() && dir.join("seen-ctl-user").exists()
    });
    assert!(both, "{}", pm.transcript());

    let web = std::fs::read_to_string(dir.join("seen-web")).expect("read");
    assert_eq!(web.trim(), "none none none");
    let ctl_user = std::fs::read_to_string(dir.join("seen-ctl-user")).expect("read");
    assert_eq!(ctl_user.trim(), "given-in-config none none");
    pm.terminate(LONG);
}

#[test]
fn unhealthy_process_is_restarted_with_reason_health() {
    let dir = Dir::new();
    let flag = dir.join("healthy");
    let config = format!(
        r#"
processes:
  api:
    command: ["sh", "-c", "touch {flag}; exec sleep 60"]
    health_check:
      type: exec
      command: ["test", "-e", "{flag}"]
      period: 100ms
      failure_threshold: 2
"#,
        flag = flag.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(
        pm.wait_event("process is healthy", Some("api"), LONG)
            .is_some(),
        "{}",
        pm.transcript()
    );
    std::fs::remove_file(&flag).expect("remove flag");
    let failed = pm.wait_event("health check failed", Some("api"), LONG);
    assert!(failed.is_some(), "{}", pm.transcript());
    let restart = pm.wait_event("restart scheduled", Some("api"), LONG);
    let restart = restart.unwrap_or_else(|| panic!("no restart\n{}", pm.transcript()));
    assert_eq!(restart["reason"], "health");
    let restarted = eventually(LONG, || {
        pm.stdout
            .count(|record| record["msg"] == "process started" && record["process"] == "api")
            == 2
    });
    assert!(restarted, "{}", pm.transcript());
    pm.terminate(LONG);
}

#[test]
fn restart_never_warns_once_per_unhealthy_spell() {
    let dir = Dir::new();
    let flag = dir.join("healthy");
    let config = format!(
        r#"
processes:
  api:
    command: ["sleep", "60"]
    restart: never
    health_check:
      type: exec
      command: ["test", "-e", "{flag}"]
      period: 100ms
      failure_threshold: 2
"#,
        flag = flag.display()
    );
    let mut pm = Pm::start(&dir, &config);
    let warnings = |msg: &str| {
        let msg = msg.to_owned();
        move |record: &serde_json::Value| record["msg"] == msg.as_str() && record["level"] == "WARN"
    };
    let failed = warnings("health check failed");
    let left = warnings("unhealthy instance left running because of restart: never");

    // Unhealthy from the start: probed about every 100 ms for 2 s.
    assert!(pm
        .wait_event("health check failed", Some("api"), LONG)
        .is_some());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pm.stdout.count(&failed), 1, "{}", pm.transcript());
    assert_eq!(pm.stdout.count(&left), 1, "{}", pm.transcript());

    // A recovery and a new failure are reported again.
    std::fs::write(&flag, "").expect("create flag");
    assert!(pm
        .wait_event("process is healthy", Some("api"), LONG)
        .is_some());
    std::fs::remove_file(&flag).expect("remove flag");
    let failed_again = eventually(LONG, || pm.stdout.count(&failed) == 2);
    assert!(failed_again, "{}", pm.transcript());
    pm.terminate(LONG);
}

#[test]
fn hup_is_forwarded_to_children() {
    let dir = Dir::new();
    let got = dir.join("got-hup");
    let config = format!(
        r#"
processes:
  reloadable:
    command: ["sh", "-c", "trap 'touch {got}' HUP; while true; do sleep 0.05; done"]
"#,
        got = got.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(pm
        .wait_event("process started", Some("reloadable"), LONG)
        .is_some());
    // The shell needs a moment to install its trap; keep sending until seen.
    let seen = eventually(LONG, || {
        pm.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(50));
        got.exists()
    });
    assert!(seen, "HUP never reached the child\n{}", pm.transcript());
    pm.terminate(LONG);
}

#[test]
fn second_sigterm_kills_without_waiting() {
    let dir = Dir::new();
    let marker = support::unique_marker();
    let config = format!(
        r#"
processes:
  stubborn:
    command: ["sh", "-c", "trap '' TERM; exec sleep {marker}"]
    shutdown:
      timeout: 30
"#
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(eventually(LONG, || !pids_with_cmdline(&format!(
        "sleep {marker}"
    ))
    .is_empty()));
    pm.signal(libc::SIGTERM);
    assert!(pm
        .wait_event("stopping process", Some("stubborn"), LONG)
        .is_some());
    let second = Instant::now();
    pm.terminate(LONG);
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        second.elapsed()
    );
    assert!(pids_with_cmdline(&format!("sleep {marker}")).is_empty());
}

#[test]
fn global_shutdown_timeout_bounds_the_stop() {
    let dir = Dir::new();
    let marker = support::unique_marker();
    let config = format!(
        r#"
global:
  shutdown_timeout: 500ms
processes:
  stubborn:
    command: ["sh", "-c", "trap '' TERM; exec sleep {marker}"]
    shutdown:
      timeout: 30
"#
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(eventually(LONG, || !pids_with_cmdline(&format!(
        "sleep {marker}"
    ))
    .is_empty()));
    let stop = Instant::now();
    pm.terminate(LONG);
    let took = stop.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

#[test]
fn sigterm_during_start_spawns_nothing_more() {
    let dir = Dir::new();
    let marker = dir.join("late-ran");
    let config = format!(
        r#"
processes:
  slow:
    command: ["sleep", "60"]
    health_check:
      type: exec
      command: ["false"]
      period: 1s
      failure_threshold: 100
  late:
    command: ["touch", "{}"]
    depends_on:
      slow: healthy
"#,
        marker.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(pm
        .wait_event("process started", Some("slow"), LONG)
        .is_some());
    pm.terminate(LONG);
    assert!(!marker.exists(), "a process was spawned after SIGTERM");
}

#[test]
fn runs_as_configured_user() {
    if !nix_is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let dir = Dir::new();
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let out = shared.join("ids");
    let config = format!(
        r#"
processes:
  unprivileged:
    type: oneshot
    command: ["sh", "-c", "id -u > {out}; id -g >> {out}"]
    user: nobody
"#,
        out = out.display()
    );
    let mut pm = Pm::start(&dir, &config);
    assert_eq!(pm.wait(LONG), Some(0), "{}", pm.transcript());
    let ids = std::fs::read_to_string(out).expect("ids written");
    let nobody = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .expect("id");
    assert_eq!(
        ids.lines().next(),
        Some(String::from_utf8_lossy(&nobody.stdout).trim())
    );
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
