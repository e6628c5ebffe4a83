//! Acceptance tests that build the real images and run them under podman.
//!
//! They download Debian packages, need root for podman and take several
//! minutes, so they are `#[ignore]`d. `images/tests/run-image-tests.sh`
//! sets up podman and runs them one at a time with `--ignored`. They use
//! the release `phpeek-pm` and `phpeek-entrypoint` (`scripts/build-release.sh`
//! first).

mod support;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::{
    build, definition, docroot_volume, http_get, layout_digest, podman, require_podman, Container,
};

const BOOKWORM_82: &str = "php-fpm-nginx-8.2-bookworm.toml";
const TRIXIE_84: &str = "php-fpm-nginx-8.4-trixie.toml";
const LARAVEL_82: &str = "laravel-fixture-8.2-bookworm.toml";

/// One definition built twice, the first build loaded into podman.
#[derive(Clone, Debug)]
struct Built {
    reference: String,
    first_digest: String,
    second_digest: String,
    podman_digest: String,
}

/// Builds `file` twice (the second time from the same package lists) and
/// loads the first build; later calls in this process reuse the result.
fn built(file: &str) -> Built {
    static BUILT: OnceLock<Mutex<HashMap<String, Built>>> = OnceLock::new();
    let cache = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(built) = cache.get(file) {
        return built.clone();
    }
    require_podman();
    let out = tempfile::tempdir().expect("tempdir");
    let first = out.path().join("first");
    let second = out.path().join("second");
    let first_arg = first.display().to_string();
    let second_arg = second.display().to_string();

    let text = std::fs::read_to_string(definition(file)).expect("definition");
    let parsed: toml::Value = toml::from_str(&text).expect("toml");
    let name = parsed["name"].as_str().expect("name");
    let tag = parsed["tag"].as_str().expect("tag");
    let reference = format!("localhost/phpeek/{name}:{tag}");
    let earlier = image_id(&reference);

    let output = build(&definition(file), &["--output-oci", &first_arg, "--load"]);
    assert!(output.status.success(), "first build of {file} failed");
    // The new image takes the tag and leaves the earlier one untagged, about
    // 200 MB for each test run, so the earlier one is removed.
    if let Some(earlier) = earlier.filter(|id| image_id(&reference).as_ref() != Some(id)) {
        let _ = podman(&["rmi", &earlier]);
    }
    let output = build(
        &definition(file),
        &["--output-oci", &second_arg, "--skip-update"],
    );
    assert!(output.status.success(), "second build of {file} failed");

    let inspect = podman(&["image", "inspect", "--format", "{{.Digest}}", &reference]);
    assert!(
        inspect.status.success(),
        "{reference} is not in podman storage"
    );

    let built = Built {
        reference,
        first_digest: layout_digest(&first),
        second_digest: layout_digest(&second),
        podman_digest: String::from_utf8_lossy(&inspect.stdout).trim().to_string(),
    };
    cache.insert(file.to_string(), built.clone());
    built
}

/// Returns the ID of the image tagged `reference` in podman storage, if any.
fn image_id(reference: &str) -> Option<String> {
    let inspect = podman(&["image", "inspect", "--format", "{{.Id}}", reference]);
    let id = String::from_utf8_lossy(&inspect.stdout).trim().to_string();
    (inspect.status.success() && !id.is_empty()).then_some(id)
}

fn assert_reproducible(file: &str) {
    let built = built(file);
    assert_eq!(
        built.first_digest, built.second_digest,
        "two builds of {file} differ"
    );
    assert!(
        built.first_digest.starts_with("sha256:"),
        "{}",
        built.first_digest
    );
    assert_eq!(
        built.podman_digest, built.first_digest,
        "podman stored a different manifest"
    );
}

#[test]
#[ignore = "builds images; run images/tests/run-image-tests.sh"]
fn bookworm_82_builds_reproducibly() {
    assert_reproducible(BOOKWORM_82);
}

#[test]
#[ignore = "builds images; run images/tests/run-image-tests.sh"]
fn trixie_84_builds_reproducibly() {
    assert_reproducible(TRIXIE_84);
}

/// Returns whether a sample line of `metrics` has the name `name`, the
/// label `label` and the value `value`, such as
/// `phpeek_pm_process_up{process="php-fpm",instance="php-fpm-0"} 1`.
fn has_sample(metrics: &str, name: &str, label: &str, value: &str) -> bool {
    metrics.lines().any(|line| {
        let Some((series, sample)) = line.rsplit_once(' ') else {
            return false;
        };
        let labels = series
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('{'));
        let labels = labels.and_then(|rest| rest.strip_suffix('}'));
        labels.is_some_and(|labels| labels.split(',').any(|pair| pair == label)) && sample == value
    })
}

