//! The Laravel fixture (tests/fixtures/laravel, Laravel 8 from Debian's
//! php-laravel-framework) started by the real entrypoint in full mode:
//! caches, migrations, a Blade page through nginx and php-fpm, two queue
//! workers that run a job a route dispatched, and the scheduler.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{get, path_text, wait_until_serving, Sandbox};

/// A fixed APP_KEY: "base64:" and 32 bytes in base64, as AES-256-CBC needs.
const APP_KEY: &str = "base64:cGhwZWVrLWxhcmF2ZWwtZml4dHVyZS10ZXN0LWtleSE=";

/// The framework's entry point in Debian's php-laravel-framework.
const LARAVEL_AUTOLOAD: &str = "/usr/share/php/Illuminate/autoload.php";

/// Returns whether the Debian packages the fixture needs are installed, and
/// prints why the test is skipped when they aren't.
fn has_laravel() -> bool {
    let found = Path::new(LARAVEL_AUTOLOAD).is_file();
    if !found {
        eprintln!(
            "skipped: {LARAVEL_AUTOLOAD} not found (install the Laravel packages in \
             tests/fixtures/packages.txt)"
        );
    }
    found
}

/// Polls until a line of `path` starts with `prefix`, or the timeout
/// passes.
fn wait_for_line(path: &Path, prefix: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let contents = std::fs::read_to_string(path).unwrap_or_default();
        if contents.lines().any(|line| line.starts_with(prefix)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Returns the names of the tables in the SQLite database, read with PHP's
/// PDO, which the fixture needs anyway.
fn sqlite_tables(database: &Path) -> String {
    let code = "$db = new PDO('sqlite:' . $argv[1]); \
                $names = $db->query(\"SELECT name FROM sqlite_master WHERE type = 'table' \
                ORDER BY name\")->fetchAll(PDO::FETCH_COLUMN); \
                echo implode(' ', $names);";
    let output = std::process::Command::new("php")
        .args(["-r", code])
        .arg(database)
        .output()
        .expect("run php");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns whether the phpeek-pm log has a `process started` record for
/// `instance`.
fn instance_started(log: &str, instance: &str) -> bool {
    let id = format!("\"instance_id\":\"{instance}\"");
    log.lines()
        .any(|line| line.contains("\"msg\":\"process started\"") && line.contains(&id))
}

/// Returns the uid that hooks and workers run as: www-data's as root, else
/// the test's own.
fn app_uid() -> u32 {
    if support::is_root() {
        let user = nix::unistd::User::from_name("www-data").ok().flatten();
        user.map_or(0, |user| user.uid.as_raw())
    } else {
        nix::unistd::Uid::effective().as_raw()
    }
}

fn owner(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|metadata| metadata.uid())
}

#[test]
fn laravel_fixture_serves_migrates_and_runs_jobs() {
    let Some(pm) = support::phpeek_pm() else {
        support::skip_without_phpeek_pm();
        return;
    };
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() || !has_laravel() {
        return;
    }
    let app = sandbox.path("app");
    std::fs::remove_dir_all(&app).expect("remove the empty app");
    support::copy_tree(&support::repo_dir().join("tests/fixtures/laravel"), &app);
    sandbox
        .set("PHPEEK_PM_BIN", &path_text(&pm))
        .set("PHPEEK_PROCESS_MANAGER", "phpeek-pm")
        .set("LARAVEL_OPTIMIZE_CONFIG", "true")
        .set("LARAVEL_OPTIMIZE_ROUTE", "true")
        .set("LARAVEL_OPTIMIZE_VIEW", "true")
        .set("LARAVEL_MIGRATE_ENABLED", "true")
        .set("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true")
        .set("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "2")
        .set("QUEUE_CONNECTION", "database")
        .set("DB_CONNECTION", "sqlite")
        .set("APP_KEY", APP_KEY)
        .set("LARAVEL_SCHEDULER", "true")
        // Every 2 seconds instead of every minute, so the test needn't wait.
        .set("PHPEEK_PM_PROCESS_SCHEDULER_SCHEDULE", "*/2 * * * * *");
    let port: u16 = sandbox.var("NGINX_HTTP_PORT").parse().expect("port");
    let mut child = sandbox.spawn_logged("stack.log");
    let transcript = || sandbox.read("stack.log");

    let serving = wait_until_serving(port, Duration::from_secs(60));
    let page = get(port, "/");
    let tag = format!("job-{}", std::process::id());
    let dispatch = get(port, &format!("/dispatch/{tag}"));
    let jobs_log = app.join("storage/logs/jobs.log");
    let job_ran = wait_for_line(&jobs_log, &tag, Duration::from_secs(30));
    let schedule_log = app.join("storage/logs/schedule.log");
    let ticked = wait_for_line(&schedule_log, "tick ", Duration::from_secs(30));
    let code = support::stop(&mut child);

    let log = transcript();
    assert!(serving, "never served GET /:\n{log}");
    let (status, _, body) = page.expect("GET /");
    assert_eq!(status, 200, "{body}\n{log}");
    assert!(body.contains("phpeek-laravel-fixture-ok"), "{body}");
    assert!(body.contains("Laravel 8."), "{body}");
    // The body is chunked, so it is searched, not compared.
    let (status, _, body) = dispatch.expect("GET /dispatch");
    assert_eq!(status, 200, "{body}\n{log}");
    assert!(body.contains(&format!("dispatched {tag}\n")), "{body}");
    assert!(
        job_ran,
        "{tag} never reached {}:\n{log}",
        jobs_log.display()
    );
    assert!(instance_started(&log, "queue-default-0"), "{log}");
    assert!(instance_started(&log, "queue-default-1"), "{log}");
    assert!(!instance_started(&log, "queue-default-2"), "{log}");
    assert!(ticked, "schedule:run never ran the fixture's task:\n{log}");
    assert_eq!(owner(&schedule_log), Some(app_uid()));
    assert_eq!(code, Some(0), "phpeek-pm did not stop cleanly:\n{log}");

    for cache in ["config.php", "routes-v7.php"] {
        let path = app.join("bootstrap/cache").join(cache);
        assert!(path.is_file(), "{cache} missing:\n{log}");
        assert_eq!(owner(&path), Some(app_uid()), "{cache}");
    }
    for hook in ["config-cache", "route-cache", "view-cache", "migrate"] {
        let finished = format!("\"msg\":\"hook finished\",\"hook\":\"{hook}\"");
        assert!(log.contains(&finished), "{hook} did not finish:\n{log}");
    }
    let views = std::fs::read_dir(app.join("storage/framework/views")).expect("views");
    assert!(views.count() > 0, "view:cache compiled nothing:\n{log}");
    let database = app.join("database/database.sqlite");
    let tables = sqlite_tables(&database);
    assert!(
        tables.split(' ').any(|table| table == "jobs"),
        "no jobs table in {tables:?}"
    );
    let config = sandbox.read("run/phpeek-pm.yaml");
    assert!(config.contains("      - \"database\"\n"), "{config}");
    assert!(config.contains("    scale: 2\n"), "{config}");
}
