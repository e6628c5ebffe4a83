//! Laravel's start steps, as pre-start hooks of the rendered phpeek-pm
//! config: caches, the storage link, and migrations with an optional wait
//! for the database.
//!
//! Hooks run as the app user in the app directory (see the template), so
//! the caches they write belong to the account that reads them.

use std::path::Path;

use crate::message;
use crate::settings::Settings;

/// One pre-start hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hook {
    /// Name in phpeek-pm's logs.
    pub(crate) name: &'static str,
    /// Program and arguments.
    pub(crate) command: Vec<String>,
    /// Limit on one run, in seconds.
    pub(crate) timeout: u64,
    /// Whether a failure lets the start go on.
    pub(crate) continue_on_error: bool,
}

/// Limit on a cache command, which only reads the app.
const CACHE_TIMEOUT: u64 = 120;
/// Limit on `migrate`, which can rewrite large tables.
const MIGRATE_TIMEOUT: u64 = 600;

/// The steps that run, after the legacy names are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Steps {
    config: bool,
    route: bool,
    view: bool,
    event: bool,
    migrate: bool,
}

/// Resolves the optimize and migrate switches.
///
/// A current name that is set wins. Otherwise LARAVEL_OPTIMIZE_ENABLED, then
/// LARAVEL_AUTO_OPTIMIZE, stand for the config, route and view caches, and
/// LARAVEL_AUTO_MIGRATE for migrations; PHPEEK_AUTORUN_ENABLED=false turns
/// the two LARAVEL_AUTO_* names off.
fn resolve_steps(settings: &Settings) -> Steps {
    let autorun = settings.flag("PHPEEK_AUTORUN_ENABLED");
    let auto = |name| {
        if autorun {
            settings.explicit_flag(name)
        } else {
            None
        }
    };
    let legacy_optimize = settings
        .explicit_flag("LARAVEL_OPTIMIZE_ENABLED")
        .or_else(|| auto("LARAVEL_AUTO_OPTIMIZE"));
    let optimize = |name| {
        settings
            .explicit_flag(name)
            .or(legacy_optimize)
            .unwrap_or(false)
    };
    let migrate = settings
        .explicit_flag("LARAVEL_MIGRATE_ENABLED")
        .or_else(|| auto("LARAVEL_AUTO_MIGRATE"))
        .unwrap_or(false);

    Steps {
        config: optimize("LARAVEL_OPTIMIZE_CONFIG"),
        route: optimize("LARAVEL_OPTIMIZE_ROUTE"),
        view: optimize("LARAVEL_OPTIMIZE_VIEW"),
        event: settings.flag("LARAVEL_OPTIMIZE_EVENT"),
        migrate,
    }
}

/// Prints one line naming the legacy variables that are set, if any.
pub(crate) fn report_legacy_names(settings: &Settings) {
    let legacy = [
        "PHPEEK_AUTORUN_ENABLED",
        "LARAVEL_AUTO_OPTIMIZE",
        "LARAVEL_OPTIMIZE_ENABLED",
        "LARAVEL_AUTO_MIGRATE",
    ];
    let set: Vec<&str> = legacy
        .into_iter()
        .filter(|name| settings.is_explicit(name))
        .collect();
    if !set.is_empty() {
        message::info(format_args!(
            "legacy variables in use: {}; see the environment variable table in README.md for the current names",
            set.join(", ")
        ));
    }
}

/// Returns the pre-start hooks for the Laravel app in `app_dir`, in order:
/// storage link, caches, then the database wait and migrations.
///
/// `entrypoint` is the path of this program, which the database wait runs
/// as `entrypoint wait-for HOST:PORT --timeout N`.
pub(crate) fn hooks(settings: &Settings, app_dir: &Path, entrypoint: &str) -> Vec<Hook> {
    let steps = resolve_steps(settings);
    let php = settings.text("PHP_BIN").unwrap_or("php");
    let artisan = |arguments: &[&str]| {
        let mut command = vec![php.to_owned(), "artisan".to_owned()];
        command.extend(arguments.iter().map(|argument| (*argument).to_owned()));
        command
    };
    let mut hooks = Vec::new();

    // symlink_metadata, so that a dangling link counts as present and is
    // left for the user to fix instead of failing storage:link every start.
    let link_missing = std::fs::symlink_metadata(app_dir.join("public/storage")).is_err();
    if settings.flag("LARAVEL_STORAGE_LINK") && link_missing {
        hooks.push(Hook {
            name: "storage-link",
            command: artisan(&["storage:link"]),
            timeout: CACHE_TIMEOUT,
            // public/ often belongs to root, so the app user can't write the
            // link; that must not stop the site.
            continue_on_error: true,
        });
    }
    let caches = [
        (steps.config, "config-cache", "config:cache"),
        (steps.route, "route-cache", "route:cache"),
        (steps.view, "view-cache", "view:cache"),
        (steps.event, "event-cache", "event:cache"),
    ];
    for (enabled, name, command) in caches {
        if enabled {
            hooks.push(Hook {
                name,
                command: artisan(&[command]),
                timeout: CACHE_TIMEOUT,
                continue_on_error: false,
            });
        }
    }

    if steps.migrate {
        hooks.extend(migrate_hooks(
            settings,
            artisan(&["migrate", "--force"]),
            entrypoint,
        ));
    }
    hooks
}

