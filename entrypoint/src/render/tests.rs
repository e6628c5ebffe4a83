//! Template tests: golden phpeek-pm configs for the documented compose
//! examples, and the security properties of the nginx and php-fpm configs.
//!
//! Set UPDATE_GOLDEN=1 to rewrite the files under tests/golden/ from the
//! current templates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::capabilities::Capabilities;
use crate::framework::Framework;
use crate::laravel;
use crate::mode::{self, Mode};
use crate::settings::{Env, Settings};

const MINIMAL: &[(&str, &str)] = &[("PHPEEK_PROCESS_MANAGER", "phpeek-pm")];

const LARAVEL_HORIZON: &[(&str, &str)] = &[
    ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
    ("LARAVEL_OPTIMIZE_CONFIG", "true"),
    ("LARAVEL_OPTIMIZE_ROUTE", "true"),
    ("LARAVEL_MIGRATE_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true"),
];

const FULL_LARAVEL: &[(&str, &str)] = &[
    ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
    ("LARAVEL_OPTIMIZE_CONFIG", "true"),
    ("LARAVEL_OPTIMIZE_ROUTE", "true"),
    ("LARAVEL_OPTIMIZE_VIEW", "true"),
    ("LARAVEL_MIGRATE_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_REVERB_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "3"),
    ("PHPEEK_PM_PROCESS_QUEUE_HIGH_ENABLED", "true"),
    ("PHPEEK_PM_PROCESS_QUEUE_HIGH_SCALE", "2"),
];

const SCHEDULED_TASKS: &[(&str, &str)] = &[
    ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
    ("PHPEEK_PM_PROCESS_CACHE_WARMUP_ENABLED", "true"),
    (
        "PHPEEK_PM_PROCESS_CACHE_WARMUP_COMMAND",
        "php,artisan,cache:warm",
    ),
    ("PHPEEK_PM_PROCESS_CACHE_WARMUP_SCHEDULE", "*/15 * * * *"),
    ("PHPEEK_PM_PROCESS_DB_BACKUP_ENABLED", "true"),
    (
        "PHPEEK_PM_PROCESS_DB_BACKUP_COMMAND",
        "php,artisan,backup:run",
    ),
    ("PHPEEK_PM_PROCESS_DB_BACKUP_SCHEDULE", "0 2 * * *"),
];

const HEARTBEAT: &[(&str, &str)] = &[
    ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
    ("PHPEEK_PM_PROCESS_CRITICAL_BACKUP_ENABLED", "true"),
    (
        "PHPEEK_PM_PROCESS_CRITICAL_BACKUP_COMMAND",
        "php,artisan,backup:critical",
    ),
    ("PHPEEK_PM_PROCESS_CRITICAL_BACKUP_SCHEDULE", "0 3 * * *"),
    (
        "PHPEEK_PM_PROCESS_CRITICAL_BACKUP_HEARTBEAT_URL",
        "https://hc-ping.com/your-uuid-here",
    ),
    ("PHPEEK_PM_PROCESS_CRITICAL_BACKUP_HEARTBEAT_TIMEOUT", "300"),
];

/// Environment variables of one example, as name and value pairs.
type Pairs = &'static [(&'static str, &'static str)];

/// The compose examples of the PHPeek PM documentation: golden file name,
/// environment, and the framework of the app.
const EXAMPLES: &[(&str, Pairs, Framework)] = &[
    ("minimal", MINIMAL, Framework::Plain),
    ("laravel-horizon", LARAVEL_HORIZON, Framework::Laravel),
    ("full-laravel-stack", FULL_LARAVEL, Framework::Laravel),
    ("scheduled-tasks", SCHEDULED_TASKS, Framework::Laravel),
    ("heartbeat", HEARTBEAT, Framework::Laravel),
];

fn settings(env: &Env) -> Settings {
    match Settings::resolve(env) {
        Ok(settings) => settings,
        Err(errors) => panic!("invalid example environment: {errors:?}"),
    }
}

/// Facts of a start as root in the image layout. Hooks are computed for
/// an app without public/storage, so the storage link hook is included.
fn facts(settings: &Settings, framework: Framework, run_as_root: bool) -> Facts {
    let hooks = if framework == Framework::Laravel {
        let app = Path::new("/nonexistent/phpeek-golden-app");
        laravel::hooks(settings, app, "/usr/local/bin/phpeek-entrypoint")
    } else {
        Vec::new()
    };
    let run_as = run_as_root.then(|| ("www-data".to_owned(), "www-data".to_owned()));
    Facts {
        mode: Mode::from_settings(settings),
        framework,
        app_dir: PathBuf::from("/var/www/html"),
        run_as,
        hooks,
        capabilities: Capabilities::probe(),
        outputs: Outputs {
            runtime_dir: PathBuf::from("/tmp/phpeek"),
            pm_config: PathBuf::from("/tmp/phpeek-pm.yaml"),
        },
    }
}

fn renderer() -> Renderer {
    Renderer::new(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates"))
}

fn render_with(pairs: &[(&str, &str)], framework: Framework, root: bool, name: &str) -> String {
    let env = Env::from_pairs(pairs.iter().copied());
    let settings = settings(&env);
    let context = build_context(&settings, &facts(&settings, framework, root));
    match renderer().render(name, &context) {
        Ok(text) => text,
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn compose_examples_match_golden_files() {
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, pairs, framework) in EXAMPLES {
        let rendered = render_with(pairs, *framework, true, PM_TEMPLATE);
        let path = golden_dir.join(format!("{name}.yaml"));
        if update {
            std::fs::create_dir_all(&golden_dir).unwrap_or_default();
            std::fs::write(&path, &rendered).unwrap_or_default();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();

        assert!(
            rendered == expected,
            "{} differs from the rendered config; rerun with UPDATE_GOLDEN=1 and review \
             the diff.\nRendered:\n{rendered}",
            path.display()
        );
    }
}

#[test]
fn compose_examples_load_in_phpeek_pm() {
    for (name, pairs, framework) in EXAMPLES {
        let rendered = render_with(pairs, *framework, true, PM_TEMPLATE);
        let env = Env::from_pairs(pairs.iter().copied());
        let settings = settings(&env);
        let pm_env = mode::pm_environment(&env, &settings, Mode::Full, false);
        let loaded = phpeek::config::load_str(&rendered, name, &pm_env);

        let warnings = loaded.as_ref().map(|loaded| loaded.warnings.len());
        assert_eq!(warnings, Ok(0), "{name}: {loaded:?}");
    }
}

#[test]
fn default_mode_runs_php_fpm_and_nginx_only() {
    let yaml = render_with(&[], Framework::Laravel, true, PM_TEMPLATE);
    let env: HashMap<String, String> = HashMap::new();
    let loaded = phpeek::config::load_str(&yaml, "default", &env);
    let names = loaded.map(|loaded| {
        let names: Vec<String> = loaded
            .config
            .processes
            .iter()
            .map(|p| p.name.clone())
            .collect();
        names
    });

    assert_eq!(names, Ok(vec!["php-fpm".to_owned(), "nginx".to_owned()]));
    assert!(!yaml.contains("horizon"));
    assert!(yaml.contains("name: \"storage-link\""));
}

#[test]
fn app_user_only_as_root() {
    let pairs = [
        ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
        ("LARAVEL_MIGRATE_ENABLED", "true"),
    ];
    let as_root = render_with(&pairs, Framework::Laravel, true, PM_TEMPLATE);
    let unprivileged = render_with(&pairs, Framework::Laravel, false, PM_TEMPLATE);

    // storage-link, migrate, horizon, its pre-stop hook, reverb, two
    // queues and the scheduler.
    assert_eq!(
        as_root.matches("user: \"www-data\"").count(),
        8,
        "{as_root}"
    );
    assert!(!unprivileged.contains("user:"), "{unprivileged}");
    assert_eq!(
        as_root.matches("working_dir: \"/var/www/html\"").count(),
        8,
        "{as_root}"
    );
}

#[test]
fn queue_connection_is_passed_when_set() {
    let pairs = [
        ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
        ("QUEUE_CONNECTION", "redis"),
    ];
    let yaml = render_with(&pairs, Framework::Laravel, true, PM_TEMPLATE);
    let expected = "[\"php\", \"artisan\", \"queue:work\", \"redis\", \"--queue=high\", \
                    \"--tries=3\", \"--sleep=1\"]";

    assert!(yaml.contains(expected), "{yaml}");
}

/// Returns the position of `needle` in `text`, failing the test when it
/// is missing.
fn position(text: &str, needle: &str) -> usize {
    match text.find(needle) {
        Some(position) => position,
        None => panic!("{needle:?} not found in:\n{text}"),
    }
}

#[test]
fn nginx_deny_rules_come_before_serving_rules() {
    let conf = render_with(&[], Framework::Plain, true, NGINX_TEMPLATE);
    let dotfiles = position(&conf, "location ~ /\\.(?!well-known/)");
    let uploads = position(&conf, "(?:uploads|files|media|storage)/");
    let php = position(&conf, "location ~ [^/]\\.php(?:/|$)");
    let statics = position(&conf, "location ~* \\.(?:css|js");

    assert!(dotfiles < php);
    assert!(dotfiles < statics);
    assert!(uploads < php);
    assert!(uploads < statics);
}

#[test]
fn nginx_static_location_repeats_security_headers() {
    let pairs = [("NGINX_HEADER_CSP", "default-src 'self'")];
    let conf = render_with(&pairs, Framework::Plain, true, NGINX_TEMPLATE);
    let statics = &conf[position(&conf, "location ~* \\.(?:css|js")..];
    let statics = &statics[..position(statics, "\n        }")];

    for header in [
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Permissions-Policy",
        "Content-Security-Policy",
    ] {
        assert_eq!(
            conf.matches(&format!("add_header {header} ")).count(),
            2,
            "{header}"
        );
        assert!(
            statics.contains(&format!("add_header {header} ")),
            "{header}"
        );
    }
    assert!(!conf.contains("X-XSS-Protection"));
}

#[test]
fn nginx_user_line_only_as_root() {
    let as_root = render_with(&[], Framework::Plain, true, NGINX_TEMPLATE);
    let unprivileged = render_with(&[], Framework::Plain, false, NGINX_TEMPLATE);

    assert!(as_root.contains("\nuser www-data www-data;\n"));
    assert!(!unprivileged.contains("\nuser "));
    assert!(as_root.contains("pid \"/tmp/phpeek/nginx.pid\";"));
    assert!(as_root.contains("access_log \"/dev/stdout\" phpeek;"));
    assert!(as_root.contains("error_log \"stderr\" warn;"));
}

#[test]
fn nginx_webroot_follows_the_framework() {
    let laravel = render_with(&[], Framework::Laravel, true, NGINX_TEMPLATE);
    let wordpress = render_with(&[], Framework::WordPress, true, NGINX_TEMPLATE);

    assert!(laravel.contains("root \"/var/www/html/public\";"));
    assert!(wordpress.contains("root \"/var/www/html\";"));
}

#[test]
fn php_fpm_pool_settings() {
    let as_root = render_with(&[], Framework::Plain, true, FPM_TEMPLATE);
    let unprivileged = render_with(&[], Framework::Plain, false, FPM_TEMPLATE);

    for line in [
        "listen = 127.0.0.1:9000\n",
        "clear_env = no\n",
        "catch_workers_output = yes\n",
        "decorate_workers_output = no\n",
        "process_control_timeout = 20s\n",
        "user = www-data\ngroup = www-data\n",
    ] {
        assert!(as_root.contains(line), "{line:?} missing:\n{as_root}");
    }
    assert!(!as_root.contains("\nphp_admin_value"));
    assert!(!as_root.contains("access.log"));
    assert!(!unprivileged.contains("user ="));
}

#[test]
fn php_ini_renders_defaults() {
    let ini = render_with(&[], Framework::Plain, true, PHP_INI_TEMPLATE);

    for line in [
        "memory_limit = 256M\n",
        "date.timezone = \"UTC\"\n",
        "error_reporting = E_ALL & ~E_DEPRECATED\n",
        "opcache.validate_timestamps = 1\n",
    ] {
        assert!(ini.contains(line), "{line:?} missing:\n{ini}");
    }
    assert!(!ini.contains("error_log"));
}
