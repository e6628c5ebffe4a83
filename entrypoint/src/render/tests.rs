//! Template tests: golden phpeek-pm configs for the documented compose
//! examples, and the security properties of the nginx and php-fpm configs.
//!
//! A golden file is the effective config that the entrypoint writes to
//! /tmp/phpeek-pm.yaml: the template rendered as root in the image layout,
//! then the example's environment applied by phpeek-pm's overlay. Set
//! UPDATE_GOLDEN=1 to rewrite the files under tests/golden/ from the
//! current templates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::framework::Framework;
use crate::laravel;
use crate::mode::{self, Mode};
use crate::settings::{Env, Settings};
use crate::verify;

/// Names of the examples under tests/golden/. Each has `<name>.env`, the
/// environment as `NAME=VALUE` lines with a `# app: laravel` or
/// `# app: php` comment, and `<name>.yaml`, the effective config.
const EXAMPLES: &[&str] = &[
    "minimal",
    "laravel-horizon",
    "full-laravel-stack",
    "scheduled-tasks",
    "heartbeat",
    "laravel-scheduler",
    "value-forms",
    "default-mode",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// An example's environment and the framework of its app.
struct Example {
    pairs: Vec<(String, String)>,
    framework: Framework,
}

impl Example {
    fn read(name: &str) -> Example {
        let path = golden_dir().join(format!("{name}.env"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => panic!("{}: {error}", path.display()),
        };
        let mut framework = Framework::Plain;
        let mut pairs = Vec::new();
        for line in text.lines() {
            if line.starts_with("# app: laravel") {
                framework = Framework::Laravel;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            match line.split_once('=') {
                Some((name, value)) => pairs.push((name.to_owned(), value.to_owned())),
                None => panic!("{}: {line:?} is not NAME=VALUE", path.display()),
            }
        }
        Example { pairs, framework }
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        let pairs = self.pairs.iter();
        pairs
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    fn effective(&self) -> String {
        effective(&self.pairs(), self.framework)
    }
}

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

/// Returns the effective config of an example, as the entrypoint writes
/// it: rendered, then the overlay applied with the environment phpeek-pm
/// gets in the example's mode.
fn effective(pairs: &[(&str, &str)], framework: Framework) -> String {
    let rendered = render_with(pairs, framework, true, PM_TEMPLATE);
    let env = Env::from_pairs(pairs.iter().copied());
    let settings = settings(&env);
    let pm_env = mode::pm_environment(&env, &settings, Mode::from_settings(&settings));
    let path = Path::new("/tmp/phpeek-pm.yaml");
    match verify::effective_pm_config(&rendered, path, &pm_env) {
        Ok(text) => text,
        Err(error) => panic!("{error}"),
    }
}

/// Loads `yaml` with `pairs` after the entrypoint's mode handling, and
/// returns the enabled processes with their scale, or the report.
fn load_processes(yaml: &str, pairs: &[(&str, &str)]) -> Result<Vec<(String, u32)>, String> {
    let env = Env::from_pairs(pairs.iter().copied());
    let settings = settings(&env);
    let pm_env = mode::pm_environment(&env, &settings, Mode::from_settings(&settings));
    let loaded = phpeek::config::load_str(yaml, "golden", &pm_env).map_err(|r| r.to_string())?;
    if !loaded.warnings.is_empty() {
        return Err(format!("warnings: {:?}", loaded.warnings));
    }
    let processes = loaded.config.processes.iter();
    Ok(processes.map(|p| (p.name.clone(), p.scale)).collect())
}

#[test]
fn compose_examples_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for name in EXAMPLES {
        let rendered = Example::read(name).effective();
        let path = golden_dir().join(format!("{name}.yaml"));
        if update {
            std::fs::write(&path, &rendered).unwrap_or_default();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();

        assert!(
            rendered == expected,
            "{} differs from the effective config; rerun with UPDATE_GOLDEN=1 and \
             review the diff.\nEffective config:\n{rendered}",
            path.display()
        );
    }
}

#[test]
fn golden_files_load_without_warnings() {
    for name in EXAMPLES {
        let path = golden_dir().join(format!("{name}.yaml"));
        let golden = std::fs::read_to_string(&path).unwrap_or_default();
        let example = Example::read(name);
        // phpeek-pm loads the file with the same variables set, so the
        // overlay applies a second time and must change nothing.
        let loaded = load_processes(&golden, &example.pairs());
        let without_overlay = load_processes(&golden, &[]);

        assert!(loaded.is_ok(), "{name}: {loaded:?}");
        assert_eq!(loaded, without_overlay, "{name}");
    }
}

#[test]
fn full_stack_example_scales_queues() {
    let yaml = Example::read("full-laravel-stack").effective();
    let mut processes = load_processes(&yaml, &[]).unwrap_or_default();
    processes.sort();
    let expected = [
        ("horizon", 1),
        ("nginx", 1),
        ("php-fpm", 1),
        ("queue-default", 3),
        ("queue-high", 2),
        ("reverb", 1),
    ];
    let expected: Vec<(String, u32)> = expected
        .iter()
        .map(|(name, scale)| ((*name).to_owned(), *scale))
        .collect();

    assert_eq!(processes, expected);
}

#[test]
fn scheduled_task_examples_define_their_tasks() {
    let cases = [
        ("scheduled-tasks", &["cache-warmup", "db-backup"][..]),
        ("heartbeat", &["critical-backup"][..]),
        (
            "laravel-scheduler",
            &["cache-warmup", "db-backup", "reports"][..],
        ),
    ];
    for (name, tasks) in cases {
        let yaml = Example::read(name).effective();
        let env: HashMap<String, String> = HashMap::new();
        let loaded = phpeek::config::load_str(&yaml, name, &env);
        let scheduled: Vec<String> = loaded
            .map(|loaded| loaded.config.processes)
            .unwrap_or_default()
            .into_iter()
            .filter(|process| process.schedule.is_some())
            .map(|process| process.name)
            .collect();

        assert_eq!(scheduled, *tasks, "{name}:\n{yaml}");
    }
    let heartbeat = Example::read("heartbeat").effective();

    assert!(
        heartbeat.contains(
            "    heartbeat:\n      timeout: 300\n      url: https://hc-ping.com/your-uuid-here\n"
        ),
        "{heartbeat}"
    );
}

#[test]
fn value_forms_are_typed_by_their_field() {
    let yaml = Example::read("value-forms").effective();
    let queue = process_block(&yaml, "queue-default");

    assert!(queue.contains("    enabled: yes\n"), "{queue}");
    assert!(queue.contains("    scale: 1\n"), "{queue}");
    assert!(
        queue.contains(
            "    command:\n      - \"php\"\n      - \"artisan\"\n      - \"queue:work\"\n      \
             - \"database\"\n      - \"--queue=default\"\n"
        ),
        "{queue}"
    );
    assert!(queue.contains("      APP_ENV: \"staging\"\n"), "{queue}");
    assert!(yaml.contains("  log_level: debug\n"), "{yaml}");
    assert!(yaml.contains("      - \"--name=mail worker\"\n"), "{yaml}");
    let processes = load_processes(&yaml, &[]).unwrap_or_default();
    let names: Vec<&str> = processes.iter().map(|(name, _)| name.as_str()).collect();

    assert!(names.contains(&"scheduler"), "{names:?}");
    assert!(names.contains(&"mailer"), "{names:?}");
    assert!(!names.contains(&"queue-high"), "{names:?}");
    assert!(!names.contains(&"horizon"), "{names:?}");
}

#[test]
fn default_mode_ignores_process_variables() {
    let yaml = Example::read("default-mode").effective();
    let processes = load_processes(&yaml, &[]).unwrap_or_default();
    let names: Vec<&str> = processes.iter().map(|(name, _)| name.as_str()).collect();

    assert_eq!(names, ["php-fpm", "nginx"]);
    assert!(!yaml.contains("cache-warmup"), "{yaml}");
    assert!(yaml.contains("  log_level: \"info\"\n"), "{yaml}");
    assert!(yaml.contains("config-cache"), "{yaml}");
}

#[test]
fn scheduler_runs_schedule_run_every_minute() {
    let on = [
        ("PHPEEK_PROCESS_MANAGER", "phpeek-pm"),
        ("LARAVEL_SCHEDULER_ENABLED", "true"),
    ];
    let yaml = effective(&on, Framework::Laravel);
    let env: HashMap<String, String> = HashMap::new();
    let loaded = phpeek::config::load_str(&yaml, "scheduler", &env);
    let scheduler = loaded.as_ref().ok().and_then(|loaded| {
        let processes = &loaded.config.processes;
        processes.iter().find(|p| p.name == "scheduler").cloned()
    });
    let Some(scheduler) = scheduler else {
        panic!("no enabled scheduler in:\n{yaml}\n{loaded:?}");
    };

    assert_eq!(scheduler.command, ["php", "artisan", "schedule:run"]);
    assert_eq!(
        scheduler.working_dir.as_deref(),
        Some(Path::new("/var/www/html"))
    );
    assert!(scheduler.schedule.is_some(), "{yaml}");
    let off = effective(
        &[("PHPEEK_PROCESS_MANAGER", "phpeek-pm")],
        Framework::Laravel,
    );
    let names = load_processes(&off, &[]).unwrap_or_default();

    assert!(!names.iter().any(|(name, _)| name == "scheduler"), "{off}");
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

    // storage-link, migrate, horizon, its pre-stop hook, reverb, two queues
    // and the scheduler.
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

/// Returns the lines of process `name` in an effective config: from its
/// key to the next line indented by exactly two spaces.
fn process_block<'a>(yaml: &'a str, name: &str) -> &'a str {
    let start = position(yaml, &format!("\n  {name}:\n")) + 1;
    let rest = &yaml[start..];
    let end = rest
        .match_indices("\n  ")
        .map(|(index, _)| index)
        .find(|&index| rest[index + 3..].chars().next().is_some_and(|c| c != ' '))
        .map_or(rest.len(), |index| index + 1);
    &rest[..end]
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

#[test]
fn private_write_replaces_file_with_mode_0600() -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("run/pm.yaml");
    std::fs::create_dir_all(dir.path().join("run"))?;
    std::fs::write(&path, "old\n")?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;

    let written = write_private(&path, "new\n");

    assert!(written.is_ok(), "{written:?}");
    assert_eq!(std::fs::read_to_string(&path)?, "new\n");
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_dir(dir.path().join("run"))?.count(), 1);
    Ok(())
}

#[test]
fn private_write_names_the_path_on_failure() {
    let path = Path::new("/proc/phpeek-no-such-dir/pm.yaml");
    let error = write_private(path, "x")
        .err()
        .map(|error| error.to_string());

    assert_eq!(
        error.as_deref(),
        Some("failed to write /proc/phpeek-no-such-dir/pm.yaml")
    );
}