/// Returns the migrate hook, after a wait for LARAVEL_MIGRATE_WAIT_FOR when
/// that is set.
fn migrate_hooks(settings: &Settings, migrate: Vec<String>, entrypoint: &str) -> Vec<Hook> {
    let mut hooks = Vec::new();
    if let Some(address) = settings.text("LARAVEL_MIGRATE_WAIT_FOR") {
        let seconds = settings.int("LARAVEL_MIGRATE_WAIT_TIMEOUT").unwrap_or(60);
        let seconds = u64::try_from(seconds).unwrap_or(60);
        let command = [entrypoint, "wait-for", address, "--timeout"];
        let mut command: Vec<String> = command.iter().map(|part| (*part).to_owned()).collect();
        command.push(seconds.to_string());
        hooks.push(Hook {
            name: "wait-for-database",
            command,
            // The hook's own limit only backs up the wait's timeout.
            timeout: seconds + 10,
            continue_on_error: false,
        });
    }
    hooks.push(Hook {
        name: "migrate",
        command: migrate,
        timeout: MIGRATE_TIMEOUT,
        continue_on_error: false,
    });
    hooks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Env;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env = Env::from_pairs(pairs.iter().copied());
        match Settings::resolve(&env) {
            Ok(settings) => settings,
            Err(errors) => panic!("invalid test environment: {errors:?}"),
        }
    }

    fn steps(pairs: &[(&str, &str)]) -> Steps {
        resolve_steps(&settings(pairs))
    }

    fn names(pairs: &[(&str, &str)], app_dir: &Path) -> Vec<&'static str> {
        let hooks = hooks(&settings(pairs), app_dir, "/bin/phpeek-entrypoint");
        hooks.iter().map(|hook| hook.name).collect()
    }

    #[test]
    fn nothing_runs_by_default() {
        assert_eq!(steps(&[]), Steps::default());
    }

    #[test]
    fn auto_optimize_sets_three_caches() {
        let resolved = steps(&[("LARAVEL_AUTO_OPTIMIZE", "true")]);

        assert!(resolved.config);
        assert!(resolved.route);
        assert!(resolved.view);
        assert!(!resolved.event);
        assert!(!resolved.migrate);
    }

    #[test]
    fn current_names_win_over_legacy_ones() {
        let resolved = steps(&[
            ("LARAVEL_OPTIMIZE_ENABLED", "true"),
            ("LARAVEL_OPTIMIZE_ROUTE", "false"),
            ("LARAVEL_AUTO_MIGRATE", "true"),
            ("LARAVEL_MIGRATE_ENABLED", "false"),
        ]);

        assert!(resolved.config);
        assert!(!resolved.route);
        assert!(!resolved.migrate);
    }

    #[test]
    fn optimize_enabled_wins_over_auto_optimize() {
        let resolved = steps(&[
            ("LARAVEL_OPTIMIZE_ENABLED", "false"),
            ("LARAVEL_AUTO_OPTIMIZE", "true"),
        ]);

        assert!(!resolved.config);
    }

    #[test]
    fn autorun_off_ignores_auto_names_only() {
        let resolved = steps(&[
            ("PHPEEK_AUTORUN_ENABLED", "false"),
            ("LARAVEL_AUTO_OPTIMIZE", "true"),
            ("LARAVEL_AUTO_MIGRATE", "true"),
        ]);
        let enabled = steps(&[
            ("PHPEEK_AUTORUN_ENABLED", "false"),
            ("LARAVEL_OPTIMIZE_ENABLED", "true"),
        ]);

        assert_eq!(resolved, Steps::default());
        assert!(enabled.config);
    }

    #[test]
    fn hooks_run_in_order() -> std::io::Result<()> {
        let app = tempfile::tempdir()?;
        let pairs = [
            ("LARAVEL_OPTIMIZE_CONFIG", "1"),
            ("LARAVEL_OPTIMIZE_EVENT", "on"),
            ("LARAVEL_MIGRATE_ENABLED", "yes"),
            ("LARAVEL_MIGRATE_WAIT_FOR", "db:5432"),
        ];

        assert_eq!(
            names(&pairs, app.path()),
            [
                "storage-link",
                "config-cache",
                "event-cache",
                "wait-for-database",
                "migrate"
            ]
        );
        Ok(())
    }

    #[test]
    fn storage_link_only_when_missing() -> std::io::Result<()> {
        let app = tempfile::tempdir()?;
        std::fs::create_dir_all(app.path().join("public"))?;
        std::os::unix::fs::symlink("../storage/app/public", app.path().join("public/storage"))?;

        assert!(names(&[], app.path()).is_empty());
        Ok(())
    }

    #[test]
    fn hook_commands_use_php_bin() -> std::io::Result<()> {
        let app = tempfile::tempdir()?;
        let pairs = [
            ("PHP_BIN", "/usr/bin/php8.2"),
            ("LARAVEL_STORAGE_LINK", "false"),
            ("LARAVEL_MIGRATE_ENABLED", "true"),
            ("LARAVEL_MIGRATE_WAIT_FOR", "127.0.0.1:3306"),
            ("LARAVEL_MIGRATE_WAIT_TIMEOUT", "5"),
        ];
        let hooks = hooks(&settings(&pairs), app.path(), "/bin/phpeek-entrypoint");

        assert_eq!(
            hooks[0].command,
            [
                "/bin/phpeek-entrypoint",
                "wait-for",
                "127.0.0.1:3306",
                "--timeout",
                "5"
            ]
        );
        assert_eq!(hooks[0].timeout, 15);
        assert_eq!(
            hooks[1].command,
            ["/usr/bin/php8.2", "artisan", "migrate", "--force"]
        );
        Ok(())
    }
}