/// Starts the image in full mode, which turns phpeek-pm's metrics on, waits
/// for /health, fetches the PHP page and /metrics, and checks PID 1.
fn assert_serves(file: &str, php_version: &str) {
    let built = built(file);
    let mut options = docroot_volume().to_vec();
    options.extend([
        "--env".to_string(),
        "PHPEEK_PROCESS_MANAGER=phpeek-pm".to_string(),
    ]);
    let container = Container::start(
        &built.reference,
        &format!("phpeek-image-test-serve-{}", php_version.replace('.', "")),
        &options,
    );
    let limit = Duration::from_secs(5);

    let ready = container.wait_for_200("/health", limit);
    assert!(
        ready.is_some(),
        "no 200 from /health within 5 s\n{}",
        container.logs()
    );

    let (status, body) =
        http_get(container.port, "/index.php", Duration::from_secs(5)).expect("GET /index.php");
    assert_eq!(status, 200, "{body}\n{}", container.logs());
    assert!(body.contains(&format!("php={php_version}.")), "{body}");
    assert!(body.contains("sapi=fpm-fcgi"), "{body}");

    // /metrics is read until php-fpm is reported up or the 5 s from
    // `podman run` are over, because it may lag /health by a moment.
    let mut metrics = String::new();
    let mut fpm_up = false;
    while !fpm_up && container.started.elapsed() < limit {
        if let Ok((200, body)) = http_get(container.metrics_port, "/metrics", limit) {
            metrics = body;
            fpm_up = has_sample(&metrics, "phpeek_pm_process_up", "process=\"php-fpm\"", "1");
        }
        if !fpm_up {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(
        fpm_up,
        "no phpeek_pm_process_up{{process=\"php-fpm\"}} 1 within 5 s:\n{metrics}\n{}",
        container.logs()
    );

    let comm = podman(&["exec", &container.name, "cat", "/proc/1/comm"]);
    assert_eq!(
        String::from_utf8_lossy(&comm.stdout).trim(),
        "phpeek-pm",
        "{}",
        container.logs()
    );
}

#[test]
#[ignore = "runs images under podman; run images/tests/run-image-tests.sh"]
fn bookworm_82_serves_php_within_5_s() {
    assert_serves(BOOKWORM_82, "8.2");
}

#[test]
#[ignore = "runs images under podman; run images/tests/run-image-tests.sh"]
fn trixie_84_serves_php_within_5_s() {
    assert_serves(TRIXIE_84, "8.4");
}

/// Stops the container while a 1 s request is in flight.
fn assert_graceful_stop(file: &str, php_version: &str) {
    let built = built(file);
    let container = Container::start(
        &built.reference,
        &format!("phpeek-image-test-stop-{}", php_version.replace('.', "")),
        &docroot_volume(),
    );
    assert!(
        container
            .wait_for_200("/health", Duration::from_secs(10))
            .is_some(),
        "{}",
        container.logs()
    );

    let port = container.port;
    let request =
        std::thread::spawn(move || http_get(port, "/slow.php?ms=1000", Duration::from_secs(10)));
    // NOTE: a fixed delay, because nothing outside the container reports
    // that php-fpm picked the request up; 300 ms is far more than the
    // loopback round trip and leaves 700 ms of the request to run.
    std::thread::sleep(Duration::from_millis(300));

    let stop_started = Instant::now();
    let stop = podman(&["stop", "--time", "10", &container.name]);
    let stop_time = stop_started.elapsed();
    assert!(
        stop.status.success(),
        "podman stop failed: {}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(
        stop_time < Duration::from_secs(3),
        "podman stop took {stop_time:?}\n{}",
        container.logs()
    );

    let exit = podman(&[
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &container.name,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&exit.stdout).trim(),
        "0",
        "{}",
        container.logs()
    );

    let response = request.join().expect("request thread");
    let (status, body) = response.expect("the slow request got a response");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), "slow done");
}

#[test]
#[ignore = "runs images under podman; run images/tests/run-image-tests.sh"]
fn bookworm_82_stop_finishes_request_in_flight() {
    assert_graceful_stop(BOOKWORM_82, "8.2");
}

#[test]
#[ignore = "runs images under podman; run images/tests/run-image-tests.sh"]
fn trixie_84_stop_finishes_request_in_flight() {
    assert_graceful_stop(TRIXIE_84, "8.4");
}

