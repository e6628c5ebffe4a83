//! Framework detection and writable folders against real apps: the Laravel
//! fixture, the Symfony skeleton and WordPress's own files from Debian's
//! package. Each app is copied into a sandbox, prepared by the entrypoint,
//! and then run by a command of its own framework where one exists.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use support::{path_text, Sandbox};

/// Returns the uid that writable folders get: www-data's as root. Without
/// root the folders keep the test's own uid.
fn app_uid() -> u32 {
    if support::is_root() {
        let user = nix::unistd::User::from_name("www-data").ok().flatten();
        user.map_or(0, |user| user.uid.as_raw())
    } else {
        nix::unistd::Uid::effective().as_raw()
    }
}

/// Returns the owner of the copied app, which is the account the tests run
/// as.
fn copier_uid() -> u32 {
    nix::unistd::Uid::effective().as_raw()
}

fn uid(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path).ok().map(|meta| meta.uid())
}

/// Copies `fixture` (a folder under tests/fixtures, or an absolute path)
/// into the sandbox as the app.
fn install_app(sandbox: &Sandbox, fixture: &Path) {
    let app = sandbox.path("app");
    std::fs::remove_dir_all(&app).expect("remove the empty app");
    support::copy_tree(fixture, &app);
}

/// Returns whether `path` exists, and prints why the test is skipped when
/// it doesn't.
fn has_package_file(path: &str) -> bool {
    let found = Path::new(path).exists();
    if !found {
        eprintln!(
            "skipped: {path} not found (install the packages in tests/fixtures/packages.txt)"
        );
    }
    found
}

/// Checks that every folder exists and, as root, belongs to the app user.
fn assert_writable(sandbox: &Sandbox, folders: &[&str]) {
    for folder in folders {
        let path = sandbox.path("app").join(folder);
        assert!(path.is_dir(), "{folder} was not created");
        assert_eq!(uid(&path), Some(app_uid()), "{folder}");
    }
}

#[test]
fn laravel_fixture_is_prepared() {
    let mut sandbox = Sandbox::new();
    if !has_package_file("/usr/share/php/Illuminate/autoload.php") {
        return;
    }
    install_app(
        &sandbox,
        &support::repo_dir().join("tests/fixtures/laravel"),
    );
    sandbox.set("DB_CONNECTION", "sqlite").set(
        "APP_KEY",
        "base64:cGhwZWVrLWxhcmF2ZWwtZml4dHVyZS10ZXN0LWtleSE=",
    );

    // artisan fails without bootstrap/cache, so this runs only once the
    // entrypoint has created the folders.
    let run = sandbox.run(&["php", "artisan", "--version"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let detected = format!(
        "detected Laravel app in {}",
        path_text(&sandbox.path("app"))
    );
    assert!(run.stderr.contains(&detected), "{}", run.transcript());
    assert!(
        run.stdout.starts_with("Laravel Framework 8."),
        "{}",
        run.transcript()
    );
    assert_writable(
        &sandbox,
        &[
            "storage/framework/cache/data",
            "storage/framework/sessions",
            "storage/framework/views",
            "storage/logs",
            "storage/app/public",
            "bootstrap/cache",
        ],
    );
    let database = sandbox.path("app/database/database.sqlite");
    assert!(database.is_file(), "{}", run.transcript());
    assert_eq!(uid(&database), Some(app_uid()));
    // The code keeps the owner the copy gave it.
    assert_eq!(uid(&sandbox.path("app/artisan")), Some(copier_uid()));
    assert_eq!(uid(&sandbox.path("app/app")), Some(copier_uid()));
}

#[test]
fn symfony_skeleton_is_prepared() {
    let sandbox = Sandbox::new();
    let kernel = "/usr/share/php/Symfony/Component/HttpKernel/Kernel.php";
    if !has_package_file(kernel) {
        return;
    }
    install_app(
        &sandbox,
        &support::repo_dir().join("tests/fixtures/symfony"),
    );

    let run = sandbox.run(&["php", "bin/console", "--version"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let detected = format!(
        "detected Symfony app in {}",
        path_text(&sandbox.path("app"))
    );
    assert!(run.stderr.contains(&detected), "{}", run.transcript());
    assert!(
        run.stdout.starts_with("Symfony 5.4"),
        "{}",
        run.transcript()
    );
    assert_writable(&sandbox, &["var/cache", "var/log"]);
}

/// Puts WordPress's files from Debian's package into the build's temporary
/// folder with tests/fixtures/wordpress.sh, once per target folder, and
/// returns the path. Returns none, after printing why, when the package
/// can't be downloaded; under CI=true that fails the test instead.
fn wordpress_files() -> Option<PathBuf> {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wordpress");
    let script = support::repo_dir().join("tests/fixtures/wordpress.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(&target)
        .output()
        .expect("run tests/fixtures/wordpress.sh");
    if output.status.success() {
        return Some(target);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = format!(
        "tests/fixtures/wordpress.sh could not get WordPress (apt-get download needs \
         current apt lists and the Debian mirror):\n{stderr}"
    );
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{reason}");
    }
    eprintln!("skipped: {reason}");
    None
}

#[test]
fn wordpress_files_are_prepared() {
    let Some(wordpress) = wordpress_files() else {
        return;
    };
    let sandbox = Sandbox::new();
    install_app(&sandbox, &wordpress);
    assert!(!sandbox.path("app/wp-content/uploads").exists());

    let run = sandbox.run(&[]);

    let detected = format!(
        "detected WordPress app in {}",
        path_text(&sandbox.path("app"))
    );
    assert!(run.stderr.contains(&detected), "{}", run.transcript());
    assert_writable(&sandbox, &["wp-content/uploads"]);
    // The rest of WordPress keeps the owner the copy gave it.
    let includes = sandbox.path("app/wp-includes/version.php");
    assert_eq!(uid(&includes), Some(copier_uid()));
    if sandbox.has_web_stack() {
        // WordPress is served from the app folder itself, not public/.
        assert_eq!(run.code, Some(0), "{}", run.transcript());
        let root = format!("root \"{}\";", path_text(&sandbox.path("app")));
        assert!(sandbox.read("run/nginx.conf").contains(&root));
    }
}
