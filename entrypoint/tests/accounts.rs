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