/// `podman run IMAGE php -v` goes through phpeek-entrypoint, which must
/// run the command instead of phpeek-pm.
fn assert_php_v(file: &str, php_version: &str) {
    let built = built(file);
    let output = podman(&[
        "run",
        "--rm",
        "--network=none",
        &built.reference,
        "php",
        "-v",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(&format!("PHP {php_version}.")),
        "{stdout}"
    );
}

#[test]
#[ignore = "runs images under podman; run images/tests/run-image-tests.sh"]
fn bookworm_82_php_v_prints_version() {
    assert_php_v(BOOKWORM_82, "8.2");
}

#[test]
#[ignore = "runs images under podman; run images/tests/run-image-tests.sh"]
fn trixie_84_php_v_prints_version() {
    assert_php_v(TRIXIE_84, "8.4");
}

#[test]
#[ignore = "downloads package lists; run images/tests/run-image-tests.sh"]
fn unknown_package_names_package_and_apt_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(definition(BOOKWORM_82)).expect("definition");
    let text = text.replace(
        "\"php8.2-zip\",",
        "\"php8.2-zip\",\n    \"php8.2-nonexistent\",",
    );
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("oci").display().to_string();

    let output = build(&file, &["--output-oci", &out]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("package \"php8.2-nonexistent\" not found in Debian bookworm"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Unable to locate package php8.2-nonexistent"),
        "{stderr}"
    );
}

#[test]
#[ignore = "builds an image; run images/tests/run-image-tests.sh"]
fn full_disk_names_path_and_size() {
    let output = build(&definition(BOOKWORM_82), &["--output-docker", "/dev/full"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("disk full while writing /dev/full ("),
        "{stderr}"
    );
    assert!(stderr.contains("MiB needed)"), "{stderr}");
}

/// Polls `podman exec NAME cat PATH` until the file contains `text`;
/// returns the last contents read.
fn wait_for_file_text(container: &Container, path: &str, text: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let output = podman(&["exec", &container.name, "cat", path]);
        let contents = String::from_utf8_lossy(&output.stdout).into_owned();
        if contents.contains(text) || Instant::now() >= deadline {
            return contents;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Returns a fresh Laravel APP_KEY: "base64:" and 32 random bytes, as
/// AES-256-CBC needs.
fn random_app_key() -> String {
    let mut bytes = [0u8; 32];
    let mut random = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    std::io::Read::read_exact(&mut random, &mut bytes).expect("read /dev/urandom");
    format!("base64:{}", support::base64(&bytes))
}

/// Builds the Laravel fixture image (the 8.2 image plus an app layer) and
/// runs it. The entrypoint's hooks cache the config and migrate, as
/// environment variables request. Then nginx serves the Blade page, and the
/// queue worker, which a variable enables, runs a job that a route
/// dispatched.
#[test]
#[ignore = "builds an app image; run images/tests/run-image-tests.sh"]
fn laravel_fixture_image_migrates_serves_and_runs_jobs() {
    require_podman();
    let output = build(&definition(LARAVEL_82), &["--load"]);
    assert!(output.status.success(), "build of {LARAVEL_82} failed");

    let app_key = format!("APP_KEY={}", random_app_key());
    let variables = [
        "PHPEEK_PROCESS_MANAGER=phpeek-pm",
        "LARAVEL_OPTIMIZE_CONFIG=true",
        "LARAVEL_MIGRATE_ENABLED=true",
        "DB_CONNECTION=sqlite",
        "QUEUE_CONNECTION=database",
        &app_key,
        "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED=true",
    ];
    let options: Vec<String> = variables
        .iter()
        .flat_map(|variable| ["--env".to_string(), variable.to_string()])
        .collect();
    let container = Container::start(
        "localhost/phpeek/laravel-fixture:8.2-bookworm",
        "phpeek-image-test-laravel",
        &options,
    );

    // The hooks run before nginx starts, so the first 200 of / comes after
    // config:cache and migrate.
    let ready = container.wait_for_200("/", Duration::from_secs(60));
    assert!(
        ready.is_some(),
        "no 200 from / within 60 s\n{}",
        container.logs()
    );
    let logs = container.logs();
    for hook in ["config-cache", "migrate"] {
        let finished = format!("\"msg\":\"hook finished\",\"hook\":\"{hook}\"");
        assert!(logs.contains(&finished), "{hook} did not finish:\n{logs}");
    }
    // The image already has public/storage, so storage:link never runs as
    // the app user against the root-owned public/.
    assert!(!logs.contains("\"hook\":\"storage-link\""), "{logs}");

    let (status, body) = http_get(container.port, "/", Duration::from_secs(5)).expect("GET /");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("phpeek-laravel-fixture-ok"), "{body}");
    assert!(body.contains("Laravel 8."), "{body}");

    let tag = format!("image-job-{}", std::process::id());
    let dispatch = format!("/dispatch/{tag}");
    let (status, body) =
        http_get(container.port, &dispatch, Duration::from_secs(5)).expect("GET /dispatch");
    assert_eq!(status, 200, "{body}\n{}", container.logs());
    assert!(body.contains(&format!("dispatched {tag}")), "{body}");

    let jobs_log = "/var/www/html/storage/logs/jobs.log";
    let contents = wait_for_file_text(&container, jobs_log, &tag, Duration::from_secs(30));
    assert!(
        contents.contains(&tag),
        "{tag} never reached {jobs_log}: {contents:?}\n{}",
        container.logs()
    );
}
