//! PUID/PGID and folder ownership, with the passwd and group files pointed
//! at copies in the sandbox so the real ones are never touched.

mod support;

use std::os::unix::fs::MetadataExt;

use nix::unistd::User;

use support::{is_root, Sandbox};

/// Writes passwd and group copies that hold the real www-data line, so the
/// name resolves in both the copy and the system database.
fn account_files(sandbox: &Sandbox) -> Option<(u32, u32)> {
    let account = User::from_name("www-data").ok().flatten()?;
    let (uid, gid) = (account.uid.as_raw(), account.gid.as_raw());
    sandbox.write(
        "passwd",
        &format!(
            "root:x:0:0:root:/root:/bin/bash\n\
             www-data:x:{uid}:{gid}:www-data:/var/www:/usr/sbin/nologin\n\
             taken:x:4100:4100::/:/bin/false\n"
        ),
    );
    sandbox.write(
        "group",
        &format!("root:x:0:\nwww-data:x:{gid}:\ntaken:x:4100:\n"),
    );
    Some((uid, gid))
}

fn owner(path: &std::path::Path) -> (u32, u32) {
    let metadata = std::fs::symlink_metadata(path).expect("stat");
    (metadata.uid(), metadata.gid())
}

#[test]
fn puid_and_pgid_remap_and_own_laravel_folders() {
    let mut sandbox = Sandbox::new();
    if !is_root() {
        eprintln!("skipped: PUID/PGID apply only as root");
        return;
    }
    if account_files(&sandbox).is_none() {
        eprintln!("skipped: no www-data account");
        return;
    }
    sandbox.write("app/artisan", "<?php\n");
    sandbox.write("app/storage/logs/old.log", "");
    sandbox.write("app/vendor/autoload.php", "<?php\n");
    sandbox.write("app/database/database.sqlite", "");
    sandbox
        .set("PUID", "4242")
        .set("PGID", "4343")
        .set("DB_CONNECTION", "sqlite");

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    assert!(
        run.stderr.contains("detected Laravel app in"),
        "{}",
        run.transcript()
    );
    assert!(sandbox.read("passwd").contains("\nwww-data:x:4242:4343:"));
    assert!(sandbox.read("group").contains("\nwww-data:x:4343:\n"));
    for folder in [
        "storage",
        "storage/logs/old.log",
        "storage/framework/cache/data",
        "storage/framework/sessions",
        "storage/framework/views",
        "storage/app/public",
        "bootstrap/cache",
        "database",
        "database/database.sqlite",
    ] {
        let path = sandbox.path("app").join(folder);
        assert_eq!(owner(&path), (4242, 4343), "{folder}");
    }
    assert_eq!(owner(&sandbox.path("app/vendor/autoload.php")), (0, 0));
    assert_eq!(owner(&sandbox.path("app/artisan")), (0, 0));
}

#[test]
fn taken_puid_is_rejected() {
    let mut sandbox = Sandbox::new();
    if !is_root() || account_files(&sandbox).is_none() {
        eprintln!("skipped: needs root and a www-data account");
        return;
    }
    let passwd_before = sandbox.read("passwd");
    sandbox.set("PUID", "4100");

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(
        run.stderr
            .contains("PUID 4100 is already used by account `taken`"),
        "{}",
        run.transcript()
    );
    assert_eq!(sandbox.read("passwd"), passwd_before);
}

#[test]
fn invalid_puid_names_the_variable() {
    let mut sandbox = Sandbox::new();
    sandbox.set("PUID", "1000abc");

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(
        run.stderr.contains("PUID: invalid value \"1000abc\""),
        "{}",
        run.transcript()
    );
}

#[test]
fn missing_account_files_skip_the_remap() {
    let mut sandbox = Sandbox::new();
    if !is_root() {
        eprintln!("skipped: PUID/PGID apply only as root");
        return;
    }
    sandbox.set("PUID", "4242");

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    assert!(
        run.stderr.contains("PUID/PGID not applied: failed to read"),
        "{}",
        run.transcript()
    );
}

#[test]
fn symfony_and_wordpress_folders_are_created() {
    let sandbox = Sandbox::new();
    sandbox.write("app/bin/console", "");
    sandbox.write("app/symfony.lock", "{}");
    let symfony = sandbox.run(&["true"]);
    let wordpress_box = Sandbox::new();
    wordpress_box.write("app/wp-config.php", "<?php\n");
    let wordpress = wordpress_box.run(&["true"]);

    assert_eq!(symfony.code, Some(0), "{}", symfony.transcript());
    assert!(symfony.stderr.contains("detected Symfony app"));
    assert!(sandbox.path("app/var/cache").is_dir());
    assert!(sandbox.path("app/var/log").is_dir());
    assert_eq!(wordpress.code, Some(0), "{}", wordpress.transcript());
    assert!(wordpress.stderr.contains("detected WordPress app"));
    assert!(wordpress_box.path("app/wp-content/uploads").is_dir());
}

#[test]
fn folder_that_cannot_be_created_is_skipped() {
    let sandbox = Sandbox::new();
    sandbox.write("app/artisan", "<?php\n");
    // A file where a folder belongs fails like a read-only file system.
    sandbox.write("app/storage", "not a folder\n");

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let skipped = run
        .stderr
        .lines()
        .filter(|line| line.contains("cannot create") && line.ends_with("; skipped"))
        .count();
    assert_eq!(skipped, 5, "{}", run.transcript());
    assert!(sandbox.path("app/bootstrap/cache").is_dir());
}

/// Gives the sandbox to uid and gid 65534 and runs the entrypoint as them.
fn run_as_nobody(sandbox: &Sandbox) -> support::Run {
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&sandbox.root)
        .status()
        .expect("run chown");
    assert!(status.success());
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(support::binary())
        .env_clear()
        .envs(&sandbox.env)
        .current_dir(&sandbox.root)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run setpriv");
    support::Run::from(output)
}

#[test]
fn unprivileged_start_skips_root_steps() {
    let mut sandbox = Sandbox::new();
    if !is_root() || !sandbox.has_web_stack() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    sandbox.write("app/artisan", "<?php\n");
    sandbox.set("PUID", "4242");
    let run = run_as_nobody(&sandbox);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    assert!(run
        .stderr
        .contains("PUID/PGID ignored: not running as root"));
    assert!(run
        .stderr
        .contains("not running as root: writable folders keep their owner"));
    assert!(
        run.stderr.contains("nginx -t accepted"),
        "{}",
        run.transcript()
    );
    assert!(!sandbox.read("run/nginx.conf").contains("\nuser "));
    assert!(!sandbox.read("run/php-fpm.conf").contains("\nuser ="));
    assert!(!sandbox.read("run/phpeek-pm.yaml").contains("user:"));
    assert_eq!(owner(&sandbox.path("app/storage/logs")), (65534, 65534));
}

#[test]
fn unprivileged_low_port_names_nginx_http_port() {
    let mut sandbox = Sandbox::new();
    if !is_root() || !sandbox.has_web_stack() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    // Below 1024. Linux checks the privilege before it looks for a listener
    // on the port, so the port needn't be free.
    sandbox.set("NGINX_HTTP_PORT", "81");
    let run = run_as_nobody(&sandbox);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(
        run.stderr.contains("(13: Permission denied)"),
        "{}",
        run.transcript()
    );
    assert!(
        run.stderr
            .contains("Without root, nginx may not listen on port 81: set NGINX_HTTP_PORT"),
        "{}",
        run.transcript()
    );
}
